package query

import (
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Comparisons = <> < <= > >= and IS [NOT] DISTINCT FROM, for every type.
// Numbers compare as bigint or double precision (narrower types widen), a
// date with a timestamp as a timestamp. Text compares bytewise (the C
// collation: 'B' < 'a'); false < true. Double precision follows Postgres,
// not IEEE: NaN equals NaN and is greater than every other value.

type cmpOp uint8

const (
	opEQ cmpOp = iota
	opNE
	opLT
	opLE
	opGT
	opGE
)

var cmpOps = map[string]cmpOp{"=": opEQ, "<>": opNE, "<": opLT, "<=": opLE, ">": opGT, ">=": opGE}

// flip is the operator with its operands swapped (a < b is b > a).
func (op cmpOp) flip() cmpOp {
	switch op {
	case opLT:
		return opGT
	case opLE:
		return opGE
	case opGT:
		return opLT
	case opGE:
		return opLE
	}
	return op
}

// comparable are the kinds with comparison operators, in preference order.
var comparableKinds = []kind{kInt64, kFloat64, kText, kTimestamp, kDate, kInterval, kBool}

func init() {
	for name, op := range cmpOps {
		for _, k := range comparableKinds {
			register(name, &overload{params: []kind{k, k}, ret: kBool, eval: cmpKernel(op, k)})
		}
	}
	for _, k := range comparableKinds {
		register("is distinct from", &overload{params: []kind{k, k}, ret: kBool, lenient: true, eval: distinctKernel(k, false)})
		register("is not distinct from", &overload{params: []kind{k, k}, ret: kBool, lenient: true, eval: distinctKernel(k, true)})
	}
}

// cmpKernel compares two arguments of kind k into a boolean.
func cmpKernel(op cmpOp, k kind) kernel {
	return func(c *kctx) (arrow.Array, error) {
		tmp := compareBytes(op, k, c.args[0], c.args[1], c.n)
		out := make([]byte, bitutil.BytesForBits(int64(c.n)))
		packBools(tmp, out)
		putBytes(tmp)
		return boolOut(out, c.n, c.valid, c.nulls), nil
	}
}

// compareBytes compares a and b (each n rows or a broadcast constant) into
// one byte per row, 1 = true. NULL rows hold unspecified results.
func compareBytes(op cmpOp, k kind, a, b arrow.Array, n int) []byte {
	if n != 1 && a.Len() == 1 && b.Len() == 1 { // two constants
		return repeat(compareBytes(op, k, a, b, 1)[0], n)
	}
	tmp := tempBytes(n)
	switch k {
	case kInt64, kTimestamp, kInterval:
		cmpOrdered(op, valuesOf[int64](a), valuesOf[int64](b), tmp)
	case kDate, kInt32:
		cmpOrdered(op, valuesOf[int32](a), valuesOf[int32](b), tmp)
	case kInt16:
		cmpOrdered(op, valuesOf[int16](a), valuesOf[int16](b), tmp)
	case kFloat64:
		x, y := valuesOf[float64](a), valuesOf[float64](b)
		if hasNaN(x) || hasNaN(y) {
			mx, my := bmask(a, n), bmask(b, n)
			for i := range tmp {
				tmp[i] = b2u(cmpResult(op, floatCmp(x[i&mx], y[i&my])))
			}
		} else {
			cmpOrdered(op, x, y, tmp)
		}
	case kText:
		x, y := stringsOf(a, n), stringsOf(b, n)
		if x.m == 0 { // constant on the left
			x, y = y, x
			op = op.flip()
		}
		if (op == opEQ || op == opNE) && y.m == 0 && x.m != 0 {
			// Column = constant: compare lengths from the offsets first.
			s, offs, data := y.at(0), x.offs, x.data
			want := op == opEQ
			for i := range tmp {
				o0, o1 := offs[i], offs[i+1]
				tmp[i] = b2u((int(o1-o0) == len(s) && string(data[o0:o1]) == s) == want)
			}
		} else if op == opEQ || op == opNE {
			want := op == opEQ
			for i := range tmp {
				tmp[i] = b2u((x.at(i) == y.at(i)) == want)
			}
		} else {
			for i := range tmp {
				tmp[i] = b2u(cmpResult(op, strings.Compare(x.at(i), y.at(i))))
			}
		}
	case kBool:
		xb, xo := boolsOf(a)
		yb, yo := boolsOf(b)
		mx, my := bmask(a, n), bmask(b, n)
		for i := range tmp {
			xv := int(b2u(bitutil.BitIsSet(xb, xo+i&mx)))
			yv := int(b2u(bitutil.BitIsSet(yb, yo+i&my)))
			tmp[i] = b2u(cmpResult(op, xv-yv))
		}
	}
	return tmp
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func hasNaN(v []float64) bool {
	nan := false
	for _, x := range v {
		nan = nan || x != x
	}
	return nan
}

// floatCmp orders doubles as Postgres does: NaN is equal to NaN and greater
// than everything else.
func floatCmp(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	}
	return -1
}

func cmpResult(op cmpOp, c int) bool {
	switch op {
	case opEQ:
		return c == 0
	case opNE:
		return c != 0
	case opLT:
		return c < 0
	case opLE:
		return c <= 0
	case opGT:
		return c > 0
	}
	return c >= 0
}

// cmpOrdered is the hot loop of comparisons: one tight loop per operator
// and layout (column-column, column-constant), writing a byte per row that
// packBools turns into bits eight at a time.
func cmpOrdered[T int16 | int32 | int64 | float64](op cmpOp, a, b []T, out []byte) {
	n := len(out)
	if len(a) != n { // constant on the left: swap
		a, b = b, a
		op = op.flip()
	}
	if len(b) != n {
		s := b[0]
		a = a[:n]
		switch op {
		case opEQ:
			for i, x := range a {
				out[i] = b2u(x == s)
			}
		case opNE:
			for i, x := range a {
				out[i] = b2u(x != s)
			}
		case opLT:
			for i, x := range a {
				out[i] = b2u(x < s)
			}
		case opLE:
			for i, x := range a {
				out[i] = b2u(x <= s)
			}
		case opGT:
			for i, x := range a {
				out[i] = b2u(x > s)
			}
		case opGE:
			for i, x := range a {
				out[i] = b2u(x >= s)
			}
		}
		return
	}
	a, b = a[:n], b[:n]
	switch op {
	case opEQ:
		for i := range out {
			out[i] = b2u(a[i] == b[i])
		}
	case opNE:
		for i := range out {
			out[i] = b2u(a[i] != b[i])
		}
	case opLT:
		for i := range out {
			out[i] = b2u(a[i] < b[i])
		}
	case opLE:
		for i := range out {
			out[i] = b2u(a[i] <= b[i])
		}
	case opGT:
		for i := range out {
			out[i] = b2u(a[i] > b[i])
		}
	case opGE:
		for i := range out {
			out[i] = b2u(a[i] >= b[i])
		}
	}
}

// distinctKernel is IS [NOT] DISTINCT FROM: NULL is not distinct from NULL
// and distinct from every value; the result is never NULL.
func distinctKernel(k kind, not bool) kernel {
	return func(c *kctx) (arrow.Array, error) {
		a, b := c.args[0], c.args[1]
		eq := compareBytes(opEQ, k, a, b, c.n)
		va, _ := validCopy(a, c.n)
		vb, _ := validCopy(b, c.n)
		for i := range eq {
			na := va != nil && !bitutil.BitIsSet(va, i)
			nb := vb != nil && !bitutil.BitIsSet(vb, i)
			same := eq[i] == 1
			if na || nb {
				same = na && nb
			}
			eq[i] = b2u(same == not)
		}
		out := make([]byte, bitutil.BytesForBits(int64(c.n)))
		packBools(eq, out)
		return boolOut(out, c.n, nil, 0), nil
	}
}
