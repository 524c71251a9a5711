package splitter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ParseDeploy parses a deployment written as the Caddyfile's deploy
// subdirective and the CLI's `versions deploy` take it: arguments
// `<id>@<percent>%`, such as "v1@90%" "v2@10%", or a lone `<id>` for 100%.
// Percentages are read by [ParsePercent]: up to two decimals, 0 allowed.
// The result is a valid deployment, as [New] checks it: valid IDs, each at
// most once, percentages that add up to exactly 100%. Entries keep the
// order of args.
func ParseDeploy(args []string) ([]Entry, error) {
	if len(args) == 0 {
		return nil, errors.New("give at least one <version id>@<percent>%, or a lone <version id> for 100%")
	}
	if len(args) == 1 && !strings.Contains(args[0], "@") {
		args = []string{args[0] + "@100%"}
	}
	entries := make([]Entry, 0, len(args))
	for _, arg := range args {
		id, pct, ok := strings.Cut(arg, "@")
		if !ok {
			return nil, fmt.Errorf("%q: expected <version id>@<percent>%%", arg)
		}
		w, err := ParsePercent(pct)
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", id, err)
		}
		entries = append(entries, Entry{ID: id, Weight: w})
	}
	if _, err := New(entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// FormatDeploy writes entries in the canonical form of a deployment: sorted
// by ID, each as `<id>@<percent>%` with the shortest percentage (see
// [Weight.String]), separated by spaces, such as "v1@90% v2@10%". Two
// deployments that give the same versions the same weights format alike,
// whatever their order, and ParseDeploy reads the form back.
func FormatDeploy(entries []Entry) string {
	sorted := slices.SortedFunc(slices.Values(entries), func(a, b Entry) int { return strings.Compare(a.ID, b.ID) })
	var b strings.Builder
	for i, e := range sorted {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.ID)
		b.WriteByte('@')
		b.WriteString(e.Weight.String())
	}
	return b.String()
}
