package query

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
)

// TestDurableRefusesNestedState: a durable job whose aggregate would keep
// a nested column in its state (its input schema) is refused before it
// runs — its snapshots could not save it — while one that leaves the
// column out runs, and the same query runs without --job.
func TestDurableRefusesNestedState(t *testing.T) {
	e := NewEngine(NewCatalog())
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	lb := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64)
	for i := range 3 {
		lb.Append(true)
		lb.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{int64(i), int64(i + 1)}, nil)
	}
	rec := columnar.Record(schema, []arrow.Array{columnar.Int64s([]int64{1, 2, 3}), lb.NewArray()}, 3)
	e.Providers.Memory().Put("nest", &MemoryTable{Schema: schema, Splits: [][]arrow.RecordBatch{{rec}}})
	run(t, e, `CREATE TABLE nest () WITH (history = 'mem://nest')`, RunOptions{})
	const keeps = `SELECT k, count(l) AS n FROM nest GROUP BY k`
	durable := func() RunOptions {
		return RunOptions{Durable: &Durable{Job: "n", Store: dataflow.NewMemoryCheckpointStore()}}
	}
	err := e.Execute(t.Context(), keeps, durable(), newCollectSink())
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "an aggregate's argument") || !strings.Contains(err.Error(), "list<") {
		t.Fatalf("durable aggregate keeping a list column: %v, want it refused naming the argument and its type", err)
	}
	if err := e.Execute(t.Context(), keeps, RunOptions{}, newCollectSink()); err != nil {
		t.Fatalf("the same query without --job: %v", err)
	}
	if err := e.Execute(t.Context(), `SELECT k, count(*) AS n FROM nest GROUP BY k`, durable(), newCollectSink()); err != nil {
		t.Fatalf("a durable aggregate without the list column: %v", err)
	}
}
