package dataflow

import (
	"container/heap"
	"context"
	"slices"
)

// Snapshots of the session and group aggregates; see window_agg_snapshot.go
// for the window aggregate and snapshot_slots.go for slots.
//
// Session aggregate, one key group:
//
//	payload = schema:bytes wm:varint nkeys:uvarint key*
//	key     = keyslot nsessions:uvarint session*
//	session = start:varint end:varint fired:bool accslot
//
// keyslot holds the group key's values (a slot without aggregates), accslot
// a session's accumulators (a slot without key columns). The timers
// (firing at a session's end, expiry after retention) are not saved: they
// follow from each session's end and fired flag.
//
// Group aggregate, one key group:
//
//	payload = schema:bytes emptyOut:bool emptyDone:bool nslots:uvarint slot*
//
// emptyOut and emptyDone are the state of a global aggregate's row over no
// rows (EmptyGroup), which must not be emitted twice.

const (
	sessionAggSnapshotKind = "session_agg/1"
	groupAggSnapshotKind   = "group_agg/1"
)

var (
	_ StateSnapshotter = (*sessionAggOp)(nil)
	_ StateSnapshotter = (*groupAggOp)(nil)
)

// SnapshotKeyGroups implements StateSnapshotter.
func (o *sessionAggOp) SnapshotKeyGroups(context.Context, Barrier) (map[int][]byte, error) {
	if o.arena == nil || o.nSessions == 0 {
		return nil, nil
	}
	schema, err := encodeSchema(o.in)
	if err != nil {
		return nil, err
	}
	var keys []int32
	for k, ks := range o.byKey { // by key slot
		if len(ks.list) > 0 {
			keys = append(keys, int32(k))
		}
	}
	groups, err := groupSlots(o.TC, o.keyArena, keys, o.spec.Keys, Window{})
	if err != nil {
		return nil, err
	}
	out := make(map[int][]byte, len(groups))
	for kg, ks := range groups {
		var e snapEncoder
		e.bytes(schema)
		e.varint(int64(o.wm))
		e.uvarint(uint64(len(ks)))
		for _, k := range ks {
			o.keyArena.encodeSlot(&e, k)
			list := o.byKey[k].list
			e.uvarint(uint64(len(list)))
			for _, s := range list {
				e.varint(s.start)
				e.varint(s.end)
				e.bool(s.fired)
				o.arena.encodeSlot(&e, s.slot)
			}
		}
		out[kg] = sealSnapshot(sessionAggSnapshotKind, kg, e.buf)
	}
	return out, nil
}

// RestoreKeyGroup implements StateSnapshotter.
func (o *sessionAggOp) RestoreKeyGroup(kg int, blob []byte) error {
	payload, err := openSnapshot(blob, sessionAggSnapshotKind, kg)
	if err != nil {
		return err
	}
	d := &snapDecoder{b: payload}
	wm, err := restoreHeader(d, o.resolve)
	if err != nil {
		return err
	}
	if !o.restored || wm < o.wm {
		o.wm = wm
	}
	o.restored = true
	n := d.count(2)
	for range n {
		k := o.newKey()
		o.keyArena.decodeSlot(d, k)
		ns := d.count(4)
		if d.err != nil {
			break
		}
		k = o.fileKey(k)
		ks := o.byKey[k]
		for range ns {
			s := &session{start: d.varint(), end: d.varint(), key: k}
			s.fired = d.bool()
			s.slot = o.arena.alloc()
			o.arena.decodeSlot(d, s.slot)
			if d.err != nil {
				o.arena.release([]int32{s.slot})
				break
			}
			if s.end <= s.start {
				d.fail("session [%d, %d)", s.start, s.end)
				break
			}
			i, _ := slices.BinarySearchFunc(ks.list, s.start, func(x *session, t int64) int {
				return compareInt64(x.start, t)
			})
			if (i > 0 && ks.list[i-1].end > s.start) || (i < len(ks.list) && ks.list[i].start < s.end) {
				// Only an operator that is not keyed can get one key's
				// sessions from two former subtasks, and session windows
				// are not pre-aggregated locally.
				d.fail("sessions of one key overlap")
				break
			}
			ks.list = slices.Insert(ks.list, i, s)
			o.nSessions++
			if s.fired {
				heap.Push(&o.events, sessionEvent{at: s.end + o.retention, expire: true, ks: ks, s: s})
			} else {
				heap.Push(&o.events, sessionEvent{at: s.end, ks: ks, s: s})
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// newKey allocates a key slot. Key slots index byKey and are never
// released (keyOf relies on that), so one is allocated here for every
// restored key, even one that turns out to be known already.
func (o *sessionAggOp) newKey() int32 {
	k := o.keyArena.alloc()
	o.byKey = append(o.byKey, &keySessions{})
	return k
}

// fileKey enters restored key slot k into the key index and returns the
// key's slot: k, or the slot of the same key restored before (k then
// stays without sessions).
func (o *sessionAggOp) fileKey(k int32) int32 {
	rec := o.keyArena.keyRecord([]int32{k})
	cols := make([]int, len(o.keyArena.keys))
	for i := range cols {
		cols[i] = i
	}
	var bk batchKeys
	bk.prepare(rec, cols, o.keyArena.keys, o.fast)
	slot, _ := o.keys.lookup(&bk, 0, func() int32 { return k })
	return slot
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SnapshotKeyGroups implements StateSnapshotter.
func (o *groupAggOp) SnapshotKeyGroups(context.Context, Barrier) (map[int][]byte, error) {
	if o.arena == nil || (len(o.idx.slots) == 0 && !o.emptyDone) {
		return nil, nil
	}
	schema, err := encodeSchema(o.in)
	if err != nil {
		return nil, err
	}
	var groups map[int][]int32
	if len(o.spec.Keys) == 0 {
		// One group: all of it in one key group.
		groups = map[int][]int32{stateKeyGroup(o.TC): o.idx.slots}
	} else if groups, err = groupSlots(o.TC, o.arena, o.idx.slots, o.spec.Keys, Window{}); err != nil {
		return nil, err
	}
	out := make(map[int][]byte, len(groups))
	for kg, slots := range groups {
		var e snapEncoder
		e.bytes(schema)
		e.bool(o.emptyOut)
		e.bool(o.emptyDone)
		e.uvarint(uint64(len(slots)))
		for _, s := range slots {
			o.arena.encodeSlot(&e, s)
		}
		out[kg] = sealSnapshot(groupAggSnapshotKind, kg, e.buf)
	}
	return out, nil
}

// RestoreKeyGroup implements StateSnapshotter.
func (o *groupAggOp) RestoreKeyGroup(kg int, blob []byte) error {
	payload, err := openSnapshot(blob, groupAggSnapshotKind, kg)
	if err != nil {
		return err
	}
	d := &snapDecoder{b: payload}
	sb := d.bytes()
	emptyOut, emptyDone := d.bool(), d.bool()
	if d.err != nil {
		return d.err
	}
	if err := restoreSchema(sb, o.resolve); err != nil {
		return err
	}
	o.emptyOut = o.emptyOut || emptyOut
	o.emptyDone = o.emptyDone || emptyDone
	n := d.count(1)
	slots := make([]int32, 0, n)
	for range n {
		s := o.arena.alloc()
		o.arena.decodeSlot(d, s)
		slots = append(slots, s)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		o.arena.release(slots)
		return d.err
	}
	mergeSlots(o.arena, o.idx, o.fast, slots)
	for int(o.arena.n) > len(o.touched) {
		o.touched = append(o.touched, 0)
	}
	return nil
}
