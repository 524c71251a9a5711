package workerhost

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// withAdminPorts protects ports for one test and restores the set after.
func withAdminPorts(t testing.TB, ports ...uint16) {
	admin.mu.Lock()
	saved, savedAll := admin.ports, admin.all
	admin.ports = nil
	admin.mu.Unlock()
	t.Cleanup(func() {
		admin.mu.Lock()
		admin.ports, admin.all = saved, savedAll
		admin.mu.Unlock()
	})
	for _, p := range ports {
		ProtectAdminPort(p)
	}
}

func TestFetchPolicyCheck(t *testing.T) {
	withAdminPorts(t, 2019, 7777)
	tests := []struct {
		allow []string
		addr  string
		want  string // "" allowed, else a part of the error
	}{
		// Public addresses are reachable by default.
		{nil, "93.184.216.34:443", ""},
		{nil, "[2606:4700::1111]:443", ""},
		{nil, "8.8.8.8:2019", ""}, // the admin port elsewhere is not the admin endpoint
		{nil, "[64:ff9b::808:808]:80", ""},
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
		{nil, "168.63.129.16:80", "reserved"},
		{nil, "192.0.2.2:6379", "reserved"},
		{nil, "198.51.100.7:80", "reserved"},
		{nil, "203.0.113.9:80", "reserved"},
		{nil, "198.18.0.1:80", "reserved"},
		{nil, "[2001:db8::1]:80", "reserved"},
		{nil, "[fec0::1]:80", "reserved"},
		{nil, "[100::1]:80", "reserved"},
		{nil, "[64:ff9b:1::a9fe:a9fe]:80", "reserved"},
		{nil, "255.255.255.255:80", "non-unicast"},
		{nil, "224.0.0.1:80", "non-unicast"},
		// IPv4 inside IPv6 is judged as the IPv4 address.
		{nil, "[::ffff:127.0.0.1]:80", "loopback"},
		{nil, "[::ffff:169.254.169.254]:80", "link-local"},
		{nil, "[::ffff:0:a9fe:a9fe]:80", "link-local"},
		{nil, "[64:ff9b::a9fe:a9fe]:80", "link-local"},
		{nil, "[2002:7f00:1::1]:80", "loopback"},
		{nil, "[::7f00:1]:80", "loopback"},
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
		{[]string{"10.0.0.0/8"}, "[64:ff9b::a00:1]:5432", ""},
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
		p, err := NewFetchPolicy(tt.allow)
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

// TestFetchPolicyThisHost dials this host's own non-loopback addresses,
// which no address class gives away: the connection's remote address is
// its local one, so it is refused before a byte is sent, and the admin
// ports are refused whatever fetch_allow says.
func TestFetchPolicyThisHost(t *testing.T) {
	var own []netip.Addr
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && !ip.Unmap().IsLoopback() && !ip.IsLinkLocalUnicast() {
				own = append(own, ip.Unmap())
			}
		}
	}
	if len(own) == 0 {
		t.Skip("no non-loopback interface address to dial")
	}
	ip := own[0]
	ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	dial := func(allow []string) error {
		p, err := NewFetchPolicy(allow)
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.dialer(&net.Dialer{})(t.Context(), "tcp", netip.AddrPortFrom(ip, port).String())
		if err == nil {
			c.Close()
		}
		return err
	}
	all := []string{"0.0.0.0/0", "::/0"}
	if err := dial(nil); err == nil || !strings.Contains(err.Error(), "this host's own addresses") {
		// A public address of this host is classless: only the connection tells.
		if classify(ip) == "" {
			t.Fatalf("dialling this host's %s: %v, want blocked as this host", ip, err)
		}
	}
	if err := dial(all); err != nil {
		t.Fatalf("fetch_allow naming %s: %v", ip, err)
	}
	withAdminPorts(t, port)
	if err := dial(all); err == nil || !strings.Contains(err.Error(), "admin endpoint") {
		t.Fatalf("the admin port on this host's %s: %v, want blocked", ip, err)
	}
	// An admin port that cannot be known closes every port of this host.
	withAdminPorts(t)
	ProtectAdminPort(0)
	if err := dial(all); err == nil || !strings.Contains(err.Error(), "admin endpoint") {
		t.Fatalf("with the admin port unknown: %v, want blocked", err)
	}
	if err := (&FetchPolicy{}).Check(netip.MustParseAddrPort("93.184.216.34:443")); err != nil {
		t.Fatalf("with the admin port unknown, a public address: %v", err)
	}
}

func TestParseFetchAllow(t *testing.T) {
	for _, bad := range []string{"", "fe80::1%eth0", "example.com", "example.com:80", "10.0.0.0/33", "127.0.0.1:0", "127.0.0.1:99999", "[::1]", "1.2.3", "localhost:x"} {
		if _, err := NewFetchPolicy([]string{bad}); err == nil {
			t.Errorf("fetch_allow %q accepted", bad)
		} else if !strings.Contains(err.Error(), "fetch_allow") {
			t.Errorf("fetch_allow %q: error %q does not name the directive", bad, err)
		}
	}
	for _, good := range []string{"10.0.0.0/8", "fd00::/8", "127.0.0.1", "::1", "127.0.0.1:9002", "[::1]:9002", "localhost", "LOCALHOST:8080"} {
		if _, err := NewFetchPolicy([]string{good}); err != nil {
			t.Errorf("fetch_allow %q: %v", good, err)
		}
	}
}

func FuzzFetchPolicy(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "127.0.0.1:9002", "[::1]:1", "localhost", "::ffff:1.2.3.4/120", "x"} {
		f.Add(s, "127.0.0.1:2019")
	}
	withAdminPorts(f, 2019)
	f.Fuzz(func(t *testing.T, rule, addr string) {
		p, err := NewFetchPolicy([]string{rule})
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
		// The message names the URL's host, not what it resolved to.
		{"a name resolving to loopback", nil, "http://localhost:" + targetPort + "/", "TypeError: fetch to localhost:" + targetPort + " is blocked: loopback"},
		{"allowed", mustPolicy("127.0.0.1:" + targetPort), target.URL, "fetched: secret"},
		{"redirect to a blocked address", mustPolicy("127.0.0.1:" + redirPort), redirector.URL, "TypeError: fetch to 127.0.0.1:" + targetPort + " is blocked"},
		{"metadata address", mustPolicy("127.0.0.0/8"), "http://169.254.169.254/latest/meta-data/", "TypeError: fetch to 169.254.169.254 is blocked: link-local"},
		// Go's error text stays out of the script's sight.
		{"connection refused", mustPolicy("127.0.0.1"), "http://127.0.0.1:1/", "TypeError: Network connection lost."},
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

// addrConn is a net.Conn with given addresses, for checkConn.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// TestCheckConn: a public address that is this host's own (remote = local)
// needs fetch_allow, and never reaches an admin port.
func TestCheckConn(t *testing.T) {
	withAdminPorts(t, 2019)
	tcp := func(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	tests := []struct {
		allow         []string
		local, remote string
		want          string
	}{
		{nil, "93.184.216.34:50000", "93.184.216.34:6379", "this host's own addresses are reachable only when fetch_allow names them"},
		{[]string{"93.184.216.34"}, "93.184.216.34:50000", "93.184.216.34:6379", ""},
		{[]string{"93.184.216.34"}, "93.184.216.34:50000", "93.184.216.34:2019", "admin endpoint"},
		{nil, "[2606:4700::1]:50000", "[2606:4700::1]:2019", "admin endpoint"},
		{nil, "10.0.0.2:50000", "93.184.216.34:2019", ""},
	}
	for _, tt := range tests {
		p, _ := NewFetchPolicy(tt.allow)
		err := p.checkConn(addrConn{local: tcp(tt.local), remote: tcp(tt.remote)})
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("allow %q, %s → %s: %v, want %q", tt.allow, tt.local, tt.remote, err, tt.want)
		}
	}
}

// TestCheckHost judges host:port pairs dialled by something other than
// fetch (uploaded upstreams): names by what they resolve to.
func TestCheckHost(t *testing.T) {
	withAdminPorts(t, 2019)
	p := mustPolicy("10.0.0.0/8")
	for hostport, want := range map[string]string{
		"93.184.216.34:443":  "",
		"10.1.2.3:5432":      "",
		"localhost:8080":     "loopback",
		"127.0.0.1:2019":     "admin endpoint",
		"[::1]:2019":         "admin endpoint",
		"169.254.169.254:80": "link-local",
		"no-port":            "missing port",
		"127.0.0.1:99999":    "bad port",
	} {
		err := p.CheckHost(t.Context(), hostport)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("CheckHost(%q) = %v, want %q", hostport, err, want)
		}
	}
}
