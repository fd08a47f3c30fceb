package dataflow

import (
	"container/heap"
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// RegularJoinSpec describes a join of two unbounded streams without windows
// (Flink SQL's regular join): a left and a right row join when their keys
// are equal (SQL equality: a NULL key matches nothing). Both sides are kept
// in keyed state, so each row meets every row of the other side that
// arrives before or after it.
//
// The output is a changelog for a left outer join: a left row without a
// match is emitted NULL-padded at once, and when its first match arrives
// that row is retracted and the joined row inserted. An inner join emits
// inserts only.
//
// Output columns: all left columns, then all right columns; a right column
// whose name is taken is prefixed with "right_" (as in WindowJoinSpec).
type RegularJoinSpec struct {
	LeftKeys, RightKeys []string
	// Kind is InnerJoin or LeftOuterJoin.
	Kind JoinKind
	// TTL, when positive, bounds the state: rows join only when their event
	// times (LeftTime, RightTime) are at most TTL apart, and a row is
	// dropped once the watermark passes its event time + TTL. In event
	// time rather than wall-clock time (Flink's choice), so that which rows
	// join never depends on the run's speed: backfill and live agree.
	TTL                 time.Duration
	LeftTime, RightTime string
	// LeftSchema and RightSchema are the inputs' schemas (for NULL-padding
	// and the output schema before any row arrived).
	LeftSchema, RightSchema *arrow.Schema
}

// RegularJoin adds a regular join. Both inputs are keyed by their join keys
// (hash exchange), so equal keys meet on one subtask.
func (g *Graph) RegularJoin(name string, p int, left, right Stream, spec RegularJoinSpec) Stream {
	js := streamJoinSpec{leftKeys: spec.LeftKeys, rightKeys: spec.RightKeys, kind: spec.Kind,
		leftSchema: spec.LeftSchema, rightSchema: spec.RightSchema, leftTime: spec.LeftTime, rightTime: spec.RightTime}
	if spec.TTL > 0 {
		js.bounded, js.lower, js.upper = true, -spec.TTL.Microseconds(), spec.TTL.Microseconds()
	}
	return g.Connect(name, p, func() Operator { return &streamJoinOp{spec: js, name: "regular join"} },
		left.KeyBy(spec.LeftKeys...), right.KeyBy(spec.RightKeys...))
}

// JoinSchema is the output schema of a regular, interval or lookup join:
// left columns, then right columns renamed "right_…" on a clash.
func JoinSchema(ls, rs *arrow.Schema) *arrow.Schema {
	fields := append([]arrow.Field(nil), ls.Fields()...)
	taken := map[string]bool{}
	for _, f := range fields {
		taken[f.Name] = true
	}
	for _, f := range rs.Fields() {
		for taken[f.Name] {
			f.Name = "right_" + f.Name
		}
		taken[f.Name] = true
		f.Nullable = true
		fields = append(fields, f)
	}
	return arrow.NewSchema(fields, nil)
}

// streamJoinSpec is the common form of the regular and interval joins.
type streamJoinSpec struct {
	leftKeys, rightKeys     []string
	kind                    JoinKind
	leftTime, rightTime     string
	leftSchema, rightSchema *arrow.Schema
	// bounded: rows join only when right.ts − left.ts ∈ [lower, upper] (µs).
	bounded      bool
	lower, upper int64
}

// streamJoinOp is a symmetric hash join over keyed state: each side's rows
// are kept per join key; an arriving row probes the other side's rows of its
// key and is then stored. With a time bound, rows are dropped once no
// future row of the other side can match them: a left row when the
// watermark passes ts + upper, a right row when it passes ts − lower (rows
// that arrive on time have ts ≥ watermark; DESIGN §4), plus the retention
// of live runs whose sources may go idle.
//
// Rejected alternative: the window buffer of the window join, which emits
// at a window's end; these joins have no windows, and emitting matches as
// they are found keeps latency at one row.
type streamJoinOp struct {
	BaseOperator
	spec      streamJoinSpec
	name      string
	retention int64

	sides  [2]joinSide
	out    *arrow.Schema
	keys   map[string]*joinKey
	expiry joinHeap
	keyBuf []byte
}

type joinSide struct {
	schema  *arrow.Schema
	keys    []int
	kinds   []keyCol
	timeIdx int
}

// joinKey holds both sides' rows of one key.
type joinKey struct {
	rows [2][]*joinRow
}

type joinRow struct {
	rec     arrow.RecordBatch
	r       int
	ts      int64
	side    int
	key     string
	matches int64
	expires int64
	heapI   int
}

type joinHeap []*joinRow

func (h joinHeap) Len() int           { return len(h) }
func (h joinHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h joinHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].heapI = i; h[j].heapI = j }
func (h *joinHeap) Push(x any)        { r := x.(*joinRow); r.heapI = len(*h); *h = append(*h, r) }
func (h *joinHeap) Pop() any          { old := *h; r := old[len(old)-1]; *h = old[:len(old)-1]; return r }

func (o *streamJoinOp) Open(tc *TaskContext) error {
	o.TC = tc
	if o.spec.kind != InnerJoin && o.spec.kind != LeftOuterJoin {
		return fmt.Errorf("%s: only inner and left outer joins are supported, not %s", o.name, o.spec.kind)
	}
	if len(o.spec.leftKeys) == 0 || len(o.spec.leftKeys) != len(o.spec.rightKeys) {
		return fmt.Errorf("%s: needs equal, non-empty lists of left and right keys", o.name)
	}
	if o.spec.bounded && (o.spec.leftTime == "" || o.spec.rightTime == "") {
		return fmt.Errorf("%s: a time bound needs both sides' event-time columns", o.name)
	}
	if o.spec.bounded && o.spec.lower > o.spec.upper {
		return fmt.Errorf("%s: the interval [%d µs, %d µs] is empty", o.name, o.spec.lower, o.spec.upper)
	}
	o.keys = map[string]*joinKey{}
	o.retention = resolveRetention(tc, 0)
	if o.spec.leftSchema != nil && o.spec.rightSchema != nil {
		if err := o.resolve(0, o.spec.leftSchema); err != nil {
			return err
		}
		if err := o.resolve(1, o.spec.rightSchema); err != nil {
			return err
		}
	}
	if tc.State == nil {
		return nil
	}
	return tc.State.Register(tc.Node, o)
}

// KeyGroups implements ManagedState.
func (o *streamJoinOp) KeyGroups() []int {
	if len(o.keys) == 0 {
		return nil
	}
	var kgs []int
	for kg := o.TC.KeyGroups.Start; kg < o.TC.KeyGroups.End; kg++ {
		kgs = append(kgs, kg)
	}
	return kgs
}

func (o *streamJoinOp) resolve(side int, schema *arrow.Schema) error {
	s := &o.sides[side]
	if s.schema == schema {
		return nil
	}
	if s.schema != nil && !s.schema.Equal(schema) {
		return fmt.Errorf("%s: input schema changed from %s to %s", o.name, s.schema, schema)
	}
	names, tcol := o.spec.leftKeys, o.spec.leftTime
	if side == 1 {
		names, tcol = o.spec.rightKeys, o.spec.rightTime
	}
	keys, err := ColumnIndices(schema, names)
	if err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	arena, err := newSlotArena(schema, keys, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	s.schema, s.keys, s.kinds, s.timeIdx = schema, keys, arena.keys, -1
	if tcol != "" {
		if s.timeIdx, err = ColumnIndex(schema, tcol); err != nil {
			return fmt.Errorf("%s: time column: %w", o.name, err)
		}
	}
	if o.sides[0].schema != nil && o.sides[1].schema != nil && o.out == nil {
		o.out = JoinSchema(o.sides[0].schema, o.sides[1].schema)
	}
	return nil
}

// pair is one output row: a left and a right row (nil: NULL-padded).
type pair struct {
	op          Op
	left, right *joinRow
}

func (o *streamJoinOp) ProcessBatch(ctx context.Context, input int, b Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if err := o.resolve(input, b.Rec.Schema()); err != nil {
		return err
	}
	if o.out == nil {
		return fmt.Errorf("%s: the other input's schema is unknown", o.name)
	}
	s := &o.sides[input]
	var ts []int64
	if s.timeIdx >= 0 {
		ts = columnar.Int64Values(b.Rec.Column(s.timeIdx))
	}
	var pairs []pair
	other := 1 - input
	for r := 0; r < b.Len(); r++ {
		if b.Op(r) == Retract {
			return fmt.Errorf("%s: an updating input (retractions) is not supported", o.name)
		}
		row := &joinRow{rec: b.Rec, r: r, side: input, heapI: -1}
		if ts != nil {
			row.ts = ts[r]
		}
		nullKey := false
		for _, k := range s.keys {
			if b.Rec.Column(k).IsNull(r) {
				nullKey = true
			}
		}
		if nullKey {
			// Matches nothing, now or later: pad it if it is an outer row.
			if input == 0 && o.spec.kind == LeftOuterJoin {
				pairs = append(pairs, pair{op: Insert, left: row})
			}
			continue
		}
		o.keyBuf = appendKey(o.keyBuf[:0], b.Rec, s.keys, s.kinds, r)
		jk, ok := o.keys[string(o.keyBuf)]
		if !ok {
			jk = &joinKey{}
			row.key = string(o.keyBuf)
			o.keys[row.key] = jk
		} else {
			row.key = string(o.keyBuf)
		}
		for _, m := range jk.rows[other] {
			l, rr := row, m
			if input == 1 {
				l, rr = m, row
			}
			if o.spec.bounded {
				if d := rr.ts - l.ts; d < o.spec.lower || d > o.spec.upper {
					continue
				}
			}
			if l.matches == 0 && o.spec.kind == LeftOuterJoin && input == 1 {
				pairs = append(pairs, pair{op: Retract, left: l})
			}
			l.matches++
			pairs = append(pairs, pair{op: Insert, left: l, right: rr})
		}
		if input == 0 && row.matches == 0 && o.spec.kind == LeftOuterJoin {
			pairs = append(pairs, pair{op: Insert, left: row})
		}
		jk.rows[input] = append(jk.rows[input], row)
		if o.spec.bounded {
			if input == 0 {
				row.expires = row.ts + o.spec.upper
			} else {
				row.expires = row.ts - o.spec.lower
			}
			heap.Push(&o.expiry, row)
		}
	}
	return o.emit(ctx, pairs)
}

// ProcessWatermark drops the rows no future row can match.
func (o *streamJoinOp) ProcessWatermark(_ context.Context, w watermark.Time) error {
	horizon := int64(w.Sub(o.retention))
	for len(o.expiry) > 0 && o.expiry[0].expires < horizon {
		row := heap.Pop(&o.expiry).(*joinRow)
		jk := o.keys[row.key]
		list := jk.rows[row.side]
		for i, x := range list {
			if x == row {
				jk.rows[row.side] = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(jk.rows[0]) == 0 && len(jk.rows[1]) == 0 {
			delete(o.keys, row.key)
		}
	}
	return nil
}

// emit builds and sends the output rows of pairs.
func (o *streamJoinOp) emit(ctx context.Context, pairs []pair) error {
	if len(pairs) == 0 {
		return nil
	}
	rec, err := assemblePairs(o.out, o.sides[0].schema, o.sides[1].schema, pairs)
	if err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	ops := make([]Op, len(pairs))
	for i, p := range pairs {
		ops[i] = p.op
	}
	return o.TC.Out.Emit(ctx, Batch{Rec: rec, Ops: ops})
}

// assemblePairs gathers the rows of pairs into one batch of schema out
// (left columns, then right ones). Rows are taken from each source batch
// with one Take per column and run of pairs sharing their batches.
func assemblePairs(out, ls, rs *arrow.Schema, pairs []pair) (arrow.RecordBatch, error) {
	var parts []arrow.RecordBatch
	for start := 0; start < len(pairs); {
		lrec, rrec := recOf(pairs[start].left), recOf(pairs[start].right)
		end := start + 1
		for end < len(pairs) && recOf(pairs[end].left) == lrec && recOf(pairs[end].right) == rrec {
			end++
		}
		run := pairs[start:end]
		n := len(run)
		cols := make([]arrow.Array, 0, out.NumFields())
		for side, schema := range []*arrow.Schema{ls, rs} {
			rec := lrec
			if side == 1 {
				rec = rrec
			}
			idx := make([]int32, n)
			for i, p := range run {
				if row := [2]*joinRow{p.left, p.right}[side]; row != nil {
					idx[i] = int32(row.r)
				}
			}
			for c, f := range schema.Fields() {
				if rec == nil {
					cols = append(cols, array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, n))
					continue
				}
				a, err := columnar.Take(rec.Column(c), idx)
				if err != nil {
					return nil, fmt.Errorf("column %q: %w", f.Name, err)
				}
				cols = append(cols, a)
			}
		}
		parts = append(parts, columnar.Record(out, cols, n))
		start = end
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return concatRecords(parts)
}

func recOf(r *joinRow) arrow.RecordBatch {
	if r == nil {
		return nil
	}
	return r.rec
}
