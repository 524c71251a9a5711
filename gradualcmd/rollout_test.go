package gradualcmd

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fixtureRollout is the rollout of v2 against v1, steps 1% 10% 50% 100%,
// as the admin API returns it in the given state: its step began at
// 10:00:00 and, while it runs, is judged at 10:05:00.
func fixtureRollout(status string, step int, share float64, reason string) string {
	var next, current, last string
	if status == "running" {
		next = `"next_decision":"2026-05-03T10:05:00Z",`
	}
	if status == "running" || status == "paused" {
		current = `"current":{"canary":{"requests":240,"errors":1,"p99_ms":120},"stable":{"requests":2160,"errors":9,"p99_ms":80}},`
	}
	switch {
	case status == "rolled_back":
		last = `"last":{"verdict":"unhealthy","reason":"canary error rate 7.92% (19/240) > 2%; stable 0.42% (9/2160)",` +
			`"figures":{"canary":{"requests":240,"errors":19,"p99_ms":130},"stable":{"requests":2160,"errors":9,"p99_ms":80}}},`
	case step > 1:
		last = `"last":{"verdict":"healthy","reason":"canary error rate 0.4% (1/250); stable 0.4% (99/24750); canary p99 110ms ≤ 800ms",` +
			`"figures":{"canary":{"requests":250,"errors":1,"p99_ms":110},"stable":{"requests":24750,"errors":99,"p99_ms":75.5}}},`
	}
	return fmt.Sprintf(`{"id":"r1","canary":"v2","stable":"v1","status":%q,"step":%d,"steps":[1,10,50,100],"share":%v,
		"policy":{"interval_seconds":300,"max_error_rate":2,"max_latency_p99_ms":800,"min_requests":100,"margin":1},
		"step_started":"2026-05-03T10:00:00Z",%s%s%s"reason":%q}`, status, step, share, next, current, last, reason)
}

// rolloutAfter is what the fake admin API answers to each rollout command.
var rolloutAfter = map[string]string{
	"POST rollout":         fixtureRollout("running", 1, 1, ""),
	"POST rollout/pause":   fixtureRollout("paused", 2, 10, "pause: lunch"),
	"POST rollout/resume":  fixtureRollout("running", 2, 10, ""),
	"POST rollout/promote": fixtureRollout("succeeded", 4, 100, "promoted to 100% by the operator"),
	"POST rollout/abort":   fixtureRollout("aborted", 2, 10, "aborted: wrong version"),
}

// fixClock shows rollouts as of 10:03:48, 1m12s before the fixtures'
// next decision, and makes --watch redraw without waiting.
func fixClock(t *testing.T) {
	oldNow, oldEvery := now, watchEvery
	now = func() time.Time { return time.Date(2026, 5, 3, 10, 3, 48, 0, time.UTC) }
	watchEvery = time.Millisecond
	t.Cleanup(func() { now, watchEvery = oldNow, oldEvery })
}

// rolloutRunning is how status shows fixtureRollout("running", 2, 10, ...).
const rolloutRunning = `Worker:          shop
Rollout:         r1
Canary:          v2
Stable:          v1
State:           running
Step:            2/4, canary at 10%
Next decision:   in 1m12s (2026-05-03 10:05:00Z)
Policy:          every 5m; rolls back on an error rate over 2% and over stable's by 1%, or a p99 over 800ms; judges from 100 requests a step
Last judgement:  healthy: canary error rate 0.4% (1/250); stable 0.4% (99/24750); canary p99 110ms ≤ 800ms

STEP  SHARE  PROGRESS
1     1%     [####################]  done
2     10%    [###############-----]  76%
3     50%    [--------------------]
4     100%   [--------------------]

FIGURES        VERSION      REQUESTS  ERRORS  ERROR RATE  P99
step 2 so far  v2 (canary)  240       1       0.42%       120ms
step 2 so far  v1 (stable)  2160      9       0.42%       80.0ms
last judged    v2 (canary)  250       1       0.40%       110ms
last judged    v1 (stable)  24750     99      0.40%       75.5ms
`

func TestRollout(t *testing.T) {
	fixClock(t)
	list := request{"GET", "/gradual/workers", ""}
	for _, tc := range []struct {
		name    string
		rollout string // what GET …/rollout answers, if not the running fixture
		args    []string
		reqs    []request
		out     string // exact output, or
		head    string // how the output starts, or
		json    string // the JSON value printed with --json
	}{
		{
			name: "status",
			args: []string{"rollout", "status"},
			reqs: []request{list, {"GET", "/gradual/workers/shop/rollout", ""}},
			out:  rolloutRunning,
		},
		{
			name:    "status rolled back",
			rollout: fixtureRollout("rolled_back", 2, 10, "rolled back at 10% (step 2/4): canary error rate 7.92% (19/240) > 2%; stable 0.42% (9/2160)"),
			args:    []string{"rollout", "status", "-w", "shop"},
			reqs:    []request{{"GET", "/gradual/workers/shop/rollout", ""}},
			out: `Worker:          shop
Rollout:         r1
Canary:          v2
Stable:          v1
State:           rolled_back
Step:            2/4 (10%) when it ended
Policy:          every 5m; rolls back on an error rate over 2% and over stable's by 1%, or a p99 over 800ms; judges from 100 requests a step
Last judgement:  unhealthy: canary error rate 7.92% (19/240) > 2%; stable 0.42% (9/2160)
Reason:          rolled back at 10% (step 2/4): canary error rate 7.92% (19/240) > 2%; stable 0.42% (9/2160)

STEP  SHARE  PROGRESS
1     1%     [####################]  done
2     10%    [--------------------]  rolled back
3     50%    [--------------------]
4     100%   [--------------------]

FIGURES      VERSION      REQUESTS  ERRORS  ERROR RATE  P99
last judged  v2 (canary)  240       19      7.92%       130ms
last judged  v1 (stable)  2160      9       0.42%       80.0ms
`,
		},
		{
			name: "status json",
			args: []string{"rollout", "status", "--json", "-w", "shop"},
			reqs: []request{{"GET", "/gradual/workers/shop/rollout", ""}},
			json: fixtureRollout("running", 2, 10, ""),
		},
		{
			name: "start with the policy",
			args: []string{"rollout", "start", "v2", "-w", "shop"},
			reqs: []request{{"POST", "/gradual/workers/shop/rollout", `{"version_id":"v2"}`}},
			out: `Started the rollout of v2 on worker shop.

Worker:         shop
Rollout:        r1
Canary:         v2
Stable:         v1
State:          running
Step:           1/4, canary at 1%
Next decision:  in 1m12s (2026-05-03 10:05:00Z)
Policy:         every 5m; rolls back on an error rate over 2% and over stable's by 1%, or a p99 over 800ms; judges from 100 requests a step

STEP  SHARE  PROGRESS
1     1%     [###############-----]  76%
2     10%    [--------------------]
3     50%    [--------------------]
4     100%   [--------------------]

FIGURES        VERSION      REQUESTS  ERRORS  ERROR RATE  P99
step 1 so far  v2 (canary)  240       1       0.42%       120ms
step 1 so far  v1 (stable)  2160      9       0.42%       80.0ms
`,
		},
		{
			name: "start overriding every setting",
			args: []string{"rollout", "start", "v2", "--steps", "1%", "12.5%", "50", "100%", "--interval", "90s", "--max-error-rate", "2%",
				"--max-latency-p99", "800ms", "--min-requests", "0", "--margin", "0.25%", "--message", "new checkout"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/rollout",
				`{"version_id":"v2","steps":[1,12.5,50,100],"interval":"90s","max_error_rate":2,"max_latency_p99":"800ms","min_requests":0,"margin":0.25,"message":"new checkout"}`}},
			head: "Started the rollout of v2 on worker shop.\n\nWorker:",
		},
		{
			name: "start with steps in one value",
			args: []string{"rollout", "start", "v2", "--steps", "10%, 50%,100%", "--json"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/rollout", `{"version_id":"v2","steps":[10,50,100]}`}},
			json: rolloutAfter["POST rollout"],
		},
		{
			name: "start with steps repeated",
			args: []string{"rollout", "start", "--steps", "10", "--steps", "50% 100%", "v2", "-w", "shop", "--json"},
			reqs: []request{{"POST", "/gradual/workers/shop/rollout", `{"version_id":"v2","steps":[10,50,100]}`}},
			json: rolloutAfter["POST rollout"],
		},
		{
			name: "pause",
			args: []string{"rollout", "pause", "--message", "lunch"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/rollout/pause", `{"message":"lunch"}`}},
			out: `Paused the rollout of v2 on worker shop.

Worker:          shop
Rollout:         r1
Canary:          v2
Stable:          v1
State:           paused
Step:            2/4, canary at 10%
Policy:          every 5m; rolls back on an error rate over 2% and over stable's by 1%, or a p99 over 800ms; judges from 100 requests a step
Last judgement:  healthy: canary error rate 0.4% (1/250); stable 0.4% (99/24750); canary p99 110ms ≤ 800ms
Reason:          pause: lunch

STEP  SHARE  PROGRESS
1     1%     [####################]  done
2     10%    [--------------------]  paused
3     50%    [--------------------]
4     100%   [--------------------]

FIGURES        VERSION      REQUESTS  ERRORS  ERROR RATE  P99
step 2 so far  v2 (canary)  240       1       0.42%       120ms
step 2 so far  v1 (stable)  2160      9       0.42%       80.0ms
last judged    v2 (canary)  250       1       0.40%       110ms
last judged    v1 (stable)  24750     99      0.40%       75.5ms
`,
		},
		{
			name: "resume",
			args: []string{"rollout", "resume", "-w", "shop"},
			reqs: []request{{"POST", "/gradual/workers/shop/rollout/resume", `{}`}},
			head: "Resumed the rollout of v2 on worker shop.\n\nWorker:",
		},
		{
			name: "promote",
			args: []string{"rollout", "promote", "-w", "shop"},
			reqs: []request{{"POST", "/gradual/workers/shop/rollout/promote", `{}`}},
			out: `Promoted the rollout of v2 on worker shop.

Worker:          shop
Rollout:         r1
Canary:          v2
Stable:          v1
State:           succeeded
Step:            4/4, canary at 100%
Policy:          every 5m; rolls back on an error rate over 2% and over stable's by 1%, or a p99 over 800ms; judges from 100 requests a step
Last judgement:  healthy: canary error rate 0.4% (1/250); stable 0.4% (99/24750); canary p99 110ms ≤ 800ms
Reason:          promoted to 100% by the operator

STEP  SHARE  PROGRESS
1     1%     [####################]  done
2     10%    [####################]  done
3     50%    [####################]  done
4     100%   [####################]  done

FIGURES      VERSION      REQUESTS  ERRORS  ERROR RATE  P99
last judged  v2 (canary)  250       1       0.40%       110ms
last judged  v1 (stable)  24750     99      0.40%       75.5ms
`,
		},
		{
			name: "abort",
			args: []string{"rollout", "abort", "-w", "shop", "--message", "wrong version", "--json"},
			reqs: []request{{"POST", "/gradual/workers/shop/rollout/abort", `{"message":"wrong version"}`}},
			json: rolloutAfter["POST rollout/abort"],
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAdmin(t, "shop")
			f.rollouts = []string{cmp.Or(tc.rollout, fixtureRollout("running", 2, 10, ""))}
			out, errOut, err := runOnce(t, "", append(tc.args, "--address", f.addr)...)
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			switch {
			case tc.json != "":
				if !sameJSON(t, out, tc.json) {
					t.Errorf("output:\n%s\nwant the JSON of:\n%s", out, tc.json)
				}
			case tc.head != "":
				if !strings.HasPrefix(out, tc.head) {
					t.Errorf("output:\n%s\nwant it to start with:\n%s", out, tc.head)
				}
			case out != tc.out:
				t.Errorf("output:\n%s\nwant:\n%s", out, tc.out)
			}
			checkRequests(t, f, tc.reqs)
		})
	}
}

func TestRolloutErrors(t *testing.T) {
	list := request{"GET", "/gradual/workers", ""}
	const busy = "worker shop already runs rollout r1 (running); pause, promote or abort it first"
	for _, tc := range []struct {
		name     string
		args     []string
		conflict string
		none     bool // the worker has had no rollout
		reqs     []request
		err      string
	}{
		{name: "no version", args: []string{"rollout", "start"}, err: "requires at least 1 arg(s)"},
		{name: "bad version ID", args: []string{"rollout", "start", "v/2"}, err: `invalid version ID "v/2"`},
		{name: "two versions", args: []string{"rollout", "start", "v2", "v3"}, err: `unexpected argument "v3": give one version ID, and steps after --steps`},
		{name: "steps before the version", args: []string{"rollout", "start", "--steps", "1%", "10%", "v2"}, err: `invalid version ID "10%"`},
		{name: "repeated steps and words", args: []string{"rollout", "start", "v2", "--steps", "1%", "--steps", "10%", "100%"}, err: `unexpected argument "100%": with --steps repeated`},
		{name: "bad step", args: []string{"rollout", "start", "v2", "--steps", "1%", "ten%", "100%"}, err: `--steps: invalid percentage "ten%"`},
		{name: "step with three decimals", args: []string{"rollout", "start", "v2", "--steps", "1.125%,100%"}, err: "at most two decimals"},
		{name: "step over 100", args: []string{"rollout", "start", "v2", "--steps", "50% 150%"}, err: "more than 100%"},
		{name: "no steps", args: []string{"rollout", "start", "v2", "--steps", " , "}, err: "--steps: no percentage given"},
		{name: "bad interval", args: []string{"rollout", "start", "v2", "--interval", "5"}, err: `--interval "5": not a positive duration such as 5m or 800ms`},
		{name: "negative interval", args: []string{"rollout", "start", "v2", "--interval", "-1m"}, err: `--interval "-1m": not a positive duration`},
		{name: "zero latency", args: []string{"rollout", "start", "v2", "--max-latency-p99", "0s"}, err: `--max-latency-p99 "0s": not a positive duration`},
		{name: "bad error rate", args: []string{"rollout", "start", "v2", "--max-error-rate", "2x"}, err: `--max-error-rate: invalid percentage "2x"`},
		{name: "negative margin", args: []string{"rollout", "start", "v2", "--margin", "-1%"}, err: `--margin: invalid percentage "-1%"`},
		{name: "bad min requests", args: []string{"rollout", "start", "v2", "--min-requests", "many"}, err: `invalid argument "many" for "--min-requests" flag`},
		{name: "argument to pause", args: []string{"rollout", "pause", "now"}, err: `unknown command "now" for "caddy gradual rollout pause"`},
		{name: "mistyped subcommand", args: []string{"rollout", "stats"}, err: `unknown command "stats" for "caddy gradual rollout"`},
		{name: "watch flag elsewhere", args: []string{"rollout", "pause", "--watch"}, err: "unknown flag: --watch"},
		{
			name: "start refused", args: []string{"rollout", "start", "v3"}, conflict: busy,
			reqs: []request{list, {"POST", "/gradual/workers/shop/rollout", `{"version_id":"v3"}`}}, err: busy,
		},
		{
			name: "pause refused", args: []string{"rollout", "pause", "-w", "shop"}, conflict: "rollout r1 is paused already",
			reqs: []request{{"POST", "/gradual/workers/shop/rollout/pause", `{}`}}, err: "rollout r1 is paused already",
		},
		{
			name: "no rollout", args: []string{"rollout", "status", "-w", "shop"}, none: true,
			reqs: []request{{"GET", "/gradual/workers/shop/rollout", ""}}, err: "worker shop has had no rollout",
		},
		{
			name: "no rollout to watch", args: []string{"rollout", "status", "--watch", "-w", "shop"}, none: true,
			reqs: []request{{"GET", "/gradual/workers/shop/rollout", ""}}, err: "worker shop has had no rollout",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAdmin(t, "shop")
			f.conflict = tc.conflict
			if !tc.none {
				f.rollouts = []string{fixtureRollout("running", 2, 10, "")}
			}
			runFailing(t, f, tc.args, tc.err, tc.reqs)
		})
	}
}
