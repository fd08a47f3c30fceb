package dataflow

import (
	"context"
	"log/slog"

	"github.com/weirdata/weir/watermark"
)

// Operator is one parallel instance (subtask) of a node of the graph. The
// runtime calls it from a single goroutine, in this order: Open once; then
// any interleaving of ProcessBatch and ProcessWatermark (watermarks already
// combined over all inputs: the minimum, advancing only); Finish once after
// every input ended (a watermark of MaxTime always precedes it); Close once,
// also after an error. An error from any call fails the job with it as the
// cause.
//
// Operators emit through the Output given in TaskContext. After
// ProcessWatermark returns, the runtime forwards the watermark downstream, so
// rows an operator emits for it (fired windows) always precede it.
type Operator interface {
	Open(tc *TaskContext) error
	ProcessBatch(ctx context.Context, input int, b Batch) error
	ProcessWatermark(ctx context.Context, w watermark.Time) error
	Finish(ctx context.Context) error
	Close() error
}

// Snapshotter is implemented by operators with state of their own to save
// when a checkpoint barrier passes (after alignment, before it is forwarded).
type Snapshotter interface {
	SnapshotState(ctx context.Context, b Barrier) error
}

// Output receives the batches an operator emits.
type Output interface {
	Emit(ctx context.Context, b Batch) error
}

// TaskContext is what the runtime gives one operator subtask.
type TaskContext struct {
	// Node is the operator's node name; Subtask in [0, Parallelism).
	Node        string
	Subtask     int
	Parallelism int
	// KeyGroups are the key groups this subtask owns (all of them for
	// operators not behind a hash exchange).
	KeyGroups      KeyGroupRange
	MaxParallelism int
	// InputKeys are the columns the hash exchange into the operator
	// partitions by (nil without one): the state of a row belongs to the
	// key group of these columns' hash.
	InputKeys []string
	// Out is the main output; SideOutput returns a named side output (an
	// output that no edge reads discards what it gets).
	Out        Output
	sideOutput func(name string) Output
	// UpdatesPossible is set when a source of the job may leave splits idle
	// (live mode with an idle timeout): windows must then be retained after
	// they fire, to re-emit them as updates (see window.go).
	UpdatesPossible bool
	// State is the keyed state of this subtask, by key group.
	State *StateBackend
	// Metrics counts what the operator did; Logger logs with the node and
	// subtask attached.
	Metrics *OperatorMetrics
	Logger  *slog.Logger
}

// SideOutput returns the side output named name.
func (tc *TaskContext) SideOutput(name string) Output {
	if tc.sideOutput == nil {
		return discard{}
	}
	return tc.sideOutput(name)
}

type discard struct{}

func (discard) Emit(context.Context, Batch) error { return nil }

// BaseOperator gives an operator the no-op parts of the contract; embed it
// and override what the operator needs.
type BaseOperator struct{ TC *TaskContext }

func (o *BaseOperator) Open(tc *TaskContext) error                             { o.TC = tc; return nil }
func (o *BaseOperator) ProcessWatermark(context.Context, watermark.Time) error { return nil }
func (o *BaseOperator) Finish(context.Context) error                           { return nil }
func (o *BaseOperator) Close() error                                           { return nil }
