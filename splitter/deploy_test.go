package splitter

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDeploy(t *testing.T) {
	tests := []struct {
		args string
		want []Entry
		err  string
	}{
		{args: "v1", want: []Entry{{"v1", Total}}},
		{args: "v1@100%", want: []Entry{{"v1", Total}}},
		{args: "v2@10% v1@90%", want: []Entry{{"v2", 1000}, {"v1", 9000}}},
		{args: "a@33.33% b@33.33 c@33.34%", want: []Entry{{"a", 3333}, {"b", 3333}, {"c", 3334}}},
		{args: "a@0% b@100%", want: []Entry{{"a", 0}, {"b", Total}}},
		{args: "", err: "give at least one <version id>@<percent>%"},
		{args: "v1 v2", err: `"v1": expected <version id>@<percent>%`},
		{args: "v1@ten% v2@100%", err: `version v1: invalid percentage "ten%"`},
		{args: "v1@99.999% v2@0.001%", err: "at most two decimals"},
		{args: "v1@50%", err: "percentages add up to 50%, not 100%"},
		{args: "v1@90% v2@20%", err: "percentages add up to 110%, not 100%"},
		{args: "v1@50% v1@50%", err: `version ID "v1" appears more than once`},
		{args: "v/1@100%", err: `invalid version ID "v/1"`},
		{args: "v/1", err: `invalid version ID "v/1"`},
		{args: "@100%", err: `invalid version ID ""`},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, err := ParseDeploy(strings.Fields(tt.args))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestFormatDeploy(t *testing.T) {
	tests := []struct {
		entries []Entry
		want    string
	}{
		{nil, ""},
		{[]Entry{{"v1", Total}}, "v1@100%"},
		{[]Entry{{"v2", 1000}, {"v1", 9000}}, "v1@90% v2@10%"},
		{[]Entry{{"b", 3333}, {"a", 3333}, {"c", 3334}, {"d", 0}}, "a@33.33% b@33.33% c@33.34% d@0%"},
		{[]Entry{{"x", 1250}, {"y", 8750}}, "x@12.5% y@87.5%"},
	}
	for _, tt := range tests {
		if got := FormatDeploy(tt.entries); got != tt.want {
			t.Errorf("FormatDeploy(%v) = %q, want %q", tt.entries, got, tt.want)
		}
	}
}

// FuzzParseDeploy checks that ParseDeploy never panics, that whatever it
// accepts is a valid deployment whose percentages survive the trip as JSON
// numbers (as the CLI sends them), and that its canonical form parses back
// to the same deployment.
func FuzzParseDeploy(f *testing.F) {
	for _, s := range []string{
		"v1", "v1@100%", "v1@90% v2@10%", "a@33.33% b@33.33% c@33.34%", "a@0% b@100",
		"a@50% a@50%", "a@.5% b@99.5%", "a@1e2%", "a@-0% b@100%", "a", "a b", "@100%", "a@@100%", "a@100%%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseDeploy(strings.Fields(s))
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: empty error", s)
			}
			return
		}
		d, err := New(entries)
		if err != nil {
			t.Fatalf("%q accepted, but %v", s, err)
		}
		for _, e := range entries {
			w, err := PercentFromFloat(e.Weight.Percent())
			if err != nil || w != e.Weight {
				t.Fatalf("%q: %s is sent as %v, read back as %v (%v)", s, e.Weight, e.Weight.Percent(), w, err)
			}
		}
		canonical := FormatDeploy(entries)
		round, err := ParseDeploy(strings.Fields(canonical))
		if err != nil {
			t.Fatalf("%q: canonical form %q does not parse: %v", s, canonical, err)
		}
		if again, _ := New(round); !reflect.DeepEqual(again.entries, d.entries) || FormatDeploy(round) != canonical {
			t.Fatalf("%q: %q parses back as %v", s, canonical, round)
		}
	})
}
