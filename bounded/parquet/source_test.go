package parquet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/parquet-go/parquet-go"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/watermark"
)

func TestHivePartitions(t *testing.T) {
	type row struct {
		V int64 `parquet:"v"`
	}
	st := newMemStore()
	var keys []string
	for d := 1; d <= 3; d++ {
		for h := range 2 {
			key := fmt.Sprintf("t/date=2026-01-0%d/hour=%d/region=eu%%2Fwest/part.parquet", d, h)
			st.put(key, writeParquet(t, []row{{V: int64(10*d + h)}, {V: int64(10*d + h)}}))
			keys = append(keys, key)
		}
	}
	nullKey := "t/date=__HIVE_DEFAULT_PARTITION__/hour=9/region=eu%2Fwest/part.parquet"
	st.put(nullKey, writeParquet(t, []row{{V: 99}}))
	keys = append(keys, nullKey)
	infos := st.infos(t, keys...)

	src, err := New(context.Background(), st, infos, Options{Partitions: Partitioning{Hive: true}})
	if err != nil {
		t.Fatal(err)
	}
	want := "v: int64, date: date32, hour: int64, region: utf8"
	if got := fieldList(src.Schema()); got != want {
		t.Errorf("schema %s, want %s", got, want)
	}
	recs, err := readSource(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(columnValues(t, recs, "date"), " "); got != "2026-01-01 2026-01-01 2026-01-01 2026-01-01 2026-01-02 2026-01-02 2026-01-02 2026-01-02 2026-01-03 2026-01-03 2026-01-03 2026-01-03 NULL" {
		t.Errorf("dates: %s", got)
	}
	if got := columnValues(t, recs, "region")[0]; got != `"eu/west"` {
		t.Errorf("region %s, want the unescaped value", got)
	}

	// A filter on partition columns prunes files before they are opened.
	before := st.reads.Load()
	src, err = New(context.Background(), st, infos, Options{
		Partitions: Partitioning{Hive: true},
		Filter:     Filter{And: []Pred{{Column: "date", Op: Eq, Value: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}, {Column: "hour", Op: Ge, Value: 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if reads := st.reads.Load() - before; reads != 1 {
		t.Errorf("%d reads to open the source, want 1 (one footer)", reads)
	}
	recs, err = readSource(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(columnValues(t, recs, "v"), " "); got != "21 21" {
		t.Errorf("v = %s, want 21 21", got)
	}
	if p := src.Progress().Snapshot(); p.FilesPruned != 6 || p.SplitsTotal != 1 {
		t.Errorf("files pruned %d, splits %d; want 6 and 1", p.FilesPruned, p.SplitsTotal)
	}

	// IS NULL on a partition column.
	src, err = New(context.Background(), st, infos, Options{Partitions: Partitioning{Hive: true}, Filter: Filter{And: []Pred{{Column: "date", Op: IsNull}}}})
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := readSource(t, src); countRows(recs) != 1 {
		t.Errorf("date IS NULL: %d rows, want 1", countRows(recs))
	}
}

func fieldList(s *arrow.Schema) string {
	var parts []string
	for _, f := range s.Fields() {
		parts = append(parts, f.Name+": "+f.Type.String())
	}
	return strings.Join(parts, ", ")
}

func TestSchemaMerge(t *testing.T) {
	type a struct {
		ID   int32  `parquet:"id"`
		Name string `parquet:"name"`
		TS   int64  `parquet:"ts,timestamp(millisecond)"`
	}
	type b struct {
		ID    int64   `parquet:"id"`
		Score float64 `parquet:"score"`
		TS    int64   `parquet:"ts,timestamp(microsecond)"`
	}
	type c struct {
		ID string `parquet:"id"`
	}
	st := newMemStore()
	st.put("a.parquet", writeParquet(t, []a{{ID: 1, Name: "x", TS: 1000}}))
	st.put("b.parquet", writeParquet(t, []b{{ID: 1 << 40, Score: 2.5, TS: 2_000_000}}))
	st.put("c.parquet", writeParquet(t, []c{{ID: "z"}}))

	src, err := New(context.Background(), st, st.infos(t, "a.parquet", "b.parquet"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "id: int64, name: utf8, ts: timestamp[us, tz=UTC], score: float64"
	if got := fieldList(src.Schema()); got != want {
		t.Errorf("merged schema %s, want %s", got, want)
	}
	recs, err := readSource(t, src)
	if err != nil {
		t.Fatal(err)
	}
	for col, want := range map[string]string{
		"id":    "1 1099511627776",
		"name":  `"x" NULL`,
		"ts":    "1970-01-01T00:00:01Z 1970-01-01T00:00:02Z",
		"score": "NULL 2.5",
	} {
		if got := strings.Join(columnValues(t, recs, col), " "); got != want {
			t.Errorf("%s = %s, want %s", col, got, want)
		}
	}

	_, err = New(context.Background(), st, st.infos(t, "a.parquet", "c.parquet"), Options{})
	if err == nil || !strings.Contains(err.Error(), `column "id" is int32 in mem://test/a.parquet but utf8 in mem://test/c.parquet`) {
		t.Errorf("conflicting types: %v", err)
	}
}

func TestProjectionAndEventTime(t *testing.T) {
	st := newMemStore()
	st.put("ev.parquet", writeParquet(t, events(100, 1)))
	src, err := New(context.Background(), st, st.infos(t, "ev.parquet"), Options{Columns: []string{"user", "id"}, EventTime: "ts"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldList(src.Schema()); got != "user: utf8, id: int64, ts: timestamp[us, tz=UTC]" {
		t.Errorf("schema %s", got)
	}
	for _, bad := range []Options{
		{Columns: []string{"nope"}},
		{Columns: []string{"id", "id"}},
		{EventTime: "user"},
		{Filter: Filter{From: t0}},
		{Filter: Filter{And: []Pred{{Column: "user", Op: Lt, Value: 3}}}},
		{Filter: Filter{And: []Pred{{Column: "nope", Op: IsNull}}}},
	} {
		if _, err := New(context.Background(), st, st.infos(t, "ev.parquet"), bad); err == nil {
			t.Errorf("options %+v: no error", bad)
		}
	}
}

// TestResume reopens a split at every position it reported and checks that
// the rest of the rows are exactly those after it.
func TestResume(t *testing.T) {
	rows := events(6000, 9)
	st := newMemStore()
	st.put("ev.parquet", writeParquet(t, rows, parquet.MaxRowsPerRowGroup(1000), parquet.PageBufferSize(1<<10)))
	for _, noIndex := range []bool{false, true} {
		key := "ev.parquet"
		for _, f := range []Filter{{}, {And: []Pred{{Column: "n", Op: Gt, Value: 0}}}} {
			src, err := New(context.Background(), st, st.infos(t, key), Options{Filter: f, Columns: []string{"id"}, BatchRows: 333})
			if err != nil {
				t.Fatal(err)
			}
			src.noPageIndex = noIndex
			splits, _ := src.Splits(context.Background())
			all, err := readSplit(context.Background(), splits[0], 0)
			if err != nil {
				t.Fatal(err)
			}
			ids := idsOf(all)
			// Positions: any row index, including ones inside batches.
			for _, pos := range []int64{0, 1, 332, 333, 999, 1000, 1001, 2500, 5999, 6000} {
				rest, err := readSplit(context.Background(), splits[0], dataflow.Position(pos))
				if err != nil {
					t.Fatal(err)
				}
				var want []int64
				for _, id := range ids {
					if id >= pos {
						want = append(want, id)
					}
				}
				if got := idsOf(rest); !slices.Equal(got, want) {
					t.Fatalf("%s (no page index: %t), filter %s, from %d: %d rows, want %d", key, noIndex, f, pos, len(got), len(want))
				}
			}
		}
	}
}

func idsOf(recs []arrow.RecordBatch) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Column(r.Schema().FieldIndices("id")[0]).(*array.Int64).Int64Values()...)
	}
	return out
}

// TestCloseStopsWorkers closes readers in the middle of a file and checks
// that no goroutine is left behind and the byte budget is returned.
func TestCloseStopsWorkers(t *testing.T) {
	st := newMemStore()
	st.put("ev.parquet", writeParquet(t, events(50_000, 1), parquet.MaxRowsPerRowGroup(2000)))
	before := runtime.NumGoroutine()
	src, err := New(context.Background(), st, st.infos(t, "ev.parquet"), Options{BatchRows: 100, Prefetch: Prefetch{Units: 4}})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		splits, _ := src.Splits(ctx)
		rd, err := splits[0].Open(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := rd.Next(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		_ = rd.Close()
	}
	if used := src.budget.used; used != 0 {
		t.Errorf("%d budget bytes still held", used)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling for goroutines to exit, with a deadline
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines, %d before", n, before)
	}
}

func TestStorageErrors(t *testing.T) {
	st := newMemStore()
	data := writeParquet(t, events(1000, 1))
	st.put("ok.parquet", data)
	ctx := context.Background()

	// A listed object that has gone.
	info := st.info(t, "ok.parquet")
	info.Key = "gone.parquet"
	_, err := New(ctx, st, []storage.ObjectInfo{info}, Options{})
	if !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), "gone.parquet") {
		t.Errorf("missing object: %v", err)
	}

	// An object shorter than listed (truncated after listing).
	st.put("short.parquet", data[:len(data)/2])
	info = st.info(t, "ok.parquet")
	info.Key = "short.parquet"
	_, err = New(ctx, st, []storage.ObjectInfo{info}, Options{})
	if err == nil || !strings.Contains(err.Error(), "short.parquet") {
		t.Errorf("truncated object: %v", err)
	}

	// A read that fails after the footer was read.
	src, err := New(ctx, st, st.infos(t, "ok.parquet"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.setFail("ok.parquet")
	_, err = readSource(t, src)
	if err == nil || !strings.Contains(err.Error(), "injected read failure") || !strings.Contains(err.Error(), "mem://test/ok.parquet") {
		t.Errorf("failing read: %v", err)
	}

	if _, err := New(ctx, st, nil, Options{}); err == nil {
		t.Errorf("no files: no error")
	}
}

func TestCache(t *testing.T) {
	st := newMemStore()
	st.put("ev.parquet", writeParquet(t, events(10_000, 1), parquet.MaxRowsPerRowGroup(3000)))
	cache := storage.NewCache(64 << 20)
	defer cache.Close()
	var first []arrow.RecordBatch
	for i := range 3 {
		before := st.bytes.Load()
		src, err := New(context.Background(), st, st.infos(t, "ev.parquet"), Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readSource(t, src)
		if err != nil {
			t.Fatal(err)
		}
		cache.Wait()
		read := st.bytes.Load() - before
		switch i {
		case 0:
			first = recs
			if read == 0 {
				t.Errorf("first read: nothing read from the store")
			}
		default:
			if read != 0 {
				t.Errorf("read %d: %d bytes from the store; want all from the cache", i, read)
			}
			if !slices.Equal(idsOf(recs), idsOf(first)) {
				t.Errorf("cached read differs")
			}
		}
	}
}

// TestDataflowJob runs the source in the engine: several files, split over
// two subtasks, with an event time; a sorted history has no late rows.
func TestDataflowJob(t *testing.T) {
	st := newMemStore()
	rows := events(30_000, 4)
	var keys []string
	for i := range 3 {
		key := fmt.Sprintf("h/part-%d.parquet", i)
		st.put(key, writeParquet(t, rows[i*10_000:(i+1)*10_000], parquet.MaxRowsPerRowGroup(2500)))
		keys = append(keys, key)
	}
	src, err := New(context.Background(), st, st.infos(t, keys...), Options{Columns: []string{"id", "ts"}, EventTime: "ts", Filter: Filter{From: t0.Add(5 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	g := dataflow.NewGraph(2)
	in := g.Source("history", dataflow.SourceSpec{Source: src, EventTime: "ts", Watermarks: watermark.Strategy{Delay: time.Second}})
	out := in.Collect("out")
	late := in.Late().Collect("late")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := job.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if out.Rows() != 25_000 || late.Rows() != 0 {
		t.Errorf("%d rows on time and %d late, want 25000 and 0", out.Rows(), late.Rows())
	}
	if p := src.Progress().Snapshot(); p.SplitsDone != 3 || p.RowsDone != p.RowsTotal || p.RowsOut != 25_000 {
		t.Errorf("progress %+v", p)
	}
}

func TestOpenURL(t *testing.T) {
	type row struct {
		V int64 `parquet:"v"`
	}
	name := fmt.Sprintf("parquet-open-%d", time.Now().UnixNano())
	defer storage.DropMemory(name)
	m := storage.NamedMemory(name)
	ctx := context.Background()
	for key, rows := range map[string][]row{
		"wh/db=x/t/day=1/a.parquet": {{1}, {2}},
		"wh/db=x/t/day=2/b.parquet": {{3}},
		"wh/db=x/t/day=2/_SUCCESS":  nil,
		"wh/db=x/other.parquet":     {{9}},
	} {
		data := []byte{}
		if rows != nil {
			data = writeParquet(t, rows)
		}
		if err := storage.Put(ctx, m, key, data, storage.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	src, err := Open(ctx, "mem://"+name+"/wh/db=x/t/", Options{Partitions: Partitioning{Hive: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldList(src.Schema()); got != "v: int64, day: int64" {
		t.Errorf("schema %s (db=x is the table's location, not a partition)", got)
	}
	recs, err := readSource(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(columnValues(t, recs, "day"), " "); got != "1 1 2" {
		t.Errorf("days %s", got)
	}
	src, err = Open(ctx, "mem://"+name+"/wh/db=x/t/day=*/*.parquet", Options{Filter: Filter{And: []Pred{{Column: "v", Op: Gt, Value: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := readSource(t, src); countRows(recs) != 2 {
		t.Errorf("glob with filter: %d rows, want 2", countRows(recs))
	}
	if _, err := Open(ctx, "mem://"+name+"/nothing/*.parquet", Options{}); err == nil || !strings.Contains(err.Error(), "no files match") {
		t.Errorf("no match: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.parquet"), writeParquet(t, []row{{7}}), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err = Open(ctx, "file://"+filepath.ToSlash(dir)+"/*.parquet", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := readSource(t, src); countRows(recs) != 1 {
		t.Errorf("file URL: %d rows", countRows(recs))
	}
}
