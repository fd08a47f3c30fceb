package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
)

// FuzzPlan sends random statements through the whole path (parse, bind,
// plan, compile, run in backfill) over a fixed catalog of two small
// in-memory tables. Errors are fine; a panic or a run that does not stop
// after its deadline is a failure. Crashers are kept as regression seeds in
// testdata/fuzz/FuzzPlan:
//
//	go test ./query -run '^$' -fuzz FuzzPlan -fuzztime 5m
func FuzzPlan(f *testing.F) {
	for _, s := range planFuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if len(sql) > 4096 {
			t.Skip("too long")
		}
		e := fuzzEngine(t)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					done <- fmt.Errorf("panic: %v", r)
				}
			}()
			done <- e.Execute(ctx, sql, RunOptions{Mode: Backfill, Parallelism: 2}, discardSink{})
		}()
		select {
		case err := <-done:
			if err != nil && len(err.Error()) > 7 && err.Error()[:7] == "panic: " {
				t.Fatalf("%q: %v", sql, err)
			}
			var qe *Error
			if err != nil && !errors.As(err, &qe) && !errors.Is(err, context.DeadlineExceeded) {
				// Runtime errors (division by zero, overflow) are plain
				// errors; only check they say something.
				if err.Error() == "" {
					t.Fatalf("%q: empty error message", sql)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: still running 7 s after its deadline (cancellation must stop a job promptly)", sql)
		}
	})
}

// fuzzEngine returns a fresh engine (statements may create and drop
// objects) with tables t and u, and without providers that reach outside
// the process (file://, s3://) or that can generate without bound
// (nexmark://).
func fuzzEngine(t *testing.T) *Engine {
	e := NewEngine(NewCatalog())
	e.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, s := range []string{"file", "s3", "nexmark"} {
		e.Providers.Register(s, refusingProvider{})
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ts", Type: columnar.TimestampType},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	batch := func(k, ts, v []int64, x []float64, s []string) arrow.RecordBatch {
		for i := range ts {
			ts[i] *= 1_000_000
		}
		return columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts), columnar.Int64s(v), columnar.Float64s(x), columnar.StringsOf(s)}, len(k))
	}
	e.Providers.Memory().Put("t", &MemoryTable{Schema: schema, Splits: [][]arrow.RecordBatch{
		{batch([]int64{1, 2, 1}, []int64{1, 3, 4}, []int64{10, 20, 30}, []float64{0.5, -1, 2}, []string{"a", "b", ""}),
			batch([]int64{1}, []int64{12}, []int64{5}, []float64{1e300}, []string{"a"})},
		{batch([]int64{2, 3, 3}, []int64{2, 11, 25}, []int64{7, 1, -2}, []float64{0, 3, 4}, []string{"b", "c", "ccc"})},
	}})
	e.Providers.Memory().Put("u", &MemoryTable{Schema: schema, Splits: [][]arrow.RecordBatch{
		{batch([]int64{1, 3}, []int64{2, 14}, []int64{100, 300}, []float64{1, 2}, []string{"x", "y"})},
	}})
	for _, ddl := range []string{
		`CREATE TABLE t () WITH (history = 'mem://t', event_time = 'ts', watermark_delay = '5 seconds')`,
		`CREATE TABLE u () WITH (history = 'mem://u', event_time = 'ts')`,
	} {
		if err := e.Execute(context.Background(), ddl, RunOptions{}, discardSink{}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

type refusingProvider struct{}

func (refusingProvider) Schema(context.Context, *url.URL) (*arrow.Schema, error) {
	return nil, errors.New("disabled in this test")
}
func (refusingProvider) Open(context.Context, *url.URL, SourceRequest) (dataflow.Source, bool, error) {
	return nil, false, errors.New("disabled in this test")
}

type discardSink struct{}

func (discardSink) Schema(int, *arrow.Schema) error { return nil }
func (discardSink) Rows(int, dataflow.Batch) error  { return nil }
func (discardSink) Progress(int, Progress) error    { return nil }
func (discardSink) Done(int, Done) error            { return nil }

// planFuzzSeeds are valid and broken statements over t and u.
var planFuzzSeeds = []string{
	`SELECT * FROM t`,
	`SELECT k, v * 2 + 1 AS y, s || '!' FROM t WHERE v > 3 AND s LIKE 'a%'`,
	`SELECT k, count(*), sum(v), min(x), max(s), avg(v) FROM t GROUP BY k HAVING count(*) > 1`,
	`SELECT count(DISTINCT k) FROM t`,
	`SELECT DISTINCT s FROM t`,
	`SELECT k, window_start, window_end, count(*) FROM TUMBLE(t, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end`,
	`SELECT window_start, sum(v) FROM HOP(t, ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY window_start, window_end`,
	`SELECT window_end, max(v) FROM CUMULATE(t, ts, INTERVAL '5' SECOND, INTERVAL '20' SECOND) GROUP BY window_start, window_end`,
	`SELECT k, window_start, window_end, count(*) FROM SESSION(t, DESCRIPTOR(ts), INTERVAL '3' SECOND) GROUP BY k, window_start, window_end`,
	`SELECT a.k, a.n, b.v FROM (SELECT k, window_start, window_end, count(*) AS n FROM TUMBLE(t, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end) a
	 JOIN (SELECT k, window_start, window_end, sum(v) AS v FROM TUMBLE(u, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end) b
	 ON a.k = b.k AND a.window_start = b.window_start AND a.window_end = b.window_end`,
	`WITH w AS (SELECT k, window_start, window_end, count(*) AS n FROM TUMBLE(t, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end)
	 SELECT window_start, sum(n) FROM TUMBLE(w, window_start, INTERVAL '20' SECOND) GROUP BY window_start, window_end`,
	`SELECT k FROM t UNION ALL SELECT k FROM u`,
	`WITH c AS (SELECT k, v FROM t WHERE v IS NOT NULL) SELECT k, sum(v) FROM c GROUP BY k`,
	`SELECT k, v FROM t ORDER BY v DESC NULLS LAST LIMIT 2 OFFSET 1`,
	`SELECT CASE WHEN v > 10 THEN 'big' WHEN v IS NULL THEN NULL ELSE 'small' END, CAST(v AS text), coalesce(s, 'none') FROM t`,
	`SELECT date_trunc('second', ts), extract(epoch FROM ts), ts + INTERVAL '1 day' FROM t`,
	`SELECT k IN (1, 2), v BETWEEN 1 AND 10, x / 0.0, v / 0 FROM t`,
	`CREATE VIEW z AS SELECT k FROM t; SELECT * FROM z; DROP VIEW z`,
	`EXPLAIN SELECT k, count(*) FROM t GROUP BY k`,
	`DESCRIBE t; SHOW TABLES`,
	`SELECT nope FROM t`,
	`SELECT k, count(*) FROM t`,
	`SELECT * FROM TUMBLE(t, k, INTERVAL '1' SECOND)`,
	`SELECT * FROM HOP(t, ts, INTERVAL '0' SECOND, INTERVAL '1' SECOND)`,
	`SELECT k FROM t WHERE`,
	`SELECT (SELECT 1) FROM t`,
	`SELECT * FROM t JOIN u ON t.k = u.k`,
	`SELECT sum(sum(v)) FROM t`,
	`SELECT 1/0`,
	`SELECT k FROM t GROUP BY 3`,
	`SELECT * FROM t, u`,
	`WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT * FROM r) SELECT * FROM r`,
	`CREATE TABLE q () WITH (history = 'mem://t', event_time = 'v')`,
	`INSERT INTO t SELECT * FROM t`,
	`SELECT t.k, u.v FROM t JOIN u ON t.k = u.k AND u.ts BETWEEN t.ts - INTERVAL '5' SECOND AND t.ts + INTERVAL '5' SECOND`,
	`SELECT t.k, u.v FROM t LEFT JOIN u ON t.k = u.k`,
	`SELECT * FROM (SELECT k, window_start, window_end, count(*) AS n, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY count(*) DESC) AS rn
	 FROM TUMBLE(t, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end) x WHERE rn <= 2`,
	`SELECT k, count(DISTINCT s), approx_percentile(v, 0.5), approx_count_distinct(s) FROM t GROUP BY k`,
}
