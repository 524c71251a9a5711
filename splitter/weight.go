package splitter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Weight is a share of traffic in hundredths of a percent; Total (10000) is
// 100%.
type Weight uint32

// Total is the Weight of 100%: the weights of a deployment add up to Total.
const Total Weight = 10000

// errPercentSyntax explains the accepted form of a percentage.
var errPercentSyntax = errors.New("want a number from 0 to 100 with at most two decimals, such as 10% or 12.5%")

// ParsePercent parses a percentage written in a Caddyfile, such as "10%",
// "12.5%", "33.33%", "0%" or "100%". The "%" is optional. The number is
// written with decimal digits only: no sign, exponent, spaces or other
// characters. It may have up to two decimals, with at least one digit on each
// side of the decimal point (".5%" is rejected; write "0.5%"). Leading zeros
// are allowed. The value must be from 0 to 100 inclusive.
func ParsePercent(s string) (Weight, error) {
	w, err := parsePercent(s)
	if err != nil {
		return 0, fmt.Errorf("invalid percentage %q: %w", s, err)
	}
	return w, nil
}

func parsePercent(s string) (Weight, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	num := strings.TrimSuffix(s, "%")
	if num == "" {
		return 0, errPercentSyntax
	}
	whole, frac, hasDot := strings.Cut(num, ".")
	if !isDigits(whole) || !isDigits(frac) {
		return 0, errPercentSyntax
	}
	switch {
	case whole == "":
		return 0, errors.New("write a digit before the decimal point, as in 0.5%")
	case hasDot && frac == "":
		return 0, errors.New("write a digit after the decimal point, as in 5.0%")
	case len(frac) > 2:
		return 0, errors.New("at most two decimals")
	}
	// Leading zeros are harmless; once they are gone, anything longer than
	// three digits is over 100 and could overflow the conversion below.
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 3 {
		return 0, errors.New("more than 100%")
	}
	var v uint32
	for _, c := range []byte(whole) {
		v = v*10 + uint32(c-'0')
	}
	v *= 100
	switch len(frac) {
	case 1:
		v += uint32(frac[0]-'0') * 10
	case 2:
		v += uint32(frac[0]-'0')*10 + uint32(frac[1]-'0')
	}
	if v > uint32(Total) {
		return 0, errors.New("more than 100%")
	}
	return Weight(v), nil
}

// isDigits reports whether s consists of ASCII decimal digits only; the
// empty string does.
func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// percentTolerance is how far, in hundredths of a percent, a float may be
// from a whole number of hundredths and still count as having at most two
// decimals. Decimal fractions such as 33.33 have no exact binary form, so
// p*100 comes out as 3332.9999999999995; the tolerance absorbs that noise
// (about 1e-12 at 100%) while rejecting any real third decimal.
const percentTolerance = 1e-9

// PercentFromFloat converts a percentage given as a JSON number, such as 12.5,
// to a Weight. It rejects NaN, infinities, values below 0 or above 100, and
// values with more than two decimals.
func PercentFromFloat(p float64) (Weight, error) {
	switch {
	case math.IsNaN(p) || math.IsInf(p, 0):
		return 0, fmt.Errorf("invalid percentage %v: not a finite number", p)
	case p < 0:
		return 0, fmt.Errorf("invalid percentage %v: below 0%%", p)
	case p > 100:
		return 0, fmt.Errorf("invalid percentage %v: more than 100%%", p)
	}
	x := p * 100
	r := math.Round(x)
	if math.Abs(x-r) > percentTolerance {
		return 0, fmt.Errorf("invalid percentage %v: at most two decimals", p)
	}
	return Weight(r), nil
}

// Percent returns w as a percentage: Weight(1250).Percent() is 12.5.
func (w Weight) Percent() float64 {
	return float64(w) / 100
}

// String returns w as the shortest percentage that ParsePercent reads back
// as w, such as "10%", "12.5%", "33.33%" or "0%".
func (w Weight) String() string {
	return formatHundredths(uint64(w))
}

// formatHundredths formats v hundredths of a percent like Weight.String; it
// takes a uint64 so that New can report sums that overflow a Weight.
func formatHundredths(v uint64) string {
	b := strconv.AppendUint(make([]byte, 0, 24), v/100, 10)
	switch frac := v % 100; {
	case frac == 0:
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/10))
	default:
		b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return string(append(b, '%'))
}
