package nexmark

import (
	"context"
	"fmt"
	"path"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage"
	gen "github.com/weirdata/weir/unbounded/nexmark"
)

// Options are the settings of one benchmark run.
type Options struct {
	Query       string
	Events      int64 // events of all kinds (default 5 M)
	Parallelism int   // of every node (default 2)
	Rate        int64 // events per second of event time (default 100,000: Nexmark V2)
	Seed        uint64
	// Delay is the watermark delay of the sources. The generator's events
	// are in order per partition, so 0 is exact; Nexmark runs often use
	// a few seconds.
	Delay time.Duration
	// CheckpointInterval, if positive, makes the job take a checkpoint
	// that often, stored in a local directory store at CheckpointDir (the
	// cost of checkpoints: barriers, snapshots, uploads, metadata).
	CheckpointInterval time.Duration
	CheckpointDir      string
}

// Result is what a run measured.
type Result struct {
	Options
	Rows    int64         // result rows (changelog rows)
	Wall    time.Duration // from start to the end of the job
	CPU     time.Duration // user + system time of the process during the run
	PeakRSS int64         // bytes; the process's high-water mark
	// Checkpoints is how many checkpoints completed (metadata written),
	// and CheckpointBytes what they wrote, metadata included.
	Checkpoints, CheckpointBytes int64
}

// EventsPerSecond is events over wall time.
func (r Result) EventsPerSecond() float64 { return float64(r.Events) / r.Wall.Seconds() }

// EventsPerCoreSecond is events over CPU time: the Nexmark harness's
// "throughput per core", generator included.
func (r Result) EventsPerCoreSecond() float64 { return float64(r.Events) / r.CPU.Seconds() }

func (o *Options) defaults() {
	if o.Events <= 0 {
		o.Events = 5_000_000
	}
	if o.Parallelism <= 0 {
		o.Parallelism = 2
	}
	if o.Rate <= 0 {
		o.Rate = gen.DefaultRate
	}
}

// Build adds the query's sources, operators and a counting sink to a new
// graph; rows counts result rows.
func Build(o Options, rows *atomic.Int64) (*dataflow.Graph, error) {
	o.defaults()
	q, err := Lookup(o.Query)
	if err != nil {
		return nil, err
	}
	g := dataflow.NewGraph(o.Parallelism)
	cfg := gen.Config{Seed: o.Seed, Rate: o.Rate, Events: o.Events}
	streams := NewStreams(g, func(kind gen.Kind) dataflow.SourceSpec {
		return SourceSpec(cfg, kind, o.Parallelism, o.Parallelism, false, o.Delay)
	})
	out, err := q(streams, o.Parallelism)
	if err != nil {
		return nil, err
	}
	out.Sink("sink", o.Parallelism, func(_ context.Context, _ int, b dataflow.Batch) error {
		rows.Add(int64(b.Len()))
		return nil
	})
	return g, nil
}

// Run runs one benchmark to completion and measures it.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	var rows atomic.Int64
	g, err := Build(o, &rows)
	if err != nil {
		return Result{}, err
	}
	var jo dataflow.JobOptions
	var counted *countingStore
	if o.CheckpointInterval > 0 {
		if o.CheckpointDir == "" {
			return Result{}, fmt.Errorf("nexmark %s: a checkpoint interval needs a checkpoint directory", o.Query)
		}
		local, err := storage.NewLocal(o.CheckpointDir)
		if err != nil {
			return Result{}, fmt.Errorf("nexmark %s: checkpoints: %w", o.Query, err)
		}
		counted = &countingStore{CheckpointStore: storage.NewCheckpoints(local, "")}
		jo.Checkpoints = dataflow.CheckpointOptions{Store: counted, Job: "bench-" + o.Query, Interval: o.CheckpointInterval}
	}
	job, err := dataflow.NewJob(g, jo)
	if err != nil {
		return Result{}, err
	}
	runtime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	if err := job.Run(ctx); err != nil {
		return Result{}, fmt.Errorf("nexmark %s: %w", o.Query, err)
	}
	r := Result{Options: o, Rows: rows.Load(), Wall: time.Since(start), CPU: cpuTime() - cpu0, PeakRSS: peakRSS()}
	if counted != nil {
		r.Checkpoints, r.CheckpointBytes = counted.complete.Load(), counted.bytes.Load()
	}
	return r, nil
}

// countingStore counts the checkpoints that complete: a checkpoint exists
// once its metadata, written last, is stored.
type countingStore struct {
	dataflow.CheckpointStore
	complete, bytes atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, name string, data []byte) error {
	if err := c.CheckpointStore.Put(ctx, name, data); err != nil {
		return err
	}
	c.bytes.Add(int64(len(data)))
	if path.Base(name) == "_metadata" {
		c.complete.Add(1)
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS returns the process's maximum resident set size in bytes (Linux
// reports kilobytes).
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024
}
