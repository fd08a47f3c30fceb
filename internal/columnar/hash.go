package columnar

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"
)

// nullHash is the hash of a null value in any column.
const nullHash = 0x9e3779b97f4a7c15

// Mix64 is a strong 64-bit finalizer (MurmurHash3's fmix64). Hashes are part
// of weir's persisted state layout (they choose key groups), so this function
// and HashColumns must never change.
func Mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// HashColumns writes into out[i] a hash of row i's values in cols (in order).
// Equal rows of equal column types hash equally; float -0 and +0 hash
// equally, and so do all NaNs.
func HashColumns(cols []arrow.Array, out []uint64) error {
	for i := range out {
		out[i] = 0
	}
	for c, col := range cols {
		if err := hashInto(col, out, c == 0); err != nil {
			return err
		}
	}
	return nil
}

func combine(h, v uint64, first bool) uint64 {
	if first {
		return v
	}
	return Mix64(h*31 + v)
}

func hashInto(col arrow.Array, out []uint64, first bool) error {
	nulls := col.NullN() > 0
	switch a := col.(type) {
	case *array.String:
		offs, data := a.ValueOffsets(), a.ValueBytes()
		for i := range out {
			v := uint64(nullHash)
			if !nulls || a.IsValid(i) {
				v = xxh3.Hash(data[offs[i]-offs[0] : offs[i+1]-offs[0]])
			}
			out[i] = combine(out[i], v, first)
		}
		return nil
	case *array.Binary:
		offs, data := a.ValueOffsets(), a.ValueBytes()
		for i := range out {
			v := uint64(nullHash)
			if !nulls || a.IsValid(i) {
				v = xxh3.Hash(data[offs[i]-offs[0] : offs[i+1]-offs[0]])
			}
			out[i] = combine(out[i], v, first)
		}
		return nil
	case *array.Boolean:
		for i := range out {
			v := uint64(nullHash)
			if !nulls || a.IsValid(i) {
				v = Mix64(0)
				if a.Value(i) {
					v = Mix64(1)
				}
			}
			out[i] = combine(out[i], v, first)
		}
		return nil
	case *array.Float64:
		vals := a.Float64Values()
		for i := range out {
			v := uint64(nullHash)
			if !nulls || a.IsValid(i) {
				f := vals[i]
				switch {
				case f == 0:
					f = 0
				case math.IsNaN(f):
					f = math.NaN()
				}
				v = Mix64(math.Float64bits(f))
			}
			out[i] = combine(out[i], v, first)
		}
		return nil
	}
	fw, ok := col.DataType().(arrow.FixedWidthDataType)
	if !ok {
		return fmt.Errorf("columnar: cannot hash a %s column", col.DataType())
	}
	switch fw.BitWidth() {
	case 64:
		hashFixed(col, valuesOf[int64](col), out, first, nulls)
	case 32:
		hashFixed(col, valuesOf[int32](col), out, first, nulls)
	case 16:
		hashFixed(col, valuesOf[int16](col), out, first, nulls)
	case 8:
		hashFixed(col, valuesOf[int8](col), out, first, nulls)
	default:
		return fmt.Errorf("columnar: cannot hash a %s column", col.DataType())
	}
	return nil
}

func hashFixed[T int64 | int32 | int16 | int8](col arrow.Array, vals []T, out []uint64, first, nulls bool) {
	if !nulls && first {
		for i, x := range vals[:len(out)] {
			out[i] = Mix64(uint64(int64(x)))
		}
		return
	}
	for i := range out {
		v := uint64(nullHash)
		if !nulls || col.IsValid(i) {
			v = Mix64(uint64(int64(vals[i])))
		}
		out[i] = combine(out[i], v, first)
	}
}
