package parquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage"
)

// benchRow is the shape of the group-by benchmark (issue 3): an int64 key
// with 1,000 values, a double, a timestamp.
type benchRow struct {
	K  int64   `parquet:"k,dict"`
	V  float64 `parquet:"v"`
	TS int64   `parquet:"ts,timestamp(microsecond)"`
}

const benchRows = 20_000_000

var benchKey = fmt.Sprintf("scan-%d.parquet", benchRows)

func benchPath() string { return filepath.Join(os.TempDir(), "weir-bench", benchKey) }

// benchFile returns the 20M-row benchmark file, writing it once into the
// temporary directory (snappy, row groups of 1 Mi rows, statistics and page
// index as parquet-go writes them by default).
func benchFile(b testing.TB) []byte {
	path := benchPath()
	if data, err := os.ReadFile(path); err == nil {
		return data
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[benchRow](&buf,
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(1<<20))
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([]benchRow, 64<<10)
	ts := int64(1_767_225_600_000_000) // 2026-01-01 in µs
	for done := 0; done < benchRows; done += len(rows) {
		rows = rows[:min(len(rows), benchRows-done)]
		for i := range rows {
			ts += 1000 + rng.Int64N(100)
			rows[i] = benchRow{K: rng.Int64N(1000), V: rng.Float64() * 100, TS: ts}
		}
		if _, err := w.Write(rows); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkScan reads the benchmark file: the columns a group-by of sum(v)
// by k needs, and every column; with one decode goroutine and with all.
//
//	go test ./bounded/parquet -run '^$' -bench Scan -benchtime 10x -count 3
func BenchmarkScan(b *testing.B) {
	data := benchFile(b)
	mem := newMemStore()
	mem.put(benchKey, data)
	local, err := storage.NewLocal(filepath.Dir(benchPath()))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = local.Close() }()
	for _, store := range []storage.Store{mem, local} {
		info, err := store.Stat(context.Background(), benchKey)
		if err != nil {
			b.Fatal(err)
		}
		infos := []storage.ObjectInfo{info}
		st := store
		storeName := "mem"
		if store == storage.Store(local) {
			storeName = "local"
		}
		for _, cols := range [][]string{{"k", "v"}, nil} {
			for _, par := range []int{1, runtime.GOMAXPROCS(0)} {
				name := fmt.Sprintf("store=%s/cols=%s/par=%d", storeName, colsName(cols), par)
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(len(data)))
					var rows int64
					cpu0 := cpuTime()
					for b.Loop() {
						src, err := New(context.Background(), st, infos, Options{Columns: cols, Parallelism: par})
						if err != nil {
							b.Fatal(err)
						}
						rows = scanAll(b, src)
					}
					cpu := (cpuTime() - cpu0).Seconds() / float64(b.N)
					if rows != benchRows {
						b.Fatalf("read %d rows", rows)
					}
					perOp := b.Elapsed().Seconds() / float64(b.N)
					ncols := float64(len(cols))
					if cols == nil {
						ncols = 3
					}
					b.ReportMetric(float64(rows)/perOp, "rows/s")
					if cpu > 0 {
						// CPU time: the work, whatever else the machine runs.
						b.ReportMetric(cpu*1000, "cpu-ms/op")
						b.ReportMetric(float64(rows)*ncols/cpu, "values/cpu-s")
					}
				})
			}
		}
	}
}

func colsName(cols []string) string {
	if cols == nil {
		return "all"
	}
	s := ""
	for i, c := range cols {
		if i > 0 {
			s += "+"
		}
		s += c
	}
	return s
}

// scanAll reads every split of src, counting rows without keeping batches.
func scanAll(b testing.TB, src *Source) int64 {
	ctx := context.Background()
	splits, err := src.Splits(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, sp := range splits {
		rd, err := sp.Open(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, _, err := rd.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += rec.NumRows()
		}
		_ = rd.Close()
	}
	return n
}

// BenchmarkGroupBy runs SELECT k, count(*), sum(v) FROM the benchmark file
// GROUP BY k through the engine (source, hash exchange on k, a group
// aggregate emitting final rows), to put the scan in the budget of the
// whole query. DuckDB 1.1.3 takes about 0.31 s for it on this machine.
//
//	go test ./bounded/parquet -run '^$' -bench GroupBy -benchtime 5x
func BenchmarkGroupBy(b *testing.B) {
	data := benchFile(b)
	st := newMemStore()
	st.put(benchKey, data)
	infos := st.infos(b, benchKey)
	for _, p := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("p=%d", p), func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			defer func() {
				if cpu := (cpuTime() - cpu0).Seconds() / float64(b.N); cpu > 0 {
					b.ReportMetric(cpu*1000, "cpu-ms/op")
				}
			}()
			for b.Loop() {
				src, err := New(context.Background(), st, infos, Options{Columns: []string{"k", "v"}})
				if err != nil {
					b.Fatal(err)
				}
				g := dataflow.NewGraph(p)
				aggs := []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}, {Func: dataflow.Sum, Column: "v", As: "s"}}
				out := g.Source("t", dataflow.SourceSpec{Source: src}).KeyBy("k").
					GroupAggregate("agg", p, dataflow.GroupAggSpec{Keys: []string{"k"}, Aggs: aggs, EmitAtEnd: true}).Collect("out")
				job, err := dataflow.NewJob(g, dataflow.JobOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if err := job.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				if out.Rows() != 1000 {
					b.Fatalf("%d groups", out.Rows())
				}
			}
		})
	}
}
