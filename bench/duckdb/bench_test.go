package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/marcboeker/go-duckdb"

	"github.com/weirdata/weir/query"
)

// BenchmarkWeirVsDuckDB runs issue 3's queries on weir (backfill,
// parallelism 2) and DuckDB (threads=2) over the 20 M-row file, which is
// written once into ~/.cache/weir/bench. The table with medians and ratios
// comes from go run ./cmd/weir-vs-duckdb; this is the go test form:
//
//	go test -run '^$' -bench WeirVsDuckDB -benchtime 5x -cpuprofile weir.prof
func BenchmarkWeirVsDuckDB(b *testing.B) {
	ctx := context.Background()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "SET threads = 2"); err != nil {
		b.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	path, err := BenchFile(ctx, db, filepath.Join(home, ".cache", "weir", "bench"), BenchRows)
	if err != nil {
		b.Fatal(err)
	}
	eng, err := NewBenchEngine(ctx, "file://"+path)
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range BenchQueries(BenchRows) {
		b.Run(fmt.Sprintf("query=%s/engine=weir", q.Name), func(b *testing.B) {
			for b.Loop() {
				res, _, err := RunWeir(ctx, eng, q.Weir, query.RunOptions{Mode: query.Backfill, Parallelism: 2})
				if err != nil || len(res.Rows) != q.Rows {
					b.Fatalf("%d rows, %v", len(res.Rows), err)
				}
			}
			b.ReportMetric(float64(BenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("query=%s/engine=duckdb", q.Name), func(b *testing.B) {
			for b.Loop() {
				res, err := RunDuck(ctx, db, fmt.Sprintf(q.Duck, path))
				if err != nil || len(res.Rows) != q.Rows {
					b.Fatalf("%d rows, %v", len(res.Rows), err)
				}
			}
			b.ReportMetric(float64(BenchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
