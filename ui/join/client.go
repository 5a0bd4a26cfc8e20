package join

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/sync/wire"
	"github.com/safepoint-se/safepoint/ui/web"
)

// DefaultPort is central's staff HTTPS port (`safepoint central --https`),
// taken when the address a point is given names none.
const DefaultPort = "8493"

// ParseCentral reads central's address as an installer gives it:
// https://HOST[:PORT], or HOST[:PORT] alone; the port is 8493 when none is
// given. http:// is taken too, for a central with staff TLS off.
func ParseCentral(s string) (*url.URL, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return nil, errors.New("--central: required (central's address: https://HOST[:PORT], port 8493 by default)")
	}
	if !strings.Contains(in, "://") {
		in = "https://" + in
	}
	u, err := url.Parse(in)
	bad := func(why string) error {
		return fmt.Errorf("--central %q: %s; use https://HOST[:PORT] (central's staff HTTPS, port %s by default)", s, why, DefaultPort)
	}
	switch {
	case err != nil:
		return nil, bad("not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, bad("not https://")
	case u.Hostname() == "":
		return nil, bad("no host")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return nil, bad("only a host and a port")
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), DefaultPort)
	}
	u.Path = ""
	return u, nil
}

// ParseFingerprint reads a certificate's SHA-256 fingerprint as central
// prints it (SHA256:AB:CD:…), forgiving case, colons, spaces and the
// prefix, and returns it as central prints it.
func ParseFingerprint(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) > 7 && strings.EqualFold(t[:7], "sha256:") {
		t = t[7:]
	}
	t = strings.NewReplacer(":", "", " ", "").Replace(t)
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("--fingerprint %q: a SHA-256 fingerprint is 64 hex digits, as central prints it: SHA256:AB:CD:…", s)
	}
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return "SHA256:" + strings.Join(parts, ":"), nil
}

// FingerprintOf is the fingerprint of a DER certificate as central prints
// it.
func FingerprintOf(der []byte) string { return "SHA256:" + web.Fingerprint(der) }

// Errors of Fetch.
var (
	// ErrMismatch: central's certificate is not the one pinned.
	ErrMismatch = errors.New("join: central's certificate does not have the fingerprint given")
	// ErrUnconfirmed: no fingerprint was given and none was confirmed.
	ErrUnconfirmed = errors.New("join: central's certificate is not confirmed")
)

// RefusedError is central's refusal of a code, or of the request.
type RefusedError struct {
	Status  int
	Reason  string // a Reason* constant; empty for a body central could not read
	Message string
	Retry   string // Retry-After, for ReasonRate
}

func (e *RefusedError) Error() string {
	msg := "central refused: " + e.Message
	if e.Retry != "" {
		msg += " (Retry-After " + e.Retry + " s)"
	}
	return msg
}

// FetchOptions are what Fetch takes besides central's address and the code.
type FetchOptions struct {
	// Fingerprint pins central's certificate (ParseFingerprint's form).
	Fingerprint string
	// Confirm is asked, when no fingerprint is pinned and the certificate
	// is not one the system's CAs vouch for, whether the fingerprint seen
	// is central's. Nil: not confirmed.
	Confirm func(fingerprint string) (bool, error)
	// Origin is the id of the point's event log, if it has one.
	Origin string
	// Roots are the CAs a certificate is checked against when none is
	// pinned; the system's when nil.
	Roots *x509.CertPool
	// Timeout bounds the whole exchange; 30 s when 0.
	Timeout time.Duration
}

// Fetch redeems code at central (ParseCentral's URL) and returns what
// central granted, with the fingerprint of the certificate it spoke
// through ("" over http://). The certificate is pinned: to opts.Fingerprint
// when given; else to the one central shows, when the system's CAs vouch
// for it or opts.Confirm accepts it. The exchange that carries the code
// happens only on a connection with that very certificate.
func Fetch(ctx context.Context, central *url.URL, code string, opts FetchOptions) (Grant, string, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var fp string
	// No proxy from the environment: the point talks to central directly,
	// on the municipality's own network.
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, ResponseHeaderTimeout: opts.Timeout,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	if central.Scheme == "https" {
		var err error
		if fp, err = trust(ctx, central, opts); err != nil {
			return Grant{}, fp, err
		}
		tr.TLSClientConfig = pinned(fp)
	} else if opts.Fingerprint != "" {
		return Grant{}, "", errors.New("--fingerprint: only for an https:// central")
	}
	body, _ := json.Marshal(Request{Code: code, Origin: opts.Origin})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, central.String()+Path, bytes.NewReader(body))
	if err != nil {
		return Grant{}, fp, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return Grant{}, fp, reachErr(central, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Grant{}, fp, fmt.Errorf("join: reading central's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var ref Refusal
		if json.Unmarshal(b, &ref) != nil || ref.Error == "" {
			if resp.StatusCode == http.StatusNotFound {
				return Grant{}, fp, fmt.Errorf("join: %s answers %s with 404: is that central, of a version with enrolment?", central, Path)
			}
			return Grant{}, fp, fmt.Errorf("join: central answered %s", resp.Status)
		}
		return Grant{}, fp, &RefusedError{Status: resp.StatusCode, Reason: ref.Reason, Message: ref.Error,
			Retry: resp.Header.Get("Retry-After")}
	}
	var g Grant
	if err := json.Unmarshal(b, &g); err != nil {
		return Grant{}, fp, fmt.Errorf("join: central's answer: %w", err)
	}
	return g, fp, g.check()
}

// check refuses a grant the point could not use.
func (g Grant) check() error {
	var errs []error
	if !wire.ValidNode(g.Node) || g.Node != g.MQTTUser {
		errs = append(errs, fmt.Errorf("node %q, user %q", g.Node, g.MQTTUser))
	}
	if !node.ValidMunicipality(g.Municipality) {
		errs = append(errs, fmt.Errorf("municipality %q", g.Municipality))
	}
	if u, err := url.Parse(g.MQTT); err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl") || u.Port() == "" {
		errs = append(errs, fmt.Errorf("broker %q", g.MQTT))
	}
	if len(g.MQTTPassword) < 10 {
		errs = append(errs, errors.New("no usable password"))
	}
	if g.MQTTCA != "" {
		if b, _ := pem.Decode([]byte(g.MQTTCA)); b == nil || b.Type != "CERTIFICATE" {
			errs = append(errs, errors.New("a broker CA that is not a PEM certificate"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("join: central's answer is not usable: %w", err)
	}
	return nil
}

// trust looks at central's certificate and returns its fingerprint if it
// is to be trusted: pinned, vouched for by the CAs, or confirmed.
func trust(ctx context.Context, central *url.URL, opts FetchOptions) (string, error) {
	var leaf *x509.Certificate
	var chain []*x509.Certificate
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         central.Hostname(),
		InsecureSkipVerify: true, // checked below: pinned, or by the CAs, or confirmed
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			leaf, chain = cs.PeerCertificates[0], cs.PeerCertificates[1:]
			return nil
		},
	}}
	conn, err := d.DialContext(ctx, "tcp", central.Host)
	if err != nil {
		return "", reachErr(central, err)
	}
	conn.Close()
	fp := FingerprintOf(leaf.Raw)
	if opts.Fingerprint != "" {
		want, err := ParseFingerprint(opts.Fingerprint)
		if err != nil {
			return fp, err
		}
		if fp != want {
			return fp, fmt.Errorf("%w: %s shows %s, not %s as given. Compare with the fingerprint central logs at start "+
				"(Serving staff over HTTPS … fingerprint=…) and 'safepoint enrol create' prints; a mismatch can mean "+
				"another machine answers at that address", ErrMismatch, central.Host, fp, want)
		}
		return fp, nil
	}
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: central.Hostname(), Roots: opts.Roots, Intermediates: inter}); err == nil {
		return fp, nil
	}
	if opts.Confirm == nil {
		return fp, fmt.Errorf("%w (no --fingerprint, and no terminal to ask on). Its fingerprint at %s is\n  %s\n"+
			"Compare it with the one central logs at start (Serving staff over HTTPS … fingerprint=…) or 'safepoint "+
			"enrol create' prints, and run again with --fingerprint %s", ErrUnconfirmed, central.Host, fp, fp)
	}
	ok, err := opts.Confirm(fp)
	if err != nil {
		return fp, err
	}
	if !ok {
		return fp, fmt.Errorf("%w: the fingerprint %s was not accepted", ErrUnconfirmed, fp)
	}
	return fp, nil
}

// pinned accepts only the certificate with fingerprint fp.
func pinned(fp string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // VerifyConnection pins the certificate instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			if got := FingerprintOf(cs.PeerCertificates[0].Raw); got != fp {
				return fmt.Errorf("%w: it changed between two connections (%s, then %s)", ErrMismatch, fp, got)
			}
			return nil
		},
	}
}

// reachErr says why central could not be reached, with a hint for the
// common mistakes.
func reachErr(central *url.URL, err error) error {
	if errors.Is(err, ErrMismatch) {
		return err
	}
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) {
		return fmt.Errorf("join: %s does not speak TLS: is that central's staff HTTPS port (--https, %s by default)? (%w)",
			central.Host, DefaultPort, err)
	}
	return fmt.Errorf("join: cannot reach central at %s: %w", central, err)
}
