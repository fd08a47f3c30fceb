package query

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/unbounded/nexmark"
	"github.com/weirdata/weir/watermark"
)

// A live feed's splits may do more than dataflow.Split asks; the live side
// of a run uses these when they are there.
type (
	// timeSeeker is a split whose event times never decrease with its
	// position and are known without reading (a generator), so a run can
	// start where the wall clock or its from is, and check that a history
	// describes the same events.
	timeSeeker interface {
		// PositionAt returns the first position whose event time is at or
		// after t.
		PositionAt(t time.Time) dataflow.Position
		// TimeAt returns the event time of the record at position p.
		TimeAt(p dataflow.Position) time.Time
	}
	// rowPositioner is a split reader that can tell each returned row's own
	// position, so that a live run can fill a history's lineage columns.
	rowPositioner interface {
		// RowPositions returns the positions of the rows of the batch the
		// last Next returned, in order, appended to dst.
		RowPositions(dst []int64) []int64
	}
)

// nexmarkFeed is the live nexmark:// source of a run. Its splits are those
// of nexmark.Source (same IDs, same positions), with three additions:
//
//   - A split opened at position 0 starts at the event whose time is the
//     run's start — its from, else the wall clock now — not at event 0: a
//     feed whose base time lies in the past is live from now, not a replay
//     of everything since its base. Any other position is where it says.
//   - Reading catches up in large batches while the events are in the
//     past (a paced reader would release them at once anyway, but in
//     batches sized for 10 ms of the rate), and is paced once it reaches
//     the wall clock. The events are the same either way: the generator is
//     a pure function of the position.
//   - It knows each row's position and each position's event time, for
//     the lineage columns and for checking a history against it.
type nexmarkFeed struct {
	paced, fast *nexmark.Source
	cfg         nexmark.Config // with defaults
	start       time.Time      // where position 0 starts
}

// catchUpEvents is the batch, in positions, of a feed behind the clock.
const catchUpEvents = 4096

func newNexmarkFeed(cfg nexmark.Config, kind nexmark.Kind, partitions int, start time.Time) *nexmarkFeed {
	cfg = cfg.WithDefaults()
	return &nexmarkFeed{
		paced: &nexmark.Source{Config: cfg, Kind: kind, Partitions: partitions, Paced: true},
		fast:  &nexmark.Source{Config: cfg, Kind: kind, Partitions: partitions, BatchEvents: catchUpEvents},
		cfg:   cfg,
		start: start,
	}
}

var _ dataflow.Source = (*nexmarkFeed)(nil)

func (f *nexmarkFeed) Schema() *arrow.Schema { return f.paced.Schema() }

func (f *nexmarkFeed) Splits(ctx context.Context) ([]dataflow.Split, error) {
	paced, err := f.paced.Splits(ctx)
	if err != nil {
		return nil, err
	}
	fast, err := f.fast.Splits(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]dataflow.Split, len(paced))
	for p := range paced {
		out[p] = &feedSplit{
			feed: f, paced: paced[p], fast: fast[p],
			gen: nexmark.NewGenerator(f.cfg, f.paced.Kind, p, f.paced.Partitions),
		}
	}
	return out, nil
}

type feedSplit struct {
	feed        *nexmarkFeed
	paced, fast dataflow.Split
	gen         *nexmark.Generator
}

var (
	_ timeSeeker           = (*feedSplit)(nil)
	_ rowPositioner        = (*feedReader)(nil)
	_ dataflow.TimeBounded = (*feedReader)(nil)
	_ dataflow.Split       = (*feedSplit)(nil)
)

func (s *feedSplit) ID() string { return s.paced.ID() }

// PositionAt implements timeSeeker by bisection: event times never
// decrease with the position.
func (s *feedSplit) PositionAt(t time.Time) dataflow.Position {
	us := t.UnixMicro()
	lo, hi := int64(0), int64(1)
	end := s.gen.Positions() // -1: unbounded
	for s.gen.EventTime(hi) < us && (end < 0 || hi < end) {
		lo, hi = hi, hi*2
	}
	if end >= 0 && hi > end {
		hi = end
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if s.gen.EventTime(mid) < us {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return dataflow.Position(lo)
}

func (s *feedSplit) TimeAt(p dataflow.Position) time.Time {
	return time.UnixMicro(s.gen.EventTime(int64(p))).UTC()
}

func (s *feedSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	if pos < 0 {
		return nil, fmt.Errorf("split %s: negative position %d", s.ID(), pos)
	}
	if pos == 0 && !s.feed.start.IsZero() {
		pos = s.PositionAt(s.feed.start)
	}
	return &feedReader{s: s, pos: int64(pos), prev: int64(pos)}, nil
}

// feedReader reads a feedSplit with the fast (unpaced) reader while a
// whole catch-up batch lies in the past, with the paced one otherwise.
type feedReader struct {
	s         *feedSplit
	inner     dataflow.SplitReader
	fast      bool // inner is the unpaced reader
	pos, prev int64
}

// behind reports whether the next catch-up batch is entirely in the past.
func (r *feedReader) behind() bool {
	return r.s.gen.EventTime(r.pos+catchUpEvents-1) <= time.Now().UnixMicro()
}

func (r *feedReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if fast := r.behind(); r.inner == nil || fast != r.fast {
		if r.inner != nil {
			_ = r.inner.Close() // a generator's reader holds nothing
		}
		sp := r.s.paced
		if fast {
			sp = r.s.fast
		}
		rd, err := sp.Open(ctx, dataflow.Position(r.pos))
		if err != nil {
			return nil, dataflow.Position(r.pos), err
		}
		r.inner, r.fast = rd, fast
	}
	rec, next, err := r.inner.Next(ctx)
	if err != nil {
		return nil, dataflow.Position(r.pos), err
	}
	r.prev, r.pos = r.pos, int64(next)
	return rec, next, nil
}

// NextTimeBound implements dataflow.TimeBounded: the event time of the
// next position bounds every later event.
func (r *feedReader) NextTimeBound() watermark.Time {
	if tb, ok := r.inner.(dataflow.TimeBounded); ok {
		return tb.NextTimeBound()
	}
	return watermark.MinTime
}

// RowPositions implements rowPositioner: the positions in the last batch's
// range whose event is of the feed's kind.
func (r *feedReader) RowPositions(dst []int64) []int64 {
	kind := r.s.gen.Kind()
	for q := r.prev; q < r.pos; q++ {
		if nexmark.KindOf(r.s.gen.EventNumber(q)) == kind {
			dst = append(dst, q)
		}
	}
	return dst
}

func (r *feedReader) Close() error {
	if r.inner != nil {
		return r.inner.Close()
	}
	return nil
}

// liveColumns maps a live feed's batches onto a table's columns, by name:
// the table's schema comes from its history, which may have columns the
// feed computes rather than carries — the lineage columns _split (the
// split's ID) and _position (each row's position, from the reader).
type liveColumns struct {
	out       *arrow.Schema
	src       []int // per output column: the feed's column, or lineageSplit / lineagePosition
	positions bool  // some column needs the rows' positions
	identity  bool  // the feed's batches are already of schema out
}

const (
	lineageSplit    = -1
	lineagePosition = -2
)

// newLiveColumns checks that the live feed (named in messages) can give
// every column of out, with the same type.
func newLiveColumns(out, live *arrow.Schema, feed string) (*liveColumns, error) {
	lc := &liveColumns{out: out, src: make([]int, out.NumFields()), identity: out.Equal(live)}
	for i, f := range out.Fields() {
		switch f.Name {
		case parquet.SplitColumn:
			if f.Type.ID() == arrow.STRING {
				lc.src[i] = lineageSplit
				continue
			}
		case parquet.PositionColumn:
			if f.Type.ID() == arrow.INT64 {
				lc.src[i] = lineagePosition
				lc.positions = true
				continue
			}
		}
		is := live.FieldIndices(f.Name)
		if len(is) != 1 {
			return nil, fmt.Errorf("column %q of the table's history is not in its live feed %s (which has %s)", f.Name, feed, fieldNames(live))
		}
		if got := live.Field(is[0]).Type; !arrow.TypeEqual(got, f.Type) {
			return nil, fmt.Errorf("column %q is %s in the table's history but %s in its live feed %s", f.Name, f.Type, got, feed)
		}
		lc.src[i] = is[0]
	}
	return lc, nil
}

// checkSplits fails when the output needs row positions that the live
// feed's readers cannot tell (known only once a split is opened; the
// feeds that can are listed here).
func (lc *liveColumns) checkSplits(splits []dataflow.Split, feed string) error {
	if !lc.positions {
		return nil
	}
	for _, sp := range splits {
		if _, ok := sp.(*feedSplit); !ok {
			return fmt.Errorf("its live feed %s cannot tell each row's position, so it cannot fill the history's lineage column %s: leave %s out of the query",
				feed, parquet.PositionColumn, parquet.PositionColumn)
		}
	}
	return nil
}

// adapt turns a batch the reader rd of split id just returned into one of
// schema out.
func (lc *liveColumns) adapt(rec arrow.RecordBatch, id string, rd dataflow.SplitReader, scratch *[]int64) (arrow.RecordBatch, error) {
	if lc.identity {
		return rec, nil
	}
	n := int(rec.NumRows())
	var pos []int64
	if lc.positions {
		rp, ok := rd.(rowPositioner)
		if !ok {
			return nil, fmt.Errorf("split %s: its reader cannot tell row positions", id)
		}
		pos = rp.RowPositions((*scratch)[:0])
		*scratch = pos
		if len(pos) != n {
			return nil, fmt.Errorf("split %s: %d rows for %d positions", id, n, len(pos))
		}
	}
	cols := make([]arrow.Array, len(lc.src))
	for i, s := range lc.src {
		switch s {
		case lineageSplit:
			cols[i] = constStrings(id, n)
		case lineagePosition:
			cols[i] = columnar.Int64s(append([]int64(nil), pos...))
		default:
			cols[i] = rec.Column(s)
		}
	}
	return array.NewRecordBatch(lc.out, cols, int64(n)), nil
}

// constStrings is a string column of n copies of s.
func constStrings(s string, n int) arrow.Array {
	data := []byte(strings.Repeat(s, n))
	offsets := make([]int32, n+1)
	for i := range offsets {
		offsets[i] = int32(i * len(s))
	}
	return columnar.Strings(data, offsets)
}
