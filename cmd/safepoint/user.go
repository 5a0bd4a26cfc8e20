package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/safepoint-se/safepoint/internal/admin"
)

// runUser manages staff accounts in a data directory (internal/admin).
func runUser(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return runUserWith(ctx, args, env, os.Stdin, stdout, stderr)
}

func runUserWith(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintln(w, `Usage: safepoint user ACTION --data DIR [flags]

Actions:
  add      --name NAME --role ROLE   create an account; the password is read twice
  list                               list the accounts
  disable  --name NAME               disable an account and end its sessions
  enable   --name NAME               enable it again
  passwd   --name NAME               set a new password and end its sessions

Roles: viewer (reads), staff (acts), staff-lead (stabschef), admin (also manages accounts).
Passwords: at least 10 characters; from a terminal they are asked for twice without echo,
otherwise read as two lines from standard input.`)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			usage(stderr)
			return errUsage
		}
		usage(stdout)
		return nil
	}
	action := args[0]
	var df dataFlags
	var name, role string
	fs := flag.NewFlagSet("user "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	df.bind(fs, "data `directory`")
	fs.StringVar(&name, "name", "", "account `name`")
	fs.StringVar(&role, "role", "", "`role`: viewer, staff, staff-lead, admin")
	if err := df.parse(fs, args[1:], env, func() { name, role = "", "" }); err != nil {
		return err
	}
	if action != "list" && name == "" {
		fmt.Fprintf(stderr, "safepoint user %s: --name is required\n", action)
		return errUsage
	}
	switch action {
	case "add":
		return admin.AddUser(ctx, df.data, name, role, stdin, stdout, stderr)
	case "list":
		return admin.ListUsers(ctx, df.data, stdout)
	case "disable", "enable":
		return admin.SetDisabled(ctx, df.data, name, action == "disable", stdout)
	case "passwd":
		return admin.SetPassword(ctx, df.data, name, stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "safepoint user: unknown action %q\n", action)
	usage(stderr)
	return errUsage
}
