package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// opColumn is the changelog column appended to Arrow frames: int8, 1 for
// an insertion, −1 for a retraction.
const opColumn = "__op"

// arrowRows is a rows message for a client that asked for "format":"arrow":
// references to the result rows (in the engine's own record batches) and
// their ops, encoded only when the writer sends them.
type arrowRows struct {
	schema *arrow.Schema
	refs   []rowRef
	ops    []int8
}

// arrowFrame encodes a binary websocket frame (docs/api.md):
//
//	uint32 little-endian N | N bytes of JSON header | Arrow IPC stream
//
// The header is {"type":"rows","id":…,"stmt":…}. The IPC stream holds the
// schema (the result's columns, then __op int8) and one record batch per
// run of consecutive rows that come from the same engine batch: rows are
// gathered from the engine's batches, never converted through JSON, so
// every value keeps its Arrow type.
func arrowFrame(m serverMessage) ([]byte, error) {
	a := m.arrow
	hdr, err := json.Marshal(struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Stmt *int   `json:"stmt,omitempty"`
	}{m.Type, m.ID, m.Stmt})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	buf.Write(hdr)
	fields := append(append([]arrow.Field(nil), a.schema.Fields()...), arrow.Field{Name: opColumn, Type: arrow.PrimitiveTypes.Int8})
	md := a.schema.Metadata()
	schema := arrow.NewSchema(fields, &md)
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	for start := 0; start < len(a.refs); {
		end := start + 1
		for end < len(a.refs) && a.refs[end].rec == a.refs[start].rec {
			end++
		}
		rec, err := gather(schema, a.refs[start:end], a.ops[start:end])
		if err != nil {
			return nil, err
		}
		if err := w.Write(rec); err != nil {
			return nil, fmt.Errorf("arrow frame: %w", err)
		}
		start = end
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("arrow frame: %w", err)
	}
	return buf.Bytes(), nil
}

// gather takes rows of one engine batch (with repeats) and appends __op.
func gather(schema *arrow.Schema, refs []rowRef, ops []int8) (arrow.RecordBatch, error) {
	idx := make([]int32, len(refs))
	for i, r := range refs {
		idx[i] = int32(r.idx)
	}
	rec := refs[0].rec
	cols := make([]arrow.Array, 0, rec.NumCols()+1)
	for c := 0; c < int(rec.NumCols()); c++ {
		col, err := columnar.Take(rec.Column(c), idx)
		if err != nil {
			return nil, fmt.Errorf("arrow frame: column %q: %w", rec.ColumnName(c), err)
		}
		cols = append(cols, col)
	}
	b := array.NewInt8Builder(memory.DefaultAllocator)
	b.AppendValues(ops, nil)
	cols = append(cols, b.NewArray())
	return array.NewRecordBatch(schema, cols, int64(len(refs))), nil
}
