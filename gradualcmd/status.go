package gradualcmd

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
)

// statusCommand returns `caddy gradual status`.
func statusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Shows a worker's deployment, each version's live stats, and the fleet",
		Long: `
Shows the active deployment of a worker and, for each of its versions, its
share of traffic, tag, request and error counts since Caddy started, and
its error rate and p50/p99 latency over the last minute or so (the window
is printed). Versions that are uploaded but not deployed show "-".

Then the fleet: every Caddy sharing the storage, with the deployment it
serves and since when, when it was last seen, and its last error. A node
not seen for 3 poll intervals shows as gone; one that failed to apply a
change keeps serving what it served and shows why.
`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = run(func(s *session, _ *cobra.Command, _ []string) error {
		return call(s, http.MethodGet, "", nil, func(_ string, w *api.Worker) error {
			return printStatus(s.out, w)
		})
	})
	return cmd
}

// printStatus writes the human-readable status of w: a header about its
// deployment, then one row per version, deployed versions first in the
// deployment's order.
func printStatus(out io.Writer, w *api.Worker) error {
	head := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row(head, "Worker:", w.Name)
	pct := map[string]float64{}
	var order []string
	if d := w.Deployment; d != nil {
		row(head, "Deployment:", describe(d))
		if by := d.Annotations["workers/triggered_by"]; by != "" {
			row(head, "Triggered by:", by)
		}
		if msg := d.Annotations["workers/message"]; msg != "" {
			row(head, "Message:", msg)
		}
		for _, e := range d.Versions {
			pct[e.VersionID] = e.Percentage
			order = append(order, e.VersionID)
		}
	} else {
		row(head, "Deployment:", "none")
	}
	for _, st := range w.Stats {
		if st != nil && st.WindowSeconds > 0 {
			row(head, "Window:", fmt.Sprintf("%ds (error rate, p50, p99)", st.WindowSeconds))
			break
		}
	}
	if err := head.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out); err != nil {
		return err
	}

	byID := make(map[string]api.Version, len(w.Versions))
	for _, v := range w.Versions {
		byID[v.ID] = v
		if _, deployed := pct[v.ID]; !deployed {
			order = append(order, v.ID)
		}
	}
	tw := table(out, "VERSION", "PERCENT", "TAG", "REQUESTS", "ERRORS", "ERROR RATE", "P50", "P99")
	for _, id := range order {
		share := "-"
		if p, ok := pct[id]; ok {
			share = formatPercent(p)
		}
		requests, errs, rate, p50, p99 := "-", "-", "-", "-", "-"
		if st := w.Stats[id]; st != nil {
			requests, errs = strconv.FormatUint(st.Requests, 10), strconv.FormatUint(st.Errors, 10)
			// With no request in the window, a rate or latency of 0 would
			// look like a measurement; there is none.
			if st.WindowRequests > 0 {
				rate = strconv.FormatFloat(100*st.ErrorRate, 'f', 2, 64) + "%"
				p50, p99 = formatMs(st.P50Ms), formatMs(st.P99Ms)
			}
		}
		row(tw, id, share, byID[id].Annotations["workers/tag"], requests, errs, rate, p50, p99)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return printNodes(out, w.Nodes)
}

// printNodes prints the fleet view.
func printNodes(out io.Writer, nodes []api.Node) error {
	if len(nodes) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(out); err != nil {
		return err
	}
	tw := table(out, "NODE", "DEPLOYMENT", "SINCE", "LAST SEEN", "STATE")
	for _, n := range nodes {
		state := "ok"
		switch {
		case n.Gone:
			state = "gone"
		case n.LastError != "":
			state = "error: " + n.LastError
		}
		since := "-"
		if !n.Since.IsZero() {
			since = n.Since.UTC().Format(time.DateTime + "Z")
		}
		row(tw, n.ID, cmp.Or(n.Deployment, "config"), since, n.LastSeen.UTC().Format(time.DateTime+"Z"), state)
	}
	return tw.Flush()
}
