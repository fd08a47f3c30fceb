package dataflow_test

import (
	"fmt"
	"math"
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
)

// bid is a row of q7BidSchema; ts in seconds.
type bid struct{ auction, bidder, price, ts int64 }

func bidBatches(splits [][]bid, bs int) [][]arrow.RecordBatch {
	parts := make([][]arrow.RecordBatch, len(splits))
	for s, rows := range splits {
		for lo := 0; lo < len(rows); lo += bs {
			hi := min(lo+bs, len(rows))
			a, b, p, ts := make([]int64, 0, hi-lo), make([]int64, 0, hi-lo), make([]int64, 0, hi-lo), make([]int64, 0, hi-lo)
			for _, r := range rows[lo:hi] {
				a, b, p, ts = append(a, r.auction), append(b, r.bidder), append(p, r.price), append(ts, r.ts*1_000_000)
			}
			parts[s] = append(parts[s], columnar.Record(q7BidSchema, []arrow.Array{
				columnar.Int64s(a), columnar.Int64s(b), columnar.Int64s(p), columnar.Timestamps(ts)}, hi-lo))
		}
	}
	return parts
}

// topNJob runs a 10 s tumbling window top-N of bids keyed by keys.
func topNJob(t testing.TB, p int, parts [][]arrow.RecordBatch, keys []string, spec dataflow.TopNSpec) []string {
	g := dataflow.NewGraph(p)
	out := g.Source("bids", dataflow.SourceSpec{Source: &bounded.Memory{Sch: q7BidSchema, Parts: parts}, EventTime: "date_time", Watermarks: joinNoLateness}).
		AssignWindows("tumble", "date_time", dataflow.Tumble(10*time.Second)).
		KeyBy(keys...).
		WindowTopN("topn", p, spec).
		Collect("out")
	runWindowJob(t, g)
	return foldChangelog(t, out)
}

func TestWindowTopNJob(t *testing.T) {
	splits := [][]bid{
		{{1, 10, 100, 1}, {1, 11, 300, 2}, {2, 12, 50, 3}, {1, 13, 300, 4}, {1, 14, 5, 12}},
		{{1, 9, 300, 5}, {2, 15, 60, 6}, {2, 16, 60, 7}, {3, 17, 1, 15}, {1, 18, 7, 16}},
	}
	spec := dataflow.TopNSpec{PartitionBy: []string{"auction"}, OrderBy: []dataflow.SortKey{{Column: "price", Desc: true}}, N: 2, RankColumn: "rank"}
	// auction bidder price date_time window_start window_end rank; ties on
	// price are broken by bidder, then date_time.
	want := []string{
		"1 11 300 2 0 10 2",
		"1 14 5 12 10 20 2",
		"1 18 7 16 10 20 1",
		"1 9 300 5 0 10 1",
		"2 15 60 6 0 10 1",
		"2 16 60 7 0 10 2",
		"3 17 1 15 10 20 1",
	}
	for _, p := range []int{1, 3} {
		for _, bs := range []int{1, 2, 100} {
			t.Run(fmt.Sprintf("p=%d/batch=%d", p, bs), func(t *testing.T) {
				if got := topNJob(t, p, bidBatches(splits, bs), []string{"auction"}, spec); !slices.Equal(got, want) {
					t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

// TestWindowTopNJobRandom checks, with many ties, that the top N matches a
// reference whatever the parallelism and batching, with and without
// partition columns.
func TestWindowTopNJobRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	splits := make([][]bid, 3)
	var all []bid
	for i := range 600 {
		b := bid{auction: rng.Int64N(5), bidder: rng.Int64N(20), price: rng.Int64N(6), ts: rng.Int64N(50)}
		splits[i%3] = append(splits[i%3], b)
		all = append(all, b)
	}
	reference := func(partition bool, n int) []string {
		groups := map[[2]int64][]bid{}
		for _, b := range all {
			k := [2]int64{b.ts / 10, -1}
			if partition {
				k[1] = b.auction
			}
			groups[k] = append(groups[k], b)
		}
		var out []string
		for _, g := range groups {
			slices.SortFunc(g, func(x, y bid) int {
				if x.price != y.price {
					return int(y.price - x.price) // price DESC
				}
				if !partition && x.auction != y.auction {
					return int(x.auction - y.auction)
				}
				if x.bidder != y.bidder {
					return int(x.bidder - y.bidder)
				}
				return int(x.ts - y.ts)
			})
			for r, b := range g[:min(n, len(g))] {
				ws := b.ts / 10 * 10
				out = append(out, fmt.Sprintf("%d %d %d %d %d %d %d", b.auction, b.bidder, b.price, b.ts, ws, ws+10, r+1))
			}
		}
		slices.Sort(out)
		return out
	}
	for _, partition := range []bool{true, false} {
		spec := dataflow.TopNSpec{OrderBy: []dataflow.SortKey{{Column: "price", Desc: true}}, N: 4, RankColumn: "rank"}
		keys := []string{dataflow.WindowStartColumn}
		if partition {
			spec.PartitionBy, keys = []string{"auction"}, []string{"auction"}
		}
		want := reference(partition, spec.N)
		for _, p := range []int{1, 2, 4} {
			for _, bs := range []int{7, 64} {
				t.Run(fmt.Sprintf("partition=%v/p=%d/batch=%d", partition, p, bs), func(t *testing.T) {
					got := topNJob(t, p, bidBatches(splits, bs), keys, spec)
					if !slices.Equal(got, want) {
						t.Fatalf("got %d rows, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
					}
				})
			}
		}
	}
}

func TestWindowTopNMisKeyed(t *testing.T) {
	g := dataflow.NewGraph(2)
	g.Source("bids", dataflow.SourceSpec{Source: &bounded.Memory{Sch: q7BidSchema, Parts: bidBatches([][]bid{{{1, 2, 3, 4}}}, 1)}, EventTime: "date_time"}).
		AssignWindows("tumble", "date_time", dataflow.Tumble(10*time.Second)).
		KeyBy("bidder").
		WindowTopN("topn", 2, dataflow.TopNSpec{PartitionBy: []string{"auction"}, N: 1}).
		Collect("out")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(t.Context()); err == nil || !strings.Contains(err.Error(), `keyed by "bidder"`) {
		t.Fatalf("Run = %v, want an error about the keys", err)
	}
}

func TestSortIndices(t *testing.T) {
	mem := memory.DefaultAllocator
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{3, 1, 0, 1, 2, 0}, []bool{true, true, false, true, true, true})
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"b", "a", "c", "", "a", "z"}, []bool{true, true, true, false, true, true})
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues([]float64{math.NaN(), math.Copysign(0, -1), 1.5, 0, math.Inf(-1), math.NaN()}, nil)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	rec := columnar.Record(schema, []arrow.Array{ib.NewArray(), sb.NewArray(), fb.NewArray(),
		columnar.Bools([]bool{true, false, true, false, false, true})}, 6)
	// Rows: 0 (3,b,NaN,t) 1 (1,a,-0,f) 2 (null,c,1.5,t) 3 (1,null,0,f) 4 (2,a,-inf,f) 5 (0,z,NaN,t)
	for _, tc := range []struct {
		name string
		keys []dataflow.SortKey
		want []int32
	}{
		{"int asc nulls last", []dataflow.SortKey{{Column: "i"}}, []int32{5, 1, 3, 4, 0, 2}},
		{"int desc nulls first", []dataflow.SortKey{{Column: "i", Desc: true, NullsFirst: true}}, []int32{2, 0, 4, 1, 3, 5}},
		{"int desc nulls last", []dataflow.SortKey{{Column: "i", Desc: true}}, []int32{0, 4, 1, 3, 5, 2}},
		{"string then int", []dataflow.SortKey{{Column: "s", NullsFirst: true}, {Column: "i", Desc: true}}, []int32{3, 4, 1, 0, 2, 5}},
		{"float: -0 = 0 (stable), NaN last", []dataflow.SortKey{{Column: "f"}}, []int32{4, 1, 3, 2, 0, 5}},
		{"float desc: NaN first", []dataflow.SortKey{{Column: "f", Desc: true}}, []int32{0, 5, 2, 1, 3, 4}},
		{"bool, stable", []dataflow.SortKey{{Column: "b"}}, []int32{1, 3, 4, 0, 2, 5}},
		{"no keys: identity", nil, []int32{0, 1, 2, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dataflow.SortIndices(rec, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("SortIndices = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := dataflow.SortIndices(rec, []dataflow.SortKey{{Column: "nope"}}); err == nil {
		t.Fatal("SortIndices on a missing column: want an error")
	}
}

// BenchmarkWindowTopN measures top-N over 1M bids in 10 s tumbling windows
// (10,000 per window): the top 10 prices of each window, and the top 3 of
// each auction (1,000 auctions) in each window.
//
//	go test ./dataflow/ -run '^$' -bench WindowTopN -benchtime 5x
func BenchmarkWindowTopN(b *testing.B) {
	const n = 1_000_000
	parts, _ := q7Bids(n, 10_000, 4, 4096)
	for _, bc := range []struct {
		name string
		keys []string
		spec dataflow.TopNSpec
	}{
		{"partition=none/n=10", []string{dataflow.WindowStartColumn},
			dataflow.TopNSpec{OrderBy: []dataflow.SortKey{{Column: "price", Desc: true}}, N: 10, RankColumn: "rank"}},
		{"partition=auction/n=3", []string{"auction"},
			dataflow.TopNSpec{PartitionBy: []string{"auction"}, OrderBy: []dataflow.SortKey{{Column: "price", Desc: true}}, N: 3, RankColumn: "rank"}},
	} {
		for _, p := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/p=%d", bc.name, p), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					g := dataflow.NewGraph(p)
					out := g.Source("bids", dataflow.SourceSpec{Source: &bounded.Memory{Sch: q7BidSchema, Parts: parts}, EventTime: "date_time"}).
						AssignWindows("tumble", "date_time", dataflow.Tumble(10*time.Second)).
						KeyBy(bc.keys...).
						WindowTopN("topn", p, bc.spec).
						Collect("out")
					runWindowJob(b, g)
					if out.Rows() == 0 {
						b.Fatal("no rows out")
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
