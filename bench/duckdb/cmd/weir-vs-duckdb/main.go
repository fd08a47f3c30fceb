// Command weir-vs-duckdb runs issue 3's benchmark: weir and DuckDB on the
// same 20 M-row Parquet file in one process, alternating, and prints the
// medians, their ratio and the bytes weir reads for a narrow time range
// with and without pushdown.
//
//	go run ./cmd/weir-vs-duckdb [-runs 5] [-threads 2] [-cpuprofile weir.prof]
//
// The file is written once by DuckDB into -dir (default ~/.cache/weir/bench).
// With WEIR_TEST_S3_ENDPOINT set (scripts/minio.sh), the file is also put
// into a MinIO bucket and weir's group-by is timed from there.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/marcboeker/go-duckdb"

	bench "github.com/weirdata/weir/bench/duckdb"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/storage"
)

func main() {
	home, _ := os.UserHomeDir()
	dir := flag.String("dir", filepath.Join(home, ".cache", "weir", "bench"), "where the benchmark file is kept")
	rows := flag.Int("rows", bench.BenchRows, "rows of the benchmark file")
	runs := flag.Int("runs", 5, "timed runs of each engine and query, after one warm-up")
	threads := flag.Int("threads", 2, "weir's parallelism and DuckDB's threads")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of weir's runs (only) to this file")
	flag.Parse()
	if err := run(context.Background(), *dir, *rows, *runs, *threads, *cpuprofile); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dir string, rows, runs, threads int, cpuprofile string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET threads = %d", threads)); err != nil {
		return err
	}
	path, err := bench.BenchFile(ctx, db, dir, rows)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	eng, err := bench.NewBenchEngine(ctx, "file://"+path)
	if err != nil {
		return err
	}
	var prof *os.File
	if cpuprofile != "" {
		if prof, err = os.Create(cpuprofile); err != nil {
			return err
		}
	}
	fmt.Printf("file %s: %d rows, %.1f MiB; %d runs after a warm-up; weir parallelism %d, DuckDB threads %d; GOMAXPROCS %d; load average before: %s\n\n",
		path, rows, float64(st.Size())/(1<<20), runs, threads, threads, runtime.GOMAXPROCS(0), bench.LoadAverage())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "query\tweir median\tDuckDB median\tweir/DuckDB\tweir runs\tDuckDB runs\t")
	opts := query.RunOptions{Mode: query.Backfill, Parallelism: threads}
	for _, q := range bench.BenchQueries(rows) {
		weirRun := func() error {
			res, _, err := bench.RunWeir(ctx, eng, q.Weir, opts)
			if err == nil && len(res.Rows) != q.Rows {
				err = fmt.Errorf("weir %s: %d rows, want %d", q.Name, len(res.Rows), q.Rows)
			}
			return err
		}
		duckRun := func() error {
			res, err := bench.RunDuck(ctx, db, fmt.Sprintf(q.Duck, path))
			if err == nil && len(res.Rows) != q.Rows {
				err = fmt.Errorf("DuckDB %s: %d rows, want %d", q.Name, len(res.Rows), q.Rows)
			}
			return err
		}
		var wt, dt []time.Duration
		for i := 0; i <= runs; i++ { // run 0 is the warm-up
			w, err := bench.Timed(weirRun)
			if err != nil {
				return err
			}
			d, err := bench.Timed(duckRun)
			if err != nil {
				return err
			}
			if i > 0 {
				wt, dt = append(wt, w), append(dt, d)
			}
		}
		wm, dm := bench.Median(wt), bench.Median(dt)
		fmt.Fprintf(tw, "%s\t%.3f s\t%.3f s\t%.2f×\t%s\t%s\t\n", q.Name, wm.Seconds(), dm.Seconds(), wm.Seconds()/dm.Seconds(), secs(wt), secs(dt))
	}
	tw.Flush()
	if prof != nil {
		// Profiled apart from the timed runs, so that DuckDB's are not in it.
		if err := pprof.StartCPUProfile(prof); err != nil {
			return err
		}
		q := bench.BenchQueries(rows)[0]
		for range runs {
			if _, _, err := bench.RunWeir(ctx, eng, q.Weir, opts); err != nil {
				return err
			}
		}
		pprof.StopCPUProfile()
		fmt.Printf("\nCPU profile of %d more weir %s runs: %s\n", runs, q.Name, cpuprofile)
	}

	// Bytes read for a narrow time range: one minute in the middle.
	base, _ := time.Parse(time.DateTime, bench.BenchBase)
	mid := base.Add(time.Duration(rows/2) * time.Millisecond)
	from, to := mid, mid.Add(time.Minute)
	fmt.Printf("\nnarrow range [%s, %s) of columns k, v (weir --from/--to):\n", from.Format(time.RFC3339), to.Format(time.RFC3339))
	for _, no := range []bool{false, true} {
		p, err := bench.PushdownBytes(ctx, "file://"+path, from, to, no)
		if err != nil {
			return err
		}
		name := "pushdown"
		if no {
			name = "no pushdown"
		}
		fmt.Printf("  %-12s %12d bytes read (%6.2f%% of the file), %d rows out, %d row groups pruned\n", name, p.BytesRead, 100*float64(p.BytesRead)/float64(st.Size()), p.RowsOut, p.RowGroupsPruned)
	}
	fmt.Printf("load average after: %s\n", bench.LoadAverage())

	if ep := os.Getenv("WEIR_TEST_S3_ENDPOINT"); ep != "" {
		return fromS3(ctx, ep, path, runs, opts, eng)
	}
	return nil
}

// fromS3 puts the file into a fresh MinIO bucket and times weir's group-by
// reading it from there against reading it from local disk.
func fromS3(ctx context.Context, ep, path string, runs int, opts query.RunOptions, local *query.Engine) error {
	// The engine opens s3:// URLs with the SDK's configuration: point it
	// at the same server.
	if os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		if err := os.Setenv("AWS_ENDPOINT_URL_S3", ep); err != nil {
			return err
		}
	}
	bucket := fmt.Sprintf("weir-bench-%d", time.Now().UnixNano())
	s, err := storage.NewS3(ctx, bucket, "", storage.S3Options{Endpoint: ep})
	if err != nil {
		return err
	}
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := storage.Put(ctx, s, "bench.parquet", data, storage.CreateOptions{}); err != nil {
		return err
	}
	defer func() { _ = s.Delete(context.Background(), "bench.parquet") }()
	remote, err := bench.NewBenchEngine(ctx, "s3://"+bucket+"/bench.parquet")
	if err != nil {
		return err
	}
	q := bench.BenchQueries(0)[0]
	fmt.Printf("\n%s from MinIO (%s) vs local disk, weir, %d runs after a warm-up:\n", q.Name, ep, runs)
	for _, side := range []struct {
		name string
		e    *query.Engine
	}{{"local", local}, {"minio", remote}} {
		var ts []time.Duration
		for i := 0; i <= runs; i++ {
			d, err := bench.Timed(func() error { _, _, err := bench.RunWeir(ctx, side.e, q.Weir, opts); return err })
			if err != nil {
				return fmt.Errorf("%s: %w", side.name, err)
			}
			if i > 0 {
				ts = append(ts, d)
			}
		}
		m := bench.Median(ts)
		fmt.Printf("  %-6s median %.3f s, %.1f MiB/s, %.1f M rows/s  (%s)\n", side.name, m.Seconds(), float64(len(data))/(1<<20)/m.Seconds(), float64(bench.BenchRows)/1e6/m.Seconds(), secs(ts))
	}
	return nil
}

func secs(ds []time.Duration) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", d.Seconds())
	}
	return s
}
