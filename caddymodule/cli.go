package caddymodule

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/splitter"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "gradual",
		Usage: "<command> [--address <admin>] [--worker <name>] [--json]",
		Short: "Manages the live versions and deployments of gradual workers",
		Long: `
Manages the gradual workers of a running Caddy through its admin API:
upload a version, deploy it to a share of traffic, raise it, roll back,
and watch live stats and request logs, without editing the config or
reloading.

The admin API is found as other Caddy commands find it: --address, else
the admin address of the config given with --config (and --adapter), else
localhost:2019. --worker names the worker; it may be left out when Caddy
runs exactly one. --json prints the API's result as JSON instead of text.
`,
		CobraFunc: cliSetup,
	})
}

// cliSetup builds the `caddy gradual` command tree under cmd.
func cliSetup(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("address", "", "The address of Caddy's admin API, if not the default or the config's")
	pf.StringP("config", "c", "", "Configuration file to read the admin address from, if --address is not used")
	pf.StringP("adapter", "a", "", "Name of the config adapter to apply (when --config is used)")
	pf.StringP("worker", "w", "", "Name of the worker; may be omitted when Caddy runs exactly one")
	pf.Bool("json", false, "Print JSON: the API's result, or for tail the raw NDJSON events")

	versions := &cobra.Command{
		Use:   "versions",
		Short: "Uploads, lists and deploys the versions of a worker",
	}
	cliGroup(versions, cliUploadCommand(), cliVersionsListCommand(), cliDeployCommand())
	deployments := &cobra.Command{
		Use:   "deployments",
		Short: "Shows the deployment history of a worker",
	}
	cliGroup(deployments, cliDeploymentsListCommand())
	cliGroup(cmd, versions, deployments, cliRollbackCommand(), cliStatusCommand(), cliTailCommand())
}

// cliGroup adds subs to cmd, which only groups them. Cobra's default for
// such a command prints its help and succeeds whatever follows, so that a
// mistyped subcommand would go unnoticed in a script; here it is an error.
func cliGroup(cmd *cobra.Command, subs ...*cobra.Command) {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	cmd.AddCommand(subs...)
}

// cliUploadCommand returns `caddy gradual versions upload`.
func cliUploadCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upload (--script <file> | --upstream <addr>...) [--tag <tag>] [--message <text>] [--var <key>=<value>...]",
		Short: "Uploads a new version of a worker without deploying it",
		Long: `
Uploads a new version of a worker: a script (compiled by Caddy before it is
accepted) or a list of upstream addresses to proxy to. The version takes no
traffic until it is deployed with 'caddy gradual versions deploy'; until
then it can be reached with the version override header. Prints the new
version's ID.

--script - reads the script from standard input.
`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("script", "", "File with the version's JavaScript or TypeScript code (- for standard input)")
	f.StringArray("upstream", nil, "Address to proxy the version's requests to, instead of a script (repeatable)")
	f.String("tag", "", "Short label for the version, such as a release number")
	f.String("message", "", "Description of the version")
	f.StringArray("var", nil, "Plain-text environment binding <key>=<value> for the script (repeatable)")
	cmd.RunE = cliRun(func(s *cliSession, cmd *cobra.Command, _ []string) error {
		body, err := cliUploadBody(cmd)
		if err != nil {
			return err
		}
		name, err := s.workerName()
		if err != nil {
			return err
		}
		raw, err := s.api.call(s.ctx, http.MethodPost, cliWorkerPath(name, "versions"), body)
		if err != nil {
			return err
		}
		if s.json {
			return s.printJSON(raw)
		}
		var v versionInfo
		if err := json.Unmarshal(raw, &v); err != nil {
			return s.api.unexpected(err)
		}
		_, err = fmt.Fprintf(s.out, "Uploaded version %s of worker %s.\n", v.ID, name)
		return err
	})
	return cmd
}

// cliUploadBody builds the body of a version upload from the flags of cmd,
// checking them before anything is sent.
func cliUploadBody(cmd *cobra.Command) (*uploadRequest, error) {
	f := cmd.Flags()
	script, _ := f.GetString("script")
	upstreams, _ := f.GetStringArray("upstream")
	vars, _ := f.GetStringArray("var")
	tag, _ := f.GetString("tag")
	message, _ := f.GetString("message")
	body := &uploadRequest{Tag: tag, Message: message}
	switch {
	case script != "" && len(upstreams) > 0:
		return nil, errors.New("give either --script or --upstream, not both")
	case script == "" && len(upstreams) == 0:
		return nil, errors.New("give the version's code with --script <file> or its upstreams with --upstream <addr>")
	case len(upstreams) > 0:
		if len(vars) > 0 {
			return nil, errors.New("--var applies only to --script versions")
		}
		for _, u := range upstreams {
			if strings.TrimSpace(u) == "" {
				return nil, errors.New("--upstream needs an address")
			}
		}
		body.Upstreams = upstreams
		return body, nil
	}
	src, err := cliReadScript(cmd, script)
	if err != nil {
		return nil, err
	}
	body.Script = src
	// The file's name tells the server TypeScript from JavaScript and
	// names the script in stacks.
	if name := filepath.Base(script); script != "-" && validModuleName(name) {
		body.MainModule = name
	}
	if body.Vars, err = cliParseVars(vars); err != nil {
		return nil, err
	}
	return body, nil
}

// cliReadScript reads the script named by --script; "-" is standard input,
// as for Caddy's own file arguments.
func cliReadScript(cmd *cobra.Command, path string) (string, error) {
	var src []byte
	var err error
	if path == "-" {
		src, err = io.ReadAll(cmd.InOrStdin())
	} else {
		src, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("reading the script: %w", err)
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return "", fmt.Errorf("the script %s is empty", path)
	}
	return string(src), nil
}

// cliParseVars parses --var flags; a key given twice is an error rather
// than a silent override, since it is almost always a typo.
func cliParseVars(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	vars := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--var %q: expected <key>=<value>", kv)
		}
		if _, dup := vars[k]; dup {
			return nil, fmt.Errorf("--var %s is given more than once", k)
		}
		vars[k] = v
	}
	return vars, nil
}

// cliVersionsListCommand returns `caddy gradual versions list`.
func cliVersionsListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists the versions of a worker, newest first",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = cliRun(func(s *cliSession, _ *cobra.Command, _ []string) error {
		name, err := s.workerName()
		if err != nil {
			return err
		}
		raw, err := s.api.call(s.ctx, http.MethodGet, cliWorkerPath(name, "versions"), nil)
		if err != nil {
			return err
		}
		if s.json {
			return s.printJSON(raw)
		}
		var versions []versionInfo
		if err := json.Unmarshal(raw, &versions); err != nil {
			return s.api.unexpected(err)
		}
		tw := cliTable(s.out, "ID", "CREATED", "SOURCE", "KIND", "TAG", "MESSAGE")
		for _, v := range versions {
			cliRow(tw, v.ID, cliTime(v.CreatedOn), v.Source, v.Kind, v.Annotations["workers/tag"], v.Annotations["workers/message"])
		}
		return tw.Flush()
	})
	return cmd
}

// cliDeployCommand returns `caddy gradual versions deploy`.
func cliDeployCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy <id>@<percent>% ... [--message <text>]",
		Short: "Splits a worker's traffic between versions, live",
		Long: `
Makes a new deployment: each argument is a version ID and its share of
traffic, as in the Caddyfile's deploy subdirective, such as

	caddy gradual versions deploy 1f0e3c7a@90% 9b2d44e1@10%

Percentages have at most two decimals and must add up to 100. A lone <id>
deploys that version to all traffic. The change takes effect at once,
without a reload, and requests in flight finish on their version.
`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("give at least one <version id>@<percent>%, or a lone <version id> for 100%")
			}
			return nil
		},
	}
	cmd.Flags().String("message", "", "Why the deployment was made; kept in the deployment history")
	cmd.RunE = cliRun(func(s *cliSession, cmd *cobra.Command, args []string) error {
		entries, err := splitter.ParseDeploy(args)
		if err != nil {
			return err
		}
		body := deploymentRequest{Strategy: "percentage", Versions: make([]DeployEntry, len(entries))}
		for i, e := range entries {
			body.Versions[i] = DeployEntry{VersionID: e.ID, Percentage: e.Weight.Percent()}
		}
		if msg, _ := cmd.Flags().GetString("message"); msg != "" {
			body.Annotations = map[string]string{"workers/message": msg}
		}
		name, err := s.workerName()
		if err != nil {
			return err
		}
		raw, err := s.api.call(s.ctx, http.MethodPost, cliWorkerPath(name, "deployments"), body)
		if err != nil {
			return err
		}
		return s.printDeployment(raw, "Deployed", name)
	})
	return cmd
}

// cliDeploymentsListCommand returns `caddy gradual deployments list`.
func cliDeploymentsListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists the deployments of a worker, newest first",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = cliRun(func(s *cliSession, _ *cobra.Command, _ []string) error {
		name, err := s.workerName()
		if err != nil {
			return err
		}
		raw, err := s.api.call(s.ctx, http.MethodGet, cliWorkerPath(name, "deployments"), nil)
		if err != nil {
			return err
		}
		if s.json {
			return s.printJSON(raw)
		}
		var history struct {
			Deployments []deploymentRecord `json:"deployments"`
		}
		if err := json.Unmarshal(raw, &history); err != nil {
			return s.api.unexpected(err)
		}
		tw := cliTable(s.out, "CREATED", "SOURCE", "TRIGGERED BY", "SPLIT", "MESSAGE")
		for _, d := range history.Deployments {
			cliRow(tw, cliTime(d.CreatedOn), d.Source, d.Annotations["workers/triggered_by"], d.cliSplit(), d.Annotations["workers/message"])
		}
		return tw.Flush()
	})
	return cmd
}

// cliRollbackCommand returns `caddy gradual rollback`.
func cliRollbackCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollback [<version id>] [--message <text>]",
		Short: "Sends all of a worker's traffic back to an earlier version",
		Long: `
Deploys one version to all traffic: the given one, or without an ID the
newest earlier version that served 100%.
`,
		Args: cobra.MaximumNArgs(1),
	}
	cmd.Flags().String("message", "", "Why the rollback was made; kept in the deployment history")
	cmd.RunE = cliRun(func(s *cliSession, cmd *cobra.Command, args []string) error {
		var body rollbackRequest
		if len(args) == 1 {
			if err := splitter.ValidateID(args[0]); err != nil {
				return err
			}
			body.VersionID = args[0]
		}
		body.Message, _ = cmd.Flags().GetString("message")
		name, err := s.workerName()
		if err != nil {
			return err
		}
		raw, err := s.api.call(s.ctx, http.MethodPost, cliWorkerPath(name, "rollback"), body)
		if err != nil {
			return err
		}
		return s.printDeployment(raw, "Rolled back", name)
	})
	return cmd
}

// cliStatusCommand returns `caddy gradual status`.
func cliStatusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Shows a worker's deployment and each version's live stats",
		Long: `
Shows the active deployment of a worker and, for each of its versions, its
share of traffic, tag, request and error counts since Caddy started, and
its error rate and p50/p99 latency over the last minute or so (the window
is printed). Versions that are uploaded but not deployed show "-".
`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = cliRun(func(s *cliSession, _ *cobra.Command, _ []string) error {
		name, err := s.workerName()
		if err != nil {
			return err
		}
		raw, err := s.api.call(s.ctx, http.MethodGet, cliWorkerPath(name, ""), nil)
		if err != nil {
			return err
		}
		if s.json {
			return s.printJSON(raw)
		}
		var w workerInfo
		if err := json.Unmarshal(raw, &w); err != nil {
			return s.api.unexpected(err)
		}
		return cliPrintStatus(s.out, &w)
	})
	return cmd
}

// cliPrintStatus writes the human-readable status of w: a header about its
// deployment, then one row per version, deployed versions first in the
// deployment's order.
func cliPrintStatus(out io.Writer, w *workerInfo) error {
	head := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	cliRow(head, "Worker:", w.Name)
	pct := map[string]float64{}
	var order []string
	if d := w.Deployment; d != nil {
		cliRow(head, "Deployment:", d.cliDescribe())
		if by := d.Annotations["workers/triggered_by"]; by != "" {
			cliRow(head, "Triggered by:", by)
		}
		if msg := d.Annotations["workers/message"]; msg != "" {
			cliRow(head, "Message:", msg)
		}
		for _, e := range d.Versions {
			pct[e.VersionID] = e.Percentage
			order = append(order, e.VersionID)
		}
	} else {
		cliRow(head, "Deployment:", "none")
	}
	for _, st := range w.Stats {
		if st != nil && st.WindowSeconds > 0 {
			cliRow(head, "Window:", fmt.Sprintf("%ds (error rate, p50, p99)", st.WindowSeconds))
			break
		}
	}
	if err := head.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out); err != nil {
		return err
	}

	byID := make(map[string]versionInfo, len(w.Versions))
	for _, v := range w.Versions {
		byID[v.ID] = v
		if _, deployed := pct[v.ID]; !deployed {
			order = append(order, v.ID)
		}
	}
	tw := cliTable(out, "VERSION", "PERCENT", "TAG", "REQUESTS", "ERRORS", "ERROR RATE", "P50", "P99")
	for _, id := range order {
		share := "-"
		if p, ok := pct[id]; ok {
			share = cliPercent(p)
		}
		requests, errs, rate, p50, p99 := "-", "-", "-", "-", "-"
		if st := w.Stats[id]; st != nil {
			requests, errs = strconv.FormatUint(st.Requests, 10), strconv.FormatUint(st.Errors, 10)
			// With no request in the window, a rate or latency of 0 would
			// look like a measurement; there is none.
			if st.WindowRequests > 0 {
				rate = strconv.FormatFloat(100*st.ErrorRate, 'f', 2, 64) + "%"
				p50, p99 = cliMs(st.P50Ms), cliMs(st.P99Ms)
			}
		}
		cliRow(tw, id, share, byID[id].Annotations["workers/tag"], requests, errs, rate, p50, p99)
	}
	return tw.Flush()
}

// cliTailCommand returns `caddy gradual tail`.
func cliTailCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tail [--version-id <id>] [--json]",
		Short: "Follows a worker's requests, logs and exceptions live",
		Long: `
Prints each request the worker serves as it happens, until Ctrl-C: time,
version, how the version was selected, method, URL, status and outcome,
then the script's log lines and exceptions, indented. --version-id shows
only one version's requests. --json prints the raw events, one JSON object
per line, as the admin API sends them.
`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("version-id", "", "Show only the requests served by this version")
	cmd.RunE = cliRun(func(s *cliSession, cmd *cobra.Command, _ []string) error {
		versionID, _ := cmd.Flags().GetString("version-id")
		name, err := s.workerName()
		if err != nil {
			return err
		}
		path := cliWorkerPath(name, "tail")
		if versionID != "" {
			path += "?version_id=" + url.QueryEscape(versionID)
		}
		ctx, stop := signal.NotifyContext(s.ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		resp, err := s.api.send(ctx, http.MethodGet, path, nil)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer resp.Body.Close()
		// The banner goes to standard error so that standard output holds
		// only events, ready for a pipe.
		fmt.Fprintf(cmd.ErrOrStderr(), "Tailing worker %s; press Ctrl-C to stop.\n", name)
		r := bufio.NewReader(resp.Body)
		for {
			line, readErr := r.ReadBytes('\n')
			// Blank lines are heartbeats.
			if line = bytes.TrimSpace(line); len(line) > 0 {
				if err := s.printTailLine(line); err != nil {
					return err
				}
			}
			switch {
			case readErr == nil:
			case ctx.Err() != nil:
				return nil
			case errors.Is(readErr, io.EOF):
				return errors.New("the admin API ended the tail (was the worker removed or Caddy stopped?)")
			default:
				return fmt.Errorf("reading the tail: %w", readErr)
			}
		}
	})
	return cmd
}

// printTailLine prints one NDJSON line of a tail.
func (s *cliSession) printTailLine(line []byte) error {
	if s.json {
		_, err := fmt.Fprintf(s.out, "%s\n", line)
		return err
	}
	var ev cliTailEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		_, err := fmt.Fprintf(s.out, "unreadable event: %s\n", cliClean(string(line)))
		return err
	}
	_, err := io.WriteString(s.out, cliFormatEvent(&ev))
	return err
}

// cliFormatEvent renders a tail event as one line with the request, then
// its log lines and exceptions indented under it.
func cliFormatEvent(ev *cliTailEvent) string {
	var b strings.Builder
	ts := cliMillis(ev.EventTimestamp)
	if ev.Type == "dropped" {
		fmt.Fprintf(&b, "%s  (%d events dropped: this tail read too slowly)\n", ts, ev.Dropped)
		return b.String()
	}
	version := cliOr(ev.ScriptVersion.ID)
	if ev.ScriptVersion.Tag != "" {
		version += " (" + ev.ScriptVersion.Tag + ")"
	}
	status := "-"
	if ev.Event.Response != nil {
		status = strconv.Itoa(ev.Event.Response.Status)
	}
	fmt.Fprintf(&b, "%s  %s  %s  %s %s  %s  %s\n", ts, cliClean(version), cliOr(cliClean(ev.Selection)),
		cliClean(ev.Event.Request.Method), cliClean(ev.Event.Request.URL), status, cliOr(cliClean(ev.Outcome)))
	for _, l := range ev.Logs {
		parts := make([]string, len(l.Message))
		for i, m := range l.Message {
			// console.log("a", 1) arrives as ["a", 1]: strings print bare,
			// as a browser console shows them, anything else as JSON.
			if err := json.Unmarshal(m, &parts[i]); err != nil {
				parts[i] = string(m)
			}
		}
		cliIndent(&b, "  ["+cliOr(cliClean(l.Level))+"] ", strings.Join(parts, " "))
	}
	for _, x := range ev.Exceptions {
		summary := x.Name
		if x.Message != "" {
			summary = strings.TrimPrefix(summary+": "+x.Message, ": ")
		}
		cliIndent(&b, "  [exception] ", summary)
		// JavaScript stacks usually repeat the error on their first line.
		stack := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(x.Stack), summary))
		if stack != "" {
			cliIndent(&b, "    ", stack)
		}
	}
	return b.String()
}

// cliIndent writes text under prefix, its following lines indented to line
// up, and each line cleaned of control characters.
func cliIndent(b *strings.Builder, prefix, text string) {
	pad := strings.Repeat(" ", len(prefix))
	for i, line := range strings.Split(text, "\n") {
		if i == 0 {
			b.WriteString(prefix)
		} else {
			b.WriteString(pad)
		}
		b.WriteString(strings.TrimSpace(cliClean(line)))
		b.WriteByte('\n')
	}
}

// cliSession is one run of a gradual subcommand: the admin API, the shared
// flags and where output goes.
type cliSession struct {
	ctx    context.Context
	out    io.Writer
	api    *cliClient
	worker string
	json   bool
}

// cliRun adapts a subcommand to cobra: it reads the shared flags and finds
// the admin API as other Caddy commands do before it calls run.
func cliRun(run func(s *cliSession, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		fl := caddycmd.Flags{FlagSet: cmd.Flags()}
		addr, err := caddycmd.DetermineAdminAPIAddress(fl.String("address"), nil, fl.String("config"), fl.String("adapter"))
		if err != nil {
			return fmt.Errorf("finding the admin API address: %w", err)
		}
		api, err := newCLIClient(addr)
		if err != nil {
			return err
		}
		defer api.http.CloseIdleConnections()
		return run(&cliSession{
			ctx:    cmd.Context(),
			out:    cmd.OutOrStdout(),
			api:    api,
			worker: fl.String("worker"),
			json:   fl.Bool("json"),
		}, cmd, args)
	}
}

// workerName returns the worker named by --worker or, without it, the only
// worker Caddy runs.
func (s *cliSession) workerName() (string, error) {
	if s.worker != "" {
		return s.worker, nil
	}
	raw, err := s.api.call(s.ctx, http.MethodGet, "/gradual/workers", nil)
	if err != nil {
		return "", err
	}
	var workers []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &workers); err != nil {
		return "", s.api.unexpected(err)
	}
	switch len(workers) {
	case 1:
		return workers[0].Name, nil
	case 0:
		return "", fmt.Errorf("the Caddy at %s runs no gradual worker", s.api.addr)
	}
	names := make([]string, len(workers))
	for i, w := range workers {
		names[i] = w.Name
	}
	return "", fmt.Errorf("the Caddy at %s runs %d workers (%s); choose one with --worker", s.api.addr, len(names), strings.Join(names, ", "))
}

// printJSON prints an API result for --json, indented for people but
// otherwise as the API sent it.
func (s *cliSession) printJSON(raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return s.api.unexpected(err)
	}
	b.WriteByte('\n')
	_, err := s.out.Write(b.Bytes())
	return err
}

// printDeployment reports the deployment that deploy or rollback made.
func (s *cliSession) printDeployment(raw json.RawMessage, verb, worker string) error {
	if s.json {
		return s.printJSON(raw)
	}
	var d deploymentRecord
	if err := json.Unmarshal(raw, &d); err != nil {
		return s.api.unexpected(err)
	}
	_, err := fmt.Fprintf(s.out, "%s worker %s: %s (deployment %s).\n", verb, worker, d.cliSplit(), cliOr(d.ID))
	return err
}

// cliWorkerPath returns the API path of a worker, or of sub under it.
func cliWorkerPath(worker, sub string) string {
	p := "/gradual/workers/" + url.PathEscape(worker)
	if sub != "" {
		p += "/" + sub
	}
	return p
}

// cliMaxResponse bounds how much of an answer is read: far more than any
// real answer, but a bound all the same.
const cliMaxResponse = 64 << 20

// cliClient talks to Caddy's admin API. It does what
// caddycmd.AdminAPIRequest does, but requests carry a context, so that a
// tail stops on Ctrl-C, and failed answers are decoded, so that the API's
// own message reaches the user.
type cliClient struct {
	addr   string
	origin string
	unix   bool
	http   *http.Client
}

// newCLIClient returns a client for the admin API listening at addr, in
// Caddy's network address syntax (such as localhost:2019 or
// unix//run/caddy-admin.sock).
func newCLIClient(addr string) (*cliClient, error) {
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		return nil, fmt.Errorf("invalid admin address %q: %w", addr, err)
	}
	if na.PortRangeSize() > 1 {
		return nil, fmt.Errorf("invalid admin address %q: a port range", addr)
	}
	network, dial := na.Network, na.JoinHostPort(0)
	c := &cliClient{addr: addr, origin: "http://" + dial, unix: na.IsUnixNetwork()}
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

// send makes a request with body as JSON and returns the response when its
// status is a success; otherwise it returns the API's error.
func (c *cliClient) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
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
		b, _ := io.ReadAll(io.LimitReader(resp.Body, cliMaxResponse))
		return nil, cliAPIError(resp.StatusCode, b)
	}
	return resp, nil
}

// call makes a request that is answered with Cloudflare's envelope and
// returns its result.
func (c *cliClient) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, cliMaxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of the admin API at %s: %w", c.addr, err)
	}
	var env struct {
		Success bool            `json:"success"`
		Result  json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, c.unexpected(err)
	}
	if !env.Success {
		return nil, cliAPIError(resp.StatusCode, b)
	}
	return env.Result, nil
}

// unexpected reports an answer that is not shaped as the API promises.
func (c *cliClient) unexpected(err error) error {
	return fmt.Errorf("unexpected answer from the admin API at %s: %w", c.addr, err)
}

// cliAPIError turns a failed answer into an error with the API's message.
func cliAPIError(status int, body []byte) error {
	var env struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
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

// cliTable starts a table with the given column titles.
func cliTable(out io.Writer, titles ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(titles, "\t"))
	return tw
}

// cliRow writes one row of a table; empty cells show "-" so that columns
// stay readable, and control characters, which would break the layout or
// drive the terminal, become spaces.
func cliRow(tw *tabwriter.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = cliOr(strings.TrimSpace(cliClean(c)))
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// cliClean replaces control characters, including tabs and newlines, with
// spaces: text from the API (messages, script logs) must neither break the
// layout nor send escape sequences to the terminal.
func cliClean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// cliOr returns s, or "-" when it is empty.
func cliOr(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cliTime formats a time from the API in UTC, the same for every machine
// of a fleet. The zero time stands for an unknown one and gives "".
func cliTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// cliMillis formats a tail timestamp (milliseconds since the epoch) in UTC.
func cliMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000Z")
}

// cliPercent formats a percentage as the Caddyfile and deploy write it.
func cliPercent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

// cliMs formats a latency in milliseconds with about three significant
// digits.
func cliMs(ms float64) string {
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

// cliDescribe returns the deployment's ID, source and creation time,
// leaving out what the API does not know, such as the time of a deployment
// that came from the config.
func (d *deploymentRecord) cliDescribe() string {
	var details []string
	for _, s := range []string{d.Source, cliTime(d.CreatedOn)} {
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

// cliSplit returns the deployment's versions in the syntax of deploy, such
// as "v1@90% v2@10%", so that it can be pasted back.
func (d *deploymentRecord) cliSplit() string {
	parts := make([]string, len(d.Versions))
	for i, e := range d.Versions {
		parts[i] = e.VersionID + "@" + cliPercent(e.Percentage)
	}
	return strings.Join(parts, " ")
}

// cliTailEvent is one line of a tail: a request, or a report of dropped
// events when Type is "dropped".
type cliTailEvent struct {
	Type           string `json:"type"`
	Dropped        uint64 `json:"dropped"`
	EventTimestamp int64  `json:"eventTimestamp"`
	ScriptVersion  struct {
		ID  string `json:"id"`
		Tag string `json:"tag"`
	} `json:"scriptVersion"`
	Outcome   string `json:"outcome"`
	Selection string `json:"selection"`
	Event     struct {
		Request struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
		Response *struct {
			Status int `json:"status"`
		} `json:"response"`
	} `json:"event"`
	Logs []struct {
		Level   string            `json:"level"`
		Message []json.RawMessage `json:"message"`
	} `json:"logs"`
	Exceptions []struct {
		Name    string `json:"name"`
		Message string `json:"message"`
		Stack   string `json:"stack"`
	} `json:"exceptions"`
}
