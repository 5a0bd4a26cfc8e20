package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// waitHealthy polls every URL until each answers 200.
func waitHealthy(ctx context.Context, urls []string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range urls {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s did not answer within %v", u, limit)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// banner is what the demo prints once every process answers: where to
// find each one, and how to log in.
func banner(cfg Config, nodes []site, password, centralFP, scenario string, took time.Duration) string {
	var b strings.Builder
	rule := strings.Repeat("=", 78)
	fmt.Fprintf(&b, "\n%s\nSafepoint demo: a central with its MQTT broker and %d nodes, up in %.1f s.\n",
		rule, len(nodes), took.Seconds())
	fmt.Fprintf(&b, "Every node plays the storm in %s: mains lost, battery, generator, mains back.\n\n", scenario)
	fmt.Fprintf(&b, "Staff account on every node and on central: %s, password %s\n", User, password)
	fmt.Fprintf(&b, "  (saved in %s; the certificates are self-signed, fingerprints below)\n\n",
		filepath.Join(cfg.Dir, "demo-password"))
	width := 0
	for _, n := range nodes {
		width = max(width, len(n.Name))
	}
	for _, n := range nodes {
		fmt.Fprintf(&b, "%-*s  residents http://%s/   staff https://%s/board\n", width, n.Name,
			Addr(n.http), Addr(n.https))
		fmt.Fprintf(&b, "%-*s  status    http://%s/api/status   (%s, kommun %s)\n", width, "", Addr(n.http), n.ID, n.Municipality)
		fmt.Fprintf(&b, "%-*s  SHA256:%s\n", width, "", n.fingerprint)
	}
	fmt.Fprintf(&b, "\nCentral     https://%s/login?next=/api/nodes   (every node: online, acked_seq, backlog)\n",
		Addr(cfg.CentralHTTPS()))
	fmt.Fprintf(&b, "            SHA256:%s\n", centralFP)
	fmt.Fprintf(&b, "MQTT broker tcp://%s (in central; users in %s)\n\n", Addr(cfg.BrokerPort()),
		filepath.Join(cfg.Dir, "central", "broker", "users"))
	fmt.Fprintf(&b, "From a shell:\n  curl -sk -c /tmp/sp-jar -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"name\":\"%s\",\"password\":\"%s\"}' https://%s/api/login\n"+
		"  curl -sk -b /tmp/sp-jar https://%s/api/nodes\n\n",
		User, password, Addr(cfg.CentralHTTPS()), Addr(cfg.CentralHTTPS()))
	fmt.Fprintf(&b, "Ctrl-C stops everything. The data stays in %s for the next run.\n%s\n\n", cfg.Dir, rule)
	return b.String()
}

// watchNodes tells the story of the storm: each node's power and link
// as they change, read from its /api/status every 2 s.
func watchNodes(ctx context.Context, nodes []site, width int, out *output) {
	client := &http.Client{Timeout: 2 * time.Second}
	last := make([]string, len(nodes))
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		for i, n := range nodes {
			if s := nodeSummary(ctx, client, "http://"+Addr(n.http)+"/api/status"); s != "" && s != last[i] {
				last[i] = s
				out.line("demo", width, n.ID+": "+s)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// nodeSummary is one line on a node's power and link; "" when it does
// not answer.
func nodeSummary(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st struct {
		Power *struct {
			State   string   `json:"state"`
			Percent *float64 `json:"battery_percent"`
			Runtime *float64 `json:"runtime_minutes"`
		} `json:"power"`
		Sync struct {
			Online bool `json:"online"`
		} `json:"sync"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return ""
	}
	var parts []string
	if p := st.Power; p != nil && p.State != "" {
		s := "power " + p.State + " (" + map[string]string{"OL": "mains", "OB": "battery", "GEN": "generator"}[strings.Fields(p.State)[0]] + ")"
		if p.Percent != nil && strings.HasPrefix(p.State, "OB") {
			s += fmt.Sprintf(", battery %.0f %%", *p.Percent)
			if p.Runtime != nil {
				s += fmt.Sprintf(", about %.1f h left", *p.Runtime/60)
			}
		}
		parts = append(parts, s)
	}
	if st.Sync.Online {
		parts = append(parts, "linked to central")
	} else {
		parts = append(parts, "not linked to central")
	}
	return strings.Join(parts, ", ")
}
