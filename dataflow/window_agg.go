package dataflow

import (
	"container/heap"
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// WindowAggSpec describes a window aggregate: GROUP BY keys and a window,
// with incremental aggregates (one accumulator per key and window).
type WindowAggSpec struct {
	// Keys are the grouping columns besides the window. The input must be
	// keyed by them (KeyBy) so that each key meets on one subtask.
	Keys []string
	// TimeColumn and Window assign windows from event time (TUMBLE, HOP,
	// CUMULATE). For session windows use Session instead.
	TimeColumn string
	Window     Assigner
	// FromColumns groups by the window_start/window_end columns the input
	// already carries (the second stage of a windowed cascade).
	FromColumns bool
	Aggs        []Agg
	// Retention keeps emitted windows for updates in live jobs whose
	// sources may go idle (0 = DefaultRetention). It is unused otherwise.
	Retention time.Duration
}

func (s *WindowAggSpec) validate() error {
	if len(s.Aggs) == 0 {
		return fmt.Errorf("window aggregate without aggregates")
	}
	if s.FromColumns == (s.Window != nil) {
		return fmt.Errorf("window aggregate needs exactly one of Window and FromColumns")
	}
	if s.Window != nil {
		if s.TimeColumn == "" {
			return fmt.Errorf("window aggregate needs a time column")
		}
		return ValidateAssigner(s.Window)
	}
	return nil
}

// WindowAggregate adds a window aggregate behind the stream's hash exchange.
// Output columns: the keys, window_start, window_end, then the aggregates.
func (k KeyedStream) WindowAggregate(name string, p int, spec WindowAggSpec) Stream {
	return k.Apply(name, p, func() Operator { return newWindowAgg(spec) })
}

// WindowAggregate adds a window aggregate on the stream's own subtasks,
// chained to its input: the local half of a local/global aggregation (each
// subtask pre-aggregates what it has, so a global aggregate behind a hash
// exchange receives one row per subtask and window instead of every row).
func (s Stream) WindowAggregate(name string, spec WindowAggSpec) Stream {
	return s.Apply(name, s.node.Parallelism, func() Operator { return newWindowAgg(spec) })
}

func newWindowAgg(spec WindowAggSpec) Operator {
	if sg, ok := spec.Window.(sessionGap); ok {
		return &sessionAggOp{spec: spec, gap: sg.gap}
	}
	return &windowAggOp{spec: spec}
}

type winState struct {
	w     Window
	idx   *groupIndex
	fired bool
	heapI int
}

// windowHeap orders pending windows by end, then start.
type windowHeap []*winState

func (h windowHeap) Len() int { return len(h) }
func (h windowHeap) Less(i, j int) bool {
	if h[i].w.End != h[j].w.End {
		return h[i].w.End < h[j].w.End
	}
	return h[i].w.Start < h[j].w.Start
}
func (h windowHeap) Swap(i, j int)   { h[i], h[j] = h[j], h[i]; h[i].heapI = i; h[j].heapI = j }
func (h *windowHeap) Push(x any)     { w := x.(*winState); w.heapI = len(*h); *h = append(*h, w) }
func (h *windowHeap) Pop() any       { old := *h; w := old[len(old)-1]; *h = old[:len(old)-1]; return w }
func (h windowHeap) peek() *winState { return h[0] }

type windowAggOp struct {
	BaseOperator
	spec      WindowAggSpec
	retention int64 // µs; 0 when no updates are possible

	in        *arrow.Schema
	out       *arrow.Schema
	aggFields []arrow.Field
	keyIdx    []int
	timeIdx   int
	startIdx  int
	endIdx    int
	fast      bool // one integer key: typed map
	arena     *slotArena
	passes    int

	windows map[Window]*winState
	pending windowHeap  // not fired, by end
	fired   []*winState // fired and retained, in end order
	wm      watermark.Time
	// restored is set once a snapshot set wm (restoreWM); unemitted holds
	// restored rows still to emit (flushRestored).
	restored  bool
	unemitted map[*winState][]int32

	lastW  Window
	lastWS *winState

	slots []int32
	keys  batchKeys
	upd   *updateSet
}

func (o *windowAggOp) Open(tc *TaskContext) error {
	if err := o.spec.validate(); err != nil {
		return fmt.Errorf("%w", err)
	}
	o.TC = tc
	o.windows = map[Window]*winState{}
	o.wm = watermark.MinTime
	o.retention = resolveRetention(tc, o.spec.Retention)
	o.passes = 1
	switch a := o.spec.Window.(type) {
	case hop:
		o.passes = int(a.size / a.slide)
	case cumulate:
		o.passes = int(a.size / a.step)
	}
	return tc.State.Register(tc.Node, o)
}

// KeyGroups implements ManagedState.
func (o *windowAggOp) KeyGroups() []int {
	return ownedKeyGroups(o.TC, len(o.windows) > 0)
}

func (o *windowAggOp) resolve(schema *arrow.Schema) error {
	if schema == o.in {
		return nil
	}
	if o.in != nil && !schema.Equal(o.in) {
		return fmt.Errorf("input schema changed from %s to %s", o.in, schema)
	}
	keyIdx, err := ColumnIndices(schema, o.spec.Keys)
	if err != nil {
		return fmt.Errorf("group key: %w", err)
	}
	if o.spec.FromColumns {
		if o.startIdx, err = ColumnIndex(schema, WindowStartColumn); err != nil {
			return fmt.Errorf("%w", err)
		}
		if o.endIdx, err = ColumnIndex(schema, WindowEndColumn); err != nil {
			return fmt.Errorf("%w", err)
		}
	} else if o.timeIdx, err = ColumnIndex(schema, o.spec.TimeColumn); err != nil {
		return fmt.Errorf("time column: %w", err)
	}
	if o.arena == nil {
		acc, err := newAccumulators(schema, o.spec.Aggs)
		if err != nil {
			return fmt.Errorf("%w", err)
		}
		// Windowed input comes from another window operator, which re-emits
		// updates after an idle split spoke again.
		acc.track = o.TC.UpdatesPossible && o.spec.FromColumns
		if o.arena, err = newSlotArena(schema, keyIdx, acc); err != nil {
			return fmt.Errorf("%w", err)
		}
		o.aggFields = acc.outputFields(o.spec.Aggs)
		o.out = windowedSchema(schema, keyIdx, o.aggFields)
		o.fast = len(keyIdx) == 1 && o.arena.keys[0].kind == keyInt
	}
	o.in, o.keyIdx = schema, keyIdx
	return nil
}

// windowOf returns row i's k-th window.
func (o *windowAggOp) windowOf(ts int64, k int) (Window, bool) {
	switch a := o.spec.Window.(type) {
	case tumble:
		s := floorMod(ts, a.size)
		return Window{s, s + a.size}, true
	case hop:
		s := floorMod(ts, a.slide) - int64(k)*a.slide
		return Window{s, s + a.size}, true
	case cumulate:
		s := floorMod(ts, a.size)
		e := floorMod(ts, a.step) + a.step + int64(k)*a.step
		return Window{s, e}, e <= s+a.size
	}
	var ws []Window
	ws = o.spec.Window.Assign(ts, ws)
	if k < len(ws) {
		return ws[k], true
	}
	return Window{}, false
}

// window returns the state of w, creating it; nil means the window expired
// long ago (past retention) and the row must be dropped.
func (o *windowAggOp) window(w Window) *winState {
	if o.lastWS != nil && o.lastW == w {
		return o.lastWS
	}
	ws, ok := o.windows[w]
	if !ok {
		if watermark.Time(w.End) <= o.wm {
			// Only an idle split that spoke again can bring rows for a
			// window the watermark has passed.
			if o.retention == 0 || watermark.Time(w.End) <= o.wm.Sub(o.retention) {
				return nil
			}
			ws = &winState{w: w, idx: newGroupIndex(o.fast), fired: true, heapI: -1}
			o.windows[w] = ws
			o.insertFired(ws)
		} else {
			ws = &winState{w: w, idx: newGroupIndex(o.fast)}
			o.windows[w] = ws
			heap.Push(&o.pending, ws)
		}
	}
	o.lastW, o.lastWS = w, ws
	return ws
}

func (o *windowAggOp) insertFired(ws *winState) {
	i := len(o.fired)
	for i > 0 && o.fired[i-1].w.End > ws.w.End {
		i--
	}
	o.fired = append(o.fired, nil)
	copy(o.fired[i+1:], o.fired[i:])
	o.fired[i] = ws
}

// lookup returns the slot of row r's key in window ws, creating it.
func (o *windowAggOp) lookup(ws *winState, r int) (int32, bool) {
	return ws.idx.lookup(&o.keys, r, func() int32 { return o.newSlot(ws, o.keys.rec, r) })
}

func (o *windowAggOp) newSlot(ws *winState, rec arrow.RecordBatch, r int) int32 {
	s := o.arena.alloc()
	o.arena.setKey(s, rec, o.keyIdx, r)
	ws.idx.slots = append(ws.idx.slots, s)
	return s
}

func (o *windowAggOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	if err := o.flushRestored(ctx); err != nil {
		return err
	}
	rec := b.Rec
	if err := o.resolve(rec.Schema()); err != nil {
		return err
	}
	n := int(rec.NumRows())
	o.keys.prepare(rec, o.keyIdx, o.arena.keys, o.fast)
	var ts, starts, ends []int64
	if o.spec.FromColumns {
		starts, ends = columnar.Int64Values(rec.Column(o.startIdx)), columnar.Int64Values(rec.Column(o.endIdx))
	} else {
		ts = columnar.Int64Values(rec.Column(o.timeIdx))
	}
	if cap(o.slots) < n {
		o.slots = make([]int32, n)
	}
	slots := o.slots[:n]
	for k := 0; k < o.passes; k++ {
		for r := 0; r < n; r++ {
			slots[r] = -1
			var w Window
			if starts != nil {
				w = Window{starts[r], ends[r]}
			} else {
				var ok bool
				if w, ok = o.windowOf(ts[r], k); !ok {
					continue
				}
			}
			ws := o.window(w)
			if ws == nil {
				o.TC.Metrics.RetentionRows.Add(1)
				continue
			}
			if ws.fired || b.Op(r) == Retract {
				if err := o.update(ws, rec, r, b.Op(r)); err != nil {
					return err
				}
				continue
			}
			slots[r], _ = o.lookup(ws, r)
		}
		if err := o.arena.acc.add(rec, slots); err != nil {
			return err
		}
	}
	return o.flushUpdates(ctx)
}

// updateSet collects the changes to fired windows made by one batch, so they
// are emitted as one retraction of the old rows and one insertion of the new.
type updateSet struct {
	windows []*winState
	touched map[*winState]map[int32]int32 // slot → shadow copy of its old value (−1: new)
}

// update applies one row to a window outside the vectorized path: a row for
// a window that already fired, or a retraction.
func (o *windowAggOp) update(ws *winState, rec arrow.RecordBatch, r int, op Op) error {
	slot, created := o.lookup(ws, r)
	if created && op == Retract {
		return fmt.Errorf("retraction of a row never inserted in window [%s, %s)", watermark.Time(ws.w.Start), watermark.Time(ws.w.End))
	}
	if ws.fired {
		if o.upd == nil {
			o.upd = &updateSet{touched: map[*winState]map[int32]int32{}}
		}
		m, ok := o.upd.touched[ws]
		if !ok {
			m = map[int32]int32{}
			o.upd.touched[ws] = m
			o.upd.windows = append(o.upd.windows, ws)
		}
		if _, ok := m[slot]; !ok {
			shadow := int32(-1)
			if !created {
				shadow = o.arena.alloc()
				o.arena.copySlot(shadow, slot)
			}
			m[slot] = shadow
		}
		o.TC.Metrics.Updates.Add(1)
	}
	if op == Retract {
		return o.arena.acc.retract(rec, r, slot)
	}
	one := []int32{slot}
	row := rec.NewSlice(int64(r), int64(r+1))
	return o.arena.acc.add(row, one)
}

func (o *windowAggOp) flushUpdates(ctx context.Context) error {
	if o.upd == nil || len(o.upd.windows) == 0 {
		return nil
	}
	for _, ws := range o.upd.windows {
		var olds, news []int32
		for _, s := range ws.idx.slots {
			shadow, ok := o.upd.touched[ws][s]
			if !ok {
				continue
			}
			oldLive, newLive := shadow >= 0 && o.arena.acc.count[shadow] > 0, o.arena.acc.count[s] > 0
			if oldLive && newLive && o.arena.acc.sameOutput(shadow, s) {
				continue // the row did not change: no update to send
			}
			if oldLive {
				olds = append(olds, shadow)
			}
			if newLive {
				news = append(news, s)
			}
		}
		ops := make([]Op, 0, len(olds)+len(news))
		for range olds {
			ops = append(ops, Retract)
		}
		for range news {
			ops = append(ops, Insert)
		}
		if len(ops) > 0 {
			rec := o.build(ws.w, append(olds, news...))
			if err := o.TC.Out.Emit(ctx, Batch{Rec: rec, Ops: ops}); err != nil {
				return err
			}
		}
		for _, shadow := range o.upd.touched[ws] {
			if shadow >= 0 {
				o.arena.release([]int32{shadow})
			}
		}
	}
	o.upd = nil
	return nil
}

// build makes the output rows of slots of window w.
func (o *windowAggOp) build(w Window, slots []int32) arrow.RecordBatch {
	cols := o.arena.keyColumns(slots)
	starts := make([]int64, len(slots))
	ends := make([]int64, len(slots))
	for i := range slots {
		starts[i], ends[i] = w.Start, w.End
	}
	cols = append(cols, columnar.Timestamps(starts), columnar.Timestamps(ends))
	cols = append(cols, o.arena.acc.output(o.aggFields, slots)...)
	return columnar.Record(o.out, cols, len(slots))
}

func (o *windowAggOp) ProcessWatermark(ctx context.Context, w watermark.Time) error {
	// After a restore the sources' first watermarks may be behind the
	// restored one; the operator's never goes back.
	if err := o.flushRestored(ctx); err != nil {
		return err
	}
	o.wm = max(o.wm, w)
	for len(o.pending) > 0 && watermark.Time(o.pending.peek().w.End) <= w {
		ws := heap.Pop(&o.pending).(*winState)
		if err := o.emit(ctx, ws); err != nil {
			return err
		}
		ws.fired = true
		if o.retention > 0 && w != watermark.MaxTime {
			o.fired = append(o.fired, ws)
		} else {
			o.drop(ws)
		}
	}
	horizon := w.Sub(o.retention)
	i := 0
	for ; i < len(o.fired) && watermark.Time(o.fired[i].w.End) <= horizon; i++ {
		o.drop(o.fired[i])
	}
	if i > 0 {
		o.fired = append(o.fired[:0], o.fired[i:]...)
	}
	return nil
}

func (o *windowAggOp) emit(ctx context.Context, ws *winState) error {
	slots := ws.idx.slots
	live := slots[:0:0]
	for _, s := range slots {
		if o.arena.acc.count[s] > 0 {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return o.TC.Out.Emit(ctx, Inserts(o.build(ws.w, live)))
}

func (o *windowAggOp) drop(ws *winState) {
	o.arena.release(ws.idx.slots)
	delete(o.windows, ws.w)
	if o.lastWS == ws {
		o.lastWS = nil
	}
}
