package server

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/watermark"
)

// clientMessage is what a client sends (run or cancel).
type clientMessage struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	SQL    string `json:"sql,omitempty"`
	Mode   string `json:"mode,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Format string `json:"format,omitempty"`
	// Durable makes a live run a durable job (durable.go); Job names it
	// (default: derived from the SQL and from), and implies Durable.
	Durable bool   `json:"durable,omitempty"`
	Job     string `json:"job,omitempty"`
}

// column describes a result column.
type column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// serverMessage is what the server sends; fields not of its type are empty.
type serverMessage struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	// Job is the job a schema, progress or done belongs to.
	Job     string   `json:"job,omitempty"`
	Stmt    *int     `json:"stmt,omitempty"`
	Columns []column `json:"columns,omitempty"`
	Ops     []string `json:"ops,omitempty"`
	Rows    [][]any  `json:"rows,omitempty"`
	// progress
	RowsIn      *int64 `json:"rows_in,omitempty"`
	RowsOut     *int64 `json:"rows_out,omitempty"`
	SplitsDone  *int64 `json:"splits_done,omitempty"`
	SplitsTotal *int64 `json:"splits_total,omitempty"`
	Watermark   string `json:"watermark,omitempty"`
	LateRows    *int64 `json:"late_rows,omitempty"`
	// LagMS is the wall clock minus the watermark (live); RowsPerSec the
	// input rate over the last progress interval.
	LagMS      *int64 `json:"lag_ms,omitempty"`
	RowsPerSec *int64 `json:"rows_per_sec,omitempty"`
	// BytesRead, BytesTotal and RowsTotal: the Parquet history read so far
	// out of what the run reads at most (absent without Parquet).
	BytesRead  *int64 `json:"bytes_read,omitempty"`
	BytesTotal *int64 `json:"bytes_total,omitempty"`
	RowsTotal  *int64 `json:"rows_total,omitempty"`
	// checkpointFigures: a durable job's progress (and /api/jobs).
	checkpointFigures
	// done
	ElapsedMS *int64 `json:"elapsed_ms,omitempty"`
	// done (command tag) or error
	Message string `json:"message,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	// Cancelled marks the error that ends a job stopped on purpose (by a
	// viewer, DELETE /api/jobs/{id} or the server's shutdown), not failed.
	Cancelled bool `json:"cancelled,omitempty"`

	// arrow, for a client that asked for Arrow, replaces Rows and Ops: the
	// writer sends it as a binary frame (arrow.go).
	arrow *arrowRows
}

func ptr[T any](v T) *T { return &v }

// checkpointFigures are a durable job's checkpoint figures, in its
// progress messages and its /api/jobs entry: the counts of completed and
// failed checkpoints, and the id, completion time, duration, state size
// and longest barrier alignment of the last completed one (absent before
// it). Absent for a job that is not durable.
type checkpointFigures struct {
	CheckpointID          *int64 `json:"checkpoint_id,omitempty"`
	CheckpointAt          string `json:"checkpoint_at,omitempty"`
	CheckpointMS          *int64 `json:"checkpoint_ms,omitempty"`
	CheckpointBytes       *int64 `json:"checkpoint_bytes,omitempty"`
	CheckpointAlignmentMS *int64 `json:"checkpoint_alignment_ms,omitempty"`
	CheckpointsCompleted  *int64 `json:"checkpoints_completed,omitempty"`
	CheckpointsFailed     *int64 `json:"checkpoints_failed,omitempty"`
}

func newCheckpointFigures(c dataflow.CheckpointStats) checkpointFigures {
	f := checkpointFigures{CheckpointsCompleted: ptr(c.Completed), CheckpointsFailed: ptr(c.Failed)}
	if c.Completed > 0 {
		f.CheckpointID, f.CheckpointMS, f.CheckpointBytes = ptr(c.LastID), ptr(c.LastDuration.Milliseconds()), ptr(c.LastBytes)
		f.CheckpointAlignmentMS = ptr(c.LastAlignment.Milliseconds())
		f.CheckpointAt = c.LastCompleted.UTC().Format(time.RFC3339Nano)
	}
	return f
}

func schemaMessage(id string, stmt int, s *arrow.Schema) serverMessage {
	cols := make([]column, s.NumFields())
	for i, f := range s.Fields() {
		cols[i] = column{Name: f.Name, Type: query.TypeName(f.Type)}
	}
	return serverMessage{Type: "schema", ID: id, Stmt: ptr(stmt), Columns: cols}
}

func progressMessage(id string, p query.Progress) serverMessage {
	m := serverMessage{Type: "progress", ID: id, RowsIn: ptr(p.RowsIn), RowsOut: ptr(p.RowsOut),
		SplitsDone: ptr(p.SplitsDone), SplitsTotal: ptr(p.SplitsTotal), LateRows: ptr(p.LateRows)}
	if p.BytesTotal > 0 {
		m.BytesRead, m.BytesTotal, m.RowsTotal = ptr(p.BytesRead), ptr(p.BytesTotal), ptr(p.RowsTotal)
	}
	if p.Watermark != watermark.MinTime && p.Watermark != watermark.MaxTime {
		m.Watermark = p.Watermark.Std().Format(time.RFC3339Nano)
	}
	return m
}

// rowValues renders row r of rec as JSON values in schema order.
func rowValues(rec arrow.RecordBatch, r int) []any {
	out := make([]any, rec.NumCols())
	for c := range out {
		out[c] = query.JSONValue(rec.Column(c), r)
	}
	return out
}

// errorMessage renders an error, with the SQL position when it has one.
func errorMessage(id string, err error) serverMessage {
	m := serverMessage{Type: "error", ID: id, Message: err.Error()}
	var qe *query.Error
	if asError(err, &qe) {
		m.Message, m.Line, m.Column = qe.Msg, qe.Line, qe.Column
	}
	return m
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (use RFC 3339: 2026-01-01T00:00:00Z)", s)
}
