package affinity

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		name    string
		list    []string
		want    []string // Prefix.String of each result
		wantErr string   // substring of the error; "" means valid
	}{
		{"empty list", nil, []string{}, ""},
		{"IPv4 CIDR", []string{"10.0.0.0/8"}, []string{"10.0.0.0/8"}, ""},
		{"IPv6 CIDR", []string{"::1/128"}, []string{"::1/128"}, ""},
		{"bare IPv4 is /32", []string{"127.0.0.1"}, []string{"127.0.0.1/32"}, ""},
		{"bare IPv6 is /128", []string{"::1"}, []string{"::1/128"}, ""},
		{"host bits masked, IPv4", []string{"10.1.2.3/8"}, []string{"10.0.0.0/8"}, ""},
		{"host bits masked, IPv6", []string{"fd00::1/8"}, []string{"fd00::/8"}, ""},
		{"everything", []string{"0.0.0.0/0", "::/0"}, []string{"0.0.0.0/0", "::/0"}, ""},
		{"bare IPv4-mapped address becomes IPv4", []string{"::ffff:127.0.0.1"}, []string{"127.0.0.1/32"}, ""},
		{"IPv4-mapped CIDR becomes IPv4", []string{"::ffff:10.1.0.0/104"}, []string{"10.0.0.0/8"}, ""},
		{"short IPv4-mapped CIDR stays IPv6", []string{"::ffff:0:0/80"}, []string{"::/80"}, ""},
		{"several, order kept", []string{"192.168.0.0/16", "::1", "10.0.0.0/8"}, []string{"192.168.0.0/16", "::1/128", "10.0.0.0/8"}, ""},
		{"empty entry", []string{"10.0.0.0/8", ""}, nil, `client network ""`},
		{"hostname", []string{"localhost"}, nil, `client network "localhost" is neither an IP address nor a CIDR`},
		{"bad mask", []string{"10.0.0.0/33"}, nil, `client network "10.0.0.0/33" is not a CIDR`},
		{"missing mask", []string{"10.0.0.0/"}, nil, `client network "10.0.0.0/"`},
		{"bad address in CIDR", []string{"10.0.0/8"}, nil, `client network "10.0.0/8"`},
		{"zone on address", []string{"fe80::1%eth0"}, nil, "zones are not allowed"},
		{"zone in CIDR", []string{"fe80::%eth0/64"}, nil, "zones are not allowed"},
		{"spaces", []string{" 10.0.0.0/8"}, nil, `client network " 10.0.0.0/8"`},
		{"port", []string{"127.0.0.1:80"}, nil, `client network "127.0.0.1:80"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrefixes(tt.list)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParsePrefixes(%q) = %v, want error containing %q", tt.list, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePrefixes(%q) error = %q, want it to contain %q", tt.list, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefixes(%q) error = %v", tt.list, err)
			}
			gotStrings := make([]string, len(got))
			for i, p := range got {
				gotStrings[i] = p.String()
			}
			if strings.Join(gotStrings, " ") != strings.Join(tt.want, " ") || len(got) != len(tt.want) {
				t.Fatalf("ParsePrefixes(%q) = %q, want %q", tt.list, gotStrings, tt.want)
			}
		})
	}
}

func TestPrefixesContains(t *testing.T) {
	list, err := ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1", "2001:db8::/32", "::1", "fe80::/10"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		prefixes Prefixes
		addr     string
		want     bool
	}{
		{"IPv4 inside", list, "10.20.30.40", true},
		{"IPv4 first address", list, "10.0.0.0", true},
		{"IPv4 last address", list, "10.255.255.255", true},
		{"IPv4 just outside", list, "11.0.0.0", false},
		{"IPv4 bare address", list, "127.0.0.1", true},
		{"IPv4 next to bare address", list, "127.0.0.2", false},
		{"IPv6 inside", list, "2001:db8:1::5", true},
		{"IPv6 outside", list, "2001:db9::1", false},
		{"IPv6 loopback", list, "::1", true},
		{"IPv6 unspecified", list, "::", false},
		{"IPv4-mapped inside", list, "::ffff:10.1.2.3", true},
		{"IPv4-mapped loopback", list, "::ffff:127.0.0.1", true},
		{"IPv4-mapped outside", list, "::ffff:192.168.1.1", false},
		{"IPv4 does not match its mapped IPv6 neighbourhood", Prefixes{netip.MustParsePrefix("::/0")}, "10.1.2.3", false},
		{"link-local with zone", list, "fe80::1%eth0", true},
		{"empty list contains nothing", nil, "10.1.2.3", false},
		{"empty list contains nothing, IPv6", Prefixes{}, "::1", false},
		{"everything, IPv4", Prefixes{netip.MustParsePrefix("0.0.0.0/0")}, "203.0.113.9", true},
		{"everything, IPv4-mapped", Prefixes{netip.MustParsePrefix("0.0.0.0/0")}, "::ffff:203.0.113.9", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := netip.MustParseAddr(tt.addr)
			if got := tt.prefixes.Contains(addr); got != tt.want {
				t.Fatalf("%v.Contains(%v) = %v, want %v", tt.prefixes, addr, got, tt.want)
			}
		})
	}
	t.Run("invalid address", func(t *testing.T) {
		if list.Contains(netip.Addr{}) {
			t.Fatal("the zero Addr is contained")
		}
	})
}

func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.1.2.3/8", "::1", "127.0.0.1", "::ffff:10.1.0.0/104",
		"::ffff:1.2.3.4", "fe80::1%eth0", "fe80::/10", "0.0.0.0/0", "", "1.2.3.4/33", "::/0", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParsePrefixes([]string{s})
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParsePrefixes(%q) error %q does not name the entry", s, err)
			}
			return
		}
		if len(list) != 1 {
			t.Fatalf("ParsePrefixes(%q) = %v, want one prefix", s, list)
		}
		p := list[0]
		if !p.IsValid() || p != p.Masked() {
			t.Fatalf("ParsePrefixes(%q) = %v, want a valid, masked prefix", s, p)
		}
		if !strings.Contains(s, "/") && p.Bits() != p.Addr().BitLen() {
			t.Fatalf("ParsePrefixes(%q) = %v, want a single address", s, p)
		}
		if !list.Contains(p.Addr()) {
			t.Fatalf("ParsePrefixes(%q) = %v does not contain its own address", s, p)
		}
		again, err := ParsePrefixes([]string{p.String()})
		if err != nil || len(again) != 1 || again[0] != p {
			t.Fatalf("ParsePrefixes(%q) = %v, but parsing %q gives (%v, %v)", s, p, p.String(), again, err)
		}
	})
}

func BenchmarkPrefixesContains(b *testing.B) {
	list, err := ParsePrefixes([]string{"10.0.0.0/8", "192.168.0.0/16", "fd00::/8", "127.0.0.1", "::1"})
	if err != nil {
		b.Fatal(err)
	}
	addr := netip.MustParseAddr("::1")
	b.ReportAllocs()
	for b.Loop() {
		if !list.Contains(addr) {
			b.Fatal("not contained")
		}
	}
}
