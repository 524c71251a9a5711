package workerhost

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	// "growing heap" leaves a few hundred MB of garbage, which a
	// collection under way when the script was refused still counts as
	// live and publishes later. The per-request memory watch compares Go's
	// process-wide live heap with its figure when a segment began, and
	// beginSegment takes that figure before the sleeping watchdog refreshes
	// it (cpu.go; reported), so the next test's small worker was charged
	// those megabytes and failed to load, "allocated over the memory limit
	// (128 MB) while loading", about one run in twenty on a loaded machine.
	// Collect before the next test, so that the live heap it starts from
	// holds nothing of this one's.
	t.Cleanup(runtime.GC)
	const handler = "\nexport default { fetch() { return new Response('ok') } };\n"
	for _, tc := range []struct {
		name, src string
		want      string // "" for accepted; else a part of the error
	}{
		{"ok", handler, ""},
		{"buffers still work", "const b = new Uint8Array(16); if (!(b instanceof Uint8Array) || !(Uint8Array.from([1]) instanceof Uint8Array)) throw new Error('broken');\nconst s = 'ab'.repeat(3) + Buffer.alloc(4).length;" + handler, ""},
		{"throws", "\n\nthrow new Error('boom at load');" + handler, "worker.js:3"},
		{"no handler", "console.log('hi');", "fetch"},
		{"syntax", "export default {", "worker.js:1"},
		{"loops", "while (true) {}" + handler, "CPU time limit"},
		{"typed array of 1 GB", "const big = new Uint8Array(1 << 30);" + handler, "RangeError"},
		{"ArrayBuffer of 1 GB", "const big = new ArrayBuffer(1 << 30);" + handler, "RangeError"},
		{"repeat to 1 GB", "const big = 'x'.repeat(1 << 30);" + handler, "RangeError"},
		{"Buffer of 1 GB", "const big = Buffer.alloc(1 << 30);" + handler, "RangeError"},
		{"Array of a billion", "const big = new Array(1e9).fill(0);" + handler, "RangeError"},
		// The heap bound stops it, or, on a machine too busy for the heap
		// watchdog to run first, the CPU limit: refused either way.
		{"growing heap", "const a = []; for (;;) a.push(new Uint8Array(1 << 20));" + handler, "while loading|CPU time limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := Check(Config{Worker: "test", VersionID: "v1", Entry: "worker.js", Source: tc.src})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatal("accepted")
			case err != nil && !slices.ContainsFunc(strings.Split(tc.want, "|"), func(w string) bool { return strings.Contains(err.Error(), w) }):
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			// StartupCPULimit is CPU time: on a busy machine a loop takes
			// longer than that in wall-clock time, but never without bound.
			if d := time.Since(start); d > 10*StartupCPULimit {
				t.Errorf("Check took %v", d)
			}
		})
	}
}
