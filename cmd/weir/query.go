package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/storage"
)

// runQuery is "weir query": it runs SQL statements from the arguments or a
// file, printing the final table of a backfill, or the changelog of a live run
// as it arrives (until --for elapses or the process is interrupted).
func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("query",
		"weir query [--workspace DIR] [--mode backfill|live] [--from T] [--to T] [--for D]\n"+
			"\t           [--format table|csv|jsonl] [--job NAME [--checkpoint-interval D] [--restart] [--state-backend B]]\n"+
			"\t           [-f FILE | 'SQL; SQL; ...']", stderr)
	workspace := fs.String("workspace", "", "workspace `DIR` (default: $WEIR_WORKSPACE, else ~/.weir)")
	mode := fs.String("mode", "backfill", "query `MODE`: backfill (history in [from, to)) or live (history from --from on, then the live feed)")
	from := fs.String("from", "", "start of the event-time range, an RFC 3339 timestamp `T`; live: read the history from T, then the\n"+
		"live feed from where the history ends (without it, a live run starts at the feed's present)")
	to := fs.String("to", "", "end (exclusive) of a backfill's event-time range, an RFC 3339 timestamp `T`")
	runFor := fs.Duration("for", 0, "stop a live run after `D` (0: until interrupted)")
	format := fs.String("format", "table", "output `FORMAT`: table, csv or jsonl")
	file := fs.String("f", "", "read SQL from `FILE` instead of the arguments")
	parallelism := fs.Int("parallelism", 2, "parallelism `P` of every operator")
	jobName := fs.String("job", "", "run the statement as the durable job `NAME`: checkpointed under the workspace, and resumed\n"+
		"from its latest checkpoint when the same command runs again after a crash")
	interval := fs.Duration("checkpoint-interval", query.DefaultCheckpointInterval, "a durable job's checkpoint interval `D`")
	restart := fs.Bool("restart", false, "discard the durable job's checkpoints and start it afresh")
	stateBackend := fs.String("state-backend", "memory", "where a durable job keeps keyed state: `B` is memory or pebble (on disk, checkpointed incrementally)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts := query.RunOptions{Parallelism: *parallelism}
	var err error
	if opts.Mode, err = query.ParseMode(*mode); err != nil {
		return usagef(fs, "--mode: %v", err)
	}
	if opts.From, err = parseTime(*from); err != nil {
		return usagef(fs, "--from: %v", err)
	}
	if opts.To, err = parseTime(*to); err != nil {
		return usagef(fs, "--to: %v", err)
	}
	switch *format {
	case "table", "csv", "jsonl":
	default:
		return usagef(fs, "--format must be table, csv or jsonl, not %q", *format)
	}
	if (*file == "") == (fs.NArg() == 0) {
		return usagef(fs, "give SQL either with -f FILE or as an argument")
	}
	if *jobName == "" && (*restart || flagSet(fs, "checkpoint-interval")) {
		return usagef(fs, "--restart and --checkpoint-interval need --job NAME")
	}
	if *jobName == "" && flagSet(fs, "state-backend") {
		return usagef(fs, "--state-backend needs --job NAME")
	}
	if _, err := query.ParseStateBackend(*stateBackend); err != nil {
		return usagef(fs, "--state-backend: %v", err)
	}
	if *jobName != "" {
		if err := query.CheckJobName(*jobName); err != nil {
			return usagef(fs, "--job: %v", err)
		}
		if *interval <= 0 {
			return usagef(fs, "--checkpoint-interval must be positive")
		}
	}
	sql := fs.Arg(0)
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		sql = string(b)
	}
	eng, err := openEngine(ctx, *workspace)
	if err != nil {
		return err
	}
	if *jobName != "" {
		if opts.Durable, err = openDurable(*workspace, *jobName, *interval, *restart, stderr); err != nil {
			return err
		}
		opts.Durable.StateBackend = *stateBackend
	}
	if *runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, *runFor, errRunFor)
		defer cancel()
	}
	out := newPrinter(stdout, *format, opts.Mode == query.Live)
	err = eng.Execute(ctx, sql, opts, out)
	if errors.Is(err, errRunFor) || errors.Is(context.Cause(ctx), errRunFor) {
		err = nil // --for elapsed: a normal end of a live run
	}
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	return err
}

// openDurable sets up a durable job: its checkpoints go to the workspace's
// object store under checkpoints/ (storage.CheckpointPrefix), and its
// resumption is announced on stderr.
func openDurable(workspace, job string, interval time.Duration, restart bool, stderr io.Writer) (*query.Durable, error) {
	if workspace == "" {
		var err error
		if workspace, err = defaultWorkspace(); err != nil {
			return nil, err
		}
	}
	local, err := storage.NewLocal(workspace)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", workspace, err)
	}
	return &query.Durable{
		Job: job, Store: storage.NewCheckpoints(local, ""), Interval: interval, Restart: restart,
		Resumed: func(job string, id int64) {
			_, _ = fmt.Fprintf(stderr, "resuming job %s from checkpoint %d\n", job, id)
		},
	}, nil
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

var errRunFor = errors.New("--for elapsed")

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (use RFC 3339: 2026-01-01T00:00:00Z)", s)
}
