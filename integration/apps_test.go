package integration

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/caddy-gradual/gradual/workerhost/workertest"
)

// appPackages are the npm packages of the real applications in
// testdata/apps, pinned: name → version.
var appPackages = map[string]string{"hono": "4.13.19", "itty-router": "5.0.24"}

// appsDir installs appPackages into <repo>/.cache/apps (gitignored) with
// npm, unless they are there, copies the applications beside them, and
// returns the directory. It skips the test when there is no npm.
func appsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../.cache/apps")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(appPackages)) {
		var pkg struct{ Version string }
		data, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
		if err != nil || json.Unmarshal(data, &pkg) != nil || pkg.Version != appPackages[name] {
			missing = append(missing, name+"@"+appPackages[name])
		}
	}
	if len(missing) > 0 {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skipf("npm is not on PATH to install %v", missing)
		}
		args := append([]string{"install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund"}, missing...)
		if out, err := exec.Command(npm, args...).CombinedOutput(); err != nil {
			t.Fatalf("npm install: %v\n%s", err, out)
		}
	}
	files, err := filepath.Glob("testdata/apps/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestAppsDifferential serves real applications built from npm packages
// (testdata/apps: Hono with its middleware, itty-router), bundled by the
// host's own path, through Caddy and through workerd, and requires the same
// answers to every request of apps.json.
func TestAppsDifferential(t *testing.T) {
	bin := workerdBinary(t)
	dir := appsDir(t)
	loaded, err := workertest.Load(filepath.Join(dir, "apps.json"))
	if err != nil {
		t.Fatal(err)
	}
	origin := startWorkerOrigin(t)
	scripts := make([]*workerScript, len(loaded))
	for i, s := range loaded {
		scripts[i] = &workerScript{Script: s, path: filepath.Join(dir, s.File), name: "app-" + nonName.ReplaceAllString(s.File, "-")}
	}
	caddy, workerd := serveInBoth(t, bin, scripts, origin)
	for _, s := range scripts {
		t.Run(s.File, func(t *testing.T) {
			for _, c := range s.Cases {
				for _, p := range differ(&c, origin, caddy[s.File], workerd[s.File]) {
					t.Errorf("%s: %s", c.Name, p)
				}
			}
		})
	}
}
