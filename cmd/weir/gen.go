package main

import (
	"context"
	"fmt"
	"io"
)

// runGen is "weir gen": it writes a generated history as Parquet, in the
// layout weir's own history uses (split and position kept as columns).
func runGen(_ context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("gen", "weir gen nexmark --events N --out URL [--seed S]", stderr)
	events := fs.Int64("events", 0, "number of events to generate (`N`, required)")
	out := fs.String("out", "", "destination `URL` (file:///path/ or s3://bucket/prefix/, required)")
	seed := fs.Int64("seed", 1, "random seed `S`; the same seed gives the same history")
	gen, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case gen != "nexmark":
		return usagef(fs, "unknown generator %q (known: nexmark)", gen)
	case *events <= 0:
		return usagef(fs, "--events must be positive")
	case *out == "":
		return usagef(fs, "--out is required")
	}
	_ = seed
	return fmt.Errorf("weir gen: %w (Parquet history generation lands in a later issue)", errNotBuilt)
}
