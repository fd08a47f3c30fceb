package query

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/storage"
)

// Parquet history through SQL: read_parquet as a FROM item and as the
// input of a windowing function, and a table over it, in both modes.
func TestReadParquet(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: columnar.TimestampType}, {Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w, err := parquet.NewWriter(st, schema, parquet.WriterOptions{Prefix: "events/"})
	if err != nil {
		t.Fatal(err)
	}
	ts := []int64{1e6, 2e6, 11e6, 12e6, 13e6}
	rec := columnar.Record(schema, []arrow.Array{columnar.Timestamps(ts), columnar.Int64s([]int64{1, 2, 1, 1, 2})}, len(ts))
	if err := w.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	url := "file://" + dir + "/events/*.parquet"
	e := NewEngine(NewCatalog())
	run(t, e, "CREATE TABLE ev () WITH (history = '"+url+"', event_time = 'ts')", RunOptions{})
	for _, mode := range []Mode{Backfill, Live} {
		s := run(t, e, `SELECT count(*) FROM read_parquet('`+url+`');
SELECT window_start, count(*) AS n FROM TUMBLE(read_parquet('`+url+`', event_time => 'ts'), ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end;
SELECT k, count(*) FROM ev WHERE k = 1 GROUP BY k`, RunOptions{Mode: mode})
		for i, want := range []string{"5", ts0(0) + " | 2; " + ts0(10) + " | 3", "1 | 3"} {
			if got := strings.Join(s.rows(t, i), "; "); got != want {
				t.Errorf("%s, statement %d: got %q, want %q", mode, i+1, got, want)
			}
		}
		// The final progress counts the Parquet read: its row groups' rows
		// and the bytes of the column read (ts; count(*) alone reads none).
		if mode == Backfill {
			p := s.last[1]
			if p.RowsTotal != 5 || p.BytesTotal <= 0 || p.BytesRead <= 0 {
				t.Errorf("backfill progress: rows total %d (want 5), bytes %d of %d (want both > 0)", p.RowsTotal, p.BytesRead, p.BytesTotal)
			}
		}
	}
}

// Filters on Hive partition columns skip whole files (whole splits); other
// hints, and hints that do not fit the column's type, skip nothing.
func TestPartitionHintsPruneFiles(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: columnar.TimestampType}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for _, day := range []string{"day=1", "day=2", "day=3"} {
		w, err := parquet.NewWriter(st, schema, parquet.WriterOptions{Prefix: "t/" + day + "/"})
		if err != nil {
			t.Fatal(err)
		}
		rec := columnar.Record(schema, []arrow.Array{columnar.Timestamps([]int64{1e6, 2e6}), columnar.Int64s([]int64{10, 20})}, 2)
		if err := w.Write(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	url := "file://" + dir + "/t/**/*.parquet"
	e := NewEngine(NewCatalog())
	pr, u, err := e.Providers.lookup(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hints  []Hint
		splits int
	}{
		{nil, 3},
		{[]Hint{{Column: "day", Op: ">=", Value: int64(2)}}, 2},
		{[]Hint{{Column: "day", Op: "=", Value: int64(2)}, {Column: "v", Op: "=", Value: int64(10)}}, 1},
		{[]Hint{{Column: "day", Op: "=", Value: "two"}}, 3}, // does not fit: no pruning, no error
	} {
		src, _, err := pr.Open(context.Background(), u, SourceRequest{SplitHints: tc.hints})
		if err != nil {
			t.Fatal(err)
		}
		splits, err := src.Splits(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(splits) != tc.splits {
			t.Errorf("hints %v: %d splits, want %d", tc.hints, len(splits), tc.splits)
		}
	}
	for _, mode := range []Mode{Backfill, Live} {
		s := run(t, e, "SELECT day, sum(v) FROM read_parquet('"+url+"') WHERE day >= 2 AND v > 10 GROUP BY day", RunOptions{Mode: mode})
		if got := strings.Join(s.rows(t, 0), "; "); got != "2 | 20; 3 | 20" {
			t.Errorf("%s: %s", mode, got)
		}
	}
}
