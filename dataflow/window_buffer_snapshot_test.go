package dataflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// bufSchema has a column of every kind the row codec writes, with NULLs.
var bufSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: WindowStartColumn, Type: columnar.TimestampType},
	{Name: WindowEndColumn, Type: columnar.TimestampType},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32},
}, nil)

// bufBatch makes n rows from seed in tumbling windows of 2 s starting at
// from seconds.
func bufBatch(seed, n int, from int64) Batch {
	rb := array.NewRecordBuilder(memory.DefaultAllocator, bufSchema)
	for i := range n {
		x := seed*31 + i
		if x%7 == 3 {
			rb.Field(0).AppendNull()
		} else {
			rb.Field(0).(*array.Int64Builder).Append(int64(x % 5))
		}
		if x%6 == 1 {
			rb.Field(1).AppendNull()
		} else {
			rb.Field(1).(*array.StringBuilder).Append(strings.Repeat("é", x%3))
		}
		start := (from + int64(i%3)*2) * 1_000_000
		rb.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(start))
		rb.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(start + 2_000_000))
		rb.Field(4).(*array.Int64Builder).Append(int64(x*13%17 - 8))
		if x%5 == 2 {
			rb.Field(5).AppendNull()
		} else {
			rb.Field(5).(*array.Float64Builder).Append(float64(x) / 3)
		}
		if x%4 == 0 {
			rb.Field(6).AppendNull()
		} else {
			rb.Field(6).(*array.BooleanBuilder).Append(x%3 == 0)
		}
		rb.Field(7).(*array.Int8Builder).Append(int8(-x))
		rb.Field(8).(*array.Uint32Builder).Append(uint32(x * 1000003))
		if x%3 == 0 {
			rb.Field(9).AppendNull()
		} else {
			rb.Field(9).(*array.BinaryBuilder).Append([]byte{byte(x), 0})
		}
		rb.Field(10).(*array.Float32Builder).Append(float32(x) / 7)
		rb.Field(11).(*array.Date32Builder).Append(arrow.Date32(x))
	}
	return Inserts(rb.NewRecordBatch())
}

// bufOps are the operators on the window buffer, fresh per call.
var bufOps = map[string]func() snapOp{
	"topn": func() snapOp {
		return &windowTopNOp{spec: TopNSpec{PartitionBy: []string{"k"}, OrderBy: []SortKey{{Column: "v", Desc: true}}, N: 2, RankColumn: "rank"},
			keyCols: []string{"k"}}
	},
	"join": func() snapOp {
		spec := WindowJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"}, Kind: FullOuterJoin, LeftSchema: bufSchema, RightSchema: bufSchema}
		return &windowJoinOp{spec: spec, exchange: [2][]string{{"k"}, {"k"}}}
	},
}

// mergeOps are the operators TestWindowBufferRestoreMerge runs: those on
// the window buffer, and the window aggregate (over the batches' own
// window columns), which restores fired and unfired parts the same way.
var mergeOps = map[string]func() snapOp{
	"topn": bufOps["topn"],
	"join": bufOps["join"],
	"agg": func() snapOp {
		return &windowAggOp{spec: WindowAggSpec{Keys: []string{"k"}, FromColumns: true,
			Aggs: []Agg{{Func: CountAll, As: "n"}, {Func: Sum, Column: "v", As: "sum_v"}, {Func: Max, Column: "s", As: "max_s"}}}}
	},
}

var bufKinds = map[string]string{"topn": windowTopNSnapshotKind, "join": windowJoinSnapshotKind}

// bufTC is a subtask of all key groups behind a hash exchange, in a job
// whose windows are retained after they fire.
func bufTC(out Output) *TaskContext {
	tc := fakeTaskContext(out)
	tc.InputKeys = []string{"k"}
	return tc
}

// feed sends batches to every input of op (a join gets each batch on both
// sides, the right one shifted), then watermark w.
func feed(t testing.TB, op Operator, w watermark.Time, batches ...Batch) {
	t.Helper()
	ctx := context.Background()
	for i, b := range batches {
		if err := op.ProcessBatch(ctx, 0, b); err != nil {
			t.Fatal(err)
		}
		if _, ok := op.(*windowJoinOp); ok {
			if err := op.ProcessBatch(ctx, 1, bufBatch(i+100, 9, 0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := op.ProcessWatermark(ctx, w); err != nil {
		t.Fatal(err)
	}
}

func openOp(t testing.TB, op Operator, tc *TaskContext) {
	t.Helper()
	if err := op.Open(tc); err != nil {
		t.Fatal(err)
	}
}

// bufSnapshot runs batches through a fresh op, fires the windows before 2 s
// (retained for updates) and snapshots it.
func bufSnapshot(t testing.TB, name string) (snapOp, map[int][]byte) {
	op := bufOps[name]()
	openOp(t, op, bufTC(&recordingOutput{}))
	feed(t, op, watermark.Time(2_000_000), bufBatch(1, 30, 0), bufBatch(2, 20, 2))
	blobs, err := op.SnapshotKeyGroups(context.Background(), Barrier{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) < 2 {
		t.Fatalf("%s: %d key groups in the snapshot, want several", name, len(blobs))
	}
	return op, blobs
}

func restoreOp(t testing.TB, name string, out Output, blobs ...map[int][]byte) snapOp {
	t.Helper()
	op := mergeOps[name]()
	openOp(t, op, bufTC(out))
	for _, bs := range blobs {
		for _, kg := range sortedMapKeys(bs) {
			if err := op.RestoreKeyGroup(kg, bs[kg]); err != nil {
				t.Fatalf("%s: restore key group %d: %v", name, kg, err)
			}
		}
	}
	return op
}

// emittedRows renders batches as a sorted multiset of rows, retractions
// removing their row.
func emittedRows(bs []Batch) []string {
	counts := map[string]int{}
	for _, b := range bs {
		for i := range b.Len() {
			var sb strings.Builder
			for _, c := range b.Rec.Columns() {
				sb.WriteString(c.ValueStr(i) + " ")
			}
			if b.Op(i) == Retract {
				counts[sb.String()]--
			} else {
				counts[sb.String()]++
			}
		}
	}
	var out []string
	for r, n := range counts {
		out = append(out, fmt.Sprintf("%dx %s", n, r))
	}
	slices.Sort(out)
	return out
}

// TestWindowBufferSnapshotRoundTrip: a restored operator snapshots to the
// same bytes, and continues exactly as the original: a late row updates a
// fired window, the open windows fire with every row.
func TestWindowBufferSnapshotRoundTrip(t *testing.T) {
	for name := range bufOps {
		t.Run(name, func(t *testing.T) {
			orig, blobs := bufSnapshot(t, name)
			out := &recordingOutput{}
			op := restoreOp(t, name, out, blobs)
			sameSnapshot(t, name, resnapshot(t, op), blobs)
			origOut := &recordingOutput{}
			orig.(interface{ taskContext() *TaskContext }).taskContext().Out = origOut
			late := bufBatch(3, 6, 0) // rows of the fired window [0, 2) and open ones
			feed(t, orig, watermark.MaxTime, late)
			feed(t, op, watermark.MaxTime, late)
			want, got := emittedRows(origOut.batches), emittedRows(out.batches)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("restored operator emitted\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func (o *windowTopNOp) taskContext() *TaskContext { return o.TC }
func (o *windowJoinOp) taskContext() *TaskContext { return o.TC }

// TestWindowBufferRestoreMerge: a window that fired on one former subtask
// and not on another (their watermarks differ while splits are idle) is
// restored fired, and the rows never emitted are emitted as an update, so
// that the output of both equals that of one operator that saw all rows.
func TestWindowBufferRestoreMerge(t *testing.T) {
	for name := range mergeOps {
		t.Run(name, func(t *testing.T) {
			all := bufBatch(4, 40, 0)
			ctx := context.Background()
			nIn := 1
			if name == "join" {
				nIn = 2 // the batch joined with itself
			}
			run := func(op Operator, b Batch, w watermark.Time) {
				t.Helper()
				for i := range nIn {
					if err := op.ProcessBatch(ctx, i, b); err != nil {
						t.Fatal(err)
					}
				}
				if err := op.ProcessWatermark(ctx, w); err != nil {
					t.Fatal(err)
				}
			}
			ref := &recordingOutput{}
			refOp := mergeOps[name]()
			openOp(t, refOp, bufTC(ref))
			run(refOp, all, watermark.MaxTime)

			// Two subtasks of key groups [0, 64) and [64, 128) get their rows
			// of the batch; only the first sees the watermark 2 s, which
			// fires the window [0 s, 2 s).
			var halves [2][]int32
			hashes := make([]uint64, all.Len())
			if err := Keys("k").Hash(all.Rec, hashes); err != nil {
				t.Fatal(err)
			}
			for r, h := range hashes {
				s := 0
				if KeyGroupOf(h, DefaultMaxParallelism) >= DefaultMaxParallelism/2 {
					s = 1
				}
				halves[s] = append(halves[s], int32(r))
			}
			out := &recordingOutput{}
			var snaps []map[int][]byte
			for s, rows := range halves {
				tc := bufTC(out)
				tc.KeyGroups = KeyGroupsOf(s, 2, DefaultMaxParallelism)
				tc.Subtask, tc.Parallelism = s, 2
				op := mergeOps[name]()
				openOp(t, op, tc)
				part, err := changeBatch(all.Rec, rows, Insert)
				if err != nil {
					t.Fatal(err)
				}
				w := watermark.Time(2_000_000)
				if s == 1 {
					w = watermark.Time(1_000_000)
				}
				run(op, part, w)
				blobs, err := op.SnapshotKeyGroups(ctx, Barrier{ID: 1})
				if err != nil {
					t.Fatal(err)
				}
				snaps = append(snaps, blobs)
			}
			want := emittedRows(ref.batches)
			for _, again := range []bool{false, true} {
				out := &recordingOutput{batches: slices.Clone(out.batches)}
				op := restoreOp(t, name, out, snaps...)
				if again {
					// A checkpoint before any input: the rows never emitted
					// go out before it, and a restore from it loses nothing.
					blobs, err := op.SnapshotKeyGroups(ctx, Barrier{ID: 2})
					if err != nil {
						t.Fatal(err)
					}
					op = restoreOp(t, name, out, blobs)
				}
				if err := op.ProcessWatermark(ctx, watermark.MaxTime); err != nil {
					t.Fatal(err)
				}
				if got := emittedRows(out.batches); len(want) == 0 || !slices.Equal(got, want) {
					t.Errorf("after a merged restore (again=%v)\n%s\nwant\n%s", again, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}

// TestWindowBufferSnapshotCorrupt: every damaged byte and every truncation
// is an error wrapping ErrCorruptSnapshot (or ErrIncompatibleSnapshot for a
// changed kind), never a panic or a silent restore, and leaves nothing
// restored.
func TestWindowBufferSnapshotCorrupt(t *testing.T) {
	for name := range bufOps {
		_, blobs := bufSnapshot(t, name)
		kg := sortedMapKeys(blobs)[0]
		b := blobs[kg]
		step := 1 + len(b)/400
		for i := 0; i < len(b); i += step {
			bad := bytes.Clone(b)
			bad[i] ^= 0x21
			op := bufOps[name]()
			openOp(t, op, bufTC(discard{}))
			err := op.RestoreKeyGroup(kg, bad)
			if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
				t.Fatalf("%s: byte %d damaged: %v, want a corrupt-snapshot error", name, i, err)
			}
		}
		for n := 0; n < len(b); n += step {
			op := bufOps[name]()
			openOp(t, op, bufTC(discard{}))
			if err := op.RestoreKeyGroup(kg, b[:n]); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("%s: truncated to %d bytes: %v", name, n, err)
			}
		}
		// A blob of the other operator is refused as incompatible.
		other := bufOps["topn"]()
		if name == "topn" {
			other = bufOps["join"]()
		}
		openOp(t, other, bufTC(discard{}))
		if err := other.RestoreKeyGroup(kg, b); !errors.Is(err, ErrIncompatibleSnapshot) {
			t.Fatalf("%s blob restored into another operator: %v", name, err)
		}
	}
}

// TestWindowBufferPayloadCorrupt damages the payload under a valid
// envelope, so that the decoder itself must catch it.
func TestWindowBufferPayloadCorrupt(t *testing.T) {
	for name := range bufOps {
		_, blobs := bufSnapshot(t, name)
		kg := sortedMapKeys(blobs)[0]
		p, err := openSnapshot(blobs[kg], bufKinds[name], kg)
		if err != nil {
			t.Fatal(err)
		}
		step := 1 + len(p)/300
		for i := 0; i < len(p); i += step {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(p)
				bad[i] ^= mask
				op := bufOps[name]()
				openOp(t, op, bufTC(discard{}))
				// Some damage is undetectable (a value changed); it must not panic.
				if err := op.RestoreKeyGroup(kg, sealSnapshot(bufKinds[name], kg, bad)); err != nil && !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
					t.Fatalf("%s: payload byte %d ^ %#x: %v", name, i, mask, err)
				}
			}
		}
		for n := range len(p) {
			op := bufOps[name]()
			openOp(t, op, bufTC(discard{}))
			if err := op.RestoreKeyGroup(kg, sealSnapshot(bufKinds[name], kg, p[:n])); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("%s: payload truncated to %d bytes: %v", name, n, err)
			}
		}
	}
}

// FuzzWindowBufferRestore feeds arbitrary payloads under a valid envelope
// to both operators: the decoder must return an error or restore, never
// panic.
func FuzzWindowBufferRestore(f *testing.F) {
	for name := range bufOps {
		_, blobs := bufSnapshot(f, name)
		for kg, b := range blobs {
			p, err := openSnapshot(b, bufKinds[name], kg)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(name, p)
			break
		}
	}
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		newOp, ok := bufOps[name]
		if !ok {
			return
		}
		op := newOp()
		openOp(t, op, bufTC(discard{}))
		if err := op.RestoreKeyGroup(0, sealSnapshot(bufKinds[name], 0, payload)); err != nil {
			if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
				t.Fatalf("restore: %v, want a corrupt-snapshot error", err)
			}
			return
		}
		// What restored must run.
		_ = op.ProcessWatermark(context.Background(), watermark.MaxTime)
	})
}
