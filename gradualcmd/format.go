package gradualcmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/splitter"
)

// table starts a table with the given column titles.
func table(out io.Writer, titles ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(titles, "\t"))
	return tw
}

// row writes one row of a table; empty cells show "-" so that columns stay
// readable, and control characters, which would break the layout or drive
// the terminal, become spaces.
func row(tw *tabwriter.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = dash(strings.TrimSpace(clean(c)))
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// clean replaces control characters, including tabs and newlines, with
// spaces: text from the API (messages, script logs) must neither break the
// layout nor send escape sequences to the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// dash returns s, or "-" when it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatTime formats a time from the API in UTC, the same for every
// machine of a fleet. The zero time stands for an unknown one and gives "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// formatMillis formats a tail timestamp (milliseconds since the epoch) in
// UTC.
func formatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000Z")
}

// formatPercent formats a percentage from the API as the Caddyfile and
// deploy write it.
func formatPercent(p float64) string {
	if w, err := splitter.PercentFromFloat(p); err == nil {
		return w.String()
	}
	// Not a percentage the server accepts; shown as it came.
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// formatMs formats a latency in milliseconds with about three significant
// digits.
func formatMs(ms float64) string {
	switch {
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	}
}

// describe returns the deployment's ID, source and creation time, leaving
// out what the API does not know, such as the time of a deployment that
// came from the config.
func describe(d *api.Deployment) string {
	var details []string
	for _, s := range []string{d.Source, formatTime(d.CreatedOn)} {
		if s != "" {
			details = append(details, s)
		}
	}
	switch {
	case d.ID == "":
		return strings.Join(details, ", ")
	case len(details) == 0:
		return d.ID
	}
	return d.ID + " (" + strings.Join(details, ", ") + ")"
}

// split returns the deployment's versions in the syntax of deploy, such as
// "v1@90% v2@10%", in the deployment's order, so that it can be pasted
// back.
func split(d *api.Deployment) string {
	parts := make([]string, len(d.Versions))
	for i, e := range d.Versions {
		parts[i] = e.VersionID + "@" + formatPercent(e.Percentage)
	}
	return strings.Join(parts, " ")
}
