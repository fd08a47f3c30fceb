package dataflow

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// Session returns session windows: a key's rows closer than gap to each
// other (in event time) form one window [first, last + gap). Use it as
// WindowAggSpec.Window.
func Session(gap time.Duration) Assigner { return sessionGap{gap: gap.Microseconds()} }

type sessionGap struct{ gap int64 }

// Assign returns the proto-window of a row; sessions merge overlapping ones.
func (a sessionGap) Assign(ts int64, ws []Window) []Window { return append(ws, Window{ts, ts + a.gap}) }
func (a sessionGap) String() string {
	return fmt.Sprintf("SESSION(%s)", time.Duration(a.gap)*time.Microsecond)
}

// A session window's end only grows as rows arrive, but never past the
// watermark of an on-time row: a row at ts ≥ W opens [ts, ts+gap), which
// cannot overlap a session that ended at or before W. So a session that
// fired is final — except, as everywhere, after an idle split spoke again.
type session struct {
	start, end int64
	key        int32 // key slot in keyArena
	slot       int32
	fired      bool
	gone       bool
	version    uint32
}

type keySessions struct {
	list []*session // sorted by start, non-overlapping
}

type sessionEvent struct {
	at      int64 // fire at end; expire at end + retention
	expire  bool
	ks      *keySessions
	s       *session
	version uint32
}

type sessionHeap []sessionEvent

func (h sessionHeap) Len() int           { return len(h) }
func (h sessionHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h sessionHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sessionHeap) Push(x any)        { *h = append(*h, x.(sessionEvent)) }
func (h *sessionHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type sessionAggOp struct {
	BaseOperator
	spec      WindowAggSpec
	gap       int64
	retention int64

	in        *arrow.Schema
	out       *arrow.Schema
	aggFields []arrow.Field
	keyIdx    []int
	timeIdx   int
	arena     *slotArena // slots hold sessions' accumulators; key values live in keyArena
	keyArena  *slotArena // one slot per key, for its values
	keys      *groupIndex
	fast      bool
	byKey     []*keySessions // by key slot
	events    sessionHeap
	wm        watermark.Time
	nSessions int
	restored  bool // a snapshot set wm

	slots []int32
	bk    batchKeys
}

func (o *sessionAggOp) Open(tc *TaskContext) error {
	if len(o.spec.Aggs) == 0 || o.spec.TimeColumn == "" {
		return fmt.Errorf("session aggregate needs a time column and aggregates")
	}
	if o.gap <= 0 {
		return fmt.Errorf("session gap must be positive")
	}
	o.TC = tc
	o.wm = watermark.MinTime
	o.retention = resolveRetention(tc, o.spec.Retention)
	return tc.State.Register(tc.Node, o)
}

// KeyGroups implements ManagedState.
func (o *sessionAggOp) KeyGroups() []int {
	return ownedKeyGroups(o.TC, o.nSessions > 0)
}

func (o *sessionAggOp) resolve(schema *arrow.Schema) error {
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
	if o.timeIdx, err = ColumnIndex(schema, o.spec.TimeColumn); err != nil {
		return fmt.Errorf("time column: %w", err)
	}
	if o.arena == nil {
		acc, err := newAccumulators(schema, o.spec.Aggs)
		if err != nil {
			return fmt.Errorf("%w", err)
		}
		if o.arena, err = newSlotArena(schema, nil, acc); err != nil {
			return err
		}
		keyAcc, _ := newAccumulators(schema, nil)
		if o.keyArena, err = newSlotArena(schema, keyIdx, keyAcc); err != nil {
			return fmt.Errorf("%w", err)
		}
		o.aggFields = acc.outputFields(o.spec.Aggs)
		o.out = windowedSchema(schema, keyIdx, o.aggFields)
		o.fast = len(keyIdx) == 1 && o.keyArena.keys[0].kind == keyInt
		o.keys = newGroupIndex(o.fast)
	}
	o.in, o.keyIdx = schema, keyIdx
	return nil
}

// keyOf returns the key slot of row r, creating it.
func (o *sessionAggOp) keyOf(r int) int32 {
	s, _ := o.keys.lookup(&o.bk, r, func() int32 {
		s := o.keyArena.alloc()
		o.keyArena.setKey(s, o.bk.rec, o.keyIdx, r)
		o.byKey = append(o.byKey, &keySessions{})
		return s
	})
	return s
}

func (o *sessionAggOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	if b.Ops != nil {
		for _, op := range b.Ops {
			if op == Retract {
				return fmt.Errorf("session windows over an updating input are not supported")
			}
		}
	}
	rec := b.Rec
	if err := o.resolve(rec.Schema()); err != nil {
		return err
	}
	n := int(rec.NumRows())
	o.bk.prepare(rec, o.keyIdx, o.keyArena.keys, o.fast)
	ts := columnar.Int64Values(rec.Column(o.timeIdx))
	if cap(o.slots) < n {
		o.slots = make([]int32, n)
	}
	slots := o.slots[:n]
	for i := range slots {
		slots[i] = -1
	}
	var updates []*session // fired sessions changed by this batch
	var olds []sessionRow  // their rows as emitted before
	for r := 0; r < n; r++ {
		t := ts[r]
		k := o.keyOf(r)
		ks := o.byKey[k]
		lo, hi := t, t+o.gap
		// Overlapping sessions are contiguous in the sorted list: find them.
		first, last := -1, -1
		for i := len(ks.list) - 1; i >= 0; i-- {
			s := ks.list[i]
			if s.end <= lo {
				break
			}
			if s.start < hi {
				if last < 0 {
					last = i
				}
				first = i
			}
		}
		if first < 0 {
			if watermark.Time(hi) <= o.wm && (o.retention == 0 || watermark.Time(hi) <= o.wm.Sub(o.retention)) {
				o.TC.Metrics.RetentionRows.Add(1)
				continue
			}
			s := &session{start: lo, end: hi, key: k, slot: o.arena.alloc()}
			o.nSessions++
			i := len(ks.list)
			for i > 0 && ks.list[i-1].start > lo {
				i--
			}
			ks.list = append(ks.list, nil)
			copy(ks.list[i+1:], ks.list[i:])
			ks.list[i] = s
			slots[r] = s.slot
			if watermark.Time(hi) <= o.wm {
				// A window the watermark passed (an idle split spoke again):
				// emit it now as an update.
				s.fired = true
				updates = append(updates, s)
				heap.Push(&o.events, sessionEvent{at: hi + o.retention, expire: true, ks: ks, s: s, version: s.version})
			} else {
				heap.Push(&o.events, sessionEvent{at: hi, ks: ks, s: s, version: s.version})
			}
			continue
		}
		target := ks.list[first]
		fired := false
		for i := first; i <= last; i++ {
			if s := ks.list[i]; s.fired {
				fired = true
				if !containsSession(updates, s) {
					olds = append(olds, o.snapshotRow(k, s))
				}
			}
		}
		if first != last {
			// Merging sessions: flush the rows gathered so far, since their
			// slots may be folded into another.
			_ = o.arena.acc.add(rec, slots)
			for i := range slots {
				slots[i] = -1
			}
			for i := first + 1; i <= last; i++ {
				s := ks.list[i]
				o.arena.acc.merge(target.slot, s.slot)
				o.arena.release([]int32{s.slot})
				if s.end > target.end {
					target.end = s.end
				}
				s.gone = true
				o.nSessions--
				// Merged away: its old row, if emitted, is retracted (olds);
				// it must not be inserted again. The target carries its rows.
				updates = slices.DeleteFunc(updates, func(x *session) bool { return x == s })
			}
			ks.list = append(ks.list[:first+1], ks.list[last+1:]...)
		}
		changedEnd := false
		if lo < target.start {
			target.start = lo
		}
		if hi > target.end {
			target.end, changedEnd = hi, true
		}
		slots[r] = target.slot
		if fired {
			if !target.fired || !containsSession(updates, target) {
				target.fired = true
				updates = append(updates, target)
			}
			target.version++
			heap.Push(&o.events, sessionEvent{at: target.end + o.retention, expire: true, ks: ks, s: target, version: target.version})
		} else if changedEnd || first != last {
			target.version++
			heap.Push(&o.events, sessionEvent{at: target.end, ks: ks, s: target, version: target.version})
		}
	}
	if err := o.arena.acc.add(rec, slots); err != nil {
		return err
	}
	if len(updates) == 0 {
		return nil
	}
	o.TC.Metrics.Updates.Add(int64(len(updates)))
	rows := make([]sessionRow, 0, len(olds)+len(updates))
	ops := make([]Op, 0, cap(rows))
	for _, old := range olds {
		rows = append(rows, old)
		ops = append(ops, Retract)
	}
	for _, s := range updates {
		rows = append(rows, sessionRow{key: s.key, start: s.start, end: s.end, slot: s.slot})
		ops = append(ops, Insert)
	}
	out := o.build(rows)
	for _, old := range olds {
		o.arena.release([]int32{old.slot})
	}
	return o.TC.Out.Emit(ctx, Batch{Rec: out, Ops: ops})
}

func containsSession(list []*session, s *session) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sessionRow is a session's output row: key slot, window and accumulator slot.
type sessionRow struct {
	key        int32
	start, end int64
	slot       int32
}

// snapshotRow copies a fired session's current result, to retract it later.
func (o *sessionAggOp) snapshotRow(key int32, s *session) sessionRow {
	shadow := o.arena.alloc()
	o.arena.copySlot(shadow, s.slot)
	return sessionRow{key: key, start: s.start, end: s.end, slot: shadow}
}

func (o *sessionAggOp) build(rows []sessionRow) arrow.RecordBatch {
	keySlots := make([]int32, len(rows))
	accSlots := make([]int32, len(rows))
	starts := make([]int64, len(rows))
	ends := make([]int64, len(rows))
	for i, r := range rows {
		keySlots[i], accSlots[i], starts[i], ends[i] = r.key, r.slot, r.start, r.end
	}
	cols := o.keyArena.keyColumns(keySlots)
	cols = append(cols, columnar.Timestamps(starts), columnar.Timestamps(ends))
	cols = append(cols, o.arena.acc.output(o.aggFields, accSlots)...)
	return columnar.Record(o.out, cols, len(rows))
}

func (o *sessionAggOp) ProcessWatermark(ctx context.Context, w watermark.Time) error {
	o.wm = max(o.wm, w) // never back, also after a restore
	if o.arena == nil {
		// No row reached this subtask yet (its key groups are quiet), so
		// there is no session and no arena to release slots into.
		return nil
	}
	var rows []sessionRow
	var release []int32
	for len(o.events) > 0 && watermark.Time(o.events[0].at) <= w {
		e := heap.Pop(&o.events).(sessionEvent)
		s := e.s
		if s.gone || s.version != e.version {
			continue
		}
		if !e.expire {
			if s.fired {
				continue
			}
			rows = append(rows, sessionRow{key: s.key, start: s.start, end: s.end, slot: s.slot})
			s.fired = true
			if o.retention > 0 && w != watermark.MaxTime {
				heap.Push(&o.events, sessionEvent{at: s.end + o.retention, expire: true, ks: e.ks, s: s, version: s.version})
				continue
			}
		}
		// Drop the session (after emitting it, if it fired just now).
		s.gone = true
		o.nSessions--
		for i, x := range e.ks.list {
			if x == s {
				e.ks.list = append(e.ks.list[:i], e.ks.list[i+1:]...)
				break
			}
		}
		release = append(release, s.slot)
	}
	// Slots are released after the rows are built from them.
	defer o.arena.release(release)
	if len(rows) == 0 {
		return nil
	}
	return o.TC.Out.Emit(ctx, Inserts(o.build(rows)))
}
