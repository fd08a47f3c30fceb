package dataflow

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// GroupAggSpec describes a GROUP BY without a window: one row per key whose
// values change as rows arrive, so its output is a changelog.
type GroupAggSpec struct {
	Keys []string
	Aggs []Agg
	// EmitAtEnd emits only the final rows once every input ended (a
	// backfill). Otherwise each batch's changes are emitted right away as
	// updates — retract the row as it was, insert it as it is (live).
	// Folded, both give the same table.
	EmitAtEnd bool
	// UpdatingInput says the input itself is a changelog (retractions): min
	// and max then keep their values' multiplicities to take them back.
	UpdatingInput bool
	// EmptyGroup makes a GROUP BY without keys answer one row even over no
	// rows (count 0, other aggregates NULL), as SQL's global aggregates do.
	// Live, that row is emitted first and updated like any other.
	EmptyGroup bool
	// InputSchema, when known, lets the operator answer (EmptyGroup) even
	// if no batch ever arrives.
	InputSchema *arrow.Schema
	// Partial marks the local half of a local/global aggregation, whose
	// rows the global half merges (counts and sums by sum, min by min, max
	// by max). Over insert-only input it may then hand its rows on and
	// forget every key whenever it holds more than PartialResidentKeys
	// (a backfill emits its rows then; live ones went out already): the
	// global half sums what it got before and after, and the combiner's
	// memory stays bounded however many keys the input has.
	Partial bool
}

// PartialResidentKeys is how many keys a partial group aggregate
// (GroupAggSpec.Partial) holds before it flushes them.
var PartialResidentKeys = 1 << 18

// GroupAggSchema returns the output schema of a group aggregate over in.
func GroupAggSchema(in *arrow.Schema, spec GroupAggSpec) (*arrow.Schema, error) {
	o := &groupAggOp{spec: spec}
	o.TC = &TaskContext{Node: "schema"}
	if err := o.resolve(in); err != nil {
		return nil, err
	}
	return o.out, nil
}

// GroupAggregate adds a non-windowed group aggregate behind the stream's
// hash exchange. Output columns: the keys, then the aggregates.
func (k KeyedStream) GroupAggregate(name string, p int, spec GroupAggSpec) Stream {
	return k.Apply(name, p, func() Operator { return &groupAggOp{spec: spec} })
}

// GroupAggregate adds a group aggregate on the stream's own subtasks,
// chained to its input: the local half of a local/global aggregation. Each
// subtask folds what it has into one row per key (a combiner), so the hash
// exchange behind it carries partial rows instead of every row.
func (s Stream) GroupAggregate(name string, spec GroupAggSpec) Stream {
	return s.Apply(name, s.node.Parallelism, func() Operator { return &groupAggOp{spec: spec} })
}

type groupAggOp struct {
	BaseOperator
	spec GroupAggSpec

	in        *arrow.Schema
	out       *arrow.Schema
	aggFields []arrow.Field
	keyIdx    []int
	arena     *slotArena
	idx       *groupIndex
	fast      bool

	slots   []int32
	keys    batchKeys
	gen     uint32
	touched []uint32 // per slot: the batch generation that last touched it

	spill    aggSpill // keys moved to the state backend (group_agg_spill.go)
	spillErr error    // a spilled key that could not be read, found by lookup

	emptyOut  bool  // the empty group's row is the current output (EmptyGroup, live)
	emptyDone bool  // it was emitted
	empty     int32 // a slot that stays empty, or −1
}

func (o *groupAggOp) Open(tc *TaskContext) error {
	if len(o.spec.Aggs) == 0 {
		return fmt.Errorf("group aggregate without aggregates")
	}
	o.TC = tc
	o.empty = -1
	if o.spillable() {
		o.spill.limit = residentKeys(tc)
	}
	if o.spec.InputSchema != nil {
		if err := o.resolve(o.spec.InputSchema); err != nil {
			return err
		}
	}
	return tc.State.Register(tc.Node, o)
}

// KeyGroups implements ManagedState.
func (o *groupAggOp) KeyGroups() []int {
	return ownedKeyGroups(o.TC, o.idx != nil && len(o.idx.slots) > 0)
}

func (o *groupAggOp) resolve(schema *arrow.Schema) error {
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
	if o.arena == nil {
		acc, err := newAccumulators(schema, o.spec.Aggs)
		if err != nil {
			return err
		}
		acc.track = o.spec.UpdatingInput
		if o.arena, err = newSlotArena(schema, keyIdx, acc); err != nil {
			return err
		}
		o.aggFields = acc.outputFields(o.spec.Aggs)
		var fields []arrow.Field
		for _, j := range keyIdx {
			fields = append(fields, schema.Field(j))
		}
		o.out = arrow.NewSchema(append(fields, o.aggFields...), nil)
		o.fast = len(keyIdx) == 1 && o.arena.keys[0].kind == keyInt
		o.idx = newGroupIndex(o.fast)
	}
	o.in, o.keyIdx = schema, keyIdx
	return nil
}

// lookup returns the slot of row r's key, creating it — or taking it back
// from the spill table; created reports a key seen for the first time.
func (o *groupAggOp) lookup(r int) (int32, bool) {
	unspilled := false
	s, created := o.idx.lookup(&o.keys, r, func() int32 {
		s := o.arena.alloc()
		o.arena.setKey(s, o.keys.rec, o.keyIdx, r)
		o.idx.slots = append(o.idx.slots, s)
		for int(s) >= len(o.touched) {
			o.touched = append(o.touched, 0)
		}
		var err error
		if unspilled, err = o.unspill(r, s); err != nil && o.spillErr == nil {
			o.spillErr = err
		}
		return s
	})
	return s, created && !unspilled
}

func (o *groupAggOp) ProcessBatch(ctx context.Context, in int, b Batch) error {
	if err := o.processBatch(ctx, in, b); err != nil {
		return err
	}
	if o.spillErr != nil {
		return o.spillErr
	}
	if o.spec.Partial && !o.spec.UpdatingInput && len(o.idx.slots) > PartialResidentKeys {
		return o.flushPartial(ctx)
	}
	return o.maybeSpill()
}

// flushPartial emits a backfill's partial rows (a live run's went out with
// each batch) and forgets every key (GroupAggSpec.Partial).
func (o *groupAggOp) flushPartial(ctx context.Context) error {
	if o.spec.EmitAtEnd {
		if err := o.emitLive(ctx, o.idx.slots); err != nil {
			return err
		}
	}
	o.arena.release(o.idx.slots)
	o.idx = newGroupIndex(o.fast)
	return nil
}

// emitLive emits, as inserts, the rows of the slots that hold rows.
func (o *groupAggOp) emitLive(ctx context.Context, slots []int32) error {
	var live []int32
	for _, s := range slots {
		if o.arena.acc.count[s] > 0 {
			live = append(live, s)
		}
	}
	for start := 0; start < len(live); start += 8192 {
		end := min(start+8192, len(live))
		if err := o.TC.Out.Emit(ctx, Inserts(o.build(live[start:end]))); err != nil {
			return err
		}
	}
	return nil
}

func (o *groupAggOp) processBatch(ctx context.Context, _ int, b Batch) error {
	rec := b.Rec
	if err := o.resolve(rec.Schema()); err != nil {
		return err
	}
	if err := o.emitEmpty(ctx); err != nil {
		return err
	}
	n := int(rec.NumRows())
	o.keys.prepare(rec, o.keyIdx, o.arena.keys, o.fast)
	if err := o.prepareSpill(rec); err != nil {
		return err
	}
	if cap(o.slots) < n {
		o.slots = make([]int32, n)
	}
	slots := o.slots[:n]
	if o.spec.EmitAtEnd && o.fast && o.keys.valid == nil && b.Ops == nil && o.spill.limit == 0 {
		// The backfill fast path: no changelog to emit, no nulls, no
		// retractions — one table probe per row, then the typed adds.
		tab := o.idx.ints
		for r, k := range o.keys.ints[:n] {
			s, ok := tab.get(k)
			if !ok {
				s, _ = o.lookup(r)
			}
			slots[r] = s
		}
		return o.arena.acc.add(rec, slots)
	}
	o.gen++
	type change struct{ slot, shadow int32 }
	var changes []change
	for r := 0; r < n; r++ {
		s, created := o.lookup(r)
		if created && b.Op(r) == Retract {
			return fmt.Errorf("retraction of a row never inserted (group %d)", s)
		}
		if !o.spec.EmitAtEnd && o.touched[s] != o.gen {
			o.touched[s] = o.gen
			shadow := int32(-1)
			if !created && o.arena.acc.count[s] > 0 {
				shadow = o.arena.alloc()
				o.arena.copySlot(shadow, s)
			}
			changes = append(changes, change{s, shadow})
		}
		if b.Op(r) == Retract {
			if err := o.arena.acc.retract(rec, r, s); err != nil {
				return err
			}
			slots[r] = -1
			continue
		}
		slots[r] = s
	}
	if err := o.arena.acc.add(rec, slots); err != nil {
		return err
	}
	if o.spec.EmitAtEnd || len(changes) == 0 {
		return nil
	}
	var rows []int32
	var ops []Op
	for _, c := range changes {
		oldLive, newLive := c.shadow >= 0, o.arena.acc.count[c.slot] > 0
		if oldLive && newLive && o.arena.acc.sameOutput(c.shadow, c.slot) {
			continue
		}
		if oldLive {
			rows, ops = append(rows, c.shadow), append(ops, Retract)
		}
		if newLive {
			rows, ops = append(rows, c.slot), append(ops, Insert)
		}
		if o.spec.EmptyGroup && len(o.keyIdx) == 0 {
			// The one group of a global aggregate: its empty row stands in
			// whenever it holds no rows.
			switch {
			case o.emptyOut && newLive:
				rows, ops = append([]int32{o.emptySlot()}, rows...), append([]Op{Retract}, ops...)
				o.emptyOut = false
			case !newLive && oldLive:
				rows, ops = append(rows, o.emptySlot()), append(ops, Insert)
				o.emptyOut = true
			}
		}
	}
	defer func() {
		for _, c := range changes {
			if c.shadow >= 0 {
				o.arena.release([]int32{c.shadow})
			}
		}
	}()
	if len(rows) == 0 {
		return nil
	}
	return o.TC.Out.Emit(ctx, Batch{Rec: o.build(rows), Ops: ops})
}

func (o *groupAggOp) build(slots []int32) arrow.RecordBatch {
	cols := o.arena.keyColumns(slots)
	cols = append(cols, o.arena.acc.output(o.aggFields, slots)...)
	return columnar.Record(o.out, cols, len(slots))
}

func (o *groupAggOp) ProcessWatermark(ctx context.Context, _ watermark.Time) error {
	return o.emitEmpty(ctx)
}

// emitEmpty emits a live global aggregate's row for no rows, once, before
// anything else (EmptyGroup).
func (o *groupAggOp) emitEmpty(ctx context.Context) error {
	if !o.spec.EmptyGroup || o.spec.EmitAtEnd || len(o.spec.Keys) > 0 || o.emptyDone || o.out == nil {
		return nil
	}
	o.emptyDone, o.emptyOut = true, true
	return o.TC.Out.Emit(ctx, Inserts(o.build([]int32{o.emptySlot()})))
}

// emptySlot is a slot that holds no rows (count 0, every aggregate NULL).
func (o *groupAggOp) emptySlot() int32 {
	if o.empty < 0 {
		o.empty = o.arena.alloc()
	}
	return o.empty
}

// Finish emits the final rows of a backfill.
func (o *groupAggOp) Finish(ctx context.Context) error {
	if !o.spec.EmitAtEnd || o.out == nil {
		return o.emitEmpty(ctx)
	}
	if o.spec.EmptyGroup && len(o.spec.Keys) == 0 {
		// One group: its row, or the row over no rows.
		if len(o.idx.slots) == 0 || o.arena.acc.count[o.idx.slots[0]] == 0 {
			return o.TC.Out.Emit(ctx, Inserts(o.build([]int32{o.emptySlot()})))
		}
	}
	if err := o.emitLive(ctx, o.idx.slots); err != nil {
		return err
	}
	return o.spilledRows(func(slots []int32) error { return o.emitLive(ctx, slots) })
}
