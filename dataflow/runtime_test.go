package dataflow_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: columnar.TimestampType},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// rows builds a batch from (k, ts seconds, v) triples.
func rows(triples ...[3]int64) arrow.RecordBatch {
	k := make([]int64, len(triples))
	ts := make([]int64, len(triples))
	v := make([]int64, len(triples))
	for i, t := range triples {
		k[i], ts[i], v[i] = t[0], t[1]*1_000_000, t[2]
	}
	return columnar.Record(testSchema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts), columnar.Int64s(v)}, len(triples))
}

func collectInts(c *dataflow.Collector, col int) []int64 {
	var out []int64
	for _, b := range c.Batches() {
		out = append(out, columnar.Int64Values(b.Rec.Column(col))...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func TestPipelineExchangesAndLateness(t *testing.T) {
	src := &bounded.Memory{Sch: testSchema, Parts: [][]arrow.RecordBatch{
		{rows([3]int64{1, 10, 1}, [3]int64{2, 12, 2}), rows([3]int64{3, 5, 3} /* late: 5 < 12-2 */, [3]int64{4, 11, 4})},
		{rows([3]int64{5, 100, 5}, [3]int64{6, 101, 6})},
		{rows([3]int64{7, 50, 7})},
	}}
	g := dataflow.NewGraph(2)
	in := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts", Watermarks: watermark.Strategy{Delay: 2 * time.Second}})
	evens := in.Filter("odd-v", func(rec arrow.RecordBatch, sel []int32) ([]int32, error) {
		for i, v := range columnar.Int64Values(rec.Column(2)) {
			if v%2 == 1 {
				sel = append(sel, int32(i))
			}
		}
		return sel, nil
	})
	var mu sync.Mutex
	seenKG := map[int64]int{}
	evens.KeyBy("k").Apply("keyed", 3, func() dataflow.Operator {
		return &kgCheck{mu: &mu, seen: seenKG}
	})
	out := evens.Collect("out")
	late := in.Late().Collect("late")

	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := collectInts(out, 2); !equal(got, []int64{1, 5, 7}) {
		t.Errorf("on-time odd values = %v, want [1 5 7]", got)
	}
	if got := collectInts(late, 2); !equal(got, []int64{3}) {
		t.Errorf("late values = %v, want [3]", got)
	}
	var lateN int64
	for _, m := range job.Metrics("src") {
		lateN += m.LateRows.Load()
	}
	if lateN != 1 {
		t.Errorf("late counter = %d, want 1", lateN)
	}
	if len(seenKG) != 3 {
		t.Errorf("keyed operator saw %d keys, want 3", len(seenKG))
	}
	if s := g.String(); s == "" {
		t.Error("empty graph description")
	}
	t.Log("\n" + g.String())
}

// kgCheck fails if a row reaches a subtask that does not own its key group.
type kgCheck struct {
	dataflow.BaseOperator
	mu   *sync.Mutex
	seen map[int64]int
}

func (o *kgCheck) ProcessBatch(_ context.Context, _ int, b dataflow.Batch) error {
	h := make([]uint64, b.Len())
	if err := dataflow.Keys("k").Hash(b.Rec, h); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, k := range columnar.Int64Values(b.Rec.Column(0)) {
		kg := dataflow.KeyGroupOf(h[i], o.TC.MaxParallelism)
		if !o.TC.KeyGroups.Contains(kg) {
			return errors.New("row routed to the wrong subtask")
		}
		o.seen[k] = o.TC.Subtask
	}
	return nil
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestErrorCancelsJob(t *testing.T) {
	src := &bounded.Memory{Sch: testSchema, Parts: [][]arrow.RecordBatch{{rows([3]int64{1, 1, 1})}, {rows([3]int64{2, 2, 2})}}}
	g := dataflow.NewGraph(2)
	boom := errors.New("boom")
	g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts"}).
		Map("fail", func(arrow.RecordBatch) (arrow.RecordBatch, error) { return nil, boom }).
		Collect("out")
	job, _ := dataflow.NewJob(g, dataflow.JobOptions{})
	if err := job.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
}

func TestKeyGroupRanges(t *testing.T) {
	for _, maxP := range []int{1, 7, 128} {
		for p := 1; p <= maxP && p <= 9; p++ {
			owned := make([]int, maxP)
			for s := 0; s < p; s++ {
				r := dataflow.KeyGroupsOf(s, p, maxP)
				for kg := r.Start; kg < r.End; kg++ {
					owned[kg]++
					if got := dataflow.SubtaskOf(kg, p, maxP); got != s {
						t.Fatalf("maxP=%d p=%d: kg %d in range of %d but SubtaskOf = %d", maxP, p, kg, s, got)
					}
				}
			}
			for kg, n := range owned {
				if n != 1 {
					t.Fatalf("maxP=%d p=%d: key group %d owned %d times", maxP, p, kg, n)
				}
			}
		}
	}
}

// A source's range applies before lateness: a record outside [From, To)
// does not raise its split's maximum, so it cannot make another late.
func TestSourceRangeBeforeLateness(t *testing.T) {
	src := &bounded.Memory{Sch: testSchema, Parts: [][]arrow.RecordBatch{
		{rows([3]int64{1, 100, 1} /* outside */, [3]int64{2, 10, 2}, [3]int64{3, 20, 3}, [3]int64{4, 5, 4} /* outside */)},
	}}
	g := dataflow.NewGraph(1)
	in := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts",
		From: watermark.Time(8_000_000), To: watermark.Time(50_000_000)})
	out := in.Collect("out")
	late := in.Late().Collect("late")
	job, _ := dataflow.NewJob(g, dataflow.JobOptions{})
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := collectInts(out, 2); !equal(got, []int64{2, 3}) {
		t.Errorf("in range = %v, want [2 3]", got)
	}
	if got := collectInts(late, 2); len(got) != 0 {
		t.Errorf("late = %v, want none (the record at 100 s was outside the range)", got)
	}
}
