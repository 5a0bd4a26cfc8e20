package nut

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on what the client accepts from a server.
const (
	maxLine = 4096 // bytes per line, newline included
	maxVars = 1000 // VAR lines per LIST VAR
)

// Sentinels for the answers that say upsd has no usable data; match them
// with errors.Is.
var (
	ErrStale        = errors.New("data stale")
	ErrNoDriver     = errors.New("driver not connected")
	ErrAccessDenied = errors.New("access denied")
	ErrUnknownUPS   = errors.New("unknown ups")
	ErrProtocol     = errors.New("protocol error")
)

// Error is an "ERR word [detail]" answer from upsd.
type Error struct {
	Code   string // the ERR word, e.g. DATA-STALE
	Detail string // anything after it, usually empty
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return "ERR " + e.Code + " " + e.Detail
	}
	return "ERR " + e.Code
}

// Is maps the ERR word onto the package's sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrStale:
		return e.Code == "DATA-STALE"
	case ErrNoDriver:
		return e.Code == "DRIVER-NOT-CONNECTED"
	case ErrUnknownUPS:
		return e.Code == "UNKNOWN-UPS"
	case ErrAccessDenied:
		switch e.Code {
		case "ACCESS-DENIED", "USERNAME-REQUIRED", "PASSWORD-REQUIRED",
			"INVALID-USERNAME", "INVALID-PASSWORD":
			return true
		}
	}
	return false
}

// protoError describes a line the client cannot accept.
func protoError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// readLine returns one line without its newline. A line longer than
// maxLine is an error: the connection is then out of step and must go.
func readLine(r *bufio.Reader) (string, error) {
	b, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", protoError("line longer than %d bytes", maxLine)
	case errors.Is(err, io.EOF) && len(b) > 0:
		return "", fmt.Errorf("unterminated line: %w", io.ErrUnexpectedEOF)
	case err != nil:
		return "", err
	}
	line := strings.TrimSuffix(string(b[:len(b)-1]), "\r")
	return line, nil
}

// splitLine splits a protocol line into words the way upsd's parser does:
// blanks separate words, double quotes group them, and a backslash takes
// the next character literally.
func splitLine(line string) ([]string, error) {
	var (
		words  []string
		word   strings.Builder
		inWord bool
		quoted bool
	)
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\\':
			if i+1 == len(line) {
				return nil, protoError("line ends in a backslash")
			}
			i++
			word.WriteByte(line[i])
			inWord = true
		case ch == '"':
			quoted = !quoted
			inWord = true
		case ch == ' ' || ch == '\t':
			if quoted {
				word.WriteByte(ch)
				continue
			}
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case ch < ' ' || ch == 0x7f:
			return nil, protoError("control character %#x in line", ch)
		default:
			word.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		return nil, protoError("unterminated quote")
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// quote makes s one protocol argument.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"\\") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// checkArg rejects what cannot be sent at all: a newline would end the
// command early and let the rest be read as a second one.
func checkArg(what, s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return fmt.Errorf("nut: %s contains a line break or NUL", what)
	}
	return nil
}

// serverError turns an ERR line into *Error, or returns nil.
func serverError(words []string) error {
	if len(words) == 0 || words[0] != "ERR" {
		return nil
	}
	e := &Error{Code: "UNKNOWN"}
	if len(words) > 1 {
		e.Code = words[1]
	}
	if len(words) > 2 {
		e.Detail = strings.Join(words[2:], " ")
	}
	return e
}

// truncate shortens a server line for an error message.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
