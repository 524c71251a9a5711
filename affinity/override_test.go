package affinity

import (
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"
)

func TestValidateWorkerName(t *testing.T) {
	tests := []struct {
		name    string
		worker  string
		wantErr string // substring of the error; "" means valid
	}{
		{"simple", "shop", ""},
		{"all allowed characters", "a0_-.*z", ""},
		{"star first", "*shop", ""},
		{"single letter", "a", ""},
		{"63 characters", strings.Repeat("a", 63), ""},
		{"empty", "", "empty"},
		{"64 characters", strings.Repeat("a", 64), "limit is 63"},
		{"uppercase first", "Shop", `uppercase 'S' at position 0 is not allowed`},
		{"uppercase later suggests lowercase", "myShop", `use "myshop"`},
		{"digit first", "1shop", "must start with a lowercase letter or '*'"},
		{"dash first", "-shop", "must start with a lowercase letter or '*'"},
		{"space", "my shop", `' ' at position 2`},
		{"slash", "a/b", `'/' at position 1`},
		{"equals", "a=b", `'=' at position 1`},
		{"non-ASCII", "shöp", "position 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateWorkerName(tt.worker)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateWorkerName(%q) = %v, want nil", tt.worker, err)
				}
				// A valid name must be usable as a dictionary key.
				got, err := Override([]string{tt.worker + `="v1"`}, tt.worker)
				if err != nil || got != "v1" {
					t.Fatalf("Override with valid worker %q = (%q, %v), want (\"v1\", nil)", tt.worker, got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateWorkerName(%q) = nil, want error containing %q", tt.worker, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateWorkerName(%q) = %q, want it to contain %q", tt.worker, err, tt.wantErr)
			}
		})
	}
}

// overrideTests is shared by the table test and the fuzz seed corpus.
var overrideTests = []struct {
	name    string
	values  []string
	worker  string
	want    string
	wantErr string // substring of the error; "" means no error
}{
	{"simple", []string{`shop="v2"`}, "shop", "v2", ""},
	{"uuid", []string{`shop="1f0e3c7a-5b2d-4c1e-9f3a-8e2b1c0d4f5a"`}, "shop", "1f0e3c7a-5b2d-4c1e-9f3a-8e2b1c0d4f5a", ""},
	{"several workers, last", []string{`a="v1", shop="v2"`}, "shop", "v2", ""},
	{"several workers, first", []string{`shop="v2", a="v1"`}, "shop", "v2", ""},
	{"several workers, other one", []string{`a="v1", shop="v2"`}, "a", "v1", ""},
	{"no space after comma", []string{`a="v1",shop="v2"`}, "shop", "v2", ""},
	{"tab after comma", []string{"a=\"v1\",\tshop=\"v2\""}, "shop", "v2", ""},
	{"spaces before comma", []string{`a="v1"   ,   shop="v2"`}, "shop", "v2", ""},
	{"leading spaces", []string{`   shop="v2"`}, "shop", "v2", ""},
	{"trailing spaces", []string{`shop="v2"   `}, "shop", "v2", ""},
	{"space around equals", []string{`shop = "v2"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"parameter", []string{`shop="v2";x=1`}, "shop", "v2", ""},
	{"several parameters", []string{`shop="v2";x=1;y;z="q";t=tok`}, "shop", "v2", ""},
	{"parameters on another worker", []string{`a="v1";p=?0, shop="v2"`}, "shop", "v2", ""},
	{"duplicate, last wins", []string{`shop="v1", shop="v2"`}, "shop", "v2", ""},
	{"duplicate around another worker", []string{`shop="v1", a="x", shop="v3"`}, "shop", "v3", ""},
	{"duplicate, string then token", []string{`shop="v1", shop=v2`}, "shop", "", "token"},
	{"duplicate, token then string", []string{`shop=v1, shop="v2"`}, "shop", "v2", ""},
	{"missing entry", []string{`a="v1", b="v2"`}, "shop", "", ""},
	{"prefix of a key is not a match", []string{`shopping="v2"`}, "shop", "", ""},
	{"semicolon makes a parameter, not a member", []string{`a="v1"; shop="v2"`}, "shop", "", ""},
	{"no header", nil, "shop", "", ""},
	{"empty header", []string{""}, "shop", "", ""},
	{"header of spaces", []string{"   "}, "shop", "", ""},
	{"token", []string{`shop=v2`}, "shop", "", "token"},
	{"token that looks like a uuid", []string{`shop=a1f0e3c7-v1`}, "shop", "", "token"},
	{"integer", []string{`shop=2`}, "shop", "", "integer"},
	{"decimal", []string{`shop=1.5`}, "shop", "", "decimal"},
	{"inner list", []string{`shop=("v1" "v2")`}, "shop", "", "inner list"},
	{"bare key", []string{`shop`}, "shop", "", "boolean"},
	{"boolean", []string{`shop=?0`}, "shop", "", "boolean"},
	{"byte sequence", []string{`shop=:djI=:`}, "shop", "", "byte sequence"},
	{"date", []string{`shop=@1659578233`}, "shop", "", "date"},
	{"display string", []string{`shop=%"v2"`}, "shop", "", "display string"},
	{"empty string", []string{`shop=""`}, "shop", "", "empty string"},
	{"escaped quote", []string{`shop="v\"2"`}, "shop", `v"2`, ""},
	{"escaped backslash", []string{`shop="a\\b"`}, "shop", `a\b`, ""},
	{"unterminated string", []string{`shop="v2`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"bad escape", []string{`shop="v\2"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"trailing backslash", []string{`shop="v2\`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"control character", []string{"shop=\"v\x012\""}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"non-ASCII value", []string{`shop="vé"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"non-ASCII key", []string{`shöp="v2"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"uppercase key", []string{`Shop="v2"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"uppercase key of another worker", []string{`shop="v2", B="v1"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"garbage after a good entry", []string{`shop="v2", a=v1 b`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"missing comma", []string{`a="v1" shop="v2"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"trailing comma", []string{`shop="v2",`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"leading comma", []string{`,shop="v2"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"double comma", []string{`a="v1",,shop="v2"`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"multiple field lines", []string{`a="v1"`, `shop="v2"`}, "shop", "v2", ""},
	{"multiple field lines, last wins", []string{`shop="v1"`, `a="x", shop="v2"`}, "shop", "v2", ""},
	{"multiple field lines, one bad", []string{`shop="v2"`, `a=`}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"string spanning field lines", []string{`shop="a`, `b"`}, "shop", "a, b", ""},
	{"multiple field lines, one empty", []string{`shop="v2"`, ``}, "shop", "", "not a valid RFC 8941 dictionary"},
	{"worker with every key character", []string{`my-shop.v2_*="x"`}, "my-shop.v2_*", "x", ""},
	{"value with spaces and punctuation", []string{`shop="v 2, ;=()"`}, "shop", "v 2, ;=()", ""},
}

func TestOverride(t *testing.T) {
	for _, tt := range overrideTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Override(tt.values, tt.worker)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Override(%q, %q) error = %v, want nil", tt.values, tt.worker, err)
				}
			} else {
				if err == nil {
					t.Fatalf("Override(%q, %q) = %q, nil; want error containing %q", tt.values, tt.worker, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Override(%q, %q) error = %q, want it to contain %q", tt.values, tt.worker, err, tt.wantErr)
				}
			}
			if got != tt.want {
				t.Fatalf("Override(%q, %q) = %q, want %q", tt.values, tt.worker, got, tt.want)
			}
		})
	}
}

// TestOverrideNoHeaderAllocs guards the fast path that every request without
// an override header takes.
func TestOverrideNoHeaderAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if id, err := Override(nil, "shop"); id != "" || err != nil {
			t.Fatalf("Override(nil) = (%q, %v)", id, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Override(nil) allocates %v times, want 0", allocs)
	}
}

func FuzzOverrideHeader(f *testing.F) {
	for _, tt := range overrideTests {
		var a, b string
		if len(tt.values) > 0 {
			a = tt.values[0]
		}
		if len(tt.values) > 1 {
			b = tt.values[1]
		}
		f.Add(a, b, tt.worker)
	}
	f.Fuzz(func(t *testing.T, a, b, worker string) {
		values := []string{a}
		if b != "" {
			values = append(values, b)
		}
		id, err := Override(values, worker)
		if err != nil {
			if id != "" {
				t.Fatalf("Override(%q, %q) = (%q, %v): an error must come with no ID", values, worker, id, err)
			}
			return
		}
		// A sender may put several lines on one, joined as RFC 9110 says.
		joined, joinedErr := Override([]string{strings.Join(values, ", ")}, worker)
		if joined != id || joinedErr != nil {
			t.Fatalf("Override on joined lines = (%q, %v), on separate lines (%q, nil)", joined, joinedErr, id)
		}
		if id == "" {
			return
		}
		if ValidateWorkerName(worker) != nil && len(worker) <= maxWorkerNameLen {
			t.Fatalf("Override(%q, %q) found an entry for a worker name that is not a valid key", values, worker)
		}
		for i := 0; i < len(id); i++ {
			if id[i] < 0x20 || id[i] > 0x7e {
				t.Fatalf("Override(%q, %q) = %q: sf-strings hold printable ASCII only", values, worker, id)
			}
		}
		// Re-serialise the parsed dictionary and parse it again: the entry
		// must survive the round trip unchanged.
		dict, err := httpsfv.UnmarshalDictionary([]string{strings.Join(values, ", ")})
		if err != nil {
			t.Fatalf("Override accepted %q, httpsfv rejects it: %v", values, err)
		}
		serialised, err := httpsfv.Marshal(dict)
		if err != nil {
			t.Fatalf("httpsfv.Marshal of parsed %q: %v", values, err)
		}
		again, err := Override([]string{serialised}, worker)
		if err != nil || again != id {
			t.Fatalf("Override(%q) = %q, but after re-serialising as %q it is (%q, %v)", values, id, serialised, again, err)
		}
		// A dictionary holding only the entry, built by hand, must give the
		// same ID back.
		single := httpsfv.NewDictionary()
		single.Add(worker, httpsfv.NewItem(id))
		minimal, err := httpsfv.Marshal(single)
		if err != nil {
			t.Fatalf("httpsfv.Marshal of {%q: %q}: %v", worker, id, err)
		}
		if got, err := Override([]string{minimal}, worker); err != nil || got != id {
			t.Fatalf("Override(%q) = (%q, %v), want (%q, nil)", minimal, got, err, id)
		}
	})
}

func BenchmarkOverride(b *testing.B) {
	b.Run("no header", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Override(nil, "shop"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("with header", func(b *testing.B) {
		values := []string{`auth="v7", shop="9b2d44e1-v2"`}
		b.ReportAllocs()
		for b.Loop() {
			if id, err := Override(values, "shop"); err != nil || id != "9b2d44e1-v2" {
				b.Fatal(id, err)
			}
		}
	})
}
