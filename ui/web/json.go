package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// MaxBody is the largest request body the API reads.
const MaxBody = 64 << 10

// ReadJSON decodes a request body of at most MaxBody bytes into v, strictly:
// JSON content type, valid UTF-8, one object, no unknown fields, right types.
// On failure it has answered the request and returns false.
func ReadJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return ReadJSONLimit(w, r, v, MaxBody)
}

// ReadJSONLimit is ReadJSON with another size limit.
func ReadJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		WriteError(w, http.StatusUnsupportedMediaType, "body must be JSON (Content-Type: application/json)")
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", limit))
			return false
		}
		WriteError(w, http.StatusBadRequest, "could not read the body")
		return false
	}
	if !utf8.Valid(data) {
		// encoding/json would quietly turn bad bytes into U+FFFD.
		WriteError(w, http.StatusBadRequest, "body is not valid UTF-8")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, describeJSONError(err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		WriteError(w, http.StatusBadRequest, "body has data after the JSON object")
		return false
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("null")) {
		WriteError(w, http.StatusBadRequest, "body must be a JSON object")
		return false
	}
	return true
}

func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "body is cut short: not a complete JSON object"
	case errors.As(err, &syntax):
		return fmt.Sprintf("body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "body must be a JSON object"
		}
		return fmt.Sprintf("%s: must be a %s, not a JSON %s", typ.Field, kindName(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "body is not valid JSON"
}

func kindName(k string) string {
	switch k {
	case "int", "int64", "float64":
		return "number"
	}
	return k
}

// WriteJSON answers v as JSON, HTML-escaped.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

// Error is the body of every 4xx and 5xx answer of the API.
type Error struct {
	Error string `json:"error"`
}

// WriteError answers an Error.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, Error{msg})
}

// AppendFailed answers 503 to a submission the log could not store.
func AppendFailed(w http.ResponseWriter, logger *slog.Logger, err error) {
	// The error text may quote SQL but never a payload: safe to log.
	logger.Error("Append failed", "err", err)
	WriteError(w, http.StatusServiceUnavailable, "could not store the submission; please try again")
}
