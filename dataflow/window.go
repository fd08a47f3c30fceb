package dataflow

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

// Window conventions, shared by every windowed operator:
//
//   - A window is the half-open event-time interval [start, end), in µs.
//   - Windowed rows carry it as two UTC timestamp columns named
//     WindowStartColumn and WindowEndColumn.
//   - A window is complete when the watermark reaches its end (W ≥ end): no
//     on-time record can still fall into it. Operators then emit its final
//     rows, before forwarding the watermark.
//   - The event time of a window's result rows is end − 1µs (as Flink's
//     window_time), so the rows are on time for operators downstream.
//   - Emitted windows are kept for the operator's retention (event time past
//     their end). Only in live mode, after an idle split spoke again, can a
//     record arrive for an emitted window; the window's rows are then
//     re-emitted as updates (retract, insert). Past the retention such a
//     record is dropped and counted under its own reason (RetentionRows).
const (
	WindowStartColumn = "window_start"
	WindowEndColumn   = "window_end"
)

// DefaultRetention is how long emitted windows are kept for updates.
const DefaultRetention = time.Minute

// Window is an event-time interval [Start, End) in µs.
type Window struct{ Start, End int64 }

// Assigner maps an event time to the windows that contain it.
type Assigner interface {
	// Assign appends to ws the windows containing ts, in increasing start order.
	Assign(ts int64, ws []Window) []Window
	String() string
}

// Tumble returns fixed, non-overlapping windows of the given size, aligned to
// the epoch plus offset.
func Tumble(size time.Duration) Assigner { return tumble{size: size.Microseconds()} }

// Hop returns sliding windows of the given size starting every slide (HOP in
// SQL takes slide first, then size).
func Hop(slide, size time.Duration) Assigner {
	return hop{slide: slide.Microseconds(), size: size.Microseconds()}
}

// Cumulate returns windows that start every size and grow by step up to
// size: [s, s+step), [s, s+2step), ..., [s, s+size).
func Cumulate(step, size time.Duration) Assigner {
	return cumulate{step: step.Microseconds(), size: size.Microseconds()}
}

type tumble struct{ size int64 }

func (a tumble) Assign(ts int64, ws []Window) []Window {
	s := floorMod(ts, a.size)
	return append(ws, Window{s, s + a.size})
}
func (a tumble) String() string {
	return fmt.Sprintf("TUMBLE(%s)", time.Duration(a.size)*time.Microsecond)
}

type hop struct{ slide, size int64 }

func (a hop) Assign(ts int64, ws []Window) []Window {
	last := floorMod(ts, a.slide)
	first := last - a.size + a.slide
	for s := floorModUp(first, a.slide); s <= last; s += a.slide {
		if ts < s+a.size {
			ws = append(ws, Window{s, s + a.size})
		}
	}
	return ws
}
func (a hop) String() string {
	return fmt.Sprintf("HOP(%s, %s)", time.Duration(a.slide)*time.Microsecond, time.Duration(a.size)*time.Microsecond)
}

type cumulate struct{ step, size int64 }

func (a cumulate) Assign(ts int64, ws []Window) []Window {
	s := floorMod(ts, a.size)
	for e := floorMod(ts, a.step) + a.step; e <= s+a.size; e += a.step {
		ws = append(ws, Window{s, e})
	}
	return ws
}
func (a cumulate) String() string {
	return fmt.Sprintf("CUMULATE(%s, %s)", time.Duration(a.step)*time.Microsecond, time.Duration(a.size)*time.Microsecond)
}

// floorMod rounds ts down to a multiple of size (also for negative ts).
func floorMod(ts, size int64) int64 {
	r := ts % size
	if r < 0 {
		r += size
	}
	return ts - r
}

func floorModUp(ts, size int64) int64 {
	f := floorMod(ts, size)
	if f < ts {
		return f + size
	}
	return f
}

// ValidateAssigner checks an assigner's sizes.
func ValidateAssigner(a Assigner) error {
	switch a := a.(type) {
	case tumble:
		if a.size <= 0 {
			return fmt.Errorf("window size must be positive")
		}
	case hop:
		if a.slide <= 0 || a.size <= 0 {
			return fmt.Errorf("HOP slide and size must be positive")
		}
		if a.size%a.slide != 0 {
			return fmt.Errorf("HOP size %s must be a multiple of its slide %s", time.Duration(a.size)*time.Microsecond, time.Duration(a.slide)*time.Microsecond)
		}
	case cumulate:
		if a.step <= 0 || a.size <= 0 {
			return fmt.Errorf("CUMULATE step and size must be positive")
		}
		if a.size%a.step != 0 {
			return fmt.Errorf("CUMULATE size %s must be a multiple of its step %s", time.Duration(a.size)*time.Microsecond, time.Duration(a.step)*time.Microsecond)
		}
	}
	return nil
}

// windowAssignOp appends window_start and window_end to each row, one output
// row per window containing it (the TUMBLE/HOP/CUMULATE table functions).
type windowAssignOp struct {
	BaseOperator
	timeCol  string
	assigner Assigner

	in, out *arrow.Schema
	col     int
	ws      []Window
	idx     []int32
	starts  []int64
	ends    []int64
}

// AssignWindows adds the windowing table function: each row is repeated once
// per window containing its event time (column timeCol), with the window as
// two new columns window_start and window_end.
func (s Stream) AssignWindows(name, timeCol string, a Assigner) Stream {
	return s.Apply(name, s.node.Parallelism, func() Operator { return &windowAssignOp{timeCol: timeCol, assigner: a} })
}

func (o *windowAssignOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	if b.Rec.Schema() != o.in {
		col, err := ColumnIndex(b.Rec.Schema(), o.timeCol)
		if err != nil {
			return err
		}
		fields := append(append([]arrow.Field(nil), b.Rec.Schema().Fields()...),
			arrow.Field{Name: WindowStartColumn, Type: columnar.TimestampType},
			arrow.Field{Name: WindowEndColumn, Type: columnar.TimestampType})
		o.in, o.out, o.col = b.Rec.Schema(), arrow.NewSchema(fields, nil), col
	}
	ts := columnar.Int64Values(b.Rec.Column(o.col))
	o.idx, o.starts, o.ends = o.idx[:0], make([]int64, 0, len(ts)), make([]int64, 0, len(ts))
	for i, t := range ts {
		o.ws = o.assigner.Assign(t, o.ws[:0])
		for _, w := range o.ws {
			o.idx = append(o.idx, int32(i))
			o.starts = append(o.starts, w.Start)
			o.ends = append(o.ends, w.End)
		}
	}
	rec := b.Rec
	var ops []Op
	if len(o.idx) != len(ts) || !identity(o.idx) {
		var err error
		rb, err := takeBatch(b, o.idx)
		if err != nil {
			return err
		}
		rec, ops = rb.Rec, rb.Ops
	} else {
		ops = b.Ops
	}
	cols := append(append([]arrow.Array(nil), rec.Columns()...), columnar.Timestamps(o.starts), columnar.Timestamps(o.ends))
	return o.TC.Out.Emit(ctx, Batch{Rec: columnar.Record(o.out, cols, len(o.idx)), Ops: ops})
}

func identity(idx []int32) bool {
	for i, j := range idx {
		if int32(i) != j {
			return false
		}
	}
	return true
}
