package parquet

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// selection is the rows of a batch that are still in: nil means all of
// them, otherwise the row indexes in increasing order.
type selection []int32

// eval narrows sel to the rows of a (one batch of p's column) that satisfy
// p. all is the batch's row count. The result never aliases sel.
func (p *boundPred) eval(a arrow.Array, sel selection, all int) (selection, error) {
	out := make(selection, 0, selLen(sel, all))
	valid := func(i int32) bool { return true }
	if a.NullN() > 0 {
		valid = func(i int32) bool { return a.IsValid(int(i)) }
	}
	switch p.op {
	case IsNull:
		return keep(out, sel, all, func(i int32) bool { return a.IsNull(int(i)) }), nil
	case IsNotNull:
		return keep(out, sel, all, valid), nil
	}
	if p.never {
		return out, nil
	}
	if p.always {
		return keep(out, sel, all, valid), nil
	}
	switch v := a.(type) {
	case *array.Int8:
		return evalNum(p, out, sel, all, valid, v.Int8Values(), p.c.i), nil
	case *array.Int16:
		return evalNum(p, out, sel, all, valid, v.Int16Values(), p.c.i), nil
	case *array.Int32:
		return evalNum(p, out, sel, all, valid, v.Int32Values(), p.c.i), nil
	case *array.Int64:
		return evalNum(p, out, sel, all, valid, v.Int64Values(), p.c.i), nil
	case *array.Uint8:
		return evalNum(p, out, sel, all, valid, v.Uint8Values(), p.c.i), nil
	case *array.Uint16:
		return evalNum(p, out, sel, all, valid, v.Uint16Values(), p.c.i), nil
	case *array.Uint32:
		return evalNum(p, out, sel, all, valid, v.Uint32Values(), p.c.i), nil
	case *array.Uint64:
		return evalNum(p, out, sel, all, valid, v.Uint64Values(), p.c.u), nil
	case *array.Date32:
		return evalNum(p, out, sel, all, valid, v.Date32Values(), p.c.i), nil
	case *array.Time32:
		return evalNum(p, out, sel, all, valid, v.Time32Values(), p.c.i), nil
	case *array.Time64:
		return evalNum(p, out, sel, all, valid, v.Time64Values(), p.c.i), nil
	case *array.Timestamp:
		return evalNum(p, out, sel, all, valid, v.TimestampValues(), p.c.i), nil
	case *array.Float32:
		return evalNum(p, out, sel, all, valid, v.Float32Values(), p.c.f), nil
	case *array.Float64:
		return evalNum(p, out, sel, all, valid, v.Float64Values(), p.c.f), nil
	case *array.Boolean:
		vals := make([]int8, v.Len())
		for i := range vals {
			if v.Value(i) {
				vals[i] = 1
			}
		}
		return evalNum(p, out, sel, all, valid, vals, p.c.i), nil
	case *array.String:
		return evalBytes(p, out, sel, all, valid, func(i int) []byte {
			s := v.Value(i)
			return unsafe.Slice(unsafe.StringData(s), len(s)) // read-only view
		}), nil
	case *array.Binary:
		return evalBytes(p, out, sel, all, valid, v.Value), nil
	case *array.Null:
		return out, nil
	}
	return nil, fmt.Errorf("internal error: cannot filter a %s column", a.DataType())
}

func selLen(sel selection, all int) int {
	if sel == nil {
		return all
	}
	return len(sel)
}

func keep(out, sel selection, all int, f func(int32) bool) selection {
	if sel == nil {
		for i := range int32(all) {
			if f(i) {
				out = append(out, i)
			}
		}
		return out
	}
	for _, i := range sel {
		if f(i) {
			out = append(out, i)
		}
	}
	return out
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// evalNum compares numeric values, converted to the constant's type C (the
// domain: int64, uint64 or float64; every conversion used is exact).
func evalNum[T number, C int64 | uint64 | float64](p *boundPred, out, sel selection, all int, valid func(int32) bool, vals []T, c C) selection {
	switch p.op {
	case Eq:
		return keep(out, sel, all, func(i int32) bool { return C(vals[i]) == c && valid(i) })
	case Ne:
		return keep(out, sel, all, func(i int32) bool { return C(vals[i]) != c && valid(i) })
	case Lt:
		return keep(out, sel, all, func(i int32) bool { return C(vals[i]) < c && valid(i) })
	case Le:
		return keep(out, sel, all, func(i int32) bool { return C(vals[i]) <= c && valid(i) })
	case Gt:
		return keep(out, sel, all, func(i int32) bool { return C(vals[i]) > c && valid(i) })
	case Ge:
		return keep(out, sel, all, func(i int32) bool { return C(vals[i]) >= c && valid(i) })
	case In:
		if p.intSet != nil {
			return keep(out, sel, all, func(i int32) bool {
				_, ok := p.intSet[int64(vals[i])]
				return ok && valid(i)
			})
		}
		set := make([]C, len(p.set))
		for j, s := range p.set {
			switch any(c).(type) {
			case int64:
				set[j] = C(s.i)
			case uint64:
				set[j] = C(s.u)
			default:
				set[j] = C(s.f)
			}
		}
		return keep(out, sel, all, func(i int32) bool {
			x := C(vals[i])
			for _, s := range set {
				if x == s {
					return valid(i)
				}
			}
			return false
		})
	}
	return out
}

func evalBytes(p *boundPred, out, sel selection, all int, valid func(int32) bool, val func(int) []byte) selection {
	c := p.c.b
	switch p.op {
	case Eq:
		return keep(out, sel, all, func(i int32) bool { return valid(i) && bytes.Equal(val(int(i)), c) })
	case Ne:
		return keep(out, sel, all, func(i int32) bool { return valid(i) && !bytes.Equal(val(int(i)), c) })
	case Lt:
		return keep(out, sel, all, func(i int32) bool { return valid(i) && bytes.Compare(val(int(i)), c) < 0 })
	case Le:
		return keep(out, sel, all, func(i int32) bool { return valid(i) && bytes.Compare(val(int(i)), c) <= 0 })
	case Gt:
		return keep(out, sel, all, func(i int32) bool { return valid(i) && bytes.Compare(val(int(i)), c) > 0 })
	case Ge:
		return keep(out, sel, all, func(i int32) bool { return valid(i) && bytes.Compare(val(int(i)), c) >= 0 })
	case In:
		if p.strSet != nil {
			return keep(out, sel, all, func(i int32) bool {
				_, ok := p.strSet[string(val(int(i)))]
				return ok && valid(i)
			})
		}
		return keep(out, sel, all, func(i int32) bool {
			if !valid(i) {
				return false
			}
			x := val(int(i))
			for _, s := range p.set {
				if bytes.Equal(x, s.b) {
					return true
				}
			}
			return false
		})
	}
	return out
}
