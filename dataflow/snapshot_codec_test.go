package dataflow

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

var fuzzSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Metadata: arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{"2"})},
	{Name: "ts", Type: columnar.TimestampType},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64},
}, nil)

var fuzzAggs = []Agg{{Func: CountAll, As: "n"}, {Func: Sum, Column: "v", As: "sum"}, {Func: Min, Column: "f", As: "min"},
	{Func: CountDistinct, Column: "s", As: "ds"}, {Func: ApproxPercentile, Column: "f", As: "p", Fraction: 0.9},
	{Func: ApproxCountDistinct, Column: "v", As: "hll"}}

func testTC() *TaskContext {
	return &TaskContext{Node: "op", Parallelism: 1, KeyGroups: KeyGroupRange{0, DefaultMaxParallelism},
		MaxParallelism: DefaultMaxParallelism, State: NewStateBackend(KeyGroupRange{0, DefaultMaxParallelism}),
		Metrics: &OperatorMetrics{}, Out: discard{}, UpdatesPossible: true}
}

func fuzzBatch() Batch {
	n := 40
	k, ts, v := make([]int64, n), make([]int64, n), make([]int64, n)
	s, f := make([]string, n), make([]float64, n)
	for i := range n {
		k[i], ts[i], v[i] = int64(i%5), int64(i)*300_000, int64(i*7%11)
		s[i], f[i] = string(rune('a'+i%4)), float64(i)/3
	}
	return Inserts(columnar.Record(fuzzSchema, []arrow.Array{columnar.Int64s(k), columnar.StringsOf(s),
		columnar.Timestamps(ts), columnar.Int64s(v), columnar.Float64s(f)}, n))
}

type snapOp interface {
	Operator
	StateSnapshotter
}

// fuzzOps are the snapshotting operators, each with a fresh instance per call.
var fuzzOps = map[string]func() snapOp{
	"window": func() snapOp {
		return &windowAggOp{spec: WindowAggSpec{Keys: []string{"k", "s"}, TimeColumn: "ts", Window: Hop(time.Second, 3*time.Second), Aggs: fuzzAggs}}
	},
	"session": func() snapOp {
		return &sessionAggOp{spec: WindowAggSpec{Keys: []string{"k"}, TimeColumn: "ts", Aggs: fuzzAggs}, gap: 500_000}
	},
	"group": func() snapOp { return &groupAggOp{spec: GroupAggSpec{Keys: []string{"s"}, Aggs: fuzzAggs}} },
}

// snapshotOf runs a batch and a watermark through a fresh op and snapshots it.
func snapshotOf(t testing.TB, name string) map[int][]byte {
	op := fuzzOps[name]()
	if err := op.Open(testTC()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := op.ProcessBatch(ctx, 0, fuzzBatch()); err != nil {
		t.Fatal(err)
	}
	if err := op.ProcessWatermark(ctx, watermark.Time(4_000_000)); err != nil {
		t.Fatal(err)
	}
	blobs, err := op.SnapshotKeyGroups(ctx, Barrier{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) == 0 {
		t.Fatalf("%s: empty snapshot", name)
	}
	return blobs
}

// TestOperatorSnapshotRoundTrip: restoring a snapshot and snapshotting
// again gives the same bytes (the encoding is canonical and loses nothing).
func TestOperatorSnapshotRoundTrip(t *testing.T) {
	for name, newOp := range fuzzOps {
		blobs := snapshotOf(t, name)
		op := newOp()
		if err := op.Open(testTC()); err != nil {
			t.Fatal(err)
		}
		for kg, b := range blobs {
			if err := op.RestoreKeyGroup(kg, b); err != nil {
				t.Fatalf("%s: restore: %v", name, err)
			}
		}
		sameSnapshot(t, name, resnapshot(t, op), blobs)
		// Every damaged byte is an error, never a panic or a silent restore.
		for kg, b := range blobs {
			for i := 0; i < len(b); i += 1 + len(b)/50 {
				bad := bytes.Clone(b)
				bad[i] ^= 0x10
				op := newOp()
				_ = op.Open(testTC())
				if err := op.RestoreKeyGroup(kg, bad); !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrIncompatibleSnapshot) {
					t.Fatalf("%s: byte %d damaged: %v, want a corrupt-snapshot error", name, i, err)
				}
			}
			op := newOp()
			_ = op.Open(testTC())
			if err := op.RestoreKeyGroup(kg, b[:len(b)-3]); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("%s: truncated: %v", name, err)
			}
		}
	}
}

// FuzzOperatorRestore feeds arbitrary payloads, sealed with a valid
// envelope so that they reach the operators' decoders, to every operator.
func FuzzOperatorRestore(f *testing.F) {
	kinds := map[string]string{"window": windowAggSnapshotKind, "session": sessionAggSnapshotKind, "group": groupAggSnapshotKind}
	for name := range fuzzOps {
		for kg, b := range snapshotOf(f, name) {
			p, err := openSnapshot(b, kinds[name], kg)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(name, p)
		}
	}
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		newOp, ok := fuzzOps[name]
		if !ok {
			return
		}
		op := newOp()
		if err := op.Open(testTC()); err != nil {
			t.Fatal(err)
		}
		_ = op.RestoreKeyGroup(0, sealSnapshot(kinds[name], 0, payload)) // must not panic
	})
}

// FuzzCheckpointFiles: metadata and subtask-file decoders never panic.
func FuzzCheckpointFiles(f *testing.F) {
	chk := &Checkpoint{ID: 3, MaxParallelism: 128, Splits: map[string]SplitState{"a": {Position: 5, Max: 9}, "b": {Done: true}}}
	f.Add(encodeMetadata("job", chk, []fileRef{{name: "job/chk-3/op/0", size: 10, crc: 7}}))
	f.Add(encodeSubtaskFile(subtaskSnapshot{node: "op", subtask: 1, entries: []snapshotEntry{{kind: entryOperator, kg: 3, blob: []byte("x")}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, _ = decodeMetadata(b)
		_ = decodeSubtaskFile(b, 128, map[string]*NodeState{})
		_ = decodeSubtaskFile(seal(append([]byte(subtaskMagic+"\x01"), b...)), 128, map[string]*NodeState{})
		_, _, _, _ = decodeMetadata(seal(append([]byte(metadataMagic+"\x01"), b...)))
	})
}

func TestSchemaRoundTrip(t *testing.T) {
	in := arrow.NewSchema(append(fuzzSchema.Fields(),
		arrow.Field{Name: "d", Type: &arrow.Decimal128Type{Precision: 12, Scale: 3}},
		arrow.Field{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "Europe/Paris"}},
		arrow.Field{Name: "b", Type: arrow.FixedWidthTypes.Boolean}), nil)
	b, err := encodeSchema(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeSchema(b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Equal(in) {
		t.Fatalf("schema %s came back as %s", in, out)
	}
	if _, err := encodeSchema(arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}}, nil)); err == nil {
		t.Fatal("a list column was encoded: nested types are not supported")
	}
}

// sameSnapshot requires got, a snapshot of a restored operator, to equal
// want, the snapshot it was restored from, key group by key group: a
// restore loses, adds or changes nothing.
func sameSnapshot(t testing.TB, name string, got, want map[int][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d key groups after a restore, want %d", name, len(got), len(want))
	}
	for kg, b := range want {
		if !bytes.Equal(got[kg], b) {
			t.Errorf("%s: key group %d: the snapshot of the restored operator differs", name, kg)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// resnapshot snapshots a restored operator again (checkpoint 2).
func resnapshot(t testing.TB, op StateSnapshotter) map[int][]byte {
	t.Helper()
	again, err := op.SnapshotKeyGroups(context.Background(), Barrier{ID: 2})
	if err != nil {
		t.Fatal(err)
	}
	return again
}
