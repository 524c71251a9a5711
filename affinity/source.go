package affinity

import "net/http"

// Source says where a request's affinity key comes from. [Source.Key]
// consults, in order: the [KeyHeader] request header, Expression (if set),
// and Cookie (if set).
type Source struct {
	// Expression computes a key from the request, for example by
	// evaluating a Caddy placeholder expression. Nil means none.
	Expression func(*http.Request) string
	// Cookie is the affinity cookie. Nil means none.
	Cookie *Cookie
}

// Origin tells where an affinity key came from.
type Origin uint8

const (
	// OriginNone means the request has no key.
	OriginNone Origin = iota
	// OriginHeader means the key came from the KeyHeader request header.
	OriginHeader
	// OriginExpression means the key came from Source.Expression.
	OriginExpression
	// OriginCookie means the key came from the affinity cookie.
	OriginCookie
)

// String returns the origin's lowercase name, for logs.
func (o Origin) String() string {
	switch o {
	case OriginNone:
		return "none"
	case OriginHeader:
		return "header"
	case OriginExpression:
		return "expression"
	case OriginCookie:
		return "cookie"
	default:
		return "unknown"
	}
}

// Key returns the request's affinity key and where it came from, or
// ("", OriginNone) when there is none; the caller then mints a cookie if
// s.Cookie is set, or picks a version at random. Empty values count as
// absent and fall through to the next source.
func (s Source) Key(r *http.Request) (string, Origin) {
	// Indexing with the canonical name avoids Header.Get's canonicalisation,
	// keeping the common header case free of allocations.
	if v := r.Header[KeyHeader]; len(v) > 0 && v[0] != "" {
		return v[0], OriginHeader
	}
	if s.Expression != nil {
		if k := s.Expression(r); k != "" {
			return k, OriginExpression
		}
	}
	if s.Cookie != nil {
		if k := s.Cookie.Value(r); k != "" {
			return k, OriginCookie
		}
	}
	return "", OriginNone
}
