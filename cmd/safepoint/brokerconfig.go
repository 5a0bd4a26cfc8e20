package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/safepoint-se/safepoint/sync/broker"
)

// runBrokerConfig adds a node or a central to the MQTT broker's users:
// Mosquitto's password and ACL files, or the embedded broker's users file
// (docs/BROKER.md).
func runBrokerConfig(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	return runBrokerConfigWith(args, os.Stdin, stdout, stderr)
}

const brokerConfigUsage = `Usage:
  safepoint broker-config --node ID --municipality CODE [--password-file FILE] [--out DIR | --embedded DATA] [--replace]
  safepoint broker-config --central NAME [--municipality CODE|*] [--password-file FILE] [--out DIR | --embedded DATA] [--replace]

Add a node, or a central, to the MQTT broker's users (docs/BROKER.md). A node may then
write only sp/v1/CODE/ID/{up,status,downack} and read only sp/v1/CODE/ID/{ack,down}; a
central reads its municipality's topics (every one's for *) and writes their ack and down.

For Mosquitto (--out DIR, the default being the current directory) it sets the user's
line in DIR/passwd (Mosquitto's own $7$ hash, as mosquitto_passwd writes it) and its
block in DIR/acl, creating them if needed (mode 0600; an existing file keeps its mode and
owner). Reload mosquitto afterwards (systemctl reload mosquitto, or SIGHUP).
With --embedded DATA it adds the user to DATA/broker/users, the users file of
'safepoint central --data DATA --embedded-broker', which reads it at the next connection.

The password (at least 10 characters) is read from --password-file (the node's own
--mqtt-password-file will do), else from standard input: asked twice on a terminal,
otherwise its first line. It is never a flag.

Flags:`

func runBrokerConfigWith(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var nodeID, central, municipality, passwordFile, out, embedded string
	var replace bool
	fset := flag.NewFlagSet("broker-config", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.StringVar(&nodeID, "node", "", "the node's `id`: its MQTT user name and client id")
	fset.StringVar(&central, "central", "", "a central's user `name`")
	fset.StringVar(&municipality, "municipality", "", "the node's SCB `code`; for a central, one code or * (every municipality, the default)")
	fset.StringVar(&passwordFile, "password-file", "", "read the password from this `file` (else standard input)")
	fset.StringVar(&out, "out", "", "write DIR/passwd and DIR/acl for Mosquitto (default: the current `dir`ectory)")
	fset.StringVar(&embedded, "embedded", "", "add the user to the embedded broker's DATA/broker/users instead (`DATA`: central's data directory)")
	fset.BoolVar(&replace, "replace", false, "replace the user's password (and ACL block) if it exists")
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), brokerConfigUsage)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return usageErr(err)
	}
	usage := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "safepoint broker-config: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'safepoint help broker-config' for its flags.")
		return errUsage
	}
	if fset.NArg() > 0 {
		return usage("unexpected argument %q", fset.Arg(0))
	}
	var name, role string
	switch {
	case nodeID != "" && central != "":
		return usage("--node or --central, not both")
	case nodeID != "":
		name, role = nodeID, broker.RoleNode
		if municipality == "" {
			return usage("--node needs --municipality CODE")
		}
	case central != "":
		name, role = central, broker.RoleCentral
		if municipality == "" {
			municipality = broker.AllMunicipalities
		}
	default:
		return usage("--node ID or --central NAME is required")
	}
	if out != "" && embedded != "" {
		return usage("--out or --embedded, not both")
	}
	if out == "" {
		out = "."
	}
	// The id, the name and the code, checked before any password is asked.
	if _, err := broker.MosquittoACL(name, role, municipality); err != nil {
		what := "--node"
		if role == broker.RoleCentral {
			what = "--central"
		}
		if errors.Is(err, broker.ErrBadMunicipality) {
			return fmt.Errorf("--municipality %q: %w", municipality, err)
		}
		return fmt.Errorf("%s %q: %w", what, name, err)
	}

	password, err := readBrokerPassword(passwordFile, stdin, stderr)
	if err != nil {
		return err
	}
	who := fmt.Sprintf("%s %s of municipality %s", role, name, municipality)
	if municipality == broker.AllMunicipalities {
		who = fmt.Sprintf("%s %s of every municipality", role, name)
	}

	if embedded != "" {
		path := filepath.Join(embedded, "broker", "users")
		if err := addEmbeddedUser(path, name, role, municipality, password, replace); err != nil {
			return err
		}
		if err := ownLikeData(embedded, filepath.Dir(path), path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote %s to %s; the embedded broker reads it at the next connection.\n", who, path)
		return nil
	}

	files := broker.MosquittoFilesIn(out)
	_, statErr := os.Stat(files.Passwd)
	if err := files.Add(name, role, municipality, password, replace); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote %s to %s and %s.\nReload mosquitto to use them: systemctl reload mosquitto (or send it SIGHUP).\n",
		who, files.Passwd, files.ACL)
	if errors.Is(statErr, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "New files, mode 0600: Mosquitto reads them as the mosquitto user, so on Debian\n"+
			"  chown root:mosquitto %s %s && chmod 0640 %s %s\n(later runs keep the owner and mode).\n",
			files.Passwd, files.ACL, files.Passwd, files.ACL)
	}
	return nil
}

// readBrokerPassword reads the password from a file (trimmed of its final
// line break, as the node reads --mqtt-password-file), or from stdin.
func readBrokerPassword(file string, stdin io.Reader, prompt io.Writer) (string, error) {
	var pw string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	case isTerminal(stdin):
		return readNewPassword(stdin, prompt)
	default:
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("password: none on standard input (or give --password-file)")
		}
	}
	if len([]rune(pw)) < broker.MinPasswordLen {
		return "", broker.ErrWeakPassword
	}
	return pw, nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// addEmbeddedUser adds a user to the embedded broker's users file. With
// replace, a node's password is set whether or not it is there
// (broker.WriteNodeEntry, which refuses to move a node to another
// municipality).
func addEmbeddedUser(path, name, role, municipality, password string, replace bool) error {
	if replace {
		if role != broker.RoleNode {
			return fmt.Errorf("--replace of a central in %s: delete its line there, then add it again", path)
		}
		return broker.WriteNodeEntry(path, name, municipality, password)
	}
	users, err := broker.LoadUsers(path)
	if errors.Is(err, fs.ErrNotExist) {
		users, err = &broker.Users{}, nil
	}
	if err != nil {
		return err
	}
	if err := users.Add(name, role, municipality, password); err != nil {
		if errors.Is(err, broker.ErrUserExists) {
			return fmt.Errorf("%w in %s (use --replace to set a new password)", err, path)
		}
		return err
	}
	return users.Save(path)
}

// ownLikeData gives paths to the owner of the data directory when root
// writes them: central runs as that user and must read its users file.
func ownLikeData(data string, paths ...string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(data)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	for _, p := range paths {
		if err := os.Chown(p, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("give %s to the owner of %s: %w", p, data, err)
		}
	}
	return nil
}
