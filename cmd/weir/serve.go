package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/server"
)

// runServe is "weir serve": the notebook server (HTTP API, websocket, embedded
// UI) over a local workspace. With no flags it works on a fresh machine: the
// workspace is created, and the demo tables (a live Nexmark feed) are there.
//
// Shutdown order, on SIGINT/SIGTERM (ctx): the server stops accepting,
// cancels running queries, closes websockets, waits up to 5 s for requests
// in flight; then the catalog (already persisted at every change) is left
// as it is.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "weir serve [--addr HOST:PORT] [--workspace DIR]", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen on `HOST:PORT`; a token is required when it is not loopback")
	workspace := fs.String("workspace", "", "workspace `DIR` (default: $WEIR_WORKSPACE, else ~/.weir)")
	token := fs.String("token", "", "require this `TOKEN` (default: generated when --addr is not loopback)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	eng, err := openEngine(ctx, *workspace)
	if err != nil {
		return err
	}
	if err := ensureDemoTables(ctx, eng); err != nil {
		return fmt.Errorf("demo tables: %w", err)
	}
	srv, err := server.New(eng, server.Options{Addr: *addr, Token: *token, Logger: slog.Default()})
	if err != nil {
		return err
	}
	srv.Handle("GET /{$}", http.HandlerFunc(indexPage))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	if srv.Token() != "" {
		url += "?token=" + srv.Token()
	}
	_, _ = fmt.Fprintf(stdout, "weir is serving at %s\n", url)
	return srv.Serve(ctx, ln)
}

// demoTables are created in a workspace that lacks them: a live Nexmark
// feed of bids, auctions and persons, paced by the clock.
var demoTables = []string{
	`CREATE TABLE IF NOT EXISTS bids () WITH (live = 'nexmark://bids?rate=10000', event_time = 'date_time', watermark_delay = '2 seconds', idle_timeout = '10 seconds')`,
	`CREATE TABLE IF NOT EXISTS auctions () WITH (live = 'nexmark://auctions?rate=10000', event_time = 'date_time', watermark_delay = '2 seconds', idle_timeout = '10 seconds')`,
	`CREATE TABLE IF NOT EXISTS persons () WITH (live = 'nexmark://persons?rate=10000', event_time = 'date_time', watermark_delay = '2 seconds', idle_timeout = '10 seconds')`,
}

func ensureDemoTables(ctx context.Context, eng *query.Engine) error {
	for _, sql := range demoTables {
		if err := eng.Execute(ctx, sql, query.RunOptions{}, discardSink{}); err != nil {
			return err
		}
	}
	return nil
}

// discardSink ignores what statements produce.
type discardSink struct{}

func (discardSink) Schema(int, *arrow.Schema) error    { return nil }
func (discardSink) Rows(int, dataflow.Batch) error     { return nil }
func (discardSink) Progress(int, query.Progress) error { return nil }
func (discardSink) Done(int, query.Done) error         { return nil }

// indexPage stands in for the notebook UI until it is embedded (issue 5).
func indexPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, `<!doctype html><meta charset="utf-8"><title>weir</title>
<h1>weir</h1>
<p>The notebook UI is not embedded yet. The server is up: run SQL over the websocket at
<code>/ws</code> or with <code>POST /api/query</code>; metrics are at <a href="/metrics">/metrics</a>.</p>
<pre>curl -s localhost:8080/api/query -d '{"sql":"SELECT 1 + 1 AS two"}'</pre>`)
}
