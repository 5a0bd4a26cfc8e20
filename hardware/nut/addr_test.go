package nut

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec    string
		want    Addr
		wantErr string // substring of the error; empty means success
	}{
		{spec: "nut://localhost/ups", want: Addr{Host: "localhost", Port: 3493, UPS: "ups"}},
		{spec: "nut://192.168.1.10:3500/eaton", want: Addr{Host: "192.168.1.10", Port: 3500, UPS: "eaton"}},
		{spec: "nut://[::1]:3493/test", want: Addr{Host: "::1", Port: 3493, UPS: "test"}},
		{spec: "NUT://ups.lan/apc-1.main", want: Addr{Host: "ups.lan", Port: 3493, UPS: "apc-1.main"}},
		{spec: "nut://host", wantErr: "missing ups name"},
		{spec: "nut://host/", wantErr: "missing ups name"},
		{spec: "nut://host:3493", wantErr: "missing ups name"},
		{spec: "nut://host/a/b", wantErr: "bad ups name"},
		{spec: "nut://host/a%20b", wantErr: "bad ups name"},
		{spec: "nut:///ups", wantErr: "missing host"},
		{spec: "nut://host:0/ups", wantErr: "bad port"},
		{spec: "nut://host:65536/ups", wantErr: "bad port"},
		{spec: "nut://host:x/ups", wantErr: "port"},
		{spec: "nut://host:/ups", wantErr: "empty port"},
		{spec: "http://host/ups", wantErr: `scheme "http" is not nut`},
		{spec: "sim://scenario", wantErr: `scheme "sim" is not nut`},
		{spec: "nut://user:pw@host/ups", wantErr: "credentials"},
		{spec: "nut://host/ups?x=1", wantErr: "nothing more"},
		{spec: "ups@host:3493", wantErr: "ups@host"},
		{spec: "host/ups", wantErr: "want nut://"},
		{spec: "", wantErr: "want nut://"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := Parse(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %+v, %v; want error containing %q", tt.spec, got, err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "nut: ") {
					t.Errorf("error %q lacks the nut: prefix", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
			}
		})
	}
}

func TestAddrString(t *testing.T) {
	for _, tt := range []struct {
		a    Addr
		want string
	}{
		{Addr{Host: "h", UPS: "u"}, "nut://h:3493/u"},
		{Addr{Host: "::1", Port: 1, UPS: "u"}, "nut://[::1]:1/u"},
	} {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.a, got, tt.want)
		}
		back, err := Parse(tt.a.String())
		if err != nil || back.UPS != tt.a.UPS || back.Host != tt.a.Host {
			t.Errorf("Parse(%q) = %+v, %v", tt.a.String(), back, err)
		}
	}
}
