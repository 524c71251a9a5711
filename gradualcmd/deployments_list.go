package gradualcmd

import (
	"net/http"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
)

// deploymentsListCommand returns `caddy gradual deployments list`.
func deploymentsListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists the deployments of a worker, newest first",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = run(func(s *session, _ *cobra.Command, _ []string) error {
		return call(s, http.MethodGet, "deployments", nil, func(_ string, history *api.Deployments) error {
			tw := table(s.out, "CREATED", "SOURCE", "TRIGGERED BY", "SPLIT", "MESSAGE")
			for _, d := range history.Deployments {
				row(tw, formatTime(d.CreatedOn), d.Source, d.Annotations["workers/triggered_by"], split(d), d.Annotations["workers/message"])
			}
			return tw.Flush()
		})
	})
	return cmd
}
