package rollout

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-gradual/gradual/splitter"
)

// Config is a rollout policy as users write it: in a gradual handler's
// JSON config (`rollout`), and as the overrides of one rollout started
// through the API. Every field is optional; an unset field takes the value
// of the policy it overrides, in the end DefaultPolicy's.
type Config struct {
	// Steps are the canary's shares in percent, strictly increasing, the
	// last 100. Default: 1, 10, 50, 100.
	Steps []float64 `json:"steps,omitempty"`
	// Interval is the time at each step before it is judged. Default: 5m.
	Interval caddy.Duration `json:"interval,omitempty"`
	// MaxErrorRate is the highest healthy error rate of the canary, in
	// percent: 5xx answers, uncaught exceptions and limit 503s over its
	// requests. Default: 2.
	MaxErrorRate *float64 `json:"max_error_rate,omitempty"`
	// MaxLatencyP99 is the highest healthy p99 latency of the canary.
	// Default: none.
	MaxLatencyP99 caddy.Duration `json:"max_latency_p99,omitempty"`
	// MinRequests is how many canary requests a step needs, summed over
	// every node, before it is judged; with fewer it is extended.
	// Default: 100.
	MinRequests *uint64 `json:"min_requests,omitempty"`
	// Margin, in percent, is how much worse than stable's the canary's
	// error rate must also be before it is rolled back. Default: 1.
	Margin *float64 `json:"margin,omitempty"`
}

// Over returns the policy base with c's fields set over it, validated.
func (c *Config) Over(base Policy) (Policy, error) {
	p := base
	p.Steps = append([]splitter.Weight(nil), base.Steps...)
	if c == nil {
		return p, p.Validate()
	}
	if c.Steps != nil {
		p.Steps = make([]splitter.Weight, len(c.Steps))
		for i, s := range c.Steps {
			w, err := splitter.PercentFromFloat(s)
			if err != nil {
				return Policy{}, fmt.Errorf("steps: %w", err)
			}
			p.Steps[i] = w
		}
	}
	if c.Interval != 0 {
		p.Interval = time.Duration(c.Interval)
	}
	var err error
	if c.MaxErrorRate != nil {
		if p.MaxErrorRate, err = fraction("max_error_rate", *c.MaxErrorRate); err != nil {
			return Policy{}, err
		}
	}
	if c.MaxLatencyP99 != 0 {
		p.MaxLatencyP99 = time.Duration(c.MaxLatencyP99)
	}
	if c.MinRequests != nil {
		p.MinRequests = *c.MinRequests
	}
	if c.Margin != nil {
		if p.Margin, err = fraction("margin", *c.Margin); err != nil {
			return Policy{}, err
		}
	}
	return p, p.Validate()
}

// fraction converts a percentage to a fraction from 0 to 1.
func fraction(field string, pct float64) (float64, error) {
	if math.IsNaN(pct) || pct < 0 || pct > 100 {
		return 0, fmt.Errorf("%s: %v is not a percentage from 0 to 100", field, pct)
	}
	return pct / 100, nil
}

// UnmarshalCaddyfile reads a rollout block; d is at the `rollout` token.
// Syntax:
//
//	rollout {
//		steps           <pct%>...
//		interval        <duration>
//		max_error_rate  <pct%>
//		max_latency_p99 <duration>
//		min_requests    <n>
//		margin          <pct%>
//	}
//
// Each subdirective may appear once.
func (c *Config) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if seen[sub] {
			return d.Errf("rollout: %s given more than once", sub)
		}
		seen[sub] = true
		args := d.RemainingArgs()
		if len(args) == 0 || sub != "steps" && len(args) != 1 {
			return d.ArgErr()
		}
		var err error
		switch sub {
		case "steps":
			var steps []splitter.Weight
			if steps, err = ParseSteps(args); err == nil {
				c.Steps = make([]float64, len(steps))
				for i, s := range steps {
					c.Steps[i] = s.Percent()
				}
			}
		case "interval", "max_latency_p99":
			var dur time.Duration
			if dur, err = caddy.ParseDuration(args[0]); err == nil && dur <= 0 {
				err = errors.New("must be positive")
			}
			if sub == "interval" {
				c.Interval = caddy.Duration(dur)
			} else {
				c.MaxLatencyP99 = caddy.Duration(dur)
			}
		case "max_error_rate", "margin":
			var r float64
			if r, err = ParseRate(args[0]); err == nil {
				pct := math.Round(r*1e6) / 1e4
				if sub == "margin" {
					c.Margin = &pct
				} else {
					c.MaxErrorRate = &pct
				}
			}
		case "min_requests":
			var n uint64
			if n, err = strconv.ParseUint(args[0], 10, 64); err == nil {
				c.MinRequests = &n
			}
		default:
			return d.Errf("rollout: unknown subdirective %q (expected steps, interval, max_error_rate, max_latency_p99, min_requests or margin)", sub)
		}
		if err != nil {
			return d.Errf("rollout: %v", prefixed(sub, err))
		}
	}
	if _, err := c.Over(DefaultPolicy()); err != nil {
		return d.Errf("rollout: %v", err)
	}
	return nil
}

// prefixed names the field in err unless it does already.
func prefixed(field string, err error) error {
	if strings.HasPrefix(err.Error(), field+":") {
		return err
	}
	return fmt.Errorf("%s: %w", field, err)
}
