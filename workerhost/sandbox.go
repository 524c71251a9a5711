package workerhost

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// FetchPolicy decides which addresses a worker's fetch() may dial. It is
// checked on the address actually dialled — after DNS, for every
// connection attempt, redirects included — so a name that resolves to
// loopback, or a redirect to the cloud metadata address, is caught too.
//
// The rules, in order:
//  1. The protected ports (Caddy's admin endpoint) on any address of this
//     host (loopback, unspecified, an interface's address) are never
//     reachable, whatever the allow rules say.
//  2. Public unicast addresses are reachable.
//  3. Loopback, unspecified, link-local (the cloud metadata address),
//     private (RFC 1918, unique-local, shared 100.64.0.0/10) and reserved
//     addresses are reachable only when an allow rule names them. IPv4
//     addresses inside IPv6 (mapped, NAT64, 6to4) are judged as the IPv4
//     address they carry.
//
// The zero FetchPolicy allows public addresses only.
type FetchPolicy struct {
	allow   []allowRule
	protect map[uint16]bool
	// local are this host's own addresses: the protected ports are closed
	// on them as well as on loopback and unspecified addresses.
	local map[netip.Addr]bool
}

// allowRule admits a prefix, on any port (port 0) or one port.
type allowRule struct {
	prefix netip.Prefix
	port   uint16
	text   string
}

// BlockedError is the error of a dial that the FetchPolicy refused. fetch()
// rejects with a TypeError carrying its message.
type BlockedError struct {
	Addr netip.AddrPort
	// Rule names the rule that refused the address.
	Rule string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("fetch to %s is blocked: %s", e.Addr, e.Rule)
}

// NewFetchPolicy builds a policy from fetch_allow rules and the addresses
// of Caddy's admin endpoint (host:port; a unix socket or an address without
// a port is ignored, as fetch cannot dial it).
//
// An allow rule is a CIDR prefix (10.0.0.0/8), an IP address (any port), an
// IP address with a port (127.0.0.1:9002, [::1]:9002), or localhost with or
// without a port (both loopback addresses). Host names are refused: the
// rule applies to the address dialled, so a name would mean whatever DNS
// answers at the time.
func NewFetchPolicy(allow, protect []string) (*FetchPolicy, error) {
	p := &FetchPolicy{}
	for _, s := range allow {
		rules, err := parseAllowRule(s)
		if err != nil {
			return nil, err
		}
		p.allow = append(p.allow, rules...)
	}
	for _, a := range protect {
		host, portStr, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || port == 0 {
			continue
		}
		if p.protect == nil {
			p.protect = map[uint16]bool{}
			p.local = localAddrs()
		}
		p.protect[uint16(port)] = true
		if ip, err := netip.ParseAddr(host); err == nil {
			p.local[ip.Unmap()] = true
		}
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
		return []allowRule{{prefix: canonicalPrefix(pfx), text: s}}, nil
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
			{prefix: netip.MustParsePrefix("127.0.0.0/8"), port: port, text: s},
			{prefix: netip.MustParsePrefix("::1/128"), port: port, text: s},
		}, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, bad("not an IP address (host names are not allowed: the rule applies to the address dialled)")
	}
	ip = ip.Unmap()
	return []allowRule{{prefix: netip.PrefixFrom(ip, ip.BitLen()), port: port, text: s}}, nil
}

// canonicalPrefix masks a prefix and judges IPv4-mapped prefixes as IPv4.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// String is the policy in a canonical form: its allow rules and protected
// ports, in order. Two policies with the same String decide alike.
func (p *FetchPolicy) String() string {
	if p == nil {
		return "public"
	}
	var b strings.Builder
	b.WriteString("public")
	for _, r := range p.allow {
		fmt.Fprintf(&b, " allow=%s:%d", r.prefix, r.port)
	}
	ports := make([]int, 0, len(p.protect))
	for port := range p.protect {
		ports = append(ports, int(port))
	}
	slices.Sort(ports)
	for _, port := range ports {
		fmt.Fprintf(&b, " protect=%d", port)
	}
	return b.String()
}

// Check reports whether fetch may dial addr: nil, or a *BlockedError.
func (p *FetchPolicy) Check(addr netip.AddrPort) error {
	ip := addr.Addr().Unmap().WithZone("")
	port := addr.Port()
	if p != nil && p.protect[port] && (p.local[ip] || isThisHost(ip)) {
		return &BlockedError{Addr: addr, Rule: "it is Caddy's admin endpoint, which no worker may reach"}
	}
	class := classify(ip)
	if class == "" || p.allowed(ip, port) {
		return nil
	}
	return &BlockedError{Addr: addr, Rule: class + " addresses are reachable only when fetch_allow names them"}
}

func (p *FetchPolicy) allowed(ip netip.Addr, port uint16) bool {
	if p == nil {
		return false
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
		return &BlockedError{Rule: fmt.Sprintf("cannot judge the address %q", address)}
	}
	return p.Check(ap)
}

// isThisHost reports whether ip always reaches this host.
func isThisHost(ip netip.Addr) bool {
	if v4, ok := embeddedIPv4(ip); ok {
		ip = v4
	}
	return ip.IsLoopback() || ip.IsUnspecified() || (ip.Is4() && ip.As4()[0] == 0)
}

// Special-purpose IPv4 ranges that are not private in netip's sense but
// reach no public host (RFC 6890): shared address space (carrier NAT and
// some clouds' metadata), IETF protocol assignments, benchmarking and the
// reserved class E with broadcast.
var reservedV4 = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
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
	if ip.Is4() {
		for _, p := range reservedV4 {
			if p.Contains(ip) {
				return "reserved"
			}
		}
	}
	return ""
}

// IPv6 prefixes that carry an IPv4 address: NAT64 (RFC 6052, the address
// in the last 32 bits), 6to4 (RFC 3056, in bits 16–48) and the deprecated
// IPv4-compatible form (::a.b.c.d).
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	v4compat  = netip.MustParsePrefix("::/96")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return ip, false
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip), v4compat.Contains(ip) && !ip.IsUnspecified() && !ip.IsLoopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return ip, false
}

// localAddrs returns the addresses of this host's interfaces.
func localAddrs() map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return m
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				m[ip.Unmap()] = true
			}
		}
	}
	return m
}

// isBlocked reports whether err comes from the fetch policy, and its message.
func isBlocked(err error) (string, bool) {
	var b *BlockedError
	if errors.As(err, &b) {
		return b.Error(), true
	}
	return "", false
}
