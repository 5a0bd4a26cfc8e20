package nut

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestSplitLine(t *testing.T) {
	tests := []struct {
		line    string
		want    []string
		wantErr bool
	}{
		{line: `VAR test ups.status "OL"`, want: []string{"VAR", "test", "ups.status", "OL"}},
		{line: `VAR test ups.status "OB DISCHRG"`, want: []string{"VAR", "test", "ups.status", "OB DISCHRG"}},
		{line: `VAR test ups.model "say \"hi\""`, want: []string{"VAR", "test", "ups.model", `say "hi"`}},
		{line: `VAR test x "back\\slash"`, want: []string{"VAR", "test", "x", `back\slash`}},
		{line: `VAR test x ""`, want: []string{"VAR", "test", "x", ""}},
		{line: "VAR test x \"tab\there\"", want: []string{"VAR", "test", "x", "tab\there"}},
		{line: `VAR  test   x  "a"  `, want: []string{"VAR", "test", "x", "a"}},
		{line: `ERR ACCESS-DENIED`, want: []string{"ERR", "ACCESS-DENIED"}},
		{line: `a\ b`, want: []string{"a b"}},
		{line: `x"y z"w`, want: []string{"xy zw"}},
		{line: "", want: nil},
		{line: `VAR test x "open`, wantErr: true},
		{line: `VAR test x "a\`, wantErr: true},
		{line: "VAR test x \"bell\a\"", wantErr: true},
	}
	for _, tt := range tests {
		got, err := splitLine(tt.line)
		if tt.wantErr {
			if err == nil || !errors.Is(err, ErrProtocol) {
				t.Errorf("splitLine(%q) = %q, %v; want a protocol error", tt.line, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitLine(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "", "two words", `q"uote`, `back\slash`, `\"`, "tab\tx", "åäö"} {
		words, err := splitLine("PASSWORD " + quote(s))
		if err != nil || len(words) != 2 || words[1] != s {
			t.Errorf("quote(%q) = %s, splits to %q, %v", s, quote(s), words, err)
		}
	}
	if got := quote("mon"); got != "mon" {
		t.Errorf("quote(mon) = %s, want it bare", got)
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", maxLine-1)
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "plain", in: "OK\n", want: "OK"},
		{name: "crlf", in: "OK\r\n", want: "OK"},
		{name: "longest", in: long + "\n", want: long},
		{name: "too long", in: long + "x\n", wantErr: ErrProtocol},
		{name: "unterminated", in: "OK", wantErr: io.ErrUnexpectedEOF},
		{name: "eof", in: "", wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readLine(bufio.NewReaderSize(strings.NewReader(tt.in), maxLine))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("readLine = %q, %v; want %v", truncate(got), err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readLine = %q, %v; want %q", truncate(got), err, truncate(tt.want))
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	sentinels := []error{ErrStale, ErrNoDriver, ErrAccessDenied, ErrUnknownUPS}
	tests := []struct {
		code string
		want error // nil: matches no sentinel
	}{
		{"DATA-STALE", ErrStale},
		{"DRIVER-NOT-CONNECTED", ErrNoDriver},
		{"UNKNOWN-UPS", ErrUnknownUPS},
		{"ACCESS-DENIED", ErrAccessDenied},
		{"USERNAME-REQUIRED", ErrAccessDenied},
		{"PASSWORD-REQUIRED", ErrAccessDenied},
		{"INVALID-USERNAME", ErrAccessDenied},
		{"INVALID-PASSWORD", ErrAccessDenied},
		{"VAR-NOT-SUPPORTED", nil},
		{"UNKNOWN-COMMAND", nil},
	}
	for _, tt := range tests {
		err := error(&Error{Code: tt.code})
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("errors.Is(ERR %s, %v) = %v", tt.code, s, got)
			}
		}
	}
}
