package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weirdata/weir/bench/nexmark"
)

// runBench is "weir bench": it runs a benchmark end to end and reports its
// throughput (nexmark), its end-to-end latency (latency, bench_latency.go) or
// its checkpoints and recovery of keyed state (state, bench_state.go).
// Record results in bench/RESULTS.md.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "latency" {
		return runBenchLatency(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "state" {
		return runBenchState(ctx, args[1:], stdout, stderr) // bench_state.go
	}
	fs := newFlagSet("bench", "weir bench nexmark --query qN [--events N] [--parallelism P] [--sql] [--checkpoint-interval D [--workspace DIR]]\n       weir bench latency [--rate N] [--window D] [--duration D] [--viewers N]\n       weir bench state --backend memory|pebble [--state SIZE] [--checkpoints N]", stderr)
	query := fs.String("query", "", "Nexmark query to run, `qN` (required; "+fmt.Sprint(nexmark.Names())+")")
	events := fs.Int64("events", 5_000_000, "number of events to generate (`N`)")
	parallelism := fs.Int("parallelism", 2, "parallelism `P` of every operator")
	rate := fs.Int64("rate", 100_000, "events per second of event time (Nexmark V2: 100,000)")
	seed := fs.Uint64("seed", 0, "generator seed")
	delay := fs.Duration("delay", 0, "watermark delay of the sources")
	sql := fs.Bool("sql", false, "run the query's SQL version through the planner (and report the planner's overhead)")
	interval := fs.Duration("checkpoint-interval", 0, "take a checkpoint every `D` (0: none), into a temporary directory under the workspace")
	workspace := fs.String("workspace", "", "workspace `DIR` for --checkpoint-interval's store (default: $WEIR_WORKSPACE, else ~/.weir)")
	suite, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case suite != "nexmark":
		return usagef(fs, "unknown benchmark %q (known: nexmark, latency, state)", suite)
	case *query == "":
		return usagef(fs, "--query is required")
	case *interval < 0:
		return usagef(fs, "--checkpoint-interval must not be negative")
	case *interval > 0 && *sql:
		return usagef(fs, "--checkpoint-interval runs the Go API version of the query, not --sql")
	}
	opts := nexmark.Options{Query: *query, Events: *events, Parallelism: *parallelism, Rate: *rate, Seed: *seed, Delay: *delay,
		CheckpointInterval: *interval}
	if *interval > 0 {
		dir, cleanup, err := benchCheckpointDir(*workspace)
		if err != nil {
			return err
		}
		defer cleanup()
		opts.CheckpointDir = dir
	}
	var r nexmark.Result
	label := *query
	var planning time.Duration
	if *sql {
		if _, err := nexmark.SQL(*query); err != nil {
			return usagef(fs, "%v", err)
		}
		sr, err := nexmark.RunSQL(ctx, opts)
		if err != nil {
			return err
		}
		r, label, planning = sr.Result, *query+" (SQL)", sr.Planning
	} else {
		if _, err := nexmark.Lookup(*query); err != nil {
			return usagef(fs, "%v", err)
		}
		var err error
		if r, err = nexmark.Run(ctx, opts); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(stdout, "nexmark %s: %d events, parallelism %d, %d result rows, wall %s, cpu %s\n"+
		"events/s: %.0f\n"+
		"events/s/core: %.0f\n"+
		"peak memory: %.1f MiB\n",
		label, r.Events, r.Parallelism, r.Rows, r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond),
		r.EventsPerSecond(), r.EventsPerCoreSecond(), float64(r.PeakRSS)/(1<<20))
	if err == nil && *interval > 0 {
		_, err = fmt.Fprintf(stdout, "checkpoints: %d every %s, %.1f MiB written\n", r.Checkpoints, *interval, float64(r.CheckpointBytes)/(1<<20))
	}
	if err == nil && *sql {
		// Parse, bind, plan and compile to a graph; not part of the wall time.
		_, err = fmt.Fprintf(stdout, "planner overhead: %s\n", planning.Round(time.Microsecond))
	}
	return err
}

// benchCheckpointDir makes a temporary directory for a benchmark's
// checkpoints under the workspace (so on the disk a durable job would use);
// cleanup removes it.
func benchCheckpointDir(workspace string) (string, func(), error) {
	if workspace == "" {
		var err error
		if workspace, err = defaultWorkspace(); err != nil {
			return "", nil, err
		}
	}
	if err := os.MkdirAll(workspace, 0o755); err != nil {
		return "", nil, fmt.Errorf("workspace %s: %w", workspace, err)
	}
	dir, err := os.MkdirTemp(workspace, "bench-checkpoints-")
	if err != nil {
		return "", nil, fmt.Errorf("workspace %s: %w", workspace, err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}
