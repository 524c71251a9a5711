package gradualcmd

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/splitter"
)

// rolloutCommand returns `caddy gradual rollout` and its subcommands.
func rolloutCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Moves a version to all traffic in steps, rolled back automatically when it fails",
		Long: `
A rollout moves one version, the canary, from its current share of traffic
to 100% in steps, while the version that serves the rest, the stable one,
keeps the remainder. At the end of each step the canary is judged over the
requests of that step, summed over every Caddy that shares the storage:

  - healthy: the next step is deployed;
  - unhealthy (its error rate is over max_error_rate and over stable's by
    the margin, or its p99 latency is over max_latency_p99): all traffic
    goes back to the stable version at once;
  - too few requests: the step is extended, not judged.

Exactly one Caddy of the fleet decides at a time, and every change the
rollout makes is a deployment in the history, triggered by auto_rollout
or auto_rollback, with the reason and its figures as its message.

The policy is the worker's rollout block in the Caddyfile, else the
defaults; the flags of start override it for one rollout. A deploy or a
rollback made by hand during a rollout ends it (aborted).
`,
	}
	group(cmd,
		rolloutStartCommand(),
		rolloutStatusCommand(),
		rolloutControlCommand("pause", "Paused", "Holds a running rollout at its current step",
			"Pauses a running rollout: traffic stays as it is and the step's clock\nstops, so that nothing is judged or taken until resume."),
		rolloutControlCommand("resume", "Resumed", "Resumes a paused rollout",
			"Resumes a paused rollout: the step's clock goes on where it stopped."),
		rolloutControlCommand("promote", "Promoted", "Sends all traffic to the canary at once and ends the rollout",
			"Deploys the canary to 100% at once, without judging the remaining\nsteps, and ends the rollout (succeeded)."),
		rolloutControlCommand("abort", "Aborted", "Sends all traffic back to the stable version and ends the rollout",
			"Deploys the stable version to 100% at once and ends the rollout\n(aborted)."),
	)
	return cmd
}

// rolloutStartCommand returns `caddy gradual rollout start`.
func rolloutStartCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start <version id> [--steps <percent>...] [--interval <duration>] [--max-error-rate <percent>] [--max-latency-p99 <duration>] [--min-requests <n>] [--margin <percent>] [--message <text>]",
		Short: "Starts a rollout of a version to all traffic",
		Long: `
Starts a rollout of the given version, the canary, against the version
that serves the rest of the traffic, the stable one, such as

	caddy gradual rollout start 9b2d44e1 --steps 1% 10% 50% 100% --interval 5m

Each flag given overrides the worker's policy for this rollout only; the
others keep the policy's values. The steps are the canary's shares,
increasing, the last 100%: write them after the version ID as above, as
one quoted or comma-separated value ("1%,10%,100%"), or with --steps
repeated. Percentages have at most two decimals; the % is optional.

A worker runs one rollout at a time: starting one while another runs or
is paused is refused. Prints the rollout as status does.
`,
		Args: cobra.MinimumNArgs(1),
	}
	fl := cmd.Flags()
	fl.StringArray("steps", nil, "The canary's share at each step, increasing, the last 100%, such as 1% 10% 50% 100%")
	fl.String("interval", "", "How long each step lasts before it is judged, such as 5m")
	fl.String("max-error-rate", "", "The canary's error rate (5xx, exceptions, limit 503s) over which it is rolled back, such as 2%")
	fl.String("margin", "", "How much the canary's error rate must also exceed stable's to be rolled back, such as 1%")
	fl.String("max-latency-p99", "", "The canary's p99 latency over which it is rolled back, such as 800ms")
	fl.Uint64("min-requests", 0, "The requests a step needs, summed over the fleet, before it is judged; fewer extend it")
	fl.String("message", "", "Why the rollout was started; kept in the deployment history with its first step")
	cmd.RunE = run(func(s *session, cmd *cobra.Command, args []string) error {
		// Checked before anything is sent, so that a typo is reported
		// here; whether the policy makes sense is the server's to say.
		body, err := rolloutRequest(cmd, args)
		if err != nil {
			return err
		}
		return call(s, http.MethodPost, "rollout", body, func(worker string, r *api.Rollout) error {
			if _, err := fmt.Fprintf(s.out, "Started the rollout of %s on worker %s.\n\n", clean(r.Canary), worker); err != nil {
				return err
			}
			return printRollout(s.out, worker, r, now())
		})
	})
	return cmd
}

// rolloutRequest builds the body of a rollout's start from the version ID
// in args and the flags given.
func rolloutRequest(cmd *cobra.Command, args []string) (*api.RolloutRequest, error) {
	fl := cmd.Flags()
	req := &api.RolloutRequest{VersionID: args[0]}
	if err := splitter.ValidateID(req.VersionID); err != nil {
		return nil, err
	}
	steps, _ := fl.GetStringArray("steps")
	// The shell splits `--steps 1% 10% 100%` into a flag and arguments:
	// the words after the version ID are the remaining steps. Cobra does
	// not say where they stood among repeated --steps, so that is refused.
	if extra := args[1:]; len(extra) > 0 {
		switch {
		case len(steps) == 0:
			return nil, fmt.Errorf("unexpected argument %q: give one version ID, and steps after --steps", extra[0])
		case len(steps) > 1:
			return nil, fmt.Errorf("unexpected argument %q: with --steps repeated, give one step to each", extra[0])
		}
		steps = append(steps, extra...)
	}
	if fl.Changed("steps") {
		var err error
		if req.Steps, err = parseSteps(steps); err != nil {
			return nil, err
		}
	}
	for _, d := range []struct {
		flag string
		to   *string
	}{{"interval", &req.Interval}, {"max-latency-p99", &req.MaxLatencyP99}} {
		if !fl.Changed(d.flag) {
			continue
		}
		v, _ := fl.GetString(d.flag)
		if dur, err := time.ParseDuration(v); err != nil || dur <= 0 {
			return nil, fmt.Errorf("--%s %q: not a positive duration such as 5m or 800ms", d.flag, v)
		}
		*d.to = v
	}
	for _, p := range []struct {
		flag string
		to   **float64
	}{{"max-error-rate", &req.MaxErrorRate}, {"margin", &req.Margin}} {
		if !fl.Changed(p.flag) {
			continue
		}
		v, _ := fl.GetString(p.flag)
		w, err := splitter.ParsePercent(v)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", p.flag, err)
		}
		pct := w.Percent()
		*p.to = &pct
	}
	if fl.Changed("min-requests") {
		n, _ := fl.GetUint64("min-requests")
		req.MinRequests = &n
	}
	req.Message, _ = fl.GetString("message")
	return req, nil
}

// parseSteps parses the values of --steps, each one or more percentages
// separated by commas or spaces, into percentages in order.
func parseSteps(values []string) ([]float64, error) {
	var steps []float64
	for _, v := range values {
		for _, word := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
			w, err := splitter.ParsePercent(word)
			if err != nil {
				return nil, fmt.Errorf("--steps: %w", err)
			}
			steps = append(steps, w.Percent())
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("--steps: no percentage given, such as 1%% 10%% 50%% 100%%")
	}
	return steps, nil
}

// rolloutControlCommand returns `caddy gradual rollout <name>`, which
// sends that command to the worker's rollout and prints the result; verb
// says what was done, in the past tense.
func rolloutControlCommand(name, verb, short, long string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name + " [--message <text>]",
		Short: short,
		Long: "\n" + long + `

The rollout's state must allow it, else the server refuses and says why
(such as pausing a paused rollout). Prints the rollout as status does.
`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("message", "", "Why; kept in the rollout's reason and the deployment history")
	cmd.RunE = run(func(s *session, cmd *cobra.Command, _ []string) error {
		var body api.RolloutCommand
		body.Message, _ = cmd.Flags().GetString("message")
		return call(s, http.MethodPost, "rollout/"+name, body, func(worker string, r *api.Rollout) error {
			if _, err := fmt.Fprintf(s.out, "%s the rollout of %s on worker %s.\n\n", verb, clean(r.Canary), worker); err != nil {
				return err
			}
			return printRollout(s.out, worker, r, now())
		})
	})
	return cmd
}
