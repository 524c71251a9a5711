package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// caddyProc is a Caddy process with the module, on loopback ports.
type caddyProc struct {
	cmd   *exec.Cmd
	admin string
	mu    sync.Mutex
	logs  bytes.Buffer
	exit  chan error
}

func (p *caddyProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *caddyProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// exited reports whether the process has ended, and how.
func (p *caddyProc) exited() (bool, error) {
	select {
	case err := <-p.exit:
		p.exit <- err
		return true, err
	default:
		return false, nil
	}
}

// startCaddy runs the built Caddy on a Caddyfile whose global options name
// admin and storage, behind the wrapper command (such as prlimit) if any,
// and waits until addr answers.
func startCaddy(t *testing.T, storage, addr, body string, wrapper ...string) *caddyProc {
	t.Helper()
	p := &caddyProc{admin: freeAddr(), exit: make(chan error, 1)}
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	global := fmt.Sprintf("{\n\tadmin %s\n\tauto_https off\n\tstorage file_system %s\n}\n", p.admin, storage)
	if err := os.WriteFile(cfg, []byte(global+site(addr, body)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(wrapper, builtCaddy(t), "run", "--config", cfg)
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exit <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exit
	})
	waitFor(t, 30*time.Second, func() bool {
		resp, _, err := tryGet("http://"+addr+"/", nil)
		return err == nil && resp.StatusCode == 200
	}, func() string { return "caddy did not come up:\n" + p.output() })
	return p
}

type nodeJSON struct {
	ID         string    `json:"id"`
	Deployment string    `json:"deployment"`
	Since      time.Time `json:"since"`
	LastError  string    `json:"last_error"`
	LastSeen   time.Time `json:"last_seen"`
	Gone       bool      `json:"gone"`
}

func nodes(t *testing.T, admin string) []nodeJSON {
	t.Helper()
	var w struct {
		Nodes []nodeJSON `json:"nodes"`
	}
	apiGet(t, admin, "/gradual/workers/shop", &w)
	return w.Nodes
}

// TestFleet runs two Caddy processes on one file-system storage whose state
// document is corrupt: both serve the config and report the corruption. A
// deployment made through A repairs the document; B serves it within 2
// poll intervals, and the fleet view shows both nodes on it.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a second Caddy process")
	}
	const interval = time.Second
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	storage := storageFor(t)
	stateDir := filepath.Join(storage, "gradual", "workers", "shop")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stateDir, "state.json"), []byte(`{"deployments": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	body := versionBlock("v1", "a", a) + versionBlock("v2", "b", b) + "\t\tdeploy v1\n\t\tpoll_interval 1s\n"
	addrA, addrB := freeAddr(), freeAddr()
	loadCaddyfile(t, site(addrA, body))
	procB := startCaddy(t, storage, addrB, body)

	for _, addr := range []string{addrA, addrB} {
		if _, got := get(t, "http://"+addr+"/", nil); got != "a" {
			t.Fatalf("%s on a corrupt state served %q, want the config's v1", addr, got)
		}
	}
	waitFor(t, 3*interval, func() bool {
		ns := nodes(t, adminAddr)
		return len(ns) == 2 && strings.Contains(ns[0].LastError, "corrupt") && strings.Contains(ns[1].LastError, "corrupt")
	}, func() string {
		return fmt.Sprintf("the nodes do not report the corrupt state: %+v", nodes(t, adminAddr))
	})

	status, result, msg := api(t, http.MethodPost, "/gradual/workers/shop/deployments", map[string]any{
		"versions": []map[string]any{{"version_id": "v2", "percentage": 100}},
	})
	if status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", status, msg)
	}
	answered := time.Now()
	var d deploymentJSON
	json.Unmarshal(result, &d)
	// Accepted means served: A serves it as the answer arrives.
	if _, got := get(t, "http://"+addrA+"/", nil); got != "b" {
		t.Fatalf("A answered 201 and serves %q", got)
	}
	waitFor(t, 2*interval, func() bool {
		_, got, err := tryGet("http://"+addrB+"/", nil)
		return err == nil && got == "b"
	}, func() string { return "B did not serve the deployment within 2 poll intervals:\n" + procB.output() })
	t.Logf("B converged %v after the answer", time.Since(answered).Round(10*time.Millisecond))

	waitFor(t, 3*interval, func() bool {
		ns := nodes(t, procB.admin)
		return len(ns) == 2 && ns[0].Deployment == d.ID && ns[1].Deployment == d.ID &&
			ns[0].LastError == "" && ns[1].LastError == "" && !ns[0].Gone && !ns[1].Gone
	}, func() string {
		return fmt.Sprintf("fleet view %+v, want both nodes on %s", nodes(t, procB.admin), d.ID)
	})

	// `caddy gradual status` prints the fleet.
	out, errOut, code := cliRunCaddy(t, "gradual", "status", "-w", "shop", "--address", procB.admin)
	if code != 0 || strings.Count(out, d.ID) < 3 || !strings.Contains(out, "NODE") {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}

	// B stops: after 3 poll intervals it shows as gone.
	procB.cmd.Process.Kill()
	<-procB.exit
	procB.exit <- nil
	waitFor(t, 5*interval, func() bool {
		gone := 0
		for _, n := range nodes(t, adminAddr) {
			if n.Gone {
				gone++
			}
		}
		return gone == 1
	}, func() string { return fmt.Sprintf("fleet view %+v, want B gone", nodes(t, adminAddr)) })
}
