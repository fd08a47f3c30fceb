package dataflow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/dataflow/checkpointtest"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/storage/pebblestate"
	"github.com/weirdata/weir/watermark"
)

// gatedSource serves in-memory splits; with gate ≥ 0 each split blocks
// after gate batches until the job is cancelled, so a test can checkpoint a
// job at a known point and then kill it.
type gatedSource struct {
	sch   *arrow.Schema
	parts [][]arrow.RecordBatch
	gate  int
	// prefix tells this source's split IDs from another's in one job.
	prefix string
}

func (s *gatedSource) Schema() *arrow.Schema { return s.sch }
func (s *gatedSource) Splits(context.Context) ([]dataflow.Split, error) {
	out := make([]dataflow.Split, len(s.parts))
	for i, p := range s.parts {
		out[i] = &gatedSplit{id: fmt.Sprintf("%spart-%d", s.prefix, i), batches: p, gate: s.gate}
	}
	return out, nil
}

type gatedSplit struct {
	id      string
	batches []arrow.RecordBatch
	gate    int
}

func (s *gatedSplit) ID() string { return s.id }
func (s *gatedSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	if int(pos) > len(s.batches) {
		return nil, fmt.Errorf("split %s: position %d past its %d batches", s.id, pos, len(s.batches))
	}
	return &gatedReader{s: s, i: int(pos)}, nil
}

type gatedReader struct {
	s *gatedSplit
	i int
}

func (r *gatedReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if r.s.gate >= 0 && r.i >= r.s.gate {
		<-ctx.Done()
		return nil, 0, context.Cause(ctx)
	}
	if r.i >= len(r.s.batches) {
		return nil, 0, io.EOF
	}
	r.i++
	return r.s.batches[r.i-1], dataflow.Position(r.i), nil
}
func (r *gatedReader) Close() error { return nil }

var ckSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "ts", Type: columnar.TimestampType},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// ckData makes splits of batches with keys, names, ascending times (a few
// seconds apart, so that windows fire as the run goes) and values.
func ckData(seed uint64, splits, batches, rowsPer int) [][]arrow.RecordBatch {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([][]arrow.RecordBatch, splits)
	for s := range out {
		ts := int64(0)
		for range batches {
			var k, v, tss []int64
			var names []string
			var fs []float64
			for range rowsPer {
				ts += r.Int64N(700_000)
				key := r.Int64N(12)
				k, tss, v = append(k, key), append(tss, ts), append(v, r.Int64N(100)-20)
				names = append(names, fmt.Sprintf("n%d", key%5))
				fs = append(fs, r.Float64()*1000)
			}
			out[s] = append(out[s], columnar.Record(ckSchema, []arrow.Array{
				columnar.Int64s(k), columnar.StringsOf(names), columnar.Timestamps(tss), columnar.Int64s(v), columnar.Float64s(fs),
			}, len(k)))
		}
	}
	return out
}

var ckAggs = []dataflow.Agg{
	{Func: dataflow.CountAll, As: "n"}, {Func: dataflow.Sum, Column: "v", As: "sum"},
	{Func: dataflow.Min, Column: "f", As: "least"}, {Func: dataflow.Max, Column: "v", As: "most"},
	{Func: dataflow.Avg, Column: "f", As: "mean"}, {Func: dataflow.CountDistinct, Column: "v", As: "dv"},
	{Func: dataflow.ApproxPercentile, Column: "f", As: "p50", Fraction: 0.5},
	{Func: dataflow.ApproxCountDistinct, Column: "name", As: "names"},
}

// ckGraph is the job under test: a keyed window aggregate, a second stage
// keyed by window_start, and a local pre-aggregate (not keyed) feeding a
// global one by name.
func ckGraph(src dataflow.Source, par int, out *dataflow.CommitCollector, kind string) *dataflow.Graph {
	switch kind {
	case "buffer":
		return ckBufferGraph(src, par, out)
	case "join":
		return ckJoinGraph(src, par, out)
	case "lookup", "lookup-wait":
		return ckLookupGraph(src, par, out, kind == "lookup-wait")
	}
	g := dataflow.NewGraph(par)
	in := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts", Parallelism: par,
		Watermarks: watermark.Strategy{Delay: time.Second}})
	var win dataflow.Assigner
	switch kind {
	case "hop":
		win = dataflow.Hop(2*time.Second, 6*time.Second)
	case "cumulate":
		win = dataflow.Cumulate(2*time.Second, 6*time.Second)
	case "session":
		win = dataflow.Session(1500 * time.Millisecond)
	default:
		win = dataflow.Tumble(3 * time.Second)
	}
	agg := in.KeyBy("k").WindowAggregate("agg", par, dataflow.WindowAggSpec{Keys: []string{"k"}, TimeColumn: "ts", Window: win, Aggs: ckAggs})
	agg.CollectCommitted("out1", par, out)
	agg.KeyBy(dataflow.WindowStartColumn).WindowAggregate("agg2", par, dataflow.WindowAggSpec{FromColumns: true,
		Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "groups"}, {Func: dataflow.Sum, Column: "n", As: "rows"}}}).
		CollectCommitted("out2", 1, out)
	// A local pre-aggregate is not keyed: its state moves between subtasks
	// as a whole when the parallelism changes. (Sessions are not
	// pre-aggregated locally: partial sessions do not combine.)
	localWin := win
	if kind == "session" {
		localWin = dataflow.Tumble(3 * time.Second)
	}
	local := in.WindowAggregate("local", dataflow.WindowAggSpec{Keys: []string{"name"}, TimeColumn: "ts", Window: localWin,
		Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}, {Func: dataflow.Sum, Column: "v", As: "s"}}})
	local.KeyBy("name").WindowAggregate("global", par, dataflow.WindowAggSpec{Keys: []string{"name"}, FromColumns: true,
		Aggs: []dataflow.Agg{{Func: dataflow.Sum, Column: "n", As: "n"}, {Func: dataflow.Sum, Column: "s", As: "s"}}}).
		CollectCommitted("out3", par, out)
	// A group aggregate emitting updates, and a local/global one.
	in.KeyBy("name").GroupAggregate("grp", par, dataflow.GroupAggSpec{Keys: []string{"name"}, Aggs: ckAggs[:6]}).
		CollectCommitted("out4", par, out)
	in.GroupAggregate("lgrp", dataflow.GroupAggSpec{Keys: []string{"k"}, EmitAtEnd: true, Partial: true,
		Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}, {Func: dataflow.Max, Column: "f", As: "fmax"}}}).
		KeyBy("k").GroupAggregate("ggrp", par, dataflow.GroupAggSpec{Keys: []string{"k"}, EmitAtEnd: true,
		Aggs: []dataflow.Agg{{Func: dataflow.Sum, Column: "n", As: "n"}, {Func: dataflow.Max, Column: "fmax", As: "fmax"}}}).
		CollectCommitted("out5", par, out)
	return g
}

// ckWhere keeps the rows whose v (column 3 of ckSchema) passes keep.
func ckWhere(keep func(v int64) bool) dataflow.FilterFunc {
	return func(rec arrow.RecordBatch, sel []int32) ([]int32, error) {
		for i, v := range columnar.Int64Values(rec.Column(3)) {
			if keep(v) {
				sel = append(sel, int32(i))
			}
		}
		return sel, nil
	}
}

// ckBufferGraph is the job of the operators on a window buffer: a window
// top-N, and a full outer window join of two filters of a hopping window.
func ckBufferGraph(src dataflow.Source, par int, out *dataflow.CommitCollector) *dataflow.Graph {
	g := dataflow.NewGraph(par)
	in := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts", Parallelism: par,
		Watermarks: watermark.Strategy{Delay: time.Second}})
	in.AssignWindows("tumble", "ts", dataflow.Tumble(3*time.Second)).KeyBy("name").
		WindowTopN("topn", par, dataflow.TopNSpec{PartitionBy: []string{"name"}, N: 3, RankColumn: "rank",
			OrderBy: []dataflow.SortKey{{Column: "v", Desc: true}}}).
		CollectCommitted("out1", par, out)
	hop := in.AssignWindows("hop", "ts", dataflow.Hop(2*time.Second, 4*time.Second))
	small := hop.Filter("small", ckWhere(func(v int64) bool { return v < 30 }))
	large := hop.Filter("large", ckWhere(func(v int64) bool { return v >= 20 }))
	windowed := arrow.NewSchema(append(slices.Clone(ckSchema.Fields()),
		arrow.Field{Name: dataflow.WindowStartColumn, Type: columnar.TimestampType},
		arrow.Field{Name: dataflow.WindowEndColumn, Type: columnar.TimestampType}), nil)
	g.WindowJoin("join", par, small, large, dataflow.WindowJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"},
		Kind: dataflow.FullOuterJoin, LeftSchema: windowed, RightSchema: windowed}).
		CollectCommitted("out2", par, out)
	return g
}

// ckJoinGraph is the job of the stream joins: a left outer regular join
// with a state TTL and an interval join, each of two filters of the source.
func ckJoinGraph(src dataflow.Source, par int, out *dataflow.CommitCollector) *dataflow.Graph {
	g := dataflow.NewGraph(par)
	in := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts", Parallelism: par,
		Watermarks: watermark.Strategy{Delay: time.Second}})
	small := in.Filter("small", ckWhere(func(v int64) bool { return v < 30 }))
	large := in.Filter("large", ckWhere(func(v int64) bool { return v >= 50 }))
	g.RegularJoin("regular", par, small, large, dataflow.RegularJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"},
		Kind: dataflow.LeftOuterJoin, TTL: 2 * time.Second, LeftTime: "ts", RightTime: "ts", LeftSchema: ckSchema, RightSchema: ckSchema}).
		CollectCommitted("out1", par, out)
	g.IntervalJoin("interval", par, small, large, dataflow.IntervalJoinSpec{LeftKeys: []string{"name"}, RightKeys: []string{"name"},
		LeftTime: "ts", RightTime: "ts", Lower: -time.Second, Upper: 3 * time.Second, LeftSchema: ckSchema, RightSchema: ckSchema}).
		CollectCommitted("out2", par, out)
	return g
}

// ckLookupGraph is the job of a lookup join of the source against a table
// (a bounded source without event time). With wait, the table's split
// stops after its first batch until the job is cancelled, so that a
// checkpoint holds a partial table and the stream rows waiting for it.
func ckLookupGraph(src dataflow.Source, par int, out *dataflow.CommitCollector, wait bool) *dataflow.Graph {
	g := dataflow.NewGraph(par)
	in := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts", Parallelism: par,
		Watermarks: watermark.Strategy{Delay: time.Second}})
	gate := -1
	if wait && src.(*gatedSource).gate >= 0 {
		gate = 1
	}
	table := g.Source("table", dataflow.SourceSpec{Source: &gatedSource{sch: ckSchema, parts: ckData(77, 1, 2, 10), gate: gate, prefix: "table-"}, Parallelism: 1})
	g.LookupJoin("lookup", par, in, table, dataflow.LookupJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"},
		Kind: dataflow.LeftOuterJoin, LeftSchema: ckSchema, RightSchema: ckSchema}).
		CollectCommitted("out1", par, out)
	return g
}

// foldRows renders committed batches as a sorted multiset of rows; a
// retraction removes its row.
func foldRows(t *testing.T, bs []dataflow.Batch) []string {
	t.Helper()
	counts := map[string]int{}
	for _, b := range bs {
		for i := range b.Len() {
			cells := make([]string, b.Rec.NumCols())
			for j, col := range b.Rec.Columns() {
				if f, ok := col.(*array.Float64); ok && col.IsValid(i) {
					cells[j] = fmt.Sprintf("%.6g", f.Value(i))
					continue
				}
				cells[j] = col.ValueStr(i)
			}
			row := b.Rec.Schema().Field(0).Name + ": " + strings.Join(cells, " ")
			if b.Op(i) == dataflow.Retract {
				counts[row]--
			} else {
				counts[row]++
			}
		}
	}
	var out []string
	for row, n := range counts {
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

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitRows polls until the source's subtasks have read n rows.
func waitRows(t *testing.T, job *dataflow.Job, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got int64
		for _, m := range job.Metrics("src") {
			got += m.RowsIn.Load()
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("source read %d rows, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCheckpointRestoreRescale checkpoints a job at a known point, kills
// it, restores it from the store at another parallelism and requires the
// committed output to equal a run without failure: nothing lost, nothing
// twice. Rows staged after the checkpoint die with the first run.
func TestCheckpointRestoreRescale(t *testing.T) {
	const splits, batches, rowsPer, gate = 4, 12, 20, 5
	for _, tc := range []struct {
		kind     string
		par1, p2 int
	}{{"tumble", 2, 1}, {"tumble", 2, 3}, {"hop", 3, 2}, {"cumulate", 1, 4}, {"tumble", 4, 4}, {"session", 2, 3}, {"session", 3, 1},
		{"buffer", 2, 1}, {"buffer", 2, 3}, {"buffer", 2, 4}, {"join", 2, 1}, {"join", 2, 3}, {"join", 2, 4},
		{"lookup", 2, 1}, {"lookup", 2, 3}, {"lookup", 2, 4}, {"lookup-wait", 2, 1}, {"lookup-wait", 2, 3}, {"lookup-wait", 2, 4},
		{"spill", 2, 1}, {"spill", 2, 3}, {"spill", 1, 4}, {"spill-pebble", 2, 1}, {"spill-pebble", 2, 3}} {
		t.Run(fmt.Sprintf("%s/%d-to-%d", tc.kind, tc.par1, tc.p2), func(t *testing.T) {
			data := ckData(uint64(tc.par1*10+tc.p2), splits, batches, rowsPer)

			ref := dataflow.NewCommitCollector()
			job, err := dataflow.NewJob(ckGraph(&gatedSource{sch: ckSchema, parts: data, gate: -1}, 2, ref, tc.kind), dataflow.JobOptions{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			if err := job.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			want := foldRows(t, ref.Batches())

			if tc.kind == "spill" {
				// The tumble job with its group aggregates holding two
				// keys in memory and spilling the rest to the backend's
				// table, across the checkpoint and the restore.
				defer dataflow.SetResidentKeysForTest(2)()
				// and the local pre-aggregate flushing past two keys.
				old := dataflow.PartialResidentKeys
				dataflow.PartialResidentKeys = 2
				defer func() { dataflow.PartialResidentKeys = old }()
			}
			store := dataflow.NewMemoryCheckpointStore()
			opts := dataflow.JobOptions{Logger: quietLogger(), Checkpoints: dataflow.CheckpointOptions{Store: store, Job: "ck"}}
			if tc.kind == "spill-pebble" {
				// The same with the group aggregates' spilled keys in
				// Pebble, checkpointed incrementally: the limit a Pebble
				// backend spills at, lowered.
				old := dataflow.GroupAggResidentKeys
				dataflow.GroupAggResidentKeys = 2
				defer func() { dataflow.GroupAggResidentKeys = old }()
				opts.StateStore, opts.StateDir = pebblestate.Factory(pebblestate.Options{}), t.TempDir()
			}
			out := dataflow.NewCommitCollector()
			job, err = dataflow.NewJob(ckGraph(&gatedSource{sch: ckSchema, parts: data, gate: gate}, tc.par1, out, tc.kind), opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- job.Run(ctx) }()
			waitRows(t, job, splits*gate*rowsPer)
			chk, err := job.Checkpoint(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(chk.State) == 0 {
				t.Fatal("the checkpoint saved no operator state")
			}
			if nodes := map[string][]string{"buffer": {"topn", "join"}, "join": {"regular", "interval"},
				"lookup": {"lookup"}, "lookup-wait": {"lookup"}}[tc.kind]; nodes != nil {
				for _, node := range nodes {
					if ns := chk.State[node]; ns == nil || len(ns.Operator) == 0 {
						t.Fatalf("the checkpoint saved no state of %s: %v", node, slices.Sorted(maps.Keys(chk.State)))
					}
				}
			}
			if strings.HasPrefix(tc.kind, "spill") {
				for _, node := range []string{"grp"} {
					ssts, size := 0, int64(0) // Pebble: the spilled keys are in its tables' files
					if ns := chk.State[node]; ns != nil {
						for _, st := range ns.Stores {
							for _, f := range st.Files {
								size += int64(f.Size)
								if strings.HasSuffix(f.Name, ".sst") {
									ssts++
								}
							}
						}
					}
					if got := job.CheckpointStats().LastBytes; got < size {
						t.Errorf("checkpoint stats: %d bytes, less than the %d of %s's state-store files", got, size, node)
					}
					if ns := chk.State[node]; ns == nil || len(ns.Backend)+ssts == 0 {
						t.Fatalf("the checkpoint saved no spilled keys of %s", node)
					}
				}
			}
			committed := out.Rows()
			if committed == 0 && tc.kind != "lookup-wait" { // its rows wait for the table
				t.Fatal("nothing was committed by the checkpoint: windows should have fired before it")
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("run: %v", err)
			}

			restored, err := dataflow.LatestCheckpoint(t.Context(), store, "ck", quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			if restored.ID != chk.ID {
				t.Fatalf("restored checkpoint %d, want %d", restored.ID, chk.ID)
			}
			opts.Restore = restored
			job, err = dataflow.NewJob(ckGraph(&gatedSource{sch: ckSchema, parts: data, gate: -1}, tc.p2, out, tc.kind), opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := job.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := foldRows(t, out.Batches())
			if !slices.Equal(got, want) {
				t.Errorf("restored run: %d rows, want %d\n%s", len(got), len(want), rowDiff(want, got))
			}
			if out.Staged() != 0 {
				t.Errorf("%d rows left staged after the job ended", out.Staged())
			}
		})
	}
}

func rowDiff(want, got []string) string {
	var b strings.Builder
	i, j := 0, 0
	for (i < len(want) || j < len(got)) && b.Len() < 4000 {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			fmt.Fprintf(&b, "  missing %s\n", want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			fmt.Fprintf(&b, "  extra   %s\n", got[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return b.String()
}

func TestMemoryCheckpointStore(t *testing.T) {
	checkpointtest.Run(t, func(*testing.T) dataflow.CheckpointStore { return dataflow.NewMemoryCheckpointStore() })
}

// failingStore fails every Put of a metadata object while fail is set.
type failingStore struct {
	*dataflow.MemoryCheckpointStore
	fail atomic.Bool
}

func (s *failingStore) Put(ctx context.Context, name string, data []byte) error {
	if s.fail.Load() && strings.HasSuffix(name, "/_metadata") {
		return errors.New("injected: the object store is down")
	}
	return s.MemoryCheckpointStore.Put(ctx, name, data)
}

// startGated starts ckGraph over a source that stops after gate batches
// per split, and waits until it has read them.
func startGated(t *testing.T, opts dataflow.JobOptions, out *dataflow.CommitCollector) (*dataflow.Job, func()) {
	t.Helper()
	const splits, batches, rowsPer, gate = 3, 10, 20, 6
	job, err := dataflow.NewJob(ckGraph(&gatedSource{sch: ckSchema, parts: ckData(5, splits, batches, rowsPer), gate: gate}, 2, out, "tumble"), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	waitRows(t, job, splits*gate*rowsPer)
	return job, func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	}
}

// TestCommitOnlyWhenComplete: a checkpoint whose metadata cannot be
// written does not exist, so sinks commit nothing for it; the next one
// that completes commits what both staged.
func TestCommitOnlyWhenComplete(t *testing.T) {
	store := &failingStore{MemoryCheckpointStore: dataflow.NewMemoryCheckpointStore()}
	store.fail.Store(true)
	out := dataflow.NewCommitCollector()
	job, stop := startGated(t, dataflow.JobOptions{Logger: quietLogger(), Checkpoints: dataflow.CheckpointOptions{Store: store, Job: "j"}}, out)
	defer stop()
	if _, err := job.Checkpoint(t.Context(), false); err == nil || !strings.Contains(err.Error(), "store is down") {
		t.Fatalf("checkpoint with a failing store: %v", err)
	}
	if out.Rows() != 0 || out.Staged() == 0 {
		t.Fatalf("after a failed checkpoint: %d rows committed, %d staged; want 0 and some", out.Rows(), out.Staged())
	}
	if _, err := dataflow.LatestCheckpoint(t.Context(), store, "j", quietLogger()); !errors.Is(err, dataflow.ErrNoCheckpoint) {
		t.Fatalf("a checkpoint without metadata was found: %v", err)
	}
	if st := job.CheckpointStats(); st.Failed != 1 || st.Completed != 0 || st.LastID != 0 {
		t.Fatalf("stats after a failed checkpoint: %+v; want 1 failed, none completed", st)
	}
	staged := out.Staged()
	store.fail.Store(false)
	chk, err := job.Checkpoint(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if out.Rows() != staged || out.Staged() != 0 {
		t.Fatalf("after the next checkpoint: %d rows committed, %d staged; want %d and 0", out.Rows(), out.Staged(), staged)
	}
	st := job.CheckpointStats()
	if st.Failed != 1 || st.Completed != 1 || st.LastID != chk.ID || st.LastBytes <= 0 || st.LastDuration <= 0 ||
		st.LastAlignment < 0 || st.LastAlignment > st.LastDuration || st.LastCompleted.IsZero() {
		t.Fatalf("stats after a completed checkpoint %d: %+v", chk.ID, st)
	}
}

// TestPeriodicCheckpoints: with an interval the job checkpoints on its own,
// the store keeps the last Retained, and sinks commit.
func TestPeriodicCheckpoints(t *testing.T) {
	store := dataflow.NewMemoryCheckpointStore()
	out := dataflow.NewCommitCollector()
	_, stop := startGated(t, dataflow.JobOptions{Logger: quietLogger(), Checkpoints: dataflow.CheckpointOptions{
		Store: store, Job: "p", Interval: 2 * time.Millisecond, MinPause: time.Millisecond, Retained: 2}}, out)
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		chk, err := dataflow.LatestCheckpoint(t.Context(), store, "p", quietLogger())
		if err == nil && chk.ID >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fourth periodic checkpoint: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	names, _ := store.List(t.Context(), "p/")
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, "/_metadata") {
			n++
		}
	}
	if n > 3 { // two retained, and perhaps one just written before retention ran
		t.Errorf("%d complete checkpoints in the store, want at most 2 (+1 in flight)", n)
	}
	if out.Rows() == 0 {
		t.Error("periodic checkpoints committed nothing")
	}
}

// TestUnsupportedStateRefused: a job with an operator whose state cannot be
// snapshotted (every operator of the package can now; a test operator
// declares such state) gets no stored checkpoint — a clear error instead
// of a checkpoint missing the operator's state.
func TestUnsupportedStateRefused(t *testing.T) {
	g := dataflow.NewGraph(2)
	src := &gatedSource{sch: ckSchema, parts: ckData(9, 2, 6, 10), gate: 3}
	in := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts", Watermarks: watermark.Strategy{Delay: time.Second}})
	g.Connect("join", 2, dataflow.NewUnsnapshottableOp, in.KeyBy("k")).Collect("out")
	store := dataflow.NewMemoryCheckpointStore()
	job, err := dataflow.NewJob(g, dataflow.JobOptions{Logger: quietLogger(), Checkpoints: dataflow.CheckpointOptions{Store: store, Job: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	}()
	waitRows(t, job, 2*3*10)
	_, err = job.Checkpoint(ctx, false)
	if !errors.Is(err, dataflow.ErrIncompatibleSnapshot) || !strings.Contains(err.Error(), "join#") {
		t.Fatalf("checkpoint of a job with unsnapshottable state: %v, want an error naming the operator", err)
	}
	if names, _ := store.List(t.Context(), ""); len(names) != 0 {
		t.Fatalf("a refused checkpoint left %q in the store", names)
	}
}
