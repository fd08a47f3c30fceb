package dataflow

import (
	"container/heap"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

// Snapshots of the regular and interval joins (streamJoinOp). Payload of
// one key group:
//
//	payload = side side                  the left rows, then the right ones
//	side    = nrows:uvarint [schema:bytes rows matches:uvarint*nrows]
//
// schema and rows (present only when nrows > 0) are as in
// snapshot_codec.go and window_buffer_snapshot_rows.go; matches is, per
// row, how many rows of the other side it has joined so far — what tells a
// left outer join whether a left row is still NULL-padded downstream (its
// first match must retract the padding) and nothing else. A row belongs to
// the key group of its join key's hash (the exchange's key columns); rows
// with a NULL key are never kept. Rows are written by join key in the
// keys' byte order and, within a key, in arrival order, so equal state
// gives equal bytes and a restore keeps the order in which a key's rows
// meet new ones.
//
// Not written, because a restore derives it: a row's event time (its time
// column) and expiry (event time + upper for a left row, − lower for a
// right one), the expiry heap, and the join key. Nor the watermark: the
// operator keeps none (the clean-up horizon is the watermark it is given,
// which after a restore is the inputs' again).

const streamJoinSnapshotKind = "stream_join/1"

var _ StateSnapshotter = (*streamJoinOp)(nil)

// SnapshotKeyGroups implements StateSnapshotter.
func (o *streamJoinOp) SnapshotKeyGroups(_ context.Context, _ Barrier) (map[int][]byte, error) {
	if len(o.keys) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(o.keys))
	for k := range o.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	byKG := map[int]*[2][]*joinRow{}
	var kgs []int
	hashes := map[arrow.RecordBatch][]uint64{}
	for _, k := range keys {
		jk := o.keys[k]
		for side, rows := range jk.rows {
			for _, row := range rows {
				kg, err := o.rowKeyGroup(row, hashes)
				if err != nil {
					return nil, err
				}
				g := byKG[kg]
				if g == nil {
					g = &[2][]*joinRow{}
					byKG[kg] = g
					kgs = append(kgs, kg)
				}
				g[side] = append(g[side], row)
			}
		}
	}
	out := make(map[int][]byte, len(byKG))
	for _, kg := range kgs {
		var e snapEncoder
		for side, rows := range byKG[kg] {
			if err := o.encodeSide(&e, side, rows); err != nil {
				return nil, fmt.Errorf("%s: %w", o.name, err)
			}
		}
		out[kg] = sealSnapshot(streamJoinSnapshotKind, kg, e.buf)
	}
	return out, nil
}

// rowKeyGroup returns the key group of a kept row: its join key's hash,
// as the exchange into the operator computed it.
func (o *streamJoinOp) rowKeyGroup(row *joinRow, hashes map[arrow.RecordBatch][]uint64) (int, error) {
	h, ok := hashes[row.rec]
	if !ok {
		h = make([]uint64, row.rec.NumRows())
		if err := columnar.HashColumns(columnsOf(row.rec, o.sides[row.side].keys), h); err != nil {
			return 0, err
		}
		hashes[row.rec] = h
	}
	kg := KeyGroupOf(h[row.r], o.TC.MaxParallelism)
	if !o.TC.KeyGroups.Contains(kg) {
		return 0, fmt.Errorf("%s: state of key group %d found in a subtask of key groups %s", o.name, kg, o.TC.KeyGroups)
	}
	return kg, nil
}

// encodeSide writes one side's rows of a key group.
func (o *streamJoinOp) encodeSide(e *snapEncoder, side int, rows []*joinRow) error {
	e.uvarint(uint64(len(rows)))
	if len(rows) == 0 {
		return nil
	}
	schema := o.sides[side].schema
	sb, err := encodeSchema(schema)
	if err != nil {
		return err
	}
	e.bytes(sb)
	var recs []arrow.RecordBatch
	var idx [][]int32
	for _, row := range rows {
		if n := len(recs); n == 0 || recs[n-1] != row.rec {
			recs = append(recs, row.rec)
			idx = append(idx, nil)
		}
		idx[len(idx)-1] = append(idx[len(idx)-1], int32(row.r))
	}
	if err := encodeRows(e, schema, recs, idx); err != nil {
		return err
	}
	for _, row := range rows {
		e.uvarint(uint64(row.matches))
	}
	return nil
}

// restoredSide is one side's rows of a decoded blob.
type restoredSide struct {
	schema  *arrow.Schema
	rec     arrow.RecordBatch
	matches []int64
}

// RestoreKeyGroup implements StateSnapshotter. It decodes and checks the
// whole blob before changing anything, so a bad blob leaves the operator
// as it was.
func (o *streamJoinOp) RestoreKeyGroup(kg int, blob []byte) error {
	payload, err := openSnapshot(blob, streamJoinSnapshotKind, kg)
	if err != nil {
		return err
	}
	d := &snapDecoder{b: payload}
	var sides [2]restoredSide
	for side := range sides {
		n := d.count(2) // a row costs a byte of its key and one of matches
		if d.err != nil || n == 0 {
			continue
		}
		sb := d.bytes()
		if d.err != nil {
			break
		}
		s, err := decodeSchema(sb)
		if err != nil {
			return err
		}
		rec := decodeRows(d, s)
		if d.err == nil && int(rec.NumRows()) != n {
			d.fail("%d rows, want %d", rec.NumRows(), n)
		}
		matches := make([]int64, 0, n)
		for range n {
			m := d.uvarint()
			if d.err == nil && m > 1<<62 {
				d.fail("%d matches", m)
			}
			matches = append(matches, int64(m))
		}
		sides[side] = restoredSide{schema: s, rec: rec, matches: matches}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	for side, rs := range sides {
		if rs.schema == nil {
			continue
		}
		if cur := o.sides[side].schema; cur != nil && !cur.Equal(rs.schema) {
			return fmt.Errorf("%w: %s: rows of schema %s, the input has %s", ErrIncompatibleSnapshot, o.name, rs.schema, cur)
		}
		if err := o.checkRestored(kg, side, rs); err != nil {
			return err
		}
	}
	for side, rs := range sides {
		if rs.schema == nil {
			continue
		}
		if err := o.resolve(side, rs.schema); err != nil {
			return fmt.Errorf("%w: %w", ErrIncompatibleSnapshot, err)
		}
		o.addRestored(side, rs)
	}
	return nil
}

// checkRestored checks that the rows of one side fit the operator and kg:
// their key columns exist, are not NULL, and hash to kg.
func (o *streamJoinOp) checkRestored(kg, side int, rs restoredSide) error {
	names, tcol := o.spec.leftKeys, o.spec.leftTime
	if side == 1 {
		names, tcol = o.spec.rightKeys, o.spec.rightTime
	}
	keys, err := ColumnIndices(rs.schema, names)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrIncompatibleSnapshot, o.name, err)
	}
	if tcol != "" {
		if _, err := ColumnIndex(rs.schema, tcol); err != nil {
			return fmt.Errorf("%w: %s: time column: %w", ErrIncompatibleSnapshot, o.name, err)
		}
	}
	cols := columnsOf(rs.rec, keys)
	for _, c := range cols {
		if c.NullN() > 0 {
			return fmt.Errorf("%w: %s: a kept row with a NULL join key", ErrCorruptSnapshot, o.name)
		}
	}
	h := make([]uint64, rs.rec.NumRows())
	if err := columnar.HashColumns(cols, h); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrIncompatibleSnapshot, o.name, err)
	}
	for _, x := range h {
		if got := KeyGroupOf(x, o.TC.MaxParallelism); got != kg {
			return fmt.Errorf("%w: %s: a row of key group %d in the blob of key group %d", ErrCorruptSnapshot, o.name, got, kg)
		}
	}
	return nil
}

// addRestored files restored rows of one side under their keys, with
// their expiry, as ProcessBatch would have.
func (o *streamJoinOp) addRestored(side int, rs restoredSide) {
	s := &o.sides[side]
	var ts []int64
	if s.timeIdx >= 0 {
		ts = columnar.Int64Values(rs.rec.Column(s.timeIdx))
	}
	for r := range int(rs.rec.NumRows()) {
		row := &joinRow{rec: rs.rec, r: r, side: side, matches: rs.matches[r], heapI: -1}
		if ts != nil {
			row.ts = ts[r]
		}
		o.keyBuf = appendKey(o.keyBuf[:0], rs.rec, s.keys, s.kinds, r)
		row.key = string(o.keyBuf)
		jk := o.keys[row.key]
		if jk == nil {
			jk = &joinKey{}
			o.keys[row.key] = jk
		}
		jk.rows[side] = append(jk.rows[side], row)
		if o.spec.bounded {
			if side == 0 {
				row.expires = row.ts + o.spec.upper
			} else {
				row.expires = row.ts - o.spec.lower
			}
			heap.Push(&o.expiry, row)
		}
	}
}
