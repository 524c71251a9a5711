package gradualcmd

import (
	"net/http"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/splitter"
)

// rollbackCommand returns `caddy gradual rollback`.
func rollbackCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback [<version id>] [--message <text>]",
		Short: "Sends all of a worker's traffic back to an earlier version",
		Long: `
Deploys one version to all traffic: the given one, or without an ID the
newest earlier version that served 100%.
`,
		Args: cobra.MaximumNArgs(1),
	}
	cmd.Flags().String("message", "", "Why the rollback was made; kept in the deployment history")
	cmd.RunE = run(func(s *session, cmd *cobra.Command, args []string) error {
		var body api.RollbackRequest
		if len(args) == 1 {
			if err := splitter.ValidateID(args[0]); err != nil {
				return err
			}
			body.VersionID = args[0]
		}
		body.Message, _ = cmd.Flags().GetString("message")
		return call(s, http.MethodPost, "rollback", body, s.printDeployment("Rolled back"))
	})
	return cmd
}
