package affinity

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

const (
	// DefaultOverrideHeader is the request header testers use to pick a
	// version. It is the header Cloudflare uses, so tooling written for
	// Workers Gradual Deployments works unchanged.
	DefaultOverrideHeader = "Cloudflare-Workers-Version-Overrides"

	// KeyHeader carries an explicit affinity key. It takes precedence over
	// every other key source.
	KeyHeader = "Cloudflare-Workers-Version-Key"
)

// maxWorkerNameLen is Cloudflare's limit on Worker names (they double as DNS
// labels); keeping to it keeps configurations portable in both directions.
const maxWorkerNameLen = 63

// ValidateWorkerName checks that name can address a worker in the override
// header: it must be an RFC 8941 Dictionary key (a lowercase letter or '*',
// then lowercase letters, digits, '_', '-', '.' or '*') of at most 63
// characters. A name that fails this check could never be matched by
// [Override], so configurations that use one are rejected up front.
func ValidateWorkerName(name string) error {
	if name == "" {
		return errors.New("worker name is empty")
	}
	if len(name) > maxWorkerNameLen {
		return fmt.Errorf("worker name %q is %d characters long; the limit is %d", name, len(name), maxWorkerNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			return fmt.Errorf("worker name %q: uppercase %q at position %d is not allowed, because keys of the override header (an RFC 8941 dictionary) are lowercase; use %q",
				name, c, i, strings.ToLower(name))
		case i == 0 && !isLCAlpha(c) && c != '*':
			return fmt.Errorf("worker name %q must start with a lowercase letter or '*', not %q", name, c)
		case !isKeyChar(c):
			return fmt.Errorf("worker name %q: character %q at position %d is not allowed; use lowercase letters, digits, '_', '-', '.' or '*'",
				name, c, i)
		}
	}
	return nil
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }

func isKeyChar(c byte) bool {
	return isLCAlpha(c) || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*'
}

// Override returns the version ID that an override header names for worker.
//
// values are all field lines of the header, as returned by
// [net/http.Header.Values]; they are parsed as one value, joined with ", ".
// Override returns ("", nil) when there is no header or it has no entry for
// worker, and ("", err) when the header is not a valid RFC 8941
// Dictionary or the worker's entry is not a non-empty string (a token such as
// shop=v2 is rejected, because IDs must be quoted). Parameters on the entry
// are ignored. When the worker appears more than once, the last entry wins.
func Override(values []string, worker string) (string, error) {
	// Most requests carry no override header; they must cost nothing.
	if len(values) == 0 {
		return "", nil
	}
	if len(values) > 1 {
		// Join the lines with ", " rather than letting httpsfv use a bare
		// ",": that is what a proxy that combines them sends on, so the ID
		// found does not depend on whether one did. The two differ only
		// for a string that spans lines.
		values = []string{strings.Join(values, ", ")}
	}
	dict, err := httpsfv.UnmarshalDictionary(values)
	if err != nil {
		return "", fmt.Errorf("override header is not a valid RFC 8941 dictionary: %w", err)
	}
	member, ok := dict.Get(worker)
	if !ok {
		return "", nil
	}
	item, ok := member.(httpsfv.Item)
	if !ok {
		return "", fmt.Errorf("override for worker %q is an inner list; want a quoted version ID such as %s=\"<id>\"", worker, worker)
	}
	id, ok := item.Value.(string)
	if !ok {
		return "", fmt.Errorf("override for worker %q is %s; want a quoted version ID such as %s=\"<id>\"", worker, describeBareItem(item.Value), worker)
	}
	if id == "" {
		return "", fmt.Errorf("override for worker %q is an empty string; want a version ID", worker)
	}
	return id, nil
}

// describeBareItem names the type of an RFC 8941 bare item for error
// messages, so that a tester who wrote shop=v2 learns that quotes are
// missing rather than just that the header was refused.
func describeBareItem(v any) string {
	switch v.(type) {
	case httpsfv.Token:
		return "a token (unquoted)"
	case int64:
		return "an integer"
	case float64:
		return "a decimal"
	case bool:
		return "a boolean"
	case []byte:
		return "a byte sequence"
	case time.Time:
		return "a date"
	case httpsfv.DisplayString:
		return "a display string"
	default:
		return fmt.Sprintf("not a string (%T)", v)
	}
}
