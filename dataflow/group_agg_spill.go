package dataflow

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
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
// keeps in memory; past it, it spills the least recently touched keys
// until three quarters of it remain.
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
	n       int         // entries in table
	filter  keyFilter   // every key put into table (and some deleted since)
	hashCol []int       // input columns of the exchange's keys
	kgs     []int       // per row of the current batch, when n > 0
	hashes  []uint64    // scratch for kgs
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
		sp.filter.seed = maphash.MakeSeed()
		sp.n = 0
		for kg := o.TC.KeyGroups.Start; kg < o.TC.KeyGroups.End; kg++ {
			sp.table.Scan(kg, func(key, _ []byte) bool {
				sp.filter.add(key)
				sp.n++
				return true
			})
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
	sp.hashes = slices.Grow(sp.hashes[:0], int(rec.NumRows()))[:rec.NumRows()]
	if err := columnar.HashColumns(cols, sp.hashes); err != nil {
		return err
	}
	for _, h := range sp.hashes {
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
	if !sp.filter.mayContain(sp.key) {
		return false, nil // a key never spilled: most new keys
	}
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
			sp.filter.add(sp.key)
			tab.Put(kg, slices.Clone(sp.key), slices.Clone(sp.enc.buf))
			sp.n++
			if o.idx.bytes != nil {
				delete(o.idx.bytes, string(sp.key)) // the index's key is the same encoding
			}
		}
	}
	evicted := make(map[int32]bool, len(victims))
	for _, v := range victims {
		evicted[v] = true
	}
	o.arena.release(victims)
	rest := make([]int32, 0, keep)
	for _, s := range o.idx.slots {
		if !evicted[s] {
			rest = append(rest, s)
		}
	}
	if o.idx.bytes != nil {
		o.idx.slots = rest
		return nil
	}
	// The typed index cannot delete: rebuild it over the resident slots, in
	// their old order.
	o.idx = newGroupIndex(o.fast)
	mergeSlots(o.arena, o.idx, o.fast, rest)
	return nil
}

// keyFilter is a Bloom filter of the keys a group aggregate spilled, so
// that a key seen for the first time — most of them — costs no lookup in
// the backend. It grows as a list of filters, each twice the size of the
// one before (a scalable Bloom filter), at about 1% false positives each.
// Keys taken back are not removed: they only cost a lookup that misses.
type keyFilter struct {
	seed  maphash.Seed
	parts []bloomPart
}

type bloomPart struct {
	bits     []uint64
	n, limit int
}

const (
	bloomBitsPerKey = 10
	bloomProbes     = 7
)

func (f *keyFilter) add(key []byte) {
	if len(f.parts) == 0 || f.parts[len(f.parts)-1].n >= f.parts[len(f.parts)-1].limit {
		limit := 1 << 16
		if len(f.parts) > 0 {
			limit = f.parts[len(f.parts)-1].limit * 2
		}
		f.parts = append(f.parts, bloomPart{bits: make([]uint64, (limit*bloomBitsPerKey+63)/64), limit: limit})
	}
	p := &f.parts[len(f.parts)-1]
	h := maphash.Bytes(f.seed, key)
	m := uint64(len(p.bits) * 64)
	h1, h2 := h, h>>32|1
	for i := range uint64(bloomProbes) {
		b := (h1 + i*h2) % m
		p.bits[b/64] |= 1 << (b % 64)
	}
	p.n++
}

func (f *keyFilter) mayContain(key []byte) bool {
	if len(f.parts) == 0 {
		return false
	}
	h := maphash.Bytes(f.seed, key)
	h1, h2 := h, h>>32|1
parts:
	for i := range f.parts {
		p := &f.parts[i]
		m := uint64(len(p.bits) * 64)
		for j := range uint64(bloomProbes) {
			b := (h1 + j*h2) % m
			if p.bits[b/64]&(1<<(b%64)) == 0 {
				continue parts
			}
		}
		return true
	}
	return false
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
