package rollout

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/splitter"
)

// The rollout of a worker is stored in its live state (live.State.Rollout),
// so that every step is one change of the state, made under the storage's
// lock with the deployment it takes: a step is never taken twice, and a
// restart of every node resumes the rollout where it was.

// ErrNone is the error of a command when the worker never had a rollout.
var ErrNone = errors.New("the worker has no rollout")

// ErrRunning refuses to start a rollout while another one runs.
var ErrRunning = errors.New("a rollout is already running; pause, promote or abort it first")

// Get returns the rollout stored in st, or nil.
func Get(st *live.State) (*State, error) {
	if len(st.Rollout) == 0 {
		return nil, nil
	}
	r := new(State)
	if err := json.Unmarshal(st.Rollout, r); err != nil {
		return nil, fmt.Errorf("%w: the stored rollout: %v", live.ErrCorrupt, err)
	}
	return r, nil
}

// put stores r in st.
func put(st *live.State, r *State) {
	raw, err := json.Marshal(r)
	if err != nil {
		panic(err) // a State always encodes
	}
	st.Rollout = raw
}

// deploy records c in st's history.
func deploy(st *live.State, c Change, now time.Time) {
	entries := make([]live.Entry, len(c.Entries))
	for i, e := range c.Entries {
		entries[i] = live.Entry{VersionID: e.ID, Percentage: e.Weight.Percent()}
	}
	st.Deploy(live.NewDeployment(c.TriggeredBy, entries, c.Message, now))
}

// active returns the newest deployment of st's history.
func active(st *live.State) (live.Deployment, bool) {
	if len(st.Deployments) == 0 {
		return live.Deployment{}, false
	}
	return st.Deployments[len(st.Deployments)-1], true
}

// Begin starts a rollout of canary in st with policy p: stable is the
// version with the most traffic in the active deployment besides the
// canary, and the first step is the first of p's steps above the canary's
// share now (a canary at 5% with steps 1% 10% … starts at 10%). Versions
// other than the canary and stable leave the split at the first step.
func Begin(st *live.State, canary string, p Policy, message string, now time.Time) (*State, error) {
	if r, err := Get(st); err != nil {
		return nil, err
	} else if r != nil && !r.Status.Ended() {
		return nil, ErrRunning
	}
	d, ok := active(st)
	if !ok {
		return nil, live.Invalidf("the worker has no deployment to roll out from")
	}
	var stable string
	var stableShare, canaryShare float64 = -1, 0
	for _, e := range d.Versions {
		switch {
		case e.VersionID == canary:
			canaryShare = e.Percentage
		case e.Percentage > stableShare:
			stable, stableShare = e.VersionID, e.Percentage
		}
	}
	if stable == "" {
		return nil, live.Invalidf("version %s serves all traffic already; a rollout needs a stable version beside it", canary)
	}
	if err := p.Validate(); err != nil {
		return nil, &live.InvalidError{Err: err}
	}
	cur, err := splitter.PercentFromFloat(canaryShare)
	if err != nil {
		return nil, &live.InvalidError{Err: err}
	}
	first := 0
	for first < len(p.Steps) && p.Steps[first] <= cur {
		first++
	}
	// The last step is 100%, above any share a canary beside a stable
	// version has, so first is a step.
	r, c, err := Start(uuid.NewString(), canary, stable, p, now)
	if err != nil {
		return nil, &live.InvalidError{Err: err}
	}
	if first > 0 {
		r.Step = first
		c = r.change(TriggeredRollout, fmt.Sprintf("rollout of %s started: canary to %s (%s)", canary, r.Share(), r.stepName()))
	}
	if message != "" {
		c.Message += ": " + message
	}
	deploy(st, c, now)
	put(st, r)
	return r, nil
}

// Commands of the operator.
const (
	CommandPause   = "pause"
	CommandResume  = "resume"
	CommandPromote = "promote"
	CommandAbort   = "abort"
)

// Command applies an operator's command to st's rollout: pause, resume,
// promote (the canary to 100% at once) or abort (the stable version to
// 100% at once).
func Command(st *live.State, cmd, message string, now time.Time) (*State, error) {
	r, err := Get(st)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrNone
	}
	var c Change
	switch cmd {
	case CommandPause:
		err = r.Pause(now)
	case CommandResume:
		err = r.Resume(now)
	case CommandPromote:
		c, err = r.Promote()
	case CommandAbort:
		c, err = r.Abort(cmp.Or(message, "requested by the operator"))
	default:
		return nil, live.Invalidf("unknown rollout command %q", cmd)
	}
	if err != nil {
		return nil, err
	}
	if message != "" && cmd != CommandAbort {
		r.Reason = cmd + ": " + message
	}
	if c.Entries != nil {
		if message != "" && cmd == CommandPromote {
			c.Message += ": " + message
		}
		deploy(st, c, now)
	}
	put(st, r)
	return r, nil
}

// Supersede ends st's running or paused rollout because a deployment was
// made by hand (reason says which); the deployment made stands. It reports
// whether it changed st.
func Supersede(st *live.State, reason string) bool {
	r, err := Get(st)
	if err != nil || r == nil || r.Status.Ended() {
		return false
	}
	r.Superseded(reason)
	put(st, r)
	return true
}

// following reports whether st's active deployment is the one r's current
// step made: a deployment made by any other path (the API, wrangler, an
// edited Caddyfile) ends the rollout.
func following(st *live.State, r *State) bool {
	d, ok := active(st)
	if !ok {
		return false
	}
	want := r.change("", "").Entries
	entries := make([]live.Entry, len(want))
	for i, e := range want {
		entries[i] = live.Entry{VersionID: e.ID, Percentage: e.Weight.Percent()}
	}
	return live.Key(d.Versions) == live.Key(entries)
}
