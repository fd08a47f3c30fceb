// Package bounded holds weir's bounded sources: history that ends (Parquet
// files on S3 or local disk, in-memory batches for tests and small tables).
package bounded

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
)

// Memory is a bounded source of in-memory batches: Parts[i] is split i, read
// batch by batch in order. Positions count batches.
type Memory struct {
	Sch   *arrow.Schema
	Parts [][]arrow.RecordBatch
}

var _ dataflow.Source = (*Memory)(nil)

// Schema implements dataflow.Source.
func (m *Memory) Schema() *arrow.Schema { return m.Sch }

// Splits implements dataflow.Source.
func (m *Memory) Splits(context.Context) ([]dataflow.Split, error) {
	out := make([]dataflow.Split, len(m.Parts))
	for i, batches := range m.Parts {
		out[i] = &memorySplit{id: fmt.Sprintf("memory/%d", i), batches: batches}
	}
	return out, nil
}

type memorySplit struct {
	id      string
	batches []arrow.RecordBatch
}

func (s *memorySplit) ID() string { return s.id }

func (s *memorySplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	if pos < 0 || int(pos) > len(s.batches) {
		return nil, fmt.Errorf("split %s: position %d outside [0, %d]", s.id, pos, len(s.batches))
	}
	return &memoryReader{s: s, next: int(pos)}, nil
}

type memoryReader struct {
	s    *memorySplit
	next int
}

func (r *memoryReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if r.next >= len(r.s.batches) {
		return nil, dataflow.Position(r.next), io.EOF
	}
	b := r.s.batches[r.next]
	r.next++
	return b, dataflow.Position(r.next), nil
}

func (r *memoryReader) Close() error { return nil }
