package affinity

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSourceKey(t *testing.T) {
	cookie := &Cookie{Name: "gradual_key"}
	expr := func(r *http.Request) string { return r.Header.Get("X-User") }
	tests := []struct {
		name       string
		source     Source
		header     string // KeyHeader value; "" means not sent
		user       string // X-User, read by the expression
		cookie     string // affinity cookie value; "" means not sent
		want       string
		wantOrigin Origin
	}{
		{"nothing configured, nothing sent", Source{}, "", "", "", "", OriginNone},
		{"everything configured, nothing sent", Source{Expression: expr, Cookie: cookie}, "", "", "", "", OriginNone},
		{"header alone", Source{}, "h", "", "", "h", OriginHeader},
		{"header beats expression and cookie", Source{Expression: expr, Cookie: cookie}, "h", "u", "c", "h", OriginHeader},
		{"expression beats cookie", Source{Expression: expr, Cookie: cookie}, "", "u", "c", "u", OriginExpression},
		{"cookie last", Source{Expression: expr, Cookie: cookie}, "", "", "c", "c", OriginCookie},
		{"empty expression falls through to cookie", Source{Expression: expr, Cookie: cookie}, "", "", "c", "c", OriginCookie},
		{"expression not configured", Source{Cookie: cookie}, "", "u", "c", "c", OriginCookie},
		{"cookie not configured", Source{Expression: expr}, "", "", "c", "", OriginNone},
		{"invalid cookie counts as absent", Source{Cookie: cookie}, "", "", "a,b", "", OriginNone},
		{"header is used as is", Source{Cookie: cookie}, "any value, even; this", "", "c", "any value, even; this", OriginHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set(KeyHeader, tt.header)
			}
			if tt.user != "" {
				r.Header.Set("X-User", tt.user)
			}
			if tt.cookie != "" {
				r.Header.Set("Cookie", "gradual_key="+tt.cookie)
			}
			got, origin := tt.source.Key(r)
			if got != tt.want || origin != tt.wantOrigin {
				t.Fatalf("Key() = (%q, %v), want (%q, %v)", got, origin, tt.want, tt.wantOrigin)
			}
		})
	}
	t.Run("empty header falls through", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set(KeyHeader, "")
		r.Header.Set("Cookie", "gradual_key=c")
		if got, origin := (Source{Cookie: cookie}).Key(r); got != "c" || origin != OriginCookie {
			t.Fatalf("Key() = (%q, %v), want (\"c\", cookie)", got, origin)
		}
	})
	t.Run("header name is case-insensitive on the wire", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Add("cloudflare-workers-version-key", "h")
		if got, origin := (Source{}).Key(r); got != "h" || origin != OriginHeader {
			t.Fatalf("Key() = (%q, %v), want (\"h\", header)", got, origin)
		}
	})
}

func TestSourceKeyHeaderAllocs(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set(KeyHeader, "user-42")
	s := Source{Expression: func(*http.Request) string { return "x" }, Cookie: &Cookie{Name: "k"}}
	allocs := testing.AllocsPerRun(100, func() {
		if k, _ := s.Key(r); k != "user-42" {
			t.Fatalf("Key() = %q", k)
		}
	})
	if allocs != 0 {
		t.Fatalf("Key() from the header allocates %v times, want 0", allocs)
	}
}

func TestOriginString(t *testing.T) {
	tests := []struct {
		origin Origin
		want   string
	}{
		{OriginNone, "none"},
		{OriginHeader, "header"},
		{OriginExpression, "expression"},
		{OriginCookie, "cookie"},
		{Origin(200), "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.origin.String(); got != tt.want {
				t.Fatalf("Origin(%d).String() = %q, want %q", tt.origin, got, tt.want)
			}
		})
	}
}

func BenchmarkSourceKey(b *testing.B) {
	s := Source{Cookie: &Cookie{Name: "gradual_key"}}
	b.Run("header", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set(KeyHeader, "user-42")
		b.ReportAllocs()
		for b.Loop() {
			if k, o := s.Key(r); o != OriginHeader {
				b.Fatal(k, o)
			}
		}
	})
	b.Run("cookie", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", "session=abc123; gradual_key=q83vEjRWeJCrze8SNFZ4kA; theme=dark")
		b.ReportAllocs()
		for b.Loop() {
			if k, o := s.Key(r); o != OriginCookie {
				b.Fatal(k, o)
			}
		}
	})
	b.Run("none", func(b *testing.B) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		b.ReportAllocs()
		for b.Loop() {
			if k, o := s.Key(r); o != OriginNone {
				b.Fatal(k, o)
			}
		}
	})
}
