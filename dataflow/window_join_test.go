package dataflow_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// A window join through whole jobs: source → AssignWindows → (keyed by the
// join) → WindowJoin → Collect.

var (
	joinLeftSchema = arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ts", Type: columnar.TimestampType},
		{Name: "v", Type: arrow.BinaryTypes.String},
	}, nil)
	joinRightSchema = arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ts", Type: columnar.TimestampType},
		{Name: "w", Type: arrow.BinaryTypes.String},
	}, nil)
)

// joinRow is a row of joinLeftSchema or joinRightSchema: key (nil = NULL), seconds, value.
type joinRow struct {
	k  *int64
	ts int64
	s  string
}

func keyPtr(k int64) *int64 { return &k }

// joinBatch builds a batch of schema from rows.
func joinBatch(schema *arrow.Schema, rs []joinRow) arrow.RecordBatch {
	kb := array.NewInt64Builder(memory.DefaultAllocator)
	ts := make([]int64, len(rs))
	ss := make([]string, len(rs))
	for i, r := range rs {
		if r.k == nil {
			kb.AppendNull()
		} else {
			kb.Append(*r.k)
		}
		ts[i], ss[i] = r.ts*1_000_000, r.s
	}
	return columnar.Record(schema, []arrow.Array{kb.NewArray(), columnar.Timestamps(ts), columnar.StringsOf(ss)}, len(rs))
}

// splitJoinRows cuts each split's rows into batches of size at most bs.
func splitJoinRows(schema *arrow.Schema, splits [][]joinRow, bs int) [][]arrow.RecordBatch {
	parts := make([][]arrow.RecordBatch, len(splits))
	for i, rs := range splits {
		for lo := 0; lo < len(rs); lo += bs {
			parts[i] = append(parts[i], joinBatch(schema, rs[lo:min(lo+bs, len(rs))]))
		}
	}
	return parts
}

// foldChangelog folds the collected changelog into a sorted list of rows.
func foldChangelog(t testing.TB, c *dataflow.Collector) []string {
	t.Helper()
	count := map[string]int{}
	for _, b := range c.Batches() {
		for i := range b.Len() {
			vals := make([]string, b.Rec.NumCols())
			for j, col := range b.Rec.Columns() {
				vals[j] = formatWindowCell(col, i)
			}
			row := strings.Join(vals, " ")
			if b.Op(i) == dataflow.Retract {
				count[row]--
			} else {
				count[row]++
			}
		}
	}
	var out []string
	for row, n := range count {
		if n < 0 {
			t.Fatalf("row %q retracted more often than inserted", row)
		}
		for range n {
			out = append(out, row)
		}
	}
	slices.Sort(out)
	return out
}

// formatWindowCell prints a value; timestamps in seconds.
func formatWindowCell(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "null"
	}
	if a.DataType().ID() == arrow.TIMESTAMP {
		return fmt.Sprint(columnar.Int64Values(a)[i] / 1_000_000)
	}
	return a.ValueStr(i)
}

func runWindowJob(t testing.TB, g *dataflow.Graph) *dataflow.Job {
	t.Helper()
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return job
}

// joinNoLateness lets every record of these tests be on time.
var joinNoLateness = watermark.Strategy{Delay: time.Hour}

// joinJob runs a 10 s tumbling window join of left and right splits.
func joinJob(t testing.TB, p, bs int, left, right [][]joinRow, spec dataflow.WindowJoinSpec, keyed bool) []string {
	g := dataflow.NewGraph(p)
	l := g.Source("left", dataflow.SourceSpec{Source: &bounded.Memory{Sch: joinLeftSchema, Parts: splitJoinRows(joinLeftSchema, left, bs)}, EventTime: "ts", Watermarks: joinNoLateness}).
		AssignWindows("left-windows", "ts", dataflow.Tumble(10*time.Second))
	r := g.Source("right", dataflow.SourceSpec{Source: &bounded.Memory{Sch: joinRightSchema, Parts: splitJoinRows(joinRightSchema, right, bs)}, EventTime: "ts", Watermarks: joinNoLateness}).
		AssignWindows("right-windows", "ts", dataflow.Tumble(10*time.Second))
	var li, ri dataflow.Input = l, r
	if keyed {
		li, ri = l.KeyBy(spec.LeftKeys...), r.KeyBy(spec.RightKeys...)
	}
	out := g.WindowJoin("join", p, li, ri, spec).Collect("out")
	runWindowJob(t, g)
	return foldChangelog(t, out)
}

func TestWindowJoinJob(t *testing.T) {
	left := [][]joinRow{
		{{keyPtr(1), 1, "a"}, {keyPtr(2), 3, "b"}, {keyPtr(1), 12, "c"}, {nil, 4, "n"}},
		{{keyPtr(1), 5, "d"}, {keyPtr(3), 15, "e"}},
	}
	right := [][]joinRow{
		{{keyPtr(1), 2, "x"}, {keyPtr(1), 9, "y"}, {keyPtr(3), 11, "z"}, {nil, 5, "m"}},
		{{keyPtr(2), 19, "late-window"}, {keyPtr(1), 13, "w"}},
	}
	spec := dataflow.WindowJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"}}
	// Columns: k ts v window_start window_end right_k right_ts w.
	want := []string{
		"1 1 a 0 10 1 2 x",
		"1 1 a 0 10 1 9 y",
		"1 12 c 10 20 1 13 w",
		"1 5 d 0 10 1 2 x",
		"1 5 d 0 10 1 9 y",
		"3 15 e 10 20 3 11 z",
	}
	for _, p := range []int{1, 3} {
		for _, bs := range []int{1, 2, 100} {
			for _, keyed := range []bool{false, true} {
				t.Run(fmt.Sprintf("p=%d/batch=%d/keyed=%v", p, bs, keyed), func(t *testing.T) {
					if got := joinJob(t, p, bs, left, right, spec, keyed); !slices.Equal(got, want) {
						t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
					}
				})
			}
		}
	}
}

func TestWindowJoinJobOuterNullKeys(t *testing.T) {
	left := [][]joinRow{{{keyPtr(1), 1, "a"}, {nil, 2, "n"}, {keyPtr(2), 3, "b"}}}
	right := [][]joinRow{{{keyPtr(1), 4, "x"}, {nil, 5, "m"}, {keyPtr(9), 25, "z"}}}
	spec := dataflow.WindowJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"}, Kind: dataflow.FullOuterJoin,
		LeftSchema: windowedSchema(joinLeftSchema), RightSchema: windowedSchema(joinRightSchema)}
	want := []string{
		"1 1 a 0 10 1 4 x",
		"2 3 b 0 10 null null null",
		"null 2 n 0 10 null null null",
		"null null null 0 10 null 5 m",
		"null null null 20 30 9 25 z",
	}
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprintf("p=%d", p), func(t *testing.T) {
			if got := joinJob(t, p, 1, left, right, spec, false); !slices.Equal(got, want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// windowedSchema is the schema AssignWindows gives.
func windowedSchema(s *arrow.Schema) *arrow.Schema {
	return arrow.NewSchema(append(slices.Clone(s.Fields()),
		arrow.Field{Name: dataflow.WindowStartColumn, Type: columnar.TimestampType},
		arrow.Field{Name: dataflow.WindowEndColumn, Type: columnar.TimestampType}), nil)
}

// TestWindowJoinJobRandom compares joins at several parallelisms and batch
// sizes with a nested-loop reference, with and without keys.
func TestWindowJoinJobRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(n int, tag string) [][]joinRow {
		splits := make([][]joinRow, 3)
		for i := range n {
			r := joinRow{k: keyPtr(rng.Int64N(8)), ts: rng.Int64N(60), s: fmt.Sprintf("%s%d", tag, i)}
			if rng.IntN(10) == 0 {
				r.k = nil
			}
			splits[i%3] = append(splits[i%3], r)
		}
		return splits
	}
	left, right := gen(300, "l"), gen(200, "r")
	reference := func(keys bool) []string {
		var out []string
		for _, ls := range left {
			for _, l := range ls {
				for _, rs := range right {
					for _, r := range rs {
						if l.ts/10 != r.ts/10 || keys && (l.k == nil || r.k == nil || *l.k != *r.k) {
							continue
						}
						ws := l.ts / 10 * 10
						out = append(out, fmt.Sprintf("%s %d %s %d %d %s %d %s", formatKeyPtr(l.k), l.ts, l.s, ws, ws+10, formatKeyPtr(r.k), r.ts, r.s))
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	for _, keys := range []bool{true, false} {
		spec := dataflow.WindowJoinSpec{}
		if keys {
			spec.LeftKeys, spec.RightKeys = []string{"k"}, []string{"k"}
		}
		want := reference(keys)
		for _, p := range []int{1, 2, 4} {
			for _, bs := range []int{7, 64} {
				t.Run(fmt.Sprintf("keys=%v/p=%d/batch=%d", keys, p, bs), func(t *testing.T) {
					got := joinJob(t, p, bs, left, right, spec, false)
					if !slices.Equal(got, want) {
						t.Fatalf("%d rows, want %d", len(got), len(want))
					}
				})
			}
		}
	}
}

func formatKeyPtr(k *int64) string {
	if k == nil {
		return "null"
	}
	return fmt.Sprint(*k)
}

func TestWindowJoinMisKeyed(t *testing.T) {
	g := dataflow.NewGraph(2)
	l := g.Source("left", dataflow.SourceSpec{Source: &bounded.Memory{Sch: joinLeftSchema, Parts: splitJoinRows(joinLeftSchema, [][]joinRow{{{keyPtr(1), 1, "a"}}}, 1)}, EventTime: "ts"}).
		AssignWindows("lw", "ts", dataflow.Tumble(10*time.Second))
	r := g.Source("right", dataflow.SourceSpec{Source: &bounded.Memory{Sch: joinRightSchema, Parts: splitJoinRows(joinRightSchema, [][]joinRow{{{keyPtr(1), 1, "x"}}}, 1)}, EventTime: "ts"}).
		AssignWindows("rw", "ts", dataflow.Tumble(10*time.Second))
	g.WindowJoin("join", 2, l.KeyBy("v"), r, dataflow.WindowJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"}}).Collect("out")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `keyed by "v"`) {
		t.Fatalf("Run = %v, want an error about the left input's keys", err)
	}
}

// Nexmark q7's shape: the bids of each 10 s window joined with the window's
// highest price (computed here by hand as the second input).
var (
	q7BidSchema = arrow.NewSchema([]arrow.Field{
		{Name: "auction", Type: arrow.PrimitiveTypes.Int64},
		{Name: "bidder", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: arrow.PrimitiveTypes.Int64},
		{Name: "date_time", Type: columnar.TimestampType},
	}, nil)
	q7MaxSchema = arrow.NewSchema([]arrow.Field{
		{Name: "maxprice", Type: arrow.PrimitiveTypes.Int64},
		{Name: dataflow.WindowStartColumn, Type: columnar.TimestampType},
		{Name: dataflow.WindowEndColumn, Type: columnar.TimestampType},
	}, nil)
)

const q7WindowMicros = 10_000_000

// q7Bids generates n bids over n/perWindow windows of 10 s, in time order, as
// splits of batches of batch rows; and the windows' max prices.
func q7Bids(n, perWindow, splits, batch int) (bidParts, maxParts [][]arrow.RecordBatch) {
	rng := rand.New(rand.NewPCG(7, 7))
	auction, bidder, price, ts := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	maxByWindow := map[int64]int64{}
	for i := range n {
		auction[i], bidder[i], price[i] = rng.Int64N(1000), rng.Int64N(10_000), rng.Int64N(1_000_000)
		ts[i] = int64(i) * q7WindowMicros / int64(perWindow)
		w := ts[i] / q7WindowMicros * q7WindowMicros
		maxByWindow[w] = max(maxByWindow[w], price[i])
	}
	bidParts = make([][]arrow.RecordBatch, splits)
	for lo, s := 0, 0; lo < n; lo, s = lo+batch, (s+1)%splits {
		hi := min(lo+batch, n)
		bidParts[s] = append(bidParts[s], columnar.Record(q7BidSchema, []arrow.Array{
			columnar.Int64s(auction[lo:hi]), columnar.Int64s(bidder[lo:hi]), columnar.Int64s(price[lo:hi]), columnar.Timestamps(ts[lo:hi]),
		}, hi-lo))
	}
	var ws []int64
	for w := range maxByWindow {
		ws = append(ws, w)
	}
	slices.Sort(ws)
	mx, starts, ends := make([]int64, len(ws)), make([]int64, len(ws)), make([]int64, len(ws))
	for i, w := range ws {
		mx[i], starts[i], ends[i] = maxByWindow[w], w, w+q7WindowMicros
	}
	maxParts = [][]arrow.RecordBatch{{columnar.Record(q7MaxSchema, []arrow.Array{
		columnar.Int64s(mx), columnar.Timestamps(starts), columnar.Timestamps(ends)}, len(ws))}}
	return bidParts, maxParts
}

// q7Graph builds the q7-shaped job and returns its output's collector.
func q7Graph(p int, bidParts, maxParts [][]arrow.RecordBatch) (*dataflow.Graph, *dataflow.Collector) {
	g := dataflow.NewGraph(p)
	b := g.Source("bids", dataflow.SourceSpec{Source: &bounded.Memory{Sch: q7BidSchema, Parts: bidParts}, EventTime: "date_time"}).
		AssignWindows("tumble", "date_time", dataflow.Tumble(10*time.Second))
	m := g.Source("max", dataflow.SourceSpec{Source: &bounded.Memory{Sch: q7MaxSchema, Parts: maxParts}, EventTime: dataflow.WindowStartColumn, Parallelism: 1})
	spec := dataflow.WindowJoinSpec{LeftKeys: []string{"price"}, RightKeys: []string{"maxprice"}}
	return g, g.WindowJoin("q7", p, b, m, spec).Collect("out")
}

func TestWindowJoinQ7(t *testing.T) {
	bidParts, maxParts := q7Bids(20_000, 1000, 3, 256)
	var first []string
	for _, p := range []int{1, 3} {
		g, out := q7Graph(p, bidParts, maxParts)
		runWindowJob(t, g)
		got := foldChangelog(t, out)
		if len(got) < 20 {
			t.Fatalf("p=%d: %d rows, want one per window at least (20)", p, len(got))
		}
		for _, row := range got { // auction bidder price date_time window_start window_end maxprice
			if f := strings.Fields(row); f[2] != f[6] {
				t.Fatalf("p=%d: row %q: price is not the max price", p, row)
			}
		}
		if first == nil {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("p=%d: result differs from p=1", p)
		}
	}
}

// BenchmarkWindowJoin measures q7's join: 1M bids in 10 s tumbling windows
// (10,000 per window) joined on (window, price) with one max row per window.
//
//	go test ./dataflow/ -run '^$' -bench WindowJoin -benchtime 5x
func BenchmarkWindowJoin(b *testing.B) {
	const n = 1_000_000
	bidParts, maxParts := q7Bids(n, 10_000, 4, 4096)
	for _, p := range []int{1, 4} {
		b.Run(fmt.Sprintf("p=%d", p), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g, out := q7Graph(p, bidParts, maxParts)
				runWindowJob(b, g)
				if out.Rows() < n/10_000 {
					b.Fatalf("%d rows out", out.Rows())
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
