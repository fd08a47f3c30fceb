package query

// History then live (DESIGN §3): a live run of a table with a history and a
// live feed, given a from, reads the history from `from` up to where it
// ends and then the live feed from the exact next position of each split —
// no gap, no duplicate.
//
// It rests on lineage. History written by weir (weir gen) keeps, for every
// row, the ID of the live split it belongs to (_split) and its position in
// that split (_position). So the spliced source has the live feed's splits,
// with the live feed's IDs; split S first returns S's history rows in
// position order, then opens S's live reader at the position after S's
// last history row. To the watermark generator and the lateness decision,
// which run per split (DESIGN §4), history-then-live is one continuous
// split sequence — the same sequence a backfill over a longer history
// reads, so the results are the same.
//
// Positions are the live feed's: after a history row at position p the
// split is at p+1, in the history or not, so a checkpoint saves one int64
// per split before and after the switch alike. Opening a split at p reads
// the history from p when the history reaches p, else the feed at p.
//
// The rules, decided up front from the files' footers (parquet.Ranges), so
// that a bad combination fails when the query is compiled, not mid-run:
//
//   - The history must have the lineage columns; without them where each
//     split's history ends is unknown, and guessing from event times would
//     duplicate or lose the records that share the last timestamp. Such a
//     table is refused for a live run with a from (a run without one, live
//     only, or a backfill still works). The rejected alternative, a switch
//     at the history's last event time, is exact only for feeds whose
//     timestamps are unique per split.
//   - Each history file holds the rows of one split (as weir gen writes),
//     and a split's files do not overlap in positions.
//   - Every split of the history is a split of the live feed (same IDs:
//     the same generator seed and partition count). A live split with no
//     history rows starts at the position of from (or 0).
//   - When the feed can tell each position's event time (a generator), the
//     last history row of every split must have the time the feed gives its
//     position: otherwise history and feed were made with another base
//     time or rate, and would not describe the same events.
//
// With no from, a live run of such a table reads the live feed only, but
// still returns the table's columns, the lineage ones included (the feed
// computes them), so that the same query runs in both modes.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// ErrNoLineage is returned for a live run with a from over a table whose
// history lacks the lineage columns.
var ErrNoLineage = errors.New("history has no lineage")

// hybridSource is the source of a live run of a table that has a history
// and a live feed: history then live with a from, the live feed alone
// without (hist nil). Its splits are the live feed's. With no live feed
// (cols nil) it is a history alone, replayed as the live splits it was
// written from (hybrid_replay.go).
type hybridSource struct {
	schema *arrow.Schema
	live   []dataflow.Split
	cols   *liveColumns // nil: no live feed
	hist   *history
	from   time.Time
}

var (
	_ dataflow.Source      = (*hybridSource)(nil)
	_ dataflow.TimeBounded = (*hybridReader)(nil)
)

// openLive opens a live run of t, which has both a history and a live
// feed.
func (e *Engine) openLive(ctx context.Context, t *TableDef, req SourceRequest) (dataflow.Source, bool, error) {
	lp, lu, err := e.Providers.lookup(t.Live)
	if err != nil {
		return nil, false, err
	}
	live, bounded, err := lp.Open(ctx, lu, req)
	if err != nil {
		return nil, false, err
	}
	table, err := e.tableSchema(ctx, t)
	if err != nil {
		return nil, false, err
	}
	out, err := projectColumns(table, req.Columns, req.EventTime)
	if err != nil {
		return nil, false, err
	}
	cols, err := newLiveColumns(out, live.Schema(), t.Live)
	if err != nil {
		return nil, false, err
	}
	if req.From.IsZero() && cols.identity {
		return live, bounded, nil
	}
	splits, err := live.Splits(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := cols.checkSplits(splits, t.Live); err != nil {
		return nil, false, err
	}
	h := &hybridSource{schema: out, live: splits, cols: cols, from: req.From}
	if !req.From.IsZero() {
		if h.hist, err = e.openHistory(ctx, t, req, out, splits); err != nil {
			return nil, false, err
		}
	}
	return h, bounded, nil
}

// projectColumns is the schema a scan of cols (nil = all) returns: like
// the Parquet source, with the event-time column appended when cols leaves
// it out.
func projectColumns(table *arrow.Schema, cols []string, eventTime string) (*arrow.Schema, error) {
	if cols == nil {
		return table, nil
	}
	if eventTime != "" && !slices.Contains(cols, eventTime) {
		cols = append(cols[:len(cols):len(cols)], eventTime)
	}
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		is := table.FieldIndices(c)
		if len(is) != 1 {
			return nil, fmt.Errorf("no column %q (columns: %s)", c, fieldNames(table))
		}
		fields[i] = table.Field(is[0])
	}
	return arrow.NewSchema(fields, nil), nil
}

func (h *hybridSource) Schema() *arrow.Schema { return h.schema }

// Progress returns the history's Parquet counters (nil without a history),
// for the run's progress.
func (h *hybridSource) Progress() *parquet.Progress {
	if h.hist == nil || h.hist.src == nil {
		return nil
	}
	return h.hist.src.Progress()
}

func (h *hybridSource) Splits(context.Context) ([]dataflow.Split, error) {
	if h.cols == nil {
		ids := sortedKeys(h.hist.bySplit)
		out := make([]dataflow.Split, len(ids))
		for i, id := range ids {
			out[i] = &hybridSplit{h: h, id: id, hist: h.hist.bySplit[id]}
		}
		return out, nil
	}
	out := make([]dataflow.Split, len(h.live))
	for i, l := range h.live {
		sp := &hybridSplit{h: h, id: l.ID(), live: l}
		if h.hist != nil {
			sp.hist = h.hist.bySplit[l.ID()]
		}
		out[i] = sp
	}
	return out, nil
}

// history is the history side of a hybridSource.
type history struct {
	url string
	// files are the splits of src, one per file, by file name; a file the
	// from filter pruned is absent.
	src   *parquet.Source
	files map[string]dataflow.Split
	// keep maps the output columns to src's; splitCol and posCol are the
	// lineage columns in src.
	keep     []int
	splitCol int
	posCol   int
	bySplit  map[string]*splitHistory
}

// splitHistory is one split's part of the history.
type splitHistory struct {
	files []historyFile // in position order
	last  int64         // the position of its last row
	// lastTime is the largest event time of the file with the last row,
	// when the statistics tell it (zero otherwise).
	lastTime time.Time
}

type historyFile struct {
	name        string
	first, last int64 // positions of its first and last rows
}

// openHistory checks t's history against the rules in the file comment and
// opens it for reading from req.From on.
func (e *Engine) openHistory(ctx context.Context, t *TableDef, req SourceRequest, out *arrow.Schema, live []dataflow.Split) (*history, error) {
	hp, hu, err := e.Providers.lookup(t.History)
	if err != nil {
		return nil, err
	}
	pp, ok := hp.(parquetProvider)
	noLineage := fmt.Errorf("%w: a live run from %s continues each split of the live feed %s where its history %s ends, "+
		"which needs the columns %s and %s that weir gen writes (run live without a from, or a backfill)",
		ErrNoLineage, req.From.Format(time.RFC3339Nano), t.Live, t.History, parquet.SplitColumn, parquet.PositionColumn)
	if !ok {
		return nil, noLineage
	}
	table, err := e.tableSchema(ctx, t)
	if err != nil {
		return nil, err
	}
	for name, id := range map[string]arrow.Type{parquet.SplitColumn: arrow.STRING, parquet.PositionColumn: arrow.INT64} {
		if is := table.FieldIndices(name); len(is) != 1 || table.Field(is[0]).Type.ID() != id {
			return nil, noLineage
		}
	}

	// What the footers say about the whole history, before any filter.
	mo := pp.options(nil)
	mo.Columns = []string{parquet.SplitColumn, parquet.PositionColumn}
	meta, err := parquet.Open(ctx, hu.String(), mo)
	if err != nil {
		return nil, err
	}
	bySplit, err := lineageOf(meta, t.EventTime)
	if err != nil {
		return nil, err
	}
	liveByID := map[string]dataflow.Split{}
	var liveIDs []string
	for _, l := range live {
		liveByID[l.ID()] = l
		liveIDs = append(liveIDs, l.ID())
	}
	for _, id := range sortedKeys(bySplit) {
		sh := bySplit[id]
		l, ok := liveByID[id]
		if !ok {
			return nil, fmt.Errorf("its history %s has split %s, which its live feed %s does not have (it has %s): "+
				"history and live feed must be partitioned alike (same seed and partition count)", t.History, id, t.Live, strings.Join(liveIDs, ", "))
		}
		ts, ok := l.(timeSeeker)
		if ok && !sh.lastTime.IsZero() {
			if want := ts.TimeAt(dataflow.Position(sh.last)); !want.Equal(sh.lastTime) {
				return nil, fmt.Errorf("split %s: the history's last row (position %d) is at %s, but the live feed %s puts that position at %s: "+
					"history and live feed must describe the same events (generate the history with the feed's base time and rate)",
					id, sh.last, sh.lastTime.Format(time.RFC3339Nano), t.Live, want.Format(time.RFC3339Nano))
			}
		}
	}

	// The rows to read: from req.From on, the output columns and lineage.
	src, err := parquet.Open(ctx, hu.String(), historyOptions(pp, &req, out))
	if err != nil {
		return nil, err
	}
	h, err := newHistory(ctx, t.History, src, out)
	if err != nil {
		return nil, err
	}
	h.bySplit = bySplit
	return h, nil
}

// historyOptions are the options that read req's rows of a history: the
// columns of out, then the lineage columns when out leaves them out.
func historyOptions(pp parquetProvider, req *SourceRequest, out *arrow.Schema) parquet.Options {
	o := pp.options(req)
	names := make([]string, 0, out.NumFields()+2)
	for _, f := range out.Fields() {
		names = append(names, f.Name)
	}
	for _, c := range []string{parquet.SplitColumn, parquet.PositionColumn} {
		if !slices.Contains(names, c) {
			names = append(names, c)
		}
	}
	o.Columns = names
	return o
}

// newHistory reads a history's rows from src, which returns the columns of
// out first and the lineage columns among its columns (historyOptions).
// bySplit is the caller's.
func newHistory(ctx context.Context, url string, src *parquet.Source, out *arrow.Schema) (*history, error) {
	h := &history{url: url, src: src}
	rs := src.Schema()
	h.keep = make([]int, out.NumFields())
	for i, f := range out.Fields() {
		h.keep[i] = i // the output columns come first
		if got := rs.Field(i).Type; !arrow.TypeEqual(got, f.Type) {
			return nil, fmt.Errorf("column %q of the history is %s when read, not %s", f.Name, got, f.Type)
		}
	}
	h.splitCol = fieldIndex(rs, parquet.SplitColumn)
	h.posCol = fieldIndex(rs, parquet.PositionColumn)
	if h.splitCol < 0 || rs.Field(h.splitCol).Type.ID() != arrow.STRING || h.posCol < 0 || rs.Field(h.posCol).Type.ID() != arrow.INT64 {
		return nil, fmt.Errorf("%w: %s must be a string column and %s an int64 one", ErrNoLineage, parquet.SplitColumn, parquet.PositionColumn)
	}
	splits, err := src.Splits(ctx)
	if err != nil {
		return nil, err
	}
	h.files = make(map[string]dataflow.Split, len(splits))
	for _, s := range splits {
		h.files[s.ID()] = s
	}
	return h, nil
}

// fieldIndex is the index of the one field of s named name, or −1.
func fieldIndex(s *arrow.Schema, name string) int {
	if is := s.FieldIndices(name); len(is) == 1 {
		return is[0]
	}
	return -1
}

// lineageOf groups the files src reads by the lineage split whose rows
// they hold, in position order, from the footers' statistics alone. It
// fails when a file's statistics do not tell its split and positions, when
// a file holds rows of several splits, and when two files of a split
// overlap in positions (the rules in the file comment). eventTime, if
// set, gives each split's lastTime.
func lineageOf(src *parquet.Source, eventTime string) (map[string]*splitHistory, error) {
	splitR, err := src.Ranges(parquet.SplitColumn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoLineage, err)
	}
	posR, err := src.Ranges(parquet.PositionColumn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoLineage, err)
	}
	var timeR []parquet.Range
	if eventTime != "" {
		timeR, _ = src.Ranges(eventTime) // only to check the feed's times; an int64 column has none
	}
	bySplit := map[string]*splitHistory{}
	for i, s := range splitR {
		p := posR[i]
		if s.Rows == 0 {
			continue
		}
		if !s.Known || !p.Known {
			return nil, fmt.Errorf("history file %s has no statistics for %s and %s, so where each split's history ends is unknown (weir writes them)",
				s.File, parquet.SplitColumn, parquet.PositionColumn)
		}
		id, idOK := s.Min.(string)
		last, lastOK := s.Max.(string)
		first, firstOK := p.Min.(int64)
		lastPos, lastPosOK := p.Max.(int64)
		if !idOK || !lastOK || !firstOK || !lastPosOK {
			return nil, fmt.Errorf("%w: history file %s: %s must be a string column and %s an integer one",
				ErrNoLineage, s.File, parquet.SplitColumn, parquet.PositionColumn)
		}
		if id != last {
			return nil, fmt.Errorf("history file %s holds rows of several splits (%s … %s): a live run from a time continues each split's history, "+
				"so each file must hold one split's rows, as weir gen writes them", s.File, id, last)
		}
		sh := bySplit[id]
		if sh == nil {
			sh = &splitHistory{last: -1}
			bySplit[id] = sh
		}
		sh.files = append(sh.files, historyFile{name: s.File, first: first, last: lastPos})
		if lastPos > sh.last {
			sh.last, sh.lastTime = lastPos, time.Time{}
			if timeR != nil && timeR[i].Known {
				if tm, ok := timeR[i].Max.(time.Time); ok {
					sh.lastTime = tm
				}
			}
		}
	}
	for _, id := range sortedKeys(bySplit) {
		sh := bySplit[id]
		slices.SortFunc(sh.files, func(a, b historyFile) int { return cmp.Compare(a.first, b.first) })
		for i := 1; i < len(sh.files); i++ {
			if a, b := sh.files[i-1], sh.files[i]; b.first <= a.last {
				return nil, fmt.Errorf("history files %s (positions %d…%d) and %s (positions %d…%d) of split %s overlap: each position may be in the history once",
					a.name, a.first, a.last, b.name, b.first, b.last, id)
			}
		}
	}
	return bySplit, nil
}

// hybridSplit is one live split with its history.
type hybridSplit struct {
	h    *hybridSource
	id   string
	live dataflow.Split // nil: the split ends with its history
	hist *splitHistory  // nil: no history rows of this split
}

func (sp *hybridSplit) ID() string { return sp.id }

// Open implements dataflow.Split: pos is a live position (see the file
// comment); 0 is the start of the run.
func (sp *hybridSplit) Open(ctx context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	if pos < 0 {
		return nil, fmt.Errorf("split %s: negative position %d", sp.ID(), pos)
	}
	r := &hybridReader{sp: sp, pos: int64(pos), skip: int64(pos), last: int64(pos) - 1}
	if sp.hist != nil && int64(pos) <= sp.hist.last {
		for _, f := range sp.hist.files {
			if s := sp.h.hist.files[f.name]; s != nil && f.last >= int64(pos) {
				r.pending = append(r.pending, s)
			}
		}
		return r, nil
	}
	if sp.live == nil {
		return r, nil // opened after its last row: at its end
	}
	if err := r.openLive(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// hybridReader reads a split's history files in position order, then its
// live feed, if any.
type hybridReader struct {
	sp      *hybridSplit
	pending []dataflow.Split // history files still to read
	cur     dataflow.SplitReader
	curName string
	live    dataflow.SplitReader
	// pos is the split's position: after the last row returned. skip is
	// where the reader was opened: history rows before it were returned
	// before a restart. last is the position of the last history row
	// returned; a row at or below it is out of order.
	pos, skip, last int64
	scratch         []int64
}

// openLive opens the live reader at the position after the history, or
// at from's when that is later (the feed's events before from would be
// dropped anyway).
func (r *hybridReader) openLive(ctx context.Context) error {
	sp := r.sp
	q := r.pos
	if sp.hist != nil {
		q = max(q, sp.hist.last+1)
	}
	if ts, ok := sp.live.(timeSeeker); ok && sp.h.hist != nil && !sp.h.from.IsZero() {
		q = max(q, int64(ts.PositionAt(sp.h.from)))
	}
	rd, err := sp.live.Open(ctx, dataflow.Position(q))
	if err != nil {
		return err
	}
	r.live = rd
	return nil
}

func (r *hybridReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	for r.live == nil {
		if r.cur == nil {
			if len(r.pending) == 0 {
				if r.sp.live == nil {
					return nil, dataflow.Position(r.pos), io.EOF
				}
				if err := r.openLive(ctx); err != nil {
					return nil, dataflow.Position(r.pos), err
				}
				break
			}
			next := r.pending[0]
			r.pending = r.pending[1:]
			rd, err := next.Open(ctx, 0)
			if err != nil {
				return nil, dataflow.Position(r.pos), err
			}
			r.cur, r.curName = rd, next.ID()
		}
		rec, _, err := r.cur.Next(ctx)
		if errors.Is(err, io.EOF) {
			err = r.cur.Close()
			r.cur = nil
			if err != nil {
				return nil, dataflow.Position(r.pos), err
			}
			continue
		}
		if err != nil {
			return nil, dataflow.Position(r.pos), err
		}
		out, err := r.fromHistory(rec)
		return out, dataflow.Position(r.pos), err
	}
	rec, p, err := r.live.Next(ctx)
	if err != nil {
		return nil, p, err
	}
	r.pos = int64(p)
	out, err := r.sp.h.cols.adapt(rec, r.sp.ID(), r.live, &r.scratch)
	return out, p, err
}

// fromHistory checks a history batch's positions (increasing, none seen
// before), drops the rows before a resumed split's position, and returns
// the output columns.
func (r *hybridReader) fromHistory(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	h := r.sp.h.hist
	pc := rec.Column(h.posCol)
	if pc.NullN() > 0 {
		return nil, fmt.Errorf("history file %s: %s has NULLs", r.curName, parquet.PositionColumn)
	}
	pos := columnar.Int64Values(pc)
	drop := 0
	for _, p := range pos {
		switch {
		case p < r.skip && r.last < r.skip:
			drop++ // before where a resumed split starts
		case p <= r.last:
			return nil, fmt.Errorf("history file %s: split %s: position %d after %d: the split's history must be in position order, each position once",
				r.curName, r.sp.ID(), p, r.last)
		default:
			r.last = p
		}
	}
	if drop > 0 {
		keep := make([]int32, 0, len(pos)-drop)
		for i, p := range pos {
			if p >= r.skip {
				keep = append(keep, int32(i))
			}
		}
		var err error
		if rec, err = columnar.TakeRecord(rec, keep); err != nil {
			return nil, err
		}
	}
	r.pos = max(r.pos, r.last+1)
	cols := make([]arrow.Array, len(h.keep))
	for i, c := range h.keep {
		cols[i] = rec.Column(c)
	}
	return array.NewRecordBatch(r.sp.h.schema, cols, rec.NumRows()), nil
}

// NextTimeBound implements dataflow.TimeBounded once the live feed is
// read. In the history no bound is given: the rows themselves move the
// watermark, and a bound would have to hold for the later files and the
// feed too.
func (r *hybridReader) NextTimeBound() watermark.Time {
	if tb, ok := r.live.(dataflow.TimeBounded); ok {
		return tb.NextTimeBound()
	}
	return watermark.MinTime
}

func (r *hybridReader) Close() error {
	var errs []error
	if r.cur != nil {
		errs = append(errs, r.cur.Close())
	}
	if r.live != nil {
		errs = append(errs, r.live.Close())
	}
	return errors.Join(errs...)
}
