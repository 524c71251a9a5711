package workertest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ConformanceDir is the conformance suite's directory, relative to the
// workerhost package.
const ConformanceDir = "testdata/conformance"

// ConformanceFamilies are the API families of the conformance suite: each
// is a module of ConformanceDir and the path that runs it (GET /<family>).
var ConformanceFamilies = []string{"url", "search", "events", "encoding", "fetch", "streams", "misc", "node", "nodestream", "webcrypto"}

// Answers are, per family, what each case observed: case name → rendered
// value or "throws ...".
type Answers map[string]map[string]string

// Difference is a case where the host knowingly answers otherwise than
// workerd: Host is the host's answer, Reason why it cannot be workerd's.
type Difference struct {
	Host   string `json:"host"`
	Reason string `json:"reason"`
}

// Conformance is the suite's expectations: workerd's recorded answers
// (workerd.json) and the documented differences (differences.json, keyed
// "family/case").
type Conformance struct {
	Workerd     Answers
	Differences map[string]Difference
}

// LoadConformance reads the suite's expectations from dir.
func LoadConformance(dir string) (*Conformance, error) {
	c := &Conformance{}
	for file, dst := range map[string]any{"workerd.json": &c.Workerd, "differences.json": &c.Differences} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, dst); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	for key := range c.Differences {
		family, name, _ := strings.Cut(key, "/")
		if _, ok := c.Workerd[family][name]; !ok {
			return nil, fmt.Errorf("differences.json: %q is not a case workerd answered", key)
		}
	}
	return c, nil
}

// Tally counts a run's cases.
type Tally struct{ Cases, Identical, Documented int }

// Check compares the host's answers for one family with workerd's and the
// documented differences, and returns what is wrong.
func (c *Conformance) Check(family string, got map[string]string, t *Tally) []string {
	var bad []string
	want := c.Workerd[family]
	for _, name := range slices.Sorted(maps.Keys(want)) {
		t.Cases++
		g, ok := got[name]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s/%s: not run", family, name))
			continue
		}
		if d, ok := c.Differences[family+"/"+name]; ok {
			if g != d.Host {
				bad = append(bad, fmt.Sprintf("%s/%s: %s, want the documented %s (workerd %s)", family, name, g, d.Host, want[name]))
			}
			t.Documented++
			continue
		}
		if g != want[name] {
			bad = append(bad, fmt.Sprintf("%s/%s:\n\thost    %s\n\tworkerd %s", family, name, g, want[name]))
			continue
		}
		t.Identical++
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			bad = append(bad, fmt.Sprintf("%s/%s: workerd has no answer recorded (run the integration test with -update-conformance)", family, name))
		}
	}
	return bad
}
