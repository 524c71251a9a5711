package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cliRunCaddy runs the Caddy binary with args and returns its standard output
// and error and its exit code.
func cliRunCaddy(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, builtCaddy(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exitErr, ok := errors.AsType[*exec.ExitError](err); ok {
		return out.String(), errOut.String(), exitErr.ExitCode()
	}
	if err != nil {
		t.Fatalf("caddy %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), 0
}

// cliGradual runs `caddy gradual args... --address <admin>` against the
// tests' Caddy.
func cliGradual(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return cliRunCaddy(t, append(append([]string{"gradual"}, args...), "--address", adminAddr)...)
}

// cliMust is cliGradual for commands that must succeed; it returns their
// output.
func cliMust(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cliGradual(t, args...)
	if code != 0 {
		t.Fatalf("caddy gradual %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// cliJSON runs a command with --json and decodes its output into v.
func cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := cliMust(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("caddy gradual %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cliDeployment is the part of a deployment in API answers that the tests
// check.
type cliDeployment struct {
	ID       string `json:"id"`
	Source   string `json:"source"`
	Versions []struct {
		VersionID  string  `json:"version_id"`
		Percentage float64 `json:"percentage"`
	} `json:"versions"`
	Annotations map[string]string `json:"annotations"`
}

// split returns d's versions as "id@pct ..." for comparisons.
func (d cliDeployment) split() string {
	var parts []string
	for _, v := range d.Versions {
		parts = append(parts, fmt.Sprintf("%s@%g", v.VersionID, v.Percentage))
	}
	return strings.Join(parts, " ")
}

// cliActive returns the deployment `caddy gradual status` reports.
func cliActive(t *testing.T) cliDeployment {
	t.Helper()
	var w struct {
		Deployment cliDeployment `json:"deployment"`
	}
	cliJSON(t, &w, "status")
	return w.Deployment
}

// cliServed sends n keyless requests to addr and counts which upstream
// answered.
func cliServed(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		resp, body := get(t, "http://"+addr+"/", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		counts[body]++
	}
	return counts
}

func TestCLIWorkflow(t *testing.T) {
	a, b, c := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")
	addr := freeAddr()
	// fetch_allow lets uploads name upstreams on loopback.
	loadCaddyfile(t, site(addr, versionBlock("v1", "stable", a)+versionBlock("v2", "canary", b)+"\t\tdeploy v1\n\t\tfetch_allow 127.0.0.1\n"))

	// The only worker is chosen without --worker.
	status := cliMust(t, "status")
	for _, row := range []string{`(?m)^v1\s+100%\s+stable\s`, `(?m)^v2\s+-\s+canary\s`, `(?m)^Worker:\s+shop$`} {
		if !regexp.MustCompile(row).MatchString(status) {
			t.Errorf("status has no line like %s:\n%s", row, status)
		}
	}

	var v3 struct {
		ID          string            `json:"id"`
		Kind        string            `json:"kind"`
		Annotations map[string]string `json:"annotations"`
	}
	cliJSON(t, &v3, "versions", "upload", "--upstream", c.addr(), "--tag", "third", "--message", "the third", "-w", "shop")
	if v3.ID == "" || v3.Kind != "upstream" || v3.Annotations["workers/tag"] != "third" {
		t.Fatalf("uploaded version: %+v", v3)
	}
	var versions []struct {
		ID string `json:"id"`
	}
	cliJSON(t, &versions, "versions", "list")
	if len(versions) != 3 || versions[0].ID != v3.ID {
		t.Errorf("versions, newest first: %+v, want %s first of 3", versions, v3.ID)
	}
	if list := cliMust(t, "versions", "list"); !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(v3.ID) + `\s.*\supload\s+upstream\s+third\s+the third$`).MatchString(list) {
		t.Errorf("versions list:\n%s", list)
	}
	// An uploaded version takes no traffic until it is deployed.
	if counts := cliServed(t, addr, 20); counts["a"] != 20 {
		t.Errorf("before the deployment: %v", counts)
	}

	out := cliMust(t, "versions", "deploy", "v1@50%", v3.ID+"@50%", "--message", "half to c")
	if want := "v1@50% " + v3.ID + "@50%"; !strings.Contains(out, want) {
		t.Errorf("deploy printed %q, want the split %q", out, want)
	}
	if counts := cliServed(t, addr, 200); counts["a"] < 50 || counts["c"] < 50 || counts["b"] != 0 {
		t.Errorf("at v1@50%% v3@50%%: %v", counts)
	}
	cliMust(t, "versions", "deploy", v3.ID, "--message", "all to c")
	if counts := cliServed(t, addr, 20); counts["c"] != 20 {
		t.Errorf("at v3@100%%: %v", counts)
	}
	if d := cliActive(t); d.split() != v3.ID+"@100" || d.Source != "api" || d.Annotations["workers/message"] != "all to c" {
		t.Errorf("active deployment %+v", d)
	}

	var history struct {
		Deployments []cliDeployment `json:"deployments"`
	}
	cliJSON(t, &history, "deployments", "list")
	var messages []string
	for _, d := range history.Deployments {
		messages = append(messages, d.Annotations["workers/message"])
	}
	if len(messages) < 3 || messages[0] != "all to c" || messages[1] != "half to c" {
		t.Errorf("deployment messages, newest first: %q", messages)
	}
	if table := cliMust(t, "deployments", "list"); !regexp.MustCompile(`(?m)^\S+ \S+\s+api\s+.*` + regexp.QuoteMeta(v3.ID) + `@100%\s+all to c$`).MatchString(table) {
		t.Errorf("deployments list:\n%s", table)
	}

	// Without an ID, rollback returns to the newest earlier version that
	// served all traffic: v1, from the Caddyfile.
	if out := cliMust(t, "rollback", "--message", "c is slow"); !strings.Contains(out, "v1@100%") {
		t.Errorf("rollback printed %q", out)
	}
	if d := cliActive(t); d.split() != "v1@100" || d.Source != "rollback" {
		t.Errorf("after rollback: %+v", d)
	}
	if counts := cliServed(t, addr, 20); counts["a"] != 20 {
		t.Errorf("after rollback: %v", counts)
	}
	cliMust(t, "rollback", "v2")
	if counts := cliServed(t, addr, 20); counts["b"] != 20 {
		t.Errorf("after rollback to v2: %v", counts)
	}
	if status := cliMust(t, "status"); !regexp.MustCompile(`(?m)^v2\s+100%\s+canary\s+\d+`).MatchString(status) {
		t.Errorf("status after rollback to v2:\n%s", status)
	}
}

func TestCLIScriptVersion(t *testing.T) {
	a := newUpstream(t, "a")
	addr := freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "stable", a)))
	script := filepath.Join(t.TempDir(), "worker.js")
	cliWriteFile(t, script, `export default {
	async fetch(request, env) {
		return new Response("script " + env.GREETING);
	},
};
`)

	var v struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	}
	cliJSON(t, &v, "versions", "upload", "--script", script, "--var", "GREETING=hi", "--tag", "js")
	if v.ID == "" || v.Kind != "script" {
		t.Fatalf("uploaded version: %+v", v)
	}
	cliMust(t, "versions", "deploy", v.ID)
	if _, body := get(t, "http://"+addr+"/", nil); body != "script hi" {
		t.Errorf("the script version answered %q", body)
	}
}

func TestCLIErrors(t *testing.T) {
	a := newUpstream(t, "a")
	addr := freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "stable", a)))
	bad := filepath.Join(t.TempDir(), "bad.js")
	cliWriteFile(t, bad, "export default { fetch( {\n")

	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"sum not 100", []string{"versions", "deploy", "v1@50%"}, "percentages add up to 50%, not 100%"},
		{"unknown worker", []string{"status", "-w", "nope"}, `no worker named "nope"`},
		{"unknown version", []string{"versions", "deploy", "nope@100%"}, "nope"},
		{"script that does not compile", []string{"versions", "upload", "--script", bad}, "Error: "},
		{"tail of an unknown version", []string{"tail", "--version-id", "nope"}, `"nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := cliGradual(t, tc.args...)
			if code != 1 || !strings.HasPrefix(errOut, "Error: ") || !strings.Contains(errOut, tc.err) {
				t.Errorf("exit %d, stderr %q; want exit 1 and an error with %q", code, errOut, tc.err)
			}
			if out != "" {
				t.Errorf("stdout %q after an error", out)
			}
		})
	}
	// Not even --worker is needed to find out that nothing listens.
	if _, errOut, code := cliRunCaddy(t, "gradual", "status", "--address", freeAddr()); code != 1 || !strings.Contains(errOut, "Error: cannot reach Caddy's admin API") {
		t.Errorf("without an admin API: exit %d, stderr %q", code, errOut)
	}
	// None of them changed anything.
	if d := cliActive(t); d.split() != "v1@100" {
		t.Errorf("deployment after failed commands: %+v", d)
	}
}

func TestCLIConfigAddress(t *testing.T) {
	a := newUpstream(t, "a")
	loadCaddyfile(t, site(freeAddr(), versionBlock("v1", "stable", a)))
	// Like `caddy stop` and `caddy reload`, the subcommands find the admin
	// API in the config when there is no --address.
	config := filepath.Join(t.TempDir(), "Caddyfile")
	cliWriteFile(t, config, fmt.Sprintf("{\n\tadmin %s\n}\n", adminAddr))
	out, errOut, code := cliRunCaddy(t, "gradual", "status", "--config", config)
	if code != 0 || !strings.Contains(out, "Worker:") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestCLITail(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	addr := freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "tag-a", a)+versionBlock("v2", "tag-b", b)+"\t\tdeploy v1@50% v2@50%\n"))
	send := func(version string) {
		get(t, "http://"+addr+"/path?q=1", http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="` + version + `"`}})
	}

	t.Run("text", func(t *testing.T) {
		lines := cliStartTail(t, "tail")
		send("v1")
		send("v2")
		for _, want := range []string{"v1 (tag-a)", "v2 (tag-b)"} {
			line := cliNextLine(t, lines)
			re := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z  ` + regexp.QuoteMeta(want) +
				`  override  GET http://` + regexp.QuoteMeta(addr) + `/path\?q=1  200  ok$`)
			if !re.MatchString(line) {
				t.Errorf("tail line %q, want one like %s", line, re)
			}
		}
	})

	t.Run("json of one version", func(t *testing.T) {
		lines := cliStartTail(t, "tail", "--json", "--version-id", "v2")
		send("v1")
		send("v2")
		var ev struct {
			ScriptVersion struct {
				ID string `json:"id"`
			} `json:"scriptVersion"`
			Outcome string `json:"outcome"`
		}
		line := cliNextLine(t, lines)
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.ScriptVersion.ID != "v2" || ev.Outcome != "ok" {
			t.Errorf("tail --json line %q: %+v %v", line, ev, err)
		}
	})
}

// cliStartTail starts `caddy gradual args...` (a tail), waits until it is
// connected and returns its output lines. At the end of the test it is
// interrupted as with Ctrl-C, and must exit with status 0.
func cliStartTail(t *testing.T, args ...string) <-chan string {
	t.Helper()
	cmd := exec.Command(builtCaddy(t), append(append([]string{"gradual"}, args...), "--address", adminAddr)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("tail after Ctrl-C: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("tail did not stop on Ctrl-C")
		}
	})
	// The banner comes once the admin API has answered, and it subscribes
	// before it answers: from then on, no event is missed.
	banner, stderrDone := make(chan string, 1), make(chan struct{})
	go func() {
		defer close(stderrDone)
		r := bufio.NewReader(stderr)
		line, _ := r.ReadString('\n')
		banner <- line
		io.Copy(io.Discard, r)
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		// Wait closes the pipes, so it must come after every read.
		<-stderrDone
		exited <- cmd.Wait()
	}()
	select {
	case line := <-banner:
		if !strings.HasPrefix(line, "Tailing worker shop") {
			t.Fatalf("tail started with %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not connect")
	}
	return lines
}

// cliNextLine returns the next line of a tail, failing after a timeout.
func cliNextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatal("the tail ended")
		}
		return line
	case <-time.After(5 * time.Second):
		t.Fatal("no tail line within 5s")
	}
	return ""
}

// cliWriteFile writes a file the test needs.
func cliWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCLIThroughGradualAPI: `caddy gradual` works against a site serving
// the gradual_api handler, with its bearer token from --token or
// $GRADUAL_API_TOKEN, and is refused without it.
func TestCLIThroughGradualAPI(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	addr, apiAddr := freeAddr(), freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "stable", a)+versionBlock("v2", "canary", b)+"\t\tdeploy v1\n")+
		fmt.Sprintf("http://%s {\n\tgradual_api {\n\t\ttoken s3cret\n\t}\n}\n", apiAddr))
	url := "http://" + apiAddr
	if out, errOut, code := cliRunCaddy(t, "gradual", "status", "-w", "shop", "--address", url); code == 0 || !strings.Contains(errOut, "401") && !strings.Contains(strings.ToLower(errOut), "token") {
		t.Fatalf("without a token: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := cliRunCaddy(t, "gradual", "versions", "deploy", "v1@50%", "v2@50%", "-w", "shop", "--address", url, "--token", "s3cret")
	if code != 0 {
		t.Fatalf("deploy with --token: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("GRADUAL_API_TOKEN", "s3cret")
	status, errOut, code := cliRunCaddy(t, "gradual", "status", "-w", "shop", "--address", url)
	if code != 0 || !regexp.MustCompile(`(?m)^v2\s+50%`).MatchString(status) {
		t.Fatalf("status with $GRADUAL_API_TOKEN: exit %d\n%s%s", code, status, errOut)
	}
}
