package query

// Replaying a history alone (DESIGN §4): a backfill, or a live run of a
// table without a live feed, reads only the history. When weir wrote it,
// every row carries the live split it came from (_split) and its position
// there (_position), and the run reads one split per _split value — that
// split's files in position order, as a live run with a from does
// (hybrid.go), just without the live feed after them. So the watermark
// generator and the lateness decision see the live split's sequence, and
// a record that was late in the live run is late in the backfill: one
// split whose history spans several files is one sequence, not one per
// file.
//
// The rejected alternative, a split per file (what a Parquet source does),
// gives a split's later file a watermark generator of its own: a record at
// the start of that file that is late behind the end of the previous file
// would be on time, and the backfill would count different rows than the
// live run.
//
// What a history with lineage must satisfy is decided from the footers
// (lineageOf), as for a live run: each file holds one split's rows, with
// statistics, and a split's files do not overlap in positions. A history
// that does not — no lineage columns (written by others), or lineage
// columns that INSERT copied into files that mix splits or repeat
// positions — is read as before, each file a split in row order: nothing
// says what its live sequences were.

import (
	"context"
	"errors"
	"net/url"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
)

// openHistoryAlone opens the history of t for a run that reads nothing
// else, with pp (its provider): replayed per lineage split when it has
// lineage, one split per file otherwise. The source is bounded.
func (e *Engine) openHistoryAlone(ctx context.Context, t *TableDef, req SourceRequest, pp parquetProvider, u *url.URL) (dataflow.Source, bool, error) {
	src, err := parquet.Open(ctx, u.String(), pp.options(&req))
	if err != nil {
		return nil, false, err
	}
	// The footers of the files the run reads (after from, to and the
	// partition filters) say whether the lineage can be followed. A history
	// without the columns answers here, at no cost beyond today's open.
	bySplit, err := lineageOf(src, "")
	if err != nil {
		if !errors.Is(err, ErrNoLineage) && e.Logger != nil {
			e.Logger.Info("history read one split per file, not per lineage split", "table", t.Name, "reason", err.Error())
		}
		return src, true, nil
	}
	out := src.Schema()
	rows := src
	if fieldIndex(out, parquet.SplitColumn) < 0 || fieldIndex(out, parquet.PositionColumn) < 0 {
		// The query leaves the lineage out: read it too (the same files and
		// row groups: the filter is the same).
		if rows, err = parquet.Open(ctx, u.String(), historyOptions(pp, &req, out)); err != nil {
			return nil, false, err
		}
	}
	h, err := newHistory(ctx, t.History, rows, out)
	if errors.Is(err, ErrNoLineage) {
		return src, true, nil // lineage columns of other types: not weir's
	}
	if err != nil {
		return nil, false, err
	}
	h.bySplit = bySplit
	return &hybridSource{schema: out, hist: h}, true, nil
}
