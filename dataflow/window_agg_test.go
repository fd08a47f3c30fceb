package dataflow_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/watermark"
)

// fold folds a collected changelog into sorted row strings (a multiset).
func fold(t *testing.T, c *dataflow.Collector) []string {
	t.Helper()
	counts := map[string]int{}
	for _, b := range c.Batches() {
		for r := 0; r < b.Len(); r++ {
			var parts []string
			for j := 0; j < int(b.Rec.NumCols()); j++ {
				parts = append(parts, b.Rec.Column(j).ValueStr(r))
			}
			key := strings.Join(parts, " ")
			if b.Op(r) == dataflow.Retract {
				counts[key]--
			} else {
				counts[key]++
			}
		}
	}
	var out []string
	for k, n := range counts {
		if n < 0 {
			t.Fatalf("row %q retracted more often than inserted", k)
		}
		for ; n > 0; n-- {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func runWindowAgg(t *testing.T, p int, parts [][]arrow.RecordBatch, spec dataflow.WindowAggSpec, delay time.Duration) []string {
	t.Helper()
	g := dataflow.NewGraph(p)
	in := g.Source("src", dataflow.SourceSpec{Source: &bounded.Memory{Sch: testSchema, Parts: parts}, EventTime: "ts",
		Watermarks: watermark.Strategy{Delay: delay}})
	out := in.KeyBy(spec.Keys...).WindowAggregate("agg", p, spec).Collect("out")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return fold(t, out)
}

func TestWindowAggregateKinds(t *testing.T) {
	parts := [][]arrow.RecordBatch{
		{rows([3]int64{1, 1, 10}, [3]int64{2, 3, 20}, [3]int64{1, 4, 30}), rows([3]int64{1, 12, 5})},
		{rows([3]int64{2, 2, 7}, [3]int64{1, 11, 1})},
	}
	aggs := []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}, {Func: dataflow.Sum, Column: "v", As: "s"},
		{Func: dataflow.Min, Column: "v", As: "lo"}, {Func: dataflow.Max, Column: "v", As: "hi"}, {Func: dataflow.Avg, Column: "v", As: "avg"}}
	ts := func(sec int) string { return time.Unix(int64(sec), 0).UTC().Format("2006-01-02T15:04:05Z") }
	for _, tc := range []struct {
		name   string
		window dataflow.Assigner
		want   []string
	}{
		{"tumble", dataflow.Tumble(10 * time.Second), []string{
			fmt.Sprintf("1 %s %s 2 40 10 30 20", ts(0), ts(10)),
			fmt.Sprintf("1 %s %s 2 6 1 5 3", ts(10), ts(20)),
			fmt.Sprintf("2 %s %s 2 27 7 20 13.5", ts(0), ts(10)),
		}},
		{"hop", dataflow.Hop(5*time.Second, 10*time.Second), []string{
			fmt.Sprintf("1 %s %s 2 40 10 30 20", ts(-5), ts(5)),
			fmt.Sprintf("1 %s %s 2 40 10 30 20", ts(0), ts(10)),
			fmt.Sprintf("1 %s %s 2 6 1 5 3", ts(10), ts(20)),
			fmt.Sprintf("1 %s %s 2 6 1 5 3", ts(5), ts(15)),
			fmt.Sprintf("2 %s %s 2 27 7 20 13.5", ts(-5), ts(5)),
			fmt.Sprintf("2 %s %s 2 27 7 20 13.5", ts(0), ts(10)),
		}},
		{"cumulate", dataflow.Cumulate(5*time.Second, 10*time.Second), []string{
			fmt.Sprintf("1 %s %s 2 40 10 30 20", ts(0), ts(10)),
			fmt.Sprintf("1 %s %s 2 40 10 30 20", ts(0), ts(5)),
			fmt.Sprintf("1 %s %s 2 6 1 5 3", ts(10), ts(15)),
			fmt.Sprintf("1 %s %s 2 6 1 5 3", ts(10), ts(20)),
			fmt.Sprintf("2 %s %s 2 27 7 20 13.5", ts(0), ts(10)),
			fmt.Sprintf("2 %s %s 2 27 7 20 13.5", ts(0), ts(5)),
		}},
	} {
		for _, p := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/p=%d", tc.name, p), func(t *testing.T) {
				spec := dataflow.WindowAggSpec{Keys: []string{"k"}, TimeColumn: "ts", Window: tc.window, Aggs: aggs}
				got := runWindowAgg(t, p, parts, spec, 5*time.Second)
				want := append([]string(nil), tc.want...)
				sort.Strings(want)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

func TestSessionWindows(t *testing.T) {
	// key 1: 1, 4, 12 with gap 5 → [1, 9) (1, 4) and [12, 17); then 8 merges?
	// 8 arrives in split 2; with delay 10 it is on time. Its proto-window
	// [8, 13) bridges [1, 9) and [12, 17) into [1, 17).
	parts := [][]arrow.RecordBatch{
		{rows([3]int64{1, 1, 10}, [3]int64{1, 4, 20}), rows([3]int64{1, 12, 5}, [3]int64{2, 30, 1})},
		{rows([3]int64{1, 8, 7}, [3]int64{2, 40, 2})},
	}
	aggs := []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}, {Func: dataflow.Sum, Column: "v", As: "s"}, {Func: dataflow.Max, Column: "v", As: "hi"}}
	ts := func(sec int) string { return time.Unix(int64(sec), 0).UTC().Format("2006-01-02T15:04:05Z") }
	want := []string{
		fmt.Sprintf("1 %s %s 4 42 20", ts(1), ts(17)),
		fmt.Sprintf("2 %s %s 1 1 1", ts(30), ts(35)),
		fmt.Sprintf("2 %s %s 1 2 2", ts(40), ts(45)),
	}
	for _, p := range []int{1, 2} {
		spec := dataflow.WindowAggSpec{Keys: []string{"k"}, TimeColumn: "ts", Window: dataflow.Session(5 * time.Second), Aggs: aggs}
		got := runWindowAgg(t, p, parts, spec, 10*time.Second)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("p=%d: got\n%s\nwant\n%s", p, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
