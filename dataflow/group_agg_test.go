package dataflow_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
)

func TestGroupAggregateChangelogFoldsToFinal(t *testing.T) {
	parts := [][]arrow.RecordBatch{
		{rows([3]int64{1, 1, 10}, [3]int64{2, 3, 20}), rows([3]int64{1, 4, 30})},
		{rows([3]int64{2, 2, 7}), rows([3]int64{3, 11, 1}, [3]int64{1, 12, 5})},
	}
	aggs := []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}, {Func: dataflow.Sum, Column: "v", As: "s"}, {Func: dataflow.Max, Column: "v", As: "hi"}}
	want := "1 3 45 30\n2 2 27 20\n3 1 1 1"
	for _, atEnd := range []bool{false, true} {
		for _, p := range []int{1, 3} {
			g := dataflow.NewGraph(p)
			in := g.Source("src", dataflow.SourceSpec{Source: &bounded.Memory{Sch: testSchema, Parts: parts}, EventTime: "ts"})
			c := in.KeyBy("k").GroupAggregate("agg", p, dataflow.GroupAggSpec{Keys: []string{"k"}, Aggs: aggs, EmitAtEnd: atEnd}).Collect("out")
			job, err := dataflow.NewJob(g, dataflow.JobOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := job.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(fold(t, c), "\n"); got != want {
				t.Fatalf("atEnd=%v p=%d: got\n%s\nwant\n%s", atEnd, p, got, want)
			}
			retractions := 0
			for _, b := range c.Batches() {
				for r := 0; r < b.Len(); r++ {
					if b.Op(r) == dataflow.Retract {
						retractions++
					}
				}
			}
			if atEnd && retractions != 0 {
				t.Fatalf("a backfill emitted %d retractions", retractions)
			}
		}
	}
}

// A changelog input (the output of another group aggregate) is folded
// exactly, min/max included: count of groups per count.
func TestGroupAggregateOverChangelog(t *testing.T) {
	parts := [][]arrow.RecordBatch{{
		rows([3]int64{1, 1, 1}), rows([3]int64{1, 2, 1}), rows([3]int64{2, 3, 1}),
		rows([3]int64{1, 4, 1}), rows([3]int64{3, 5, 1}), rows([3]int64{3, 6, 1}),
	}}
	g := dataflow.NewGraph(1)
	in := g.Source("src", dataflow.SourceSpec{Source: &bounded.Memory{Sch: testSchema, Parts: parts}, EventTime: "ts"})
	counts := in.KeyBy("k").GroupAggregate("per-k", 1, dataflow.GroupAggSpec{Keys: []string{"k"}, Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}}})
	c := counts.KeyBy("n").GroupAggregate("per-n", 2, dataflow.GroupAggSpec{Keys: []string{"n"}, UpdatingInput: true,
		Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "groups"}, {Func: dataflow.Max, Column: "k", As: "maxk"}}}).Collect("out")
	job, _ := dataflow.NewJob(g, dataflow.JobOptions{})
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// k=1 → 3 rows, k=2 → 1, k=3 → 2.
	if got, want := strings.Join(fold(t, c), "\n"), "1 1 2\n2 1 3\n3 1 1"; got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// Aggregates over narrower integer columns widen them (a regression: sum of
// an int32 column read its buffer as int64).
func TestAggregateInt32Column(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int32}}, nil)
	b := array.NewInt32Builder(memory.DefaultAllocator)
	b.AppendValues([]int32{1, 2, 3}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{columnar.Int64s([]int64{7, 7, 7}), b.NewArray()}, 3)
	g := dataflow.NewGraph(1)
	in := g.Source("src", dataflow.SourceSpec{Source: &bounded.Memory{Sch: schema, Parts: [][]arrow.RecordBatch{{rec}}}})
	c := in.KeyBy("k").GroupAggregate("agg", 1, dataflow.GroupAggSpec{Keys: []string{"k"}, EmitAtEnd: true,
		Aggs: []dataflow.Agg{{Func: dataflow.Sum, Column: "v", As: "s"}, {Func: dataflow.Max, Column: "v", As: "m"}}}).Collect("out")
	job, _ := dataflow.NewJob(g, dataflow.JobOptions{})
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fold(t, c), "\n"); got != "7 6 3" {
		t.Fatalf("got %q, want \"7 6 3\"", got)
	}
}
