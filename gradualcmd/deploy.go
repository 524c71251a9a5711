package gradualcmd

import (
	"errors"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/splitter"
)

// deployCommand returns `caddy gradual versions deploy`.
func deployCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy <id>@<percent>% ... [--message <text>]",
		Short: "Splits a worker's traffic between versions, live",
		Long: `
Makes a new deployment: each argument is a version ID and its share of
traffic, as in the Caddyfile's deploy subdirective, such as

	caddy gradual versions deploy 1f0e3c7a@90% 9b2d44e1@10%

Percentages have at most two decimals and must add up to 100. A lone <id>
deploys that version to all traffic. The change takes effect at once,
without a reload, and requests in flight finish on their version.
`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("give at least one <version id>@<percent>%, or a lone <version id> for 100%")
			}
			return nil
		},
	}
	cmd.Flags().String("message", "", "Why the deployment was made; kept in the deployment history")
	cmd.RunE = run(func(s *session, cmd *cobra.Command, args []string) error {
		// The Caddyfile's grammar and checks, so that a typo is reported
		// before anything is sent.
		entries, err := splitter.ParseDeploy(args)
		if err != nil {
			return err
		}
		body := api.DeployRequest{Strategy: "percentage", Versions: make([]api.DeploymentVersion, len(entries))}
		for i, e := range entries {
			body.Versions[i] = api.DeploymentVersion{VersionID: e.ID, Percentage: e.Weight.Percent()}
		}
		if msg, _ := cmd.Flags().GetString("message"); msg != "" {
			body.Annotations = map[string]string{"workers/message": msg}
		}
		return call(s, http.MethodPost, "deployments", body, s.printDeployment("Deployed"))
	})
	return cmd
}
