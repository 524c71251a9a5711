package workerhost

import "testing"

// TestNamedGroups checks that matches get their groups object when the
// script has a named group, in a literal or in a string a pattern is
// built from, and that a script without one keeps goja's own exec (whose
// replacement would make every match of the script take goja's slow path).
func TestNamedGroups(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"literal", `export default { fetch() {
			const m = /(?<id>\d+)-(?<rest>x)?/.exec("a12-");
			const s = "12".replace(/(?<d>\d)/g, "[$<d>]");
			return new Response(JSON.stringify([m.groups, "b7".match(/(?<n>\d)/).groups.n, s]));
		} }`, `[{"id":"12"},"7","[1][2]"]`},
		{"built from a string", `const p = "(?<" + "id>\\d+)";
		export default { fetch() {
			return new Response(new RegExp(p).exec("x42").groups.id);
		} }`, `42`},
		{"none", `export default { fetch() {
			const native = String(RegExp.prototype.exec).includes("[native code]");
			return new Response(JSON.stringify([native, /(\d)/.exec("a1")[1], /(?<=a)b/.test("ab")]));
		} }`, `[true,"1",true]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newInline(t, c.src)
			if _, body, res, err := do(t, w, "GET", "http://x/", ""); err != nil || body != c.want {
				t.Errorf("got %q, %v %+v; want %q", body, err, res.Exceptions, c.want)
			}
		})
	}
}
