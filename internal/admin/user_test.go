package admin

import (
	"bytes"
	"context"
	"errors"
	"maps"
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
	run("add", AddUser(ctx, data, "anna", "staff-lead", "", strings.NewReader("a good password\na good password\n"), &out, &prompt),
		"Added anna (staff-lead).\n")
	run("list", ListUsers(ctx, data, &out), "anna  staff-lead  active")
	run("list", ListUsers(ctx, data, &out), "NAME  ROLE        STATE   CREATED           MUNICIPALITIES\n")
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
		{"bad role", AddUser(ctx, data, "bo", "boss", "", strings.NewReader(""), &out, &prompt), `user add: --role "boss"`},
		{"bad name", AddUser(ctx, data, "Bo Ek", "staff", "", strings.NewReader(""), &out, &prompt), `user add: --name "Bo Ek"`},
		{"twice", AddUser(ctx, data, "anna", "staff", "", strings.NewReader("a good password\na good password\n"), &out, &prompt), "user add:"},
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

// TestUserScope: `user add --municipalities` and `user scope` store a
// scope, sorted and each code once; `user list` shows it, "all" for none;
// a bad code is refused by name before any password is asked for.
func TestUserScope(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	const pw = "a good password\na good password\n"
	var out, prompt bytes.Buffer
	scopes := func() map[string]string {
		t.Helper()
		out.Reset()
		if err := ListUsers(ctx, data, &out); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
			f := strings.Fields(l)
			m[f[0]] = f[len(f)-1]
		}
		out.Reset()
		return m
	}

	for _, tc := range []struct {
		name, flag string
		says       string // on stdout, or in the error
		refused    bool
	}{
		{"all", "", "Added all (staff).\n", false},
		{"blank", " ", "Added blank (staff).\n", false},
		{"one", "2309", "Added one (staff, municipalities 2309).\n", false},
		{"several", " 2321, 2309,2321", "Added several (staff, municipalities 2309,2321).\n", false},
		{"bad", "2309,23X1", `user add: --municipalities: municipality "23X1": not a four-digit SCB kommunkod`, true},
		{"short", "230", `municipality "230"`, true},
	} {
		out.Reset()
		stdin := pw
		if tc.refused {
			stdin = "" // read first, it would be refused for want of a password
		}
		err := AddUser(ctx, data, tc.name, "staff", tc.flag, strings.NewReader(stdin), &out, &prompt)
		if tc.refused {
			if err == nil || !strings.Contains(err.Error(), tc.says) || !errors.Is(err, accounts.ErrBadMunicipality) {
				t.Errorf("add %s --municipalities %q: %v; want an error saying %q", tc.name, tc.flag, err, tc.says)
			}
			if out.Len() != 0 {
				t.Errorf("add %s: a refused add wrote %q", tc.name, out.String())
			}
			continue
		}
		if err != nil || out.String() != tc.says {
			t.Errorf("add %s --municipalities %q: %v, %q; want %q", tc.name, tc.flag, err, out.String(), tc.says)
		}
	}
	want := map[string]string{"all": "all", "blank": "all", "one": "2309", "several": "2309,2321"}
	if got := scopes(); !maps.Equal(got, want) {
		t.Errorf("scopes listed %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name, flag string
		says       string
		refused    bool
	}{
		{"all", "2326 ,2309", "all: municipalities 2309,2326.\n", false},
		{"several", "", "several: every municipality.\n", false},
		{"one", "2309,x", `user scope: --municipalities: municipality "x"`, true},
		{"nobody", "2309", "user scope: no such account", true},
	} {
		out.Reset()
		err := SetScope(ctx, data, tc.name, tc.flag, &out)
		if tc.refused {
			if err == nil || !strings.Contains(err.Error(), tc.says) || out.Len() != 0 {
				t.Errorf("scope %s --municipalities %q: %v, %q; want an error saying %q", tc.name, tc.flag, err, out.String(), tc.says)
			}
			continue
		}
		if err != nil || out.String() != tc.says {
			t.Errorf("scope %s --municipalities %q: %v, %q; want %q", tc.name, tc.flag, err, out.String(), tc.says)
		}
	}
	want = map[string]string{"all": "2309,2326", "blank": "all", "one": "2309", "several": "all"}
	if got := scopes(); !maps.Equal(got, want) {
		t.Errorf("scopes listed after the changes %v, want %v", got, want)
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
