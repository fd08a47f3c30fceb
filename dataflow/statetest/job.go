package statetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

const jobName = "state/job"

// sharedPrefix is where the job's shared state-store files are.
const sharedPrefix = "state%2Fjob/shared/"

// testJob runs a keyed process function (value, map and list state, and
// a timer per key) with checkpoints, stops it, and restores it at other
// parallelisms from a checkpoint and from a savepoint; the counts it
// emits after each restore continue those before. With a store, it also
// checks the incremental checkpoints: an unchanged store uploads no
// shared file again, a savepoint names none (it restores with every
// shared file gone), and a damaged file fails the restore naming it.
func testJob(t *testing.T, b Backend) {
	var base dataflow.CheckpointStore = dataflow.NewMemoryCheckpointStore()
	if b.Checkpoints != nil {
		base = b.Checkpoints(t)
	}
	store := &countingStore{CheckpointStore: base}
	ctx := t.Context()

	j := startJob(t, b, store, 2, 50, nil)
	j.waitRows(100)
	c1 := checkpoint(t, j, false)
	afterC1 := store.sharedPuts()
	c2 := checkpoint(t, j, false)
	afterC2 := store.sharedPuts()
	sp := checkpoint(t, j, true)
	afterSP := store.sharedPuts()
	j.stop()
	if b.Store != nil {
		if afterC1 == 0 {
			t.Fatal("the first checkpoint of a store backend uploaded no shared file")
		}
		if afterC2 != afterC1 || afterSP != afterC2 {
			t.Fatalf("shared uploads: %d after checkpoint %d, %d after %d (state unchanged), %d after the savepoint; want no new ones",
				afterC1, c1.ID, afterC2, c2.ID, afterSP)
		}
		names, err := store.List(ctx, fmt.Sprintf("state%%2Fjob/chk-%020d/", sp.ID))
		if err != nil {
			t.Fatal(err)
		}
		if !containsSST(names) {
			t.Fatalf("the savepoint's directory holds no SST of its own: %q", names)
		}
	} else if afterC1 != 0 {
		t.Fatalf("an in-memory backend uploaded %d shared files", afterC1)
	}

	// Restore checkpoint 2 at parallelism 3; each split goes on to 150 rows.
	chk, err := dataflow.ReadCheckpoint(ctx, store, jobName, c2.ID)
	if err != nil {
		t.Fatal(err)
	}
	j = startJob(t, b, store, 3, 150, chk)
	j.waitRows(200)
	j.stop()
	j.checkCounts(150)

	if b.Store == nil {
		return
	}
	// The savepoint is self-contained: it restores with no shared file.
	shared, err := store.List(ctx, sharedPrefix)
	if err != nil || len(shared) == 0 {
		t.Fatalf("shared files: %q, %v", shared, err)
	}
	for _, name := range shared {
		if err := store.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dataflow.ReadCheckpoint(ctx, store, jobName, c2.ID); !errors.Is(err, dataflow.ErrCorruptSnapshot) || !strings.Contains(err.Error(), "shared/") {
		t.Fatalf("reading a checkpoint whose shared files are gone: %v, want ErrCorruptSnapshot naming a file", err)
	}
	chk, err = dataflow.ReadCheckpoint(ctx, store, jobName, sp.ID)
	if err != nil {
		t.Fatal(err)
	}
	j = startJob(t, b, store, 1, 150, chk)
	j.waitRows(200)
	j.stop()
	j.checkCounts(150)

	// A damaged SST of the savepoint fails the restore, naming the file.
	names, err := store.List(ctx, fmt.Sprintf("state%%2Fjob/chk-%020d/", sp.ID))
	if err != nil {
		t.Fatal(err)
	}
	var sst string
	for _, n := range names {
		if strings.HasSuffix(n, ".sst") {
			sst = n
		}
	}
	data, err := store.Get(ctx, sst)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x20
	if err := store.Put(ctx, sst, data); err != nil {
		t.Fatal(err)
	}
	chk, err = dataflow.ReadCheckpoint(ctx, store, jobName, sp.ID)
	if err != nil {
		t.Fatal(err) // sizes and CRCs are checked on download
	}
	err = runOnce(t, b, store, chk)
	if !errors.Is(err, dataflow.ErrCorruptSnapshot) || !strings.Contains(err.Error(), sst) {
		t.Fatalf("restoring a damaged SST: %v, want ErrCorruptSnapshot naming %s", err, sst)
	}
}

func containsSST(names []string) bool {
	for _, n := range names {
		if strings.Contains(n, ".store/") && strings.HasSuffix(n, ".sst") {
			return true
		}
	}
	return false
}

// countingStore counts the uploads of shared files.
type countingStore struct {
	dataflow.CheckpointStore
	mu     sync.Mutex
	shared int
}

func (s *countingStore) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasPrefix(name, sharedPrefix) {
		s.mu.Lock()
		s.shared++
		s.mu.Unlock()
	}
	return s.CheckpointStore.Put(ctx, name, data)
}

func (s *countingStore) sharedPuts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shared
}

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "split", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: columnar.TimestampType},
}, nil)

var outSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	{Name: "m", Type: arrow.PrimitiveTypes.Int64},
	{Name: "l", Type: arrow.PrimitiveTypes.Int64},
}, nil)

const keys = 37

// keyOf is the key of row pos of split s.
func keyOf(s, pos int) int64 { return int64((s*1000 + pos) % keys) }

type job struct {
	t      *testing.T
	job    *dataflow.Job
	out    *dataflow.Collector
	cancel context.CancelFunc
	done   chan error
}

func newGraph(b Backend, p, limit int) (*dataflow.Graph, *dataflow.Collector) {
	g := dataflow.NewGraph(p)
	out := g.Source("src", dataflow.SourceSpec{Source: limitedSource{limit: limit}, EventTime: "ts", Parallelism: 2,
		Watermarks: watermark.Strategy{Delay: time.Second}}).
		KeyBy("k").Process("count", p, outSchema, "", func() dataflow.KeyedProcessFunction { return &counter{} }).
		Collect("out")
	return g, out
}

func jobOptions(b Backend, store dataflow.CheckpointStore, restore *dataflow.Checkpoint, dir string) dataflow.JobOptions {
	return dataflow.JobOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Restore: restore,
		StateStore: b.Store, StateDir: dir,
		Checkpoints: dataflow.CheckpointOptions{Store: store, Job: jobName, Retained: 5}}
}

func startJob(t *testing.T, b Backend, store dataflow.CheckpointStore, p, limit int, restore *dataflow.Checkpoint) *job {
	t.Helper()
	g, out := newGraph(b, p, limit)
	j, err := dataflow.NewJob(g, jobOptions(b, store, restore, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &job{t: t, job: j, out: out, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- j.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// runOnce runs a restored job that fails or is cancelled once it is open.
func runOnce(t *testing.T, b Backend, store dataflow.CheckpointStore, restore *dataflow.Checkpoint) error {
	g, _ := newGraph(b, 2, 150)
	j, err := dataflow.NewJob(g, jobOptions(b, store, restore, t.TempDir()))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	return j.Run(ctx)
}

// waitRows waits until the job emitted n rows; the deadline only stops a
// broken test from hanging.
func (j *job) waitRows(n int) {
	j.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for j.out.Rows() < n {
		select {
		case err := <-j.done:
			j.done <- err
			j.t.Fatalf("the job ended after %d rows of %d: %v", j.out.Rows(), n, err)
		default:
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("the job emitted %d rows, want %d", j.out.Rows(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (j *job) stop() {
	j.cancel()
	if err := <-j.done; err != nil && !errors.Is(err, context.Canceled) {
		j.t.Errorf("job: %v", err)
	}
	j.done <- nil // stop is idempotent
}

// checkCounts checks that the last count each key emitted is its number
// of rows in the first limit rows of both splits, in all three states.
func (j *job) checkCounts(limit int) {
	j.t.Helper()
	want := map[int64]int64{}
	for s := range 2 {
		for pos := range limit {
			want[keyOf(s, pos)]++
		}
	}
	got := map[int64]int64{}
	for _, b := range j.out.Batches() {
		k, n, m, l := columnar.Int64Values(b.Rec.Column(0)), columnar.Int64Values(b.Rec.Column(1)),
			columnar.Int64Values(b.Rec.Column(2)), columnar.Int64Values(b.Rec.Column(3))
		for i := range k {
			if m[i] != n[i] || l[i] != n[i] {
				j.t.Fatalf("key %d: count %d, map total %d, list length %d; want equal", k[i], n[i], m[i], l[i])
			}
			got[k[i]] = max(got[k[i]], n[i])
		}
	}
	for k, w := range want {
		if got[k] != w {
			j.t.Fatalf("key %d: last count %d, want %d (state lost or doubled across the restore)", k, got[k], w)
		}
	}
}

// counter counts its key's rows three ways: a ValueState, a MapState by
// split, and a ListState of positions; it registers a timer per key that
// never fires, so that checkpoints carry timers.
type counter struct {
	n     *dataflow.ValueState[int64]
	bySrc *dataflow.MapState[int64, int64]
	list  *dataflow.ListState[int64]
}

func (f *counter) Open(c *dataflow.ProcessContext) error {
	f.n = dataflow.NewValueState(c.State(), "n", dataflow.Int64Codec{})
	f.bySrc = dataflow.NewMapState(c.State(), "by-split", dataflow.Int64Codec{}, dataflow.Int64Codec{})
	f.list = dataflow.NewListState(c.State(), "list", dataflow.Int64Codec{})
	return nil
}

func (f *counter) ProcessRow(c *dataflow.ProcessContext, rec arrow.RecordBatch, row int) error {
	kg, key := c.KeyGroup(), c.Key()
	n, _, err := f.n.Get(kg, key)
	if err != nil {
		return err
	}
	n++
	if err := f.n.Put(kg, key, n); err != nil {
		return err
	}
	split := rec.Column(1).(*array.Int64).Value(row)
	m, _, err := f.bySrc.Get(kg, key, split)
	if err != nil {
		return err
	}
	if err := f.bySrc.Put(kg, key, split, m+1); err != nil {
		return err
	}
	if err := f.list.Append(kg, key, int64(row)); err != nil {
		return err
	}
	if n == 1 {
		c.RegisterEventTimer(math.MaxInt64 - 1)
	}
	var total int64
	if err := f.bySrc.Range(kg, key, func(_, v int64) bool { total += v; return true }); err != nil {
		return err
	}
	l, err := f.list.Get(kg, key)
	if err != nil {
		return err
	}
	k := rec.Column(0).(*array.Int64).Value(row)
	return c.Emit(k, n, total, int64(len(l)))
}

func (f *counter) OnTimer(*dataflow.ProcessContext, int64) error { return nil }

// limitedSource has two splits of limit rows each; after them a split
// waits until the job is cancelled.
type limitedSource struct{ limit int }

func (limitedSource) Schema() *arrow.Schema { return schema }

func (s limitedSource) Splits(context.Context) ([]dataflow.Split, error) {
	return []dataflow.Split{limitedSplit{0, s.limit}, limitedSplit{1, s.limit}}, nil
}

type limitedSplit struct{ split, limit int }

func (s limitedSplit) ID() string { return fmt.Sprintf("split-%d", s.split) }

func (s limitedSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	return &limitedReader{limitedSplit: s, pos: int(pos)}, nil
}

type limitedReader struct {
	limitedSplit
	pos int
}

func (r *limitedReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if r.pos >= r.limit {
		<-ctx.Done()
		return nil, 0, context.Cause(ctx)
	}
	n := min(10, r.limit-r.pos)
	k, sp, ts := make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range n {
		k[i], sp[i], ts[i] = keyOf(r.split, r.pos+i), int64(r.split), int64(r.split*1000+r.pos+i)*1_000_000
	}
	r.pos += n
	return columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Int64s(sp), columnar.Timestamps(ts)}, n), dataflow.Position(r.pos), nil
}

func (r *limitedReader) Close() error { return nil }

func checkpoint(t *testing.T, j *job, savepoint bool) *dataflow.Checkpoint {
	t.Helper()
	chk, err := j.job.Checkpoint(t.Context(), savepoint)
	if err != nil {
		t.Fatal(err)
	}
	return chk
}
