package workerhost

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"syntax", Config{Entry: "testdata/errors/syntax.js"}, []string{"testdata/errors/syntax.js:3:", `Expected ")" but found ";"`}},
		{"missing import", Config{Entry: "testdata/errors/missing-import.js"}, []string{"testdata/errors/missing-import.js:1:", "./does-not-exist.js"}},
		{"node fs", Config{Entry: "testdata/errors/fs.js"}, []string{"testdata/errors/fs.js:1:", `"node:fs" is not available`}},
		{"missing entry", Config{Entry: "testdata/nope.js"}, []string{"testdata/nope.js"}},
		{"inline syntax", Config{Entry: "upload.js", Source: "export default {\n  fetch() { return 1 +; }\n}"}, []string{"upload.js:2:"}},
		{"inline import", Config{Entry: "upload.js", Source: "import x from './secret.js';\nexport default { fetch() { return new Response(x) } }"}, []string{"upload.js:1:", "self-contained"}},
		{"inline absolute import", Config{Entry: "upload.js", Source: "import x from '/etc/passwd';\nexport default { fetch() { return new Response(x) } }"}, []string{"upload.js:1:", "self-contained"}},
		{"no source", Config{}, []string{"neither Entry nor Source"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCompileErrorIsCompileError(t *testing.T) {
	_, err := Compile(Config{Entry: "testdata/errors/syntax.js"})
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Script != "testdata/errors/syntax.js" || len(ce.Messages) != 1 {
		t.Fatalf("err = %#v", err)
	}
}

// TestParseErrorMapped checks that a syntax goja rejects but esbuild
// accepts is reported at the original file and line.
func TestParseErrorMapped(t *testing.T) {
	msg := parseError("w.js", "var a = 1;\nvar b = ;\n", nil, nil).Error()
	if !strings.Contains(msg, "w.js:2:") {
		t.Fatalf("error %q does not name w.js:2", msg)
	}
}

func cacheCounts() (hits, misses int) {
	cacheStats.Lock()
	defer cacheStats.Unlock()
	return cacheStats.hits, cacheStats.misses
}

func TestCompileCache(t *testing.T) {
	dir := t.TempDir()
	entry := filepath.Join(dir, "main.js")
	lib := filepath.Join(dir, "lib.js")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(entry, `import { msg } from "./lib.js"; export default { fetch() { return new Response(msg) } }`)
	write(lib, `export const msg = "one";`)

	h0, m0 := cacheCounts()
	p1, err := Compile(Config{Entry: entry})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Compile(Config{Entry: entry})
	if err != nil {
		t.Fatal(err)
	}
	h1, m1 := cacheCounts()
	if p1 != p2 || h1-h0 != 1 || m1-m0 != 1 {
		t.Fatalf("same=%v hits=%d misses=%d", p1 == p2, h1-h0, m1-m0)
	}
	if len(p1.Inputs()) != 2 {
		t.Fatalf("inputs = %v", p1.Inputs())
	}

	// Changing an imported file, not the entry, makes a new program.
	write(lib, `export const msg = "two";`)
	p3, err := Compile(Config{Entry: entry})
	if err != nil {
		t.Fatal(err)
	}
	if p3 == p1 || p3.Hash() == p1.Hash() {
		t.Fatal("a changed import was served from the cache")
	}
	w, err := New(Config{Entry: entry, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, body, _, _ := do(t, w, "GET", "http://x/", ""); body != "two" {
		t.Fatalf("body = %q", body)
	}

	// Inline sources are keyed by their content.
	src := `export default { fetch() { return new Response("inline") } }`
	a, err := Compile(Config{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile(Config{Source: src})
	if err != nil || a != b {
		t.Fatalf("inline source not cached: %v", err)
	}
	c, err := Compile(Config{Source: src + "\n"})
	if err != nil || c == a {
		t.Fatalf("changed inline source served from the cache: %v", err)
	}
}

// TestCompileDeepNesting checks that scripts nested deeply enough to
// overflow a recursive-descent parser's Go stack are refused with an
// error instead of killing the process (issue 9, item 2).
func TestCompileDeepNesting(t *testing.T) {
	const n = 200_000 // 400 KB of brackets
	cases := map[string]string{
		"brackets":    "export default {fetch(){return new Response(String(" + strings.Repeat("[", n) + strings.Repeat("]", n) + "))}}",
		"negations":   "export default {fetch(){return new Response(String(" + strings.Repeat("!", 2*n) + "0))}}",
		"assignments": "var a; export default {fetch(){return new Response(String(" + strings.Repeat("a=", n) + "0))}}",
		"else if":     "var a=1; export default {fetch(){" + strings.Repeat("if(a==0){}else ", n/4) + "{} return new Response('x')}}",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(Config{Entry: "deep.js", Source: src})
			var ce *CompileError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), "deep.js") || !strings.Contains(err.Error(), "nested too deeply") {
				t.Fatalf("err = %v, want a CompileError naming deep.js and the nesting", err)
			}
		})
	}
	// Nesting real code uses still compiles.
	src := "export default {fetch(){return new Response(String(" + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "))}}"
	if _, err := Compile(Config{Entry: "ok.js", Source: src}); err != nil {
		t.Fatal(err)
	}
}

// TestCompileModernSyntax runs classes with private members and the newer
// operators that esbuild leaves to goja, and ones goja's parser refuses
// unlowered (a private or public field named get or set), which are bundled
// again lowered.
func TestCompileModernSyntax(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"private members", `class A { #n = 1; static #made = 0; #inc() { return ++this.#n } get #twice() { return this.#n * 2 }
			constructor() { A.#made++ } static made() { return A.#made } static is(o) { return #n in o }
			run() { this.#inc(); return this.#twice } }
			export default { fetch() { const a = new A(); return new Response([a.run(), A.made(), A.is(a), A.is({})].join()) } }`, "4,1,true,false"},
		{"operators", `export default { fetch() { const o = { a: { b: null } }; let x = null; x ??= 2; const { a, ...rest } = { a: 1, c: 3 };
			return new Response([o.a?.b ?? "none", o.z?.y, x, a, JSON.stringify({ ...rest, d: 4 })].join()) } }`, "none,,2,1,{\"c\":3,\"d\":4}"},
		{"private field named get", `class A { #get = 5; get() { return this.#get } }
			export default { fetch() { return new Response(String(new A().get())) } }`, "5"},
		{"field named set", `class A { set = (v) => v * 2; async = 1 }
			export default { fetch() { const a = new A(); return new Response(String(a.set(3) + a.async)) } }`, "7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newInline(t, c.src)
			_, body, _, err := do(t, w, "GET", "http://x/", "")
			if err != nil || body != c.want {
				t.Errorf("got %q, %v; want %q", body, err, c.want)
			}
		})
	}
}
