package gradualcmd

import (
	"net/http"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
)

// versionsListCommand returns `caddy gradual versions list`.
func versionsListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists the versions of a worker, newest first",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = run(func(s *session, _ *cobra.Command, _ []string) error {
		return call(s, http.MethodGet, "versions", nil, func(_ string, versions *[]api.Version) error {
			tw := table(s.out, "ID", "CREATED", "SOURCE", "KIND", "TAG", "MESSAGE")
			for _, v := range *versions {
				row(tw, v.ID, formatTime(v.CreatedOn), v.Source, v.Kind, v.Annotations["workers/tag"], v.Annotations["workers/message"])
			}
			return tw.Flush()
		})
	})
	return cmd
}
