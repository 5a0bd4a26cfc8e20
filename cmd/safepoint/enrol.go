package main

// Enrolment with one code: `safepoint enrol create|list|revoke` at central
// (the codes, sync/central/enrol), `safepoint enrol join` at the point
// (ui/join's Fetch, then DATA/enrolment.toml, which `safepoint node`
// reads), and central's side of the join: the endpoint's wiring and the
// broker accounts it makes.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/safepoint-se/safepoint/internal/atomicfile"

	"github.com/BurntSushi/toml"
	"golang.org/x/term"

	"github.com/safepoint-se/safepoint/internal/datadir"
	"github.com/safepoint-se/safepoint/node/eventlog"
	"github.com/safepoint-se/safepoint/sync/broker"
	"github.com/safepoint-se/safepoint/sync/central/enrol"
	"github.com/safepoint-se/safepoint/ui/join"
	"github.com/safepoint-se/safepoint/ui/web"
)

const enrolUsage = `Usage: safepoint enrol ACTION [flags]

Enrol a point with one code: central makes a one-time code for the point's node id, the
installer types it at the point, and the point fetches its id, municipality, name and
its own MQTT account from central over HTTPS. Nothing else is copied by hand.

At central (DIR: central's data directory; works beside the running central):
  create --data DIR --node ID --municipality CODE [--name NAME] [--valid 24h]
           make a one-time code: printed alone on standard output (what to run at the
           point on standard error); valid 24 hours, single use; a new code for a node
           revokes its open one
  list   --data DIR
           every code made, newest first, and where it stands (open, used, revoked,
           expired); codes are kept hashed, so it never shows one
  revoke --data DIR --node ID | --code CODE
           revoke a node's open code, or one code

At the point (DIR: the node's data directory):
  join   --data DIR --central URL --code CODE [--fingerprint SHA256:…]
           fetch the point's enrolment from central's HTTPS (URL: https://HOST[:PORT],
           port 8493 by default) and write it to DIR/enrolment.toml (mode 0600), which
           'safepoint node --data DIR' reads: no --mqtt flags needed (flags, SAFEPOINT_*
           and --config still win, key by key). --fingerprint pins central's
           certificate (as central logs it at start and 'enrol create' prints it);
           without it, the fingerprint seen is shown and, on a terminal, asked about;
           off a terminal it is refused. Use an empty data directory, or the point's own.

Flags of each action: safepoint enrol ACTION -h`

func runEnrol(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	return runEnrolWith(ctx, args, env, os.Stdin, stdout, stderr)
}

func runEnrolWith(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprintln(stderr, enrolUsage)
			return errUsage
		}
		fmt.Fprintln(stdout, enrolUsage)
		return nil
	}
	switch action, rest := args[0], args[1:]; action {
	case "create":
		return enrolCreate(ctx, rest, env, stdout, stderr)
	case "list":
		return enrolList(ctx, rest, env, stdout, stderr)
	case "revoke":
		return enrolRevoke(ctx, rest, env, stdout, stderr)
	case "join":
		return enrolJoin(ctx, rest, env, stdin, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "safepoint enrol: unknown action %q\n\n%s\n", action, enrolUsage)
		return errUsage
	}
}

// centralFlags are --data and --config of the enrol actions at central,
// with central's defaults; of the file they read data, https and
// staff_tls.
type centralFlags struct {
	config string
	cfg    centralConfig
}

func (c *centralFlags) bind(fs *flag.FlagSet) {
	c.cfg = defaultCentralConfig()
	fs.StringVar(&c.config, "config", "", "central's TOML configuration `file` (its data, https and staff_tls keys are used)")
	fs.StringVar(&c.cfg.Data, "data", c.cfg.Data, "central's data `directory`")
}

func (c *centralFlags) parse(fs *flag.FlagSet, args []string, env func(string) string, reset func()) error {
	return parseLayered(fs, args, env, &c.config,
		func() { c.cfg = defaultCentralConfig(); reset() },
		func(path string) error { return decodeTOML(path, &c.cfg) })
}

func (c *centralFlags) open(ctx context.Context) (*enrol.Store, error) {
	if _, err := datadir.Make(c.cfg.Data); err != nil {
		return nil, err
	}
	return enrol.Open(ctx, filepath.Join(c.cfg.Data, eventlog.FileName))
}

func enrolFlagSet(action, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("enrol "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	setUsage(fs, summary)
	return fs
}

// enrolUsageErr reports a flag mistake of an action.
func enrolUsageErr(stderr io.Writer, action, format string, a ...any) error {
	fmt.Fprintf(stderr, "safepoint enrol %s: "+format+"\n", append([]any{action}, a...)...)
	fmt.Fprintf(stderr, "Run 'safepoint enrol %s -h' for its flags.\n", action)
	return errUsage
}

func enrolCreate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	var cf centralFlags
	var d enrol.Draft
	fset := enrolFlagSet("create", "Make a one-time enrolment code for a point, at central. The code alone goes to standard output.", stderr)
	cf.bind(fset)
	fset.StringVar(&d.Node, "node", "", "the point's node `id`: its MQTT user and client id (1-40 of a-z, 0-9, -)")
	fset.StringVar(&d.Municipality, "municipality", "", "the point's SCB kommunkod, four `digits`")
	fset.StringVar(&d.Name, "name", "", "the point's `name` shown to residents (optional; the point's own --name wins)")
	fset.DurationVar(&d.Valid, "valid", enrol.DefaultValid, "how long the code may be used, up to 168h")
	if err := cf.parse(fset, args, env, func() { d = enrol.Draft{Valid: enrol.DefaultValid} }); err != nil {
		return err
	}
	if d.Node == "" || d.Municipality == "" {
		return enrolUsageErr(stderr, "create", "--node ID and --municipality CODE are required")
	}
	if err := d.Check(); err != nil {
		return err
	}
	// With the embedded broker, a node already there keeps its
	// municipality: a code for another would fail at the join.
	usersFile := filepath.Join(cf.cfg.Data, "broker", "users")
	replacing := false
	if users, err := broker.LoadUsers(usersFile); err == nil {
		for _, n := range users.Nodes() {
			if n.Name != d.Node {
				continue
			}
			if n.Municipality != d.Municipality {
				return fmt.Errorf("node %s is in municipality %s in %s: a code for %s could not give it an account; "+
					"remove its line there first to move it", d.Node, n.Municipality, usersFile, d.Municipality)
			}
			replacing = true
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "Warning: %v\n", err)
	}
	if u, err := user.Current(); err == nil {
		d.By = u.Username
	}
	codes, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer codes.Close()
	now := time.Now()
	code, revoked, err := codes.Create(ctx, d, now)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, code)

	what := d.Node
	if d.Name != "" {
		what += " (" + d.Name + ")"
	}
	fmt.Fprintf(stderr, "Enrolment code for %s of municipality %s, single use, valid until %s.\n",
		what, d.Municipality, now.Add(d.Valid).Format("2006-01-02 15:04 MST"))
	if revoked > 0 {
		fmt.Fprintf(stderr, "It replaces %s's open code, now revoked.\n", d.Node)
	}
	if replacing {
		fmt.Fprintf(stderr, "%s has a broker account already: the join gives it a new password, and the old one stops working.\n", d.Node)
	}
	fmt.Fprintf(stderr, "At the point, as the user that runs the node:\n  %s\n", joinCommand(cf.cfg, code))
	return nil
}

// joinCommand is what the installer runs at the point: central's address
// from this host's name and central's configured port, and the
// fingerprint of its certificate when central has made it.
func joinCommand(cfg centralConfig, code string) string {
	host, _ := os.Hostname()
	if host == "" {
		host = "CENTRAL"
	}
	scheme, addr := "https", cfg.HTTPS
	if cfg.StaffTLS == "off" {
		scheme, addr = "http", cfg.HTTP
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		port = join.DefaultPort
	}
	cmd := fmt.Sprintf("sudo -u safepoint safepoint enrol join --data /var/lib/safepoint/node --central %s://%s --code %s",
		scheme, net.JoinHostPort(host, port), code)
	if scheme == "https" {
		cert, err := os.ReadFile(filepath.Join(cfg.Data, web.CertFile))
		if fp := pemFingerprint(cert); err == nil && fp != "" {
			return cmd + " --fingerprint " + fp + "\n(" + host + ": central's name or address as the point reaches it.)"
		}
		return cmd + " --fingerprint SHA256:…\n(" + host + ": central's name or address as the point reaches it; " +
			"central makes its certificate at its first start and logs the fingerprint then: Serving staff over HTTPS … fingerprint=…)"
	}
	return cmd + "\n(Staff TLS is off at central: the code and the point's password travel in clear text.)"
}

// pemFingerprint is the fingerprint of the first certificate in a PEM
// file, as central logs it; "" if there is none.
func pemFingerprint(b []byte) string {
	der, err := certDER(b)
	if err != nil {
		return ""
	}
	return join.FingerprintOf(der)
}

// certDER is the first certificate of a PEM file.
func certDER(b []byte) ([]byte, error) {
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return nil, errors.New("no PEM certificate in it")
		}
		if blk.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
				return nil, err
			}
			return blk.Bytes, nil
		}
	}
}

func enrolList(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	var cf centralFlags
	fs := enrolFlagSet("list", "List central's enrolment codes, newest first, and where each stands.", stderr)
	cf.bind(fs)
	if err := cf.parse(fs, args, env, func() {}); err != nil {
		return err
	}
	codes, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer codes.Close()
	list, err := codes.List(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	const layout = "2006-01-02 15:04"
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tMUNICIPALITY\tNAME\tSTATE\tCREATED\tEXPIRES\tBY")
	for _, c := range list {
		state := c.State(now)
		switch {
		case c.Used != nil:
			state += " " + c.Used.Local().Format(layout)
		case c.Revoked != nil:
			state += " " + c.Revoked.Local().Format(layout)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Node, c.Municipality, orDash(c.Name), state,
			c.Created.Local().Format(layout), c.Expires.Local().Format(layout), orDash(c.By))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func enrolRevoke(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	var cf centralFlags
	var nodeID, code string
	fs := enrolFlagSet("revoke", "Revoke a node's open enrolment code, or one code.", stderr)
	cf.bind(fs)
	fs.StringVar(&nodeID, "node", "", "revoke this node `id`'s open code")
	fs.StringVar(&code, "code", "", "revoke this `code`, as printed (codes are stored hashed: the whole code is needed)")
	if err := cf.parse(fs, args, env, func() { nodeID, code = "", "" }); err != nil {
		return err
	}
	if (nodeID == "") == (code == "") {
		return enrolUsageErr(stderr, "revoke", "give --node ID or --code CODE, one of them")
	}
	codes, err := cf.open(ctx)
	if err != nil {
		return err
	}
	defer codes.Close()
	if nodeID != "" {
		n, err := codes.RevokeNode(ctx, nodeID, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Revoked %d open code(s) of %s.\n", n, nodeID)
		return nil
	}
	c, err := codes.RevokeCode(ctx, code, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Revoked the code of %s (municipality %s).\n", c.Node, c.Municipality)
	return nil
}

// enrolmentFile is the point's enrolment in its data directory.
const enrolmentFile = "enrolment.toml"

// enrolment is DATA/enrolment.toml: what central granted, and from where.
type enrolment struct {
	ID           string    `toml:"id"`
	Municipality string    `toml:"municipality"`
	Name         string    `toml:"name,omitempty"`
	MQTT         string    `toml:"mqtt"`
	MQTTUser     string    `toml:"mqtt_user"`
	MQTTPassword string    `toml:"mqtt_password"`
	MQTTCA       string    `toml:"mqtt_ca,omitempty"`
	Central      string    `toml:"central"`
	Fingerprint  string    `toml:"central_fingerprint,omitempty"`
	Enrolled     time.Time `toml:"enrolled"`
}

// applyEnrolment fills the node's configuration from DATA/enrolment.toml,
// if there is one: each of id, municipality, name, mqtt, mqtt_user, the
// password and the broker's CA only where flags, environment and the
// --config file left it empty.
func applyEnrolment(cfg *nodeConfig) error {
	if cfg.Data == "" {
		return nil
	}
	path := filepath.Join(cfg.Data, enrolmentFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var e enrolment
	if err := decodeTOML(path, &e); err != nil {
		return err
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&cfg.ID, e.ID)
	fill(&cfg.Municipality, e.Municipality)
	fill(&cfg.Name, e.Name)
	fill(&cfg.MQTT, e.MQTT)
	fill(&cfg.MQTTUser, e.MQTTUser)
	if cfg.MQTTPassFile == "" {
		cfg.enrolledPassword = e.MQTTPassword
	}
	if cfg.MQTTCA == "" && e.MQTTCA != "" {
		cfg.enrolledCA = []byte(e.MQTTCA)
	}
	return nil
}

func enrolJoin(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var df dataFlags
	var central, code, fingerprint string
	fs := enrolFlagSet("join", "Enrol this point at central with a one-time code; writes DIR/enrolment.toml.", stderr)
	df.bind(fs, "the node's data `directory`")
	fs.StringVar(&central, "central", "", "central's staff HTTPS `URL`: https://HOST[:PORT] (port 8493 by default)")
	fs.StringVar(&code, "code", "", "the one-time `code` central printed (XXXX-XXXX-XXXX)")
	fs.StringVar(&fingerprint, "fingerprint", "", "pin central's certificate to this SHA-256 `fingerprint` (SHA256:AB:CD:…, as central prints it)")
	if err := df.parse(fs, args, env, func() { central, code, fingerprint = "", "", "" }); err != nil {
		return err
	}
	if central == "" || code == "" {
		return enrolUsageErr(stderr, "join", "--central URL and --code CODE are required")
	}
	u, err := join.ParseCentral(central)
	if err != nil {
		return err
	}
	if _, err := enrol.Normalize(code); err != nil {
		return fmt.Errorf("--code %q: a code is 12 letters and digits, as central printed it (XXXX-XXXX-XXXX)", code)
	}
	if fingerprint != "" {
		if fingerprint, err = join.ParseFingerprint(fingerprint); err != nil {
			return err
		}
	}
	if u.Scheme == "http" {
		if fingerprint != "" {
			return errors.New("--fingerprint: only for an https:// central")
		}
		fmt.Fprintln(stderr, "Warning: http:// central: the code and the point's new password travel in clear text.")
	}
	if _, err := datadir.Make(df.data); err != nil {
		return err
	}
	origin, err := logOrigin(ctx, df.data)
	if err != nil {
		return err
	}
	opts := join.FetchOptions{Fingerprint: fingerprint, Origin: origin}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts.Confirm = func(fp string) (bool, error) {
			fmt.Fprintf(stderr, "Central's certificate at %s has the fingerprint\n  %s\n"+
				"Is it the one central shows (logged at its start, printed by 'safepoint enrol create')? [y/N] ", u.Host, fp)
			line, err := bufio.NewReader(f).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return false, err
			}
			a := strings.ToLower(strings.TrimSpace(line))
			return a == "y" || a == "yes" || a == "j" || a == "ja", nil
		}
	}
	g, fp, err := join.Fetch(ctx, u, code, opts)
	if err != nil {
		return err
	}
	path := filepath.Join(df.data, enrolmentFile)
	_, statErr := os.Stat(path)
	e := enrolment{ID: g.Node, Municipality: g.Municipality, Name: g.Name, MQTT: g.MQTT, MQTTUser: g.MQTTUser,
		MQTTPassword: g.MQTTPassword, MQTTCA: g.MQTTCA, Central: u.String(), Fingerprint: fp, Enrolled: time.Now().UTC().Truncate(time.Second)}
	if err := writeEnrolment(path, e); err != nil {
		return fmt.Errorf("central enrolled %s, but writing %s failed: %w (ask central for a new code)", g.Node, path, err)
	}
	if err := ownLikeDir(df.data, path); err != nil {
		return err
	}
	what := g.Node
	if g.Name != "" {
		what += " (" + g.Name + ")"
	}
	fmt.Fprintf(stdout, "Enrolled %s of municipality %s at %s", what, g.Municipality, u)
	if fp != "" {
		fmt.Fprintf(stdout, " (certificate %s)", fp)
	}
	fmt.Fprintln(stdout, ".")
	if statErr == nil {
		fmt.Fprintf(stdout, "Replaced the earlier enrolment in %s.\n", path)
	}
	fmt.Fprintf(stdout, "Wrote %s (mode 0600): the point's id, municipality, broker %s and its account.\n", path, g.MQTT)
	if g.BrokerReload != "" {
		fmt.Fprintf(stdout, "Central's broker is Mosquitto: the point can connect once central's operator has run: %s\n", g.BrokerReload)
	}
	fmt.Fprintf(stdout, "Start the node: safepoint node --data %s (or restart its service: systemctl restart safepoint-node).\n", df.data)
	return nil
}

// logOrigin is the id of the event log in dir, if there is one: a point
// that has run before can only take a code for its own id.
func logOrigin(ctx context.Context, dir string) (string, error) {
	file := filepath.Join(dir, eventlog.FileName)
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		return "", nil
	}
	r, err := eventlog.OpenReader(file)
	if err != nil {
		return "", err
	}
	defer r.Close()
	return r.Origin(ctx)
}

// ownLikeDir gives path to the owner of dir when root writes it: the
// installer may run the join as root, and the node, running as the data
// directory's owner (safepoint), must read the file.
func ownLikeDir(dir, path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("give %s to the owner of %s: %w", path, dir, err)
	}
	return nil
}

// writeEnrolment writes the enrolment file atomically, readable by its
// owner only: it holds the point's broker password.
func writeEnrolment(path string, e enrolment) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by 'safepoint enrol join' at %s. 'safepoint node --data %s'\n"+
		"# reads it: flags, SAFEPOINT_* and --config override each key. It holds the\n"+
		"# point's MQTT password: keep it 0600.\n", e.Enrolled.Format(time.RFC3339), filepath.Dir(path))
	if err := toml.NewEncoder(&b).Encode(e); err != nil {
		return err
	}
	return atomicfile.Write(path, b.Bytes(), 0o600)
}

// enrolConfig is how central enrols points: what it tells them of the
// broker, and where it writes their accounts.
type enrolConfig struct {
	// EnrolBrokerURL is the broker's address given to enrolled points.
	EnrolBrokerURL string `toml:"enrol_broker_url"`
	// EnrolBrokerCA is the PEM file of the CA that signed an ssl://
	// broker's certificate, given to enrolled points; --mqtt-ca by default.
	EnrolBrokerCA string `toml:"enrol_broker_ca"`
	// EnrolMosquitto is where, with --mqtt, the points' Mosquitto
	// password lines and ACL blocks are written; DATA/mosquitto by default.
	EnrolMosquitto string `toml:"enrol_mosquitto"`
}

func enrolFlags(fs *flag.FlagSet, c *enrolConfig) {
	fs.StringVar(&c.EnrolBrokerURL, "enrol-broker-url", c.EnrolBrokerURL, "the broker `URL` given to points that enrol (tcp://HOST:1883, ssl://HOST:8883); "+
		"default: with --embedded-broker, its port on the host the point reached central at; with --mqtt, that URL (not if it is loopback)")
	fs.StringVar(&c.EnrolBrokerCA, "enrol-broker-ca", c.EnrolBrokerCA, "PEM `file` of the CA of an ssl:// broker, given to points that enrol (default: --mqtt-ca)")
	fs.StringVar(&c.EnrolMosquitto, "enrol-mosquitto", c.EnrolMosquitto, "with --mqtt: the `directory` of Mosquitto's passwd and acl files that enrolment adds points to (default: DATA/mosquitto)")
}

func (c enrolConfig) validate() error {
	if c.EnrolBrokerURL == "" {
		if c.EnrolBrokerCA != "" {
			return errors.New("--enrol-broker-ca: only with an ssl:// --enrol-broker-url")
		}
		return nil
	}
	u, err := url.Parse(c.EnrolBrokerURL)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl") || u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("--enrol-broker-url %q: use tcp://HOST:PORT or ssl://HOST:PORT, HOST as the points reach it", c.EnrolBrokerURL)
	}
	if c.EnrolBrokerCA != "" && u.Scheme != "ssl" {
		return errors.New("--enrol-broker-ca: only with an ssl:// --enrol-broker-url")
	}
	return nil
}

// centralEnrol is central's side of enrolment: the codes, the accounts
// it makes, and what it tells a point of the broker.
type centralEnrol struct {
	codes    *enrol.Store
	opts     join.Options
	register func(ctx context.Context, id, municipality string) error
	logger   *slog.Logger
}

// embeddedAccounts makes accounts in the embedded broker's users file,
// which the broker reads again at the next connection.
type embeddedAccounts struct{ users string }

func (a embeddedAccounts) Provision(nodeID, municipality, password string) error {
	return broker.WriteNodeEntry(a.users, nodeID, municipality, password)
}

// mosquittoAccounts writes Mosquitto's password line and ACL block; the
// operator reloads Mosquitto.
type mosquittoAccounts struct{ files broker.MosquittoFiles }

func (a mosquittoAccounts) Provision(nodeID, municipality, password string) error {
	return a.files.Add(nodeID, broker.RoleNode, municipality, password, true)
}

const mosquittoReload = "systemctl reload mosquitto"

// newCentralEnrol opens the codes in central's database file and decides
// how points are given their accounts: with the embedded broker, in its
// users file; with --mqtt, in Mosquitto's files.
func newCentralEnrol(ctx context.Context, cfg centralConfig, file string, embedded *broker.Broker,
	register func(ctx context.Context, id, municipality string) error, logger *slog.Logger) (*centralEnrol, error) {
	codes, err := enrol.Open(ctx, file)
	if err != nil {
		return nil, err
	}
	e := &centralEnrol{codes: codes, register: register, logger: logger}
	brokerURL := cfg.EnrolBrokerURL
	var accounts string
	switch {
	case embedded != nil:
		users := filepath.Join(cfg.Data, "broker", "users")
		e.opts.Accounts, accounts = embeddedAccounts{users: users}, users
		if brokerURL == "" {
			host, port, _ := net.SplitHostPort(embedded.Addr())
			if ip := net.ParseIP(host); host != "" && (ip == nil || !(ip.IsUnspecified() || ip.IsLoopback())) {
				brokerURL = "tcp://" + net.JoinHostPort(host, port)
			} else {
				e.opts.Broker = func(reqHost string) (string, error) { return "tcp://" + net.JoinHostPort(reqHost, port), nil }
			}
		}
	default:
		dir := cfg.EnrolMosquitto
		if dir == "" {
			dir = filepath.Join(cfg.Data, "mosquitto")
		}
		files := broker.MosquittoFilesIn(dir)
		e.opts.Accounts, e.opts.BrokerReload = mosquittoAccounts{files: files}, mosquittoReload
		accounts = files.Passwd + ", " + files.ACL
		if brokerURL == "" {
			u, err := url.Parse(cfg.MQTT)
			if err == nil && !isLoopback(u.Hostname()) {
				brokerURL = cfg.MQTT
			} else {
				why := fmt.Errorf("central's --mqtt %s is a loopback address, which a point cannot reach; set --enrol-broker-url", cfg.MQTT)
				e.opts.Broker = func(string) (string, error) { return "", why }
				logger.Warn("Enrolment has no broker address to give points: set --enrol-broker-url", "mqtt", cfg.MQTT)
			}
		}
	}
	if brokerURL != "" {
		e.opts.Broker = func(string) (string, error) { return brokerURL, nil }
	}
	if strings.HasPrefix(brokerURL, "ssl://") {
		caFile := cfg.EnrolBrokerCA
		if caFile == "" {
			caFile = cfg.MQTTCA
		}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				codes.Close()
				return nil, fmt.Errorf("--enrol-broker-ca: %w", err)
			}
			if _, err := certDER(pem); err != nil {
				codes.Close()
				return nil, fmt.Errorf("--enrol-broker-ca %s: %w", caFile, err)
			}
			e.opts.CA = pem
		}
	}
	described := brokerURL
	if described == "" {
		described = "the host a point reaches central at"
	}
	logger.Info("Enrolment", "endpoint", "POST "+join.Path, "broker", described, "accounts", accounts)
	return e, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// part is the join endpoint on central's site (site's options tell it
// whether staff TLS is on).
func (e *centralEnrol) part(site web.Options) *join.Join {
	opts := e.opts
	opts.Codes, opts.Logger = e.codes, e.logger
	opts.RequireTLS, opts.HTTPSPort = site.StaffTLS, site.HTTPSPort
	opts.Enrolled = func(ctx context.Context, c enrol.Code) {
		// A target for its municipality's directives from now on,
		// connected yet or not.
		if err := e.register(ctx, c.Node, c.Municipality); err != nil {
			e.logger.Error("Registering an enrolled point for the downlink failed", "node", c.Node, "err", err)
		}
	}
	return join.New(opts)
}

// Close closes the codes.
func (e *centralEnrol) Close() error { return e.codes.Close() }
