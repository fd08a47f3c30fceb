package columnar

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TakeRecord returns a new record batch with the rows idx of rec, in that order.
func TakeRecord(rec arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		c, err := Take(rec.Column(i), idx)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

// Take returns a new array holding a's rows idx, in that order. It supports
// every fixed-width primitive type, booleans, strings and binary.
func Take(a arrow.Array, idx []int32) (arrow.Array, error) {
	valid, nulls := takeValidity(a, idx)
	dt := a.DataType()
	switch dt.ID() {
	case arrow.BOOL:
		src := a.(*array.Boolean)
		bits := make([]byte, (len(idx)+7)/8)
		for i, j := range idx {
			if src.Value(int(j)) {
				bits[i>>3] |= 1 << (i & 7)
			}
		}
		return makeFixed(dt, len(idx), valid, nulls, bits), nil
	case arrow.STRING:
		data, offsets := takeBinary(a.(*array.String).ValueOffsets(), a.(*array.String).ValueBytes(), idx)
		return array.MakeFromData(array.NewData(dt, len(idx), []*memory.Buffer{bufOrNil(valid, nulls), memory.NewBufferBytes(bytesOf(offsets)), memory.NewBufferBytes(data)}, nil, nulls, 0)), nil
	case arrow.BINARY:
		data, offsets := takeBinary(a.(*array.Binary).ValueOffsets(), a.(*array.Binary).ValueBytes(), idx)
		return array.MakeFromData(array.NewData(dt, len(idx), []*memory.Buffer{bufOrNil(valid, nulls), memory.NewBufferBytes(bytesOf(offsets)), memory.NewBufferBytes(data)}, nil, nulls, 0)), nil
	case arrow.NULL:
		return array.NewNull(len(idx)), nil
	}
	fw, ok := dt.(arrow.FixedWidthDataType)
	if !ok {
		return nil, fmt.Errorf("columnar: take: unsupported type %s", dt)
	}
	switch fw.BitWidth() {
	case 8:
		return makeFixed(dt, len(idx), valid, nulls, bytesOf(gather(valuesOf[uint8](a), idx))), nil
	case 16:
		return makeFixed(dt, len(idx), valid, nulls, bytesOf(gather(valuesOf[uint16](a), idx))), nil
	case 32:
		return makeFixed(dt, len(idx), valid, nulls, bytesOf(gather(valuesOf[uint32](a), idx))), nil
	case 64:
		return makeFixed(dt, len(idx), valid, nulls, bytesOf(gather(valuesOf[uint64](a), idx))), nil
	case 128:
		return makeFixed(dt, len(idx), valid, nulls, bytesOf(gather(valuesOf[[2]uint64](a), idx))), nil
	}
	return nil, fmt.Errorf("columnar: take: unsupported type %s", dt)
}

func gather[T any](src []T, idx []int32) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		out[i] = src[j]
	}
	return out
}

// takeBinary gathers variable-width values. offsets are the array's own
// (absolute within the value buffer) and data is ValueBytes(), which arrow-go
// already shifts by offsets[0]: subtract it (sliced arrays).
func takeBinary(offsets []int32, data []byte, idx []int32) ([]byte, []int32) {
	base := offsets[0]
	size := 0
	for _, j := range idx {
		size += int(offsets[j+1] - offsets[j])
	}
	out := make([]byte, 0, size)
	outOff := make([]int32, len(idx)+1)
	for i, j := range idx {
		out = append(out, data[offsets[j]-base:offsets[j+1]-base]...)
		outOff[i+1] = int32(len(out))
	}
	return out, outOff
}

func takeValidity(a arrow.Array, idx []int32) ([]byte, int) {
	if a.NullN() == 0 {
		return nil, 0
	}
	bits := make([]byte, (len(idx)+7)/8)
	nulls := 0
	for i, j := range idx {
		if a.IsValid(int(j)) {
			bitutil.SetBit(bits, i)
		} else {
			nulls++
		}
	}
	return bits, nulls
}

func bufOrNil(valid []byte, nulls int) *memory.Buffer {
	if nulls == 0 {
		return nil
	}
	return memory.NewBufferBytes(valid)
}

func makeFixed(dt arrow.DataType, n int, valid []byte, nulls int, values []byte) arrow.Array {
	if nulls == 0 {
		valid = nil
	}
	return array.MakeFromData(array.NewData(dt, n, []*memory.Buffer{bufOrNil(valid, nulls), memory.NewBufferBytes(values)}, nil, nulls, 0))
}
