package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/storage"
)

// stateBenchOptions configure "weir bench state".
type stateBenchOptions struct {
	Backend     string  // memory or pebble
	State       int64   // bytes of keyed state (values) to fill
	ValueBytes  int     // bytes per value
	Checkpoints int     // checkpoints to measure
	Update      float64 // fraction of the keys updated between checkpoints
	Parallelism int
	Dir         string // workspace for the checkpoint store and the state stores
}

// stateBenchResult is what "weir bench state" measured.
type stateBenchResult struct {
	Keys       int64
	Fill       time.Duration
	Durations  []time.Duration // per checkpoint: trigger to metadata written
	Uploaded   []int64         // per checkpoint: bytes written to the checkpoint store
	Recovery   time.Duration   // job cancelled to first output of the restored job
	Stop       time.Duration   // of which: cancelled to Run returned (state closed, removed)
	RecoverChk int64
}

// runBenchState is "weir bench state": a keyed process function fills
// --state bytes of ValueState, then the job is checkpointed --checkpoints
// times to a local workspace store, with --update of the keys updated
// before each; it reports checkpoint durations (trigger to metadata
// written), bytes uploaded per checkpoint, and the recovery time: from
// cancelling the job to the first output of a job restored from its latest
// checkpoint.
func runBenchState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench state", "weir bench state --backend memory|pebble [--state 1GiB] [--checkpoints N] [--update F] [--value-bytes N] [--dir DIR]", stderr)
	backend := fs.String("backend", "memory", "state backend `B`: memory or pebble")
	state := fs.String("state", "1GiB", "`SIZE` of the keyed state to fill (B, KiB, MiB, GiB)")
	checkpoints := fs.Int("checkpoints", 10, "number `N` of checkpoints to measure")
	update := fs.Float64("update", 0.1, "fraction `F` of the keys updated before each checkpoint")
	valueBytes := fs.Int("value-bytes", 1024, "bytes `N` per state value")
	parallelism := fs.Int("parallelism", 2, "parallelism `P` of the process function")
	dir := fs.String("dir", "", "workspace `DIR` for checkpoints and state (default: a temporary directory, removed)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	o := stateBenchOptions{Backend: *backend, Checkpoints: *checkpoints, Update: *update, ValueBytes: *valueBytes, Parallelism: *parallelism, Dir: *dir}
	var err error
	if o.State, err = parseSize(*state); err != nil {
		return usagef(fs, "--state: %v", err)
	}
	if _, err := query.ParseStateBackend(o.Backend); err != nil {
		return usagef(fs, "--backend: %v", err)
	}
	switch {
	case o.Checkpoints < 1:
		return usagef(fs, "--checkpoints must be at least 1")
	case o.Update < 0 || o.Update > 1:
		return usagef(fs, "--update must be in [0, 1]")
	case o.ValueBytes < 8:
		return usagef(fs, "--value-bytes must be at least 8")
	case o.Parallelism < 1:
		return usagef(fs, "--parallelism must be at least 1")
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "weir-bench-state-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d) //nolint:errcheck // a temporary directory
		o.Dir = d
	}
	r, err := benchState(ctx, o, stderr)
	if err != nil {
		return err
	}
	d := slices.Sorted(slices.Values(r.Durations))
	var up []string
	for _, b := range r.Uploaded {
		up = append(up, fmt.Sprintf("%.1f", float64(b)/(1<<20)))
	}
	_, err = fmt.Fprintf(stdout, "state %s: %d keys × %d B (%.2f GiB of values), parallelism %d, filled in %s\n"+
		"checkpoints: %d, %.0f%% of the keys updated before each\n"+
		"checkpoint duration p50: %s, p99: %s (min %s, max %s)\n"+
		"MiB uploaded per checkpoint: %s\n"+
		"recovery (cancel to first output, from checkpoint %d): %s (stop %s, restore to first output %s)\n",
		o.Backend, r.Keys, o.ValueBytes, float64(r.Keys*int64(o.ValueBytes))/(1<<30), o.Parallelism, r.Fill.Round(time.Millisecond),
		len(d), o.Update*100,
		quantile(d, 0.5).Round(time.Millisecond), quantile(d, 0.99).Round(time.Millisecond), d[0].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond),
		strings.Join(up, " "), r.RecoverChk, r.Recovery.Round(time.Millisecond),
		r.Stop.Round(time.Millisecond), (r.Recovery - r.Stop).Round(time.Millisecond))
	return err
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// parseSize parses "1GiB", "512MiB", "100KiB", "42B" or a plain number of bytes.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("size %q: use a positive number of B, KiB, MiB or GiB", s)
	}
	return int64(f * float64(mult)), nil
}

// countingCheckpoints counts the bytes written to a checkpoint store.
type countingCheckpoints struct {
	dataflow.CheckpointStore
	bytes atomic.Int64
}

func (c *countingCheckpoints) Put(ctx context.Context, name string, data []byte) error {
	c.bytes.Add(int64(len(data)))
	return c.CheckpointStore.Put(ctx, name, data)
}

const benchStateJob = "bench-state"

func benchState(ctx context.Context, o stateBenchOptions, log io.Writer) (stateBenchResult, error) {
	var r stateBenchResult
	local, err := storage.NewLocal(o.Dir)
	if err != nil {
		return r, err
	}
	store := &countingCheckpoints{CheckpointStore: storage.NewCheckpoints(local, "checkpoints/")}
	factory, err := query.ParseStateBackend(o.Backend)
	if err != nil {
		return r, err
	}
	r.Keys = max(o.State/int64(o.ValueBytes), 1)
	progress := func(format string, args ...any) { _, _ = fmt.Fprintf(log, format+"\n", args...) }

	j, err := startStateJob(ctx, o, store, factory, nil)
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := j.feed(ctx, 0, r.Keys, 1); err != nil {
		return r, errors.Join(err, j.stop())
	}
	r.Fill = time.Since(start)
	progress("filled %d keys in %s", r.Keys, r.Fill.Round(time.Millisecond))
	updates := int64(float64(r.Keys) * o.Update)
	var last int64
	for i := range o.Checkpoints {
		if i > 0 && updates > 0 {
			// Update a window of keys that moves through the key space.
			from := (int64(i) * updates) % r.Keys
			if err := j.feed(ctx, from, min(from+updates, r.Keys), int64(i+1)); err != nil {
				return r, errors.Join(err, j.stop())
			}
		}
		before := store.bytes.Load()
		t0 := time.Now()
		chk, err := j.job.Checkpoint(ctx, false)
		if err != nil {
			return r, errors.Join(err, j.stop())
		}
		r.Durations = append(r.Durations, time.Since(t0))
		r.Uploaded = append(r.Uploaded, store.bytes.Load()-before)
		last = chk.ID
		progress("checkpoint %d: %s, %.1f MiB uploaded", chk.ID, r.Durations[i].Round(time.Millisecond), float64(r.Uploaded[i])/(1<<20))
	}

	// Recovery: cancel the job, restore a new one from the latest
	// checkpoint, and time until its first output.
	t0 := time.Now()
	if err := j.stop(); err != nil {
		return r, err
	}
	r.Stop = time.Since(t0)
	chk, err := dataflow.LatestCheckpoint(ctx, store, benchStateJob, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return r, err
	}
	j2, err := startStateJob(ctx, o, store, factory, chk)
	if err != nil {
		return r, err
	}
	probe := r.Keys / 2
	j2.rows <- stateRows{from: probe, to: probe + 1, version: -1}
	select {
	case v := <-j2.first:
		r.Recovery = time.Since(t0)
		r.RecoverChk = chk.ID
		if v != int64(o.ValueBytes) {
			return r, errors.Join(fmt.Errorf("the restored job found a value of %d bytes for key %d, want %d", v, probe, o.ValueBytes), j2.stop())
		}
	case err := <-j2.done:
		return r, fmt.Errorf("restored job: %w", err)
	case <-ctx.Done():
		return r, errors.Join(context.Cause(ctx), j2.stop())
	}
	progress("recovered from checkpoint %d (last taken %d) in %s", chk.ID, last, r.Recovery.Round(time.Millisecond))
	return r, j2.stop()
}

// stateJob is a running job of the benchmark.
type stateJob struct {
	job    *dataflow.Job
	rows   chan stateRows
	first  chan int64 // the value size of the first probe's key
	done   chan error
	cancel context.CancelFunc
	fed    int64 // rows sent so far
}

// stateRows asks the source for the keys [from, to) at version (a
// version < 0 is a probe: the function emits the key's value size).
type stateRows struct{ from, to, version int64 }

var stateSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func startStateJob(ctx context.Context, o stateBenchOptions, store dataflow.CheckpointStore, factory dataflow.StateStoreFactory, restore *dataflow.Checkpoint) (*stateJob, error) {
	sj := &stateJob{rows: make(chan stateRows), first: make(chan int64, 1), done: make(chan error, 1)}
	g := dataflow.NewGraph(o.Parallelism)
	var once sync.Once
	g.Source("rows", dataflow.SourceSpec{Source: &stateSource{rows: sj.rows}, Parallelism: 1}).
		KeyBy("k").Process("state", o.Parallelism, stateSchema, "", func() dataflow.KeyedProcessFunction {
		return &stateFill{valueBytes: o.ValueBytes}
	}).
		Sink("probe", 1, func(_ context.Context, _ int, b dataflow.Batch) error {
			if b.Len() > 0 {
				once.Do(func() { sj.first <- columnar.Int64Values(b.Rec.Column(1))[0] })
			}
			return nil
		})
	job, err := dataflow.NewJob(g, dataflow.JobOptions{
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Restore:    restore,
		StateStore: factory,
		StateDir:   o.Dir,
		Checkpoints: dataflow.CheckpointOptions{Store: store, Job: benchStateJob, Retained: 3,
			Timeout: time.Hour},
	})
	if err != nil {
		return nil, err
	}
	sj.job = job
	jctx, cancel := context.WithCancel(ctx)
	sj.cancel = cancel
	go func() { sj.done <- job.Run(jctx) }()
	return sj, nil
}

// feed sends the keys [from, to) at version and waits until the process
// function has seen them.
func (j *stateJob) feed(ctx context.Context, from, to, version int64) error {
	const batch = 4096
	for k := from; k < to; k += batch {
		select {
		case j.rows <- stateRows{from: k, to: min(k+batch, to), version: version}:
		case err := <-j.done:
			j.done <- err
			return fmt.Errorf("the job ended: %w", err)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	j.fed += to - from
	for {
		var in int64
		for _, m := range j.job.Metrics("state") {
			in += m.RowsIn.Load()
		}
		if in >= j.fed {
			return nil
		}
		select {
		case err := <-j.done:
			j.done <- err
			return fmt.Errorf("the job ended: %w", err)
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (j *stateJob) stop() error {
	j.cancel()
	err := <-j.done
	j.done <- err
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// stateFill stores a value of valueBytes per key, derived from the key and
// the row's version; a probe row emits the size of its key's value.
type stateFill struct {
	valueBytes int
	v          *dataflow.ValueState[[]byte]
	buf        []byte
}

func (f *stateFill) Open(c *dataflow.ProcessContext) error {
	f.v = dataflow.NewValueState(c.State(), "value", dataflow.BytesCodec{})
	return nil
}

func (f *stateFill) ProcessRow(c *dataflow.ProcessContext, rec arrow.RecordBatch, row int) error {
	k := rec.Column(0).(*array.Int64).Value(row)
	version := rec.Column(1).(*array.Int64).Value(row)
	if version < 0 {
		v, _, err := f.v.Get(c.KeyGroup(), c.Key())
		if err != nil {
			return err
		}
		return c.Emit(k, int64(len(v)))
	}
	// Pseudo-random bytes (xorshift), so that compression does not make
	// the state smaller than it says.
	f.buf = f.buf[:0]
	x := uint64(k)*0x9E3779B97F4A7C15 ^ uint64(version) | 1
	for len(f.buf) < f.valueBytes {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		f.buf = append(f.buf, byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56))
	}
	return f.v.Put(c.KeyGroup(), c.Key(), f.buf[:f.valueBytes])
}

func (f *stateFill) OnTimer(*dataflow.ProcessContext, int64) error { return nil }

// stateSource emits the rows the benchmark asks for on its channel, in
// one split; its position counts the requests served, so a restored job
// waits for new ones.
type stateSource struct{ rows chan stateRows }

func (s *stateSource) Schema() *arrow.Schema { return stateSchema }

func (s *stateSource) Splits(context.Context) ([]dataflow.Split, error) {
	return []dataflow.Split{stateSplit{s.rows}}, nil
}

type stateSplit struct{ rows chan stateRows }

func (stateSplit) ID() string { return "rows" }

func (s stateSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	return &stateReader{rows: s.rows, pos: pos}, nil
}

type stateReader struct {
	rows chan stateRows
	pos  dataflow.Position
}

func (r *stateReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	var req stateRows
	select {
	case req = <-r.rows:
	case <-ctx.Done():
		return nil, r.pos, context.Cause(ctx)
	}
	n := int(req.to - req.from)
	k, v := make([]int64, n), make([]int64, n)
	for i := range n {
		k[i], v[i] = req.from+int64(i), req.version
	}
	r.pos++
	return columnar.Record(stateSchema, []arrow.Array{columnar.Int64s(k), columnar.Int64s(v)}, n), r.pos, nil
}

func (r *stateReader) Close() error { return nil }
