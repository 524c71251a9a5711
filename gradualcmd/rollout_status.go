package gradualcmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
)

// now and watchEvery are variables so that tests can fix the time the
// status is shown at and redraw without waiting.
var (
	now        = time.Now
	watchEvery = time.Second
)

// barWidth is the number of cells of a step's progress bar.
const barWidth = 20

// rolloutStatusCommand returns `caddy gradual rollout status`.
func rolloutStatusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [--watch] [--json]",
		Short: "Shows a worker's rollout: its step, the next decision, and its figures",
		Long: `
Shows the worker's rollout, running or ended: the canary and the stable
version, the state (running, paused, succeeded, rolled_back or aborted),
the step and the canary's share, the time to the next decision, the policy,
the last judgement and why the rollout last did what it did. A progress bar
per step shows the steps done, how much of the current step's interval has
passed, and the steps to come. Then the figures of the current step so far
and of the last judged one, for the canary and the stable version, summed
over every Caddy on the storage: requests, errors, error rate and p99.

--watch redraws it every second until the rollout ends or Ctrl-C, and then
exits with status 0 if the rollout succeeded, 1 if it was rolled back or
aborted (and 0 on Ctrl-C), so that a script can wait for it. When the
output is not a terminal, each redraw is printed after the previous one.
--json prints the rollout as the admin API returns it; with --watch, one
JSON object per line.
`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().Bool("watch", false, "Redraw every second until the rollout ends; exit 1 if it was rolled back or aborted")
	cmd.RunE = run(func(s *session, cmd *cobra.Command, _ []string) error {
		if watch, _ := cmd.Flags().GetBool("watch"); watch {
			return s.watchRollout(cmd.ErrOrStderr())
		}
		return call(s, http.MethodGet, "rollout", nil, func(worker string, r *api.Rollout) error {
			return printRollout(s.out, worker, r, now())
		})
	})
	return cmd
}

// watchRollout shows the worker's rollout every watchEvery until it ends
// or the user interrupts. The end is the command's outcome: a rollout
// rolled back or aborted is an error, so that caddy exits with status 1.
func (s *session) watchRollout(stderr io.Writer) error {
	name, err := s.workerName()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(s.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	path := api.WorkerPath(name, "rollout")
	redraw := isTerminal(s.out)
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	for first := true; ; first = false {
		raw, err := s.client.Call(ctx, http.MethodGet, path, nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var r api.Rollout
		if err := json.Unmarshal(raw, &r); err != nil {
			return s.client.Unexpected(err)
		}
		if first {
			// The banner goes to standard error so that standard output
			// holds only the rollout, ready for a pipe.
			fmt.Fprintf(stderr, "Watching the rollout of worker %s; press Ctrl-C to stop.\n", name)
		}
		var b bytes.Buffer
		switch {
		case s.json:
			if err := json.Compact(&b, raw); err != nil {
				return s.client.Unexpected(err)
			}
			b.WriteByte('\n')
		default:
			if redraw {
				// Home and clear screen: the new block replaces the old.
				b.WriteString("\x1b[H\x1b[2J")
			} else if !first {
				b.WriteByte('\n')
			}
			if err := printRollout(&b, name, &r, now()); err != nil {
				return err
			}
		}
		// One write per block, so that a terminal never shows half of one.
		if _, err := s.out.Write(b.Bytes()); err != nil {
			return err
		}
		if err := rolloutOutcome(&r); err != nil || r.Status == "succeeded" {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// rolloutOutcome returns the error that --watch ends with when the rollout
// was rolled back or aborted, and nil otherwise.
func rolloutOutcome(r *api.Rollout) error {
	var what string
	switch r.Status {
	case "rolled_back":
		what = "rolled back"
	case "aborted":
		what = "aborted"
	default:
		return nil
	}
	reason := clean(r.Reason)
	// The server's reasons start with what happened ("rolled back at 10%
	// (step 2/4): …", "aborted: …"), which need not be said twice.
	if strings.HasPrefix(reason, what) {
		return fmt.Errorf("the rollout of %s %s", clean(r.Canary), reason)
	}
	msg := fmt.Sprintf("the rollout of %s was %s", clean(r.Canary), what)
	if reason != "" {
		msg += ": " + reason
	}
	return errors.New(msg)
}

// isTerminal reports whether out is a terminal, where --watch may redraw
// in place.
func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printRollout writes the human-readable view of the worker's rollout r as
// of at: a summary, a progress bar per step, and the figures of the
// current and the last judged step.
func printRollout(out io.Writer, worker string, r *api.Rollout, at time.Time) error {
	head := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row(head, "Worker:", worker)
	row(head, "Rollout:", r.ID)
	row(head, "Canary:", r.Canary)
	row(head, "Stable:", r.Stable)
	row(head, "State:", r.Status)
	step := fmt.Sprintf("%d/%d, canary at %s", r.Step, len(r.Steps), formatPercent(r.Share))
	if r.Status == "rolled_back" || r.Status == "aborted" {
		// The share is the step's; the canary no longer has it.
		step = fmt.Sprintf("%d/%d (%s) when it ended", r.Step, len(r.Steps), formatPercent(r.Share))
	}
	row(head, "Step:", step)
	if r.NextDecision != nil {
		row(head, "Next decision:", untilDecision(*r.NextDecision, at)+" ("+formatTime(*r.NextDecision)+")")
	}
	row(head, "Policy:", formatPolicy(&r.Policy))
	if l := r.Last; l != nil {
		row(head, "Last judgement:", strings.TrimSuffix(l.Verdict+": "+l.Reason, ": "))
	}
	if r.Reason != "" {
		row(head, "Reason:", r.Reason)
	}
	if err := head.Flush(); err != nil {
		return err
	}

	if len(r.Steps) > 0 {
		if _, err := fmt.Fprintln(out); err != nil {
			return err
		}
		tw := table(out, "STEP", "SHARE", "PROGRESS")
		for i, share := range r.Steps {
			bar, label := stepProgress(r, i+1, at)
			row(tw, strconv.Itoa(i+1), formatPercent(share), bar+"  "+label)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	if r.Current == nil && r.Last == nil {
		return nil
	}
	if _, err := fmt.Fprintln(out); err != nil {
		return err
	}
	tw := table(out, "FIGURES", "VERSION", "REQUESTS", "ERRORS", "ERROR RATE", "P99")
	figures := func(span string, f *api.RolloutFigures) {
		for _, v := range []struct {
			id, role string
			c        api.RolloutCounts
		}{{r.Canary, "canary", f.Canary}, {r.Stable, "stable", f.Stable}} {
			rate, p99 := "-", "-"
			// With no request, a rate or latency of 0 would look like a
			// measurement; there is none.
			if v.c.Requests > 0 {
				rate = strconv.FormatFloat(100*float64(v.c.Errors)/float64(v.c.Requests), 'f', 2, 64) + "%"
				p99 = formatMs(v.c.P99Ms)
			}
			row(tw, span, v.id+" ("+v.role+")", strconv.FormatUint(v.c.Requests, 10), strconv.FormatUint(v.c.Errors, 10), rate, p99)
		}
	}
	if r.Current != nil {
		figures(fmt.Sprintf("step %d so far", r.Step), r.Current)
	}
	if r.Last != nil {
		figures("last judged", &r.Last.Figures)
	}
	return tw.Flush()
}

// untilDecision says when a decision due at next comes, seen at at: "in
// 1m12s", rounded up to the second, or "due" once the time has come.
func untilDecision(next, at time.Time) string {
	d := next.Sub(at)
	if d <= 0 {
		return "due"
	}
	return "in " + formatDuration((d + time.Second - 1).Truncate(time.Second))
}

// formatDuration formats d as Go does, without zero minutes and seconds
// after larger units: "5m" rather than "5m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// formatPolicy summarises what a rollout judges by.
func formatPolicy(p *api.RolloutPolicy) string {
	s := fmt.Sprintf("every %s; rolls back on an error rate over %s and over stable's by %s",
		formatDuration(seconds(p.IntervalSeconds)), formatPercent(p.MaxErrorRate), formatPercent(p.Margin))
	if p.MaxLatencyP99Ms > 0 {
		s += ", or a p99 over " + formatMs(p.MaxLatencyP99Ms)
	}
	return s + fmt.Sprintf("; judges from %d requests a step", p.MinRequests)
}

// seconds converts seconds from the API to a Duration.
func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}

// stepProgress returns the progress bar of step (from 1) of r as of at,
// and a label: steps before the current one are done, later ones are
// empty, and the current one fills up to its next decision while the
// rollout runs, or says why it does not.
func stepProgress(r *api.Rollout, step int, at time.Time) (bar, label string) {
	switch {
	case r.Status == "succeeded" || step < r.Step:
		return progressBar(1, 1), "done"
	case step > r.Step:
		return progressBar(0, 1), ""
	case r.Status != "running":
		return progressBar(0, 1), strings.ReplaceAll(r.Status, "_", " ")
	}
	interval := seconds(r.Policy.IntervalSeconds)
	if interval <= 0 {
		return progressBar(0, 1), ""
	}
	// The interval ends at the next decision: a step extended for lack of
	// requests, or resumed after a pause, fills up again towards it.
	elapsed := at.Sub(r.StepStarted)
	if next := r.NextDecision; next != nil {
		if !at.Before(*next) {
			return progressBar(1, 1), "due"
		}
		elapsed = interval - next.Sub(at)
	}
	elapsed = min(max(elapsed, 0), interval)
	return progressBar(elapsed, interval), strconv.FormatInt(int64(100*elapsed/interval), 10) + "%"
}

// progressBar draws a bar filled to part of whole, such as
// "[#####---------------]".
func progressBar(part, whole time.Duration) string {
	full := int(barWidth * part / whole)
	return "[" + strings.Repeat("#", full) + strings.Repeat("-", barWidth-full) + "]"
}
