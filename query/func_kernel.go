package query

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// Kernels: how scalar functions run.
//
// A kernel computes one function over a whole batch with a typed loop. Its
// arguments are Arrow arrays of n rows, or of one row for a constant, which
// the kernel broadcasts (a constant is never copied n times: the loops index
// it with i&m, m = 0 for a constant and -1 for a column, or have a separate
// column-constant loop where speed matters). A strict function (most of
// them: NULL in, NULL out) receives the rows where every argument is valid
// as one bitmap, computed once with word-wide ANDs; it computes garbage in
// NULL rows, never an error, and returns the bitmap as its result's
// validity. Values of NULL rows are unspecified in Arrow, so a kernel that
// can fail (division by zero, overflow, a bad string) checks validity before
// it reports an error for a row.

// kernel computes a function for the n rows of k.
type kernel func(k *kctx) (arrow.Array, error)

// kctx is one kernel invocation.
type kctx struct {
	args []arrow.Array
	n    int
	// valid is the rows where every argument is non-NULL, as a bitmap of n
	// bits at offset 0 (nil: all rows), and nulls the number of other rows.
	// Only strict functions get it; the kernel must not modify it.
	valid []byte
	nulls int
}

// isValid reports whether row i has no NULL argument.
func (k *kctx) isValid(i int) bool { return k.valid == nil || bitutil.BitIsSet(k.valid, i) }

// m is the broadcast mask of argument j: 0 for a constant, -1 for a column.
func (k *kctx) m(j int) int { return bmask(k.args[j], k.n) }

func bmask(a arrow.Array, n int) int {
	if a.Len() == 1 && n != 1 {
		return 0
	}
	return -1
}

// Kernel errors are plain errors; the expression node that ran the kernel
// turns them into an *Error at its position in the statement.
var (
	errDivByZero     = errors.New("division by zero")
	errBigintRange   = errors.New("bigint out of range")
	errIntegerRange  = errors.New("integer out of range")
	errSmallintRange = errors.New("smallint out of range")
	errFloatOverflow = errors.New("value out of range: overflow")
	errFloatUnder    = errors.New("value out of range: underflow")
	errTimestampOut  = errors.New("timestamp out of range")
	errIntervalOut   = errors.New("interval out of range")
	errDateOut       = errors.New("date out of range")
)

func rangeError(k kind) error {
	switch k {
	case kInt16:
		return errSmallintRange
	case kInt32:
		return errIntegerRange
	case kTimestamp:
		return errTimestampOut
	case kInterval:
		return errIntervalOut
	case kDate:
		return errDateOut
	}
	return errBigintRange
}

// strictValidity ANDs the validity of args: the rows where all are non-NULL.
// allNull is set when a constant argument is NULL (every row is NULL).
func strictValidity(args []arrow.Array, n int) (valid []byte, nulls int, allNull bool) {
	for _, a := range args {
		if a.DataType().ID() == arrow.NULL {
			if a.Len() > 0 {
				return nil, n, true
			}
			continue
		}
		if a.NullN() == 0 {
			continue
		}
		if a.Len() == 1 && n != 1 {
			return nil, n, true // a NULL constant
		}
		bm, off := bitmapOf(a)
		if valid == nil {
			valid = make([]byte, bitutil.BytesForBits(int64(n)))
			bitutil.CopyBitmap(bm, off, n, valid, 0)
		} else {
			bitutil.BitmapAnd(valid, bm, 0, int64(off), valid, 0, int64(n))
		}
	}
	if valid != nil {
		nulls = n - bitutil.CountSetBits(valid, 0, n)
		if nulls == 0 {
			valid = nil
		}
	}
	return valid, nulls, false
}

// bitmapOf is a's validity bitmap and the bit offset of its row 0 (nil when
// a has no NULLs).
func bitmapOf(a arrow.Array) ([]byte, int) {
	if a.NullN() == 0 {
		return nil, 0
	}
	buf := a.Data().Buffers()[0]
	if buf == nil {
		return nil, 0
	}
	return buf.Bytes(), a.Data().Offset()
}

// validCopy is a's validity as a fresh bitmap of n bits at offset 0,
// broadcasting a constant (nil: no NULLs).
func validCopy(a arrow.Array, n int) ([]byte, int) {
	if a.NullN() == 0 {
		return nil, 0
	}
	out := make([]byte, bitutil.BytesForBits(int64(n)))
	if a.DataType().ID() == arrow.NULL {
		return out, n
	}
	if a.Len() == 1 && n != 1 {
		return out, n
	}
	bm, off := bitmapOf(a)
	bitutil.CopyBitmap(bm, off, n, out, 0)
	return out, n - bitutil.CountSetBits(out, 0, n)
}

// valuesOf is the value buffer of a fixed-width array as []T, from the
// array's offset. T must have the array's width.
func valuesOf[T any](a arrow.Array) []T {
	d := a.Data()
	bufs := d.Buffers()
	if len(bufs) < 2 || bufs[1] == nil || d.Len() == 0 {
		return nil
	}
	b := bufs[1].Bytes()
	all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(*new(T))))
	return all[d.Offset() : d.Offset()+d.Len()]
}

// boolsOf is the value bitmap of a boolean array and the bit offset of row 0.
func boolsOf(a arrow.Array) ([]byte, int) {
	d := a.Data()
	if bufs := d.Buffers(); len(bufs) > 1 && bufs[1] != nil && bufs[1].Len() > 0 {
		return bufs[1].Bytes(), d.Offset()
	}
	// An all-NULL array may have no value buffer.
	return make([]byte, bitutil.BytesForBits(int64(d.Offset()+d.Len()))), d.Offset()
}

// strs reads a string array without copying; at(i) broadcasts a constant.
type strs struct {
	offs []int32
	data []byte
	m    int
}

func stringsOf(a arrow.Array, n int) strs {
	d := a.Data()
	bufs := d.Buffers()
	var offs []int32
	if bufs[1] != nil && d.Len() > 0 {
		b := bufs[1].Bytes()
		all := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
		offs = all[d.Offset() : d.Offset()+d.Len()+1]
	}
	var data []byte
	if len(bufs) > 2 && bufs[2] != nil {
		data = bufs[2].Bytes()
	}
	return strs{offs: offs, data: data, m: bmask(a, n)}
}

// at is row i as a string sharing the array's memory: copy it
// (strings.Clone) before keeping it beyond the batch.
func (s strs) at(i int) string {
	i &= s.m
	o0, o1 := s.offs[i], s.offs[i+1]
	return unsafe.String(unsafe.SliceData(s.data[o0:o1]), int(o1-o0))
}

// bytes is row i as bytes sharing the array's memory.
func (s strs) bytes(i int) []byte {
	i &= s.m
	return s.data[s.offs[i]:s.offs[i+1]]
}

// strBuilder appends strings into one value buffer.
type strBuilder struct {
	data []byte
	offs []int32
	err  bool
}

func newStrBuilder(n, sizeHint int) *strBuilder {
	offs := make([]int32, 1, n+1)
	return &strBuilder{data: make([]byte, 0, sizeHint), offs: offs}
}

func (b *strBuilder) add(s string) {
	b.data = append(b.data, s...)
	b.end()
}

func (b *strBuilder) addBytes(s []byte) {
	b.data = append(b.data, s...)
	b.end()
}

// end closes the current value (after appends to b.data).
func (b *strBuilder) end() {
	if len(b.data) > math.MaxInt32 {
		b.err = true
		b.data = b.data[:0]
	}
	b.offs = append(b.offs, int32(len(b.data)))
}

var errStringTooLarge = errors.New("string data of one batch exceeds 2 GiB")

func (b *strBuilder) finish(valid []byte, nulls int) (arrow.Array, error) {
	if b.err {
		return nil, errStringTooLarge
	}
	var vb *memory.Buffer
	if valid != nil && nulls > 0 {
		vb = memory.NewBufferBytes(valid)
	} else {
		nulls = 0
	}
	n := len(b.offs) - 1
	d := array.NewData(typText, n, []*memory.Buffer{vb, memory.NewBufferBytes(int32Bytes(b.offs)), memory.NewBufferBytes(b.data)}, nil, nulls, 0)
	return array.NewStringData(d), nil
}

func int32Bytes(v []int32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*4)
}

// fixedOut wraps values as an array of dt with the given validity.
func fixedOut[T any](dt arrow.DataType, vals []T, valid []byte, nulls int) arrow.Array {
	return columnar.Fixed(dt, vals, valid, nulls)
}

// boolOut wraps a value bitmap of n bits as a boolean array.
func boolOut(bitmap []byte, n int, valid []byte, nulls int) arrow.Array {
	var vb *memory.Buffer
	if valid != nil && nulls > 0 {
		vb = memory.NewBufferBytes(valid)
	} else {
		nulls = 0
	}
	d := array.NewData(typBool, n, []*memory.Buffer{vb, memory.NewBufferBytes(bitmap)}, nil, nulls, 0)
	return array.NewBooleanData(d)
}

// packBools packs one byte per row (0 or 1) into a bitmap, eight rows per
// multiply: the magic constant gathers the low bit of each byte into the
// top byte, row 0 in bit 0.
func packBools(b []byte, out []byte) {
	n := len(b)
	j := 0
	for ; j+8 <= n; j += 8 {
		x := uint64(b[j]) | uint64(b[j+1])<<8 | uint64(b[j+2])<<16 | uint64(b[j+3])<<24 |
			uint64(b[j+4])<<32 | uint64(b[j+5])<<40 | uint64(b[j+6])<<48 | uint64(b[j+7])<<56
		out[j>>3] = byte((x * 0x0102040810204080) >> 56)
	}
	if j < n {
		var last byte
		for i := j; i < n; i++ {
			last |= b[i] << (i - j)
		}
		out[j>>3] = last
	}
}

// nullArray is an all-NULL array of n rows.
func nullArray(dt arrow.DataType, n int) arrow.Array {
	return array.MakeArrayOfNull(memory.DefaultAllocator, dt, n)
}

// broadcast repeats the one-row array c n times.
func broadcast(c arrow.Array, n int) (arrow.Array, error) {
	if c.Len() == n {
		return c, nil
	}
	if c.DataType().ID() == arrow.NULL || c.IsNull(0) {
		return nullArray(c.DataType(), n), nil
	}
	switch c.DataType().ID() {
	case arrow.BOOL:
		out := make([]byte, bitutil.BytesForBits(int64(n)))
		if c.(*array.Boolean).Value(0) {
			for i := range out {
				out[i] = 0xFF
			}
		}
		return boolOut(out, n, nil, 0), nil
	case arrow.STRING:
		s := c.(*array.String).Value(0)
		b := newStrBuilder(n, n*len(s))
		for range n {
			b.add(s)
		}
		return b.finish(nil, 0)
	}
	switch c.DataType().(arrow.FixedWidthDataType).BitWidth() {
	case 16:
		return fixedOut(c.DataType(), repeat(valuesOf[int16](c)[0], n), nil, 0), nil
	case 32:
		return fixedOut(c.DataType(), repeat(valuesOf[int32](c)[0], n), nil, 0), nil
	case 64:
		return fixedOut(c.DataType(), repeat(valuesOf[int64](c)[0], n), nil, 0), nil
	}
	return nil, fmt.Errorf("cannot broadcast a constant of type %s", c.DataType())
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// firstBad finds the first row i of [0, n) for which bad(i) holds and the
// row is valid (the slow path after a loop flagged a problem somewhere).
func (k *kctx) firstBad(bad func(i int) bool) int {
	for i := 0; i < k.n; i++ {
		if k.isValid(i) && bad(i) {
			return i
		}
	}
	return -1
}

// mulOverflows reports whether a*b overflows int64, branch-free.
func mulOverflows(a, b int64) bool {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	shi := int64(hi) - (a>>63)&b - (b>>63)&a
	return shi != int64(lo)>>63
}

// Scratch buffers. Arrays here are reclaimed by the garbage collector
// (package columnar), and at ~1 ns a row an arithmetic loop is cheaper
// than allocating and collecting its 64 KiB result. So the int64/float64
// result of an inner node (auction % 123 inside auction % 123 = 0) comes
// from a pool, and the node that consumed it puts it back once its own
// result is computed, unless that result shares the buffer. Only buffers a
// pooled kernel took from the pool are ever returned: an input column or a
// result that leaves the expression is never recycled.
var scratch64 = sync.Pool{New: func() any { return new([]uint64) }}

// scratchInt64 returns n int64s from the pool; zero clears them.
func scratchInt64(n int, zero bool) []int64 {
	p := scratch64.Get().(*[]uint64)
	b := *p
	if cap(b) < n {
		b = make([]uint64, n)
	} else {
		b = b[:n]
		if zero {
			clear(b)
		}
	}
	return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func scratchFloat64(n int) []float64 {
	v := scratchInt64(n, false)
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(v))), n)
}

// recycle returns the value buffer of a pooled result to the pool.
func recycle(a arrow.Array) {
	buf := a.Data().Buffers()[1]
	if buf == nil || a.Data().Offset() != 0 {
		return
	}
	b := buf.Buf()
	if len(b) < 8 {
		return
	}
	u := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
	scratch64.Put(&u)
}

// sharesValues reports whether out uses the value buffer of in.
func sharesValues(out, in arrow.Array) bool {
	inBuf := in.Data().Buffers()[1]
	if inBuf == nil || len(inBuf.Buf()) == 0 {
		return true // nothing to recycle
	}
	p := unsafe.SliceData(inBuf.Buf())
	for _, b := range out.Data().Buffers() {
		if b != nil && len(b.Buf()) > 0 && unsafe.SliceData(b.Buf()) == p {
			return true
		}
	}
	return false
}

var scratchBytes = sync.Pool{New: func() any { return new([]byte) }}

// tempBytes is a byte per row of temporary space; release it with putBytes.
func tempBytes(n int) []byte {
	p := scratchBytes.Get().(*[]byte)
	if cap(*p) < n {
		return make([]byte, n)
	}
	return (*p)[:n]
}

func putBytes(b []byte) { scratchBytes.Put(&b) }
