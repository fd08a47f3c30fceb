package dataflow

import (
	"context"
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/watermark"
)

// Source is a set of splits that all share one schema. Bounded sources
// (Parquet files, in-memory batches, a generator with a count) have splits
// that end; unbounded ones (Kafka, NATS, a live generator) may not.
// Implementations live in packages bounded and unbounded.
type Source interface {
	// Schema is the schema of every batch the splits return.
	Schema() *arrow.Schema
	// Splits enumerates the splits. Order matters: split i goes to subtask
	// i mod parallelism, and its ID must be stable across runs.
	Splits(ctx context.Context) ([]Split, error)
}

// Position is where a split's reader is: an offset of the split's own kind
// (a record index in a file or generator partition, a Kafka offset, a NATS
// sequence). Reading from Position p resumes right after the records that
// were returned up to p. It is saved in checkpoints.
type Position int64

// Split is one ordered sequence of records.
type Split interface {
	// ID names the split, stably across runs (a file path, "topic/3").
	ID() string
	// Open returns a reader positioned at pos (0 = the start).
	Open(ctx context.Context, pos Position) (SplitReader, error)
}

// SplitReader reads one split in order.
type SplitReader interface {
	// Next returns the next records of the split, in order, and the position
	// after them. It blocks until records are available or ctx is done, and
	// returns io.EOF after the last record of a bounded split. A batch may
	// have zero rows (a generator that skipped other event kinds).
	Next(ctx context.Context) (arrow.RecordBatch, Position, error)
	Close() error
}

// TimeBounded is implemented by split readers that know a lower bound on the
// event time of every record they will still return (a generator knows the
// time of its next event; a time-sorted file knows its next row group's
// minimum). The source then advances the split's watermark to at least that
// bound even while the split returns no records — a split of a kind that is
// rare, or empty, would otherwise hold every window back. It is safe because
// the bound holds for all future records, on time or not, and it changes no
// record's lateness: that still depends only on the split's sequence.
type TimeBounded interface {
	// NextTimeBound returns the bound after the records returned so far, in
	// µs, or watermark.MinTime when there is none.
	NextTimeBound() watermark.Time
}

// SplitState is what a checkpoint saves of one split: the position to resume
// from and the split watermark generator's state.
type SplitState struct {
	Position Position
	Max      watermark.Time
	Done     bool
}

// SourceSpec describes a source node.
type SourceSpec struct {
	Source Source
	// EventTime names the event-time column (a timestamp column; any unit is
	// accepted, UTC microseconds are what weir uses internally). Empty means
	// the stream has no event time: watermarks jump to +inf at the end only.
	EventTime string
	// Watermarks is the strategy: delay, future skew guard, idle timeout.
	Watermarks watermark.Strategy
	// Live enables idleness (the idle timeout) for unbounded runs. Backfills
	// never use it.
	Live bool
	// Parallelism of the source node (0 = graph default).
	Parallelism int
	// MaxOpenSplits bounds how many splits one subtask reads at once
	// (default: all of an unbounded source's, 4 of a bounded one's). Splits
	// not yet opened hold the watermark back, as they must.
	MaxOpenSplits int
	// Start resumes splits by ID from saved states (a checkpoint).
	Start map[string]SplitState
	// From and To, when not zero (zero means open), keep only records with
	// From ≤ event time < To. The
	// range applies to each split's sequence before lateness is decided, so
	// the records outside it influence nothing: a backfill of [from, to) is
	// the run over exactly those records, whatever the source could skip.
	From, To watermark.Time
}

// hasRange reports whether the spec restricts event times.
func (s *SourceSpec) hasRange() bool { return s.From != 0 || s.To != 0 }

var errSplitDone = io.EOF

// isEOF reports whether err ends a split.
func isEOF(err error) bool { return errors.Is(err, errSplitDone) }
