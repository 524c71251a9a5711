package gradualcmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/caddy-gradual/gradual/internal/api"
)

// tailCommand returns `caddy gradual tail`.
func tailCommand() *cobra.Command {
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
	cmd.RunE = run(func(s *session, cmd *cobra.Command, _ []string) error {
		versionID, _ := cmd.Flags().GetString("version-id")
		name, err := s.workerName()
		if err != nil {
			return err
		}
		path := api.WorkerPath(name, "tail")
		if versionID != "" {
			path += "?version_id=" + url.QueryEscape(versionID)
		}
		ctx, stop := signal.NotifyContext(s.ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		resp, err := s.client.Send(ctx, http.MethodGet, path, nil)
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

// printTailLine prints one NDJSON line of a tail: an api.TailEvent, or an
// api.TailDropped.
func (s *session) printTailLine(line []byte) error {
	if s.json {
		_, err := fmt.Fprintf(s.out, "%s\n", line)
		return err
	}
	var text string
	var kind struct {
		Type string `json:"type"`
	}
	err := json.Unmarshal(line, &kind)
	if err == nil && kind.Type == api.TailDroppedType {
		var d api.TailDropped
		if err = json.Unmarshal(line, &d); err == nil {
			text = fmt.Sprintf("%s  (%d events dropped: this tail read too slowly)\n", formatMillis(d.EventTimestamp), d.Dropped)
		}
	} else if err == nil {
		var ev api.TailEvent
		if err = json.Unmarshal(line, &ev); err == nil {
			text = formatEvent(&ev)
		}
	}
	if err != nil {
		text = "unreadable event: " + clean(string(line)) + "\n"
	}
	_, err = io.WriteString(s.out, text)
	return err
}

// formatEvent renders a tail event as one line with the request, then its
// log lines and exceptions indented under it.
func formatEvent(ev *api.TailEvent) string {
	var b strings.Builder
	version := dash(ev.ScriptVersion.ID)
	if ev.ScriptVersion.Tag != "" {
		version += " (" + ev.ScriptVersion.Tag + ")"
	}
	status := "-"
	if ev.Event.Response != nil {
		status = strconv.Itoa(ev.Event.Response.Status)
	}
	fmt.Fprintf(&b, "%s  %s  %s  %s %s  %s  %s\n", formatMillis(ev.EventTimestamp), clean(version), dash(clean(ev.Selection)),
		clean(ev.Event.Request.Method), clean(ev.Event.Request.URL), status, dash(clean(ev.Outcome)))
	for _, l := range ev.Logs {
		indent(&b, "  ["+dash(clean(l.Level))+"] ", strings.Join(l.Message, " "))
	}
	for _, x := range ev.Exceptions {
		summary := x.Name
		if x.Message != "" {
			summary = strings.TrimPrefix(summary+": "+x.Message, ": ")
		}
		indent(&b, "  [exception] ", summary)
		// JavaScript stacks usually repeat the error on their first line.
		stack := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(x.Stack), summary))
		if stack != "" {
			indent(&b, "    ", stack)
		}
	}
	return b.String()
}

// indent writes text under prefix, its following lines indented to line
// up, and each line cleaned of control characters.
func indent(b *strings.Builder, prefix, text string) {
	pad := strings.Repeat(" ", len(prefix))
	for i, line := range strings.Split(text, "\n") {
		if i == 0 {
			b.WriteString(prefix)
		} else {
			b.WriteString(pad)
		}
		b.WriteString(strings.TrimSpace(clean(line)))
		b.WriteByte('\n')
	}
}
