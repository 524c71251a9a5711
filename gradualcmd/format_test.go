package gradualcmd

import (
	"testing"
	"time"

	"github.com/caddy-gradual/gradual/internal/api"
)

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{formatMs(0.0421), "0.04ms"},
		{formatMs(9.999), "10.00ms"},
		{formatMs(12.34), "12.3ms"},
		{formatMs(250), "250ms"},
		{formatMs(1500), "1.50s"},
		{formatPercent(12.5), "12.5%"},
		{formatPercent(33.33), "33.33%"},
		{formatTime(time.Date(2026, 5, 1, 12, 30, 0, 5e8, time.FixedZone("", 2*3600))), "2026-05-01 10:30:00Z"},
		{formatTime(time.Time{}), ""},
		{describe(&api.Deployment{ID: "d1", Source: "api", CreatedOn: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}), "d1 (api, 2026-05-01 08:00:00Z)"},
		{describe(&api.Deployment{Source: "config"}), "config"},
		{describe(&api.Deployment{ID: "d1"}), "d1"},
		{clean("a\tb\nc\x1b[0m"), "a b c [0m"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
