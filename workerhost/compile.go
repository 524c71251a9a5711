package workerhost

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
	"github.com/evanw/esbuild/pkg/api"
	"github.com/go-sourcemap/sourcemap"
	lru "github.com/hashicorp/golang-lru/v2"
)

// CacheSize is the number of compiled programs kept by Compile. A compiled
// program of a 1 MB bundle holds tens of megabytes, so the bound is small.
const CacheSize = 32

// bundleOptionsVersion is part of every cache key. Change it whenever the
// esbuild options below change, so that no program built with the old
// options is served from the cache.
const bundleOptionsVersion = "gradual-bundle-v4 es2017+goja-syntax iife neutral workerd,worker,browser strict-modules node:buffer,crypto,util,events,stream"

// entryGlobal is the global variable that receives the entry module's
// exports, where the host looks for `export default { fetch }`.
const entryGlobal = "__gradual_entry"

// Program is a bundled and compiled worker script. It is immutable and may
// be run by any number of runtimes at once.
type Program struct {
	prog   *goja.Program
	name   string
	hash   string
	inputs []string
	size   int
	// serviceWorker is set when the entry has no ES module syntax: its
	// bindings are globals, as in workerd.
	serviceWorker bool
	// namedGroups is set when the source has a regular expression's named
	// capture group, or text a pattern with one may be built from: the
	// prelude adds match.groups, which goja lacks, only then (its patch
	// of RegExp.prototype.exec costs every match of the script).
	namedGroups bool
}

// namedGroupRe finds the start of a named capture group: "(?<" not
// followed by "=" or "!" (lookbehinds).
var namedGroupRe = regexp.MustCompile(`\(\?<[^=!]`)

// Hash returns the hex sha256 of the program's sources and bundle options.
// Equal hashes mean equal programs.
func (p *Program) Hash() string { return p.hash }

// Inputs returns the source files that went into the bundle, as esbuild
// names them (relative to the working directory where possible).
func (p *Program) Inputs() []string { return slices.Clone(p.inputs) }

// Size returns the size in bytes of the bundled JavaScript.
func (p *Program) Size() int { return p.size }

// programCache holds compiled programs by content key and, for file
// entries, the list of files the last bundle of each entry read, so that a
// later Compile can hash those files and find the program without bundling.
type programCache struct {
	programs *lru.Cache[string, *Program]
	inputs   *lru.Cache[string, []string]
}

var cache = newProgramCache(CacheSize)

func newProgramCache(size int) *programCache {
	programs, err := lru.New[string, *Program](size)
	if err != nil {
		panic(err)
	}
	inputs, err := lru.New[string, []string](size * 4)
	if err != nil {
		panic(err)
	}
	return &programCache{programs: programs, inputs: inputs}
}

// cacheStats counts cache hits and misses, for tests and benchmarks.
var cacheStats struct {
	sync.Mutex
	hits, misses int
}

func countCache(hit bool) {
	cacheStats.Lock()
	if hit {
		cacheStats.hits++
	} else {
		cacheStats.misses++
	}
	cacheStats.Unlock()
}

// Compile bundles the script described by cfg with esbuild and compiles it
// for goja. Results are cached in a bounded LRU keyed by the sha256 of all
// sources and the bundle options, so compiling an unchanged script again
// skips both steps. Errors name the script path, line and column.
//
// Only cfg.Entry and cfg.Source are used. With Source set, the script must
// be self-contained: it may import only the host's node: modules (see
// nodeModules), never files.
func Compile(cfg Config) (*Program, error) {
	name := cfg.Entry
	if cfg.Source != "" {
		if name == "" {
			name = "worker.js"
		}
		key := contentKey(name, []keyedInput{{Name: name, Data: []byte(cfg.Source)}}, true)
		if p, ok := cache.programs.Get(key); ok {
			countCache(true)
			return p, nil
		}
		countCache(false)
		p, err := build(name, cfg.Source, nil)
		if err != nil {
			return nil, err
		}
		p.hash = key
		cache.programs.Add(key, p)
		return p, nil
	}
	if name == "" {
		return nil, errors.New("workerhost: neither Entry nor Source is set")
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, fmt.Errorf("workerhost: %s: %w", name, err)
	}
	if files, ok := cache.inputs.Get(abs); ok {
		if inputs, err := readInputs(files); err == nil {
			if p, ok := cache.programs.Get(contentKey(name, inputs, false)); ok {
				countCache(true)
				return p, nil
			}
		}
	}
	countCache(false)
	rec := &recorder{}
	p, err := build(name, "", rec)
	if err != nil {
		return nil, err
	}
	inputs := rec.sorted()
	files := make([]string, len(inputs))
	for i, in := range inputs {
		files[i] = in.Name
	}
	// Resolution also depends on package.json and tsconfig.json files, which
	// esbuild reads without going through the loader; hash those that sit
	// beside the inputs so an edit to them invalidates the program.
	files = append(files, resolutionFiles(files)...)
	all, err := readInputs(files)
	if err != nil {
		return nil, fmt.Errorf("workerhost: %s: %w", name, err)
	}
	// Hash what esbuild actually loaded, not what is on disk now, so that a
	// file edited during the build cannot be cached under its new content.
	copy(all, inputs)
	p.hash = contentKey(name, all, false)
	cache.inputs.Add(abs, files)
	cache.programs.Add(p.hash, p)
	return p, nil
}

type keyedInput struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// recorder keeps the contents of every file esbuild loads during a build.
type recorder struct {
	mu    sync.Mutex
	files []keyedInput
}

func (r *recorder) add(name string, data []byte) {
	r.mu.Lock()
	r.files = append(r.files, keyedInput{Name: name, Data: data})
	r.mu.Unlock()
}

func (r *recorder) sorted() []keyedInput {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.SortFunc(r.files, func(a, b keyedInput) int { return strings.Compare(a.Name, b.Name) })
	return r.files
}

func readInputs(files []string) ([]keyedInput, error) {
	out := make([]keyedInput, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			// A resolution file that does not exist is part of the key as
			// an absence: keep a marker so that creating it changes the key.
			out = append(out, keyedInput{Name: f, Data: nil})
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, keyedInput{Name: f, Data: data})
	}
	return out, nil
}

func resolutionFiles(inputs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, in := range inputs {
		dir := filepath.Dir(in)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		for _, f := range []string{"package.json", "tsconfig.json", "jsconfig.json"} {
			p := filepath.Join(dir, f)
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

func contentKey(name string, inputs []keyedInput, inline bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%t\x00%x\x00", bundleOptionsVersion, name, inline, nodePolyfillsHash)
	for _, in := range inputs {
		fmt.Fprintf(h, "%s\x00%d\x00", in.Name, len(in.Data))
		h.Write(in.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

var (
	//go:embed js/node_events.js
	nodeEventsSource string
	//go:embed js/third_party/node_events.js
	eventsPolyfillSource string
	//go:embed js/third_party/node_stream.js
	nodeStreamSource string
	// nodePolyfillsHash is part of every cache key, as the polyfills are
	// part of the scripts that import them.
	nodePolyfillsHash = sha256.Sum256([]byte(nodeEventsSource + eventsPolyfillSource + nodeStreamSource))
)

// build bundles and compiles a script; the bundling, and a trial parse and
// compile of its output, run in a child process (see bundleIsolated). With
// rec nil, source is the inline script and name its virtual file name.
func build(name, source string, rec *recorder) (*Program, error) {
	b, err := bundleIsolated(name, source, rec != nil)
	if err != nil {
		return nil, err
	}
	for _, in := range b.Inputs {
		if rec != nil {
			rec.add(in.Name, in.Data)
		}
	}
	return compileBundle(name, b)
}

// compileBundle parses and compiles esbuild's output for goja.
func compileBundle(name string, b *bundled) (*Program, error) {
	code := string(b.JS) + "\n//# sourceMappingURL=" + filepath.Base(name) + ".map\n"
	// The loader hands goja the map from memory: goja must never read map
	// files from disk on its own.
	ast, err := goja.Parse(name, code, parser.WithSourceMapLoader(func(string) ([]byte, error) { return b.Map, nil }))
	if err != nil {
		return nil, parseError(name, code, b.Map, err)
	}
	// An ES module is strict code, and so is everything bundled into one
	// (workerd loads the bundle as a module); a service-worker script is
	// a classic script and is not.
	prog, err := goja.CompileAST(ast, !b.ServiceWorker)
	if err != nil {
		return nil, fmt.Errorf("workerhost: %s: %w", name, err)
	}
	p := &Program{prog: prog, name: name, size: len(b.JS), serviceWorker: b.ServiceWorker, namedGroups: namedGroupRe.Match(b.JS)}
	if len(b.Inputs) > 0 {
		for _, in := range b.Inputs {
			p.inputs = append(p.inputs, in.Name)
		}
	} else {
		p.inputs = []string{name}
	}
	return p, nil
}

// CompileError is a bundling or compile error of a worker script.
type CompileError struct {
	// Script is the entry the error was found while compiling.
	Script string
	// Messages are the individual errors, each "file:line:col: text".
	Messages []string
}

func (e *CompileError) Error() string {
	if len(e.Messages) == 1 {
		return "workerhost: " + e.Messages[0]
	}
	return fmt.Sprintf("workerhost: %s: %d errors: %s", e.Script, len(e.Messages), strings.Join(e.Messages, "; "))
}

func bundleError(name string, msgs []api.Message) error {
	e := &CompileError{Script: name}
	for _, m := range msgs {
		if m.Location == nil {
			e.Messages = append(e.Messages, name+": "+m.Text)
			continue
		}
		file := m.Location.File
		if file == "<stdin>" || file == "" {
			file = name
		}
		e.Messages = append(e.Messages, fmt.Sprintf("%s:%d:%d: %s", file, m.Location.Line, m.Location.Column+1, m.Text))
	}
	return e
}

// parseError re-parses code to get goja's structured errors, and maps
// their positions in the bundle back to the original sources.
func parseError(name, code string, srcMap []byte, orig error) error {
	_, err := parser.ParseFile(nil, name, code, 0, parser.WithDisableSourceMaps)
	e := &CompileError{Script: name}
	list, ok := err.(parser.ErrorList)
	if !ok || len(list) == 0 {
		// Only the source map made the first parse fail.
		e.Messages = []string{fmt.Sprintf("%s: %v", name, orig)}
		return e
	}
	sm, _ := sourcemap.Parse(name, srcMap)
	for _, pe := range list {
		file, line, col := name, pe.Position.Line, pe.Position.Column
		if sm != nil {
			if src, _, l, c, ok := sm.Source(line, col-1); ok {
				file, line, col = filepath.Join(filepath.Dir(name), src), l, c+1
			}
		}
		e.Messages = append(e.Messages, fmt.Sprintf("%s:%d:%d: %s", file, line, col, pe.Message))
	}
	return e
}
