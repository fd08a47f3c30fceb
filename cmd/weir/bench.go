package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

// runBench is "weir bench": it runs a benchmark end to end and reports its
// throughput. Record results in bench/RESULTS.md.
func runBench(_ context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("bench", "weir bench nexmark --query qN [--events N] [--parallelism P]", stderr)
	query := fs.String("query", "", "Nexmark query to run, `qN` (required)")
	events := fs.Int64("events", 10_000_000, "number of events to generate (`N`)")
	parallelism := fs.Int("parallelism", runtime.GOMAXPROCS(0), "parallelism `P` of every operator")
	suite, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case suite != "nexmark":
		return usagef(fs, "unknown benchmark %q (known: nexmark)", suite)
	case *query == "":
		return usagef(fs, "--query is required")
	}
	_, _ = events, parallelism
	return fmt.Errorf("weir bench: %w", errNotBuilt)
}
