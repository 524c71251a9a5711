package api

import (
	"bytes"
	"io"
	"time"
	"unicode/utf8"
)

// The automatic rollout of a worker (SPEC §7):
//
//	POST /gradual/workers/{name}/rollout           RolloutRequest → 201 Rollout
//	GET  /gradual/workers/{name}/rollout           → 200 Rollout (404: none yet)
//	POST /gradual/workers/{name}/rollout/pause     → 200 Rollout
//	POST /gradual/workers/{name}/rollout/resume    → 200 Rollout
//	POST /gradual/workers/{name}/rollout/promote   → 200 Rollout (canary to 100%)
//	POST /gradual/workers/{name}/rollout/abort     → 200 Rollout (stable to 100%)
//
// A command the rollout's state does not allow (pausing a paused rollout,
// starting one while another runs) is a 409.

// RolloutRequest starts a rollout of VersionID. Every other field is
// optional and overrides the worker's policy (the Caddyfile's rollout
// block, else the defaults) for this rollout only.
type RolloutRequest struct {
	VersionID string `json:"version_id"`
	// Steps are the canary's shares in percent, increasing, the last 100.
	Steps []float64 `json:"steps,omitempty"`
	// Interval and MaxLatencyP99 are durations such as "5m" or "800ms".
	Interval      string   `json:"interval,omitempty"`
	MaxErrorRate  *float64 `json:"max_error_rate,omitempty"` // percent
	MaxLatencyP99 string   `json:"max_latency_p99,omitempty"`
	MinRequests   *uint64  `json:"min_requests,omitempty"`
	Margin        *float64 `json:"margin,omitempty"` // percent
	// Message is recorded in the history with the first step.
	Message string `json:"message,omitempty"`
}

// Rollout describes a worker's rollout, running or ended.
type Rollout struct {
	ID     string `json:"id"`
	Canary string `json:"canary"`
	Stable string `json:"stable"`
	// Status is running, paused, succeeded, rolled_back or aborted.
	Status string `json:"status"`
	// Step is the current step, from 1 to len(Steps); Share the canary's
	// percentage at that step.
	Step  int       `json:"step"`
	Steps []float64 `json:"steps"`
	Share float64   `json:"share"`
	// Policy is what the rollout judges by.
	Policy RolloutPolicy `json:"policy"`
	// StepStarted is when the current step began; NextDecision when it is
	// judged, absent unless running.
	StepStarted  time.Time  `json:"step_started"`
	NextDecision *time.Time `json:"next_decision,omitempty"`
	// Current are the figures of the current step so far, summed over
	// every node (absent once the rollout ended).
	Current *RolloutFigures `json:"current,omitempty"`
	// Last is the newest judgement of a step.
	Last *RolloutJudgement `json:"last,omitempty"`
	// Reason says what the rollout last did and why: a step extended for
	// lack of requests, the figures of a rollback, who aborted it.
	Reason string `json:"reason,omitempty"`
}

// RolloutPolicy is a rollout's policy in the API's units.
type RolloutPolicy struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	MaxErrorRate    float64 `json:"max_error_rate"` // percent
	MaxLatencyP99Ms float64 `json:"max_latency_p99_ms,omitempty"`
	MinRequests     uint64  `json:"min_requests"`
	Margin          float64 `json:"margin"` // percent
}

// RolloutFigures are the canary's and the stable version's figures over a
// step.
type RolloutFigures struct {
	Canary RolloutCounts `json:"canary"`
	Stable RolloutCounts `json:"stable"`
}

// RolloutCounts are one version's requests, errors (5xx, exceptions,
// limit 503s) and p99 latency over a step, summed over the fleet.
type RolloutCounts struct {
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	P99Ms    float64 `json:"p99_ms"`
}

// RolloutJudgement is the judgement of a step: its verdict (healthy,
// unhealthy or too_few_requests), why, and the figures it judged.
type RolloutJudgement struct {
	Verdict string         `json:"verdict"`
	Reason  string         `json:"reason"`
	Figures RolloutFigures `json:"figures"`
}

// RolloutCommand is the optional body of pause, resume, promote and
// abort: a message for the history and the rollout's reason.
type RolloutCommand struct {
	Message string `json:"message,omitempty"`
}

// DecodeRollout reads and checks the body of a rollout's start. The
// policy's values are checked by the server, against the worker's policy.
func DecodeRollout(body io.Reader) (*RolloutRequest, error) {
	var req RolloutRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if req.VersionID == "" {
		return nil, badRequest(`"version_id" names the version to roll out`)
	}
	if len(req.Steps) > MaxRolloutSteps {
		return nil, badRequest("at most %d steps", MaxRolloutSteps)
	}
	for _, d := range []struct{ name, value string }{{"interval", req.Interval}, {"max_latency_p99", req.MaxLatencyP99}} {
		if d.value == "" {
			continue
		}
		if v, err := time.ParseDuration(d.value); err != nil || v <= 0 {
			return nil, badRequest("%s: %q is not a positive duration such as 5m or 800ms", d.name, d.value)
		}
	}
	if len(req.Message) > MaxMessageLen || !utf8.ValidString(req.Message) {
		return nil, badRequest("message must be valid UTF-8 of at most %d bytes", MaxMessageLen)
	}
	return &req, nil
}

// MaxRolloutSteps bounds the steps of a rollout.
const MaxRolloutSteps = 100

// DecodeRolloutCommand reads the optional body of pause, resume, promote
// and abort.
func DecodeRolloutCommand(body io.Reader) (*RolloutCommand, error) {
	var req RolloutCommand
	raw, err := io.ReadAll(io.LimitReader(body, MaxRequestBytes))
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &req, nil
	}
	if err := decodeJSON(bytes.NewReader(raw), &req); err != nil {
		return nil, err
	}
	if len(req.Message) > MaxMessageLen || !utf8.ValidString(req.Message) {
		return nil, badRequest("message must be valid UTF-8 of at most %d bytes", MaxMessageLen)
	}
	return &req, nil
}
