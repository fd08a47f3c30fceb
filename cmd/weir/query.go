package main

import (
	"context"
	"fmt"
	"io"
)

// runQuery is "weir query": it runs SQL statements from the arguments or a
// file, printing the final table of a backfill, or the changelog of a live run
// as it arrives (until --for elapses or the process is interrupted).
func runQuery(_ context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("query",
		"weir query [--workspace DIR] [--mode backfill|live] [--from T] [--to T] [--for D]\n"+
			"\t           [--format table|csv|jsonl] [-f FILE | 'SQL; SQL; ...']", stderr)
	workspace := fs.String("workspace", "", "workspace `DIR` (default: a local workspace directory)")
	mode := fs.String("mode", "backfill", "query `MODE`: backfill (history in [from, to)) or live (history from --from on, then the live feed)")
	from := fs.String("from", "", "start of the event-time range, an RFC 3339 timestamp `T`")
	to := fs.String("to", "", "end (exclusive) of a backfill's event-time range, an RFC 3339 timestamp `T`")
	runFor := fs.Duration("for", 0, "stop a live run after `D` (0: until interrupted)")
	format := fs.String("format", "table", "output `FORMAT`: table, csv or jsonl")
	file := fs.String("f", "", "read SQL from `FILE` instead of the arguments")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch *mode {
	case "backfill", "live":
	default:
		return usagef(fs, "--mode must be backfill or live, not %q", *mode)
	}
	switch *format {
	case "table", "csv", "jsonl":
	default:
		return usagef(fs, "--format must be table, csv or jsonl, not %q", *format)
	}
	if (*file == "") == (fs.NArg() == 0) {
		return usagef(fs, "give SQL either with -f FILE or as an argument")
	}
	_, _, _, _ = workspace, from, to, runFor
	return fmt.Errorf("weir query: %w (SQL lands in a later issue)", errNotBuilt)
}
