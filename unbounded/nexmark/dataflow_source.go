package nexmark

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/watermark"
)

// Source is a Nexmark stream of one kind of event as a dataflow source: one
// split per generator partition, positions counting the partition's events
// of every kind. Bounded (Config.Events > 0, not paced) it produces its
// events as fast as the pipeline takes them — a backfill; paced, it releases
// each event when the wall clock reaches its event time — a live feed.
type Source struct {
	Config     Config
	Kind       Kind
	Partitions int
	// BatchEvents is how many event numbers one batch spans per partition
	// (default 4096 unpaced; paced, what the rate produces in 10 ms).
	BatchEvents int
	// Paced releases events at the wall-clock time equal to their event time.
	// Config.BaseTime then usually is the time the feed starts.
	Paced bool
}

var (
	_ dataflow.Source      = (*Source)(nil)
	_ dataflow.TimeBounded = (*reader)(nil)
)

// Schema implements dataflow.Source.
func (s *Source) Schema() *arrow.Schema { return Schema(s.Kind) }

// Splits implements dataflow.Source.
func (s *Source) Splits(context.Context) ([]dataflow.Split, error) {
	if s.Partitions < 1 {
		return nil, fmt.Errorf("nexmark: %d partitions", s.Partitions)
	}
	cfg := s.Config.WithDefaults()
	batch := s.BatchEvents
	if batch <= 0 {
		batch = 4096
		if s.Paced {
			batch = max(1, int(cfg.Rate/100/int64(s.Partitions)))
		}
	}
	splits := make([]dataflow.Split, s.Partitions)
	for p := range splits {
		splits[p] = &split{src: s, cfg: cfg, partition: p, batch: batch}
	}
	return splits, nil
}

type split struct {
	src       *Source
	cfg       Config
	partition int
	batch     int
}

func (s *split) ID() string {
	return fmt.Sprintf("nexmark/%s/seed=%d/%d-of-%d", s.src.Kind, s.cfg.Seed, s.partition, s.src.Partitions)
}

func (s *split) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	if pos < 0 {
		return nil, fmt.Errorf("split %s: negative position %d", s.ID(), pos)
	}
	return &reader{s: s, gen: NewGenerator(s.cfg, s.src.Kind, s.partition, s.src.Partitions), pos: int64(pos)}, nil
}

type reader struct {
	s    *split
	gen  *Generator
	pos  int64
	done bool
}

func (r *reader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if r.done {
		return nil, dataflow.Position(r.pos), io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if r.s.src.Paced {
		// Release the batch once the wall clock reaches the event time of its
		// last event.
		last := r.gen.EventTime(r.pos + int64(r.s.batch) - 1)
		if wait := time.Until(time.UnixMicro(last)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, 0, ctx.Err()
			case <-t.C:
			}
		}
	}
	rec, next, done := r.gen.Next(r.pos, r.s.batch)
	r.pos, r.done = next, done
	return rec, dataflow.Position(next), nil
}

// NextTimeBound implements dataflow.TimeBounded: event times never decrease
// with position, so every later event of the partition is at or after the
// time of its next position. This lets a split that holds no events of its
// kind (persons are every 50th event) advance the watermark all the same.
func (r *reader) NextTimeBound() watermark.Time {
	if r.done {
		return watermark.MaxTime
	}
	return watermark.Time(r.gen.EventTime(r.pos))
}

func (r *reader) Close() error { return nil }
