package dataflow

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// distinctSet is the exact multiset of one slot's values, for count, sum and
// avg (DISTINCT). It keeps multiplicities rather than a set so that a
// retraction undoes exactly one insertion; a value leaves the set when its
// multiplicity drops to zero. Integer-like, boolean and float values are
// keyed by a uint64 (floats by their bits, with -0 folded into +0 and every
// NaN into one, so that SQL-equal values count once); strings and binaries by
// their bytes. A column uses one of the two maps, never both.
type distinctSet struct {
	words map[uint64]int64
	strs  map[string]int64
}

// distinctKind says how a column's values are keyed in a distinctSet.
type distinctKind uint8

const (
	distinctInt distinctKind = iota
	distinctFloat
	distinctBool
	distinctString
)

// distinctKindOf returns the kind for type t, or false when count(DISTINCT)
// does not support it.
func distinctKindOf(t arrow.DataType) (distinctKind, bool) {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return distinctInt, true
	case arrow.FLOAT32, arrow.FLOAT64:
		return distinctFloat, true
	case arrow.BOOL:
		return distinctBool, true
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY:
		return distinctString, true
	}
	return 0, false
}

// canonicalFloat folds values SQL considers equal onto one bit pattern.
func canonicalFloat(f float64) uint64 {
	switch {
	case f == 0:
		return 0
	case math.IsNaN(f):
		return 0x7ff8000000000001
	}
	return math.Float64bits(f)
}

// floatAt reads a float column's value widened to float64.
func floatAt(col arrow.Array, r int) float64 {
	if c, ok := col.(*array.Float32); ok {
		return float64(c.Value(r))
	}
	return col.(*array.Float64).Value(r)
}

// wordAt returns the uint64 key of a non-string value.
func wordAt(kind distinctKind, col arrow.Array, r int) uint64 {
	switch kind {
	case distinctFloat:
		return canonicalFloat(floatAt(col, r))
	case distinctBool:
		if col.(*array.Boolean).Value(r) {
			return 1
		}
		return 0
	}
	return uint64(intAt(col, r))
}

// stringAt returns the bytes of a string or binary value as a string.
func stringAt(col arrow.Array, r int) string {
	switch c := col.(type) {
	case *array.String:
		return c.Value(r)
	case *array.LargeString:
		return c.Value(r)
	case *array.Binary:
		return string(c.Value(r))
	}
	panic(fmt.Sprintf("dataflow: stringAt on %s", col.DataType()))
}

func (d *distinctSet) add(kind distinctKind, col arrow.Array, r int) {
	if kind == distinctString {
		if d.strs == nil {
			d.strs = map[string]int64{}
		}
		d.strs[stringAt(col, r)]++
		return
	}
	if d.words == nil {
		d.words = map[uint64]int64{}
	}
	d.words[wordAt(kind, col, r)]++
}

func (d *distinctSet) retract(kind distinctKind, col arrow.Array, r int) error {
	if kind == distinctString {
		v := stringAt(col, r)
		if d.strs[v] == 0 {
			return fmt.Errorf("count(DISTINCT): retraction of value %q never added", v)
		}
		if d.strs[v]--; d.strs[v] == 0 {
			delete(d.strs, v)
		}
		return nil
	}
	v := wordAt(kind, col, r)
	if d.words[v] == 0 {
		return fmt.Errorf("count(DISTINCT): retraction of value %s never added", col.ValueStr(r))
	}
	if d.words[v]--; d.words[v] == 0 {
		delete(d.words, v)
	}
	return nil
}

// merge adds src's multiplicities to d.
func (d *distinctSet) merge(src *distinctSet) {
	for v, k := range src.words {
		if d.words == nil {
			d.words = make(map[uint64]int64, len(src.words))
		}
		d.words[v] += k
	}
	for v, k := range src.strs {
		if d.strs == nil {
			d.strs = make(map[string]int64, len(src.strs))
		}
		d.strs[v] += k
	}
}

// count is the number of distinct values.
func (d *distinctSet) count() int64 {
	if d == nil {
		return 0
	}
	return int64(len(d.words) + len(d.strs))
}

// sumInt and sumFloat add the distinct values. The float sum adds in
// ascending order so that it does not depend on map iteration order.
func (d *distinctSet) sumInt() int64 {
	var s int64
	if d != nil {
		for v := range d.words {
			s += int64(v)
		}
	}
	return s
}

func (d *distinctSet) sumFloat() float64 {
	if d == nil {
		return 0
	}
	vals := make([]float64, 0, len(d.words))
	for v := range d.words {
		vals = append(vals, math.Float64frombits(v))
	}
	sortFloats(vals)
	var s float64
	for _, v := range vals {
		s += v
	}
	return s
}
