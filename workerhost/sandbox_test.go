package workerhost

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestFetchPolicyCheck(t *testing.T) {
	admin := []string{"localhost:2019", "unix//run/caddy-admin.sock", "[::1]:7777"}
	tests := []struct {
		allow []string
		addr  string
		want  string // "" allowed, else a part of the error
	}{
		// Public addresses are reachable by default.
		{nil, "93.184.216.34:443", ""},
		{nil, "[2606:4700::1111]:443", ""},
		{nil, "8.8.8.8:2019", ""}, // the admin port elsewhere is not the admin endpoint
		// Everything local or internal is blocked by default, with its rule named.
		{nil, "127.0.0.1:80", "loopback addresses are reachable only when fetch_allow names them"},
		{nil, "127.9.9.9:80", "loopback"},
		{nil, "[::1]:80", "loopback"},
		{nil, "0.0.0.0:80", "unspecified"},
		{nil, "[::]:80", "unspecified"},
		{nil, "0.1.2.3:80", "unspecified"},
		{nil, "169.254.169.254:80", "link-local (cloud metadata)"},
		{nil, "[fe80::1]:80", "link-local"},
		{nil, "10.1.2.3:80", "private"},
		{nil, "172.16.0.1:80", "private"},
		{nil, "192.168.1.1:80", "private"},
		{nil, "[fd00:ec2::254]:80", "private"},
		{nil, "100.100.100.200:80", "reserved"},
		{nil, "198.18.0.1:80", "reserved"},
		{nil, "255.255.255.255:80", "non-unicast"},
		{nil, "224.0.0.1:80", "non-unicast"},
		// IPv4 inside IPv6 is judged as the IPv4 address.
		{nil, "[::ffff:127.0.0.1]:80", "loopback"},
		{nil, "[::ffff:169.254.169.254]:80", "link-local"},
		{nil, "[64:ff9b::a9fe:a9fe]:80", "link-local"},
		{nil, "[2002:7f00:1::1]:80", "loopback"},
		{nil, "[::7f00:1]:80", "loopback"},
		{nil, "[64:ff9b::808:808]:80", ""},
		// fetch_allow opens exactly what it names.
		{[]string{"127.0.0.1"}, "127.0.0.1:9002", ""},
		{[]string{"127.0.0.1"}, "[::ffff:127.0.0.1]:9002", ""},
		{[]string{"127.0.0.1"}, "127.0.0.2:9002", "loopback"},
		{[]string{"127.0.0.1:9002"}, "127.0.0.1:9002", ""},
		{[]string{"127.0.0.1:9002"}, "127.0.0.1:9003", "loopback"},
		{[]string{"[::1]:9002"}, "[::1]:9002", ""},
		{[]string{"localhost:9002"}, "127.0.0.1:9002", ""},
		{[]string{"localhost:9002"}, "[::1]:9002", ""},
		{[]string{"localhost"}, "10.0.0.1:80", "private"},
		{[]string{"10.0.0.0/8"}, "10.200.0.1:5432", ""},
		{[]string{"10.0.0.0/8"}, "11.0.0.1:80", ""},
		{[]string{"10.0.0.0/8"}, "192.168.0.1:80", "private"},
		{[]string{"::ffff:10.0.0.0/104"}, "10.9.9.9:80", ""},
		{[]string{"0.0.0.0/0", "::/0"}, "169.254.169.254:80", ""},
		// The admin endpoint stays closed whatever fetch_allow says.
		{[]string{"127.0.0.1"}, "127.0.0.1:2019", "Caddy's admin endpoint"},
		{[]string{"0.0.0.0/0", "::/0"}, "127.0.0.1:2019", "Caddy's admin endpoint"},
		{[]string{"0.0.0.0/0", "::/0"}, "[::1]:2019", "Caddy's admin endpoint"},
		{[]string{"0.0.0.0/0", "::/0"}, "0.0.0.0:2019", "Caddy's admin endpoint"},
		{[]string{"0.0.0.0/0", "::/0"}, "[::ffff:127.0.0.1]:2019", "Caddy's admin endpoint"},
		{[]string{"0.0.0.0/0", "::/0"}, "[::1]:7777", "Caddy's admin endpoint"},
		{[]string{"127.0.0.1:2019"}, "127.0.0.1:2019", "Caddy's admin endpoint"},
	}
	for _, tt := range tests {
		p, err := NewFetchPolicy(tt.allow, admin)
		if err != nil {
			t.Fatalf("NewFetchPolicy(%q): %v", tt.allow, err)
		}
		err = p.Check(netip.MustParseAddrPort(tt.addr))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("allow %q, %s: %v, want allowed", tt.allow, tt.addr, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("allow %q, %s: %v, want an error containing %q", tt.allow, tt.addr, err, tt.want)
		}
	}
}

func TestFetchPolicyProtectsInterfaceAddresses(t *testing.T) {
	p, err := NewFetchPolicy([]string{"0.0.0.0/0", "::/0"}, []string{":2019"})
	if err != nil {
		t.Fatal(err)
	}
	for ip := range localAddrs() {
		if err := p.Check(netip.AddrPortFrom(ip, 2019)); err == nil || !strings.Contains(err.Error(), "admin endpoint") {
			t.Errorf("%s:2019 (this host's address): %v, want blocked as the admin endpoint", ip, err)
		}
	}
}

func TestParseFetchAllow(t *testing.T) {
	for _, bad := range []string{"", "example.com", "example.com:80", "10.0.0.0/33", "127.0.0.1:0", "127.0.0.1:99999", "[::1]", "1.2.3", "localhost:x"} {
		if _, err := NewFetchPolicy([]string{bad}, nil); err == nil {
			t.Errorf("fetch_allow %q accepted", bad)
		} else if !strings.Contains(err.Error(), "fetch_allow") {
			t.Errorf("fetch_allow %q: error %q does not name the directive", bad, err)
		}
	}
	for _, good := range []string{"10.0.0.0/8", "fd00::/8", "127.0.0.1", "::1", "127.0.0.1:9002", "[::1]:9002", "localhost", "LOCALHOST:8080"} {
		if _, err := NewFetchPolicy([]string{good}, nil); err != nil {
			t.Errorf("fetch_allow %q: %v", good, err)
		}
	}
}

func FuzzFetchPolicy(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "127.0.0.1:9002", "[::1]:1", "localhost", "::ffff:1.2.3.4/120", "x"} {
		f.Add(s, "127.0.0.1:2019")
	}
	f.Fuzz(func(t *testing.T, rule, addr string) {
		p, err := NewFetchPolicy([]string{rule}, []string{"localhost:2019"})
		if err != nil {
			return
		}
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return
		}
		err = p.Check(ap)
		// Whatever the rule, the admin endpoint stays closed.
		if ip := ap.Addr().Unmap(); ap.Port() == 2019 && (ip.IsLoopback() || ip.IsUnspecified()) && err == nil {
			t.Fatalf("rule %q let %s through", rule, addr)
		}
		_ = p.String()
	})
}

// TestFetchSandbox drives fetch() itself: a blocked dial rejects with a
// TypeError naming the rule, after DNS (a name that resolves to loopback)
// and on redirects (an allowed public-looking hop to a blocked one is
// simulated with two loopback servers, one of them allowed).
func TestFetchSandbox(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secret")) }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/", http.StatusFound)
	}))
	defer redirector.Close()
	_, targetPort, _ := net.SplitHostPort(target.Listener.Addr().String())
	_, redirPort, _ := net.SplitHostPort(redirector.Listener.Addr().String())

	src := `export default { async fetch(req, env) {
		const url = new URL(req.url).searchParams.get("u");
		try {
			const r = await fetch(url);
			return new Response("fetched: " + await r.text());
		} catch (e) {
			return new Response(e.name + ": " + e.message);
		}
	} }`
	tests := []struct {
		name   string
		policy *FetchPolicy
		url    string
		want   string
	}{
		{"default blocks loopback", nil, target.URL, "TypeError: fetch to 127.0.0.1:" + targetPort + " is blocked: loopback addresses are reachable only when fetch_allow names them"},
		{"a name resolving to loopback", nil, "http://localhost:" + targetPort + "/", "TypeError: fetch to "},
		{"allowed", mustPolicy("127.0.0.1:" + targetPort), target.URL, "fetched: secret"},
		{"redirect to a blocked address", mustPolicy("127.0.0.1:" + redirPort), redirector.URL, "TypeError: fetch to 127.0.0.1:" + targetPort + " is blocked"},
		{"metadata address", mustPolicy("127.0.0.0/8"), "http://169.254.169.254/latest/meta-data/", "TypeError: fetch to 169.254.169.254:80 is blocked: link-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newInline(t, src, func(c *Config) { c.Fetch = tt.policy })
			_, body, _, _ := do(t, w, "GET", "http://x/?u="+tt.url, "")
			if !strings.HasPrefix(body, tt.want) {
				t.Fatalf("body %q, want it to start with %q", body, tt.want)
			}
		})
	}
}
