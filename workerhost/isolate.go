package workerhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"
)

// Bundling runs in a child process: a re-execution of the running binary
// that bundles, parses and compiles the script once and hands esbuild's
// output back to its parent.
//
// Why a child process rather than a bound on nesting checked beforehand:
// esbuild's parser and printer, and goja's parser and compiler, are
// recursive descent. Deep nesting of any of a dozen constructs (brackets,
// but also `!!!!x`, `a=a=…`, `a?b:a?b:…`, `x=>x=>…`, else-if chains, long
// `a+a+…` chains) overflows the Go stack, and a Go stack overflow is fatal:
// it cannot be recovered and would take every site of the server down. A
// pre-scan would have to model every recursive path of two parsers and
// stay right as both evolve; a child process is correct whatever the
// cause. The child runs with a sixteenth of the parent's stack limit, so
// that any bundle it survives, the parent parses and compiles with a
// sixteenfold margin (64 MB is about 100,000 levels of nesting, far beyond
// real code, and a crashing child costs at most that much memory). Its cost (a process start, tens of milliseconds) is paid only on
// a cache miss of Compile, that is when a script changes.
//
// The child is the same binary, selected by an environment variable that
// init reads before anything else runs, as with Docker's reexec package:
// every program that links workerhost (Caddy, the tests) can bundle.

// bundleChildEnv selects the bundling child in init.
const bundleChildEnv = "GRADUAL_WORKERHOST_BUNDLE_CHILD"

const (
	// childMaxStack is the child's Go stack limit: a sixteenth of Go's
	// default of 1 GB, which the parent keeps.
	childMaxStack = 64 << 20
	// childTimeout bounds one bundling.
	childTimeout = 2 * time.Minute
)

func init() {
	if os.Getenv(bundleChildEnv) != "1" {
		return
	}
	os.Exit(bundleChild(os.Stdin, os.Stdout))
}

// childRequest is what the parent asks its bundling child.
type childRequest struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	File   bool   `json:"file"`
}

// childReply is the child's answer: the bundle, or the compile error.
type childReply struct {
	Bundle   *bundled      `json:"bundle,omitempty"`
	Compile  *CompileError `json:"compile,omitempty"`
	Error    string        `json:"error,omitempty"`
	Finished bool          `json:"finished"`
}

// bundleChild is the child's main: it bundles and compiles the request's
// script and writes the reply.
func bundleChild(in io.Reader, out io.Writer) int {
	debug.SetMaxStack(childMaxStack)
	var req childRequest
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "workerhost bundling child:", err)
		return 2
	}
	reply := childReply{Finished: true}
	// bundleForGoja compiles its bundle once, so that goja's recursion too
	// meets the child's smaller stack first.
	b, err := bundleForGoja(req.Name, req.Source, req.File)
	var ce *CompileError
	switch {
	case errors.As(err, &ce):
		reply.Compile = ce
	case err != nil:
		reply.Error = err.Error()
	default:
		reply.Bundle = b
	}
	if err := json.NewEncoder(out).Encode(&reply); err != nil {
		return 2
	}
	return 0
}

// bundleIsolated bundles in a child process, falling back to bundling in
// this process only when no child can be started at all.
func bundleIsolated(name, source string, file bool) (*bundled, error) {
	exe, err := os.Executable()
	if err != nil {
		return bundleForGoja(name, source, file)
	}
	req, err := json.Marshal(childRequest{Name: name, Source: source, File: file})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), bundleChildEnv+"=1")
	cmd.Stdin = bytes.NewReader(req)
	var stdout bytes.Buffer
	stderr := &headBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		return bundleForGoja(name, source, file)
	}
	runErr := cmd.Wait()
	var reply childReply
	if json.Unmarshal(stdout.Bytes(), &reply) != nil || !reply.Finished {
		why := firstLine(stderr.String())
		if ctx.Err() != nil {
			why = fmt.Sprintf("it took longer than %v", childTimeout)
		}
		if strings.Contains(why, "stack exceeds") {
			why = "the script is nested too deeply (" + why + ")"
		}
		if why == "" && runErr != nil {
			why = runErr.Error()
		}
		return nil, &CompileError{Script: name, Messages: []string{name + ": the bundler failed: " + why}}
	}
	switch {
	case reply.Compile != nil:
		return nil, reply.Compile
	case reply.Error != "":
		return nil, errors.New(reply.Error)
	case reply.Bundle == nil:
		return nil, fmt.Errorf("workerhost: %s: the bundler returned nothing", name)
	}
	return reply.Bundle, nil
}

// headBuffer keeps the first max bytes written to it: a crashing child
// prints every goroutine's stack, of which only the first line matters.
type headBuffer struct {
	bytes.Buffer
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - h.Len(); room > 0 {
		h.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
