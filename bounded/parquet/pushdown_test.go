package parquet

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/parquet-go/parquet-go"

	"github.com/weirdata/weir/dataflow"
)

// event is the row of the pushdown tests.
type event struct {
	ID   int64    `parquet:"id"`
	TS   int64    `parquet:"ts,timestamp(microsecond)"`
	User string   `parquet:"user"`
	Amt  *float64 `parquet:"amt"`
	Tag  *string  `parquet:"tag,dict"`
	N    *int32   `parquet:"n"`
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// events makes n rows: id and ts increase (ts by 1 ms), the others are
// random with some NULLs.
func events(n int, seed uint64) []event {
	rng := rand.New(rand.NewPCG(seed, 7))
	rows := make([]event, n)
	tags := []string{"red", "green", "blue", "cyan"}
	for i := range rows {
		e := event{ID: int64(i), TS: t0.UnixMicro() + int64(i)*1000, User: fmt.Sprintf("u%06d", rng.IntN(n*2))}
		if rng.IntN(10) > 0 {
			a := math.Round(rng.Float64()*10000) / 100
			e.Amt = &a
		}
		if rng.IntN(5) > 0 {
			e.Tag = &tags[rng.IntN(len(tags))]
		}
		if rng.IntN(7) > 0 {
			v := int32(rng.IntN(200) - 100)
			e.N = &v
		}
		rows[i] = e
	}
	return rows
}

// smallGroups writes many row groups and pages, with a page index and
// statistics (parquet-go's defaults) and a bloom filter on user.
var smallGroups = []parquet.WriterOption{
	parquet.MaxRowsPerRowGroup(2000),
	parquet.PageBufferSize(2 << 10),
	parquet.Compression(&parquet.Snappy),
	parquet.BloomFilters(parquet.SplitBlockFilter(10, "user")),
}

func TestPushdownNarrowTimeRange(t *testing.T) {
	rows := events(200_000, 1)
	st := newMemStore()
	st.put("ev.parquet", writeParquet(t, rows, parquet.MaxRowsPerRowGroup(20_000), parquet.PageBufferSize(16<<10), parquet.Compression(&parquet.Snappy)))
	from, to := t0.Add(100*time.Second), t0.Add(101*time.Second) // rows 100000..100999
	read := func(opts Options) (int64, ProgressSnapshot) {
		src, err := New(context.Background(), st, st.infos(t, "ev.parquet"), opts)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readSource(t, src)
		if err != nil {
			t.Fatal(err)
		}
		return countRows(recs), src.Progress().Snapshot()
	}
	allRows, full := read(Options{EventTime: "ts"})
	narrow := Options{EventTime: "ts", Filter: Filter{From: from, To: to}}
	n, pushed := read(narrow)
	narrow.NoPushdown = true
	n2, unpushed := read(narrow)
	if allRows != int64(len(rows)) || n != 1000 || n2 != 1000 {
		t.Fatalf("rows: all %d, with pushdown %d, without %d; want %d, 1000, 1000", allRows, n, n2, len(rows))
	}
	t.Logf("bytes read: full scan %d, narrow range without pushdown %d, with pushdown %d (%.2f%%)",
		full.BytesRead, unpushed.BytesRead, pushed.BytesRead, 100*float64(pushed.BytesRead)/float64(unpushed.BytesRead))
	if pushed.BytesRead*20 > unpushed.BytesRead {
		t.Errorf("pushdown read %d bytes, more than 5%% of the %d read without it", pushed.BytesRead, unpushed.BytesRead)
	}
	if pushed.RowGroupsPruned < 9 {
		t.Errorf("%d row groups pruned, want at least 9 of 10", pushed.RowGroupsPruned)
	}
	if pushed.RowsDone != pushed.RowsTotal || full.RowsDone != full.RowsTotal {
		t.Errorf("rows done/total: %d/%d and %d/%d", pushed.RowsDone, pushed.RowsTotal, full.RowsDone, full.RowsTotal)
	}
}

// TestFilterExact checks random filters: the rows returned with pushdown,
// without it, and by a reference evaluation over the rows must be the same.
func TestFilterExact(t *testing.T) {
	rows := events(20_000, 2)
	st := newMemStore()
	st.put("ev.parquet", writeParquet(t, rows, smallGroups...))
	infos := st.infos(t, "ev.parquet")
	rng := rand.New(rand.NewPCG(3, 4))
	pruned := int64(0)
	for iter := range 300 {
		var preds []Pred
		for range 1 + rng.IntN(3) {
			preds = append(preds, randomPred(rng, rows))
		}
		f := Filter{And: preds}
		if rng.IntN(4) == 0 {
			f.From = t0.Add(time.Duration(rng.IntN(20_000)) * time.Millisecond)
			f.To = f.From.Add(time.Duration(rng.IntN(5000)) * time.Millisecond)
		}
		var want []int64
		for _, r := range rows {
			if refMatch(f, r) {
				want = append(want, r.ID)
			}
		}
		for _, np := range []bool{false, true} {
			src, err := New(context.Background(), st, infos, Options{Filter: f, EventTime: "ts", NoPushdown: np, Columns: []string{"id"}, BatchRows: 1000})
			if err != nil {
				t.Fatalf("filter %s: %v", f, err)
			}
			src.noPageIndex = iter%3 == 1
			recs, err := readSource(t, src)
			if err != nil {
				t.Fatalf("filter %s: %v", f, err)
			}
			var got []int64
			for _, r := range recs {
				got = append(got, r.Column(0).(*array.Int64).Int64Values()...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("iteration %d, filter %s (no pushdown: %t): %d rows, want %d\n got %v\nwant %v", iter, f, np, len(got), len(want), head(got), head(want))
			}
			if !np {
				pruned += src.Progress().RowGroupsPruned.Load()
			}
		}
	}
	if pruned == 0 {
		t.Errorf("no filter pruned a row group")
	}
	t.Logf("%d row groups pruned over all filters", pruned)
}

func head(v []int64) []int64 { return v[:min(len(v), 20)] }

func randomPred(rng *rand.Rand, rows []event) Pred {
	ops := []Op{Eq, Ne, Lt, Le, Gt, Ge, In, IsNull, IsNotNull}
	op := ops[rng.IntN(len(ops))]
	r := rows[rng.IntN(len(rows))]
	p := Pred{Op: op}
	pick := func(vals ...any) any { return vals[rng.IntN(len(vals))] }
	switch rng.IntN(6) {
	case 0:
		p.Column = "id"
		p.Value = pick(r.ID, float64(r.ID)+0.5, int32(r.ID), uint64(r.ID))
		p.Values = []any{r.ID, r.ID + 7, int64(-1), float64(r.ID) + 0.25}
	case 1:
		p.Column = "ts"
		tm := time.UnixMicro(r.TS).UTC()
		p.Value = pick(tm, tm.Add(500*time.Microsecond), tm.Add(time.Nanosecond))
		p.Values = []any{tm, tm.Add(3 * time.Millisecond)}
	case 2:
		p.Column = "user"
		p.Value = pick(r.User, r.User+"x", "u", "v")
		p.Values = []any{r.User, "nobody", rows[rng.IntN(len(rows))].User}
	case 3:
		p.Column = "amt"
		v := 50.0
		if r.Amt != nil {
			v = *r.Amt
		}
		p.Value = pick(v, int64(v), math.NaN(), v+0.001)
		p.Values = []any{v, int64(10), 99.99}
	case 4:
		p.Column = "tag"
		p.Value = pick("red", "blue", "zzz", "")
		p.Values = []any{"green", "cyan", "nope"}
	case 5:
		p.Column = "n"
		p.Value = pick(int64(rng.IntN(200)-100), 2.5, -0.5, int64(1000))
		p.Values = []any{int64(0), int64(5), 1.5, int64(-100)}
	}
	return p
}

// refMatch evaluates f on one row, the reference for the source.
func refMatch(f Filter, r event) bool {
	ts := time.UnixMicro(r.TS)
	if !f.From.IsZero() && ts.Before(f.From) || !f.To.IsZero() && !ts.Before(f.To) {
		return false
	}
	for _, p := range f.And {
		var null bool
		var cmp func(v any) (int, bool) // compare the row's value with v
		switch p.Column {
		case "id":
			cmp = func(v any) (int, bool) { return cmpNum(float64(r.ID), v) }
		case "ts":
			cmp = func(v any) (int, bool) {
				c := v.(time.Time)
				return ts.Compare(c), true
			}
		case "user":
			cmp = func(v any) (int, bool) { return strings.Compare(r.User, v.(string)), true }
		case "amt":
			null = r.Amt == nil
			cmp = func(v any) (int, bool) { return cmpNum(*r.Amt, v) }
		case "tag":
			null = r.Tag == nil
			cmp = func(v any) (int, bool) { return strings.Compare(*r.Tag, v.(string)), true }
		case "n":
			null = r.N == nil
			cmp = func(v any) (int, bool) { return cmpNum(float64(*r.N), v) }
		}
		ok := false
		unordered := func(c int) bool { return c == 2 }
		switch p.Op {
		case IsNull:
			ok = null
		case IsNotNull:
			ok = !null
		case In:
			for _, v := range p.Values {
				if c, valid := cmpOrNull(null, cmp, v); valid && c == 0 {
					ok = true
				}
			}
		default:
			c, valid := cmpOrNull(null, cmp, p.Value)
			if !valid {
				break
			}
			if unordered(c) {
				ok = p.Op == Ne
				break
			}
			switch p.Op {
			case Eq:
				ok = c == 0
			case Ne:
				ok = c != 0
			case Lt:
				ok = c < 0
			case Le:
				ok = c <= 0
			case Gt:
				ok = c > 0
			case Ge:
				ok = c >= 0
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// cmpOrNull compares, reporting false for a NULL value or an unordered
// (NaN) comparison, which no comparison but != satisfies.
func cmpOrNull(null bool, cmp func(any) (int, bool), v any) (int, bool) {
	if null {
		return 0, false
	}
	return cmp(v)
}

func cmpNum(x float64, v any) (int, bool) {
	var c float64
	switch v := v.(type) {
	case int64:
		c = float64(v)
	case int32:
		c = float64(v)
	case uint64:
		c = float64(v)
	case float64:
		c = v
	}
	if math.IsNaN(c) {
		return 2, true // unordered: only != holds
	}
	switch {
	case x < c:
		return -1, true
	case x > c:
		return 1, true
	}
	return 0, true
}

func TestBloomFilterPrunes(t *testing.T) {
	type row struct {
		User string `parquet:"user"`
		V    int64  `parquet:"v"`
	}
	rows := make([]row, 40_000)
	for i := range rows {
		rows[i] = row{User: fmt.Sprintf("u%06d", i*2), V: int64(i)} // even numbers only
	}
	st := newMemStore()
	st.put("b.parquet", writeParquet(t, rows, parquet.MaxRowsPerRowGroup(10_000),
		parquet.BloomFilters(parquet.SplitBlockFilter(10, "user")), parquet.Compression(&parquet.Snappy)))
	read := func(f Filter) (int64, ProgressSnapshot) {
		src, err := New(context.Background(), st, st.infos(t, "b.parquet"), Options{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readSource(t, src)
		if err != nil {
			t.Fatal(err)
		}
		return countRows(recs), src.Progress().Snapshot()
	}
	// u012345 is within every... no: within the second row group's
	// min/max, so only the bloom filter can prune it.
	n, p := read(Filter{And: []Pred{{Column: "user", Op: Eq, Value: "u012345"}}})
	if n != 0 || p.RowGroupsPruned != 4 {
		t.Errorf("absent value: %d rows, %d row groups pruned; want 0 and 4 (3 by statistics, 1 by the bloom filter)", n, p.RowGroupsPruned)
	}
	n, p = read(Filter{And: []Pred{{Column: "user", Op: In, Values: []any{"u012346", "u012347"}}}})
	if n != 1 || p.RowGroupsPruned != 3 {
		t.Errorf("present value: %d rows, %d row groups pruned; want 1 and 3", n, p.RowGroupsPruned)
	}
}

func TestTimeBound(t *testing.T) {
	rows := events(50_000, 5)
	st := newMemStore()
	st.put("ev.parquet", writeParquet(t, rows, parquet.MaxRowsPerRowGroup(5_000), parquet.PageBufferSize(8<<10)))
	for _, f := range []Filter{{}, {From: t0.Add(7 * time.Second)}} {
		src, err := New(context.Background(), st, st.infos(t, "ev.parquet"), Options{EventTime: "ts", Filter: f, BatchRows: 1024})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		splits, _ := src.Splits(ctx)
		rd, err := splits[0].Open(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		close, batches := 0, 0
		for {
			_, pos, err := rd.Next(ctx)
			if err != nil {
				break
			}
			batches++
			b := int64(rd.(dataflow.TimeBounded).NextTimeBound())
			// The smallest event time still to come, in µs.
			next := int64(math.MaxInt64)
			for _, r := range rows[pos:] {
				if f.From.IsZero() || r.TS >= f.From.UnixMicro() {
					next = min(next, r.TS)
				}
			}
			if b > next {
				t.Fatalf("after row %d: bound %d above a later event time %d", pos, b, next)
			}
			if next-b <= 5_000_000 { // the row group's span
				close++
			}
		}
		_ = rd.Close()
		if close < batches*3/4 {
			t.Errorf("filter %s: the bound stays far behind: %d of %d batches close", f, close, batches)
		}
	}
}
