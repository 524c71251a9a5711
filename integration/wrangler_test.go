package integration

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The wrangler tests run Cloudflare's own CLI, unchanged, against this
// repository's API on loopback.
//
// wrangler comes from the npm package of that name, pinned to
// wranglerVersion and installed into <repo>/.cache/wrangler (gitignored) by
// the test itself when npm is available; CI runs the same install
// beforehand:
//
//	npm install --prefix .cache/wrangler --no-save --no-audit --no-fund wrangler@<wranglerVersion>
//
// GRADUAL_WRANGLER, if set, names a wrangler executable to use instead.
// wrangler runs on Node.js (node on PATH).
const wranglerVersion = "4.86.0"

// wranglerBinary returns the path of the pinned wrangler, installing it
// with npm if needed, or skips the test when there is no Node.js or npm.
func wranglerBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("wrangler needs Node.js: node is not on PATH")
	}
	return npmBinary(t, "wrangler", wranglerVersion, "GRADUAL_WRANGLER")
}

// wrangler runs wrangler commands in one project directory against one
// API base URL.
type wrangler struct {
	bin, dir string
	env      []string
}

// newWrangler writes a project (wrangler.toml and the other files, by
// path relative to the project) into a temporary directory and returns a
// runner whose commands talk to apiBase (…/client/v4) with token.
//
// The environment is built from nothing, so no Cloudflare credentials or
// wrangler settings of the machine leak in, and it keeps wrangler on
// loopback: no usage metrics, no error reports, no banner (whose npm
// update check would go to the registry) and, for the update check it
// makes after an unexpected error, an npm registry on a closed loopback
// port. HOME is the test's, so wrangler's config and logs stay there.
func newWrangler(t *testing.T, apiBase, token string, files map[string]string) *wrangler {
	t.Helper()
	bin := wranglerBinary(t)
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	return &wrangler{bin: bin, dir: dir, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"CLOUDFLARE_API_BASE_URL=" + apiBase,
		"CLOUDFLARE_API_TOKEN=" + token,
		"CLOUDFLARE_ACCOUNT_ID=local",
		"WRANGLER_SEND_METRICS=false",
		"WRANGLER_SEND_ERROR_REPORTS=false",
		"WRANGLER_HIDE_BANNER=true",
		"npm_config_registry=http://127.0.0.1:9/",
		"CI=true",
		"NO_COLOR=1",
		"FORCE_COLOR=0",
	}}
}

// run runs one wrangler command to its end and returns its stdout and
// stderr; err is set when it exits non-zero.
func (w *wrangler) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("wrangler %s did not finish in 2 minutes:\n%s\n%s", strings.Join(args, " "), out.String(), errOut.String())
	}
	t.Logf("wrangler %s (err %v):\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	return out.String(), errOut.String(), err
}

// mustRun is run for commands that must succeed.
func (w *wrangler) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := w.run(t, args...)
	if err != nil {
		t.Fatalf("wrangler %s: %v\n%s\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// session is a long-running wrangler command, such as tail, whose stdout
// is read line by line.
type session struct {
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	all   strings.Builder
	done  chan struct{}
}

// start starts a long-running command; stop ends it.
func (w *wrangler) start(t *testing.T, args ...string) *session {
	t.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &session{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.all.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.all.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop interrupts the command, as a user's Ctrl-C would, and waits for it
// (killing it after 20 seconds); it returns everything it wrote.
func (s *session) stop(t *testing.T) string {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		s.cmd.Wait()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.String()
}

// output returns what the command wrote so far.
func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
