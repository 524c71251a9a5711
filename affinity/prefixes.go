package affinity

import (
	"fmt"
	"net/netip"
	"strings"
)

// Prefixes is an allow-list of client networks. The handler honours the
// override header only for clients inside one of them.
type Prefixes []netip.Prefix

// ParsePrefixes parses a list of networks in CIDR notation ("10.0.0.0/8",
// "::1/128") or as bare addresses ("127.0.0.1" means 127.0.0.1/32, "::1"
// means ::1/128). Host bits are masked off, so "10.1.2.3/8" is 10.0.0.0/8.
// IPv4-mapped IPv6 networks ("::ffff:10.0.0.0/104") are converted to IPv4,
// because [Prefixes.Contains] compares IPv4 clients as IPv4.
// Addresses with a zone ("fe80::1%eth0") are rejected: a zone names an
// interface of this host and says nothing about the client.
func ParsePrefixes(list []string) (Prefixes, error) {
	out := make(Prefixes, 0, len(list))
	for _, s := range list {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("client network %q: zones are not allowed", s)
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("client network %q is not a CIDR such as 10.0.0.0/8 or fd00::/8: %w", s, err)
		}
	} else {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("client network %q is neither an IP address nor a CIDR such as 10.0.0.0/8: %w", s, err)
		}
		p = netip.PrefixFrom(addr, addr.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Contains reports whether addr lies in any of the networks. IPv4-mapped
// IPv6 addresses, as a dual-stack listener reports IPv4 clients, are
// compared as IPv4, and an address's zone is ignored. An empty list contains
// nothing; callers treat an absent list as "everyone" themselves.
func (p Prefixes) Contains(addr netip.Addr) bool {
	// netip.Prefix.Contains never matches an address with a zone, which
	// would lock out link-local clients named in the list.
	addr = addr.Unmap().WithZone("")
	for _, prefix := range p {
		if prefix.Contains(addr) {
			return true
		}
	}
	return false
}
