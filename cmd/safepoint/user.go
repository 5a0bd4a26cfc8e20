package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/safepoint-se/safepoint/node/accounts"
	"github.com/safepoint-se/safepoint/node/eventlog"
)

// runUser manages staff accounts in a data directory. It works beside a
// running daemon: both go through SQLite, and the daemon caches nothing.
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
	var data, name, role, configPath string
	fs := flag.NewFlagSet("user "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	fs.StringVar(&configPath, "config", "", "TOML configuration `file` (its data key is used)")
	fs.StringVar(&data, "data", defaultNodeConfig().Data, "data `directory`")
	fs.StringVar(&name, "name", "", "account `name`")
	fs.StringVar(&role, "role", "", "`role`: viewer, staff, staff-lead, admin")
	err := parseLayered(fs, args[1:], env, &configPath,
		func() { data, name, role = defaultNodeConfig().Data, "", "" },
		func(path string) error {
			cfg := defaultNodeConfig()
			if err := decodeTOML(path, &cfg); err != nil {
				return err
			}
			data = cfg.Data
			return nil
		})
	if err != nil {
		return err
	}
	needName := action != "list"
	if needName && name == "" {
		fmt.Fprintf(stderr, "safepoint user %s: --name is required\n", action)
		return errUsage
	}
	switch action {
	case "add", "list", "disable", "enable", "passwd":
	default:
		fmt.Fprintf(stderr, "safepoint user: unknown action %q\n", action)
		usage(stderr)
		return errUsage
	}
	if action == "add" && !accounts.Role(role).Valid() {
		return fmt.Errorf("user add: --role %q: %w", role, accounts.ErrBadRole)
	}
	if action == "add" && !accounts.ValidAccountName(name) {
		return fmt.Errorf("user add: --name %q: %w", name, accounts.ErrBadAccountName)
	}

	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	// Before the node's first start this makes the database (0600).
	staff, err := accounts.Open(ctx, filepath.Join(data, eventlog.FileName), nil)
	if err != nil {
		return err
	}
	defer staff.Close()

	switch action {
	case "add":
		password, err := readNewPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := staff.Add(ctx, name, accounts.Role(role), password); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		fmt.Fprintf(stdout, "Added %s (%s).\n", name, role)
	case "list":
		list, err := staff.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED")
		for _, a := range list {
			state := "active"
			if a.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, a.Role, state, a.Created.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "disable", "enable":
		if err := staff.SetDisabled(ctx, name, action == "disable"); err != nil {
			return fmt.Errorf("user %s: %w", action, err)
		}
		fmt.Fprintf(stdout, "%s: %sd.\n", name, action)
	case "passwd":
		password, err := readNewPassword(stdin, stderr)
		if err != nil {
			return err
		}
		if err := staff.SetPassword(ctx, name, password); err != nil {
			return fmt.Errorf("user passwd: %w", err)
		}
		fmt.Fprintf(stdout, "Password of %s changed; its sessions ended.\n", name)
	}
	return nil
}

// readNewPassword asks twice. From a terminal it prompts without echo;
// otherwise it reads two lines.
func readNewPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	var first, second string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(label string) (string, error) {
			fmt.Fprint(prompt, label)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(prompt)
			return string(b), err
		}
		var err error
		if first, err = ask("Password: "); err != nil {
			return "", err
		}
		if second, err = ask("Again: "); err != nil {
			return "", err
		}
	} else {
		sc := bufio.NewScanner(stdin)
		lines := make([]string, 0, 2)
		for len(lines) < 2 && sc.Scan() {
			lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		}
		if err := sc.Err(); err != nil {
			return "", err
		}
		if len(lines) < 2 {
			return "", errors.New("password: give it twice, on two lines of standard input")
		}
		first, second = lines[0], lines[1]
	}
	if first != second {
		return "", errors.New("password: the two entries differ")
	}
	if len([]rune(first)) < accounts.MinPasswordLen {
		return "", accounts.ErrWeakPassword
	}
	return first, nil
}
