package caddymodule

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/internal/rollout"
)

// The admin API's rollout routes (SPEC §7): thin over internal/rollout,
// whose every change is one live.Worker.Update.

// startRollout starts a rollout of a version, with the worker's policy
// (the Caddyfile's rollout block over the defaults) and the request's
// overrides over it.
func startRollout(w http.ResponseWriter, r *http.Request, s *workerState) error {
	req, err := api.DecodeRollout(r.Body)
	if err != nil {
		return err
	}
	g := s.latest()
	if g == nil {
		return live.ErrNotLoaded
	}
	base, err := g.Rollout.Over(rollout.DefaultPolicy())
	if err != nil {
		return &live.InvalidError{Err: err}
	}
	p, err := overrides(req).Over(base)
	if err != nil {
		return &live.InvalidError{Err: err}
	}
	var started *rollout.State
	if _, err := s.live.Update(r.Context(), func(st *live.State) (bool, error) {
		ro, err := rollout.Begin(st, req.VersionID, p, req.Message, now())
		started = ro
		return err == nil, err
	}); err != nil {
		return err
	}
	return writeResult(w, http.StatusCreated, s.rolloutInfo(r, started))
}

// overrides is a rollout request's policy fields as a rollout.Config.
func overrides(req *api.RolloutRequest) *rollout.Config {
	c := &rollout.Config{Steps: req.Steps, MaxErrorRate: req.MaxErrorRate, MinRequests: req.MinRequests, Margin: req.Margin}
	// DecodeRollout checked that the durations parse.
	if d, err := time.ParseDuration(req.Interval); err == nil {
		c.Interval = caddy.Duration(d)
	}
	if d, err := time.ParseDuration(req.MaxLatencyP99); err == nil {
		c.MaxLatencyP99 = caddy.Duration(d)
	}
	return c
}

// getRollout describes the worker's rollout, running or the last one.
func getRollout(w http.ResponseWriter, r *http.Request, s *workerState) error {
	st, err := s.live.Load(r.Context())
	if err != nil {
		return err
	}
	ro, err := rollout.Get(st)
	if err != nil {
		return err
	}
	if ro == nil {
		return rollout.ErrNone
	}
	return writeResult(w, http.StatusOK, s.rolloutInfo(r, ro))
}

// rolloutCommand pauses, resumes, promotes or aborts the rollout.
func rolloutCommand(w http.ResponseWriter, r *http.Request, s *workerState) error {
	cmd := r.PathValue("command")
	switch cmd {
	case rollout.CommandPause, rollout.CommandResume, rollout.CommandPromote, rollout.CommandAbort:
	default:
		return errorf(http.StatusNotFound, "no rollout command "+cmd+"; use pause, resume, promote or abort")
	}
	req, err := api.DecodeRolloutCommand(r.Body)
	if err != nil {
		return err
	}
	var ro *rollout.State
	if _, err := s.live.Update(r.Context(), func(st *live.State) (bool, error) {
		ro, err = rollout.Command(st, cmd, req.Message, now())
		return err == nil, err
	}); err != nil {
		return err
	}
	return writeResult(w, http.StatusOK, s.rolloutInfo(r, ro))
}

// rolloutInfo describes ro in the API's units, with the current step's
// figures so far, summed over the fleet.
func (s *workerState) rolloutInfo(r *http.Request, ro *rollout.State) api.Rollout {
	out := api.Rollout{
		ID: ro.ID, Canary: ro.Canary, Stable: ro.Stable, Status: string(ro.Status),
		Step: ro.Step + 1, Share: ro.Share().Percent(), StepStarted: ro.StepStarted, Reason: ro.Reason,
		Policy: api.RolloutPolicy{
			IntervalSeconds: ro.Policy.Interval.Seconds(),
			MaxErrorRate:    ro.Policy.MaxErrorRate * 100,
			MaxLatencyP99Ms: durationMs(ro.Policy.MaxLatencyP99),
			MinRequests:     ro.Policy.MinRequests,
			Margin:          ro.Policy.Margin * 100,
		},
	}
	for _, w := range ro.Policy.Steps {
		out.Steps = append(out.Steps, w.Percent())
	}
	if !ro.NextDecision.IsZero() {
		next := ro.NextDecision
		out.NextDecision = &next
	}
	if l := ro.Last; l != nil {
		out.Last = &api.RolloutJudgement{Verdict: string(l.Verdict), Reason: l.Reason, Figures: figuresOf(l.Canary, l.Stable)}
	}
	if !ro.Status.Ended() {
		if storage, _ := s.live.Storage(); storage != nil {
			if c, st, err := rollout.Figures(r.Context(), storage, s.name, ro, now()); err == nil {
				f := figuresOf(c, st)
				out.Current = &f
			}
		}
	}
	return out
}

func figuresOf(canary, stable rollout.Counts) api.RolloutFigures {
	c := func(n rollout.Counts) api.RolloutCounts {
		return api.RolloutCounts{Requests: n.Requests, Errors: n.Errors, P99Ms: durationMs(n.P99)}
	}
	return api.RolloutFigures{Canary: c(canary), Stable: c(stable)}
}

// observeRollout sets the rollout_step gauge: the canary's share while the
// rollout runs or is paused, 100 once it succeeded, 0 once it was rolled
// back or aborted.
func observeRollout(worker string, ro *rollout.State) {
	if ro == nil {
		return
	}
	gradualMetrics.once.Do(initMetrics)
	share := ro.Share().Percent()
	if ro.Status == rollout.RolledBack || ro.Status == rollout.Aborted {
		share = 0
	}
	gradualMetrics.step.WithLabelValues(worker).Set(share)
}
