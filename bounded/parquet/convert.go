package parquet

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// finish turns the decoded values of column c into its Arrow array. The
// common types are wrapped without a copy.
func (b *colBuf) finish(c *column) (arrow.Array, error) {
	valid, nulls := b.valid, b.nulls
	n := b.n
	switch c.conv {
	case convNull:
		return array.NewNull(n), nil
	case convNarrow8:
		if c.unsigned {
			return columnar.Fixed(c.typ, narrow[uint8](b.i32[:n]), valid, nulls), nil
		}
		return columnar.Fixed(c.typ, narrow[int8](b.i32[:n]), valid, nulls), nil
	case convNarrow16:
		if c.unsigned {
			return columnar.Fixed(c.typ, narrow[uint16](b.i32[:n]), valid, nulls), nil
		}
		return columnar.Fixed(c.typ, narrow[int16](b.i32[:n]), valid, nulls), nil
	case convFloat16:
		out := make([]float32, n)
		for i := range out {
			out[i] = float16.FromBits(binary.LittleEndian.Uint16(b.data[2*i:])).Float32()
		}
		return columnar.Fixed(c.typ, out, valid, nulls), nil
	case convDecimal:
		out := make([]decimal128.Num, n)
		switch c.phys {
		case physInt32:
			for i, v := range b.i32[:n] {
				out[i] = decimal128.FromI64(int64(v))
			}
		case physInt64:
			for i, v := range b.i64[:n] {
				out[i] = decimal128.FromI64(v)
			}
		case physBytes:
			for i := range out {
				d, err := decimalBytes(b.data[b.offs[i]:b.offs[i+1]])
				if err != nil {
					return nil, err
				}
				out[i] = d
			}
		case physFixed:
			w := c.typeLen
			for i := range out {
				d, err := decimalBytes(b.data[i*w : (i+1)*w])
				if err != nil {
					return nil, err
				}
				out[i] = d
			}
		}
		return columnar.Fixed(c.typ, out, valid, nulls), nil
	}
	switch c.phys {
	case physInt32:
		return columnar.Fixed(c.typ, b.i32[:n], valid, nulls), nil
	case physInt64, physInt96:
		return columnar.Fixed(c.typ, b.i64[:n], valid, nulls), nil
	case physFloat:
		return columnar.Fixed(c.typ, b.f32[:n], valid, nulls), nil
	case physDouble:
		return columnar.Fixed(c.typ, b.f64[:n], valid, nulls), nil
	case physBool:
		return array.MakeFromData(array.NewData(c.typ, n, []*memory.Buffer{validBuf(valid, nulls), memory.NewBufferBytes(b.bits)}, nil, nullsOf(valid, nulls), 0)), nil
	case physBytes:
		return varBinary(c.typ, n, valid, nulls, b.offs, b.data), nil
	case physFixed:
		w := c.typeLen
		if int64(n)*int64(w) > maxInt32 {
			return nil, fmt.Errorf("more than 2 GiB of FIXED_LEN_BYTE_ARRAY values in one batch; lower BatchRows")
		}
		offs := make([]int32, n+1)
		for i := range offs {
			offs[i] = int32(i * w)
		}
		return varBinary(c.typ, n, valid, nulls, offs, b.data[:n*w]), nil
	}
	return nil, fmt.Errorf("internal error: no decoder for physical kind %d", c.phys)
}

func validBuf(valid []byte, nulls int) *memory.Buffer {
	if valid == nil || nulls == 0 {
		return nil
	}
	return memory.NewBufferBytes(valid)
}

func nullsOf(valid []byte, nulls int) int {
	if valid == nil {
		return 0
	}
	return nulls
}

func varBinary(dt arrow.DataType, n int, valid []byte, nulls int, offs []int32, data []byte) arrow.Array {
	return array.MakeFromData(array.NewData(dt, n, []*memory.Buffer{
		validBuf(valid, nulls), memory.NewBufferBytes(int32Bytes(offs)), memory.NewBufferBytes(data),
	}, nil, nullsOf(valid, nulls), 0))
}

func int32Bytes(v []int32) []byte {
	return arrow.Int32Traits.CastToBytes(v)
}

func narrow[D int8 | uint8 | int16 | uint16](src []int32) []D {
	out := make([]D, len(src))
	for i, v := range src {
		out[i] = D(v)
	}
	return out
}

// decimalBytes reads a big-endian two's-complement unscaled value.
func decimalBytes(b []byte) (decimal128.Num, error) {
	if len(b) == 0 {
		return decimal128.Num{}, nil
	}
	var fill byte
	if b[0]&0x80 != 0 {
		fill = 0xff
	}
	for len(b) > 16 {
		if b[0] != fill {
			return decimal128.Num{}, fmt.Errorf("%w: a DECIMAL value does not fit in 128 bits", ErrCorrupt)
		}
		b = b[1:]
	}
	var buf [16]byte
	for i := range 16 - len(b) {
		buf[i] = fill
	}
	copy(buf[16-len(b):], b)
	return decimal128.New(int64(binary.BigEndian.Uint64(buf[:8])), binary.BigEndian.Uint64(buf[8:])), nil
}

// cast converts a to the merged type to (a widening chosen by mergeTypes).
func cast(a arrow.Array, to arrow.DataType) (arrow.Array, error) {
	from := a.DataType()
	if arrow.TypeEqual(from, to) {
		return a, nil
	}
	d := a.Data()
	var valid *memory.Buffer
	if a.NullN() > 0 {
		valid = d.Buffers()[0]
	}
	if from.ID() == arrow.NULL {
		return array.MakeArrayOfNull(memory.DefaultAllocator, to, a.Len()), nil
	}
	relabel := func() arrow.Array {
		return array.MakeFromData(array.NewData(to, a.Len(), d.Buffers(), d.Children(), a.NullN(), d.Offset()))
	}
	switch {
	case isInt(from) && isInt(to):
		return intCast(a, to, valid)
	case from.ID() == arrow.FLOAT32 && to.ID() == arrow.FLOAT64:
		src := a.(*array.Float32).Float32Values()
		out := make([]float64, len(src))
		for i, v := range src {
			out[i] = float64(v)
		}
		return fixedWithValidity(to, out, valid, a.NullN()), nil
	case from.ID() == arrow.TIMESTAMP && to.ID() == arrow.TIMESTAMP:
		f := unitFactor(from.(*arrow.TimestampType).Unit, to.(*arrow.TimestampType).Unit)
		src := a.(*array.Timestamp).TimestampValues()
		out := make([]int64, len(src))
		for i, v := range src {
			out[i] = int64(v) * f
		}
		return fixedWithValidity(to, out, valid, a.NullN()), nil
	case from.ID() == arrow.DECIMAL128 && to.ID() == arrow.DECIMAL128,
		from.ID() == arrow.BINARY && to.ID() == arrow.STRING,
		from.ID() == arrow.STRING && to.ID() == arrow.BINARY:
		return relabel(), nil
	}
	return nil, fmt.Errorf("internal error: no cast from %s to %s", from, to)
}

func fixedWithValidity[T any](dt arrow.DataType, vals []T, valid *memory.Buffer, nulls int) arrow.Array {
	var vb []byte
	if valid != nil {
		vb = valid.Bytes()
	}
	return columnar.Fixed(dt, vals, vb, nulls)
}

func isInt(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

func intWidth(t arrow.DataType) int { return t.(arrow.FixedWidthDataType).BitWidth() }

func isUnsigned(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// intValues reads any integer array as int64 (uint64 values above MaxInt64
// wrap; a widening to uint64 reinterprets them back).
func intValues(a arrow.Array) []int64 {
	n := a.Len()
	out := make([]int64, n)
	switch v := a.(type) {
	case *array.Int8:
		for i, x := range v.Int8Values() {
			out[i] = int64(x)
		}
	case *array.Int16:
		for i, x := range v.Int16Values() {
			out[i] = int64(x)
		}
	case *array.Int32:
		for i, x := range v.Int32Values() {
			out[i] = int64(x)
		}
	case *array.Int64:
		copy(out, v.Int64Values())
	case *array.Uint8:
		for i, x := range v.Uint8Values() {
			out[i] = int64(x)
		}
	case *array.Uint16:
		for i, x := range v.Uint16Values() {
			out[i] = int64(x)
		}
	case *array.Uint32:
		for i, x := range v.Uint32Values() {
			out[i] = int64(x)
		}
	case *array.Uint64:
		for i, x := range v.Uint64Values() {
			out[i] = int64(x)
		}
	}
	return out
}

func intCast(a arrow.Array, to arrow.DataType, valid *memory.Buffer) (arrow.Array, error) {
	v := intValues(a)
	nulls := a.NullN()
	switch to.ID() {
	case arrow.INT16:
		return fixedWithValidity(to, convertSlice[int16](v), valid, nulls), nil
	case arrow.INT32:
		return fixedWithValidity(to, convertSlice[int32](v), valid, nulls), nil
	case arrow.INT64:
		return fixedWithValidity(to, v, valid, nulls), nil
	case arrow.UINT16:
		return fixedWithValidity(to, convertSlice[uint16](v), valid, nulls), nil
	case arrow.UINT32:
		return fixedWithValidity(to, convertSlice[uint32](v), valid, nulls), nil
	case arrow.UINT64:
		return fixedWithValidity(to, convertSlice[uint64](v), valid, nulls), nil
	}
	return nil, fmt.Errorf("internal error: no integer cast to %s", to)
}

func convertSlice[D int16 | int32 | uint16 | uint32 | uint64](v []int64) []D {
	out := make([]D, len(v))
	for i, x := range v {
		out[i] = D(x)
	}
	return out
}

// unitFactor is how many units of to make one unit of from (to is finer).
func unitFactor(from, to arrow.TimeUnit) int64 {
	scale := [...]int64{arrow.Second: 1, arrow.Millisecond: 1e3, arrow.Microsecond: 1e6, arrow.Nanosecond: 1e9}
	return scale[to] / scale[from]
}

// mergeTypes returns the type that both a and b widen to, or false when they
// conflict. The widenings are those that lose nothing: integers to a wider
// integer that holds both ranges, float32 to float64, timestamps (of one time
// zone) to the finer unit, decimals of one scale to the larger precision,
// binary and string to string, and the NULL type to anything.
func mergeTypes(a, b arrow.DataType) (arrow.DataType, bool) {
	switch {
	case arrow.TypeEqual(a, b):
		return a, true
	case a.ID() == arrow.NULL:
		return b, true
	case b.ID() == arrow.NULL:
		return a, true
	case isInt(a) && isInt(b):
		return mergeInts(a, b)
	case a.ID() == arrow.FLOAT32 && b.ID() == arrow.FLOAT64, a.ID() == arrow.FLOAT64 && b.ID() == arrow.FLOAT32:
		return arrow.PrimitiveTypes.Float64, true
	case a.ID() == arrow.TIMESTAMP && b.ID() == arrow.TIMESTAMP:
		ta, tb := a.(*arrow.TimestampType), b.(*arrow.TimestampType)
		if ta.TimeZone != tb.TimeZone {
			return nil, false
		}
		return &arrow.TimestampType{Unit: max(ta.Unit, tb.Unit), TimeZone: ta.TimeZone}, true
	case a.ID() == arrow.DECIMAL128 && b.ID() == arrow.DECIMAL128:
		da, db := a.(*arrow.Decimal128Type), b.(*arrow.Decimal128Type)
		if da.Scale != db.Scale {
			return nil, false
		}
		return &arrow.Decimal128Type{Precision: max(da.Precision, db.Precision), Scale: da.Scale}, true
	case a.ID() == arrow.STRING && b.ID() == arrow.BINARY, a.ID() == arrow.BINARY && b.ID() == arrow.STRING:
		return arrow.BinaryTypes.String, true
	}
	return nil, false
}

func mergeInts(a, b arrow.DataType) (arrow.DataType, bool) {
	ua, ub := isUnsigned(a), isUnsigned(b)
	wa, wb := intWidth(a), intWidth(b)
	switch {
	case ua == ub:
		if wa >= wb {
			return a, true
		}
		return b, true
	case ua: // a unsigned, b signed
		return signedHolding(wa, wb)
	default:
		return signedHolding(wb, wa)
	}
}

// signedHolding is the narrowest signed type that holds an unsigned integer
// of width uw and a signed one of width sw.
func signedHolding(uw, sw int) (arrow.DataType, bool) {
	w := max(2*uw, sw)
	switch {
	case w <= 16:
		return arrow.PrimitiveTypes.Int16, true
	case w <= 32:
		return arrow.PrimitiveTypes.Int32, true
	case w <= 64:
		return arrow.PrimitiveTypes.Int64, true
	}
	return nil, false
}
