package dataflow

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func FuzzRestoreKeyGroup(f *testing.F) {
	src := NewStateBackend(KeyGroupRange{Start: 0, End: 4})
	src.Table("t").Put(1, []byte("k"), []byte("v"))
	_ = NewListState(src, "l", Int64Codec{}).Append(1, []byte("k"), 7)
	src.Timers("x").Register(1, []byte("k"), -5)
	for kg := range 4 {
		var buf bytes.Buffer
		_ = src.SnapshotKeyGroup(kg, &buf)
		f.Add(buf.Bytes())
	}
	f.Add([]byte("WKG\x01\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewStateBackend(KeyGroupRange{Start: 0, End: 4})
		if s.RestoreKeyGroup(1, bytes.NewReader(data)) != nil {
			return
		}
		// What restores must snapshot canonically and restore to itself.
		var a, b bytes.Buffer
		if err := s.SnapshotKeyGroup(1, &a); err != nil {
			t.Fatal(err)
		}
		s2 := NewStateBackend(KeyGroupRange{Start: 0, End: 4})
		if err := s2.RestoreKeyGroup(1, bytes.NewReader(a.Bytes())); err != nil {
			t.Fatal(err)
		}
		if err := s2.SnapshotKeyGroup(1, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("snapshot of a restored snapshot differs")
		}
	})
}

func TestCodecsPreserveOrder(t *testing.T) {
	ints := []int64{math.MinInt64, -1 << 40, -2, -1, 0, 1, 2, 1 << 40, math.MaxInt64}
	checkOrder(t, Int64Codec{}, ints)
	floats := []float64{math.Inf(-1), -1e300, -2.5, -1e-300, 0, 1e-300, 2.5, 1e300, math.Inf(1)}
	checkOrder(t, Float64Codec{}, floats)
	checkOrder(t, StringCodec{}, []string{"", "a", "a\x00", "ab", "b"})
	if b, _ := (Float64Codec{}).Encode(nil, math.NaN()); true {
		if v, _ := (Float64Codec{}).Decode(b); !math.IsNaN(v) {
			t.Errorf("NaN decoded as %v", v)
		}
	}
	if _, err := (Float64Codec{}).Decode([]byte{1}); err == nil {
		t.Error("Float64Codec decoded 1 byte")
	}
	if _, err := (GobCodec[point]{}).Decode([]byte("junk")); err == nil {
		t.Error("GobCodec decoded junk")
	}
	if _, err := (JSONCodec[point]{}).Decode([]byte("{")); err == nil {
		t.Error("JSONCodec decoded junk")
	}
}

func checkOrder[T any](t *testing.T, c Codec[T], sorted []T) {
	t.Helper()
	var prev []byte
	for i, v := range sorted {
		b, err := c.Encode([]byte("prefix"), v)
		if err != nil {
			t.Fatal(err)
		}
		b = b[len("prefix"):]
		got, err := c.Decode(b)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Fatalf("round trip of %v = %v, %v", v, got, err)
		}
		if i > 0 && bytes.Compare(prev, b) >= 0 {
			t.Errorf("encoding of %v does not sort after %v", v, sorted[i-1])
		}
		prev = b
	}
}

func TestEncodeKey(t *testing.T) {
	mem := memory.DefaultAllocator
	tsType := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean,
		arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, tsType,
		arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64,
	}
	// Row 0: small values; row 1: extremes; row 2: NULLs; row 3: like row 0
	// but float64 -0 (which must encode as +0).
	rows := [][]any{
		{int8(-1), int16(-2), int32(-3), int64(-4), uint8(1), uint16(2), uint32(3), uint64(4),
			float32(1.5), 0.0, true, "a\x00b", []byte{0, 1}, arrow.Timestamp(-5), arrow.Date32(6), arrow.Date64(7)},
		{int8(math.MaxInt8), int16(math.MinInt16), int32(math.MaxInt32), int64(math.MinInt64), uint8(255), uint16(65535),
			uint32(math.MaxUint32), uint64(math.MaxUint64), float32(math.Inf(-1)), math.MaxFloat64, false, "", []byte{},
			arrow.Timestamp(math.MaxInt64), arrow.Date32(math.MinInt32), arrow.Date64(0)},
		make([]any, len(types)),
		{int8(-1), int16(-2), int32(-3), int64(-4), uint8(1), uint16(2), uint32(3), uint64(4),
			float32(1.5), math.Copysign(0, -1), true, "a\x00b", []byte{0, 1}, arrow.Timestamp(-5), arrow.Date32(6), arrow.Date64(7)},
	}
	fields := make([]arrow.Field, len(types))
	for i, dt := range types {
		fields[i] = arrow.Field{Name: fmt.Sprint("c", i), Type: dt, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	w, err := NewRowWriter(schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Append(Insert, r...); err != nil {
			t.Fatal(err)
		}
	}
	rec := w.Batch().Rec
	cols := make([]int, len(types))
	for i := range cols {
		cols[i] = i
		if !KeyEncodable(types[i]) {
			t.Fatalf("%s not key-encodable", types[i])
		}
	}
	keys := make([][]byte, len(rows))
	for row := range rows {
		keys[row] = EncodeKey(rec, cols, row, nil)
		got, err := DecodeKey(keys[row], types...)
		if err != nil {
			t.Fatalf("row %d: %v", row, err)
		}
		if row == 3 {
			continue
		}
		for i := range types {
			if fmt.Sprintf("%T %v", got[i], got[i]) != fmt.Sprintf("%T %v", rows[row][i], rows[row][i]) {
				t.Errorf("row %d column %d (%s): decoded %T %v, want %T %v", row, i, types[i], got[i], got[i], rows[row][i], rows[row][i])
			}
		}
	}
	if bytes.Equal(keys[0], keys[1]) || bytes.Equal(keys[0], keys[2]) || bytes.Equal(keys[1], keys[2]) {
		t.Error("distinct rows encode equally")
	}
	if !bytes.Equal(keys[0], keys[3]) {
		t.Error("float64 -0 and +0 encode differently")
	}
	// Equal keys hash equally (the key group follows from the key bytes).
	h := make([]uint64, 4)
	if err := (&KeySelector{Columns: schemaFieldNames(schema)}).Hash(rec, h); err != nil {
		t.Fatal(err)
	}
	if h[0] != h[3] {
		t.Error("rows with equal keys hash differently")
	}
	// Concatenations are unambiguous: ("a", "bc") and ("ab", "c") differ.
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"a", "ab"}, nil)
	s1 := sb.NewArray()
	sb.AppendValues([]string{"bc", "c"}, nil)
	s2 := sb.NewArray()
	two := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.BinaryTypes.String}, {Name: "y", Type: arrow.BinaryTypes.String}}, nil), []arrow.Array{s1, s2}, 2)
	if bytes.Equal(EncodeKey(two, []int{0, 1}, 0, nil), EncodeKey(two, []int{0, 1}, 1, nil)) {
		t.Error(`("a","bc") and ("ab","c") encode equally`)
	}
	if _, err := DecodeKey(append(keys[0], 0), types...); err == nil {
		t.Error("DecodeKey accepted trailing bytes")
	}
	if _, err := DecodeKey(keys[0][:len(keys[0])-1], types...); err == nil {
		t.Error("DecodeKey accepted a truncated key")
	}
	if KeyEncodable(arrow.BinaryTypes.LargeString) {
		t.Error("large strings are not hashable, so not key-encodable")
	}
}

func schemaFieldNames(s *arrow.Schema) []string {
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name)
	}
	return names
}

type point struct {
	Name string
	X, Y float64
	Tags []string
}

func snapshot(t *testing.T, s *StateBackend, kg int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.SnapshotKeyGroup(kg, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
