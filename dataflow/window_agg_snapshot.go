package dataflow

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/watermark"
)

// Snapshots of the window aggregate (TUMBLE, HOP, CUMULATE, and the second
// stage over window_start/window_end columns). Payload of one key group:
//
//	payload = schema:bytes wm:varint nwindows:uvarint window*
//	window  = start:varint end:varint fired:bool nslots:uvarint slot*
//
// schema is the input schema (an Arrow IPC message, snapshot_codec.go), from
// which a restored operator rebuilds its accumulators before any batch
// arrives; slot is as in snapshot_slots.go. Windows that fired and are kept
// for updates (retention) are saved with fired set, so that a restored
// operator re-emits them as updates, never as new results.

const windowAggSnapshotKind = "window_agg/1"

var (
	_ StateSnapshotter = (*windowAggOp)(nil)
)

// stateKeyGroup is where an operator that is not behind a hash exchange
// files its state (see checkpoint.go): the first key group of its range.
func stateKeyGroup(tc *TaskContext) int {
	return KeyGroupsOf(tc.Subtask, tc.Parallelism, tc.MaxParallelism).Start
}

// groupSlots splits slots by key group: by the hash of the exchange's key
// columns when the operator is keyed, all in stateKeyGroup otherwise.
func groupSlots(tc *TaskContext, a *slotArena, slots []int32, groupKeys []string, w Window) (map[int][]int32, error) {
	out := map[int][]int32{}
	if tc.InputKeys == nil {
		out[stateKeyGroup(tc)] = slots
		return out, nil
	}
	kgs, err := a.slotKeyGroups(slots, groupKeys, tc.InputKeys, w, tc.MaxParallelism)
	if err != nil {
		return nil, err
	}
	for i, kg := range kgs {
		if !tc.KeyGroups.Contains(kg) {
			return nil, fmt.Errorf("state of key group %d found in a subtask of key groups %s", kg, tc.KeyGroups)
		}
		out[kg] = append(out[kg], slots[i])
	}
	return out, nil
}

type windowSlots struct {
	w     Window
	fired bool
	slots []int32
}

// SnapshotKeyGroups implements StateSnapshotter. Rows a restore noted for
// emission go out first, before the barrier: the snapshot records their
// windows as fired, so a later restore would never emit them.
func (o *windowAggOp) SnapshotKeyGroups(ctx context.Context, _ Barrier) (map[int][]byte, error) {
	if err := o.flushRestored(ctx); err != nil {
		return nil, err
	}
	if o.arena == nil || len(o.windows) == 0 {
		return nil, nil
	}
	schema, err := encodeSchema(o.in)
	if err != nil {
		return nil, err
	}
	byKG := map[int][]windowSlots{}
	// Windows in a fixed order (pending by end, then fired), so that equal
	// state gives equal bytes.
	ordered := make([]*winState, 0, len(o.windows))
	for _, ws := range o.windows {
		ordered = append(ordered, ws)
	}
	sortWindows(ordered)
	for _, ws := range ordered {
		groups, err := groupSlots(o.TC, o.arena, ws.idx.slots, o.spec.Keys, ws.w)
		if err != nil {
			return nil, err
		}
		for kg, slots := range groups {
			byKG[kg] = append(byKG[kg], windowSlots{w: ws.w, fired: ws.fired, slots: slots})
		}
	}
	out := make(map[int][]byte, len(byKG))
	for kg, wss := range byKG {
		var e snapEncoder
		e.bytes(schema)
		e.varint(int64(o.wm))
		e.uvarint(uint64(len(wss)))
		for _, ws := range wss {
			e.varint(ws.w.Start)
			e.varint(ws.w.End)
			e.bool(ws.fired)
			e.uvarint(uint64(len(ws.slots)))
			for _, s := range ws.slots {
				o.arena.encodeSlot(&e, s)
			}
		}
		out[kg] = sealSnapshot(windowAggSnapshotKind, kg, e.buf)
	}
	return out, nil
}

func sortWindows(ws []*winState) {
	slices.SortFunc(ws, func(a, b *winState) int {
		return cmp.Or(cmp.Compare(a.w.End, b.w.End), cmp.Compare(a.w.Start, b.w.Start))
	})
}

// restoreHeader reads the schema and watermark of a payload and resolves
// the operator against the schema.
func restoreHeader(d *snapDecoder, resolve func(*arrow.Schema) error) (watermark.Time, error) {
	sb := d.bytes()
	wm := watermark.Time(d.varint())
	if d.err != nil {
		return 0, d.err
	}
	return wm, restoreSchema(sb, resolve)
}

// restoreSchema decodes a snapshot's input schema and resolves the
// operator against it, so that it has its accumulators before any batch.
func restoreSchema(b []byte, resolve func(*arrow.Schema) error) error {
	schema, err := decodeSchema(b)
	if err != nil {
		return err
	}
	if err := resolve(schema); err != nil {
		return fmt.Errorf("%w: %w", ErrIncompatibleSnapshot, err)
	}
	return nil
}

// RestoreKeyGroup implements StateSnapshotter.
func (o *windowAggOp) RestoreKeyGroup(kg int, blob []byte) error {
	payload, err := openSnapshot(blob, windowAggSnapshotKind, kg)
	if err != nil {
		return err
	}
	d := &snapDecoder{b: payload}
	wm, err := restoreHeader(d, o.resolve)
	if err != nil {
		return err
	}
	o.restoreWM(wm)
	n := d.count(4)
	for range n {
		w := Window{Start: d.varint(), End: d.varint()}
		fired := d.bool()
		ns := d.count(1)
		if d.err != nil {
			break
		}
		if w.End <= w.Start {
			d.fail("window [%d, %d)", w.Start, w.End)
			break
		}
		slots := make([]int32, 0, ns)
		for range ns {
			s := o.arena.alloc()
			o.arena.decodeSlot(d, s)
			slots = append(slots, s)
		}
		if d.err != nil {
			o.arena.release(slots)
			break
		}
		ws, ok := o.windows[w]
		switch {
		case !ok:
			ws = &winState{w: w, idx: newGroupIndex(o.fast), fired: fired, heapI: -1}
			o.windows[w] = ws
			if fired {
				o.insertFired(ws)
			} else {
				heap.Push(&o.pending, ws)
			}
		case ws.fired && !fired:
			// Subtasks' watermarks differ while splits are idle (a batch
			// re-activates an idle input only where it goes), so a window
			// may have fired for some key groups and not for others. The
			// restored window is fired; the rows of the key groups for
			// which it had not are emitted before anything else.
			defer func() { o.emitOnRestore(ws, slots) }()
		case !ws.fired && fired:
			o.emitOnRestore(ws, slices.Clone(ws.idx.slots))
			heap.Remove(&o.pending, ws.heapI)
			ws.fired, ws.heapI = true, -1
			o.insertFired(ws)
		}
		slots = mergeSlots(o.arena, ws.idx, o.fast, slots)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// emitOnRestore notes slots of a restored fired window whose rows were
// never emitted (see RestoreKeyGroup); flushRestored emits them.
func (o *windowAggOp) emitOnRestore(ws *winState, slots []int32) {
	if o.unemitted == nil {
		o.unemitted = map[*winState][]int32{}
	}
	o.unemitted[ws] = append(o.unemitted[ws], slots...)
}

// flushRestored emits, as inserts, the rows noted by emitOnRestore. It runs
// before the first batch, watermark or snapshot after a restore, so that
// an update to such a row retracts what was emitted.
func (o *windowAggOp) flushRestored(ctx context.Context) error {
	if len(o.unemitted) == 0 {
		return nil
	}
	wss := make([]*winState, 0, len(o.unemitted))
	for ws := range o.unemitted {
		wss = append(wss, ws)
	}
	sortWindows(wss)
	for _, ws := range wss {
		var live []int32
		for _, s := range o.unemitted[ws] {
			if o.arena.acc.count[s] > 0 {
				live = append(live, s)
			}
		}
		if len(live) > 0 {
			if err := o.TC.Out.Emit(ctx, Inserts(o.build(ws.w, live))); err != nil {
				return err
			}
		}
	}
	o.unemitted = nil
	return nil
}

// restoreWM sets the operator's watermark from restored blobs: the least
// of theirs (a key group restored from a subtask that was behind must not
// be treated as further along).
func (o *windowAggOp) restoreWM(wm watermark.Time) {
	if !o.restored || wm < o.wm {
		o.wm = wm
	}
	o.restored = true
}

// mergeSlots files restored slots into a group index: a key seen for the
// first time takes its slot, a key already there (state of one key from
// several former subtasks of an operator that is not keyed) merges into it.
// It returns the slots the keys ended in.
func mergeSlots(a *slotArena, idx *groupIndex, fast bool, slots []int32) []int32 {
	if len(slots) == 0 {
		return nil
	}
	rec := a.keyRecord(slots)
	cols := make([]int, len(a.keys))
	for i := range cols {
		cols[i] = i
	}
	var bk batchKeys
	bk.prepare(rec, cols, a.keys, fast)
	for r, s := range slots {
		slot, created := idx.lookup(&bk, r, func() int32 {
			idx.slots = append(idx.slots, s)
			return s
		})
		if !created {
			a.acc.merge(slot, s)
			a.release([]int32{s})
			slots[r] = slot
		}
	}
	return slots
}
