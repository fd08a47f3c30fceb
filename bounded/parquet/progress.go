package parquet

import "sync/atomic"

// Progress counts a source's work. Every field is updated atomically as the
// splits are read, so a server may poll it while a query runs.
type Progress struct {
	// SplitsTotal is the number of splits (files that may hold a matching
	// row); SplitsDone those read to the end.
	SplitsTotal, SplitsDone atomic.Int64
	// FilesPruned and RowGroupsPruned count what pushdown skipped.
	FilesPruned, RowGroupsPruned atomic.Int64
	// RowsTotal is the rows of the row groups left after pruning by
	// statistics; RowsDone those read or skipped so far (it reaches
	// RowsTotal at the end); RowsOut the rows returned.
	RowsTotal, RowsDone, RowsOut atomic.Int64
	// BytesTotal is the compressed size of the column chunks a full read of
	// those row groups would fetch; BytesRead the bytes actually read
	// (footers, page indexes and bloom filters included; with a Cache, the
	// hits too: the store's own metrics count what reached it).
	BytesTotal, BytesRead atomic.Int64
}

// ProgressSnapshot is a copy of Progress at one moment.
type ProgressSnapshot struct {
	SplitsTotal, SplitsDone      int64
	FilesPruned, RowGroupsPruned int64
	RowsTotal, RowsDone, RowsOut int64
	BytesTotal, BytesRead        int64
}

// Snapshot reads every counter.
func (p *Progress) Snapshot() ProgressSnapshot {
	return ProgressSnapshot{
		SplitsTotal: p.SplitsTotal.Load(), SplitsDone: p.SplitsDone.Load(),
		FilesPruned: p.FilesPruned.Load(), RowGroupsPruned: p.RowGroupsPruned.Load(),
		RowsTotal: p.RowsTotal.Load(), RowsDone: p.RowsDone.Load(), RowsOut: p.RowsOut.Load(),
		BytesTotal: p.BytesTotal.Load(), BytesRead: p.BytesRead.Load(),
	}
}
