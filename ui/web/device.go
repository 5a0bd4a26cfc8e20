package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// Device cookies (OWASP's guidance on online guessing): a browser that
// logs in as a staff member gets a cookie, signed with the site's key,
// that says "this device has logged in as NAME before". The login guard
// lets such a device through the limits an attacker on the same Wi-Fi
// can trip (docs/API.md, "Throttling"). The cookie opens nothing by
// itself: the password is still checked, and the device's own failures
// are counted.
const (
	deviceCookieTLS   = "__Host-safepoint-device"
	deviceCookiePlain = "safepoint-device"
)

func deviceCookieName(r *http.Request) string {
	if r.TLS != nil {
		return deviceCookieTLS
	}
	return deviceCookiePlain
}

// deviceMAC signs name and the device's nonce.
func (s *Site) deviceMAC(name, nonce string) string {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte("safepoint device\x00" + name + "\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// deviceOf returns the device id of r's device cookie, and whether the
// cookie is a valid one for name.
func (s *Site) deviceOf(r *http.Request, name string) (string, bool) {
	c, err := r.Cookie(deviceCookieName(r))
	if err != nil {
		return "", false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return "", false
	}
	who, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || string(who) != name {
		return "", false
	}
	if !hmac.Equal([]byte(parts[2]), []byte(s.deviceMAC(name, parts[1]))) {
		return "", false
	}
	return parts[1], true
}

// setDeviceCookie marks r's device as one that has logged in as name.
func (s *Site) setDeviceCookie(w http.ResponseWriter, r *http.Request, name string) {
	b := make([]byte, 12)
	rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	value := base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + nonce + "." + s.deviceMAC(name, nonce)
	http.SetCookie(w, &http.Cookie{Name: deviceCookieName(r), Value: value, Path: "/", MaxAge: int(deviceCookieAge.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// newDeviceKey makes a key for a site given none: device cookies then last
// as long as the process.
func newDeviceKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
