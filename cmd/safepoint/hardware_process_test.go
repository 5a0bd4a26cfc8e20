package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// skipWithI2C skips a test of the machine without I2C on one that has it.
func skipWithI2C(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/i2c-1"); err == nil {
		t.Skip("this machine has /dev/i2c-1")
	}
}

// TestHardwareProbeNoBus: on a machine without I2C (any PC, a Pi with I2C
// off) the probe exits non-zero within 10 s with one line that names
// /dev/i2c-1 and how to turn I2C on, and no stack trace.
func TestHardwareProbeNoBus(t *testing.T) {
	skipWithI2C(t)
	start := time.Now()
	r := runCLI(t, "", "hardware", "probe")
	took := time.Since(start)
	if r.Code == 0 || took > 10*time.Second {
		t.Fatalf("%s after %v; want a non-zero exit within 10 s", r, took)
	}
	msg := strings.TrimSpace(r.Stderr)
	if strings.Count(msg, "\n") > 0 || r.Stdout != "" {
		t.Errorf("want one line on stderr and nothing else: %s", r)
	}
	for _, want := range []string{"/dev/i2c-1", "raspi-config", "dtparam=i2c_arm=on"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not say %q", msg, want)
		}
	}
	for _, trace := range []string{"goroutine ", "panic", ".go:"} {
		if strings.Contains(r.Stderr, trace) {
			t.Errorf("stderr has %q: %s", trace, r.Stderr)
		}
	}
}

// TestHardwareMissingHAT: a node started with --power hat:x728 on a machine
// without I2C starts, serves every page, shows the power as unknown with
// the reason on the board (not to residents), and records the source lost
// once.
func TestHardwareMissingHAT(t *testing.T) {
	skipWithI2C(t)
	dir := filepath.Join(t.TempDir(), "data")
	addUser(t, dir, "eva", "staff", "eva password 1")
	p := startNode(t, nil, nodeArgs(dir, "--power", "hat:x728")...)

	for _, path := range []string{"/", "/announcements", "/guidance", "/contact", "/checkin", "/report", "/api/status", "/healthz"} {
		resp, err := httpClient.Get(p.base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	var pub struct {
		Power map[string]any `json:"power"`
	}
	resp, err := httpClient.Get(p.base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&pub)
	resp.Body.Close()
	if pub.Power["state"] != "" || pub.Power["source_ok"] != false || pub.Power["source"] != "hat:x728" || pub.Power["source_problem"] != nil {
		t.Errorf("public power %v: want unknown, not ok, from hat:x728, and no problem shown to residents", pub.Power)
	}

	addr, _ := staffHTTPS(t, p)
	s := newStaffClient(t, dir, "https://"+addr)
	s.mustLogin("eva", "eva password 1")
	for _, path := range []string{"/board", "/board/print", "/api/staff/state", "/api/staff/power/history"} {
		resp, body := s.do(http.MethodGet, path, "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		if path == "/board" {
			for _, want := range []string{"pw pw-unknown", "strömläget är okänt", "no I2C bus /dev/i2c-1", "raspi-config"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("the board does not say %q", want)
				}
			}
		}
	}

	// The third failed read (after 10 s at the 5 s interval) loses it.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.Stderr.String(), `"msg":"Power source lost"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no \"Power source lost\" within 20 s; stderr:\n%s", p.Stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, body := s.do(http.MethodGet, "/board", "", nil); !strings.Contains(string(body), "strömläget är okänt") {
		t.Error("after the loss the board does not say the power is unknown")
	}
	p.terminate()
	if n := strings.Count(p.Stderr.String(), `"msg":"Power source lost"`); n != 1 {
		t.Errorf("%d \"Power source lost\" lines, want 1", n)
	}
	var lost int
	for _, e := range runDumpProc(t, dir) {
		if e.Type != "power.source_changed" {
			continue
		}
		lost++
		reason, _ := e.Payload["reason"].(string)
		if e.Payload["state"] != "lost" || e.Payload["source"] != "hat:x728" || !strings.Contains(reason, "/dev/i2c-1") {
			t.Errorf("event %s", e.Raw)
		}
	}
	if lost != 1 {
		t.Errorf("%d power.source_changed events, want 1", lost)
	}
}
