package rollout

import (
	"fmt"
	"time"
)

// Counts are one version's figures over a step, summed over the fleet.
type Counts struct {
	// Requests is how many requests the version served in the step.
	Requests uint64
	// Errors is how many of them failed: 5xx answers, uncaught
	// exceptions, CPU- and memory-limit 503s.
	Errors uint64
	// P99 is the 99th percentile of their latency (0 when unknown).
	P99 time.Duration
}

// Rate is the error rate, 0 with no requests.
func (c Counts) Rate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// Verdict is the outcome of judging a step.
type Verdict string

const (
	// Healthy means the canary may take the next step.
	Healthy Verdict = "healthy"
	// Unhealthy means the canary must be rolled back.
	Unhealthy Verdict = "unhealthy"
	// TooFew means the step had too few canary requests to judge, and is
	// extended.
	TooFew Verdict = "too_few_requests"
)

// Judgement is a verdict with the figures behind it.
type Judgement struct {
	Verdict Verdict `json:"verdict"`
	// Reason says why, with the figures, for the history and the logs:
	// "canary error rate 7.9% (19/240) > 2%; stable 0.4% (1/250)".
	Reason string `json:"reason"`
	Canary Counts `json:"canary"`
	Stable Counts `json:"stable"`
}

// Judge judges a canary against stable over one step, by p.
//
// The canary is unhealthy when its error rate is over MaxErrorRate and
// over stable's by more than Margin, or when MaxLatencyP99 is set and its
// p99 is over it. It is judged only with at least MinRequests requests.
func Judge(p Policy, canary, stable Counts) Judgement {
	j := Judgement{Canary: canary, Stable: stable}
	if canary.Requests < max(p.MinRequests, 1) {
		j.Verdict = TooFew
		j.Reason = fmt.Sprintf("too few canary requests to judge: %d of %d", canary.Requests, max(p.MinRequests, 1))
		return j
	}
	cr, sr := canary.Rate(), stable.Rate()
	rates := fmt.Sprintf("canary error rate %s (%d/%d)", formatRate(cr), canary.Errors, canary.Requests)
	stableRate := fmt.Sprintf("stable %s (%d/%d)", formatRate(sr), stable.Errors, stable.Requests)
	switch {
	case cr > p.MaxErrorRate && cr > sr+p.Margin:
		j.Verdict = Unhealthy
		j.Reason = fmt.Sprintf("%s > %s; %s", rates, formatRate(p.MaxErrorRate), stableRate)
	case p.MaxLatencyP99 > 0 && canary.P99 > p.MaxLatencyP99:
		j.Verdict = Unhealthy
		j.Reason = fmt.Sprintf("canary p99 %s > %s; stable p99 %s", canary.P99, p.MaxLatencyP99, stable.P99)
	default:
		j.Verdict = Healthy
		j.Reason = fmt.Sprintf("%s; %s", rates, stableRate)
		if cr > p.MaxErrorRate {
			j.Reason += fmt.Sprintf(" (over %s, but within %s of stable)", formatRate(p.MaxErrorRate), formatRate(p.Margin))
		}
		if p.MaxLatencyP99 > 0 {
			j.Reason += fmt.Sprintf("; canary p99 %s ≤ %s", canary.P99, p.MaxLatencyP99)
		}
	}
	return j
}
