package parquet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/parquet-go/parquet-go"

	"github.com/weirdata/weir/storage"
)

// writerTypes are the Arrow types the writer writes and the reader maps
// back to themselves.
var writerTypes = []arrow.DataType{
	arrow.FixedWidthTypes.Boolean,
	arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
	arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
	arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
	arrow.BinaryTypes.String, arrow.BinaryTypes.Binary,
	arrow.FixedWidthTypes.Date32,
	&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
	&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
	&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"},
	&arrow.TimestampType{Unit: arrow.Microsecond},
}

// randomArray builds n random values of t, with NULLs at rate nulls.
func randomArray(r *rand.Rand, t arrow.DataType, n int, nulls float64) arrow.Array {
	b := array.NewBuilder(memory.DefaultAllocator, t)
	defer b.Release()
	for range n {
		if r.Float64() < nulls {
			b.AppendNull()
			continue
		}
		switch b := b.(type) {
		case *array.BooleanBuilder:
			b.Append(r.IntN(2) == 0)
		case *array.Int8Builder:
			b.Append(int8(r.Uint32()))
		case *array.Int16Builder:
			b.Append(int16(r.Uint32()))
		case *array.Int32Builder:
			b.Append(int32(r.Uint32()))
		case *array.Int64Builder:
			b.Append(int64(r.Uint64()))
		case *array.Uint8Builder:
			b.Append(uint8(r.Uint32()))
		case *array.Uint16Builder:
			b.Append(uint16(r.Uint32()))
		case *array.Uint32Builder:
			b.Append(r.Uint32())
		case *array.Uint64Builder:
			b.Append(r.Uint64())
		case *array.Float32Builder:
			b.Append(r.Float32()*2e6 - 1e6)
		case *array.Float64Builder:
			b.Append(r.NormFloat64() * 1e9)
		case *array.StringBuilder:
			b.Append(strings.Repeat(string(rune('a'+r.IntN(26))), r.IntN(12)))
		case *array.BinaryBuilder:
			v := make([]byte, r.IntN(9))
			for i := range v {
				v[i] = byte(r.Uint32())
			}
			b.Append(v)
		case *array.Date32Builder:
			b.Append(arrow.Date32(r.IntN(40000) - 10000))
		case *array.TimestampBuilder:
			b.Append(arrow.Timestamp(r.Int64N(4e12) - 1e12))
		default:
			panic(fmt.Sprintf("no generator for %T", b))
		}
	}
	return b.NewArray()
}

func randomBatch(r *rand.Rand, s *arrow.Schema, n int, nulls float64) arrow.RecordBatch {
	cols := make([]arrow.Array, s.NumFields())
	for i, f := range s.Fields() {
		p := nulls
		if !f.Nullable {
			p = 0
		}
		cols[i] = randomArray(r, f.Type, n, p)
	}
	return array.NewRecordBatch(s, cols, int64(n))
}

// renderAll renders every row of recs (columns of s, by name).
func renderAll(t testing.TB, recs []arrow.RecordBatch, s *arrow.Schema) []string {
	t.Helper()
	cols := make([][]string, s.NumFields())
	for i, f := range s.Fields() {
		cols[i] = columnValues(t, recs, f.Name)
	}
	var rows []string
	for r := range cols[0] {
		var sb strings.Builder
		for i := range cols {
			sb.WriteString(cols[i][r])
			sb.WriteByte('|')
		}
		rows = append(rows, sb.String())
	}
	return rows
}

func readBack(t testing.TB, url string, opts Options) ([]arrow.RecordBatch, *Source) {
	t.Helper()
	src, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := readSource(t, src)
	if err != nil {
		t.Fatal(err)
	}
	return recs, src
}

var memSeq int

func memURL(t testing.TB) (storage.Store, string) {
	memSeq++
	name := fmt.Sprintf("writer-%s-%d", strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), memSeq)
	return storage.NamedMemory(name), "mem://" + name + "/"
}

func TestWriterRoundTripAllTypes(t *testing.T) {
	ctx := context.Background()
	var fields []arrow.Field
	for i, typ := range writerTypes {
		fields = append(fields,
			arrow.Field{Name: fmt.Sprintf("c%d", i), Type: typ, Nullable: true},
			arrow.Field{Name: fmt.Sprintf("r%d", i), Type: typ})
	}
	schema := arrow.NewSchema(fields, nil)
	r := rand.New(rand.NewPCG(1, 2))
	store, url := memURL(t)
	w, err := NewWriter(store, schema, WriterOptions{Prefix: "t", RowGroupRows: 300, MaxFileRows: 1000, PageBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var in []arrow.RecordBatch
	for _, n := range []int{1, 700, 0, 1999, 64} {
		rec := randomBatch(r, schema, n, 0.2)
		in = append(in, rec)
		if err := w.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := store.List(ctx, "t/"); len(got) != 0 {
		t.Fatalf("files visible before Commit: %v", got)
	}
	files, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || files[0].Rows != 1000 || files[2].Rows != 764 {
		t.Fatalf("files = %+v, want 1000, 1000, 764 rows", files)
	}
	recs, src := readBack(t, url+"t/", Options{})
	for i, f := range src.Schema().Fields() {
		want := schema.Field(i)
		if f.Name != want.Name || !arrow.TypeEqual(f.Type, want.Type) || f.Nullable != want.Nullable {
			t.Errorf("field %d read back as %s, want %s", i, f, want)
		}
	}
	got, want := renderAll(t, recs, schema), renderAll(t, in, schema)
	if !slices.Equal(got, want) {
		t.Fatalf("read back %d rows, wrote %d; first difference:\n%s", len(got), len(want), firstRowDiff(got, want))
	}
}

func firstRowDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("row %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// TestWriterRoundTripRandom writes random schemas and batches, with random
// options, and reads them back.
func TestWriterRoundTripRandom(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		var fields []arrow.Field
		for i := range 1 + r.IntN(6) {
			fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", i), Type: writerTypes[r.IntN(len(writerTypes))], Nullable: r.IntN(3) > 0})
		}
		schema := arrow.NewSchema(fields, nil)
		opts := WriterOptions{
			Prefix:       "x/",
			ID:           fmt.Sprint(seed),
			Codec:        []string{"snappy", "zstd", "none"}[r.IntN(3)],
			RowGroupRows: int64(1 + r.IntN(500)),
			PageBytes:    64 + r.IntN(8<<10),
			MaxFileRows:  int64(r.IntN(2) * (1 + r.IntN(3000))),
			Dictionary:   r.IntN(2) == 0,
		}
		store, url := memURL(t)
		w, err := NewWriter(store, schema, opts)
		if err != nil {
			t.Fatal(err)
		}
		var in []arrow.RecordBatch
		total := 0
		for range 1 + r.IntN(5) {
			n := r.IntN(1500)
			total += n
			rec := randomBatch(r, schema, n, r.Float64())
			// Sometimes a slice, to exercise array offsets.
			if n > 2 && r.IntN(2) == 0 {
				rec = rec.NewSlice(1, int64(n-1))
				total -= 2
			}
			in = append(in, rec)
			if err := w.Write(ctx, rec); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
		if _, err := w.Close(ctx); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if total == 0 {
			if got, _ := store.List(ctx, ""); len(got) != 0 {
				t.Fatalf("seed %d: files for no rows: %v", seed, got)
			}
			continue
		}
		recs, _ := readBack(t, url+"x/", Options{})
		got, want := renderAll(t, recs, schema), renderAll(t, in, schema)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d (%+v, %s): %s", seed, opts, schema, firstRowDiff(got, want))
		}
	}
}

// TestWriterVisibility: nothing is visible under the location before
// Commit, on the local store (staging, then rename) and after Abort.
func TestWriterVisibility(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	r := rand.New(rand.NewPCG(3, 4))
	w, err := NewWriter(store, schema, WriterOptions{Prefix: "t/", MaxFileRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, randomBatch(r, schema, 250, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Precommit(ctx); err != nil {
		t.Fatal(err)
	}
	parquetFiles := func() []string {
		var out []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".parquet") {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		return out
	}
	if got := parquetFiles(); len(got) != 0 {
		t.Fatalf("parquet files before Commit: %v", got)
	}
	files, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"t/part-0-000000.parquet", "t/part-0-000001.parquet", "t/part-0-000002.parquet"}
	if got := parquetFiles(); !slices.Equal(got, want) || len(files) != 3 {
		t.Fatalf("after Commit: %v (returned %+v), want %v", got, files, want)
	}
	// More rows, then Abort: nothing new appears.
	if err := w.Write(ctx, randomBatch(r, schema, 50, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if got := parquetFiles(); !slices.Equal(got, want) {
		t.Fatalf("after Abort: %v, want %v", got, want)
	}
	// A second writer with the same ID does not replace a file.
	w2, _ := NewWriter(store, schema, WriterOptions{Prefix: "t/"})
	if err := w2.Write(ctx, randomBatch(r, schema, 5, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Close(ctx); err == nil {
		t.Fatal("a writer committed over an existing file")
	}
}

func TestWriterPartitionsAndLineage(t *testing.T) {
	ctx := context.Background()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	base := time.Date(2026, 1, 1, 22, 0, 0, 0, time.UTC)
	store, url := memURL(t)
	w, err := NewWriter(store, schema, WriterOptions{Prefix: "h", PartitionBy: "ts", PartitionHourly: true, Lineage: true, ID: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300 // one row every 1 min: 22:00 … 02:59, five hours over two days
	ts, vs, pos := make([]arrow.Timestamp, n), make([]int64, n), make([]int64, n)
	for i := range n {
		ts[i] = arrow.Timestamp(base.Add(time.Duration(i) * time.Minute).UnixMicro())
		vs[i], pos[i] = int64(i), int64(10+i)
	}
	tb := array.NewTimestampBuilder(memory.DefaultAllocator, schema.Field(0).Type.(*arrow.TimestampType))
	tb.AppendValues(ts, nil)
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.AppendValues(vs, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{tb.NewArray(), ib.NewArray()}, n)
	if err := w.WriteLineage(ctx, rec, "split-a", pos); err != nil {
		t.Fatal(err)
	}
	files, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range files {
		keys = append(keys, f.Key)
	}
	want := []string{
		"h/date=2026-01-01/hour=22/part-w1-000000.parquet",
		"h/date=2026-01-01/hour=23/part-w1-000001.parquet",
		"h/date=2026-01-02/hour=00/part-w1-000002.parquet",
		"h/date=2026-01-02/hour=01/part-w1-000003.parquet",
		"h/date=2026-01-02/hour=02/part-w1-000004.parquet",
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("files %v, want %v", keys, want)
	}
	recs, src := readBack(t, url+"h/", Options{Partitions: Partitioning{Hive: true}})
	if got := src.Schema().Field(2).Name; got != SplitColumn {
		t.Fatalf("schema %s: no lineage columns", src.Schema())
	}
	if countRows(recs) != n {
		t.Fatalf("%d rows, want %d", countRows(recs), n)
	}
	p := columnValues(t, recs, PositionColumn)
	s := columnValues(t, recs, SplitColumn)
	h := columnValues(t, recs, "hour")
	if p[0] != "10" || p[n-1] != fmt.Sprint(9+n) || s[0] != `"split-a"` || h[0] != "22" || h[n-1] != "2" {
		t.Fatalf("positions %s … %s, split %s, hours %s … %s", p[0], p[n-1], s[0], h[0], h[n-1])
	}
}

// TestWriterPushdown: files from the writer carry row-group statistics,
// the page index and bloom filters, and the reader prunes with them.
func TestWriterPushdown(t *testing.T) {
	ctx := context.Background()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	store, url := memURL(t)
	w, err := NewWriter(store, schema, WriterOptions{RowGroupRows: 10_000, PageBytes: 8 << 10, BloomFilters: []string{"name"}, Codec: "none"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	kb := array.NewInt64Builder(memory.DefaultAllocator)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	for i := range n {
		kb.Append(int64(i))
		sb.Append(fmt.Sprintf("name-%d", i%977))
	}
	if err := w.Write(ctx, array.NewRecordBatch(schema, []arrow.Array{kb.NewArray(), sb.NewArray()}, n)); err != nil {
		t.Fatal(err)
	}
	files, err := w.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The footer has statistics and a page index for every column.
	data, err := storage.ReadAll(ctx, store, files[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pq.OpenFile(readerAtBytes(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	if len(md.RowGroups) != 10 {
		t.Fatalf("%d row groups, want 10", len(md.RowGroups))
	}
	for _, c := range md.RowGroups[3].Columns {
		st := c.MetaData.Statistics
		if len(st.MinValue) == 0 || len(st.MaxValue) == 0 || c.ColumnIndexLength == 0 || c.OffsetIndexLength == 0 {
			t.Fatalf("column %v: statistics %+v, column index %d bytes, offset index %d bytes", c.MetaData.PathInSchema, st, c.ColumnIndexLength, c.OffsetIndexLength)
		}
	}
	if md.RowGroups[0].Columns[1].MetaData.BloomFilterOffset == 0 {
		t.Fatal("no bloom filter on name")
	}

	// Statistics prune row groups, the page index pages.
	recs, src := readBack(t, url, Options{Filter: Filter{And: []Pred{{Column: "k", Op: Ge, Value: 42_000}, {Column: "k", Op: Lt, Value: 42_100}}}})
	if countRows(recs) != 100 {
		t.Fatalf("%d rows, want 100", countRows(recs))
	}
	pr := src.Progress().Snapshot()
	if pr.RowGroupsPruned != 9 || pr.BytesRead > files[0].Bytes/10 {
		t.Fatalf("pruned %d row groups, read %d of %d bytes", pr.RowGroupsPruned, pr.BytesRead, files[0].Bytes)
	}
	// Bloom filters prune row groups on =: no row has this name.
	recs, src = readBack(t, url, Options{Filter: Filter{And: []Pred{{Column: "name", Op: Eq, Value: "nobody"}}}})
	if countRows(recs) != 0 || src.Progress().Snapshot().RowGroupsPruned != 10 {
		t.Fatalf("%d rows, %d row groups pruned", countRows(recs), src.Progress().Snapshot().RowGroupsPruned)
	}
}

type readerAtBytes []byte

func (b readerAtBytes) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, fmt.Errorf("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, fmt.Errorf("EOF")
	}
	return n, nil
}

func TestWriterErrors(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := NewWriter(store, schema, WriterOptions{Codec: "lzo"}); err == nil || !strings.Contains(err.Error(), "unknown codec") {
		t.Errorf("codec lzo: %v", err)
	}
	dur := arrow.NewSchema([]arrow.Field{{Name: "d", Type: arrow.FixedWidthTypes.Duration_us}}, nil)
	if _, err := NewWriter(store, dur, WriterOptions{}); err == nil || !strings.Contains(err.Error(), `column "d"`) {
		t.Errorf("duration column: %v", err)
	}
	w, _ := NewWriter(store, schema, WriterOptions{})
	nullable := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	r := rand.New(rand.NewPCG(1, 1))
	if err := w.Write(ctx, randomBatch(r, nullable, 100, 0.5)); err == nil || !strings.Contains(err.Error(), "NOT NULL") {
		t.Errorf("NULL into NOT NULL: %v", err)
	}
	if got, _ := store.List(ctx, ""); len(got) != 0 {
		t.Errorf("a failed write left %v", got)
	}
}

// BenchmarkWriter measures the writer on a Nexmark-like bid batch: three
// int64s, a timestamp, two short strings.
func BenchmarkWriter(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "auction", Type: arrow.PrimitiveTypes.Int64},
		{Name: "bidder", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: arrow.PrimitiveTypes.Int64},
		{Name: "channel", Type: arrow.BinaryTypes.String},
		{Name: "date_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "extra", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	const n = 1 << 16
	r := rand.New(rand.NewPCG(1, 2))
	rec := randomBatch(r, schema, n, 0.1)
	var raw int64
	for _, c := range rec.Columns() {
		for _, buf := range c.Data().Buffers() {
			if buf != nil {
				raw += int64(buf.Len())
			}
		}
	}
	for _, codec := range []string{"none", "snappy", "zstd"} {
		b.Run("codec="+codec, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(raw * 16)
			var written int64
			cpu0 := cpuTime()
			for b.Loop() {
				store := storage.NewMemory()
				w, err := NewWriter(store, schema, WriterOptions{Codec: codec})
				if err != nil {
					b.Fatal(err)
				}
				for range 16 {
					if err := w.Write(ctx, rec); err != nil {
						b.Fatal(err)
					}
				}
				files, err := w.Close(ctx)
				if err != nil {
					b.Fatal(err)
				}
				written = files[0].Bytes
			}
			// CPU time, not the wall clock: on a busy machine it measures
			// the writer's work (one goroutine) better.
			cpu := (cpuTime() - cpu0).Seconds()
			b.ReportMetric(float64(16*n)*float64(b.N)/cpu, "rows/cpu-s")
			b.ReportMetric(float64(raw*16)*float64(b.N)/cpu/1e6, "MB/cpu-s")
			b.ReportMetric(float64(written), "file-bytes")
		})
	}
}
