package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/notebooks"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/server"
	"github.com/weirdata/weir/ui"
)

// runServe is "weir serve": the notebook server (HTTP API, websocket, embedded
// UI) over a local workspace. With no flags it works on a fresh machine: the
// workspace is created; on its first start an hour of Nexmark history is
// written into it (serve_demo.go), the demo tables bids, auctions and
// persons read that history and the live feed that continues it, and the
// demo notebooks are written.
//
// Durable jobs (live runs asked to keep running, live INSERTs) are recorded
// in the workspace (jobs/, checkpoints/) and restored on every start, each
// from its latest checkpoint.
//
// Shutdown order, on SIGINT/SIGTERM (ctx): the server stops accepting,
// cancels running queries (durable jobs stay recorded and resume from their
// last checkpoint on the next start), closes websockets, waits for the jobs
// to end (at most 10 s) and up to 5 s for requests in flight; then the
// catalog (already persisted at every change) is left as it is.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "weir serve [--addr HOST:PORT] [--workspace DIR] [--checkpoint-interval DURATION] [--state-backend memory|pebble]", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen on `HOST:PORT`; a token is required when it is not loopback")
	workspace := fs.String("workspace", "", "workspace `DIR` (default: $WEIR_WORKSPACE, else ~/.weir)")
	token := fs.String("token", "", "require this `TOKEN` (default: generated when --addr is not loopback)")
	interval := fs.Duration("checkpoint-interval", query.DefaultCheckpointInterval, "checkpoint durable jobs every `DURATION`")
	stateBackend := fs.String("state-backend", "memory", "durable jobs' keyed state `BACKEND`: memory, or pebble (state larger than memory, under WORKSPACE/state/)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	if *interval <= 0 {
		return usagef(fs, "--checkpoint-interval must be positive, not %s", *interval)
	}
	if _, err := query.ParseStateBackend(*stateBackend); err != nil {
		return usagef(fs, "--state-backend: %v", err)
	}
	ws := *workspace
	if ws == "" {
		var err error
		if ws, err = defaultWorkspace(); err != nil {
			return err
		}
	}
	eng, err := openEngine(ctx, ws)
	if err != nil {
		return err
	}
	nbs, err := notebooks.Open(ws)
	if err != nil {
		return err
	}
	defer func() { _ = nbs.Close() }()
	if _, err := setupDemo(ctx, ws, eng, nbs, time.Now(), demoSpan, stdout); err != nil {
		return err
	}
	srv, err := server.New(eng, server.Options{Addr: *addr, Token: *token, Notebooks: nbs, Logger: slog.Default(),
		Workspace: ws, CheckpointInterval: *interval, StateBackend: *stateBackend})
	if err != nil {
		return err
	}
	// Durable jobs start again before the server listens; each resumes
	// from its latest checkpoint (a job that cannot is listed as failed).
	if _, err := srv.RestoreJobs(ctx); err != nil {
		return err
	}
	// The notebook UI at every path the API does not claim (the API's
	// patterns are more specific, so they take precedence).
	srv.Handle("GET /", ui.Handler())
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	if srv.Token() != "" {
		url += "?token=" + srv.Token()
	}
	_, _ = fmt.Fprintf(stdout, "weir is serving at %s (workspace %s)\n", url, ws)
	return srv.Serve(ctx, ln)
}

// discardSink ignores what statements produce.
type discardSink struct{}

func (discardSink) Schema(int, *arrow.Schema) error    { return nil }
func (discardSink) Rows(int, dataflow.Batch) error     { return nil }
func (discardSink) Progress(int, query.Progress) error { return nil }
func (discardSink) Done(int, query.Done) error         { return nil }
