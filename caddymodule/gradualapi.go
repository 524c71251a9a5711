package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/internal/cfapi"
)

func init() {
	caddy.RegisterModule(GradualAPI{})
	httpcaddyfile.RegisterHandlerDirective("gradual_api", parseGradualAPICaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("gradual_api", httpcaddyfile.Before, "metrics")
}

// GradualAPI serves the live-deployment APIs in a site, for clients that
// Caddy's admin endpoint refuses (wrangler) or that run elsewhere (CI):
// relative to the request path, the /gradual/ JSON API of the admin
// endpoint and, under /client/v4/, the part of Cloudflare's API v4 that
// wrangler uses, so that `wrangler deploy`, `versions`, `deployments`,
// `rollback` and `tail` work against the workers of this Caddy's gradual
// blocks. Every request needs a configured bearer token, except a tail's
// WebSocket, whose URL carries a one-time secret. Other paths get 404.
type GradualAPI struct {
	// Tokens are the bearer tokens that may use the API (at least one),
	// compared in constant time and never logged. Use placeholders such
	// as {env.GRADUAL_API_TOKEN} to keep them out of the config.
	Tokens []string `json:"tokens,omitempty"`

	tokens [][sha256.Size]byte
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (GradualAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.gradual_api",
		New: func() caddy.Module { return new(GradualAPI) },
	}
}

// Provision resolves the tokens' placeholders and hashes them, so that
// comparing takes the same time whatever the token's length.
func (a *GradualAPI) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	a.tokens = a.tokens[:0]
	for _, t := range a.Tokens {
		if t = repl.ReplaceKnown(t, ""); t != "" {
			a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
		}
	}
	return nil
}

// Validate requires a token: an API without one would be open to anyone
// who reaches the site.
func (a *GradualAPI) Validate() error {
	if len(a.tokens) == 0 {
		return errNoToken
	}
	return nil
}

var errNoToken = errors.New("gradual_api: at least one non-empty token is required (token {env.GRADUAL_API_TOKEN})")

// adminRoutes is the admin endpoint's /gradual/ API, served here too.
var adminRoutes = sync.OnceValue(func() caddy.AdminHandler { return adminAPI{}.Routes()[0].Handler })

// authorized reports whether r carries a configured bearer token. Every
// token is compared, so the time taken tells nothing about which matched.
func (a *GradualAPI) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	match := 0
	for i := range a.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], a.tokens[i][:])
	}
	return match == 1
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (a *GradualAPI) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, tailPath):
		// The tail's WebSocket: wrangler opens it without its token.
		serveCFTail(w, r, strings.TrimPrefix(path, tailPath), a.logger)
		return nil
	case !a.authorized(r):
		cfapi.WriteError(w, cfapi.Errorf(http.StatusUnauthorized, cfapi.CodeAuth, "Authentication error: a bearer token configured in gradual_api is required"))
		return nil
	case path == "/gradual" || strings.HasPrefix(path, "/gradual/"):
		return adminRoutes().ServeHTTP(w, r)
	case strings.HasPrefix(path, cfPrefix+"/"):
		cfRoutes.ServeHTTP(w, r)
		return nil
	}
	cfapi.WriteError(w, cfapi.Errorf(http.StatusNotFound, cfapi.CodeNotFound, "gradual_api serves /gradual/ and /client/v4/, not %s", path))
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	gradual_api [<token>...] {
//		token <token>...
//	}
//
// At least one token is required; several may be given, on one line or
// on several.
func (a *GradualAPI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	a.Tokens = append(a.Tokens, d.RemainingArgs()...)
	for d.NextBlock(0) {
		switch d.Val() {
		case "token":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			a.Tokens = append(a.Tokens, args...)
		default:
			return d.Errf("unrecognized gradual_api subdirective %q", d.Val())
		}
	}
	if len(a.Tokens) == 0 {
		return d.Err("gradual_api needs at least one token")
	}
	return nil
}

func parseGradualAPICaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(GradualAPI)
	err := a.UnmarshalCaddyfile(h.Dispenser)
	return a, err
}

// Interface guards
var (
	_ caddy.Module                = (*GradualAPI)(nil)
	_ caddy.Provisioner           = (*GradualAPI)(nil)
	_ caddy.Validator             = (*GradualAPI)(nil)
	_ caddyhttp.MiddlewareHandler = (*GradualAPI)(nil)
	_ caddyfile.Unmarshaler       = (*GradualAPI)(nil)
)
