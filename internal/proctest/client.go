package proctest

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"
)

// Client is one person's HTTP client of a node or central: a cookie jar of
// its own, so that a Login makes a session, whose CSRF token it keeps.
type Client struct {
	Base string // http://127.0.0.1:PORT, or https:// for staff over TLS
	HTTP *http.Client
	Jar  *cookiejar.Jar
	CSRF string // after a Login
}

// NewClient is a client of base with a 10 s timeout; over HTTPS it trusts
// what tlsCfg says (nil: the system's roots).
func NewClient(base string, tlsCfg *tls.Config) *Client {
	jar, _ := cookiejar.New(nil) // without options it cannot fail
	return &Client{Base: base, Jar: jar, HTTP: &http.Client{Timeout: 10 * time.Second, Jar: jar,
		Transport: &http.Transport{TLSClientConfig: tlsCfg}}}
}

// Do sends one request to path, with body as JSON when it is not empty and
// header, and returns the answer with its body read.
func (c *Client) Do(method, path, body string, header map[string]string) (*http.Response, []byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.Base+path, r)
	if err != nil {
		return nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, b, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	return resp, b, nil
}

// Login posts name and password to /api/login. On 200 it keeps the
// session's CSRF token, which the answer must hold.
func (c *Client) Login(name, password string) (*http.Response, []byte, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, b, err := c.Do(http.MethodPost, "/api/login", string(body), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, b, err
	}
	var lr struct {
		CSRF string `json:"csrf"`
	}
	if err := json.Unmarshal(b, &lr); err != nil || lr.CSRF == "" {
		return resp, b, fmt.Errorf("login answer %s: no CSRF token (%v)", b, err)
	}
	c.CSRF = lr.CSRF
	return resp, b, nil
}
