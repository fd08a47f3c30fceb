package columnar

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// bytesOf reinterprets a slice of fixed-width values as its bytes, without a copy.
func bytesOf[T any](vals []T) []byte {
	if len(vals) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals)*int(unsafe.Sizeof(zero)))
}

// valuesOf reinterprets the value buffer of a fixed-width array as []T,
// honouring the array's offset. The caller must pick T of the array's width.
func valuesOf[T any](a arrow.Array) []T {
	d := a.Data()
	buf := d.Buffers()[1]
	if buf == nil || d.Len() == 0 {
		return nil
	}
	b := buf.Bytes()
	all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(*new(T))))
	return all[d.Offset() : d.Offset()+d.Len()]
}

// Int64Values returns the values of an int64-wide array (int64, timestamp,
// date64, duration) without a copy. Null slots hold unspecified values.
func Int64Values(a arrow.Array) []int64 { return valuesOf[int64](a) }

// Float64Values returns the values of a float64 array without a copy.
func Float64Values(a arrow.Array) []float64 { return valuesOf[float64](a) }

// Int32Values returns the values of an int32-wide array without a copy.
func Int32Values(a arrow.Array) []int32 { return valuesOf[int32](a) }

// Fixed wraps vals as an array of the fixed-width type dt without copying;
// valid, if not nil, is a validity bitmap (bit i set = row i not null) and
// nulls the number of null rows. vals must not be modified afterwards.
func Fixed[T any](dt arrow.DataType, vals []T, valid []byte, nulls int) arrow.Array {
	var vb *memory.Buffer
	if valid != nil && nulls > 0 {
		vb = memory.NewBufferBytes(valid)
	} else {
		nulls = 0
	}
	data := array.NewData(dt, len(vals), []*memory.Buffer{vb, memory.NewBufferBytes(bytesOf(vals))}, nil, nulls, 0)
	return array.MakeFromData(data)
}

// Int64s wraps vals as an int64 array without copying.
func Int64s(vals []int64) *array.Int64 {
	return Fixed(arrow.PrimitiveTypes.Int64, vals, nil, 0).(*array.Int64)
}

// Float64s wraps vals as a float64 array without copying.
func Float64s(vals []float64) *array.Float64 {
	return Fixed(arrow.PrimitiveTypes.Float64, vals, nil, 0).(*array.Float64)
}

// TimestampType is the type of every event-time column inside weir:
// microseconds since the Unix epoch, UTC. Sources convert other units.
var TimestampType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// Timestamps wraps microsecond values as a UTC timestamp array without copying.
func Timestamps(micros []int64) *array.Timestamp {
	return Fixed(TimestampType, micros, nil, 0).(*array.Timestamp)
}

// Strings wraps a value buffer and its n+1 offsets as a string array without copying.
func Strings(data []byte, offsets []int32) *array.String {
	n := len(offsets) - 1
	if n < 0 {
		n = 0
		offsets = []int32{0}
	}
	d := array.NewData(arrow.BinaryTypes.String, n,
		[]*memory.Buffer{nil, memory.NewBufferBytes(bytesOf(offsets)), memory.NewBufferBytes(data)}, nil, 0, 0)
	return array.NewStringData(d)
}

// StringsOf builds a string array from Go strings (a copy); for tests and small outputs.
func StringsOf(vals []string) *array.String {
	size := 0
	for _, v := range vals {
		size += len(v)
	}
	data := make([]byte, 0, size)
	offsets := make([]int32, 1, len(vals)+1)
	for _, v := range vals {
		data = append(data, v...)
		offsets = append(offsets, int32(len(data)))
	}
	return Strings(data, offsets)
}

// Bools packs vals into a boolean array.
func Bools(vals []bool) *array.Boolean {
	bits := make([]byte, (len(vals)+7)/8)
	for i, v := range vals {
		if v {
			bits[i>>3] |= 1 << (i & 7)
		}
	}
	d := array.NewData(arrow.FixedWidthTypes.Boolean, len(vals), []*memory.Buffer{nil, memory.NewBufferBytes(bits)}, nil, 0, 0)
	return array.NewBooleanData(d)
}

// Record assembles a record batch; every column must have rows rows.
func Record(schema *arrow.Schema, cols []arrow.Array, rows int) arrow.RecordBatch {
	return array.NewRecordBatch(schema, cols, int64(rows))
}

// Empty returns a record batch with no rows of the given schema.
func Empty(schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, 0)
	}
	return array.NewRecordBatch(schema, cols, 0)
}
