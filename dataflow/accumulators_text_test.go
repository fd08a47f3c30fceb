package dataflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

var textSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: columnar.TimestampType},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

var textAggs = []Agg{{Func: Min, Column: "s", As: "lo"}, {Func: Max, Column: "s", As: "hi"}}

// textBatch builds rows of (k, ts, s); a nil *string is NULL.
func textBatch(k []int64, s []*string) arrow.RecordBatch {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	for _, v := range s {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(*v)
		}
	}
	ts := make([]int64, len(k))
	for i := range ts {
		ts[i] = int64(i) * 100_000
	}
	return columnar.Record(textSchema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts), b.NewStringArray()}, len(k))
}

func str(s string) *string { return &s }

// textOut prints slots' min and max, NULL for NULL.
func textOut(a *accumulators, slots ...int32) string {
	cols := a.output(a.outputFields(textAggs), slots)
	var out []string
	for i := range slots {
		out = append(out, cols[0].ValueStr(i)+" "+cols[1].ValueStr(i))
	}
	return strings.Join(out, "; ")
}

// Text min and max order by bytes (UTF-8 code units, Postgres' C
// collation): "" < "Z" < "a" < "z" < "ä" < "é" < "日"; NULLs are skipped,
// and a slot with no value answers NULL.
func TestTextMinMax(t *testing.T) {
	acc, err := newAccumulators(textSchema, textAggs)
	if err != nil {
		t.Fatal(err)
	}
	acc.grow(3)
	rec := textBatch([]int64{0, 1, 0, 2, 2, 0, 1, 2, 2},
		[]*string{str("b"), nil, str(""), str("Z"), str("a"), str("é"), nil, str("日"), str("z")})
	slots := []int32{0, 1, 0, 2, 2, 0, 1, 2, 2}
	if err := acc.add(rec, slots); err != nil {
		t.Fatal(err)
	}
	if got, want := textOut(acc, 0, 1, 2), " é; (null) (null); Z 日"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if f := acc.outputFields(textAggs); !arrow.TypeEqual(f[0].Type, arrow.BinaryTypes.String) || !f[1].Nullable {
		t.Fatalf("fields %v", f)
	}
	// Session windows that grow together merge their slots.
	acc.merge(1, 2)
	acc.merge(0, 2)
	if got, want := textOut(acc, 0, 1), " 日; Z 日"; got != want {
		t.Fatalf("after merge: got %q, want %q", got, want)
	}
	if acc.sameOutput(0, 1) || !acc.sameOutput(1, 2) {
		t.Fatal("sameOutput")
	}
	acc.reset(1)
	if got, want := textOut(acc, 1), "(null) (null)"; got != want {
		t.Fatalf("after reset: got %q, want %q", got, want)
	}
	// Rows that do not change the result allocate nothing.
	if n := testing.AllocsPerRun(10, func() { _ = acc.add(rec, slots) }); n != 0 {
		t.Errorf("add allocates %v times per batch", n)
	}
	// Sum of text stays refused.
	if _, err := newAccumulators(textSchema, []Agg{{Func: Sum, Column: "s", As: "x"}}); err == nil {
		t.Fatal("sum(text) accepted")
	}
}

// With tracking on (an updating input), retracting the extreme finds the
// next one; retracting every value gives NULL; a value never added is an
// error.
func TestTextMinMaxRetract(t *testing.T) {
	acc, err := newAccumulators(textSchema, textAggs)
	if err != nil {
		t.Fatal(err)
	}
	acc.track = true
	acc.grow(2)
	rec := textBatch([]int64{0, 0, 0, 0, 0}, []*string{str("m"), str("ä"), str(""), str("m"), nil})
	if err := acc.add(rec, []int32{0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		row  int
		want string
	}{
		{2, "m ä"},           // the minimum ""
		{4, "m ä"},           // NULL: nothing to take back
		{1, "m m"},           // the maximum ä
		{0, "m m"},           // one of two m
		{3, "(null) (null)"}, // the last value
	}
	for _, st := range steps {
		if err := acc.retract(rec, st.row, 0); err != nil {
			t.Fatal(err)
		}
		if got := textOut(acc, 0); got != st.want {
			t.Fatalf("after retracting row %d: got %q, want %q", st.row, got, st.want)
		}
	}
	if err := acc.retract(rec, 0, 0); err == nil || !strings.Contains(err.Error(), `"m" never added`) {
		t.Fatalf("retracting a value never added: %v", err)
	}
	// copySlot (a changelog's shadow row) copies the multiset too.
	if err := acc.add(rec, []int32{0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	acc.reset(1)
	acc.merge(1, 0)
	if err := acc.retract(rec, 2, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := textOut(acc, 0, 1), " ä; m ä"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

type collectOut struct{ rows []string }

func (c *collectOut) Emit(_ context.Context, b Batch) error {
	for r := 0; r < b.Len(); r++ {
		var cells []string
		for _, col := range b.Rec.Columns() {
			cells = append(cells, col.ValueStr(r))
		}
		row := strings.Join(cells, "|")
		if b.Op(r) == Retract {
			row = "-" + row
		}
		c.rows = append(c.rows, row)
	}
	return nil
}

// Slots with text min and max (tracked or not) snapshot and restore: the
// restored operator snapshots to the same bytes, answers the same rows,
// and still takes back values (its multisets came back too).
func TestTextMinMaxSnapshotRoundTrip(t *testing.T) {
	ops := map[string]func() snapOp{
		"group": func() snapOp {
			return &groupAggOp{spec: GroupAggSpec{Keys: []string{"k"}, Aggs: textAggs, EmitAtEnd: true, UpdatingInput: true}}
		},
		"window": func() snapOp {
			return &windowAggOp{spec: WindowAggSpec{Keys: []string{"k"}, TimeColumn: "ts", Window: Tumble(time.Second), Aggs: textAggs}}
		},
	}
	rec := textBatch([]int64{1, 2, 1, 1, 3, 2}, []*string{str("b"), nil, str(""), str("日本"), nil, str("ü")})
	ctx := context.Background()
	for name, newOp := range ops {
		run := func(restore map[int][]byte) (map[int][]byte, []string) {
			op, out := newOp(), &collectOut{}
			tc := testTC()
			tc.Out = out
			if err := op.Open(tc); err != nil {
				t.Fatal(err)
			}
			if restore == nil {
				if err := op.ProcessBatch(ctx, 0, Inserts(rec)); err != nil {
					t.Fatal(err)
				}
			}
			for kg, b := range restore {
				if err := op.RestoreKeyGroup(kg, b); err != nil {
					t.Fatalf("%s: restore: %v", name, err)
				}
			}
			blobs, err := op.SnapshotKeyGroups(ctx, Barrier{ID: 1})
			if err != nil {
				t.Fatal(err)
			}
			if name == "group" {
				// Take back k=1's maximum, 日本.
				if err := op.ProcessBatch(ctx, 0, Batch{Rec: rec.NewSlice(3, 4), Ops: []Op{Retract}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := op.ProcessWatermark(ctx, watermark.Time(10_000_000)); err != nil {
				t.Fatal(err)
			}
			if err := op.Finish(ctx); err != nil {
				t.Fatal(err)
			}
			slices.Sort(out.rows)
			return blobs, out.rows
		}
		blobs, want := run(nil)
		again, got := run(blobs)
		sameSnapshot(t, name, again, blobs)
		if !slices.Equal(got, want) {
			t.Errorf("%s: restored operator answers\n%v\nwant\n%v", name, got, want)
		}
		wantRows := map[string]string{
			"group":  "1||b\n2|ü|ü\n3|(null)|(null)",
			"window": "1|1970-01-01T00:00:00Z|1970-01-01T00:00:01Z||日本\n2|1970-01-01T00:00:00Z|1970-01-01T00:00:01Z|ü|ü\n3|1970-01-01T00:00:00Z|1970-01-01T00:00:01Z|(null)|(null)",
		}[name]
		if g := strings.Join(want, "\n"); g != wantRows {
			t.Errorf("%s: got\n%s\nwant\n%s", name, g, wantRows)
		}
	}
}

// BenchmarkTextMinMax folds 8,192 rows into 64 slots; after the first
// batch few rows change an extreme, so an untracked add allocates nothing.
func BenchmarkTextMinMax(b *testing.B) {
	n := 8192
	k, s := make([]int64, n), make([]*string, n)
	slots := make([]int32, n)
	for i := range n {
		k[i], slots[i] = int64(i%64), int32(i%64)
		s[i] = str(fmt.Sprintf("name-%05d-é", i*7919%n))
	}
	rec := textBatch(k, s)
	for _, track := range []bool{false, true} {
		b.Run(fmt.Sprintf("track=%v", track), func(b *testing.B) {
			acc, err := newAccumulators(textSchema, textAggs)
			if err != nil {
				b.Fatal(err)
			}
			acc.track = track
			acc.grow(64)
			b.ReportAllocs()
			for b.Loop() {
				if err := acc.add(rec, slots); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
