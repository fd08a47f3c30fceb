package query

import (
	"fmt"
	"testing"
	"time"

	"github.com/weirdata/weir/dataflow"
)

// TestInsertReportsProgress: an INSERT reports progress as a query does —
// rows read, rows published as rows out, and, durable, its checkpoint
// figures (the server shows them for a live INSERT) — and a last one when
// it has run.
func TestInsertReportsProgress(t *testing.T) {
	e := NewEngine(NewCatalog())
	dir := t.TempDir()
	run(t, e, `CREATE TABLE b () WITH (live = 'nexmark://bids?events=400000', event_time = 'date_time')`, RunOptions{})
	run(t, e, `CREATE TABLE out (ws timestamp, n bigint) WITH (history = 'file://`+dir+`/out/')`, RunOptions{})
	const sql = `INSERT INTO out SELECT window_start, count(*) FROM TUMBLE(b, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end`
	for _, durable := range []bool{false, true} {
		opts := RunOptions{}
		if durable {
			opts.Durable = &Durable{Job: "p", Store: dataflow.NewMemoryCheckpointStore(), Interval: 2 * time.Millisecond}
		}
		s := newCollectSink()
		if err := e.Execute(t.Context(), sql, opts, s); err != nil {
			t.Fatal(err)
		}
		p := s.last[0]
		if want := fmt.Sprintf("INSERT 0 %d", p.RowsOut); s.progress == 0 || p.RowsIn == 0 || p.RowsOut == 0 || s.messages[0] != want {
			t.Errorf("durable=%v: %d progress reports, the last %+v; done %q, want %q", durable, s.progress, p, s.messages[0], want)
		}
		if durable && p.Checkpoint.Completed == 0 {
			t.Errorf("a durable INSERT's progress has no checkpoint figures: %+v", p.Checkpoint)
		}
	}
}
