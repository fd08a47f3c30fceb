package dataflow

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// Snapshots of the window buffer (window top-N, window join). Payload of
// one key group:
//
//	payload = ninputs:uvarint wm:varint nschemas:uvarint schema:bytes*
//	          last:uvarint*ninputs nwindows:uvarint window*
//	last    = 0 (no row seen yet) | 1 + the index of the input's last schema
//	window  = start:varint end:varint fired:bool nblocks:uvarint block*
//	block   = input:uvarint schema:uvarint rows
//
// schema is as in snapshot_codec.go, rows as in
// window_buffer_snapshot_rows.go. A block is a run of a window's buffered
// rows of one input and schema, in arrival order; a row belongs to the key
// group of its input's exchange keys (all rows to stateKeyGroup when the
// operator has no hash input). Windows are written in firing order, so
// equal state gives equal bytes.
//
// The last output of a fired window (kept to emit updates as differences)
// is not written: it is the compute function's result over the window's
// rows, and both operators' results decompose by key group (a top-N
// partition, a join key, lies in one), so a restore recomputes it from the
// rows of each blob. The rejected alternative, writing the output rows,
// doubles the size of a retained window and cannot be split by key group
// (an outer join's NULL-padded rows have no key).

const (
	windowTopNSnapshotKind = "window_topn/1"
	windowJoinSnapshotKind = "window_join/1"
)

var (
	_ StateSnapshotter = (*windowTopNOp)(nil)
	_ StateSnapshotter = (*windowJoinOp)(nil)
)

// SnapshotKeyGroups implements StateSnapshotter.
func (o *windowTopNOp) SnapshotKeyGroups(ctx context.Context, _ Barrier) (map[int][]byte, error) {
	return o.buf.snapshot(ctx, windowTopNSnapshotKind)
}

// RestoreKeyGroup implements StateSnapshotter.
func (o *windowTopNOp) RestoreKeyGroup(kg int, blob []byte) error {
	return o.buf.restore(windowTopNSnapshotKind, kg, blob)
}

// SnapshotKeyGroups implements StateSnapshotter.
func (o *windowJoinOp) SnapshotKeyGroups(ctx context.Context, _ Barrier) (map[int][]byte, error) {
	return o.buf.snapshot(ctx, windowJoinSnapshotKind)
}

// RestoreKeyGroup implements StateSnapshotter.
func (o *windowJoinOp) RestoreKeyGroup(kg int, blob []byte) error {
	return o.buf.restore(windowJoinSnapshotKind, kg, blob)
}

// snapBlock is rows of one input and schema of a window, in one key group:
// rows idx[i] of recs[i].
type snapBlock struct {
	input  int
	schema *arrow.Schema
	recs   []arrow.RecordBatch
	idx    [][]int32
}

type snapWindow struct {
	bw     *bufferedWindow
	blocks []*snapBlock
}

// snapshot returns the buffer's state as sealed blobs by key group. Rows
// a restore noted for emission (flushRestored) are emitted first, before
// the barrier: the format has no place for rows of a fired window whose
// output was never emitted.
func (b *windowBuffer) snapshot(ctx context.Context, kind string) (map[int][]byte, error) {
	if err := b.flushRestored(ctx); err != nil {
		return nil, err
	}
	if len(b.windows) == 0 {
		return nil, nil
	}
	wins := make([]*bufferedWindow, 0, len(b.windows))
	for _, bw := range b.windows {
		wins = append(wins, bw)
	}
	slices.SortFunc(wins, func(x, y *bufferedWindow) int { return compareWindows(x.w, y.w) })

	byKG := map[int][]*snapWindow{}
	hashes := map[arrow.RecordBatch][]uint64{}
	for _, bw := range wins {
		cur := map[int]*snapWindow{}
		for i, chunks := range bw.inputs {
			for _, c := range chunks {
				kgs, err := b.rowKeyGroups(i, c, hashes)
				if err != nil {
					return nil, err
				}
				for k, kg := range kgs {
					sw := cur[kg]
					if sw == nil {
						sw = &snapWindow{bw: bw}
						cur[kg] = sw
						byKG[kg] = append(byKG[kg], sw)
					}
					sw.add(i, c.rec, int32(c.row(k)))
				}
			}
		}
	}
	out := make(map[int][]byte, len(byKG))
	for kg, sws := range byKG {
		payload, err := b.encodeKeyGroup(sws)
		if err != nil {
			return nil, err
		}
		out[kg] = sealSnapshot(kind, kg, payload)
	}
	return out, nil
}

// rowKeyGroups returns the key group of each row of chunk c of input i.
func (b *windowBuffer) rowKeyGroups(i int, c rowChunk, hashes map[arrow.RecordBatch][]uint64) ([]int, error) {
	kgs := make([]int, c.len())
	if b.tc.InputKeys == nil {
		kg := stateKeyGroup(b.tc)
		for k := range kgs {
			kgs[k] = kg
		}
		return kgs, nil
	}
	h, ok := hashes[c.rec]
	if !ok {
		h = make([]uint64, c.rec.NumRows())
		if err := b.keys[i].Hash(c.rec, h); err != nil {
			return nil, err
		}
		hashes[c.rec] = h
	}
	for k := range kgs {
		kg := KeyGroupOf(h[c.row(k)], b.tc.MaxParallelism)
		if !b.tc.KeyGroups.Contains(kg) {
			return nil, fmt.Errorf("state of key group %d found in a subtask of key groups %s", kg, b.tc.KeyGroups)
		}
		kgs[k] = kg
	}
	return kgs, nil
}

// add appends row r of rec, of input i, to the window's last block when it
// continues it.
func (w *snapWindow) add(i int, rec arrow.RecordBatch, r int32) {
	var blk *snapBlock
	if n := len(w.blocks); n > 0 {
		blk = w.blocks[n-1]
	}
	if blk == nil || blk.input != i || !sameSchema(blk.schema, rec.Schema()) {
		blk = &snapBlock{input: i, schema: rec.Schema()}
		w.blocks = append(w.blocks, blk)
	}
	if n := len(blk.recs); n == 0 || blk.recs[n-1] != rec {
		blk.recs = append(blk.recs, rec)
		blk.idx = append(blk.idx, nil)
	}
	last := len(blk.idx) - 1
	blk.idx[last] = append(blk.idx[last], r)
}

func sameSchema(x, y *arrow.Schema) bool { return x == y || x.Equal(y) }

// encodeKeyGroup writes the payload of one key group's windows.
func (b *windowBuffer) encodeKeyGroup(sws []*snapWindow) ([]byte, error) {
	var schemas []*arrow.Schema
	schemaIndex := func(s *arrow.Schema) int {
		for i, t := range schemas {
			if sameSchema(s, t) {
				return i
			}
		}
		schemas = append(schemas, s)
		return len(schemas) - 1
	}
	last := make([]int, len(b.inputs))
	for i, in := range b.inputs {
		if in.schema != nil {
			last[i] = 1 + schemaIndex(in.schema)
		}
	}
	blockSchema := map[*snapBlock]int{}
	for _, sw := range sws {
		for _, blk := range sw.blocks {
			blockSchema[blk] = schemaIndex(blk.schema)
		}
	}
	var e snapEncoder
	e.uvarint(uint64(len(b.inputs)))
	e.varint(int64(b.wm))
	e.uvarint(uint64(len(schemas)))
	for _, s := range schemas {
		sb, err := encodeSchema(s)
		if err != nil {
			return nil, err
		}
		e.bytes(sb)
	}
	for _, l := range last {
		e.uvarint(uint64(l))
	}
	e.uvarint(uint64(len(sws)))
	for _, sw := range sws {
		e.varint(sw.bw.w.Start)
		e.varint(sw.bw.w.End)
		e.bool(sw.bw.fired)
		e.uvarint(uint64(len(sw.blocks)))
		for _, blk := range sw.blocks {
			e.uvarint(uint64(blk.input))
			e.uvarint(uint64(blockSchema[blk]))
			if err := encodeRows(&e, blk.schema, blk.recs, blk.idx); err != nil {
				return nil, err
			}
		}
	}
	return e.buf, nil
}

// restoredWindow is one window of a decoded blob.
type restoredWindow struct {
	w      Window
	fired  bool
	inputs [][]rowChunk
}

// restore adds one blob of key group kg. It decodes the whole blob before
// changing anything, so a corrupt blob leaves the buffer as it was.
func (b *windowBuffer) restore(kind string, kg int, blob []byte) error {
	payload, err := openSnapshot(blob, kind, kg)
	if err != nil {
		return err
	}
	d := &snapDecoder{b: payload}
	if n := d.uvarint(); d.err == nil && n != uint64(len(b.inputs)) {
		d.fail("%d inputs, want %d", n, len(b.inputs))
	}
	wm := watermark.Time(d.varint())
	ns := d.count(2)
	schemas := make([]*arrow.Schema, 0, ns)
	for range ns {
		sb := d.bytes()
		if d.err != nil {
			break
		}
		s, err := decodeSchema(sb)
		if err != nil {
			return err
		}
		if _, err := windowColumns(s); err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
		}
		schemas = append(schemas, s)
	}
	last := make([]*arrow.Schema, len(b.inputs))
	for i := range last {
		x := d.uvarint()
		switch {
		case d.err != nil:
		case x > uint64(len(schemas)):
			d.fail("schema %d of %d", x, len(schemas))
		case x > 0:
			last[i] = schemas[x-1]
		}
	}
	nw := d.count(4)
	wins := make([]restoredWindow, 0, nw)
	for range nw {
		rw := restoredWindow{w: Window{Start: d.varint(), End: d.varint()}, fired: d.bool(),
			inputs: make([][]rowChunk, len(b.inputs))}
		nb := d.count(3)
		if d.err == nil && rw.w.End <= rw.w.Start {
			d.fail("window [%d, %d)", rw.w.Start, rw.w.End)
		}
		for range nb {
			in, si := d.uvarint(), d.uvarint()
			if d.err == nil && (in >= uint64(len(b.inputs)) || si >= uint64(len(schemas))) {
				d.fail("block of input %d, schema %d", in, si)
			}
			if d.err != nil {
				break
			}
			rec := decodeRows(d, schemas[si])
			if d.err != nil {
				break
			}
			if err := checkWindowRows(rec, rw.w); err != nil {
				d.fail("%v", err)
				break
			}
			if rec.NumRows() > 0 {
				rw.inputs[in] = append(rw.inputs[in], rowChunk{rec: rec})
			}
		}
		if d.err != nil {
			break
		}
		wins = append(wins, rw)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return d.err
	}

	// The least watermark of the blobs: a key group restored from a subtask
	// that was behind must not be treated as further along.
	if !b.restored || wm < b.wm {
		b.wm = wm
	}
	b.restored = true
	for i, s := range last {
		if s != nil && b.inputs[i].schema == nil {
			if err := b.resolve(i, s); err != nil {
				return fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
			}
		}
	}
	for _, rw := range wins {
		if err := b.restoreWindow(rw); err != nil {
			return err
		}
	}
	return nil
}

// windowColumns returns the indices of a schema's window columns.
func windowColumns(s *arrow.Schema) ([2]int, error) {
	start, err := ColumnIndex(s, WindowStartColumn)
	if err != nil {
		return [2]int{}, err
	}
	end, err := ColumnIndex(s, WindowEndColumn)
	if err != nil {
		return [2]int{}, err
	}
	for _, c := range []int{start, end} {
		if id := s.Field(c).Type.ID(); id != arrow.TIMESTAMP && id != arrow.INT64 {
			return [2]int{}, fmt.Errorf("window column %q of type %s", s.Field(c).Name, s.Field(c).Type)
		}
	}
	return [2]int{start, end}, nil
}

// checkWindowRows checks that every row of rec belongs to window w.
func checkWindowRows(rec arrow.RecordBatch, w Window) error {
	cols, err := windowColumns(rec.Schema())
	if err != nil {
		return err
	}
	start, end := rec.Column(cols[0]), rec.Column(cols[1])
	if start.NullN() > 0 || end.NullN() > 0 {
		return fmt.Errorf("a row of window [%d, %d) has a NULL window bound", w.Start, w.End)
	}
	ss, es := columnar.Int64Values(start), columnar.Int64Values(end)
	for r := range ss {
		if ss[r] != w.Start || es[r] != w.End {
			return fmt.Errorf("a row of window [%d, %d) in window [%d, %d)", ss[r], es[r], w.Start, w.End)
		}
	}
	return nil
}

// restoreWindow files the rows of a restored window. A fired window's
// output so far is recomputed from the rows of its blob (see the format
// above). A window fired in one blob but not in another (subtasks'
// watermarks differ while splits are idle) is fired, and the rows of the
// blobs for which it had not fired are emitted as an update before
// anything else (flushRestored).
func (b *windowBuffer) restoreWindow(rw restoredWindow) error {
	bw, existed := b.windows[rw.w]
	if !existed {
		bw = &bufferedWindow{w: rw.w, inputs: make([][]rowChunk, len(b.inputs)), fired: rw.fired}
		b.windows[rw.w] = bw
		if !rw.fired {
			b.nextFire = min(b.nextFire, rw.w.End)
		}
		b.nextDrop = min(b.nextDrop, b.dropTime(rw.w.End))
	}
	if rw.fired {
		out, err := b.run(&bufferedWindow{w: rw.w, inputs: rw.inputs})
		if err != nil {
			// The rows were computed before the snapshot: they do not fit
			// this operator.
			return fmt.Errorf("%w: %w", ErrIncompatibleSnapshot, err)
		}
		bw.out = append(bw.out, out...)
	}
	if existed && bw.fired != rw.fired {
		bw.fired = true
		if !bw.dirty {
			bw.dirty = true
			b.unemitted = append(b.unemitted, bw)
		}
	}
	for i, chunks := range rw.inputs {
		bw.inputs[i] = append(bw.inputs[i], chunks...)
	}
	return nil
}

// flushRestored emits the updates restoreWindow noted. It runs before the
// first batch, watermark or snapshot after a restore.
func (b *windowBuffer) flushRestored(ctx context.Context) error {
	if len(b.unemitted) == 0 {
		return nil
	}
	pending := b.unemitted
	b.unemitted = nil
	slices.SortFunc(pending, func(x, y *bufferedWindow) int { return compareWindows(x.w, y.w) })
	for _, bw := range pending {
		bw.dirty = false
		if b.windows[bw.w] != bw {
			continue
		}
		if err := b.update(ctx, bw); err != nil {
			return err
		}
	}
	return nil
}
