package integration

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	esbuild "github.com/evanw/esbuild/pkg/api"

	"github.com/caddy-gradual/gradual/workerhost/workertest"
)

// The differential test runs the worker corpus in Cloudflare's own runtime,
// workerd, and in Caddy, and requires the same answers.
//
// workerd comes from the npm package of that name, pinned to workerdVersion
// and installed into <repo>/.cache/workerd (gitignored) by the test itself
// when npm is available; CI runs the same install beforehand:
//
//	npm install --prefix .cache/workerd --no-save --no-audit --no-fund workerd@<workerdVersion>
//
// GRADUAL_WORKERD, if set, names a workerd binary to use instead.
const workerdVersion = "1.20261117.1"

// workerdCompatDate is the compatibility date of the workerd workers. From
// this date on, nodejs_compat gives workerd a global process object, which
// the host does not have (sandbox.js in the corpus).
const workerdCompatDate = "2024-09-23"

// workerdVersionTimestamp is the CF_VERSION_METADATA timestamp given to
// workerd; Caddy's is the load time, so env.js bodies are compared by the
// corpus's matchers only.
const workerdVersionTimestamp = "2025-01-02T03:04:05Z"

// serverHeaders are response headers set by the server rather than the
// script (Caddy sends Server: Caddy): the differential test ignores them.
var serverHeaders = map[string]bool{"Date": true, "Server": true}

// workerdBinary returns the path of the pinned workerd, installing it with
// npm if needed, or skips the test when there is no npm to do it.
func workerdBinary(t *testing.T) string {
	t.Helper()
	return npmBinary(t, "workerd", workerdVersion, "GRADUAL_WORKERD")
}

// npmBinary returns the executable of the npm package pkg pinned to
// version, installed into <repo>/.cache/<pkg> (by the test itself when it
// is not there yet), or the one the environment variable env names. It
// skips the test when the package is missing and there is no npm.
func npmBinary(t *testing.T, pkg, version, env string) string {
	t.Helper()
	if bin := os.Getenv(env); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		return bin
	}
	prefix, err := filepath.Abs("../.cache/" + pkg)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(prefix, "node_modules", ".bin", pkg)
	data, err := os.ReadFile(filepath.Join(prefix, "node_modules", pkg, "package.json"))
	var manifest struct{ Version string }
	if err == nil && json.Unmarshal(data, &manifest) == nil && manifest.Version == version && fileExists(bin) {
		return bin
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("%s@%s is not installed in %s and npm is not on PATH: install Node.js and npm, or set %s to a %s executable", pkg, version, prefix, env, pkg)
	}
	t.Logf("installing %s@%s into %s", pkg, version, prefix)
	out, err := exec.Command(npm, "install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", pkg+"@"+version).CombinedOutput()
	if err != nil {
		t.Fatalf("npm install %s@%s: %v\n%s", pkg, version, err, out)
	}
	if !fileExists(bin) {
		t.Fatalf("npm installed %s@%s but there is no %s:\n%s", pkg, version, bin, out)
	}
	return bin
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// workerdBundle bundles a corpus script into one file for workerd, as
// Wrangler would: an ES module, or a plain script when the entry has no
// default export (service-worker syntax). node: imports stay imports, for
// workerd's nodejs_compat.
func workerdBundle(path string) (code []byte, esModule bool, err error) {
	res := esbuild.Build(esbuild.BuildOptions{
		EntryPoints: []string{path},
		Bundle:      true,
		Write:       false,
		Format:      esbuild.FormatESModule,
		Platform:    esbuild.PlatformNeutral,
		MainFields:  []string{"browser", "module", "main"},
		Conditions:  []string{"workerd", "worker", "browser"},
		External:    []string{"node:*"},
		Target:      esbuild.ESNext,
		Metafile:    true,
		LogLevel:    esbuild.LogLevelSilent,
		Define:      map[string]string{"process.env.NODE_ENV": `"production"`},
	})
	if len(res.Errors) > 0 {
		return nil, false, fmt.Errorf("bundling %s: %s", path, res.Errors[0].Text)
	}
	var meta struct {
		Outputs map[string]struct {
			Exports []string `json:"exports"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(res.Metafile), &meta); err != nil {
		return nil, false, err
	}
	for _, out := range meta.Outputs {
		esModule = slices.Contains(out.Exports, "default")
	}
	return res.OutputFiles[0].Contents, esModule, nil
}

// workerdConfig writes, into dir, a workerd config serving each script on
// its own socket, and its bundles.
func workerdConfig(dir string, scripts []*workerScript, addrs map[string]string, upstreamURL string) error {
	var services, sockets, workers strings.Builder
	for i, s := range scripts {
		code, esModule, err := workerdBundle(s.path)
		if err != nil {
			return err
		}
		file := fmt.Sprintf("w%d.js", i)
		if err := os.WriteFile(filepath.Join(dir, file), code, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&services, "    (name = %q, worker = .w%d),\n", s.name, i)
		fmt.Fprintf(&sockets, "    (name = %q, address = %q, http = (cfBlobHeader = \"cf-blob\"), service = %q),\n", s.name, addrs[s.File], s.name)
		meta, _ := json.Marshal(map[string]string{"id": "v-123", "tag": "canary", "timestamp": workerdVersionTimestamp})
		bindings := []string{fmt.Sprintf("(name = \"CF_VERSION_METADATA\", json = %s)", strconv.Quote(string(meta)))}
		vars := s.VarsWith(upstreamURL)
		for _, k := range slices.Sorted(maps.Keys(vars)) {
			bindings = append(bindings, fmt.Sprintf("(name = %q, text = %s)", k, strconv.Quote(vars[k])))
		}
		source := fmt.Sprintf("serviceWorkerScript = embed %q", file)
		if esModule {
			source = fmt.Sprintf("modules = [(name = \"worker.js\", esModule = embed %q)]", file)
		}
		// workerd passes an exception through to the worker's global
		// outbound: for scripts that do, that is the origin, standing in
		// for the next handler of Caddy's route.
		outbound := "internet"
		if slices.ContainsFunc(s.Cases, func(c workertest.Case) bool { return c.PassThrough }) {
			outbound = "origin"
		}
		fmt.Fprintf(&workers, `const w%d :Workerd.Worker = (
  %s,
  compatibilityDate = %q,
  compatibilityFlags = ["nodejs_compat"],
  bindings = [%s],
  globalOutbound = %q,
);
`, i, source, workerdCompatDate, strings.Join(bindings, ", "), outbound)
	}
	config := fmt.Sprintf(`using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    # The corpus origin is on loopback, which the default "internet" refuses.
    (name = "internet", network = (allow = ["public", "private", "local"])),
    (name = "origin", external = (address = %q, http = ())),
%s  ],
  sockets = [
%s  ],
);

%s`, strings.TrimPrefix(upstreamURL, "http://"), services.String(), sockets.String(), workers.String())
	return os.WriteFile(filepath.Join(dir, "config.capnp"), []byte(config), 0o644)
}

// startWorkerd runs workerd serve with the config in dir until the test
// ends, and waits until every address accepts connections.
func startWorkerd(t *testing.T, bin, dir string, addrs []string) {
	t.Helper()
	logPath := filepath.Join(dir, "workerd.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	output := func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.capnp"), "--verbose")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting workerd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("workerd output:\n%s", output())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range addrs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("workerd exited: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("workerd does not listen on %s after 30s", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// serveInBoth serves scripts through Caddy and through the workerd binary
// bin, each on its own port, fetching from origin, and returns both sets
// of addresses by script file.
func serveInBoth(t *testing.T, bin string, scripts []*workerScript, origin *workertest.Origin) (caddy, workerd map[string]string) {
	t.Helper()
	caddy = loadCorpusSites(t, scripts, origin.URL)
	free := freeAddrs(t, len(scripts))
	workerd = map[string]string{}
	for i, s := range scripts {
		workerd[s.File] = free[i]
	}
	dir := t.TempDir()
	if err := workerdConfig(dir, scripts, workerd, origin.URL); err != nil {
		t.Fatal(err)
	}
	startWorkerd(t, bin, dir, slices.Collect(maps.Values(workerd)))
	return caddy, workerd
}

// TestWorkerdDifferential sends every corpus case to workerd and to Caddy
// and requires identical status, body and headers. The corpus marks, with
// the reason, the cases left out ("workerd": false), those where only the
// status is compared (workerd_status_only) and the known differences
// (workerd_body).
func TestWorkerdDifferential(t *testing.T) {
	bin := workerdBinary(t)
	origin := startWorkerOrigin(t)
	caddy, workerd := serveInBoth(t, bin, loadWorkerCorpus(t), origin)

	for _, s := range loadWorkerCorpus(t) {
		t.Run(s.File, func(t *testing.T) {
			for _, c := range s.Cases {
				switch {
				case c.Workerd != nil && !*c.Workerd:
					t.Logf("%s: not compared: %s", c.Name, c.WorkerdNote)
					continue
				case c.WorkerdStatusOnly:
					t.Logf("%s: status compared only: %s", c.Name, c.WorkerdNote)
				case c.WorkerdBody != nil:
					t.Logf("%s: known difference: %s", c.Name, c.WorkerdNote)
				}
				for _, p := range differ(&c, origin, caddy[s.File], workerd[s.File]) {
					t.Errorf("%s: %s", c.Name, p)
				}
			}
		})
	}
}

// differ returns how the answers of Caddy and workerd to c differ, or how
// workerd's misses the case's expectations.
func differ(c *workertest.Case, origin *workertest.Origin, caddyAddr, workerdAddr string) []string {
	var bad []string
	answers := map[string]*workerResponse{}
	for _, side := range []struct {
		name, addr string
		extra      []string
	}{
		{"caddy", caddyAddr, nil},
		// On Cloudflare's edge request.cf is an object; workerd reads it
		// from this header (see cfBlobHeader in the config).
		{"workerd", workerdAddr, []string{"Cf-Blob", "{}"}},
	} {
		logged := len(origin.Logged())
		r, err := send(c, side.addr, side.extra...)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", side.name, err))
			continue
		}
		answers[side.name] = r
		if c.UpstreamLog != "" {
			if err := origin.WaitLogged(logged, c.UpstreamLog); err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", side.name, err))
			}
		}
	}
	ours, theirs := answers["caddy"], answers["workerd"]
	if ours == nil || theirs == nil {
		return bad
	}
	if ours.status != theirs.status {
		bad = append(bad, fmt.Sprintf("status: caddy %d, workerd %d", ours.status, theirs.status))
	}
	if c.WorkerdStatusOnly {
		return bad
	}
	want := *c
	if c.WorkerdBody != nil {
		want.Body = c.WorkerdBody
	}
	for _, p := range check(&want, theirs) {
		bad = append(bad, "workerd: "+p)
	}
	switch {
	case c.WorkerdBody != nil:
		// A known difference: each side must give its own expected body.
		if c.Body == nil || ours.body != *c.Body {
			bad = append(bad, fmt.Sprintf("caddy: body %q, want the corpus body", ours.body))
		}
	case !c.WorkerdRandom && ours.body != theirs.body:
		bad = append(bad, fmt.Sprintf("body:\n\tcaddy   %q\n\tworkerd %q", ours.body, theirs.body))
	}
	// Every header matters, but for those of the servers rather than the
	// script, and those a random answer or a known difference changes.
	names := slices.Collect(maps.Keys(c.Headers))
	if !c.WorkerdRandom && c.WorkerdBody == nil {
		names = slices.AppendSeq(slices.AppendSeq(names, maps.Keys(ours.header)), maps.Keys(theirs.header))
	}
	slices.Sort(names)
	for _, k := range slices.Compact(names) {
		if a, b := strings.Join(ours.header.Values(k), ", "), strings.Join(theirs.header.Values(k), ", "); a != b && !serverHeaders[k] {
			bad = append(bad, fmt.Sprintf("header %s: caddy %q, workerd %q", k, a, b))
		}
	}
	return bad
}
