package integration

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/caddy-gradual/gradual/workerhost/workertest"
)

var updateConformance = flag.Bool("update-conformance", false, "record workerd's answers to the conformance suite in workerhost/testdata/conformance/workerd.json")

// TestWorkerdConformance runs the conformance suite in workerd and requires
// the answers recorded in workerd.json, which the worker host's own test
// (workerhost TestConformance) compares with its answers. With
// -update-conformance it records them instead.
func TestWorkerdConformance(t *testing.T) {
	bin := workerdBinary(t)
	dir := filepath.Join("..", "workerhost", workertest.ConformanceDir)
	code, _, err := workerdBundle(filepath.Join(dir, "conformance.js"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "w.js"), code, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddrs(t, 1)[0]
	config := fmt.Sprintf(`using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "conformance", worker = .w)],
  sockets = [(name = "conformance", address = %q, http = (), service = "conformance")],
);

const w :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "w.js")],
  compatibilityDate = %q,
  compatibilityFlags = ["nodejs_compat"],
);
`, addr, workerdCompatDate)
	if err := os.WriteFile(filepath.Join(tmp, "config.capnp"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	startWorkerd(t, bin, tmp, []string{addr})

	got := workertest.Answers{}
	for _, family := range workertest.ConformanceFamilies {
		resp, err := http.Get("http://" + addr + "/" + family)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var answers map[string]string
		if resp.StatusCode != 200 || json.Unmarshal(body, &answers) != nil {
			t.Fatalf("%s: workerd answered %d %q", family, resp.StatusCode, body)
		}
		got[family] = answers
	}
	path := filepath.Join(dir, "workerd.json")
	if *updateConformance {
		data, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	c, err := workertest.LoadConformance(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range workertest.ConformanceFamilies {
		want := c.Workerd[family]
		for _, name := range slices.Sorted(maps.Keys(got[family])) {
			if w, ok := want[name]; !ok || w != got[family][name] {
				t.Errorf("%s/%s: workerd now answers %s, recorded %s (re-record with -update-conformance)", family, name, got[family][name], w)
			}
		}
		if len(want) != len(got[family]) {
			t.Errorf("%s: workerd answered %d cases, %d recorded", family, len(got[family]), len(want))
		}
	}
}
