package workerhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// FetchPolicy decides which addresses a worker's fetch() may dial. It is
// checked on the address actually dialled — after DNS, for every
// connection attempt, redirects included — so a name that resolves to
// loopback, or a redirect to the cloud metadata address, is caught too.
//
// The rules, in order:
//  1. The ports of Caddy's admin endpoints (ProtectAdminPort) are never
//     reachable on this host, whatever the allow rules say.
//  2. Public unicast addresses are reachable, except this host's own.
//  3. Loopback, unspecified, link-local (the cloud metadata address),
//     private (RFC 1918, unique-local), shared (100.64.0.0/10), reserved
//     and documentation addresses, and this host's own addresses, are
//     reachable only when an allow rule names them. IPv4 addresses inside
//     IPv6 (mapped, SIIT, NAT64, 6to4) are judged as the IPv4 address
//     they carry.
//
// "This host" is known two ways: by address class (loopback, unspecified)
// before connecting, and, for any other address, by a connection whose
// remote address is its own local address — checked once the TCP
// handshake is done and before a byte is sent, so an interface address
// added after start-up is caught too.
//
// A nil or zero FetchPolicy allows public addresses only.
type FetchPolicy struct {
	allow []allowRule
}

// allowRule admits a prefix, on any port (port 0) or one port.
type allowRule struct {
	prefix netip.Prefix
	port   uint16
}

// BlockedError is the error of a dial that the sandbox refused. Its
// message names the rule, not the address dialled: fetch() reports the
// URL's host, so that a blocked fetch cannot be used to learn what
// internal names resolve to.
type BlockedError struct {
	Rule string
}

func (e *BlockedError) Error() string { return e.Rule }

// The ports of Caddy's admin endpoints in this process. The set only
// grows: when a reload moves the admin endpoint, the old config's workers
// may still be serving, and must not reach the new one either.
var admin struct {
	mu    sync.RWMutex
	ports map[uint16]bool
	// all is set when an admin endpoint's port cannot be known (a
	// kernel-chosen port, an inherited socket): then no port of this host
	// is reachable.
	all bool
}

// ProtectAdminPort closes port on every address of this host to every
// worker's fetch() from now on, whatever fetch_allow says. Port 0 means the
// admin endpoint's port is unknown: every port of this host is closed.
func ProtectAdminPort(port uint16) {
	admin.mu.Lock()
	defer admin.mu.Unlock()
	if port == 0 {
		admin.all = true
		return
	}
	if admin.ports == nil {
		admin.ports = map[uint16]bool{}
	}
	admin.ports[port] = true
}

func adminPort(port uint16) bool {
	admin.mu.RLock()
	defer admin.mu.RUnlock()
	return admin.all || admin.ports[port]
}

const adminRule = "it is Caddy's admin endpoint, which no worker may reach"

// NewFetchPolicy builds a policy from fetch_allow rules.
//
// A rule is a CIDR prefix (10.0.0.0/8), an IP address (any port), an IP
// address with a port (127.0.0.1:9002, [::1]:9002), or localhost with or
// without a port (both loopback addresses). Host names are refused: the
// rule applies to the address dialled, so a name would mean whatever DNS
// answers at the time.
func NewFetchPolicy(allow []string) (*FetchPolicy, error) {
	p := &FetchPolicy{}
	for _, s := range allow {
		rules, err := parseAllowRule(s)
		if err != nil {
			return nil, err
		}
		p.allow = append(p.allow, rules...)
	}
	return p, nil
}

// parseAllowRule parses one fetch_allow rule (see NewFetchPolicy).
func parseAllowRule(s string) ([]allowRule, error) {
	bad := func(why string) error {
		return fmt.Errorf("fetch_allow %q: %s; want a CIDR (10.0.0.0/8), an IP (127.0.0.1), an IP:port (127.0.0.1:9002, [::1]:9002) or localhost[:port]", s, why)
	}
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, bad("not a CIDR prefix")
		}
		return []allowRule{{prefix: canonicalPrefix(pfx)}}, nil
	}
	host, port := s, uint16(0)
	if h, ps, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || n == 0 {
			return nil, bad("bad port")
		}
		host, port = h, uint16(n)
	}
	if strings.EqualFold(host, "localhost") {
		return []allowRule{
			{prefix: netip.MustParsePrefix("127.0.0.0/8"), port: port},
			{prefix: netip.MustParsePrefix("::1/128"), port: port},
		}, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return nil, bad("not an IP address (host names are not allowed: the rule applies to the address dialled)")
	}
	ip = ip.Unmap()
	return []allowRule{{prefix: netip.PrefixFrom(ip, ip.BitLen()), port: port}}, nil
}

// canonicalPrefix masks a prefix and judges IPv4-mapped prefixes as IPv4.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// String is the policy in a canonical form: its allow rules, in order. Two
// policies with the same String decide alike.
func (p *FetchPolicy) String() string {
	var b strings.Builder
	b.WriteString("public")
	if p != nil {
		for _, r := range p.allow {
			fmt.Fprintf(&b, " allow=%s:%d", r.prefix, r.port)
		}
	}
	return b.String()
}

// Check reports whether fetch may dial addr, judged before connecting: nil,
// or a *BlockedError.
func (p *FetchPolicy) Check(addr netip.AddrPort) error {
	ip, port := addr.Addr().Unmap().WithZone(""), addr.Port()
	if isThisHost(ip) && adminPort(port) {
		return &BlockedError{Rule: adminRule}
	}
	class := classify(ip)
	if class == "" || p.allowed(ip, port) {
		return nil
	}
	return &BlockedError{Rule: class + " addresses are reachable only when fetch_allow names them"}
}

// CheckHost judges a host:port that something other than fetch() will
// dial, such as an uploaded upstream version: an IP address as Check does,
// a name by every address it resolves to now. A name is judged once, so
// DNS that changes later is not caught; the error names the rule.
func (p *FetchPolicy) CheckHost(ctx context.Context, hostport string) error {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fmt.Errorf("bad port %q", portStr)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if err := p.Check(netip.AddrPortFrom(ip, uint16(port))); err != nil {
			return fmt.Errorf("%s is blocked: %w", hostport, err)
		}
	}
	return nil
}

// checkConn judges an established connection before anything is sent: one
// whose remote address is its own local address reaches this host, under
// whatever address.
func (p *FetchPolicy) checkConn(c net.Conn) error {
	local, lok := c.LocalAddr().(*net.TCPAddr)
	remote, rok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return &BlockedError{Rule: "the connection is not TCP"}
	}
	ra := remote.AddrPort()
	ip := ra.Addr().Unmap().WithZone("")
	if ip != local.AddrPort().Addr().Unmap().WithZone("") {
		return nil
	}
	if adminPort(ra.Port()) {
		return &BlockedError{Rule: adminRule}
	}
	if p.allowed(ip, ra.Port()) {
		return nil
	}
	return &BlockedError{Rule: "this host's own addresses are reachable only when fetch_allow names them"}
}

func (p *FetchPolicy) allowed(ip netip.Addr, port uint16) bool {
	if p == nil {
		return false
	}
	if v4, ok := embeddedIPv4(ip); ok {
		ip = v4
	}
	for _, r := range p.allow {
		if r.prefix.Contains(ip) && (r.port == 0 || r.port == port) {
			return true
		}
	}
	return false
}

// control is a net.Dialer Control function: it runs after DNS, for each
// address a connection is attempted to.
func (p *FetchPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Rule: "the address dialled cannot be judged"}
	}
	return p.Check(ap)
}

// dialer returns the DialContext of a worker's fetch() transport: d, whose
// Control is the policy's, then the check of the connection.
func (p *FetchPolicy) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d.Control = p.control
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := p.checkConn(c); err != nil {
			c.Close()
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return c, nil
	}
}

// isThisHost reports whether ip always reaches this host.
func isThisHost(ip netip.Addr) bool {
	if v4, ok := embeddedIPv4(ip); ok {
		ip = v4
	}
	return ip.IsLoopback() || ip.IsUnspecified() || (ip.Is4() && ip.As4()[0] == 0)
}

// Special-purpose ranges that are not private in netip's sense but reach
// no public host, or a host of the platform rather than of the internet
// (RFC 6890 and its IPv6 counterpart).
var reserved = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),    // shared address space: carrier NAT, some clouds' metadata
	netip.MustParsePrefix("168.63.129.16/32"), // Azure's platform endpoint (WireServer)
	netip.MustParsePrefix("192.0.0.0/24"),     // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),     // documentation
	netip.MustParsePrefix("198.18.0.0/15"),    // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),  // documentation
	netip.MustParsePrefix("203.0.113.0/24"),   // documentation
	netip.MustParsePrefix("240.0.0.0/4"),      // class E and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),   // local-use NAT64 (RFC 8215), whose IPv4 may sit anywhere
	netip.MustParsePrefix("100::/64"),         // discard
	netip.MustParsePrefix("2001::/23"),        // IETF protocol assignments, Teredo
	netip.MustParsePrefix("2001:db8::/32"),    // documentation
	netip.MustParsePrefix("fec0::/10"),        // deprecated site-local
}

// classify names the class of a non-public address ("" for public unicast).
func classify(ip netip.Addr) string {
	if v4, ok := embeddedIPv4(ip); ok {
		ip = v4
	}
	switch {
	case isThisHost(ip):
		if ip.IsLoopback() {
			return "loopback"
		}
		return "unspecified (this host)"
	case ip.IsLinkLocalUnicast():
		return "link-local (cloud metadata)"
	case ip.IsPrivate():
		return "private"
	case !ip.IsGlobalUnicast():
		return "non-unicast"
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return "reserved"
		}
	}
	return ""
}

// IPv6 prefixes that carry an IPv4 address in their last 32 bits — NAT64
// (RFC 6052's well-known prefix), SIIT (::ffff:0:a.b.c.d) and
// the deprecated IPv4-compatible form (::a.b.c.d) — and 6to4 (RFC 3056),
// which carries it in bits 16–48.
var (
	v4Suffix = []netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"),
		netip.MustParsePrefix("::ffff:0:0:0/96"),
		netip.MustParsePrefix("::/96"),
	}
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() || ip.IsUnspecified() || ip.IsLoopback() {
		return ip, false
	}
	b := ip.As16()
	if sixToFour.Contains(ip) {
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	for _, p := range v4Suffix {
		if p.Contains(ip) {
			return netip.AddrFrom4([4]byte(b[12:16])), true
		}
	}
	return ip, false
}

// blockedRule returns the rule of a fetch the sandbox refused.
func blockedRule(err error) (string, bool) {
	var b *BlockedError
	if errors.As(err, &b) {
		return b.Rule, true
	}
	return "", false
}
