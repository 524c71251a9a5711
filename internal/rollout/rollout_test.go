package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-gradual/gradual/splitter"
)

func policy() Policy {
	return Policy{
		Steps:         []splitter.Weight{1000, 5000, splitter.Total},
		Interval:      time.Minute,
		MaxErrorRate:  0.02,
		MaxLatencyP99: 800 * time.Millisecond,
		MinRequests:   100,
		Margin:        0.01,
	}
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name           string
		canary, stable Counts
		want           Verdict
		reason         string
	}{
		{"healthy", Counts{240, 1, 100 * time.Millisecond}, Counts{2000, 8, 90 * time.Millisecond}, Healthy,
			"canary error rate 0.4% (1/240); stable 0.4% (8/2000); canary p99 100ms ≤ 800ms"},
		{"unhealthy errors", Counts{240, 19, 0}, Counts{250, 1, 0}, Unhealthy,
			"canary error rate 7.9% (19/240) > 2%; stable 0.4% (1/250)"},
		{"too few requests", Counts{99, 99, 0}, Counts{5000, 0, 0}, TooFew,
			"too few canary requests to judge: 99 of 100"},
		{"exactly min requests", Counts{100, 0, 0}, Counts{}, Healthy, "canary error rate 0% (0/100)"},
		{"over the limit but within margin of stable", Counts{1000, 50, 0}, Counts{1000, 45, 0}, Healthy,
			"(over 2%, but within 1% of stable)"},
		{"over the limit and past the margin", Counts{1000, 56, 0}, Counts{1000, 45, 0}, Unhealthy,
			"canary error rate 5.6% (56/1000) > 2%; stable 4.5% (45/1000)"},
		{"at the limit is healthy", Counts{1000, 20, 0}, Counts{1000, 0, 0}, Healthy, "2% (20/1000)"},
		{"latency", Counts{500, 0, 950 * time.Millisecond}, Counts{500, 0, 200 * time.Millisecond}, Unhealthy,
			"canary p99 950ms > 800ms; stable p99 200ms"},
		{"no stable traffic", Counts{200, 10, 0}, Counts{}, Unhealthy, "canary error rate 5% (10/200) > 2%; stable 0% (0/0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := Judge(policy(), tt.canary, tt.stable)
			if j.Verdict != tt.want || !strings.Contains(j.Reason, tt.reason) {
				t.Fatalf("%s %q, want %s containing %q", j.Verdict, j.Reason, tt.want, tt.reason)
			}
		})
	}
	// A policy without a latency bound ignores latency; min_requests 0
	// still needs one request.
	p := policy()
	p.MaxLatencyP99, p.MinRequests = 0, 0
	if j := Judge(p, Counts{10, 0, time.Hour}, Counts{}); j.Verdict != Healthy {
		t.Errorf("no latency bound: %s %s", j.Verdict, j.Reason)
	}
	if j := Judge(p, Counts{}, Counts{}); j.Verdict != TooFew {
		t.Errorf("no requests at all: %s", j.Verdict)
	}
}

func entries(c Change) string {
	var b []string
	for _, e := range c.Entries {
		b = append(b, e.ID+"@"+e.Weight.String())
	}
	return strings.Join(b, " ")
}

// TestMachine walks a rollout through extension, every step and success,
// with a clock that only moves when the test says so.
func TestMachine(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	good, stable := Counts{Requests: 500, Errors: 1}, Counts{Requests: 4500, Errors: 9}
	s, c, err := Start("r1", "v2", "v1", policy(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(c); got != "v2@10% v1@90%" || c.TriggeredBy != TriggeredRollout {
		t.Fatalf("start: %s by %s", got, c.TriggeredBy)
	}
	if s.Due(t0.Add(59 * time.Second)) {
		t.Fatal("due before the interval")
	}
	if _, ok := s.Decide(t0.Add(59*time.Second), good, stable); ok || s.Last != nil {
		t.Fatal("decided before the interval")
	}
	// Too few requests: extended by one interval, nothing deployed.
	if _, ok := s.Decide(t0.Add(time.Minute), Counts{Requests: 3}, stable); ok {
		t.Fatal("deployed on too few requests")
	}
	if !s.NextDecision.Equal(t0.Add(2*time.Minute)) || s.Step != 0 || !strings.Contains(s.Reason, "step 1/3 extended: too few canary requests to judge: 3 of 100") {
		t.Fatalf("after too few: next %v step %d reason %q", s.NextDecision, s.Step, s.Reason)
	}
	window := s.Window
	c, ok := s.Decide(t0.Add(2*time.Minute), good, stable)
	if !ok || entries(c) != "v2@50% v1@50%" || s.Step != 1 || s.Window == window || !strings.HasPrefix(c.Message, "canary v2 to 50% (step 2/3): canary error rate 0.2% (1/500)") {
		t.Fatalf("step 2: %v %s %q step %d window %d", ok, entries(c), c.Message, s.Step, s.Window)
	}
	c, ok = s.Decide(t0.Add(3*time.Minute), good, stable)
	if !ok || entries(c) != "v2@100%" || s.Status != Running {
		t.Fatalf("step 3: %v %s %s", ok, entries(c), s.Status)
	}
	// The last step, judged healthy, ends the rollout with nothing to deploy.
	if _, ok := s.Decide(t0.Add(4*time.Minute), good, Counts{}); ok || s.Status != Succeeded {
		t.Fatalf("after the last step: %v %s", ok, s.Status)
	}
	if _, ok := s.Decide(t0.Add(time.Hour), good, stable); ok {
		t.Fatal("an ended rollout decided again")
	}
}

func TestMachineRollback(t *testing.T) {
	t0 := time.Unix(0, 0)
	s, _, _ := Start("r1", "v2", "v1", policy(), t0)
	s.Decide(t0.Add(time.Minute), Counts{Requests: 200}, Counts{Requests: 1800})
	c, ok := s.Decide(t0.Add(2*time.Minute), Counts{Requests: 240, Errors: 19}, Counts{Requests: 250, Errors: 1})
	if !ok || entries(c) != "v1@100%" || c.TriggeredBy != TriggeredRollback || s.Status != RolledBack {
		t.Fatalf("%v %s %s %s", ok, entries(c), c.TriggeredBy, s.Status)
	}
	if want := "rolled back at 50% (step 2/3): canary error rate 7.9% (19/240) > 2%; stable 0.4% (1/250)"; c.Message != want {
		t.Fatalf("message %q, want %q", c.Message, want)
	}
	if _, err := s.Promote(); !errors.Is(err, ErrEnded) {
		t.Fatalf("promote after rollback: %v", err)
	}
}

func TestMachineControl(t *testing.T) {
	t0 := time.Unix(0, 0)
	s, _, _ := Start("r1", "v2", "v1", policy(), t0)
	if err := s.Resume(t0); !errors.Is(err, ErrNotPaused) {
		t.Fatalf("resume while running: %v", err)
	}
	if err := s.Pause(t0.Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Pause(t0); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("pause twice: %v", err)
	}
	// Paused time does not count: an hour later the step is not due.
	if _, ok := s.Decide(t0.Add(time.Hour), Counts{Requests: 1000}, Counts{}); ok || s.Last != nil {
		t.Fatal("a paused rollout decided")
	}
	if err := s.Resume(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(time.Hour + 40*time.Second); !s.NextDecision.Equal(want) {
		t.Fatalf("resumed: next decision %v, want %v", s.NextDecision, want)
	}
	c, err := s.Promote()
	if err != nil || entries(c) != "v2@100%" || s.Status != Succeeded || c.TriggeredBy != TriggeredPromote {
		t.Fatalf("promote: %v %s %s", err, entries(c), s.Status)
	}

	s, _, _ = Start("r2", "v2", "v1", policy(), t0)
	c, err = s.Abort("requested by the operator")
	if err != nil || entries(c) != "v1@100%" || s.Status != Aborted || s.Reason != "aborted: requested by the operator" {
		t.Fatalf("abort: %v %s %s %q", err, entries(c), s.Status, s.Reason)
	}
	if _, err := s.Abort("again"); !errors.Is(err, ErrEnded) {
		t.Fatalf("abort twice: %v", err)
	}
	if err := s.Pause(t0); !errors.Is(err, ErrEnded) {
		t.Fatalf("pause after abort: %v", err)
	}

	s, _, _ = Start("r3", "v2", "v1", policy(), t0)
	s.Superseded("a manual deployment ended the rollout")
	if s.Status != Aborted || s.Due(t0.Add(time.Hour)) {
		t.Fatalf("superseded: %s", s.Status)
	}
}

// TestStepsOnlyRaiseTheCanary: sticky users move only to the canary while
// a rollout runs, since each step raises its share (the splitter moves keys
// only to a version whose share grows).
func TestStepsOnlyRaiseTheCanary(t *testing.T) {
	t0 := time.Unix(0, 0)
	p := DefaultPolicy()
	s, c, err := Start("r", "v2", "v1", p, t0)
	if err != nil {
		t.Fatal(err)
	}
	prev := c.Entries[0].Weight
	for i := 1; s.Status == Running; i++ {
		c, ok := s.Decide(t0.Add(time.Duration(i)*p.Interval), Counts{Requests: 1000}, Counts{Requests: 1000})
		if !ok {
			continue
		}
		if w := c.Entries[0].Weight; c.Entries[0].ID != "v2" || w <= prev {
			t.Fatalf("step %d: %s after %s", s.Step, entries(c), prev)
		}
		prev = c.Entries[0].Weight
	}
	if s.Status != Succeeded || prev != splitter.Total {
		t.Fatalf("ended %s at %s", s.Status, prev)
	}
}

func TestPolicyValidate(t *testing.T) {
	mod := func(f func(*Policy)) Policy { p := policy(); f(&p); return p }
	tests := []struct {
		p    Policy
		want string
	}{
		{policy(), ""},
		{DefaultPolicy(), ""},
		{mod(func(p *Policy) { p.Steps = nil }), "at least one step"},
		{mod(func(p *Policy) { p.Steps = []splitter.Weight{0, splitter.Total} }), "step 1 is 0%"},
		{mod(func(p *Policy) { p.Steps = []splitter.Weight{5000, 1000, splitter.Total} }), "10% after 50%; steps must increase"},
		{mod(func(p *Policy) { p.Steps = []splitter.Weight{1000, 5000} }), "the last step is 50%; it must be 100%"},
		{mod(func(p *Policy) { p.Interval = 0 }), "interval"},
		{mod(func(p *Policy) { p.MaxErrorRate = 1.5 }), "max_error_rate"},
		{mod(func(p *Policy) { p.Margin = -0.1 }), "margin"},
		{mod(func(p *Policy) { p.MaxLatencyP99 = -1 }), "max_latency_p99"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.p, err, tt.want)
		}
	}
	if _, _, err := Start("r", "v1", "v1", policy(), time.Time{}); err == nil {
		t.Error("a rollout of the stable version itself started")
	}
}

func TestParse(t *testing.T) {
	steps, err := ParseSteps([]string{"1%", "10%", "50%", "100%"})
	if err != nil || len(steps) != 4 || steps[0] != 100 || steps[3] != splitter.Total {
		t.Fatalf("%v %v", steps, err)
	}
	if _, err := ParseSteps([]string{"10%", "1e2%"}); err == nil {
		t.Fatal("1e2% accepted")
	}
	for in, want := range map[string]float64{"2%": 0.02, "0.5%": 0.005, "0%": 0, "100%": 1} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"2", "-1%", "101%", "NaN%", "x%", "%", ""} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"2%", "0.5%", "100%", "1e1%", "-0%", "NaN%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err == nil && !(r >= 0 && r <= 1) {
			t.Fatalf("ParseRate(%q) = %v", s, r)
		}
	})
}

func TestConfigOver(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	n := func(v uint64) *uint64 { return &v }
	base := DefaultPolicy()
	p, err := (*Config)(nil).Over(base)
	if err != nil || len(p.Steps) != 4 || p.Interval != 5*time.Minute || p.MaxErrorRate != 0.02 || p.MinRequests != 100 || p.Margin != 0.01 {
		t.Fatalf("nil config: %+v %v", p, err)
	}
	p, err = (&Config{Steps: []float64{10, 100}, Interval: caddy.Duration(time.Second), MaxErrorRate: f(5), MinRequests: n(0), Margin: f(0), MaxLatencyP99: caddy.Duration(time.Second)}).Over(base)
	if err != nil || len(p.Steps) != 2 || p.Steps[0] != 1000 || p.Interval != time.Second || p.MaxErrorRate != 0.05 || p.MinRequests != 0 || p.Margin != 0 || p.MaxLatencyP99 != time.Second {
		t.Fatalf("full config: %+v %v", p, err)
	}
	if len(base.Steps) != 4 || base.Steps[0] != 100 {
		t.Fatalf("Over changed its base: %v", base.Steps)
	}
	for _, bad := range []*Config{
		{Steps: []float64{10.001, 100}},
		{Steps: []float64{50, 10, 100}},
		{Steps: []float64{}},
		{MaxErrorRate: f(150)},
		{Margin: f(-1)},
		{Interval: caddy.Duration(-time.Second)},
	} {
		if _, err := bad.Over(base); err == nil {
			t.Errorf("%+v accepted", *bad)
		}
	}
}
