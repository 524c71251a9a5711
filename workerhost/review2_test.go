package workerhost

import (
	"runtime"
	"testing"

	"github.com/dop251/goja"
)

// TestReview2HeaderJoinLinear: get, forEach and the iterators join the
// values of a name inside one native call, which the CPU limit cannot
// interrupt, so the join must be linear. Concatenating value by value
// copied the growing string each time: a script that appended 100,000
// values to one name and called get once ran 24 s of CPU in that call
// under a 1 s CPU limit (the JavaScript Headers joined in 12 ms).
func TestReview2HeaderJoinLinear(t *testing.T) {
	vm := goja.New()
	rt := &jsRuntime{vm: vm, commaSpace: vm.ToValue(", ").(goja.String)}
	const n, value = 5000, "xxxxxxxxxx"
	hl := &headerList{}
	for range n {
		hl.add("a", vm.ToValue("a"), vm.ToValue(value))
	}
	joinedLen := n*(len(value)+2) - 2
	for _, c := range []struct {
		name string
		f    func() goja.Value
	}{
		{"get", func() goja.Value { return rt.joined(hl, "a") }},
		{"pairs", func() goja.Value {
			return rt.pairs(hl).(*goja.Object).Get("0").(*goja.Object).Get("1")
		}},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v := c.f()
		runtime.ReadMemStats(&after)
		if l := v.(goja.String).Length(); l != joinedLen {
			t.Errorf("%s: joined length %d, want %d", c.name, l, joinedLen)
		}
		// Linear is a few times the joined value and the list; copying
		// the value once per entry is n²·6 bytes, 150 MB.
		if got := after.TotalAlloc - before.TotalAlloc; got > 64*uint64(joinedLen) {
			t.Errorf("%s: %d bytes allocated to join %d values of %d bytes, want linear", c.name, got, n, len(value))
		}
	}
}
