package nut

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort is upsd's registered TCP port.
const DefaultPort = 3493

// Addr names one UPS on one upsd.
type Addr struct {
	Host string // name or IP address of the upsd host
	Port int    // TCP port; 0 means DefaultPort
	UPS  string // section name in the server's ups.conf
}

// Parse reads a spec of the form nut://host[:port]/ups.
func Parse(spec string) (Addr, error) {
	fail := func(format string, args ...any) (Addr, error) {
		return Addr{}, fmt.Errorf("nut: parse %q: "+format, append([]any{spec}, args...)...)
	}
	if !strings.Contains(spec, "://") {
		if strings.Contains(spec, "@") {
			// upsc's ups@host[:port] form: say what to write instead.
			return fail("want nut://host[:port]/ups, not NUT's ups@host form")
		}
		return fail("want nut://host[:port]/ups")
	}
	u, err := url.Parse(spec)
	if err != nil {
		return Addr{}, fmt.Errorf("nut: parse %q: %w", spec, err)
	}
	if u.Scheme != "nut" {
		return fail("scheme %q is not nut", u.Scheme)
	}
	if u.User != nil {
		return fail("credentials do not belong in the spec; use the user and password options")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return fail("want nut://host[:port]/ups and nothing more")
	}
	a := Addr{Host: u.Hostname(), Port: DefaultPort}
	if a.Host == "" {
		return fail("missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fail("bad port %q", p)
		}
		a.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return fail("empty port")
	}
	a.UPS = strings.TrimPrefix(u.Path, "/")
	if a.UPS == "" {
		return fail("missing ups name after the host (nut://host/ups)")
	}
	if err := checkWord(a.UPS); err != nil || strings.Contains(a.UPS, "/") {
		return fail("bad ups name %q", a.UPS)
	}
	return a, nil
}

// String gives the spec back, with the port spelled out.
func (a Addr) String() string {
	return "nut://" + a.hostPort() + "/" + a.UPS
}

func (a Addr) hostPort() string {
	port := a.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(port))
}

// checkWord rejects names that cannot travel as one protocol argument
// without quoting; ups names never need it.
func checkWord(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '\\' || r == 0x7f {
			return fmt.Errorf("character %q not allowed", r)
		}
	}
	return nil
}
