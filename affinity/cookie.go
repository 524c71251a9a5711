package affinity

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Cookie configures the affinity cookie that the handler sets for a visitor
// who arrives without a key, so that later requests stick to the same version.
type Cookie struct {
	// Name is the cookie name; it must be an RFC 6265 token.
	Name string
	// MaxAge is how long browsers keep the cookie, in whole seconds (any
	// fraction is dropped). Zero makes it a session cookie.
	MaxAge time.Duration
}

// Validate reports whether c can be used: Name must be an RFC 6265 token and
// MaxAge must be zero or at least one second, since a shorter Max-Age would
// be written as 0 and browsers would delete the cookie immediately.
func (c Cookie) Validate() error {
	if c.Name == "" {
		return errors.New("affinity cookie name is empty")
	}
	for i := 0; i < len(c.Name); i++ {
		if !isTokenChar(c.Name[i]) {
			return fmt.Errorf("affinity cookie name %q: character %q at position %d is not allowed in a cookie name (RFC 6265 token)", c.Name, c.Name[i], i)
		}
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("affinity cookie max age %v is negative; use 0 for a session cookie", c.MaxAge)
	}
	if c.MaxAge > 0 && c.MaxAge < time.Second {
		return fmt.Errorf("affinity cookie max age %v is shorter than one second; use 0 for a session cookie", c.MaxAge)
	}
	return nil
}

// isTokenChar reports whether b may appear in an RFC 7230 token, which is
// what RFC 6265 requires of a cookie name.
func isTokenChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	switch b {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// Value returns the affinity key carried by the request's cookie, or "" if
// there is no such cookie or its value is not a [ValidKey]. With several
// cookies of that name, the first one counts.
func (c Cookie) Value(r *http.Request) string {
	ck, err := r.Cookie(c.Name)
	if err != nil || !ValidKey(ck.Value) {
		return ""
	}
	return ck.Value
}

// NewKey returns a fresh random affinity key: 128 bits from crypto/rand,
// encoded as unpadded base64url (22 characters). That is enough that two
// visitors never share a key, and the encoding is safe in a cookie.
func NewKey() string {
	var b [16]byte
	// crypto/rand.Read never returns an error; it crashes the program
	// instead if the system's random source fails.
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// maxKeyLen bounds client-supplied cookie keys; minted keys are 22 bytes, so
// anything much longer was not set by us.
const maxKeyLen = 128

// ValidKey reports whether a client-sent cookie value is acceptable as an
// affinity key: 1 to 128 bytes, each an RFC 6265 cookie-octet (printable
// ASCII except space, '"', ',', ';' and '\').
func ValidKey(v string) bool {
	if len(v) == 0 || len(v) > maxKeyLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isCookieOctet(v[i]) {
			return false
		}
	}
	return true
}

func isCookieOctet(b byte) bool {
	return b > 0x20 && b < 0x7f && b != '"' && b != ',' && b != ';' && b != '\\'
}

// SetCookie adds to h a Set-Cookie header that stores key in the affinity
// cookie. The cookie applies to the whole site (Path=/), is hidden from
// scripts (HttpOnly), is sent on top-level navigations from other sites
// (SameSite=Lax, so arriving from a link keeps the same version), carries
// Max-Age when c.MaxAge is positive, and is marked Secure when secure is true,
// which callers set for requests that arrived over TLS.
func (c Cookie) SetCookie(h http.Header, key string, secure bool) {
	ck := http.Cookie{
		Name:     c.Name,
		Value:    key,
		Path:     "/",
		MaxAge:   int(c.MaxAge / time.Second),
		Secure:   secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if v := ck.String(); v != "" {
		h.Add("Set-Cookie", v)
	}
}
