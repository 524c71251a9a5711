package workerhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// loaderFor returns the esbuild loader for a file, following esbuild's own
// defaults for the extensions a worker may import.
func loaderFor(path string) api.Loader {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ts", ".mts", ".cts":
		return api.LoaderTS
	case ".tsx":
		return api.LoaderTSX
	case ".jsx":
		return api.LoaderJSX
	case ".json":
		return api.LoaderJSON
	case ".txt", ".html":
		return api.LoaderText
	case ".wasm", ".bin":
		return api.LoaderBinary
	default:
		return api.LoaderJS
	}
}

// nodeModules are the nodejs_compat modules a script may import; each is
// served from a global the host installs.
var nodeModules = map[string]string{
	"buffer": "const B = globalThis.Buffer; export { B as Buffer }; export default { Buffer: B };",
	"crypto": `const m = globalThis[Symbol.for("gradual.node")]("crypto");
export const { createHash, createHmac, Hash, Hmac, randomBytes, timingSafeEqual, randomUUID, getRandomValues, getHashes, webcrypto, subtle } = m;
export default m;`,
	"util": `const m = globalThis[Symbol.for("gradual.node")]("util");
export const { format, inspect, promisify, callbackify, inherits, types, deprecate, isArray, TextEncoder, TextDecoder } = m;
export default m;`,
	// node:events and node:stream are the npm packages events and
	// readable-stream, bundled by js/gen-node.sh; they are bundled into
	// the scripts that import them. node:events adds to events what Node
	// has beside it (js/node_events.js).
	"events":         nodeEventsSource,
	"gradual:events": eventsPolyfillSource,
	"stream":         nodeStreamSource,
	"stream/promises": `import S from "node:stream";
const p = S.promises;
export const { pipeline, finished } = p;
export default p;`,
}

// hostPlugin serves node: modules from host globals, refuses every other
// node: module and, for inline sources, every import of a file, and records
// the contents of the files it loads for the cache key.
func hostPlugin(rec *recorder) api.Plugin {
	return api.Plugin{
		Name: "gradual-host",
		Setup: func(b api.PluginBuild) {
			b.OnResolve(api.OnResolveOptions{Filter: `^(node:)?buffer$|^node:(crypto|util|events|stream|stream/promises)$|^gradual:events$`}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
				return api.OnResolveResult{Path: strings.TrimPrefix(args.Path, "node:"), Namespace: "gradual-node"}, nil
			})
			b.OnResolve(api.OnResolveOptions{Filter: `^node:`}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
				return api.OnResolveResult{}, fmt.Errorf("module %q is not available to workers (only node:buffer, node:crypto, node:events, node:stream and node:util are)", args.Path)
			})
			b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: "gradual-node"}, func(args api.OnLoadArgs) (api.OnLoadResult, error) {
				src := nodeModules[args.Path]
				return api.OnLoadResult{Contents: &src, Loader: api.LoaderJS}, nil
			})
			if rec == nil {
				b.OnResolve(api.OnResolveOptions{Filter: `.*`}, func(args api.OnResolveArgs) (api.OnResolveResult, error) {
					return api.OnResolveResult{}, fmt.Errorf("cannot import %q: an uploaded script must be self-contained", args.Path)
				})
				return
			}
			b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: "file"}, func(args api.OnLoadArgs) (api.OnLoadResult, error) {
				data, err := os.ReadFile(args.Path)
				if err != nil {
					return api.OnLoadResult{}, err
				}
				rec.add(args.Path, data)
				src := string(data)
				return api.OnLoadResult{Contents: &src, Loader: loaderFor(args.Path)}, nil
			})
		},
	}
}

// bundled is esbuild's output for one script, what a bundling child
// process hands back to its parent.
type bundled struct {
	JS     []byte       `json:"js"`
	Map    []byte       `json:"map"`
	Inputs []keyedInput `json:"inputs"`
	// ServiceWorker is set when the entry has no ES module syntax.
	ServiceWorker bool `json:"service_worker"`
}

// bundleForGoja bundles a script and compiles the bundle once, as a
// trial. It keeps the syntax goja runs natively (gojaSyntax) unless goja's
// parser refuses the result, which it does for valid code it otherwise
// runs (a field named get, set or async: `class A { set = 1 }`); then it
// bundles again with everything lowered to ES2017, as the host always did
// before, and returns that bundle if it compiles. The error is that of the
// first bundle's.
func bundleForGoja(name, source string, file bool) (*bundled, error) {
	b, err := bundle(name, source, file, gojaSyntax)
	if err != nil {
		return nil, err
	}
	_, err = compileBundle(name, b)
	var ce *CompileError
	if errors.As(err, &ce) {
		if lowered, lerr := bundle(name, source, file, nil); lerr == nil {
			if _, lerr := compileBundle(name, lowered); lerr == nil {
				return lowered, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// bundle runs esbuild, leaving the syntax past ES2017 that supported names
// as it is. With file set, name is the entry file and every file esbuild
// loads is recorded in the result's Inputs; otherwise source is the inline
// script and name its virtual file name.
func bundle(name, source string, file bool, supported map[string]bool) (*bundled, error) {
	var rec *recorder
	if file {
		rec = &recorder{}
	}
	opts := api.BuildOptions{
		Bundle:         true,
		Write:          false,
		Format:         api.FormatIIFE,
		GlobalName:     entryGlobal,
		Platform:       api.PlatformNeutral,
		MainFields:     []string{"browser", "module", "main"},
		Conditions:     []string{"workerd", "worker", "browser"},
		Target:         api.ES2017,
		Supported:      supported,
		Sourcemap:      api.SourceMapExternal,
		SourcesContent: api.SourcesContentExclude,
		LogLevel:       api.LogLevelSilent,
		Define:         map[string]string{"process.env.NODE_ENV": `"production"`},
		Plugins:        []api.Plugin{hostPlugin(rec)},
		Metafile:       true,
	}
	if !file {
		opts.Stdin = &api.StdinOptions{Contents: source, Sourcefile: name, Loader: loaderFor(name)}
		opts.Outdir = "/"
	} else {
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, err
		}
		opts.EntryPoints = []string{abs}
		opts.Outdir = filepath.Dir(abs)
	}
	res := api.Build(opts)
	if len(res.Errors) > 0 {
		return nil, bundleError(name, res.Errors)
	}
	b := &bundled{ServiceWorker: !entryIsModule(res.Metafile)}
	for _, f := range res.OutputFiles {
		if strings.HasSuffix(f.Path, ".map") {
			b.Map = f.Contents
		} else {
			b.JS = f.Contents
		}
	}
	if b.JS == nil {
		return nil, fmt.Errorf("workerhost: %s: esbuild produced no output", name)
	}
	if rec != nil {
		b.Inputs = rec.sorted()
	}
	return b, nil
}

// entryIsModule reports whether esbuild's metafile says the entry uses ES
// module syntax, as a Workers entry in the modules format does.
func entryIsModule(metafile string) bool {
	var meta struct {
		Inputs map[string]struct {
			Format string `json:"format"`
		} `json:"inputs"`
		Outputs map[string]struct {
			EntryPoint string `json:"entryPoint"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(metafile), &meta); err != nil {
		return true
	}
	for _, out := range meta.Outputs {
		if out.EntryPoint != "" {
			return meta.Inputs[out.EntryPoint].Format == "esm"
		}
	}
	return true
}

// gojaSyntax is the syntax past ES2017 that goja runs natively, which
// esbuild leaves as it is: lowered, private members become WeakMap lookups
// per instance and ?? and ?. temporaries, several times slower in goja in
// the framework code that uses them on every request. Public class fields
// stay lowered (to defineProperty calls), as goja's parser takes a field
// named get, set or async for an accessor and refuses it; so do async
// generators and for await, which goja lacks.
var gojaSyntax = map[string]bool{
	"class-private-field":           true,
	"class-private-method":          true,
	"class-private-accessor":        true,
	"class-private-static-field":    true,
	"class-private-static-method":   true,
	"class-private-static-accessor": true,
	"class-private-brand-check":     true,
	"class-static-blocks":           true,
	"nullish-coalescing":            true,
	"optional-chain":                true,
	"logical-assignment":            true,
	"object-rest-spread":            true,
	"optional-catch-binding":        true,
}
