package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// WorkerPath returns the API path of a worker, or of sub under it.
func WorkerPath(worker, sub string) string {
	p := "/gradual/workers/" + url.PathEscape(worker)
	if sub != "" {
		p += "/" + sub
	}
	return p
}

// maxAnswerBytes bounds how much of an answer is read: far more than any
// real answer, but a bound all the same.
const maxAnswerBytes = 64 << 20

// Client talks to Caddy's admin API. It does what
// caddycmd.AdminAPIRequest does, but requests carry a context, so that a
// tail stops on Ctrl-C, and failed answers are decoded, so that the API's
// own message reaches the user.
type Client struct {
	addr   string
	origin string
	unix   bool
	http   *http.Client
	// Token, when set, is sent as a bearer token, as a gradual_api handler
	// requires.
	Token string
}

// NewClient returns a client for the admin API listening at addr, in
// Caddy's network address syntax (such as localhost:2019 or
// unix//run/caddy-admin.sock), or for a gradual_api handler at an http or
// https URL (such as https://deploy.example.com, or a URL with the path
// the handler is mounted at).
func NewClient(addr string) (*Client, error) {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("invalid API URL %q: want http(s)://host[:port][/path]", addr)
		}
		return &Client{addr: addr, origin: strings.TrimSuffix(u.String(), "/"), http: &http.Client{}}, nil
	}
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		return nil, fmt.Errorf("invalid admin address %q: %w", addr, err)
	}
	if na.PortRangeSize() > 1 {
		return nil, fmt.Errorf("invalid admin address %q: a port range", addr)
	}
	network, dial := na.Network, na.JoinHostPort(0)
	c := &Client{addr: addr, origin: "http://" + dial, unix: na.IsUnixNetwork()}
	if c.unix {
		// Caddy ignores the host of requests over a socket, but Go wants
		// one; this is the one Caddy's own commands send.
		c.origin = "http://127.0.0.1"
		// A socket address may end in |<mode>, the permissions Caddy gives
		// the socket file, which are no part of its path.
		dial, _, _ = strings.Cut(dial, "|")
	}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, dial)
		},
	}}
	return c, nil
}

// Send makes a request with body as JSON and returns the response when its
// status is a success; otherwise it returns the API's error.
func (c *Client) Send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.origin+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !c.unix {
		// Caddy checks the origin of admin requests when enforce_origin is
		// on; this is the one it allows for its own listen address.
		req.Header.Set("Origin", c.origin)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// The url.Error repeats the method and URL, which say nothing the
		// message does not.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach Caddy's admin API at %s: %w", c.addr, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		return nil, answerError(resp.StatusCode, b)
	}
	return resp, nil
}

// Call makes a request that is answered with Cloudflare's envelope and
// returns its result.
func (c *Client) Call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	resp, err := c.Send(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of the admin API at %s: %w", c.addr, err)
	}
	// The Envelope, with the result kept raw for the caller.
	var env struct {
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, c.Unexpected(err)
	}
	if !env.Success {
		return nil, answerError(resp.StatusCode, b)
	}
	return env.Result, nil
}

// Unexpected reports an answer that is not shaped as the API promises.
func (c *Client) Unexpected(err error) error {
	return fmt.Errorf("unexpected answer from the admin API at %s: %w", c.addr, err)
}

// cliAPIError turns a failed answer into an error with the API's message.
func answerError(status int, body []byte) error {
	var env struct {
		Errors []Message `json:"errors"`
		// Error is how Caddy itself reports errors, such as a forbidden
		// host, before a request reaches the gradual API.
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		var msgs []string
		for _, e := range env.Errors {
			if e.Message != "" {
				msgs = append(msgs, e.Message)
			}
		}
		if len(msgs) > 0 {
			return errors.New(strings.Join(msgs, "; "))
		}
		if env.Error != "" {
			return fmt.Errorf("admin API: HTTP %d: %s", status, env.Error)
		}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(status)
	}
	if status == http.StatusNotFound {
		// Caddy's admin mux answers a bare 404 when no module serves
		// /gradual/: the usual cause is a Caddy built without the plugin.
		msg += " (is this Caddy built with caddy-gradual?)"
	}
	return fmt.Errorf("admin API: HTTP %d: %s", status, msg)
}

// Addr is the admin address the client talks to, as it was given.
func (c *Client) Addr() string { return c.addr }

// Close closes the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }
