package main

// The account tools, thin front ends of internal/admin: `safepoint user`
// for staff accounts in a data directory, `safepoint broker-config` for
// the MQTT broker's users.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/safepoint-se/safepoint/internal/admin"
	"github.com/safepoint-se/safepoint/sync/broker"
)

// runUser manages staff accounts in a data directory (internal/admin).
func runUser(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return runUserWith(ctx, args, env, os.Stdin, stdout, stderr)
}

func runUserWith(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintln(w, `Usage: safepoint user ACTION --data DIR [flags]

Actions:
  add      --name NAME --role ROLE [--municipalities CODES]
                                     create an account; the password is read twice
  list                               list the accounts
  disable  --name NAME               disable an account and end its sessions
  enable   --name NAME               enable it again
  passwd   --name NAME               set a new password and end its sessions
  scope    --name NAME --municipalities CODES
                                     set the municipalities it sees; '' for all

Roles: viewer (reads), staff (acts), staff-lead (stabschef), admin (also manages accounts).
Municipalities: at central, an account sees only these municipalities' points, given as
SCB codes (kommunkod) separated by commas, e.g. 2309,2321; without them, every one.
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
	var name, role, municipalities string
	fs := flag.NewFlagSet("user "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	df.bind(fs, "data `directory`")
	fs.StringVar(&name, "name", "", "account `name`")
	fs.StringVar(&role, "role", "", "`role`: viewer, staff, staff-lead, admin")
	fs.StringVar(&municipalities, "municipalities", "", "SCB `codes` the account sees at central, comma separated (default: every one)")
	if err := df.parse(fs, args[1:], env, func() { name, role, municipalities = "", "", "" }); err != nil {
		return err
	}
	if action != "list" && name == "" {
		fmt.Fprintf(stderr, "safepoint user %s: --name is required\n", action)
		return errUsage
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "municipalities" })
	switch action {
	case "add":
		return admin.AddUser(ctx, df.data, name, role, municipalities, stdin, stdout, stderr)
	case "list":
		return admin.ListUsers(ctx, df.data, stdout)
	case "disable", "enable":
		return admin.SetDisabled(ctx, df.data, name, action == "disable", stdout)
	case "passwd":
		return admin.SetPassword(ctx, df.data, name, stdin, stdout, stderr)
	case "scope":
		// Required even to widen to all: a forgotten flag must not lift
		// a limit.
		if !given {
			fmt.Fprintln(stderr, "safepoint user scope: --municipalities is required ('' for every municipality)")
			return errUsage
		}
		return admin.SetScope(ctx, df.data, name, municipalities, stdout)
	}
	fmt.Fprintf(stderr, "safepoint user: unknown action %q\n", action)
	usage(stderr)
	return errUsage
}

// runBrokerConfig adds a node or a central to the MQTT broker's users:
// Mosquitto's password and ACL files, or the embedded broker's users file
// (docs/BROKER.md, internal/admin).
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
	return admin.AddBrokerUser(admin.BrokerUser{Name: name, Role: role, Municipality: municipality,
		PasswordFile: passwordFile, Out: out, Embedded: embedded, Replace: replace}, stdin, stdout, stderr)
}
