package dataflow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage/pebblestate"
)

// heldSource serves in-memory splits whose readers stop after gate
// batches until release is closed (or the job is cancelled): a test can
// take a savepoint while they wait, or let them go on as it is taken.
type heldSource struct {
	sch     *arrow.Schema
	parts   [][]arrow.RecordBatch
	gate    int
	release chan struct{}
}

func (s *heldSource) Schema() *arrow.Schema { return s.sch }
func (s *heldSource) Splits(context.Context) ([]dataflow.Split, error) {
	out := make([]dataflow.Split, len(s.parts))
	for i, p := range s.parts {
		out[i] = &heldSplit{id: fmt.Sprintf("part-%d", i), batches: p, src: s}
	}
	return out, nil
}

type heldSplit struct {
	id      string
	batches []arrow.RecordBatch
	src     *heldSource
}

func (s *heldSplit) ID() string { return s.id }
func (s *heldSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	return &heldReader{s: s, i: int(pos)}, nil
}

type heldReader struct {
	s *heldSplit
	i int
}

func (r *heldReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if r.i == r.s.src.gate {
		select {
		case <-r.s.src.release:
		case <-ctx.Done():
			return nil, 0, context.Cause(ctx)
		}
	}
	if r.i >= len(r.s.batches) {
		return nil, 0, io.EOF
	}
	r.i++
	return r.s.batches[r.i-1], dataflow.Position(r.i), nil
}
func (r *heldReader) Close() error { return nil }

// stopRun runs ckGraph over a held source at parallelism 2 with periodic
// checkpoints, stops it with a savepoint once the readers wait at their
// gate (released is called then, to let them go on while the savepoint is
// taken, or nil) and returns the outcome.
type stopOutcome struct {
	chk       *dataflow.Checkpoint
	dir       string
	stopErr   error
	runErr    error
	committed int // rows committed when Run returned
}

func stopRun(t *testing.T, data [][]arrow.RecordBatch, gate int, out *dataflow.CommitCollector, chks, sps dataflow.CheckpointStore, release bool) stopOutcome {
	t.Helper()
	return stopRunSignal(t, data, gate, out, chks, sps, release, nil, dataflow.JobOptions{})
}

// stopRunSignal is stopRun that closes ended when Run returns, with base
// options (the state store).
func stopRunSignal(t *testing.T, data [][]arrow.RecordBatch, gate int, out *dataflow.CommitCollector, chks, sps dataflow.CheckpointStore, release bool, ended chan struct{}, base dataflow.JobOptions) stopOutcome {
	t.Helper()
	src := &heldSource{sch: ckSchema, parts: data, gate: gate, release: make(chan struct{})}
	base.Logger = quietLogger()
	base.Checkpoints = dataflow.CheckpointOptions{Store: chks, Job: "ck", Interval: time.Millisecond, Retained: 2}
	job, err := dataflow.NewJob(ckGraph(src, 2, out, "tumble"), base)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := job.Run(t.Context())
		if ended != nil {
			close(ended)
		}
		done <- err
	}()
	waitRows(t, job, int64(len(data)*gate)*data[0][0].NumRows())
	if release {
		close(src.release)
	}
	var o stopOutcome
	o.chk, o.dir, o.stopErr = job.StopWithSavepoint(t.Context(), dataflow.SavepointOptions{Store: sps,
		Attachments: map[string][]byte{"job.json": []byte(`{"sql":"…"}`)}})
	o.runErr = <-done
	o.committed = out.Rows()
	return o
}

// runTumble runs ckGraph's tumble job over data at parallelism par to its
// end (restored from opts.Restore, if set), committing to out, and returns
// everything out committed, folded.
func runTumble(t *testing.T, data [][]arrow.RecordBatch, par int, out *dataflow.CommitCollector, opts dataflow.JobOptions) []string {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	job, err := dataflow.NewJob(ckGraph(&gatedSource{sch: ckSchema, parts: data, gate: -1}, par, out, "tumble"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	return foldRows(t, out.Batches())
}

// TestStopWithSavepoint stops a job with a savepoint and resumes it from
// the savepoint at parallelism 1, 2 and 4 with the same sink: the
// committed output equals a failure-free run's, every row once — so
// nothing after the savepoint was committed by the stopped job (it would
// be produced again).
func TestStopWithSavepoint(t *testing.T) {
	const splits, batches, rowsPer, gate = 4, 12, 20, 5
	data := ckData(11, splits, batches, rowsPer)
	want := runTumble(t, data, 2, dataflow.NewCommitCollector(), dataflow.JobOptions{})

	for _, tc := range []struct {
		backend string
		p2      int
	}{{"memory", 1}, {"memory", 2}, {"memory", 4}, {"pebble", 1}, {"pebble", 4}} {
		t.Run(fmt.Sprintf("backend=%s/resume-at=%d", tc.backend, tc.p2), func(t *testing.T) {
			p2 := tc.p2
			var base dataflow.JobOptions
			if tc.backend == "pebble" {
				// The group aggregates spill all but two keys to Pebble,
				// whose files the savepoint holds in full.
				old := dataflow.GroupAggResidentKeys
				dataflow.GroupAggResidentKeys = 2
				defer func() { dataflow.GroupAggResidentKeys = old }()
				base.StateStore, base.StateDir = pebblestate.Factory(pebblestate.Options{}), t.TempDir()
			}
			chks, sps := dataflow.NewMemoryCheckpointStore(), dataflow.NewMemoryCheckpointStore()
			out := dataflow.NewCommitCollector()
			o := stopRunSignal(t, data, gate, out, chks, sps, false, nil, base)
			if o.stopErr != nil {
				t.Fatal(o.stopErr)
			}
			if !errors.Is(o.runErr, dataflow.ErrStopped) {
				t.Fatalf("Run after a stop with savepoint: %v, want ErrStopped", o.runErr)
			}
			if !o.chk.Savepoint || o.dir != dataflow.SavepointDir("ck", o.chk.ID) {
				t.Fatalf("savepoint %d (marked %v) in %q", o.chk.ID, o.chk.Savepoint, o.dir)
			}
			if o.committed == 0 || out.Staged() != 0 {
				t.Fatalf("after the stop: %d rows committed, %d staged; want some and none (the readers waited)", o.committed, out.Staged())
			}
			// The savepoint is in its own store, with its attachment, and
			// is the job's latest checkpoint.
			if b, err := sps.Get(t.Context(), o.dir+"job.json"); err != nil || !strings.Contains(string(b), "sql") {
				t.Fatalf("attachment: %q, %v", b, err)
			}
			latest, err := dataflow.LatestCheckpoint(t.Context(), chks, "ck", quietLogger())
			if err != nil || latest.ID != o.chk.ID || !latest.Savepoint {
				t.Fatalf("latest checkpoint: %+v, %v; want the savepoint %d", latest, err, o.chk.ID)
			}

			// Move the savepoint elsewhere: it is self-contained.
			moved := dataflow.NewMemoryCheckpointStore()
			names, err := sps.List(t.Context(), o.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range names {
				b, _ := sps.Get(t.Context(), name)
				if err := moved.Put(t.Context(), "elsewhere/"+strings.TrimPrefix(name, o.dir), b); err != nil {
					t.Fatal(err)
				}
			}
			sp, job, err := dataflow.ReadSavepoint(t.Context(), moved, "elsewhere")
			if err != nil {
				t.Fatal(err)
			}
			if job != "ck" || sp.ID != o.chk.ID || !sp.Savepoint {
				t.Fatalf("read savepoint %d of job %q", sp.ID, job)
			}

			if tc.backend == "pebble" {
				if names, _ := sps.List(t.Context(), o.dir); !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, ".store/") }) {
					t.Fatalf("the savepoint holds no state-store files: %v", names)
				}
				base.StateDir = t.TempDir()
			}
			base.Logger, base.Restore, base.Checkpoints = quietLogger(), sp, dataflow.CheckpointOptions{Store: chks, Job: "ck"}
			if got := runTumble(t, data, p2, out, base); !slices.Equal(got, want) {
				t.Errorf("resumed from the savepoint at parallelism %d: %d rows, want %d\n%s", p2, len(got), len(want), rowDiff(want, got))
			}
			// Checkpoint retention never touches the savepoint's store.
			if after, _ := sps.List(t.Context(), ""); !slices.Equal(after, names) {
				t.Errorf("savepoint store changed: %v, was %v", after, names)
			}
		})
	}
}

// TestStopWithSavepointWhileRunning lets the sources go on while the
// savepoint is taken, so rows reach the sinks after its barrier and the
// job may even end meanwhile. Whatever the interleaving, Run commits
// nothing after the stop, and resuming from the savepoint gives every row
// once.
func TestStopWithSavepointWhileRunning(t *testing.T) {
	const splits, batches, rowsPer, gate = 3, 40, 20, 4
	data := ckData(12, splits, batches, rowsPer)
	want := runTumble(t, data, 2, dataflow.NewCommitCollector(), dataflow.JobOptions{})
	for i := range 8 {
		chks, sps := dataflow.NewMemoryCheckpointStore(), dataflow.NewMemoryCheckpointStore()
		out := dataflow.NewCommitCollector()
		o := stopRun(t, data, gate, out, chks, sps, true)
		switch {
		case errors.Is(o.stopErr, dataflow.ErrJobEnded):
			// The job ended first: it committed everything itself.
			if o.runErr != nil || !slices.Equal(foldRows(t, out.Batches()), want) {
				t.Fatalf("round %d: the job ended before the stop: run %v, %d rows", i, o.runErr, o.committed)
			}
			continue
		case o.stopErr != nil:
			t.Fatalf("round %d: %v", i, o.stopErr)
		case !errors.Is(o.runErr, dataflow.ErrStopped):
			t.Fatalf("round %d: Run after a stop with savepoint: %v, want ErrStopped", i, o.runErr)
		}
		if n := out.Rows(); n != o.committed {
			t.Fatalf("round %d: %d rows committed after Run returned, %d when it did", i, n, o.committed)
		}
		sp, _, err := dataflow.ReadSavepoint(t.Context(), sps, o.dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := runTumble(t, data, 3, out, dataflow.JobOptions{Restore: sp}); !slices.Equal(got, want) {
			t.Fatalf("round %d: resumed: %d rows, want %d\n%s", i, len(got), len(want), rowDiff(want, got))
		}
	}
}

// TestStopWithSavepointFails: a savepoint that cannot be written stops
// nothing and commits nothing; the job goes on, checkpoints again, and a
// second stop succeeds.
func TestStopWithSavepointFails(t *testing.T) {
	sps := &failingStore{MemoryCheckpointStore: dataflow.NewMemoryCheckpointStore()}
	sps.fail.Store(true)
	chks := &failingStore{MemoryCheckpointStore: dataflow.NewMemoryCheckpointStore()}
	out := dataflow.NewCommitCollector()
	job, err := dataflow.NewJob(ckGraph(&gatedSource{sch: ckSchema, parts: ckData(5, 3, 10, 20), gate: 6}, 2, out, "tumble"),
		dataflow.JobOptions{Logger: quietLogger(), Checkpoints: dataflow.CheckpointOptions{Store: chks, Job: "j"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- job.Run(t.Context()) }()
	waitRows(t, job, 3*6*20)
	if _, _, err := job.StopWithSavepoint(t.Context(), dataflow.SavepointOptions{Store: sps}); err == nil || !strings.Contains(err.Error(), "store is down") {
		t.Fatalf("stop with a failing savepoint store: %v", err)
	}
	if out.Rows() != 0 || out.Staged() == 0 {
		t.Fatalf("after a failed savepoint: %d rows committed, %d staged; want 0 and some", out.Rows(), out.Staged())
	}
	// The savepoint is written, its copy as the job's checkpoint is not:
	// the savepoint is deleted again (the job goes on past it).
	sps.fail.Store(false)
	chks.fail.Store(true)
	if _, _, err := job.StopWithSavepoint(t.Context(), dataflow.SavepointOptions{Store: sps}); err == nil || !strings.Contains(err.Error(), "as the job's checkpoint") {
		t.Fatalf("stop with a failing checkpoint store: %v", err)
	}
	if names, _ := sps.List(t.Context(), ""); len(names) != 0 {
		t.Fatalf("a savepoint not committed is left: %v", names)
	}
	sps.fail.Store(true)
	chks.fail.Store(false)
	if out.Rows() != 0 {
		t.Fatalf("after failed savepoints: %d rows committed", out.Rows())
	}
	if _, err := job.Checkpoint(t.Context(), false); err != nil {
		t.Fatalf("checkpoint after a failed savepoint: %v", err)
	}
	if _, _, err := dataflow.ReadSavepoint(t.Context(), sps, "j/"); err == nil || !strings.Contains(err.Error(), "not a savepoint") {
		t.Errorf("reading a directory without metadata: %v", err)
	}
	if _, _, err := job.StopWithSavepoint(t.Context(), dataflow.SavepointOptions{}); err == nil {
		t.Error("a stop without a savepoint store succeeded")
	}
	sps.fail.Store(false)
	chk, dir, err := job.StopWithSavepoint(t.Context(), dataflow.SavepointOptions{Store: sps})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dataflow.ReadSavepoint(t.Context(), sps, dir); err != nil {
		t.Errorf("savepoint %d: %v", chk.ID, err)
	}
	if err := <-done; !errors.Is(err, dataflow.ErrStopped) {
		t.Errorf("run: %v, want ErrStopped", err)
	}
	if _, _, err := job.StopWithSavepoint(t.Context(), dataflow.SavepointOptions{Store: sps}); err == nil {
		t.Error("a second stop succeeded")
	}
}

// slowMetadataStore holds every metadata write until until is closed.
type slowMetadataStore struct {
	*dataflow.MemoryCheckpointStore
	until chan struct{}
}

func (s *slowMetadataStore) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasSuffix(name, "/_metadata") {
		<-s.until
	}
	return s.MemoryCheckpointStore.Put(ctx, name, data)
}

// TestStopWithSavepointJobEnds: every task finishes while the savepoint
// is written (its metadata waits for Run to return). Run must not make
// its final commit — rows after the savepoint's barrier would be
// committed and then produced again by the resumed job.
func TestStopWithSavepointJobEnds(t *testing.T) {
	const splits, batches, rowsPer, gate = 3, 60, 20, 1
	data := ckData(13, splits, batches, rowsPer)
	want := runTumble(t, data, 2, dataflow.NewCommitCollector(), dataflow.JobOptions{})
	ended := make(chan struct{})
	sps := &slowMetadataStore{MemoryCheckpointStore: dataflow.NewMemoryCheckpointStore(), until: ended}
	out := dataflow.NewCommitCollector()
	o := stopRunSignal(t, data, gate, out, dataflow.NewMemoryCheckpointStore(), sps, true, ended, dataflow.JobOptions{})
	if o.stopErr != nil {
		t.Fatal(o.stopErr)
	}
	if !errors.Is(o.runErr, dataflow.ErrStopped) {
		t.Fatalf("Run: %v, want ErrStopped", o.runErr)
	}
	sp, _, err := dataflow.ReadSavepoint(t.Context(), sps, o.dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := runTumble(t, data, 2, out, dataflow.JobOptions{Restore: sp}); !slices.Equal(got, want) {
		t.Fatalf("resumed: %d rows, want %d\n%s", len(got), len(want), rowDiff(want, got))
	}
}

// TestRestoreRefusesChangedSplits: a checkpoint taken reading splits the
// restored job's source does not have (a source that splits its input by
// the parallelism, restored at another) is refused: their rest would be
// lost, or read again on top of the restored state. New splits are fine.
func TestRestoreRefusesChangedSplits(t *testing.T) {
	data := ckData(14, 2, 10, 20)
	chks := dataflow.NewMemoryCheckpointStore()
	o := stopRun(t, data, 3, dataflow.NewCommitCollector(), chks, dataflow.NewMemoryCheckpointStore(), false)
	if o.stopErr != nil {
		t.Fatal(o.stopErr)
	}
	for _, tc := range []struct {
		src  *gatedSource
		want string
	}{
		{&gatedSource{sch: ckSchema, parts: data, gate: -1, prefix: "other-"}, "(part-0, part-1)"},
		{&gatedSource{sch: ckSchema, parts: data[:1], gate: -1}, "(part-1)"},
		{&gatedSource{sch: ckSchema, parts: append(slices.Clone(data), data[0]), gate: -1}, ""}, // a new split
	} {
		job, err := dataflow.NewJob(ckGraph(tc.src, 2, dataflow.NewCommitCollector(), "tumble"), dataflow.JobOptions{Logger: quietLogger(), Restore: o.chk})
		if err != nil {
			t.Fatal(err)
		}
		err = job.Run(t.Context())
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("restore with a new split: %v", err)
		case tc.want != "" && (!errors.Is(err, dataflow.ErrIncompatibleSnapshot) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("restore into other splits: %v, want ErrIncompatibleSnapshot naming %s", err, tc.want)
		}
	}
}
