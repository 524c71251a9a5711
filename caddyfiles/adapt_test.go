package caddyfiles_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-gradual/gradual/caddymodule"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/adapt with the current output")

const separator = "----------"

// TestAdapt checks each golden file in testdata/adapt: a Caddyfile, a line
// of ten dashes, then either the JSON that `caddy adapt` must print or
// `error: ` and the exact error it must fail with.
func TestAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files found")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(raw), "\n"+separator+"\n")
			if !ok {
				t.Fatalf("%s: no %s line", file, separator)
			}
			input += "\n"
			want = strings.TrimSpace(want)

			if strings.HasPrefix(want, "error: ") || (*update && strings.HasPrefix(want, "error")) {
				got := adaptError(input)
				if *update {
					writeGolden(t, file, input, "error: "+got)
					return
				}
				if got != strings.TrimPrefix(want, "error: ") {
					t.Errorf("adapt error\n got: %s\nwant: %s", got, strings.TrimPrefix(want, "error: "))
				}
				return
			}

			if *update {
				out, _, err := adapt(input)
				if err != nil {
					t.Fatal(err)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, out, "", "\t"); err != nil {
					t.Fatal(err)
				}
				writeGolden(t, file, input, pretty.String())
				return
			}
			if !caddytest.CompareAdapt(t, file, input, "caddyfile", want) {
				t.Error("adapted JSON differs from the golden file")
			}
			out, _, err := adapt(input)
			if err != nil {
				t.Fatal(err)
			}
			validate(t, out)
		})
	}
}

// TestExamples checks that every example Caddyfile users may copy adapts
// without warnings and provisions: versions load, deployments are valid.
func TestExamples(t *testing.T) {
	// Script paths in the examples are relative to the repository root,
	// where the README runs them from.
	t.Chdir("..")
	files, err := filepath.Glob("caddyfiles/*.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example Caddyfiles found")
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := adapt(string(raw))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s:%d: %s", w.File, w.Line, w.Message)
			}
			validate(t, out)
		})
	}
}

func adapt(input string) ([]byte, []caddyconfig.Warning, error) {
	return caddyconfig.GetAdapter("caddyfile").Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
}

func adaptError(input string) string {
	if _, _, err := adapt(input); err != nil {
		return err.Error()
	}
	return "<none>"
}

// validate provisions the adapted config without starting servers, as
// `caddy validate` does. Provisioning starts reverse_proxy's health
// checkers, so every upstream is first pointed at a loopback server:
// tests dial nothing else.
func validate(t *testing.T, cfgJSON []byte) {
	t.Helper()
	var tree any
	if err := json.Unmarshal(cfgJSON, &tree); err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(upstream.Close)
	redial(tree, upstream.Listener.Addr().String())
	cfgJSON, err := json.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Errorf("config does not provision: %v", err)
	}
}

// redial sets every "dial" address in a decoded JSON config to addr.
func redial(node any, addr string) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if _, ok := v.(string); ok && k == "dial" {
				n[k] = addr
				continue
			}
			redial(v, addr)
		}
	case []any:
		for _, v := range n {
			redial(v, addr)
		}
	}
}

func writeGolden(t *testing.T, file, input, output string) {
	t.Helper()
	content := strings.TrimSuffix(input, "\n") + "\n" + separator + "\n" + output + "\n"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAdaptDeepNesting checks that adapting a Caddyfile whose script nests
// deeply enough to overflow a parser's Go stack fails with an error that
// names the script, instead of killing the process (issue 9, item 2).
func TestAdaptDeepNesting(t *testing.T) {
	script := filepath.Join(t.TempDir(), "deep.js")
	src := "export default { fetch() { return new Response(String(" + strings.Repeat("[", 200_000) + strings.Repeat("]", 200_000) + ")) } };"
	if err := os.WriteFile(script, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got := adaptError(":8080 {\n\tgradual hello {\n\t\tversion v1 {\n\t\t\tscript " + script + "\n\t\t}\n\t}\n}\n")
	for _, want := range []string{"deep.js", "nested too deeply", "Caddyfile:4"} {
		if !strings.Contains(got, want) {
			t.Errorf("error %q lacks %q", got, want)
		}
	}
}
