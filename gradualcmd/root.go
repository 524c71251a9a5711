// Package gradualcmd is `caddy gradual`: the commands that manage the live
// versions and deployments of gradual workers through Caddy's admin API,
// one file per subcommand, over internal/api's client. It registers itself
// with Caddy's command line when imported.
package gradualcmd

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "gradual",
		Usage: "<command> [--address <admin>] [--worker <name>] [--json]",
		Short: "Manages the live versions and deployments of gradual workers",
		Long: `
Manages the gradual workers of a running Caddy through its admin API:
upload a version, deploy it to a share of traffic, raise it, roll back,
roll it out in steps that are judged and rolled back automatically, and
watch live stats and request logs, without editing the config or
reloading.

The admin API is found as other Caddy commands find it: --address, else
the admin address of the config given with --config (and --adapter), else
localhost:2019. --address may also be the URL of a site serving the
gradual_api handler (https://deploy.example.com), whose bearer token is
--token or $GRADUAL_API_TOKEN. --worker names the worker; it may be left
out when Caddy runs exactly one. --json prints the API's result as JSON
instead of text.
`,
		CobraFunc: setup,
	})
}

// setup builds the `caddy gradual` command tree under cmd.
func setup(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("address", "", "The address of Caddy's admin API, if not the default or the config's, or the URL of a gradual_api handler")
	pf.String("token", "", "The bearer token of a gradual_api handler (default: $GRADUAL_API_TOKEN)")
	pf.StringP("config", "c", "", "Configuration file to read the admin address from, if --address is not used")
	pf.StringP("adapter", "a", "", "Name of the config adapter to apply (when --config is used)")
	pf.StringP("worker", "w", "", "Name of the worker; may be omitted when Caddy runs exactly one")
	pf.Bool("json", false, "Print JSON: the API's result, or for tail and rollout status --watch one object per line")

	versions := &cobra.Command{
		Use:   "versions",
		Short: "Uploads, lists and deploys the versions of a worker",
	}
	group(versions, uploadCommand(), versionsListCommand(), deployCommand())
	deployments := &cobra.Command{
		Use:   "deployments",
		Short: "Shows the deployment history of a worker",
	}
	group(deployments, deploymentsListCommand())
	group(cmd, versions, deployments, rollbackCommand(), statusCommand(), tailCommand(), rolloutCommand())
}

// group adds subs to cmd, which only groups them. Cobra's default for
// such a command prints its help and succeeds whatever follows, so that a
// mistyped subcommand would go unnoticed in a script; here it is an error.
func group(cmd *cobra.Command, subs ...*cobra.Command) {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	cmd.AddCommand(subs...)
}

// session is one run of a gradual subcommand: the admin API, the shared
// flags and where output goes.
type session struct {
	ctx    context.Context
	out    io.Writer
	client *api.Client
	worker string
	json   bool
}

// run adapts a subcommand to cobra: it reads the shared flags and finds
// the admin API as other Caddy commands do before it calls do.
func run(do func(s *session, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		fl := caddycmd.Flags{FlagSet: cmd.Flags()}
		addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
		if err != nil {
			return fmt.Errorf("finding the admin API address: %w", err)
		}
		client, err := api.NewClient(addr)
		if err != nil {
			return err
		}
		client.Token = cmp.Or(fl.String("token"), os.Getenv("GRADUAL_API_TOKEN"))
		defer client.Close()
		return do(&session{
			ctx:    cmd.Context(),
			out:    cmd.OutOrStdout(),
			client: client,
			worker: fl.String("worker"),
			json:   fl.Bool("json"),
		}, cmd, args)
	}
}

// workerName returns the worker named by --worker or, without it, the only
// worker Caddy runs.
func (s *session) workerName() (string, error) {
	if s.worker != "" {
		return s.worker, nil
	}
	raw, err := s.client.Call(s.ctx, http.MethodGet, "/gradual/workers", nil)
	if err != nil {
		return "", err
	}
	var workers []api.Worker
	if err := json.Unmarshal(raw, &workers); err != nil {
		return "", s.client.Unexpected(err)
	}
	switch len(workers) {
	case 1:
		return workers[0].Name, nil
	case 0:
		return "", fmt.Errorf("the Caddy at %s runs no gradual worker", s.client.Addr())
	}
	names := make([]string, len(workers))
	for i, w := range workers {
		names[i] = w.Name
	}
	return "", fmt.Errorf("the Caddy at %s runs %d workers (%s); choose one with --worker", s.client.Addr(), len(names), strings.Join(names, ", "))
}

// call sends a request about the worker (to sub under its API path) and
// prints the answer: with --json as the API sent it, else decoded into a T
// and handed to show with the worker's name.
func call[T any](s *session, method, sub string, body any, show func(worker string, v *T) error) error {
	name, err := s.workerName()
	if err != nil {
		return err
	}
	raw, err := s.client.Call(s.ctx, method, api.WorkerPath(name, sub), body)
	if err != nil {
		return err
	}
	if s.json {
		return s.printJSON(raw)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return s.client.Unexpected(err)
	}
	return show(name, &v)
}

// printJSON prints an API result for --json, indented for people but
// otherwise as the API sent it.
func (s *session) printJSON(raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return s.client.Unexpected(err)
	}
	b.WriteByte('\n')
	_, err := s.out.Write(b.Bytes())
	return err
}

// printDeployment returns the show func of deploy and rollback, which
// report the deployment they made.
func (s *session) printDeployment(verb string) func(string, *api.Deployment) error {
	return func(worker string, d *api.Deployment) error {
		_, err := fmt.Fprintf(s.out, "%s worker %s: %s (deployment %s).\n", verb, worker, split(d), dash(d.ID))
		return err
	}
}
