package affinity

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCookieValidate(t *testing.T) {
	tests := []struct {
		name    string
		cookie  Cookie
		wantErr string // substring of the error; "" means valid
	}{
		{"session cookie", Cookie{Name: "gradual_key"}, ""},
		{"30 days", Cookie{Name: "gradual_key", MaxAge: 30 * 24 * time.Hour}, ""},
		{"one second", Cookie{Name: "k", MaxAge: time.Second}, ""},
		{"fraction of a second above one", Cookie{Name: "k", MaxAge: 1500 * time.Millisecond}, ""},
		{"every token punctuation", Cookie{Name: "!#$%&'*+-.^_`|~Az09"}, ""},
		{"empty name", Cookie{}, "name is empty"},
		{"space in name", Cookie{Name: "gradual key"}, `' ' at position 7`},
		{"equals in name", Cookie{Name: "a=b"}, `'=' at position 1`},
		{"semicolon in name", Cookie{Name: "a;b"}, `';' at position 1`},
		{"separator in name", Cookie{Name: "a(b)"}, `'(' at position 1`},
		{"control character in name", Cookie{Name: "a\x7fb"}, "position 1"},
		{"non-ASCII name", Cookie{Name: "clé"}, "position 2"},
		{"negative max age", Cookie{Name: "k", MaxAge: -time.Second}, "negative"},
		{"max age under a second", Cookie{Name: "k", MaxAge: 500 * time.Millisecond}, "shorter than one second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cookie.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("%+v.Validate() = %v, want nil", tt.cookie, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%+v.Validate() = %v, want error containing %q", tt.cookie, err, tt.wantErr)
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want bool
	}{
		{"minted shape", "q83vEjRWeJCrze8SNFZ4kA", true},
		{"one byte", "a", true},
		{"128 bytes", strings.Repeat("k", 128), true},
		{"every allowed punctuation", "!#$%&'()*+-./:<=>?@[]^_`{|}~", true},
		{"empty", "", false},
		{"129 bytes", strings.Repeat("k", 129), false},
		{"space", "a b", false},
		{"double quote", `a"b`, false},
		{"comma", "a,b", false},
		{"semicolon", "a;b", false},
		{"backslash", `a\b`, false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"non-ASCII", "clé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidKey(tt.key); got != tt.want {
				t.Fatalf("ValidKey(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"q83vEjRWeJCrze8SNFZ4kA", "", "a b", `"quoted"`, "a;b=c", strings.Repeat("x", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		// RFC 6265 section 4.1.1, spelled out as ranges.
		want := len(v) >= 1 && len(v) <= 128
		for i := 0; i < len(v) && want; i++ {
			c := v[i]
			want = c == 0x21 || c >= 0x23 && c <= 0x2b || c >= 0x2d && c <= 0x3a || c >= 0x3c && c <= 0x5b || c >= 0x5d && c <= 0x7e
		}
		if got := ValidKey(v); got != want {
			t.Fatalf("ValidKey(%q) = %v, want %v", v, got, want)
		}

		// A valid key survives a trip through a browser's Cookie header.
		c := Cookie{Name: "k"}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", "k="+v)
		got := c.Value(r)
		if want && got != v {
			t.Fatalf("Value with valid key %q = %q", v, got)
		}
		if got != "" && !ValidKey(got) {
			t.Fatalf("Value with cookie %q = %q, which is not a valid key", v, got)
		}

		if k := NewKey(); !ValidKey(k) {
			t.Fatalf("NewKey() = %q, not a valid key", k)
		}
	})
}

func TestNewKey(t *testing.T) {
	const n = 10000
	seen := make(map[string]bool, n)
	for range n {
		k := NewKey()
		if len(k) != 22 {
			t.Fatalf("NewKey() = %q, %d characters, want 22", k, len(k))
		}
		if !ValidKey(k) {
			t.Fatalf("NewKey() = %q, not a valid key", k)
		}
		raw, err := base64.RawURLEncoding.DecodeString(k)
		if err != nil || len(raw) != 16 {
			t.Fatalf("NewKey() = %q, decodes to (%d bytes, %v), want 16 bytes", k, len(raw), err)
		}
		if seen[k] {
			t.Fatalf("NewKey() returned %q twice in %d calls", k, len(seen)+1)
		}
		seen[k] = true
	}
}

func TestCookieSetCookie(t *testing.T) {
	const key = "q83vEjRWeJCrze8SNFZ4kA"
	tests := []struct {
		name       string
		maxAge     time.Duration
		secure     bool
		wantMaxAge int
	}{
		{"session, plain HTTP", 0, false, 0},
		{"session, TLS", 0, true, 0},
		{"30 days, plain HTTP", 30 * 24 * time.Hour, false, 2592000},
		{"30 days, TLS", 30 * 24 * time.Hour, true, 2592000},
		{"fraction of a second dropped", 90*time.Second + 900*time.Millisecond, true, 90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Cookie{Name: "gradual_key", MaxAge: tt.maxAge}
			h := http.Header{}
			h.Add("Set-Cookie", "other=1")
			c.SetCookie(h, key, tt.secure)

			lines := h.Values("Set-Cookie")
			if len(lines) != 2 || lines[0] != "other=1" {
				t.Fatalf("Set-Cookie lines = %q, want the existing one kept and one added", lines)
			}
			line := lines[1]
			got, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatalf("http.ParseSetCookie(%q): %v", line, err)
			}
			if got.Name != "gradual_key" || got.Value != key {
				t.Errorf("%q: cookie %s=%s, want gradual_key=%s", line, got.Name, got.Value, key)
			}
			if got.Path != "/" {
				t.Errorf("%q: Path = %q, want /", line, got.Path)
			}
			if got.Domain != "" {
				t.Errorf("%q: Domain = %q, want none (host-only cookie)", line, got.Domain)
			}
			if !got.HttpOnly {
				t.Errorf("%q: not HttpOnly", line)
			}
			if got.SameSite != http.SameSiteLaxMode {
				t.Errorf("%q: SameSite = %v, want Lax", line, got.SameSite)
			}
			if got.Secure != tt.secure {
				t.Errorf("%q: Secure = %v, want %v", line, got.Secure, tt.secure)
			}
			if got.MaxAge != tt.wantMaxAge {
				t.Errorf("%q: MaxAge = %d, want %d", line, got.MaxAge, tt.wantMaxAge)
			}
			if tt.wantMaxAge == 0 && strings.Contains(line, "Max-Age") {
				t.Errorf("%q: session cookie carries Max-Age", line)
			}
			if !got.Expires.IsZero() {
				t.Errorf("%q: Expires = %v, want none", line, got.Expires)
			}

			// The same, as an HTTP client sees it.
			cookies := (&http.Response{Header: h}).Cookies()
			if len(cookies) != 2 || cookies[1].Value != key || cookies[1].MaxAge != tt.wantMaxAge || cookies[1].Secure != tt.secure {
				t.Errorf("http.Response.Cookies() = %v", cookies)
			}
		})
	}
}

func TestCookieValue(t *testing.T) {
	c := Cookie{Name: "gradual_key"}
	tests := []struct {
		name    string
		cookies []string // Cookie header lines
		want    string
	}{
		{"no cookie header", nil, ""},
		{"only other cookies", []string{"session=abc; theme=dark"}, ""},
		{"minted key", []string{"gradual_key=q83vEjRWeJCrze8SNFZ4kA"}, "q83vEjRWeJCrze8SNFZ4kA"},
		{"among other cookies", []string{"session=abc; gradual_key=k1; theme=dark"}, "k1"},
		{"second header line", []string{"session=abc", "gradual_key=k1"}, "k1"},
		{"first of duplicates", []string{"gradual_key=k1; gradual_key=k2"}, "k1"},
		{"name is case-sensitive", []string{"Gradual_Key=k1"}, ""},
		{"prefix of the name", []string{"gradual_keys=k1"}, ""},
		{"empty value", []string{"gradual_key="}, ""},
		{"128 bytes", []string{"gradual_key=" + strings.Repeat("k", 128)}, strings.Repeat("k", 128)},
		{"oversize", []string{"gradual_key=" + strings.Repeat("k", 129)}, ""},
		{"much oversize", []string{"gradual_key=" + strings.Repeat("k", 8192)}, ""},
		{"space inside", []string{"gradual_key=a b"}, ""},
		{"comma inside", []string{"gradual_key=a,b"}, ""},
		{"backslash inside", []string{`gradual_key=a\b`}, ""},
		{"non-ASCII", []string{"gradual_key=clé"}, ""},
		{"quoted value is unquoted", []string{`gradual_key="k1"`}, "k1"},
		{"stray quote", []string{`gradual_key="k1`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, line := range tt.cookies {
				r.Header.Add("Cookie", line)
			}
			if got := c.Value(r); got != tt.want {
				t.Fatalf("Value with Cookie %q = %q, want %q", tt.cookies, got, tt.want)
			}
		})
	}
}

func BenchmarkNewKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewKey()
	}
}
