package dataflow_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
)

// A sink that does not take anything must stop the source after the
// channels' capacity: bounded memory through backpressure.
func TestBackpressureBoundsReadAhead(t *testing.T) {
	const batches = 1000
	parts := make([][]arrow.RecordBatch, 1)
	for i := 0; i < batches; i++ {
		parts[0] = append(parts[0], rows([3]int64{int64(i), int64(i), 1}))
	}
	g := dataflow.NewGraph(1)
	release := make(chan struct{})
	g.Source("src", dataflow.SourceSpec{Source: &bounded.Memory{Sch: testSchema, Parts: parts}, EventTime: "ts"}).
		Rebalance().Sink("slow", 1, func(ctx context.Context, _ int, b dataflow.Batch) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	const capacity = 4
	job, err := dataflow.NewJob(g, dataflow.JobOptions{ChannelCapacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()

	// Wait until the source stops making progress, then check how far it got.
	src := job.Metrics("src")[0]
	last, stable := int64(-1), 0
	for deadline := time.Now().Add(10 * time.Second); stable < 20 && time.Now().Before(deadline); {
		n := src.RowsIn.Load()
		if n == last {
			stable++
		} else {
			stable, last = 0, n
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Queue capacity, the batch the sink holds, the one the source is
	// pushing, and the split reader's feed buffer (3 batches).
	if max := int64(capacity + 2 + 3); last > max {
		t.Fatalf("source read %d batches ahead of a blocked sink, want at most %d", last, max)
	}
	close(release)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

// blockingSource is an unbounded source whose splits never end.
type blockingSource struct{}

func (blockingSource) Schema() *arrow.Schema { return testSchema }
func (blockingSource) Splits(context.Context) ([]dataflow.Split, error) {
	return []dataflow.Split{blockingSplit{"a"}, blockingSplit{"b"}, blockingSplit{"c"}}, nil
}

type blockingSplit struct{ id string }

func (s blockingSplit) ID() string { return s.id }
func (s blockingSplit) Open(context.Context, dataflow.Position) (dataflow.SplitReader, error) {
	return &blockingReader{}, nil
}

type blockingReader struct{ n int64 }

func (r *blockingReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if r.n < 3 {
		r.n++
		return rows([3]int64{r.n, r.n, r.n}), dataflow.Position(r.n), nil
	}
	<-ctx.Done()
	return nil, 0, ctx.Err()
}
func (r *blockingReader) Close() error { return nil }

// Cancelling a live job stops every goroutine promptly, with the cause.
func TestCancelLiveJobNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		g := dataflow.NewGraph(2)
		g.Source("live", dataflow.SourceSpec{Source: blockingSource{}, EventTime: "ts", Live: true}).
			KeyBy("k").Apply("keyed", 3, func() dataflow.Operator { return &passOp{} }).
			Collect("out")
		job, err := dataflow.NewJob(g, dataflow.JobOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cause := errors.New("user cancelled")
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan error, 1)
		go func() { done <- job.Run(ctx) }()
		time.Sleep(20 * time.Millisecond)
		cancel(cause)
		select {
		case err := <-done:
			if !errors.Is(err, cause) {
				t.Fatalf("Run = %v, want the cancellation cause", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancellation")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after the jobs, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

type passOp struct{ dataflow.BaseOperator }

func (o *passOp) ProcessBatch(ctx context.Context, _ int, b dataflow.Batch) error {
	return o.TC.Out.Emit(ctx, b)
}
