package workerhost

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// whatwgTestData returns the path of one of the URL Standard's test data
// files (web-platform-tests url/resources) as github.com/nlnwa/whatwg-url
// ships them in its module, or skips the test when the module is not in
// the module cache.
func whatwgTestData(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/nlnwa/whatwg-url").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("github.com/nlnwa/whatwg-url is not in the module cache: %v", err)
	}
	path := filepath.Join(dir, "testdata", file)
	if _, err := os.Stat(path); err != nil {
		t.Skip(err)
	}
	return path
}

// urlDataWorker checks the test data it is posted: for urltestdata.json,
// every parse; for setters_tests.json, every setter. It answers the
// failures, one a line, after a first line "<passed> <total>".
const urlDataWorker = `
const keys = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];
function parseCase(c) {
  let u;
  try { u = c.base === null || c.base === undefined ? new URL(c.input) : new URL(c.input, c.base); }
  catch (e) { return c.failure ? "" : "throws " + e; }
  if (c.failure) return "parses as " + u.href;
  if (URL.canParse(c.input, c.base === null ? undefined : c.base) !== true) return "canParse false";
  return keys.filter((k) => k in c && u[k] !== c[k]).map((k) => k + " " + JSON.stringify(u[k]) + ", want " + JSON.stringify(c[k])).join("; ");
}
function setterCase(setter, c) {
  const u = new URL(c.href);
  u[setter] = c.new_value;
  return Object.keys(c.expected).filter((k) => u[k] !== c.expected[k]).map((k) => k + " " + JSON.stringify(u[k]) + ", want " + JSON.stringify(c.expected[k])).join("; ");
}
export default {
  async fetch(request) {
    const data = await request.json();
    const bad = [];
    let n = 0;
    const check = (what, f) => { n++; let p; try { p = f(); } catch (e) { p = "throws " + e; } if (p) bad.push(what + ": " + p); };
    if (Array.isArray(data)) {
      for (const c of data) if (typeof c === "object") check(JSON.stringify(c.input) + " against " + c.base, () => parseCase(c));
    } else {
      for (const setter of Object.keys(data)) {
        if (setter === "comment") continue;
        for (const c of data[setter]) check(setter + " of " + c.href + " to " + JSON.stringify(c.new_value), () => setterCase(setter, c));
      }
    }
    return new Response((n - bad.length) + " " + n + "\n" + bad.join("\n"));
  },
};`

// TestURLTestData runs the URL Standard's own test data through the
// host's URL: urltestdata.json (parsing, including failures) and
// setters_tests.json (the setters). Every case must pass.
func TestURLTestData(t *testing.T) {
	w := newInline(t, urlDataWorker, func(c *Config) { c.MaxBodyBytes = 8 << 20 })
	for _, file := range []string{"urltestdata.json", "setters_tests.json"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(whatwgTestData(t, file))
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(data) {
				t.Fatal("invalid JSON")
			}
			_, body, res, err := do(t, w, "POST", "http://example.com/", string(data))
			if err != nil {
				t.Fatalf("%v %+v", err, res.Exceptions)
			}
			head, failures, _ := strings.Cut(body, "\n")
			t.Logf("%s: %s cases passed", file, strings.Replace(head, " ", " of ", 1))
			for _, f := range strings.Split(failures, "\n") {
				if f != "" {
					t.Error(f)
				}
			}
		})
	}
}

// TestURLErrorMessages checks the errors of a URL that does not parse, or
// is a Symbol, given to fetch(), new Request(), Response.redirect() and a
// service binding's fetch(): workerd's, recorded from workerd itself.
func TestURLErrorMessages(t *testing.T) {
	w := newInline(t, `const tries = {
  fetchNope: () => fetch("nope"),
  fetchRel: () => fetch("/x"),
  fetchSym: () => fetch(Symbol("s")),
  reqNope: () => new Request("nope"),
  reqSym: () => new Request(Symbol("s")),
  redirNope: () => Response.redirect("nope"),
  bindNope: (env) => env.BACK.fetch("nope"),
};
export default { async fetch(req, env) {
  const out = {};
  for (const [k, f] of Object.entries(tries)) {
    try { await f(env); out[k] = "ok"; } catch (e) { out[k] = e.constructor.name + ": " + e.message; }
  }
  return new Response(JSON.stringify(out, null, 1));
} }`, withService(helloFetcher{}))
	_, body, _, _ := do(t, w, "GET", "http://front/", "")
	want := `{
 "fetchNope": "TypeError: Invalid URL: nope",
 "fetchRel": "TypeError: Invalid URL: /x",
 "fetchSym": "TypeError: Cannot convert a Symbol value to a string",
 "reqNope": "TypeError: Invalid URL: nope",
 "reqSym": "TypeError: Cannot convert a Symbol value to a string",
 "redirNope": "TypeError: Unable to parse URL: nope",
 "bindNope": "TypeError: Invalid URL: nope"
}`
	if body != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}
}
