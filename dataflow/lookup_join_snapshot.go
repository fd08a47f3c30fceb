package dataflow

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
)

// Snapshots of the lookup join. Payload of one key group:
//
//	payload = ready:bool left:bytes right:bytes  the inputs' schemas
//	          ntable:uvarint [rows]              the table, when ntable > 0
//	          npending:uvarint pending*          stream batches that wait
//	pending = rows ops:bytes                     one byte per row: 0 insert, 1 retract
//
// schemas and rows are as in snapshot_codec.go and
// window_buffer_snapshot_rows.go. Table rows are written by key in the
// keys' byte order and, within a key, in arrival order.
//
// The operator is not keyed: its stream input is forwarded and its table
// broadcast, so every subtask holds the same table at a barrier (barriers
// are aligned) and its own waiting stream rows. Each subtask writes one
// blob, under the first key group of its range (stateKeyGroup): the table
// and its waiting rows. A restore at another parallelism gives a subtask
// the key groups of its new range, which may hold no former subtask's blob
// at all, yet it needs the whole table: restoreLink also hands it the
// blobs of key groups it does not own (RestoreSharedKeyGroup), and it
// takes the table from the first blob it gets, owned or not (they all hold
// the same rows), and the waiting rows of the owned ones only, so each is
// probed exactly once. Re-reading the table on restore was the rejected
// alternative: the checkpoint records the table's splits as read, and
// rewinding a bounded input behind the sources' backs would break the
// exactly-once accounting of every other split. (Checkpoints of an earlier
// version wrote the table into every key group; they restore the same.)
//
// ready (the table was complete) is an OR over the blobs: a former
// subtask that was not ready yet would have probed its waiting rows
// against the same table. Waiting rows restored into a ready operator are
// probed before anything else (drainRestored).

const lookupJoinSnapshotKind = "lookup_join/1"

var (
	_ StateSnapshotter    = (*lookupJoinOp)(nil)
	_ sharedStateRestorer = (*lookupJoinOp)(nil)
)

// SnapshotKeyGroups implements StateSnapshotter.
func (o *lookupJoinOp) SnapshotKeyGroups(ctx context.Context, _ Barrier) (map[int][]byte, error) {
	if err := o.drainRestored(ctx); err != nil {
		return nil, err
	}
	if len(o.table) == 0 && len(o.pending) == 0 && !o.ready {
		return nil, nil
	}
	var head snapEncoder
	head.bool(o.ready)
	for _, s := range o.sides {
		sb, err := encodeSchema(s.schema)
		if err != nil {
			return nil, fmt.Errorf("lookup join: %w", err)
		}
		head.bytes(sb)
	}
	if err := o.encodeTable(&head); err != nil {
		return nil, err
	}
	kg := stateKeyGroup(o.TC)
	e := head
	e.uvarint(uint64(len(o.pending)))
	for _, b := range o.pending {
		if err := encodeRows(&e, o.sides[0].schema, []arrow.RecordBatch{b.Rec}, [][]int32{nil}); err != nil {
			return nil, fmt.Errorf("lookup join: %w", err)
		}
		ops := make([]byte, b.Len())
		for r := range ops {
			ops[r] = byte(b.Op(r))
		}
		e.bytes(ops)
	}
	return map[int][]byte{kg: sealSnapshot(lookupJoinSnapshotKind, kg, e.buf)}, nil
}

// encodeTable writes the table's rows.
func (o *lookupJoinOp) encodeTable(e *snapEncoder) error {
	keys := make([]string, 0, len(o.table))
	n := 0
	for k, rows := range o.table {
		keys = append(keys, k)
		n += len(rows)
	}
	e.uvarint(uint64(n))
	if n == 0 {
		return nil
	}
	slices.Sort(keys)
	var recs []arrow.RecordBatch
	var idx [][]int32
	for _, k := range keys {
		for _, row := range o.table[k] {
			if m := len(recs); m == 0 || recs[m-1] != row.rec {
				recs = append(recs, row.rec)
				idx = append(idx, nil)
			}
			idx[len(idx)-1] = append(idx[len(idx)-1], int32(row.r))
		}
	}
	if err := encodeRows(e, o.sides[1].schema, recs, idx); err != nil {
		return fmt.Errorf("lookup join: %w", err)
	}
	return nil
}

// RestoreKeyGroup implements StateSnapshotter. It decodes and checks the
// whole blob before changing anything.
func (o *lookupJoinOp) RestoreKeyGroup(kg int, blob []byte) error {
	return o.restore(kg, blob, true)
}

// RestoreSharedKeyGroup implements sharedStateRestorer: the blob of a key
// group another subtask owns now gives its table, not its waiting rows.
func (o *lookupJoinOp) RestoreSharedKeyGroup(kg int, blob []byte) error {
	return o.restore(kg, blob, false)
}

func (o *lookupJoinOp) restore(kg int, blob []byte, owned bool) error {
	payload, err := openSnapshot(blob, lookupJoinSnapshotKind, kg)
	if err != nil {
		return err
	}
	d := &snapDecoder{b: payload}
	ready := d.bool()
	for side, s := range o.sides {
		sb := d.bytes()
		if d.err != nil {
			return d.err
		}
		got, err := decodeSchema(sb)
		if err != nil {
			return err
		}
		if !got.Equal(s.schema) {
			return fmt.Errorf("%w: lookup join: input %d had schema %s, now %s", ErrIncompatibleSnapshot, side, got, s.schema)
		}
	}
	var table arrow.RecordBatch
	if n := d.count(1); n > 0 {
		table = decodeRows(d, o.sides[1].schema)
		if d.err == nil && int(table.NumRows()) != n {
			d.fail("%d table rows, want %d", table.NumRows(), n)
		}
	}
	np := d.count(2)
	pending := make([]Batch, 0, np)
	for range np {
		rec := decodeRows(d, o.sides[0].schema)
		ops := d.bytes()
		if d.err != nil {
			break
		}
		if int(rec.NumRows()) != len(ops) || len(ops) == 0 {
			d.fail("%d ops for %d rows", len(ops), rec.NumRows())
			break
		}
		b := Batch{Rec: rec, Ops: make([]Op, len(ops))}
		for r, op := range ops {
			if op > byte(Retract) {
				d.fail("op %d", op)
			}
			b.Ops[r] = Op(op)
		}
		pending = append(pending, b)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	if table != nil {
		for _, c := range columnsOf(table, o.sides[1].keys) {
			if c.NullN() > 0 {
				return fmt.Errorf("%w: lookup join: a table row with a NULL key", ErrCorruptSnapshot)
			}
		}
	}
	if !o.tableRestored {
		o.tableRestored = true
		if table != nil {
			for r := range int(table.NumRows()) {
				k, _ := o.key(1, table, r)
				o.table[k] = append(o.table[k], &joinRow{rec: table, r: r, side: 1})
			}
		}
	}
	o.ready = o.ready || ready
	if owned {
		o.pending = append(o.pending, pending...)
	}
	return nil
}

// drainRestored probes the waiting rows a restore gave an operator whose
// table was complete. It runs before the first batch, watermark or
// snapshot after a restore.
func (o *lookupJoinOp) drainRestored(ctx context.Context) error {
	if !o.ready || len(o.pending) == 0 {
		return nil
	}
	pending := o.pending
	o.pending = nil
	for _, b := range pending {
		if err := o.probe(ctx, b); err != nil {
			return err
		}
	}
	return nil
}
