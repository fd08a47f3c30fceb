package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/query"
)

// The benchmark file of issue 3: BenchRows rows of an int64 key k with
// 1,000 values, a double v and a timestamp ts in order (1 ms apart, so
// 10-second windows hold 10,000 rows), written once by DuckDB with its
// default row groups (122,880 rows), Snappy.
const (
	BenchRows = 20_000_000
	BenchBase = "2024-01-01 00:00:00"
)

// BenchFile returns the path of the benchmark file of rows rows in dir,
// writing it with db first if it is not there.
func BenchFile(ctx context.Context, db *sql.DB, dir string, rows int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("weir-vs-duckdb-%d.parquet", rows))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	// ts is TIMESTAMPTZ (Parquet isAdjustedToUTC): weir cannot yet use a
	// plain TIMESTAMP as event time (TestKnownBugs).
	q := fmt.Sprintf(`COPY (
  SELECT (hash(i, 7) %% 1000)::BIGINT AS k,
    (hash(i, 8) %% 1000000)::DOUBLE / 1000.0 AS v,
    CAST(TIMESTAMP '%s' + to_milliseconds(i) AS TIMESTAMPTZ) AS ts
  FROM range(0, %d) r(i) ORDER BY i
) TO '%s' (FORMAT PARQUET)`, BenchBase, rows, tmp)
	if _, err := db.ExecContext(ctx, q); err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp, err)
	}
	return path, os.Rename(tmp, path)
}

// BenchQuery is one query of the benchmark, in both dialects. The weir
// text reads the table bench; the DuckDB text has %s for the file.
type BenchQuery struct {
	Name, Weir, Duck string
	Rows             int // result rows, checked
}

// BenchQueries are issue 3's two queries, the group-by twice: over the
// table plain, declared without an event time, and over bench, whose event
// time ts weir then reads as well, to decide lateness.
func BenchQueries(rows int) []BenchQuery {
	return []BenchQuery{
		{
			Name: "group-by",
			Weir: "SELECT k, count(*) AS c, sum(v) AS s FROM plain GROUP BY k",
			Duck: "SELECT k, count(*) AS c, sum(v) AS s FROM read_parquet('%s') GROUP BY k",
			Rows: 1000,
		},
		{
			Name: "group-by-event-time",
			Weir: "SELECT k, count(*) AS c, sum(v) AS s FROM bench GROUP BY k",
			Duck: "SELECT k, count(*) AS c, sum(v) AS s FROM read_parquet('%s') GROUP BY k",
			Rows: 1000,
		},
		{
			Name: "tumble-10s",
			Weir: "SELECT window_start, count(*) AS c FROM TUMBLE(bench, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end",
			Duck: "SELECT time_bucket(INTERVAL '10 seconds', CAST(ts AS TIMESTAMP), TIMESTAMP '1970-01-01') AS window_start, count(*) AS c FROM read_parquet('%s') GROUP BY 1",
			Rows: (rows + 9999) / 10000,
		},
	}
}

// NewBenchEngine returns a weir engine whose tables bench (with event time
// ts, delay 0: the file is in order) and plain (no event time) are the file
// at url.
func NewBenchEngine(ctx context.Context, url string) (*query.Engine, error) {
	e := query.NewEngine(query.NewCatalog())
	ddl := fmt.Sprintf(`CREATE TABLE bench () WITH (history = '%[1]s', event_time = 'ts', watermark_delay = '0 seconds');
CREATE TABLE plain () WITH (history = '%[1]s')`, url)
	return e, e.Execute(ctx, ddl, query.RunOptions{}, &WeirSink{Stmt: -1})
}

// Timed runs f once and returns its wall-clock time.
func Timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// Median returns the median of ds.
func Median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// PushdownBytes reads columns k and v of the file at url for the event
// times [from, to) and returns the bytes read and rows returned, with
// pushdown (statistics and page index) or without.
func PushdownBytes(ctx context.Context, url string, from, to time.Time, noPushdown bool) (parquet.ProgressSnapshot, error) {
	src, err := parquet.Open(ctx, url, parquet.Options{
		Columns: []string{"k", "v"}, EventTime: "ts",
		Filter: parquet.Filter{From: from, To: to}, NoPushdown: noPushdown,
	})
	if err != nil {
		return parquet.ProgressSnapshot{}, err
	}
	splits, err := src.Splits(ctx)
	if err != nil {
		return parquet.ProgressSnapshot{}, err
	}
	for _, sp := range splits {
		rd, err := sp.Open(ctx, 0)
		if err != nil {
			return parquet.ProgressSnapshot{}, err
		}
		for {
			_, _, err := rd.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = rd.Close()
				return parquet.ProgressSnapshot{}, err
			}
		}
		_ = rd.Close()
	}
	return src.Progress().Snapshot(), nil
}

// LoadAverage returns /proc/loadavg's first three fields, or "?".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
