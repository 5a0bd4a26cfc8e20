package api

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validator collects the first validation error, for the API's answer,
// and every field at fault, for a form to mark.
type Validator struct {
	Err error
	Bad map[string]string // field: "required" or "invalid"
}

// Fail records the request's error, unless it has one already.
func (v *Validator) Fail(format string, args ...any) {
	if v.Err == nil {
		v.Err = fmt.Errorf(format, args...)
	}
}

// FailField records an invalid field.
func (v *Validator) FailField(field, format string, args ...any) {
	v.mark(field, "invalid")
	v.Fail(format, args...)
}

func (v *Validator) mark(field, kind string) {
	if v.Bad == nil {
		v.Bad = map[string]string{}
	}
	if _, ok := v.Bad[field]; !ok {
		v.Bad[field] = kind
	}
}

// OneOf checks that value is among allowed; empty takes def when def is set.
func (v *Validator) OneOf(field, value, def string, allowed []string) string {
	value = strings.TrimSpace(value)
	if value == "" && def != "" {
		return def
	}
	for _, a := range allowed {
		if value == a {
			return value
		}
	}
	if value == "" {
		v.mark(field, "required")
		v.Fail("%s: required, one of %s", field, strings.Join(allowed, ", "))
	} else {
		v.mark(field, "invalid")
		v.Fail("%s: %q is not one of %s", field, value, strings.Join(allowed, ", "))
	}
	return ""
}

// Text trims value and checks its length in characters and that it holds no
// control characters but line breaks and tabs.
func (v *Validator) Text(field, value string, required bool, max int) string {
	value = strings.TrimSpace(value)
	if value == "" {
		if required {
			v.mark(field, "required")
			v.Fail("%s: required", field)
		}
		return ""
	}
	// A form's fields arrive as bytes (JSON bodies are checked whole
	// before): text that is not UTF-8 is refused, never stored as U+FFFD.
	if !utf8.ValidString(value) {
		v.FailField(field, "%s: not valid UTF-8", field)
		return ""
	}
	if n := utf8.RuneCountInString(value); n > max {
		v.FailField(field, "%s: at most %d characters (got %d)", field, max, n)
		return ""
	}
	for _, c := range value {
		if unicode.IsControl(c) && c != '\n' && c != '\r' && c != '\t' {
			v.FailField(field, "%s: contains a control character", field)
			return ""
		}
		if bidiOverride(c) {
			v.FailField(field, "%s: contains an invisible direction override (U+%04X)", field, c)
			return ""
		}
	}
	return value
}

// bidiOverride reports the invisible characters that reorder the text
// around them (embeddings, overrides, isolates: U+202A–U+202E,
// U+2066–U+2069): a report could show staff one thing and mean another
// ("Trojan Source"). They are refused. The marks that only nudge
// direction (U+200E, U+200F, U+061C) and the joiners (U+200C, U+200D),
// which Arabic, Persian and emoji need, are kept.
func bidiOverride(c rune) bool {
	return c >= 0x202A && c <= 0x202E || c >= 0x2066 && c <= 0x2069
}
