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
	}
}
