package dataflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weirdata/weir/watermark"
)

// NewUnsnapshottableOp returns a pass-through operator that declares state
// it cannot snapshot (ownStateKeeper), for the test of a refused checkpoint
// in checkpoint_test.go: every operator of the package snapshots its state.
func NewUnsnapshottableOp() Operator { return &unsnapshottableOp{} }

type unsnapshottableOp struct{ BaseOperator }

func (*unsnapshottableOp) keepsOwnState() bool { return true }

func (o *unsnapshottableOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	return o.TC.Out.Emit(ctx, b)
}

func newLookupOp(t testing.TB, out Output) *lookupJoinOp {
	t.Helper()
	op := &lookupJoinOp{spec: LookupJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"}, Kind: LeftOuterJoin,
		LeftSchema: sjSchema, RightSchema: sjSchema}}
	tc := fakeTaskContext(out)
	openOp(t, op, tc)
	return op
}

// lookupSnapshot feeds a table and stream rows (a retraction among them)
// to a fresh lookup join, completes the table when ready, and snapshots it.
func lookupSnapshot(t testing.TB, ready bool) (*lookupJoinOp, map[int][]byte) {
	t.Helper()
	ctx := context.Background()
	op := newLookupOp(t, &recordingOutput{})
	if err := op.ProcessBatch(ctx, 1, sjBatch(7, 25, 0)); err != nil {
		t.Fatal(err)
	}
	if ready {
		if err := op.ProcessWatermark(ctx, watermark.Time(1)); err != nil {
			t.Fatal(err)
		}
	}
	b := sjBatch(8, 20, 0)
	b.Ops = make([]Op, b.Len())
	b.Ops[3] = Retract
	for _, x := range []Batch{sjBatch(8, 20, 0), b} {
		if err := op.ProcessBatch(ctx, 0, x); err != nil {
			t.Fatal(err)
		}
	}
	blobs, err := op.SnapshotKeyGroups(ctx, Barrier{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if kg := stateKeyGroup(op.TC); len(blobs) != 1 || blobs[kg] == nil {
		t.Fatalf("blobs of key groups %v, want one, of key group %d: the table is saved once per subtask", sortedMapKeys(blobs), kg)
	}
	return op, blobs
}

// TestLookupJoinSnapshotRoundTrip: a lookup join restored from its blobs
// snapshots to the same bytes and continues as the original, with its
// table complete or still loading (stream rows waiting).
func TestLookupJoinSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, ready := range []bool{false, true} {
		t.Run(fmt.Sprintf("ready=%v", ready), func(t *testing.T) {
			orig, blobs := lookupSnapshot(t, ready)
			out := &recordingOutput{}
			op := newLookupOp(t, out)
			for _, kg := range sortedMapKeys(blobs) {
				if err := op.RestoreKeyGroup(kg, blobs[kg]); err != nil {
					t.Fatalf("restore key group %d: %v", kg, err)
				}
			}
			sameSnapshot(t, "lookup join", resnapshot(t, op), blobs)
			origOut := &recordingOutput{}
			orig.TC.Out = origOut
			for _, o := range []*lookupJoinOp{orig, op} {
				if !ready {
					if err := o.ProcessBatch(ctx, 1, sjBatch(9, 10, 0)); err != nil {
						t.Fatal(err)
					}
				}
				if err := o.ProcessBatch(ctx, 0, sjBatch(10, 15, 0)); err != nil {
					t.Fatal(err)
				}
				if err := o.Finish(ctx); err != nil {
					t.Fatal(err)
				}
			}
			want, got := emittedRows(origOut.batches), emittedRows(out.batches)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("restored operator emitted\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestLookupJoinRestoreMerge: blobs of two former subtasks, one whose table
// was complete and one whose stream rows still waited, restore into one
// operator that probes the waiting rows at once against the one table.
func TestLookupJoinRestoreMerge(t *testing.T) {
	ctx := context.Background()
	_, waiting := lookupSnapshot(t, false)
	_, ready := lookupSnapshot(t, true)
	out := &recordingOutput{}
	op := newLookupOp(t, out)
	for _, blobs := range []map[int][]byte{waiting, ready} {
		if err := op.RestoreKeyGroup(0, blobs[0]); err != nil {
			t.Fatal(err)
		}
	}
	if err := op.ProcessWatermark(ctx, watermark.MinTime); err != nil {
		t.Fatal(err)
	}
	// The ready subtask had emitted its rows; the waiting one's are now.
	want := &recordingOutput{}
	ref := newLookupOp(t, want)
	if err := ref.ProcessBatch(ctx, 1, sjBatch(7, 25, 0)); err != nil {
		t.Fatal(err)
	}
	if err := ref.ProcessWatermark(ctx, watermark.Time(1)); err != nil {
		t.Fatal(err)
	}
	b := sjBatch(8, 20, 0)
	b.Ops = make([]Op, b.Len())
	b.Ops[3] = Retract
	for _, x := range []Batch{sjBatch(8, 20, 0), b} {
		if err := ref.ProcessBatch(ctx, 0, x); err != nil {
			t.Fatal(err)
		}
	}
	if g, w := emittedRows(out.batches), emittedRows(want.batches); len(w) == 0 || !slices.Equal(g, w) {
		t.Errorf("merged restore emitted\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	if len(op.table) != len(ref.table) {
		t.Errorf("%d table keys after a merged restore, want %d (one copy)", len(op.table), len(ref.table))
	}
}

// TestLookupJoinRestoreShared: the blob of a key group another subtask owns
// after a rescale gives the operator the table, which every subtask needs,
// and not the waiting stream rows, which the owner probes.
func TestLookupJoinRestoreShared(t *testing.T) {
	_, waiting := lookupSnapshot(t, false)
	orig, _ := lookupSnapshot(t, false)
	op := newLookupOp(t, &recordingOutput{})
	if err := op.RestoreSharedKeyGroup(0, waiting[0]); err != nil {
		t.Fatal(err)
	}
	if len(op.table) == 0 || len(op.table) != len(orig.table) {
		t.Errorf("%d table keys after a shared restore, want %d", len(op.table), len(orig.table))
	}
	if len(op.pending) != 0 {
		t.Errorf("%d waiting batches taken from another subtask's key group, want none", len(op.pending))
	}
	// Its owner's blob then adds the waiting rows, and no second table.
	if err := op.RestoreKeyGroup(0, waiting[0]); err != nil {
		t.Fatal(err)
	}
	if len(op.pending) != len(orig.pending) || len(op.table) != len(orig.table) {
		t.Errorf("after the owned blob: %d waiting batches and %d table keys, want %d and %d",
			len(op.pending), len(op.table), len(orig.pending), len(orig.table))
	}
}

// TestLookupJoinSnapshotCorrupt: damaged and truncated blobs and payloads
// are errors wrapping ErrCorruptSnapshot or ErrIncompatibleSnapshot (or,
// for undetectable damage to a value, a restore that runs), never panics.
func TestLookupJoinSnapshotCorrupt(t *testing.T) {
	ctx := context.Background()
	_, blobs := lookupSnapshot(t, false)
	b := blobs[0]
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x21
		op := newLookupOp(t, discard{})
		if err := op.RestoreKeyGroup(0, bad); !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
			t.Fatalf("byte %d damaged: %v", i, err)
		}
		if len(op.table) != 0 || len(op.pending) != 0 {
			t.Fatalf("a refused blob left state")
		}
	}
	p, err := openSnapshot(b, lookupJoinSnapshotKind, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(p)
			bad[i] ^= mask
			op := newLookupOp(t, discard{})
			err := op.RestoreKeyGroup(0, sealSnapshot(lookupJoinSnapshotKind, 0, bad))
			if err != nil && !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
				t.Fatalf("payload byte %d ^ %#x: %v", i, mask, err)
			}
			if err == nil {
				if err := op.Finish(ctx); err != nil {
					t.Fatalf("payload byte %d ^ %#x: restored, then: %v", i, mask, err)
				}
			}
		}
	}
	for n := range p {
		op := newLookupOp(t, discard{})
		if err := op.RestoreKeyGroup(0, sealSnapshot(lookupJoinSnapshotKind, 0, p[:n])); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("payload truncated to %d bytes: %v", n, err)
		}
	}
	op := newLookupOp(t, discard{})
	if err := op.RestoreKeyGroup(0, sealSnapshot(streamJoinSnapshotKind, 0, p)); !errors.Is(err, ErrIncompatibleSnapshot) {
		t.Fatalf("a stream join's blob: %v", err)
	}
}

// FuzzLookupJoinRestore: arbitrary payloads under a valid envelope are an
// error or a restore that runs, never a panic.
func FuzzLookupJoinRestore(f *testing.F) {
	for _, ready := range []bool{false, true} {
		_, blobs := lookupSnapshot(f, ready)
		p, err := openSnapshot(blobs[0], lookupJoinSnapshotKind, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		op := newLookupOp(t, discard{})
		if err := op.RestoreKeyGroup(0, sealSnapshot(lookupJoinSnapshotKind, 0, payload)); err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
				t.Fatalf("restore: %v", err)
			}
			return
		}
		_ = op.Finish(context.Background())
	})
}
