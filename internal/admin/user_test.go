package admin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// TestUsers adds, lists, disables, enables and changes the password of an
// account in a fresh data directory, as `safepoint user` does.
func TestUsers(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data") // made by the first command
	var out, prompt bytes.Buffer
	run := func(what string, err error, want string) {
		t.Helper()
		if err != nil || !strings.Contains(out.String(), want) {
			t.Fatalf("%s: %v, output %q; want %q", what, err, out.String(), want)
		}
		out.Reset()
	}
	run("add", AddUser(ctx, data, "anna", "staff-lead", strings.NewReader("a good password\na good password\n"), &out, &prompt),
		"Added anna (staff-lead).\n")
	run("list", ListUsers(ctx, data, &out), "anna  staff-lead  active")
	if prompt.Len() != 0 {
		t.Errorf("prompted %q without a terminal", prompt.String())
	}
	run("disable", SetDisabled(ctx, data, "anna", true, &out), "anna: disabled.\n")
	run("list", ListUsers(ctx, data, &out), "anna  staff-lead  disabled")
	run("enable", SetDisabled(ctx, data, "anna", false, &out), "anna: enabled.\n")
	run("passwd", SetPassword(ctx, data, "anna", strings.NewReader("another password\r\nanother password\r\n"), &out, &prompt),
		"Password of anna changed; its sessions ended.\n")

	staff, err := accounts.Open(ctx, filepath.Join(data, eventlog.FileName), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer staff.Close()
	if _, err := staff.Authenticate(ctx, "anna", "another password"); err != nil {
		t.Errorf("the new password (CRLF lines): %v", err)
	}

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"bad role", AddUser(ctx, data, "bo", "boss", strings.NewReader(""), &out, &prompt), `user add: --role "boss"`},
		{"bad name", AddUser(ctx, data, "Bo Ek", "staff", strings.NewReader(""), &out, &prompt), `user add: --name "Bo Ek"`},
		{"twice", AddUser(ctx, data, "anna", "staff", strings.NewReader("a good password\na good password\n"), &out, &prompt), "user add:"},
		{"unknown", SetDisabled(ctx, data, "nobody", true, &out), "user disable:"},
		{"unknown passwd", SetPassword(ctx, data, "nobody", strings.NewReader("a good password\na good password\n"), &out, &prompt), "user passwd:"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, tc.err, tc.want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("refused commands wrote %q", out.String())
	}
}

func TestReadNewPassword(t *testing.T) {
	for _, tc := range []struct {
		stdin, want string
		err         error  // errors.Is
		errText     string // or in the error
	}{
		{stdin: "a good password\na good password\n", want: "a good password"},
		{stdin: "a good password\na good password", want: "a good password"},
		{stdin: "lösenord på svenska\r\nlösenord på svenska\r\nmore\n", want: "lösenord på svenska"},
		{stdin: "a good password\n", errText: "give it twice"},
		{stdin: "", errText: "give it twice"},
		{stdin: "a good password\na good passw0rd\n", errText: "differ"},
		{stdin: "short\nshort\n", err: accounts.ErrWeakPassword},
		{stdin: "ååååååååå\nååååååååå\n", err: accounts.ErrWeakPassword}, // 9 characters, 18 bytes
	} {
		got, err := readNewPassword(strings.NewReader(tc.stdin), &bytes.Buffer{})
		switch {
		case tc.err != nil || tc.errText != "":
			if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("%q: %q, %v; want error %v %q", tc.stdin, got, err, tc.err, tc.errText)
			}
		case err != nil || got != tc.want:
			t.Errorf("%q: %q, %v; want %q", tc.stdin, got, err, tc.want)
		}
	}
}

func TestReadBrokerPassword(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from the file 1\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, stdin, want, errText string
	}{
		{file: file, stdin: "ignored stdin 1\n", want: "from the file 1"},
		{stdin: "first line only\nsecond line\n", want: "first line only"},
		{stdin: "no line break 1", want: "no line break 1"},
		{stdin: "\n", errText: "none on standard input"},
		{stdin: "short\n", errText: "at least 10"},
		{file: file + ".missing", errText: "--password-file"},
	} {
		got, err := readBrokerPassword(tc.file, strings.NewReader(tc.stdin), &bytes.Buffer{})
		if tc.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("%q %q: %q, %v; want %q", tc.file, tc.stdin, got, err, tc.errText)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("%q %q: %q, %v; want %q", tc.file, tc.stdin, got, err, tc.want)
		}
	}
}
