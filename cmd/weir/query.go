package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/storage"
)

// runQuery is "weir query": it runs SQL statements from the arguments or a
// file, printing the final table of a backfill, or the changelog of a live run
// as it arrives (until --for elapses or the process is interrupted).
func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("query",
		"weir query [--workspace DIR] [--mode backfill|live] [--from T] [--to T] [--for D]\n"+
			"\t           [--format table|csv|jsonl] [--parallelism P]\n"+
			"\t           [--job NAME [--checkpoint-interval D] [--restart | --from-savepoint PATH]\n"+
			"\t           [--state-backend B]]\n"+
			"\t           [-f FILE | 'SQL; SQL; ...']\n\n"+
			"A durable job (--job NAME) checkpoints under WORKSPACE/checkpoints/NAME/ and resumes from its\n"+
			"latest checkpoint when the same command runs again. A failure within a run restarts it from\n"+
			"its latest checkpoint (at most 5 times in 10 minutes, waiting up to 1 s, 2 s, 4 s, ...).\n"+
			"The first interrupt (Ctrl-C, SIGTERM) stops the job with a savepoint, written to\n"+
			"WORKSPACE/savepoints/NAME/chk-ID/ and printed; the same command then resumes from it, and\n"+
			"--from-savepoint PATH starts the job from it (at any --parallelism). A second interrupt exits\n"+
			"at once. A job runs once at a time: a second run is refused while the first holds\n"+
			"WORKSPACE/locks/NAME.lock.", stderr)
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
	fromSavepoint := fs.String("from-savepoint", "", "start the durable job from the savepoint at `PATH` (a directory printed by a stop with\n"+
		"savepoint, or a file:// or s3:// URL of one), discarding its checkpoints; the query must be the savepoint's")
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
	if *jobName == "" && (*restart || flagSet(fs, "checkpoint-interval") || *fromSavepoint != "") {
		return usagef(fs, "--restart, --checkpoint-interval and --from-savepoint need --job NAME")
	}
	if *restart && *fromSavepoint != "" {
		return usagef(fs, "--restart and --from-savepoint exclude each other (a start from a savepoint discards the checkpoints)")
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
	var stopped chan error // the outcome of a stop with savepoint, once asked for
	if *jobName != "" {
		ws, err := workspaceDir(*workspace)
		if err != nil {
			return err
		}
		if opts.Durable, err = openDurable(ctx, ws, *jobName, *interval, *restart, *fromSavepoint, stderr); err != nil {
			return err
		}
		stopped = make(chan error, 2) // an interrupt's, and --for's
		defer onInterrupt(ctx, func(cancel func()) { stopped <- stopWithSavepoint(ctx, ws, opts.Durable, cancel, stderr) })()
		opts.Durable.StateBackend = *stateBackend
		if *runFor > 0 {
			// A durable job ends --for as an interrupt ends it, with a
			// savepoint: its sinks commit what it produced until then
			// (a live INSERT publishes it), and a re-run resumes there.
			var cancel context.CancelCauseFunc
			ctx, cancel = context.WithCancelCause(ctx)
			defer cancel(nil)
			t := time.AfterFunc(*runFor, func() {
				stopped <- stopWithSavepoint(ctx, ws, opts.Durable, func() { cancel(errRunFor) }, stderr)
			})
			defer t.Stop()
		}
	} else if *runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, *runFor, errRunFor)
		defer cancel()
	}
	out := newPrinter(stdout, *format, opts.Mode == query.Live)
	err = eng.Execute(ctx, sql, opts, out)
	if errors.Is(err, errRunFor) || errors.Is(context.Cause(ctx), errRunFor) {
		err = nil // --for elapsed: a normal end of a live run
	}
	if errors.Is(err, dataflow.ErrStopped) {
		// Stopped with a savepoint: a normal end once it is written.
		if serr := <-stopped; serr == nil {
			err = nil
		}
	}
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	return err
}

// workspaceDir is the workspace directory: the flag's, else the default.
func workspaceDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return defaultWorkspace()
}

// openDurable sets up a durable job in the workspace: its checkpoints go
// under checkpoints/ (storage.CheckpointPrefix), its savepoints under
// savepoints/, its lock is locks/NAME.lock; its resumption and restarts
// are announced on stderr. With fromSavepoint it reads that savepoint.
func openDurable(ctx context.Context, workspace, job string, interval time.Duration, restart bool, fromSavepoint string, stderr io.Writer) (*query.Durable, error) {
	local, err := storage.NewLocal(workspace)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", workspace, err)
	}
	d := &query.Durable{
		Job: job, Store: storage.NewCheckpoints(local, ""), Interval: interval, Restart: restart,
		Savepoints: storage.NewCheckpoints(local, savepointPrefix),
		Lock:       query.FileLocker{Dir: filepath.Join(workspace, "locks")},
		StateDir:   filepath.Join(workspace, "state", job),
		Resumed: func(job string, id int64) {
			_, _ = fmt.Fprintf(stderr, "resuming job %s from checkpoint %d\n", job, id)
		},
		Restarted: func(r query.Restart) {
			_, _ = fmt.Fprintf(stderr, "job %s failed: %v\nrestarting it in %v (restart %d of at most %d within %v)\n",
				r.Job, r.Err, r.Backoff.Round(time.Millisecond), r.Restart, r.Max, r.Window)
		},
	}
	if fromSavepoint != "" {
		if d.FromSavepoint, err = readSavepoint(ctx, fromSavepoint); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// savepointPrefix is where a workspace keeps savepoints:
// savepoints/<job>/chk-<id>/.
const savepointPrefix = "savepoints/"

// readSavepoint reads the savepoint at path: a local directory, or a
// file://, s3:// or mem:// URL of one.
func readSavepoint(ctx context.Context, path string) (*query.Savepoint, error) {
	var store dataflow.CheckpointStore
	if strings.Contains(path, "://") {
		s, prefix, err := storage.Open(ctx, strings.TrimSuffix(path, "/")+"/")
		if err != nil {
			return nil, fmt.Errorf("--from-savepoint: %w", err)
		}
		if prefix == "" {
			return nil, fmt.Errorf("--from-savepoint %s: a savepoint is a directory below the store's root", path)
		}
		store = storage.NewCheckpoints(s, prefix)
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("--from-savepoint: %w", err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--from-savepoint %s: not a directory", path)
		}
		local, err := storage.NewLocal(filepath.Dir(abs))
		if err != nil {
			return nil, fmt.Errorf("--from-savepoint: %w", err)
		}
		store = storage.NewCheckpoints(local, filepath.Base(abs)+"/")
	}
	return query.ReadSavepoint(ctx, store, "")
}

// stopWithSavepoint is the response of weir query --job to the first
// interrupt: stop the job with a savepoint and print where it is; if that
// cannot be done, cancel (the job then resumes from its latest
// checkpoint).
func stopWithSavepoint(ctx context.Context, workspace string, d *query.Durable, cancel func(), stderr io.Writer) error {
	_, _ = fmt.Fprintf(stderr, "stopping job %s with a savepoint (interrupt again to exit at once)\n", d.Job)
	ref, err := d.StopWithSavepoint(context.WithoutCancel(ctx))
	if err != nil && ref.Dir == "" {
		_, _ = fmt.Fprintf(stderr, "no savepoint: %v\n", err)
		cancel()
		return err
	}
	_, _ = fmt.Fprintf(stderr, "savepoint written to %s\n", filepath.Join(workspace, filepath.FromSlash(savepointPrefix+ref.Dir)))
	if err != nil {
		_, _ = fmt.Fprintln(stderr, err)
	}
	return nil
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
