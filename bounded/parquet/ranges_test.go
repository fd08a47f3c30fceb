package parquet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRanges: the lineage columns' ranges per file come from the footers
// (long split IDs are not truncated), over the row groups the filter keeps,
// and unsupported columns are refused by name.
func TestRanges(t *testing.T) {
	ctx := context.Background()
	tsType := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: tsType},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store, url := memURL(t)
	// Two writers, two splits with long IDs; split b's file rolls over.
	splitA := "nexmark/bids/seed=1/0-of-4/" + strings.Repeat("x", 40)
	splitB := "nexmark/bids/seed=1/1-of-4/" + strings.Repeat("y", 40)
	for _, w := range []struct {
		id, split string
		first     int64
	}{{"a", splitA, 0}, {"b", splitB, 1000}} {
		wr, err := NewWriter(store, schema, WriterOptions{ID: w.id, Lineage: true, RowGroupRows: 100, MaxFileRows: 300})
		if err != nil {
			t.Fatal(err)
		}
		const n = 500
		tb := array.NewTimestampBuilder(memory.DefaultAllocator, tsType)
		fb := array.NewFloat64Builder(memory.DefaultAllocator)
		pos := make([]int64, n)
		for i := range n {
			tb.Append(arrow.Timestamp(base.Add(time.Duration(w.first+int64(i)) * time.Second).UnixMilli()))
			fb.Append(float64(i))
			pos[i] = w.first + 3*int64(i)
		}
		if err := wr.WriteLineage(ctx, array.NewRecordBatch(schema, []arrow.Array{tb.NewArray(), fb.NewArray()}, n), w.split, pos); err != nil {
			t.Fatal(err)
		}
		if _, err := wr.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	src, err := Open(ctx, url, Options{EventTime: "ts"})
	if err != nil {
		t.Fatal(err)
	}
	splits, err := src.Ranges(SplitColumn)
	if err != nil {
		t.Fatal(err)
	}
	positions, err := src.Ranges(PositionColumn)
	if err != nil {
		t.Fatal(err)
	}
	times, err := src.Ranges("ts")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		file               string
		split              string
		rows, minPos, maxP int64
		maxTime            time.Time
	}
	wants := []want{
		{"part-a-000000.parquet", splitA, 300, 0, 897, base.Add(299 * time.Second)},
		{"part-a-000001.parquet", splitA, 200, 900, 1497, base.Add(499 * time.Second)},
		{"part-b-000000.parquet", splitB, 300, 1000, 1897, base.Add(1299 * time.Second)},
		{"part-b-000001.parquet", splitB, 200, 1900, 2497, base.Add(1499 * time.Second)},
	}
	if len(splits) != len(wants) {
		t.Fatalf("%d files, want %d", len(splits), len(wants))
	}
	for i, w := range wants {
		s, p, tm := splits[i], positions[i], times[i]
		if !strings.HasSuffix(s.File, w.file) || s.File != p.File || s.Rows != w.rows || !s.Known || !p.Known || !tm.Known {
			t.Fatalf("file %d: %+v %+v %+v, want %s with %d rows", i, s, p, tm, w.file, w.rows)
		}
		if s.Min != w.split || s.Max != w.split {
			t.Errorf("%s: split range [%v, %v], want %s", w.file, s.Min, s.Max, w.split)
		}
		if p.Min != w.minPos || p.Max != w.maxP {
			t.Errorf("%s: positions [%v, %v], want [%d, %d]", w.file, p.Min, p.Max, w.minPos, w.maxP)
		}
		if tm.Max != w.maxTime {
			t.Errorf("%s: max time %v, want %v", w.file, tm.Max, w.maxTime)
		}
	}

	// A filter prunes row groups: the ranges cover the rest only.
	src, err = Open(ctx, url, Options{EventTime: "ts", Filter: Filter{From: base.Add(1400 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	if positions, err = src.Ranges(PositionColumn); err != nil {
		t.Fatal(err)
	}
	if len(positions) != 1 || positions[0].Rows != 100 || positions[0].Min != int64(2200) || positions[0].Max != int64(2497) {
		t.Fatalf("after the filter: %+v, want one file with 100 rows at positions [2200, 2497]", positions)
	}

	if _, err := src.Ranges("f"); err == nil || !strings.Contains(err.Error(), `"f"`) {
		t.Errorf("ranges of a float column: %v, want an error naming it", err)
	}
	if _, err := src.Ranges("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("ranges of a missing column: %v, want an error naming it", err)
	}
}
