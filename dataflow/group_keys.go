package dataflow

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/internal/columnar"
)

// slotArena stores, per slot, the group key's values (column-wise) and the
// aggregate accumulators. Slots are indices shared by every window of an
// operator, so one vectorized pass can update rows of several windows; a
// window that expires returns its slots to the free list.
type slotArena struct {
	keys []keyCol
	acc  *accumulators
	free []int32
	n    int32
}

type keyKind uint8

const (
	keyInt keyKind = iota // int64-wide and narrower integers, timestamps
	keyFloat
	keyString
	keyBool
)

type keyCol struct {
	kind  keyKind
	typ   arrow.DataType
	i     []int64
	f     []float64
	s     []string
	b     []bool
	valid []bool
}

func newSlotArena(schema *arrow.Schema, keyIdx []int, acc *accumulators) (*slotArena, error) {
	a := &slotArena{acc: acc}
	for _, j := range keyIdx {
		t := schema.Field(j).Type
		kc := keyCol{typ: t}
		switch t.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
			arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
			kc.kind = keyInt
		case arrow.FLOAT64:
			kc.kind = keyFloat
		case arrow.STRING:
			kc.kind = keyString
		case arrow.BOOL:
			kc.kind = keyBool
		default:
			return nil, fmt.Errorf("cannot group by column %q of type %s", schema.Field(j).Name, t)
		}
		a.keys = append(a.keys, kc)
	}
	return a, nil
}

// alloc returns a fresh slot with zeroed accumulators.
func (a *slotArena) alloc() int32 {
	if n := len(a.free); n > 0 {
		s := a.free[n-1]
		a.free = a.free[:n-1]
		a.acc.reset(s)
		return s
	}
	s := a.n
	a.n++
	a.acc.grow(int(a.n))
	for k := range a.keys {
		kc := &a.keys[k]
		kc.valid = append(kc.valid, false)
		switch kc.kind {
		case keyInt:
			kc.i = append(kc.i, 0)
		case keyFloat:
			kc.f = append(kc.f, 0)
		case keyString:
			kc.s = append(kc.s, "")
		case keyBool:
			kc.b = append(kc.b, false)
		}
	}
	return s
}

func (a *slotArena) release(slots []int32) { a.free = append(a.free, slots...) }

// setKey copies row r's key values (columns cols of rec) into slot s.
func (a *slotArena) setKey(s int32, rec arrow.RecordBatch, cols []int, r int) {
	for k, j := range cols {
		kc := &a.keys[k]
		col := rec.Column(j)
		kc.valid[s] = col.IsValid(r)
		if !kc.valid[s] {
			continue
		}
		switch kc.kind {
		case keyInt:
			kc.i[s] = intAt(col, r)
		case keyFloat:
			kc.f[s] = col.(*array.Float64).Value(r)
		case keyString:
			kc.s[s] = col.(*array.String).Value(r)
		case keyBool:
			kc.b[s] = col.(*array.Boolean).Value(r)
		}
	}
}

// copySlot copies slot src (key and accumulators) into dst.
func (a *slotArena) copySlot(dst, src int32) {
	for k := range a.keys {
		kc := &a.keys[k]
		kc.valid[dst] = kc.valid[src]
		switch kc.kind {
		case keyInt:
			kc.i[dst] = kc.i[src]
		case keyFloat:
			kc.f[dst] = kc.f[src]
		case keyString:
			kc.s[dst] = kc.s[src]
		case keyBool:
			kc.b[dst] = kc.b[src]
		}
	}
	a.acc.reset(dst)
	a.acc.merge(dst, src)
}

// keyColumns builds the key columns of slots, in order.
func (a *slotArena) keyColumns(slots []int32) []arrow.Array {
	cols := make([]arrow.Array, len(a.keys))
	for k := range a.keys {
		kc := &a.keys[k]
		nulls := 0
		var bits []byte
		for i, s := range slots {
			if !kc.valid[s] {
				if bits == nil {
					bits = make([]byte, (len(slots)+7)/8)
					for j := 0; j < i; j++ {
						bits[j>>3] |= 1 << (j & 7)
					}
				}
				nulls++
			} else if bits != nil {
				bits[i>>3] |= 1 << (i & 7)
			}
		}
		switch kc.kind {
		case keyInt:
			v := make([]int64, len(slots))
			for i, s := range slots {
				v[i] = kc.i[s]
			}
			cols[k] = narrowInts(kc.typ, v, bits, nulls)
		case keyFloat:
			v := make([]float64, len(slots))
			for i, s := range slots {
				v[i] = kc.f[s]
			}
			cols[k] = columnar.Fixed(kc.typ, v, bits, nulls)
		case keyString:
			v := make([]string, len(slots))
			for i, s := range slots {
				v[i] = kc.s[s]
			}
			arr := columnar.StringsOf(v)
			if nulls > 0 {
				arr = withValidity(arr, bits, nulls).(*array.String)
			}
			cols[k] = arr
		case keyBool:
			v := make([]bool, len(slots))
			for i, s := range slots {
				v[i] = kc.b[s]
			}
			var arr arrow.Array = columnar.Bools(v)
			if nulls > 0 {
				arr = withValidity(arr, bits, nulls)
			}
			cols[k] = arr
		}
	}
	return cols
}

func withValidity(a arrow.Array, bits []byte, nulls int) arrow.Array {
	d := a.Data()
	bufs := append(d.Buffers()[:0:0], d.Buffers()...)
	bufs[0] = memoryBuffer(bits)
	return array.MakeFromData(array.NewData(d.DataType(), d.Len(), bufs, nil, nulls, 0))
}

// narrowInts builds an array of integer type t from int64 values.
func narrowInts(t arrow.DataType, v []int64, bits []byte, nulls int) arrow.Array {
	switch t.(arrow.FixedWidthDataType).BitWidth() {
	case 64:
		return columnar.Fixed(t, v, bits, nulls)
	case 32:
		return columnar.Fixed(t, convert[int32](v), bits, nulls)
	case 16:
		return columnar.Fixed(t, convert[int16](v), bits, nulls)
	default:
		return columnar.Fixed(t, convert[int8](v), bits, nulls)
	}
}

func convert[T int32 | int16 | int8](v []int64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// intAt reads an integer-like value widened to int64.
func intAt(col arrow.Array, r int) int64 {
	switch c := col.(type) {
	case *array.Int64:
		return c.Value(r)
	case *array.Int32:
		return int64(c.Value(r))
	case *array.Int16:
		return int64(c.Value(r))
	case *array.Int8:
		return int64(c.Value(r))
	case *array.Uint64:
		return int64(c.Value(r))
	case *array.Uint32:
		return int64(c.Value(r))
	case *array.Uint16:
		return int64(c.Value(r))
	case *array.Uint8:
		return int64(c.Value(r))
	case *array.Timestamp:
		return int64(c.Value(r))
	case *array.Date32:
		return int64(c.Value(r))
	case *array.Date64:
		return int64(c.Value(r))
	}
	panic(fmt.Sprintf("dataflow: intAt on %s", col.DataType()))
}

// appendKey encodes row r's key (columns cols) for hash-map lookup: per
// column a null flag, then 8 bytes or a length-prefixed string.
func appendKey(dst []byte, rec arrow.RecordBatch, cols []int, kinds []keyCol, r int) []byte {
	for k, j := range cols {
		col := rec.Column(j)
		if !col.IsValid(r) {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		switch kinds[k].kind {
		case keyInt:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(intAt(col, r)))
		case keyFloat:
			f := col.(*array.Float64).Value(r)
			if f == 0 {
				f = 0 // -0 and +0 group together
			}
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
		case keyString:
			s := col.(*array.String).Value(r)
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		case keyBool:
			if col.(*array.Boolean).Value(r) {
				dst = append(dst, 1)
			} else {
				dst = append(dst, 0)
			}
		}
	}
	return dst
}

// groupIndex maps group keys to slots within one window (or one group set).
// The common single non-null integer key uses a typed map; other keys are
// encoded as bytes.
type groupIndex struct {
	ints     *intTable
	bytes    map[string]int32
	nullSlot int32   // the slot of the NULL key on the typed path, or -1
	slots    []int32 // in insertion order
}

func newGroupIndex(fast bool) *groupIndex {
	if fast {
		return &groupIndex{ints: newIntTable(), nullSlot: -1}
	}
	return &groupIndex{bytes: map[string]int32{}, nullSlot: -1}
}

// intKeys returns an integer key column's values widened to int64, reusing
// buf: a view of the column itself when it is 64-bit (no copy), else one
// typed conversion. Null slots hold unspecified values.
func intKeys(col arrow.Array, buf []int64) []int64 {
	if fw, ok := col.DataType().(arrow.FixedWidthDataType); ok && fw.BitWidth() == 64 {
		return columnar.Int64Values(col)
	}
	buf = buf[:0]
	n := col.Len()
	switch c := col.(type) {
	case *array.Int32:
		for _, v := range c.Int32Values() {
			buf = append(buf, int64(v))
		}
	case *array.Date32:
		for i := 0; i < n; i++ {
			buf = append(buf, int64(c.Value(i)))
		}
	default:
		for i := 0; i < n; i++ {
			if col.IsValid(i) {
				buf = append(buf, intAt(col, i))
			} else {
				buf = append(buf, 0)
			}
		}
	}
	return buf
}

// windowedSchema is the output of a window aggregate: the key columns of
// in, window_start, window_end, then the aggregates.
func windowedSchema(in *arrow.Schema, keyIdx []int, aggFields []arrow.Field) *arrow.Schema {
	fields := make([]arrow.Field, 0, len(keyIdx)+2+len(aggFields))
	for _, j := range keyIdx {
		fields = append(fields, in.Field(j))
	}
	fields = append(fields,
		arrow.Field{Name: WindowStartColumn, Type: columnar.TimestampType},
		arrow.Field{Name: WindowEndColumn, Type: columnar.TimestampType})
	return arrow.NewSchema(append(fields, aggFields...), nil)
}

// ownedKeyGroups is what an aggregate reports as ManagedState: every key
// group of its subtask while it holds any state. (Per-key-group tracking
// comes with snapshots, issue #6.)
func ownedKeyGroups(tc *TaskContext, hasState bool) []int {
	if !hasState {
		return nil
	}
	kgs := make([]int, 0, tc.KeyGroups.End-tc.KeyGroups.Start)
	for kg := tc.KeyGroups.Start; kg < tc.KeyGroups.End; kg++ {
		kgs = append(kgs, kg)
	}
	return kgs
}

// batchKeys is one batch's group keys, prepared once per batch for probing
// group indexes: the integer fast path widens the key column to int64 (a
// view when it already is) and notes whether it has nulls; other keys are
// encoded per row into buf.
type batchKeys struct {
	rec   arrow.RecordBatch
	cols  []int
	kinds []keyCol
	ints  []int64
	valid arrow.Array // the key column when it has nulls (fast path)
	buf   []byte
}

// prepare readies k for rec's rows; fast selects the single-integer-key path.
func (k *batchKeys) prepare(rec arrow.RecordBatch, cols []int, kinds []keyCol, fast bool) {
	k.rec, k.cols, k.kinds, k.valid = rec, cols, kinds, nil
	if !fast {
		return
	}
	kc := rec.Column(cols[0])
	if kc.NullN() > 0 {
		k.valid = kc
	}
	k.ints = intKeys(kc, k.ints)
}

// lookup returns the slot of row r's key, calling create for a key seen
// for the first time (create returns the new slot); created reports that.
func (g *groupIndex) lookup(k *batchKeys, r int, create func() int32) (slot int32, created bool) {
	if g.ints != nil {
		if k.valid != nil && !k.valid.IsValid(r) {
			if g.nullSlot < 0 {
				g.nullSlot = create()
				return g.nullSlot, true
			}
			return g.nullSlot, false
		}
		v := k.ints[r]
		if s, ok := g.ints.get(v); ok {
			return s, false
		}
		s := create()
		g.ints.put(v, s)
		return s, true
	}
	k.buf = appendKey(k.buf[:0], k.rec, k.cols, k.kinds, r)
	if s, ok := g.bytes[string(k.buf)]; ok {
		return s, false
	}
	s := create()
	g.bytes[string(k.buf)] = s
	return s, true
}
