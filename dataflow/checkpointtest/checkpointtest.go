// Package checkpointtest is the conformance suite every
// dataflow.CheckpointStore passes: blob semantics, and the checkpoint
// layout written through a real job — retention, a partial checkpoint
// ignored, a corrupt one skipped for the previous complete one.
//
//	func TestCheckpointStore(t *testing.T) {
//		checkpointtest.Run(t, func(t *testing.T) dataflow.CheckpointStore { return newStore(t) })
//	}
package checkpointtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// Run runs the suite against stores made by newStore (a fresh, empty one
// per call).
func Run(t *testing.T, newStore func(t *testing.T) dataflow.CheckpointStore) {
	t.Run("blobs", func(t *testing.T) { testBlobs(t, newStore(t)) })
	t.Run("retention", func(t *testing.T) { testRetention(t, newStore(t)) })
	t.Run("fallback", func(t *testing.T) { testFallback(t, newStore(t)) })
}

func testBlobs(t *testing.T, s dataflow.CheckpointStore) {
	ctx := t.Context()
	for _, name := range []string{"j/chk-2/b/0", "j/chk-1/a/0", "j/chk-1/_metadata", "k/x"} {
		if err := s.Put(ctx, name, []byte(name)); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	if err := s.Put(ctx, "k/x", []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "k/x")
	if err != nil || string(got) != "replaced" {
		t.Fatalf("get k/x = %q, %v; want the replaced blob", got, err)
	}
	names, err := s.List(ctx, "j/")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"j/chk-1/_metadata", "j/chk-1/a/0", "j/chk-2/b/0"}; !slices.Equal(names, want) {
		t.Fatalf("list j/ = %q, want %q", names, want)
	}
	if err := s.Delete(ctx, "j/chk-1/a/0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "j/chk-1/a/0"); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
	if _, err := s.Get(ctx, "j/chk-1/a/0"); !errors.Is(err, dataflow.ErrBlobNotFound) {
		t.Fatalf("get of a deleted blob: %v, want ErrBlobNotFound", err)
	}
}

// job runs a keyed window aggregate over a source that stops after its
// rows and waits, so that checkpoints taken then all hold the same state.
type job struct {
	t      *testing.T
	job    *dataflow.Job
	cancel context.CancelFunc
	done   chan error
}

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: columnar.TimestampType},
}, nil)

func startJob(t *testing.T, s dataflow.CheckpointStore, retained int, restore *dataflow.Checkpoint) *job {
	t.Helper()
	g := dataflow.NewGraph(2)
	in := g.Source("src", dataflow.SourceSpec{Source: waitingSource{}, EventTime: "ts", Parallelism: 2,
		Watermarks: watermark.Strategy{Delay: time.Second}})
	in.KeyBy("k").WindowAggregate("agg", 2, dataflow.WindowAggSpec{Keys: []string{"k"}, TimeColumn: "ts",
		Window: dataflow.Tumble(time.Hour), Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}}}).
		CollectCommitted("out", 1, dataflow.NewCommitCollector())
	j, err := dataflow.NewJob(g, dataflow.JobOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Restore: restore,
		Checkpoints: dataflow.CheckpointOptions{Store: s, Job: "job/one", Retained: retained}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &job{t: t, job: j, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- j.Run(ctx) }()
	t.Cleanup(r.stop)
	deadline := time.Now().Add(30 * time.Second)
	for restore == nil && rowsIn(j) < 2*rowsPerSplit { // a restored job resumes after them
		if time.Now().After(deadline) {
			t.Fatalf("the source read %d rows, want %d", rowsIn(j), 2*rowsPerSplit)
		}
		time.Sleep(time.Millisecond)
	}
	return r
}

func (j *job) stop() {
	j.cancel()
	if err := <-j.done; err != nil && !errors.Is(err, context.Canceled) {
		j.t.Errorf("job: %v", err)
	}
	j.done <- nil // stop is idempotent
}

func rowsIn(j *dataflow.Job) int64 {
	var n int64
	for _, m := range j.Metrics("src") {
		n += m.RowsIn.Load()
	}
	return n
}

func checkpoint(t *testing.T, j *job) *dataflow.Checkpoint {
	t.Helper()
	chk, err := j.job.Checkpoint(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	return chk
}

func metadataIDs(t *testing.T, s dataflow.CheckpointStore) []string {
	t.Helper()
	names, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, "/_metadata") {
			out = append(out, strings.Split(n, "/")[1])
		}
	}
	return out
}

func testRetention(t *testing.T, s dataflow.CheckpointStore) {
	j := startJob(t, s, 2, nil)
	var last *dataflow.Checkpoint
	for range 4 {
		last = checkpoint(t, j)
	}
	got := metadataIDs(t, s)
	want := []string{fmt.Sprintf("chk-%020d", last.ID-1), fmt.Sprintf("chk-%020d", last.ID)}
	if !slices.Equal(got, want) {
		t.Fatalf("complete checkpoints kept: %q, want the last two %q", got, want)
	}
	j.stop()
	chk, err := dataflow.LatestCheckpoint(t.Context(), s, "job/one", nil)
	if err != nil {
		t.Fatal(err)
	}
	if chk.ID != last.ID || len(chk.Splits) != 2 || chk.State["agg"] == nil {
		t.Fatalf("latest checkpoint %d with %d splits and agg state %v; want %d, 2, some", chk.ID, len(chk.Splits), chk.State["agg"], last.ID)
	}
	// A restored job numbers its checkpoints after those in the store.
	j = startJob(t, s, 2, chk)
	if next := checkpoint(t, j); next.ID <= last.ID {
		t.Fatalf("checkpoint %d after a restore from %d", next.ID, last.ID)
	}
}

func testFallback(t *testing.T, s dataflow.CheckpointStore) {
	ctx := t.Context()
	j := startJob(t, s, 5, nil)
	first, second := checkpoint(t, j), checkpoint(t, j)
	j.stop()
	dir := func(id int64) string { return fmt.Sprintf("job%%2Fone/chk-%020d/", id) }

	// A partial checkpoint (files but no metadata) is not one.
	if err := s.Put(ctx, dir(second.ID+1)+"agg/0", []byte("partial")); err != nil {
		t.Fatal(err)
	}
	// Truncated metadata: fall back to the previous checkpoint, and say so.
	meta, err := s.Get(ctx, dir(second.ID)+"_metadata")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, dir(second.ID)+"_metadata", meta[:len(meta)/2]); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	chk, err := dataflow.LatestCheckpoint(ctx, s, "job/one", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if chk.ID != first.ID {
		t.Fatalf("restored checkpoint %d, want %d (the newest is corrupt)", chk.ID, first.ID)
	}
	if !strings.Contains(logs.String(), "falling back") || !strings.Contains(logs.String(), fmt.Sprint(second.ID)) {
		t.Fatalf("no warning naming the corrupt checkpoint: %s", logs.String())
	}

	// A damaged state file of the older one as well: nothing is usable.
	names, err := s.List(ctx, dir(first.ID)+"agg/")
	if err != nil || len(names) == 0 {
		t.Fatalf("list state files: %q, %v", names, err)
	}
	data, err := s.Get(ctx, names[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := s.Put(ctx, names[0], data); err != nil {
		t.Fatal(err)
	}
	_, err = dataflow.LatestCheckpoint(ctx, s, "job/one", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, dataflow.ErrNoCheckpoint) || !errors.Is(err, dataflow.ErrCorruptSnapshot) && !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("with every checkpoint damaged: %v, want ErrNoCheckpoint naming the damage", err)
	}
}

const rowsPerSplit = 50

// waitingSource has two splits of rowsPerSplit rows each; after its rows a
// split waits until the job is cancelled.
type waitingSource struct{}

func (waitingSource) Schema() *arrow.Schema { return schema }
func (waitingSource) Splits(context.Context) ([]dataflow.Split, error) {
	return []dataflow.Split{waitingSplit(0), waitingSplit(1)}, nil
}

type waitingSplit int

func (s waitingSplit) ID() string { return fmt.Sprintf("split-%d", int(s)) }
func (s waitingSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	return &waitingReader{split: int(s), pos: int(pos)}, nil
}

type waitingReader struct{ split, pos int }

func (r *waitingReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if r.pos >= rowsPerSplit {
		<-ctx.Done()
		return nil, 0, context.Cause(ctx)
	}
	k, ts := make([]int64, 10), make([]int64, 10)
	for i := range k {
		k[i], ts[i] = int64(r.pos+i)%7, int64(r.split*1000+r.pos+i)*1_000_000
	}
	r.pos += 10
	return columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts)}, 10), dataflow.Position(r.pos), nil
}
func (r *waitingReader) Close() error { return nil }
