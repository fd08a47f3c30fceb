package dataflow

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// Row snapshots: buffered rows of one schema (encodeSchema in
// snapshot_codec.go), written column by column:
//
//	rows    = nrows:uvarint column*         one column per field of the schema
//	column  = (nothing)                     NULL type
//	        | nulls:uvarint [valid:bytes] values
//	valid   = the validity bitmap, (nrows+7)/8 bytes, bit i set = row i not NULL;
//	          present only when nulls > 0
//	values  = varint*                       signed integers, dates, timestamps
//	        | uvarint*                      unsigned integers, float32 bits,
//	        |                               decimal128 as low, high
//	        | float*                        float64 (8 bytes, big-endian)
//	        | bits:bytes                    booleans, (nrows+7)/8 bytes
//	        | bytes*                        strings and binary
//
// Values are written for non-NULL rows only (a NULL row's slot holds
// anything), so equal rows give equal bytes. Arrow's IPC record message was
// the rejected alternative, for the reason given at encodeSchema: its reader
// trusts the message's lengths. Here every count is checked against the
// bytes left, and every row costs at least one byte (a buffer's rows always
// carry window bounds), so a corrupt count fails instead of allocating.

// colPart is rows of one array: rows idx, or all of them when idx is nil.
type colPart struct {
	a   arrow.Array
	idx []int32
}

func (p colPart) len() int {
	if p.idx == nil {
		return p.a.Len()
	}
	return len(p.idx)
}

func (p colPart) row(k int) int {
	if p.idx == nil {
		return k
	}
	return int(p.idx[k])
}

// encodeRows appends the rows of parts (per part, one record of schema
// with the rows it selects) as one block of rows.
func encodeRows(e *snapEncoder, schema *arrow.Schema, recs []arrow.RecordBatch, idx [][]int32) error {
	n := 0
	parts := make([]colPart, len(recs))
	for i, r := range recs {
		parts[i].idx = idx[i]
		parts[i].a = r.Column(0)
		n += parts[i].len()
	}
	e.uvarint(uint64(n))
	for c, f := range schema.Fields() {
		for i, r := range recs {
			parts[i].a = r.Column(c)
		}
		if err := encodeColumn(e, f, parts, n); err != nil {
			return err
		}
	}
	return nil
}

// eachValid calls f for every non-NULL row of parts, in order.
func eachValid(parts []colPart, f func(a arrow.Array, r int)) {
	for _, p := range parts {
		nulls := p.a.NullN() > 0
		for k := range p.len() {
			if r := p.row(k); !nulls || p.a.IsValid(r) {
				f(p.a, r)
			}
		}
	}
}

func encodeColumn(e *snapEncoder, f arrow.Field, parts []colPart, n int) error {
	id := f.Type.ID()
	if id == arrow.NULL {
		return nil
	}
	nulls := 0
	for _, p := range parts {
		if p.a.NullN() == 0 {
			continue
		}
		for k := range p.len() {
			if p.a.IsNull(p.row(k)) {
				nulls++
			}
		}
	}
	e.uvarint(uint64(nulls))
	if nulls > 0 {
		valid := make([]byte, (n+7)/8)
		i := 0
		for _, p := range parts {
			for k := range p.len() {
				if p.a.IsValid(p.row(k)) {
					valid[i>>3] |= 1 << (i & 7)
				}
				i++
			}
		}
		e.bytes(valid)
	}
	switch id {
	case arrow.INT64, arrow.TIMESTAMP, arrow.DATE64:
		eachValid(parts, func(a arrow.Array, r int) { e.varint(columnar.Int64Values(a)[r]) })
	case arrow.INT32, arrow.DATE32:
		eachValid(parts, func(a arrow.Array, r int) { e.varint(int64(columnar.Int32Values(a)[r])) })
	case arrow.INT16:
		eachValid(parts, func(a arrow.Array, r int) { e.varint(int64(a.(*array.Int16).Value(r))) })
	case arrow.INT8:
		eachValid(parts, func(a arrow.Array, r int) { e.varint(int64(a.(*array.Int8).Value(r))) })
	case arrow.UINT64:
		eachValid(parts, func(a arrow.Array, r int) { e.uvarint(a.(*array.Uint64).Value(r)) })
	case arrow.UINT32:
		eachValid(parts, func(a arrow.Array, r int) { e.uvarint(uint64(a.(*array.Uint32).Value(r))) })
	case arrow.UINT16:
		eachValid(parts, func(a arrow.Array, r int) { e.uvarint(uint64(a.(*array.Uint16).Value(r))) })
	case arrow.UINT8:
		eachValid(parts, func(a arrow.Array, r int) { e.uvarint(uint64(a.(*array.Uint8).Value(r))) })
	case arrow.FLOAT64:
		eachValid(parts, func(a arrow.Array, r int) { e.float(columnar.Float64Values(a)[r]) })
	case arrow.FLOAT32:
		eachValid(parts, func(a arrow.Array, r int) { e.uvarint(uint64(math.Float32bits(a.(*array.Float32).Value(r)))) })
	case arrow.DECIMAL128:
		eachValid(parts, func(a arrow.Array, r int) {
			v := a.(*array.Decimal128).Value(r)
			e.uvarint(v.LowBits())
			e.uvarint(uint64(v.HighBits()))
		})
	case arrow.BOOL:
		vals := make([]byte, (n+7)/8)
		i := 0
		for _, p := range parts {
			b := p.a.(*array.Boolean)
			for k := range p.len() {
				if r := p.row(k); b.IsValid(r) && b.Value(r) {
					vals[i>>3] |= 1 << (i & 7)
				}
				i++
			}
		}
		e.bytes(vals)
	case arrow.STRING:
		eachValid(parts, func(a arrow.Array, r int) { e.str(a.(*array.String).Value(r)) })
	case arrow.LARGE_STRING:
		eachValid(parts, func(a arrow.Array, r int) { e.str(a.(*array.LargeString).Value(r)) })
	case arrow.BINARY:
		eachValid(parts, func(a arrow.Array, r int) { e.bytes(a.(*array.Binary).Value(r)) })
	case arrow.LARGE_BINARY:
		eachValid(parts, func(a arrow.Array, r int) { e.bytes(a.(*array.LargeBinary).Value(r)) })
	default:
		return fmt.Errorf("snapshot: column %q of type %s cannot be saved in a snapshot yet", f.Name, f.Type)
	}
	return nil
}

// decodeRows reads a block of rows of schema. Errors are d's (sticky).
func decodeRows(d *snapDecoder, schema *arrow.Schema) arrow.RecordBatch {
	n := d.count(1)
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		if d.err != nil {
			return nil
		}
		cols[i] = decodeColumn(d, f.Type, n)
	}
	if d.err != nil {
		return nil
	}
	return columnar.Record(schema, cols, n)
}

// decodeColumn reads n rows of type dt; nil after an error.
func decodeColumn(d *snapDecoder, dt arrow.DataType, n int) arrow.Array {
	id := dt.ID()
	if id == arrow.NULL {
		return array.NewNull(n)
	}
	nulls := d.uvarint()
	var valid []byte
	if d.err == nil && nulls > 0 {
		if nulls > uint64(n) {
			d.fail("%d NULLs in %d rows", nulls, n)
			return nil
		}
		valid = d.bytes()
		if d.err == nil && len(valid) != (n+7)/8 {
			d.fail("validity bitmap of %d bytes for %d rows", len(valid), n)
		}
		if d.err != nil {
			return nil
		}
		set := 0
		for i, b := range valid {
			if i == len(valid)-1 && n%8 != 0 {
				b &= 1<<(n%8) - 1
			}
			set += bits.OnesCount8(b)
		}
		if set != n-int(nulls) {
			d.fail("validity bitmap of %d valid rows, want %d", set, n-int(nulls))
		}
		valid = append([]byte(nil), valid...) // the array keeps it; do not alias the blob
	}
	if d.err != nil {
		return nil
	}
	isValid := func(i int) bool { return valid == nil || valid[i>>3]&(1<<(i&7)) != 0 }
	switch id {
	case arrow.INT64, arrow.TIMESTAMP, arrow.DATE64:
		return signedColumn[int64](d, dt, n, valid, int(nulls), isValid)
	case arrow.INT32, arrow.DATE32:
		return signedColumn[int32](d, dt, n, valid, int(nulls), isValid)
	case arrow.INT16:
		return signedColumn[int16](d, dt, n, valid, int(nulls), isValid)
	case arrow.INT8:
		return signedColumn[int8](d, dt, n, valid, int(nulls), isValid)
	case arrow.UINT64:
		return unsignedColumn[uint64](d, dt, n, valid, int(nulls), isValid)
	case arrow.UINT32:
		return unsignedColumn[uint32](d, dt, n, valid, int(nulls), isValid)
	case arrow.UINT16:
		return unsignedColumn[uint16](d, dt, n, valid, int(nulls), isValid)
	case arrow.UINT8:
		return unsignedColumn[uint8](d, dt, n, valid, int(nulls), isValid)
	case arrow.FLOAT64:
		vals := make([]float64, n)
		for i := range vals {
			if isValid(i) {
				vals[i] = d.float()
			}
		}
		return fixedColumn(d, dt, vals, valid, int(nulls))
	case arrow.FLOAT32:
		vals := make([]float32, n)
		for i := range vals {
			if isValid(i) {
				v := d.uvarint()
				if v > math.MaxUint32 {
					d.fail("float32 bits %#x", v)
				}
				vals[i] = math.Float32frombits(uint32(v))
			}
		}
		return fixedColumn(d, dt, vals, valid, int(nulls))
	case arrow.DECIMAL128:
		vals := make([][2]uint64, n)
		for i := range vals {
			if isValid(i) {
				vals[i] = [2]uint64{d.uvarint(), d.uvarint()}
			}
		}
		return fixedColumn(d, dt, vals, valid, int(nulls))
	case arrow.BOOL:
		vals := d.bytes()
		if d.err == nil && len(vals) != (n+7)/8 {
			d.fail("boolean bitmap of %d bytes for %d rows", len(vals), n)
		}
		if d.err != nil {
			return nil
		}
		return array.MakeFromData(array.NewData(dt, n, []*memory.Buffer{validBuffer(valid, int(nulls)),
			memory.NewBufferBytes(append([]byte(nil), vals...))}, nil, int(nulls), 0))
	case arrow.STRING, arrow.BINARY:
		offsets := make([]int32, 1, n+1)
		data := binaryValues(d, n, isValid, func(size int) {
			if size > math.MaxInt32 {
				d.fail("%d bytes of strings in one column", size)
			}
			offsets = append(offsets, int32(size))
		})
		return binaryColumn(d, dt, n, valid, int(nulls), arrow.Int32Traits.CastToBytes(offsets), data)
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		offsets := make([]int64, 1, n+1)
		data := binaryValues(d, n, isValid, func(size int) { offsets = append(offsets, int64(size)) })
		return binaryColumn(d, dt, n, valid, int(nulls), arrow.Int64Traits.CastToBytes(offsets), data)
	}
	d.fail("column type %s", dt)
	return nil
}

func signedColumn[T int8 | int16 | int32 | int64](d *snapDecoder, dt arrow.DataType, n int, valid []byte, nulls int, isValid func(int) bool) arrow.Array {
	vals := make([]T, n)
	for i := range vals {
		if isValid(i) {
			v := d.varint()
			if int64(T(v)) != v {
				d.fail("integer %d out of range of %s", v, dt)
			}
			vals[i] = T(v)
		}
	}
	return fixedColumn(d, dt, vals, valid, nulls)
}

func unsignedColumn[T uint8 | uint16 | uint32 | uint64](d *snapDecoder, dt arrow.DataType, n int, valid []byte, nulls int, isValid func(int) bool) arrow.Array {
	vals := make([]T, n)
	for i := range vals {
		if isValid(i) {
			v := d.uvarint()
			if uint64(T(v)) != v {
				d.fail("integer %d out of range of %s", v, dt)
			}
			vals[i] = T(v)
		}
	}
	return fixedColumn(d, dt, vals, valid, nulls)
}

func fixedColumn[T any](d *snapDecoder, dt arrow.DataType, vals []T, valid []byte, nulls int) arrow.Array {
	if d.err != nil {
		return nil
	}
	return columnar.Fixed(dt, vals, valid, nulls)
}

// binaryValues reads the values of a string or binary column, calling
// offset with the data size after each row.
func binaryValues(d *snapDecoder, n int, isValid func(int) bool, offset func(int)) []byte {
	var data []byte
	for i := range n {
		if isValid(i) {
			data = append(data, d.bytes()...)
		}
		if d.err != nil {
			return nil
		}
		offset(len(data))
	}
	return data
}

func binaryColumn(d *snapDecoder, dt arrow.DataType, n int, valid []byte, nulls int, offsets, data []byte) arrow.Array {
	if d.err != nil {
		return nil
	}
	return array.MakeFromData(array.NewData(dt, n, []*memory.Buffer{validBuffer(valid, nulls),
		memory.NewBufferBytes(offsets), memory.NewBufferBytes(data)}, nil, nulls, 0))
}

func validBuffer(valid []byte, nulls int) *memory.Buffer {
	if nulls == 0 {
		return nil
	}
	return memory.NewBufferBytes(valid)
}
