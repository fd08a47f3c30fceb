package query

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

// windowTimeName is the time attribute of a window aggregate's rows, as in
// Flink SQL: window_end − 1 µs, the last instant inside the window.
const windowTimeName = "window_time"

// windowTimeExpr is window_time: its window_end minus one microsecond. A
// window aggregate that selects it (GROUP BY window_start, window_end)
// keeps an event-time column in its output, so another windowing function
// can roll its rows up (TUMBLE((SELECT … window_time AS t … GROUP BY
// window_start, window_end), t, …)). It is one microsecond before the end
// rather than the end itself so that a row lands in the window that holds
// its source window — [0, 5 s) rolls into [0, 10 s), not [5 s, 10 s) —
// and so that the watermark which fired the window (≥ window_end) has
// already passed it: the row is complete when it is emitted. The rejected
// alternative, window_end as the time, would put every 5 s window that
// ends on a 10 s boundary into the next 10 s window.
type windowTimeExpr struct {
	end Expr // window_end
}

func (w *windowTimeExpr) Type() arrow.DataType { return columnar.TimestampType }
func (w *windowTimeExpr) String() string       { return windowTimeName }
func (w *windowTimeExpr) Children() []Expr     { return []Expr{w.end} }
func (w *windowTimeExpr) WithChildren(c []Expr) (Expr, error) {
	if len(c) != 1 {
		return nil, fmt.Errorf("window_time takes one child, not %d", len(c))
	}
	return &windowTimeExpr{end: c[0]}, nil
}

func (w *windowTimeExpr) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	end, err := w.end.Eval(rec)
	if err != nil {
		return nil, err
	}
	if end.DataType().ID() != arrow.TIMESTAMP {
		return nil, fmt.Errorf("window_time: window_end is %s, not a timestamp", end.DataType())
	}
	vals := columnar.Int64Values(end)
	out := make([]int64, len(vals))
	for i, v := range vals {
		out[i] = v - 1
	}
	return columnar.Fixed(columnar.TimestampType, out, validity(end), end.NullN()), nil
}

// validity returns a's validity bitmap (nil when it has no NULLs), offset
// to its first row.
func validity(a arrow.Array) []byte {
	if a.NullN() == 0 {
		return nil
	}
	bits := make([]byte, (a.Len()+7)/8)
	for i := range a.Len() {
		if a.IsValid(i) {
			bits[i>>3] |= 1 << (i & 7)
		}
	}
	return bits
}

// windowTimeOf reports whether e is window_time over column winEnd of its
// input.
func windowTimeOf(e Expr, winEnd int) bool {
	w, ok := e.(*windowTimeExpr)
	if !ok || winEnd < 0 {
		return false
	}
	c, ok := w.end.(*ColumnRef)
	return ok && c.Index == winEnd
}
