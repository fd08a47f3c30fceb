package dataflow

import (
	"context"
	"sync"

	"github.com/weirdata/weir/watermark"
)

// SinkFunc receives the batches reaching a callback sink, from one subtask
// at a time (calls from several subtasks may be concurrent).
type SinkFunc func(ctx context.Context, subtask int, b Batch) error

type callbackSink struct {
	BaseOperator
	fn   SinkFunc
	onWM func(subtask int, w watermark.Time)
}

func (o *callbackSink) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	return o.fn(ctx, o.TC.Subtask, b)
}

func (o *callbackSink) ProcessWatermark(_ context.Context, w watermark.Time) error {
	if o.onWM != nil {
		o.onWM(o.TC.Subtask, w)
	}
	return nil
}

// Sink adds a callback sink with parallelism p (0 = the stream's).
func (s Stream) Sink(name string, p int, fn SinkFunc) {
	if p <= 0 {
		p = s.node.Parallelism
	}
	s.Apply(name, p, func() Operator { return &callbackSink{fn: fn} })
}

// Collector gathers every batch that reaches a collecting sink, for tests,
// `weir query` and bounded results. It is safe for concurrent use.
type Collector struct {
	mu      sync.Mutex
	batches []Batch
	rows    int
}

// Collect adds a collecting sink (parallelism 1, so batches keep the order in
// which they reach it) and returns its collector.
func (s Stream) Collect(name string) *Collector {
	c := &Collector{}
	s.Sink(name, 1, func(_ context.Context, _ int, b Batch) error {
		c.mu.Lock()
		c.batches = append(c.batches, b)
		c.rows += b.Len()
		c.mu.Unlock()
		return nil
	})
	return c
}

// Batches returns what was collected so far.
func (c *Collector) Batches() []Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Batch(nil), c.batches...)
}

// Rows returns the number of rows collected so far.
func (c *Collector) Rows() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows
}
