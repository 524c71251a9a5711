package gradualcmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
)

// uploadCommand returns `caddy gradual versions upload`.
func uploadCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upload (--script <file> | --upstream <addr>...) [--tag <tag>] [--message <text>] [--var <key>=<value>...]",
		Short: "Uploads a new version of a worker without deploying it",
		Long: `
Uploads a new version of a worker: a script (compiled by Caddy before it is
accepted) or a list of upstream addresses to proxy to. The version takes no
traffic until it is deployed with 'caddy gradual versions deploy'; until
then it can be reached with the version override header. Prints the new
version's ID.

--script - reads the script from standard input.
`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("script", "", "File with the version's JavaScript or TypeScript code (- for standard input)")
	f.StringArray("upstream", nil, "Address to proxy the version's requests to, instead of a script (repeatable)")
	f.String("tag", "", "Short label for the version, such as a release number")
	f.String("message", "", "Description of the version")
	f.StringArray("var", nil, "Plain-text environment binding <key>=<value> for the script (repeatable)")
	cmd.RunE = run(func(s *session, cmd *cobra.Command, _ []string) error {
		body, err := uploadBody(cmd)
		if err != nil {
			return err
		}
		return call(s, http.MethodPost, "versions", body, func(worker string, v *api.Version) error {
			_, err := fmt.Fprintf(s.out, "Uploaded version %s of worker %s.\n", v.ID, worker)
			return err
		})
	})
	return cmd
}

// uploadBody builds the body of a version upload from the flags of cmd,
// checking them before anything is sent.
func uploadBody(cmd *cobra.Command) (*api.UploadRequest, error) {
	f := cmd.Flags()
	script, _ := f.GetString("script")
	upstreams, _ := f.GetStringArray("upstream")
	vars, _ := f.GetStringArray("var")
	tag, _ := f.GetString("tag")
	message, _ := f.GetString("message")
	body := &api.UploadRequest{Tag: tag, Message: message}
	switch {
	case script != "" && len(upstreams) > 0:
		return nil, errors.New("give either --script or --upstream, not both")
	case script == "" && len(upstreams) == 0:
		return nil, errors.New("give the version's code with --script <file> or its upstreams with --upstream <addr>")
	case len(upstreams) > 0:
		if len(vars) > 0 {
			return nil, errors.New("--var applies only to --script versions")
		}
		for _, u := range upstreams {
			if strings.TrimSpace(u) == "" {
				return nil, errors.New("--upstream needs an address")
			}
		}
		body.Upstreams = upstreams
		return body, nil
	}
	src, err := readScript(cmd, script)
	if err != nil {
		return nil, err
	}
	body.Script = src
	// The file's name tells the server TypeScript from JavaScript and
	// names the script in stacks.
	if name := filepath.Base(script); script != "-" && api.ValidModuleName(name) {
		body.MainModule = name
	}
	if body.Vars, err = parseVars(vars); err != nil {
		return nil, err
	}
	return body, nil
}

// readScript reads the script named by --script; "-" is standard input,
// as for Caddy's own file arguments.
func readScript(cmd *cobra.Command, path string) (string, error) {
	var src []byte
	var err error
	if path == "-" {
		src, err = io.ReadAll(cmd.InOrStdin())
	} else {
		src, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("reading the script: %w", err)
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return "", fmt.Errorf("the script %s is empty", path)
	}
	return string(src), nil
}

// parseVars parses --var flags; a key given twice is an error rather than
// a silent override, since it is almost always a typo.
func parseVars(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	vars := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--var %q: expected <key>=<value>", kv)
		}
		if _, dup := vars[k]; dup {
			return nil, fmt.Errorf("--var %s is given more than once", k)
		}
		vars[k] = v
	}
	return vars, nil
}
