package rollout

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddy-gradual/gradual/splitter"
)

// Status is where a rollout is.
type Status string

const (
	Running    Status = "running"
	Paused     Status = "paused"
	Succeeded  Status = "succeeded"
	RolledBack Status = "rolled_back"
	Aborted    Status = "aborted"
)

// Ended reports whether a rollout in status s is over.
func (s Status) Ended() bool { return s == Succeeded || s == RolledBack || s == Aborted }

// Sources of the deployments a rollout makes, recorded in the history as
// the annotation workers/triggered_by.
const (
	TriggeredRollout  = "auto_rollout"
	TriggeredRollback = "auto_rollback"
	TriggeredPromote  = "rollout_promote"
	TriggeredAbort    = "rollout_abort"
)

// Errors of the operator's commands.
var (
	ErrNotRunning = errors.New("the rollout is not running")
	ErrNotPaused  = errors.New("the rollout is not paused")
	ErrEnded      = errors.New("the rollout has ended")
)

// State is one rollout: the canary moving to 100%, the stable version
// keeping the rest. It changes only through its methods, which take the
// time, so that it can be stored, read back on another node and driven by
// a test clock alike.
type State struct {
	// ID identifies the rollout; with Window it keys the counts that each
	// node records for the step.
	ID     string `json:"id"`
	Canary string `json:"canary"`
	Stable string `json:"stable"`
	Policy Policy `json:"policy"`
	// Step is the index in Policy.Steps of the current step.
	Step int `json:"step"`
	// Window numbers the counting windows: it changes with every step, so
	// a step is judged only on requests served at its share.
	Window int    `json:"window"`
	Status Status `json:"status"`
	// StepStarted is when the current step began; NextDecision when it is
	// judged (while running).
	StepStarted  time.Time `json:"step_started"`
	NextDecision time.Time `json:"next_decision,omitzero"`
	// Remaining is the time left in the step when it was paused.
	Remaining time.Duration `json:"remaining,omitempty"`
	// Last is the newest judgement, Reason what the rollout last did and
	// why: extended, rolled back, ended.
	Last   *Judgement `json:"last,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

// Change is a deployment a rollout asks for.
type Change struct {
	Entries     []splitter.Entry
	TriggeredBy string
	Message     string
}

// Start begins a rollout of canary over stable with policy p.
func Start(id, canary, stable string, p Policy, now time.Time) (*State, Change, error) {
	if err := p.Validate(); err != nil {
		return nil, Change{}, err
	}
	if canary == stable {
		return nil, Change{}, fmt.Errorf("the canary %s is already the stable version", canary)
	}
	s := &State{ID: id, Canary: canary, Stable: stable, Policy: p, Status: Running}
	s.enterStep(0, now)
	return s, s.change(TriggeredRollout, fmt.Sprintf("rollout of %s started: canary to %s (%s)", canary, s.Share(), s.stepName())), nil
}

// Share is the canary's share at the current step.
func (s *State) Share() splitter.Weight { return s.Policy.Steps[s.Step] }

func (s *State) stepName() string { return fmt.Sprintf("step %d/%d", s.Step+1, len(s.Policy.Steps)) }

func (s *State) enterStep(step int, now time.Time) {
	s.Step = step
	s.Window++
	s.StepStarted = now
	s.NextDecision = now.Add(s.Policy.Interval)
}

// change is the deployment of the current step.
func (s *State) change(by, msg string) Change {
	return Change{Entries: split(s.Canary, s.Stable, s.Share()), TriggeredBy: by, Message: msg}
}

// split gives canary share and stable the rest; a version at 0% is left out.
func split(canary, stable string, share splitter.Weight) []splitter.Entry {
	var e []splitter.Entry
	if share > 0 {
		e = append(e, splitter.Entry{ID: canary, Weight: share})
	}
	if share < splitter.Total {
		e = append(e, splitter.Entry{ID: stable, Weight: splitter.Total - share})
	}
	return e
}

// Due reports whether the current step is to be judged at now.
func (s *State) Due(now time.Time) bool {
	return s.Status == Running && !now.Before(s.NextDecision)
}

// Decide judges the current step when it is due, given the step's counts
// summed over the fleet. It returns the deployment to make, if any: the
// next step, or the rollback. A step with too few requests is extended by
// one interval. The last step judged healthy ends the rollout.
func (s *State) Decide(now time.Time, canary, stable Counts) (Change, bool) {
	if !s.Due(now) {
		return Change{}, false
	}
	j := Judge(s.Policy, canary, stable)
	s.Last = &j
	switch j.Verdict {
	case TooFew:
		s.NextDecision = now.Add(s.Policy.Interval)
		s.Reason = fmt.Sprintf("%s extended: %s", s.stepName(), j.Reason)
		return Change{}, false
	case Unhealthy:
		s.Status = RolledBack
		s.NextDecision = time.Time{}
		s.Reason = fmt.Sprintf("rolled back at %s (%s): %s", s.Share(), s.stepName(), j.Reason)
		return Change{Entries: split(s.Canary, s.Stable, 0), TriggeredBy: TriggeredRollback, Message: s.Reason}, true
	}
	if s.Step == len(s.Policy.Steps)-1 {
		s.Status = Succeeded
		s.NextDecision = time.Time{}
		s.Reason = fmt.Sprintf("succeeded: %s at 100%%: %s", s.Canary, j.Reason)
		return Change{}, false
	}
	s.enterStep(s.Step+1, now)
	s.Reason = ""
	return s.change(TriggeredRollout, fmt.Sprintf("canary %s to %s (%s): %s", s.Canary, s.Share(), s.stepName(), j.Reason)), true
}

// Pause stops the clock of the current step; traffic stays as it is.
func (s *State) Pause(now time.Time) error {
	if s.Status != Running {
		return s.notWhen(ErrNotRunning)
	}
	s.Status = Paused
	s.Remaining = max(s.NextDecision.Sub(now), 0)
	s.NextDecision = time.Time{}
	return nil
}

// Resume restarts the clock of the current step where Pause stopped it.
func (s *State) Resume(now time.Time) error {
	if s.Status != Paused {
		return s.notWhen(ErrNotPaused)
	}
	s.Status = Running
	s.NextDecision = now.Add(s.Remaining)
	s.Remaining = 0
	return nil
}

// Promote ends the rollout with the canary at 100%, without judging.
func (s *State) Promote() (Change, error) {
	if s.Status.Ended() {
		return Change{}, ErrEnded
	}
	s.Step = len(s.Policy.Steps) - 1
	s.Status, s.NextDecision, s.Remaining = Succeeded, time.Time{}, 0
	s.Reason = "promoted to 100% by the operator"
	return s.change(TriggeredPromote, fmt.Sprintf("rollout of %s promoted to 100%%", s.Canary)), nil
}

// Abort ends the rollout with the stable version at 100%.
func (s *State) Abort(reason string) (Change, error) {
	if s.Status.Ended() {
		return Change{}, ErrEnded
	}
	s.Status, s.NextDecision, s.Remaining = Aborted, time.Time{}, 0
	s.Reason = "aborted: " + reason
	return Change{Entries: split(s.Canary, s.Stable, 0), TriggeredBy: TriggeredAbort, Message: fmt.Sprintf("rollout of %s aborted: %s", s.Canary, reason)}, nil
}

// Superseded ends the rollout because someone deployed by hand; the
// deployment they made stands.
func (s *State) Superseded(reason string) {
	if s.Status.Ended() {
		return
	}
	s.Status, s.NextDecision, s.Remaining = Aborted, time.Time{}, 0
	s.Reason = "aborted: " + reason
}

func (s *State) notWhen(err error) error {
	if s.Status.Ended() {
		return ErrEnded
	}
	return err
}
