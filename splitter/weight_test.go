package splitter

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestParsePercent(t *testing.T) {
	valid := []struct {
		in   string
		want Weight
	}{
		{"0%", 0},
		{"0", 0},
		{"100%", Total},
		{"100", Total},
		{"100.00%", Total},
		{"10%", 1000},
		{"10", 1000},
		{"12.5%", 1250},
		{"12.50%", 1250},
		{"33.33%", 3333},
		{"0.01%", 1},
		{"0.5%", 50},
		{"99.99%", 9999},
		{"007%", 700},
		{"0000000000000000000000050%", 5000},
	}
	for _, tc := range valid {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePercent(tc.in)
			if err != nil {
				t.Fatalf("ParsePercent(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParsePercent(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}

	invalid := []struct {
		in      string
		wantErr string
	}{
		{"", `invalid percentage "": empty`},
		{"%", `invalid percentage "%": want a number`},
		{"12.345%", `invalid percentage "12.345%": at most two decimals`},
		{"12.500%", "at most two decimals"},
		{"100.01%", "more than 100%"},
		{"101%", "more than 100%"},
		{"1000%", "more than 100%"},
		{"99999999999999999999999%", "more than 100%"},
		{".5%", "write a digit before the decimal point, as in 0.5%"},
		{".%", "write a digit before the decimal point"},
		{"5.%", "write a digit after the decimal point"},
		{"+5%", "want a number"},
		{"-5%", "want a number"},
		{"-0%", "want a number"},
		{" 5%", "want a number"},
		{"5% ", "want a number"},
		{"5 %", "want a number"},
		{"1e2", "want a number"},
		{"1E2%", "want a number"},
		{"NaN", "want a number"},
		{"Inf%", "want a number"},
		{"0x10", "want a number"},
		{"10%%", "want a number"},
		{"%10", "want a number"},
		{"10x%", "want a number"},
		{"1.2.3%", "want a number"},
		{"1,5%", "want a number"},
		{"５%", "want a number"},
	}
	for _, tc := range invalid {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePercent(tc.in)
			if err == nil {
				t.Fatalf("ParsePercent(%q) = %d, want error", tc.in, got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePercent(%q) error %q, want it to contain %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestPercentFromFloat(t *testing.T) {
	valid := []struct {
		in   float64
		want Weight
	}{
		{0, 0},
		{math.Copysign(0, -1), 0},
		{100, Total},
		{10, 1000},
		{12.5, 1250},
		{33.33, 3333},
		{66.67, 6667},
		{0.01, 1},
		{0.07, 7},
		{99.99, 9999},
		{0.1 + 0.2, 30},
	}
	for _, tc := range valid {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			got, err := PercentFromFloat(tc.in)
			if err != nil {
				t.Fatalf("PercentFromFloat(%v): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("PercentFromFloat(%v) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
	// Every two-decimal percentage must survive the trip through a float,
	// as it does when a JSON config is decoded.
	t.Run("all two-decimal values", func(t *testing.T) {
		for w := range Total + 1 {
			p := float64(w) / 100
			got, err := PercentFromFloat(p)
			if err != nil || got != w {
				t.Fatalf("PercentFromFloat(%v) = %d, %v, want %d", p, got, err, w)
			}
		}
	})

	invalid := []struct {
		in      float64
		wantErr string
	}{
		{math.NaN(), "invalid percentage NaN: not a finite number"},
		{math.Inf(1), "not a finite number"},
		{math.Inf(-1), "not a finite number"},
		{-0.01, "invalid percentage -0.01: below 0%"},
		{100.01, "invalid percentage 100.01: more than 100%"},
		{1e300, "more than 100%"},
		{12.345, "invalid percentage 12.345: at most two decimals"},
		{0.001, "at most two decimals"},
		{33.3333, "at most two decimals"},
		{10.0000001, "at most two decimals"},
	}
	for _, tc := range invalid {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			got, err := PercentFromFloat(tc.in)
			if err == nil {
				t.Fatalf("PercentFromFloat(%v) = %d, want error", tc.in, got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("PercentFromFloat(%v) error %q, want it to contain %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestWeightString(t *testing.T) {
	tests := []struct {
		in      Weight
		want    string
		percent float64
	}{
		{0, "0%", 0},
		{1, "0.01%", 0.01},
		{10, "0.1%", 0.1},
		{50, "0.5%", 0.5},
		{1000, "10%", 10},
		{1250, "12.5%", 12.5},
		{1205, "12.05%", 12.05},
		{3333, "33.33%", 33.33},
		{9999, "99.99%", 99.99},
		{Total, "100%", 100},
		{12345, "123.45%", 123.45},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("Weight(%d).String() = %q, want %q", tc.in, got, tc.want)
			}
			if got := tc.in.Percent(); got != tc.percent {
				t.Errorf("Weight(%d).Percent() = %v, want %v", tc.in, got, tc.percent)
			}
		})
	}
	t.Run("round trip", func(t *testing.T) {
		for w := range Total + 1 {
			s := w.String()
			got, err := ParsePercent(s)
			if err != nil || got != w {
				t.Fatalf("ParsePercent(%q) = %d, %v, want %d", s, got, err, w)
			}
		}
	})
}

func FuzzParsePercent(f *testing.F) {
	for _, s := range []string{"0%", "100%", "12.5%", "33.33", ".5%", "5.", "12.345%", "1e2", "-1%", "10%%", "", "%", "0100.00%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParsePercent(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid percentage ") {
				t.Fatalf("ParsePercent(%q) error %q does not say what is invalid", s, err)
			}
			return
		}
		if w > Total {
			t.Fatalf("ParsePercent(%q) = %d, more than Total", s, w)
		}
		back, err := ParsePercent(w.String())
		if err != nil || back != w {
			t.Fatalf("ParsePercent(%q) = %d, but ParsePercent(%q) = %d, %v", s, w, w.String(), back, err)
		}
		if f, err := PercentFromFloat(w.Percent()); err != nil || f != w {
			t.Fatalf("PercentFromFloat(%v) = %d, %v, want %d", w.Percent(), f, err, w)
		}
	})
}
