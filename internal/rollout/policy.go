// Package rollout moves a canary version of a worker to 100% in steps,
// judging it at the end of each step against the stable version over the
// step's requests, and rolls it back at once when it is unhealthy.
//
// This file and judge.go and machine.go are pure: a Policy, the judgement
// of summed counts, and the step machine, a State changed only by its
// methods with the time passed in. The fleet side (counts summed over the
// nodes of a storage, a decision lease) builds on them.
package rollout

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-gradual/gradual/splitter"
)

// Policy is how a rollout proceeds and what makes a canary unhealthy.
type Policy struct {
	// Steps are the canary's shares, strictly increasing, the last 100%.
	Steps []splitter.Weight
	// Interval is the time at each step before it is judged.
	Interval time.Duration
	// MaxErrorRate is the highest healthy share of the canary's requests
	// that fail (5xx, uncaught exceptions, limit 503s), from 0 to 1.
	MaxErrorRate float64
	// MaxLatencyP99, if not zero, is the highest healthy p99 latency.
	MaxLatencyP99 time.Duration
	// MinRequests is how many canary requests a step needs, summed over
	// the fleet, before it is judged; with fewer it is extended.
	MinRequests uint64
	// Margin is how much worse than stable's the canary's error rate must
	// also be to be unhealthy, from 0 to 1: a canary failing no more than
	// stable does is not blamed for a shared outage.
	Margin float64
}

// DefaultPolicy is the policy of a rollout that names none.
func DefaultPolicy() Policy {
	return Policy{
		Steps:        []splitter.Weight{100, 1000, 5000, splitter.Total},
		Interval:     5 * time.Minute,
		MaxErrorRate: 0.02,
		MinRequests:  100,
		Margin:       0.01,
	}
}

// Validate reports the first problem with p.
func (p Policy) Validate() error {
	if err := validateSteps(p.Steps); err != nil {
		return err
	}
	if p.Interval <= 0 {
		return errors.New("interval: must be positive")
	}
	if !(p.MaxErrorRate >= 0 && p.MaxErrorRate <= 1) {
		return errors.New("max_error_rate: must be from 0% to 100%")
	}
	if !(p.Margin >= 0 && p.Margin <= 1) {
		return errors.New("margin: must be from 0% to 100%")
	}
	if p.MaxLatencyP99 < 0 {
		return errors.New("max_latency_p99: must not be negative")
	}
	return nil
}

// validateSteps checks that steps increase strictly from above 0% to 100%.
func validateSteps(steps []splitter.Weight) error {
	if len(steps) == 0 {
		return errors.New("steps: at least one step is required")
	}
	for i, s := range steps {
		if s == 0 {
			return fmt.Errorf("steps: step %d is 0%%; every step must raise the canary", i+1)
		}
		if i > 0 && s <= steps[i-1] {
			return fmt.Errorf("steps: %s after %s; steps must increase", s, steps[i-1])
		}
	}
	if last := steps[len(steps)-1]; last != splitter.Total {
		return fmt.Errorf("steps: the last step is %s; it must be 100%%", last)
	}
	return nil
}

// ParseSteps parses steps written as percentages ("1%", "10%", "100%")
// and checks them.
func ParseSteps(args []string) ([]splitter.Weight, error) {
	steps := make([]splitter.Weight, 0, len(args))
	for _, a := range args {
		w, err := splitter.ParsePercent(a)
		if err != nil {
			return nil, fmt.Errorf("steps: %w", err)
		}
		steps = append(steps, w)
	}
	return steps, validateSteps(steps)
}

// ParseRate parses a rate written as a percentage ("2%", "0.5%") into a
// fraction from 0 to 1.
func ParseRate(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("invalid rate %q: write it as a percentage, such as 2%%", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
		return 0, fmt.Errorf("invalid rate %q: want a percentage from 0%% to 100%%", s)
	}
	return f / 100, nil
}

// formatRate formats a fraction as a percentage with one decimal at most.
func formatRate(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + "%"
}
