package dataflow

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

// Spilling group aggregate state to the state backend.
//
// A GROUP BY without a window keeps one row of accumulators per key for as
// long as the job runs, so over a high-cardinality key its state grows
// without bound. When its keyed state lives outside memory (a Pebble
// backend, JobOptions.StateStore) the operator keeps at most
// GroupAggResidentKeys keys in its columnar arena — the hot ones — and
// moves the least recently touched to the backend's table spillTable:
//
//	key group → slotKey(key) → the slot as in a snapshot (encodeSlot)
//
// A key lives in exactly one place: in the arena, or in the table. A row
// whose key is not in the arena looks the key up in the table first and
// takes its slot back into the arena (deleting the entry), so results are
// the same whether or not anything was spilled. A checkpoint saves the
// arena as operator state (agg_snapshot.go) and the table with the
// backend's own snapshot (incrementally, for Pebble), and a restore at any
// parallelism moves both by key group.
//
// Only a keyed aggregate spills (its input hash-partitioned by group
// keys): the table is filed by key group, which a key must determine.

// GroupAggResidentKeys is how many keys a spilling group aggregate subtask
// keeps in memory; past it, it spills the least recently touched quarter.
var GroupAggResidentKeys = 1 << 20

const spillTable = "group_agg.spill"

// testHookResidentKeys, when positive, makes every spillable group
// aggregate spill past that many keys whatever its backend, so that tests
// exercise spilling with the in-memory one.
var testHookResidentKeys int

// residentKeys is the spill limit of a group aggregate subtask: 0 (never)
// when its state backend keeps tables in memory, where a spill would save
// nothing.
func residentKeys(tc *TaskContext) int {
	if testHookResidentKeys > 0 {
		return testHookResidentKeys
	}
	if tc.State == nil || !tc.State.outOfMemory() {
		return 0
	}
	return GroupAggResidentKeys
}

// outOfMemory reports whether the backend keeps its tables outside memory
// (in a StateStore).
func (s *StateBackend) outOfMemory() bool { return s.st != nil }

// aggSpill is the spill side of a group aggregate subtask.
type aggSpill struct {
	limit   int         // resident keys before a spill; 0: never spill
	table   *StateTable // nil until first used
	n       int         // entries in table (−1: not counted yet)
	hashCol []int       // input columns of the exchange's keys
	kgs     []int       // per row of the current batch, when n > 0
	enc     snapEncoder
	key     []byte
}

// spillable reports whether o may spill: it is keyed by group keys.
func (o *groupAggOp) spillable() bool {
	if o.TC == nil || o.TC.State == nil || len(o.spec.Keys) == 0 || len(o.TC.InputKeys) == 0 {
		return false
	}
	for _, k := range o.TC.InputKeys {
		if !slices.Contains(o.spec.Keys, k) {
			return false
		}
	}
	return true
}

// spillTab returns the spill table, counting its entries on first use (a
// restore may have filled it, whatever this job's limit).
func (o *groupAggOp) spillTab() *StateTable {
	sp := &o.spill
	if sp.table == nil {
		sp.table = o.TC.State.Table(spillTable)
		sp.n = 0
		for kg := o.TC.KeyGroups.Start; kg < o.TC.KeyGroups.End; kg++ {
			sp.n += sp.table.Len(kg)
		}
	}
	return sp.table
}

// spilled reports whether any key is in the spill table.
func (o *groupAggOp) spilled() bool {
	if !o.spillable() {
		return false
	}
	o.spillTab()
	return o.spill.n > 0
}

// prepareSpill computes the key group of every row of rec when keys are
// spilled (they are looked up by key group).
func (o *groupAggOp) prepareSpill(rec arrow.RecordBatch) error {
	sp := &o.spill
	sp.kgs = sp.kgs[:0]
	if !o.spilled() {
		return nil
	}
	if sp.hashCol == nil {
		cols, err := ColumnIndices(rec.Schema(), o.TC.InputKeys)
		if err != nil {
			return err
		}
		sp.hashCol = cols
	}
	cols := make([]arrow.Array, len(sp.hashCol))
	for i, j := range sp.hashCol {
		cols[i] = rec.Column(j)
	}
	hashes := make([]uint64, rec.NumRows())
	if err := columnar.HashColumns(cols, hashes); err != nil {
		return err
	}
	for _, h := range hashes {
		sp.kgs = append(sp.kgs, KeyGroupOf(h, o.TC.MaxParallelism))
	}
	return nil
}

// unspill moves row r's key from the spill table into slot s, which holds
// the key only; it reports whether the key was there.
func (o *groupAggOp) unspill(r int, s int32) (bool, error) {
	sp := &o.spill
	if len(sp.kgs) == 0 {
		return false, nil
	}
	kg := sp.kgs[r]
	sp.key = o.arena.slotKey(sp.key[:0], s)
	val, ok := sp.table.Get(kg, sp.key)
	if !ok {
		return false, nil
	}
	d := &snapDecoder{b: val}
	o.arena.decodeSlot(d, s)
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return false, fmt.Errorf("spilled group of key group %d: %w", kg, d.err)
	}
	sp.table.Delete(kg, sp.key)
	sp.n--
	return true, nil
}

// maybeSpill moves the least recently touched keys to the spill table when
// more than the limit are in memory, and rebuilds the in-memory index over
// the rest.
func (o *groupAggOp) maybeSpill() error {
	sp := &o.spill
	if sp.limit <= 0 || len(o.idx.slots) <= sp.limit || !o.spillable() {
		return nil
	}
	tab := o.spillTab()
	slots := slices.Clone(o.idx.slots)
	slices.SortStableFunc(slots, func(a, b int32) int { return int(o.touched[a]) - int(o.touched[b]) })
	keep := sp.limit * 3 / 4
	victims := slots[:len(slots)-keep]
	groups, err := groupSlots(o.TC, o.arena, victims, o.spec.Keys, Window{})
	if err != nil {
		return err
	}
	for kg, ss := range groups {
		for _, s := range ss {
			sp.enc.buf = sp.enc.buf[:0]
			o.arena.encodeSlot(&sp.enc, s)
			sp.key = o.arena.slotKey(sp.key[:0], s)
			tab.Put(kg, slices.Clone(sp.key), slices.Clone(sp.enc.buf))
			sp.n++
		}
	}
	evicted := make(map[int32]bool, len(victims))
	for _, v := range victims {
		evicted[v] = true
	}
	o.arena.release(victims)
	// Rebuild the index over the resident slots, in their old order.
	rest := make([]int32, 0, keep)
	for _, s := range o.idx.slots {
		if !evicted[s] {
			rest = append(rest, s)
		}
	}
	o.idx = newGroupIndex(o.fast)
	mergeSlots(o.arena, o.idx, o.fast, rest)
	return nil
}

// slotKey appends slot s's key as appendKey encodes a row's.
func (a *slotArena) slotKey(dst []byte, s int32) []byte {
	for k := range a.keys {
		kc := &a.keys[k]
		if !kc.valid[s] {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		switch kc.kind {
		case keyInt:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(kc.i[s]))
		case keyFloat:
			f := kc.f[s]
			if f == 0 {
				f = 0
			}
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
		case keyString:
			dst = binary.AppendUvarint(dst, uint64(len(kc.s[s])))
			dst = append(dst, kc.s[s]...)
		case keyBool:
			if kc.b[s] {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
	}
	return dst
}

// spilledRows calls fn with batches of slots holding every spilled key
// (for the final rows of a backfill); the slots are released after fn.
func (o *groupAggOp) spilledRows(fn func(slots []int32) error) error {
	if !o.spilled() {
		return nil
	}
	var slots []int32
	flush := func() error {
		if len(slots) == 0 {
			return nil
		}
		err := fn(slots)
		o.arena.release(slots)
		slots = slots[:0]
		return err
	}
	for kg := o.TC.KeyGroups.Start; kg < o.TC.KeyGroups.End; kg++ {
		var err error
		o.spill.table.Scan(kg, func(_, val []byte) bool {
			s := o.arena.alloc()
			slots = append(slots, s)
			d := &snapDecoder{b: val}
			o.arena.decodeSlot(d, s)
			if d.err != nil {
				err = fmt.Errorf("spilled group of key group %d: %w", kg, d.err)
				return false
			}
			if len(slots) == 8192 {
				err = flush()
			}
			return err == nil
		})
		if err != nil {
			o.arena.release(slots)
			return err
		}
	}
	return flush()
}
