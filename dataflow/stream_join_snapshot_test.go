package dataflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

var sjSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "ts", Type: columnar.TimestampType},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// sjBatch makes n rows from seed with keys 0..7 (some NULL) and event times
// in [from, from+3) seconds, ascending.
func sjBatch(seed uint64, n int, from int64) Batch {
	r := rand.New(rand.NewPCG(seed, 3))
	kb := array.NewInt64Builder(memory.DefaultAllocator)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	var ts, vs []int64
	t := from * 1_000_000
	for i := range n {
		if r.IntN(10) == 0 {
			kb.AppendNull()
		} else {
			kb.Append(r.Int64N(8))
		}
		if r.IntN(5) == 0 {
			sb.AppendNull()
		} else {
			sb.Append(fmt.Sprintf("s%d", r.IntN(100)))
		}
		t += r.Int64N(3_000_000 / int64(n))
		ts = append(ts, t)
		vs = append(vs, int64(i))
	}
	return Batch{Rec: columnar.Record(sjSchema, []arrow.Array{kb.NewArray(), columnar.Timestamps(ts), sb.NewArray(), columnar.Int64s(vs)}, n)}
}

// sjOps are the stream joins under test.
var sjOps = map[string]func() *streamJoinOp{
	"regular-outer-ttl": func() *streamJoinOp {
		return &streamJoinOp{name: "regular join", spec: streamJoinSpec{leftKeys: []string{"k"}, rightKeys: []string{"k"},
			kind: LeftOuterJoin, leftTime: "ts", rightTime: "ts", leftSchema: sjSchema, rightSchema: sjSchema,
			bounded: true, lower: -time.Second.Microseconds(), upper: time.Second.Microseconds()}}
	},
	"regular-outer": func() *streamJoinOp {
		return &streamJoinOp{name: "regular join", spec: streamJoinSpec{leftKeys: []string{"k"}, rightKeys: []string{"k"},
			kind: LeftOuterJoin, leftSchema: sjSchema, rightSchema: sjSchema}}
	},
	"interval": func() *streamJoinOp {
		return &streamJoinOp{name: "interval join", spec: streamJoinSpec{leftKeys: []string{"k"}, rightKeys: []string{"k"},
			kind: InnerJoin, leftTime: "ts", rightTime: "ts", leftSchema: sjSchema, rightSchema: sjSchema,
			bounded: true, lower: -500_000, upper: 2_000_000}}
	},
}

// sjFeed sends left and right batches starting at from seconds, then
// watermark w.
func sjFeed(t testing.TB, op *streamJoinOp, seed uint64, from int64, w watermark.Time) {
	t.Helper()
	ctx := context.Background()
	if err := op.ProcessBatch(ctx, 0, sjBatch(seed, 40, from)); err != nil {
		t.Fatal(err)
	}
	if err := op.ProcessBatch(ctx, 1, sjBatch(seed+1000, 30, from)); err != nil {
		t.Fatal(err)
	}
	if err := op.ProcessWatermark(ctx, w); err != nil {
		t.Fatal(err)
	}
}

// sjSnapshot runs two rounds of rows through a fresh op (the first round's
// early rows expire) and snapshots it.
func sjSnapshot(t testing.TB, name string) (*streamJoinOp, map[int][]byte) {
	t.Helper()
	op := sjOps[name]()
	openOp(t, op, bufTC(&recordingOutput{}))
	sjFeed(t, op, 1, 0, watermark.Time(1_000_000))
	sjFeed(t, op, 2, 3, watermark.Time(3_500_000))
	blobs, err := op.SnapshotKeyGroups(context.Background(), Barrier{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) < 2 {
		t.Fatalf("%s: %d key groups in the snapshot, want several", name, len(blobs))
	}
	return op, blobs
}

func sjRestore(t testing.TB, name string, out Output, blobs map[int][]byte) *streamJoinOp {
	t.Helper()
	op := sjOps[name]()
	openOp(t, op, bufTC(out))
	for _, kg := range sortedMapKeys(blobs) {
		if err := op.RestoreKeyGroup(kg, blobs[kg]); err != nil {
			t.Fatalf("%s: restore key group %d: %v", name, kg, err)
		}
	}
	return op
}

// TestStreamJoinSnapshotRoundTrip: a restored join snapshots to the same
// bytes and continues exactly as the original: new rows meet the kept ones
// (an outer row's padding retracted on its first match, once), and rows
// expire at the same watermarks.
func TestStreamJoinSnapshotRoundTrip(t *testing.T) {
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range sjOps {
			if !yield(n) {
				return
			}
		}
	}) {
		t.Run(name, func(t *testing.T) {
			orig, blobs := sjSnapshot(t, name)
			out := &recordingOutput{}
			op := sjRestore(t, name, out, blobs)
			sameSnapshot(t, name, resnapshot(t, op), blobs)
			origOut := &recordingOutput{}
			orig.TC.Out = origOut
			for _, o := range []*streamJoinOp{orig, op} {
				sjFeed(t, o, 3, 4, watermark.Time(5_000_000))
				sjFeed(t, o, 4, 6, watermark.MaxTime)
			}
			want, got := emittedRows(origOut.batches), emittedRows(out.batches)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("restored operator emitted\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if name != "regular-outer" && (len(orig.keys) != 0 || len(op.keys) != 0) {
				t.Errorf("%d and %d keys kept after the final watermark, want none", len(orig.keys), len(op.keys))
			}
		})
	}
}

// TestStreamJoinSnapshotCorrupt: every damaged byte and truncation of a
// blob, and of a payload under a valid envelope, is an error wrapping
// ErrCorruptSnapshot or ErrIncompatibleSnapshot (or, for undetectable
// damage to a value, a restore), never a panic; a refused blob leaves
// nothing restored.
func TestStreamJoinSnapshotCorrupt(t *testing.T) {
	for name := range sjOps {
		_, blobs := sjSnapshot(t, name)
		kg := sortedMapKeys(blobs)[0]
		b := blobs[kg]
		for i := range b {
			bad := bytes.Clone(b)
			bad[i] ^= 0x21
			op := sjOps[name]()
			openOp(t, op, bufTC(discard{}))
			err := op.RestoreKeyGroup(kg, bad)
			if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
				t.Fatalf("%s: byte %d damaged: %v, want a corrupt-snapshot error", name, i, err)
			}
			if len(op.keys) != 0 {
				t.Fatalf("%s: a refused blob left %d keys", name, len(op.keys))
			}
		}
		for n := range b {
			op := sjOps[name]()
			openOp(t, op, bufTC(discard{}))
			if err := op.RestoreKeyGroup(kg, b[:n]); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("%s: truncated to %d bytes: %v", name, n, err)
			}
		}
		// Another key group's blob, and a window join's, are refused.
		op := sjOps[name]()
		openOp(t, op, bufTC(discard{}))
		if err := op.RestoreKeyGroup(kg+1, b); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("%s: blob of key group %d restored as %d: %v", name, kg, kg+1, err)
		}
		if err := op.RestoreKeyGroup(kg, sealSnapshot(windowJoinSnapshotKind, kg, nil)); !errors.Is(err, ErrIncompatibleSnapshot) {
			t.Fatalf("%s: a window join's blob: %v", name, err)
		}

		p, err := openSnapshot(b, streamJoinSnapshotKind, kg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range p {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(p)
				bad[i] ^= mask
				op := sjOps[name]()
				openOp(t, op, bufTC(discard{}))
				err := op.RestoreKeyGroup(kg, sealSnapshot(streamJoinSnapshotKind, kg, bad))
				if err != nil && !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
					t.Fatalf("%s: payload byte %d ^ %#x: %v", name, i, mask, err)
				}
				if err == nil {
					sjFeed(t, op, 5, 4, watermark.MaxTime) // what restored must run
				}
			}
		}
		for n := range p {
			op := sjOps[name]()
			openOp(t, op, bufTC(discard{}))
			if err := op.RestoreKeyGroup(kg, sealSnapshot(streamJoinSnapshotKind, kg, p[:n])); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("%s: payload truncated to %d bytes: %v", name, n, err)
			}
		}
	}
}

// FuzzStreamJoinRestore feeds arbitrary payloads under a valid envelope to
// the joins: an error or a restore that runs, never a panic.
func FuzzStreamJoinRestore(f *testing.F) {
	for name := range sjOps {
		_, blobs := sjSnapshot(f, name)
		kg := sortedMapKeys(blobs)[0]
		p, err := openSnapshot(blobs[kg], streamJoinSnapshotKind, kg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, kg, p)
	}
	f.Fuzz(func(t *testing.T, name string, kg int, payload []byte) {
		newOp, ok := sjOps[name]
		if !ok || kg < 0 || kg >= DefaultMaxParallelism {
			return
		}
		op := newOp()
		openOp(t, op, bufTC(discard{}))
		if err := op.RestoreKeyGroup(kg, sealSnapshot(streamJoinSnapshotKind, kg, payload)); err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
				t.Fatalf("restore: %v, want a corrupt-snapshot error", err)
			}
			return
		}
		sjFeed(t, op, 5, 4, watermark.MaxTime)
	})
}
