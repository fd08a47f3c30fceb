package dataflow

import "sync/atomic"

// OperatorMetrics counts what one operator subtask did. Fields are updated by
// the subtask's goroutine and may be read at any time from others.
type OperatorMetrics struct {
	RowsIn    atomic.Int64
	RowsOut   atomic.Int64
	BatchesIn atomic.Int64
	// Watermark is the last watermark the operator processed (µs).
	Watermark atomic.Int64
	// Late rows by reason, for sources and window operators.
	LateRows      atomic.Int64
	FutureRows    atomic.Int64
	NullTimeRows  atomic.Int64
	RetentionRows atomic.Int64
	// Updates counts rows re-emitted as updates for windows that had fired
	// already (only after an idle split spoke again, in live mode).
	Updates atomic.Int64
	// Splits done and total, for sources.
	SplitsDone  atomic.Int64
	SplitsTotal atomic.Int64
}

// Late returns the number of rows that did not reach window state, all reasons.
func (m *OperatorMetrics) Late() int64 {
	return m.LateRows.Load() + m.FutureRows.Load() + m.NullTimeRows.Load() + m.RetentionRows.Load()
}
