package gradualcmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddy-gradual/gradual/internal/api"
)

func TestRolloutWatch(t *testing.T) {
	fixClock(t)
	step1 := fixtureRollout("running", 1, 1, "started")
	step2 := fixtureRollout("running", 2, 10, "")
	for _, tc := range []struct {
		name     string
		args     []string
		rollouts []string
		json     bool
		states   []string // the state each block shows
		err      string
	}{
		{
			name:     "succeeds",
			args:     []string{"rollout", "status", "--watch"},
			rollouts: []string{step1, step2, fixtureRollout("succeeded", 4, 100, "succeeded: v2 at 100%")},
			states:   []string{"running", "running", "succeeded"},
		},
		{
			name:     "rolled back",
			args:     []string{"rollout", "status", "--watch"},
			rollouts: []string{step2, fixtureRollout("rolled_back", 2, 10, "rolled back at 10% (step 2/4): canary error rate 7.92% (19/240) > 2%; stable 0.42% (9/2160)")},
			states:   []string{"running", "rolled_back"},
			err:      "the rollout of v2 rolled back at 10% (step 2/4): canary error rate 7.92% (19/240) > 2%; stable 0.42% (9/2160)",
		},
		{
			name:     "aborted",
			args:     []string{"rollout", "status", "--watch"},
			rollouts: []string{fixtureRollout("aborted", 2, 10, "aborted: a deployment by hand (rollback)")},
			states:   []string{"aborted"},
			err:      "the rollout of v2 aborted: a deployment by hand (rollback)",
		},
		{
			name:     "json",
			args:     []string{"rollout", "status", "--watch", "--json"},
			rollouts: []string{step1, fixtureRollout("succeeded", 4, 100, "")},
			json:     true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAdmin(t, "shop")
			f.rollouts = tc.rollouts
			out, errOut, err := runOnce(t, "", append(tc.args, "--address", f.addr)...)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if !strings.HasPrefix(errOut, "Watching the rollout of worker shop; press Ctrl-C to stop.\n") {
				t.Errorf("stderr %q", errOut)
			}
			var blocks []string
			if tc.json {
				blocks = strings.SplitAfter(out, "\n")
				blocks = blocks[:len(blocks)-1]
			} else {
				blocks = strings.Split(out, "\n\nWorker:")
				for i := 1; i < len(blocks); i++ {
					blocks[i] = "Worker:" + blocks[i]
				}
			}
			if len(blocks) != len(tc.rollouts) {
				t.Fatalf("%d blocks, want one per rollout polled (%d):\n%s", len(blocks), len(tc.rollouts), out)
			}
			for i, b := range blocks {
				if tc.json && (strings.Count(b, "\n") != 1 || !sameJSON(t, b, tc.rollouts[i])) {
					t.Errorf("line %d: %s\nwant the JSON of %s", i, b, tc.rollouts[i])
				}
				if !tc.json && headValue(b, "State:") != tc.states[i] {
					t.Errorf("block %d:\n%s\nwant state %s", i, b, tc.states[i])
				}
			}
			want := []request{{"GET", "/gradual/workers", ""}}
			for range tc.rollouts {
				want = append(want, request{"GET", "/gradual/workers/shop/rollout", ""})
			}
			checkRequests(t, f, want)
		})
	}

	t.Run("shows each step", func(t *testing.T) {
		f := newFakeAdmin(t, "shop")
		f.rollouts = []string{step1, step2, fixtureRollout("succeeded", 4, 100, "succeeded: v2 at 100%")}
		out, _, err := runOnce(t, "", "rollout", "status", "--watch", "-w", "shop", "--address", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"Step:           1/4, canary at 1%\n",
			"1     1%     [###############-----]  76%\n",
			rolloutRunning,
			"State:           succeeded\n",
			"4     100%   [####################]  done\n",
		} {
			i := strings.Index(out, want)
			if i < 0 {
				t.Fatalf("output:\n%s\nlacks, after the previous lines:\n%s", out, want)
			}
			out = out[i+len(want):]
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		f := newFakeAdmin(t, "shop")
		f.rollouts = []string{step2}
		ctx, cancel := context.WithCancel(t.Context())
		var out, errOut syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- execute(ctx, "", &out, &errOut, "rollout", "status", "--watch", "-w", "shop", "--address", f.addr)
		}()
		// Ctrl-C, which the context stands in for here, once it redrew.
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(out.String(), "Worker:") < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("watch: %v", err)
		}
		if got := out.String(); !strings.HasPrefix(got, rolloutRunning+"\n"+rolloutRunning) {
			t.Errorf("output:\n%s", got)
		}
	})
}

func TestRolloutProgress(t *testing.T) {
	at := time.Date(2026, 5, 3, 10, 3, 48, 0, time.UTC)
	started := time.Date(2026, 5, 3, 10, 0, 0, 0, time.UTC)
	next := func(d time.Duration) *time.Time { n := started.Add(d); return &n }
	policy := api.RolloutPolicy{IntervalSeconds: 300}
	for _, tc := range []struct {
		name  string
		r     api.Rollout
		step  int
		bar   string
		label string
	}{
		{"done", api.Rollout{Status: "running", Step: 2}, 1, "[####################]", "done"},
		{"to come", api.Rollout{Status: "running", Step: 2}, 3, "[--------------------]", ""},
		{"running", api.Rollout{Status: "running", Step: 2, StepStarted: started, NextDecision: next(5 * time.Minute), Policy: policy}, 2, "[###############-----]", "76%"},
		{"extended", api.Rollout{Status: "running", Step: 2, StepStarted: at.Add(-7*time.Minute - 48*time.Second), NextDecision: next(6 * time.Minute), Policy: policy}, 2, "[###########---------]", "56%"},
		{"due", api.Rollout{Status: "running", Step: 2, StepStarted: started, NextDecision: next(3 * time.Minute), Policy: policy}, 2, "[####################]", "due"},
		{"no decision time", api.Rollout{Status: "running", Step: 2, StepStarted: started, Policy: policy}, 2, "[###############-----]", "76%"},
		{"clocks apart", api.Rollout{Status: "running", Step: 2, StepStarted: at.Add(time.Second), NextDecision: next(8*time.Minute + 49*time.Second), Policy: policy}, 2, "[--------------------]", "0%"},
		{"paused", api.Rollout{Status: "paused", Step: 2, StepStarted: started, Policy: policy}, 2, "[--------------------]", "paused"},
		{"rolled back", api.Rollout{Status: "rolled_back", Step: 2}, 2, "[--------------------]", "rolled back"},
		{"no interval", api.Rollout{Status: "running", Step: 2, StepStarted: started}, 2, "[--------------------]", ""},
		{"succeeded", api.Rollout{Status: "succeeded", Step: 2}, 4, "[####################]", "done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bar, label := stepProgress(&tc.r, tc.step, at)
			if bar != tc.bar || label != tc.label {
				t.Errorf("%s %q, want %s %q", bar, label, tc.bar, tc.label)
			}
		})
	}

	outcome := func(status, reason string) string {
		if err := rolloutOutcome(&api.Rollout{Canary: "v2", Status: status, Reason: reason}); err != nil {
			return err.Error()
		}
		return "nil"
	}
	for _, tc := range []struct{ got, want string }{
		{outcome("rolled_back", "canary p99 1.2s > 800ms"), "the rollout of v2 was rolled back: canary p99 1.2s > 800ms"},
		{outcome("aborted", "aborted: not today"), "the rollout of v2 aborted: not today"},
		{outcome("aborted", ""), "the rollout of v2 was aborted"},
		{outcome("succeeded", ""), "nil"},
		{outcome("paused", ""), "nil"},
		{untilDecision(at.Add(72*time.Second), at), "in 1m12s"},
		{untilDecision(at.Add(1500*time.Millisecond), at), "in 2s"},
		{untilDecision(at.Add(2*time.Hour), at), "in 2h"},
		{untilDecision(at, at), "due"},
		{untilDecision(at.Add(-time.Minute), at), "due"},
		{formatDuration(5 * time.Minute), "5m"},
		{formatDuration(90 * time.Minute), "1h30m"},
		{formatDuration(time.Hour + time.Second), "1h0m1s"},
		{formatDuration(800 * time.Millisecond), "800ms"},
		{formatPolicy(&api.RolloutPolicy{IntervalSeconds: 120, MaxErrorRate: 2.5, MinRequests: 50}),
			"every 2m; rolls back on an error rate over 2.5% and over stable's by 0%; judges from 50 requests a step"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// headValue returns the value of the summary row named name in a block
// of rollout status.
func headValue(block, name string) string {
	for _, line := range strings.Split(block, "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
