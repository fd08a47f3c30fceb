package equivalence

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
)

// liveSource stands in for an unbounded source (a Kafka topic, a live
// generator): split i delivers the batches parts[i], as a backfill reads
// them, but Next first blocks for pauses[i][j] before batch j, as a reader
// of a quiet partition does. Pauses make splits idle, so windows fire before
// all their rows arrived. The splits end, so that a live job finishes.
type liveSource struct {
	parts  [][]arrow.RecordBatch
	pauses [][]time.Duration
}

var _ dataflow.Source = (*liveSource)(nil)

func (s *liveSource) Schema() *arrow.Schema { return schema }

func (s *liveSource) Splits(context.Context) ([]dataflow.Split, error) {
	out := make([]dataflow.Split, len(s.parts))
	for i := range s.parts {
		out[i] = &liveSplit{s, i}
	}
	return out, nil
}

type liveSplit struct {
	s *liveSource
	i int
}

func (sp *liveSplit) ID() string { return fmt.Sprintf("live/%d", sp.i) }

// Open returns a reader at pos, a batch index.
func (sp *liveSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	return &liveReader{liveSplit: sp, next: int(pos)}, nil
}

type liveReader struct {
	*liveSplit
	next int
}

func (r *liveReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	batches, pauses := r.s.parts[r.i], r.s.pauses[r.i]
	if r.next == len(batches) {
		return nil, dataflow.Position(r.next), io.EOF
	}
	if pauses[r.next] > 0 {
		select {
		case <-ctx.Done():
			return nil, dataflow.Position(r.next), context.Cause(ctx)
		case <-time.After(pauses[r.next]):
		}
	}
	r.next++
	return batches[r.next-1], dataflow.Position(r.next), nil
}

func (r *liveReader) Close() error { return nil }
