package query

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// logic is AND or OR over two or more boolean arguments, with SQL's
// three-valued logic: FALSE AND NULL is FALSE, TRUE AND NULL is NULL, TRUE
// OR NULL is TRUE, FALSE OR NULL is NULL.
//
// Evaluation keeps two bitmaps over the batch: the rows already decided
// (a FALSE for AND, a TRUE for OR) and the rows that saw a NULL. Arguments
// are evaluated left to right; one that may fail runs only on the rows not
// yet decided (see expr_lazy.go), and evaluation stops once every row is.
type logic struct {
	or   bool
	args []Expr
	src  src
}

var _ Structural = (*logic)(nil)

func (l *logic) Type() arrow.DataType { return typBool }

func (l *logic) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	n := int(rec.NumRows())
	nb := int(bitutil.BytesForBits(int64(n)))
	decided := make([]byte, nb)
	sawNull := make([]byte, nb)
	ndecided := 0
	for j, arg := range l.args {
		if ndecided == n {
			break
		}
		if lit, ok := arg.(*Literal); ok {
			switch {
			case lit.IsNull():
				for i := range sawNull {
					sawNull[i] = 0xFF
				}
			case lit.Value().(bool) == l.or:
				for i := range decided {
					decided[i] = 0xFF
				}
				ndecided = n
			}
			continue
		}
		var sel []int32
		if j > 0 && ndecided > 0 && mayFail(arg) {
			undecided := make([]byte, nb)
			bitutil.InvertBitmap(decided, 0, n, undecided, 0)
			sel = selected(undecided, n)
		}
		var res arrow.Array
		var err error
		if sel != nil {
			res, err = evalRows(arg, rec, sel)
		} else {
			res, err = arg.Eval(rec)
		}
		if err != nil {
			return nil, err
		}
		vals, voff := boolsOf(res)
		vbits, vboff := bitmapOf(res)
		if sel == nil && voff == 0 && vboff == 0 {
			// Word-wise: whole bytes of the batch at once.
			for i := 0; i < nb; i++ {
				v := vals[i]
				if !l.or {
					v = ^v
				}
				valid := byte(0xFF)
				if vbits != nil {
					valid = vbits[i]
				}
				decided[i] |= v & valid
				sawNull[i] |= ^valid
			}
		} else {
			for r := 0; r < res.Len(); r++ {
				row := r
				if sel != nil {
					row = int(sel[r])
				}
				if vbits != nil && !bitutil.BitIsSet(vbits, vboff+r) {
					bitutil.SetBit(sawNull, row)
				} else if bitutil.BitIsSet(vals, voff+r) == l.or {
					bitutil.SetBit(decided, row)
				}
			}
		}
		ndecided = bitutil.CountSetBits(decided, 0, n)
	}
	// AND: FALSE where decided, else NULL where a NULL was seen, else TRUE.
	// OR: TRUE where decided, else NULL where a NULL was seen, else FALSE.
	out := make([]byte, nb)
	valid := make([]byte, nb)
	for i := range out {
		if l.or {
			out[i] = decided[i]
		} else {
			out[i] = ^decided[i]
		}
		valid[i] = decided[i] | ^sawNull[i]
	}
	nulls := n - bitutil.CountSetBits(valid, 0, n)
	return boolOut(out, n, valid, nulls), nil
}

func (l *logic) String() string {
	op := " AND "
	if l.or {
		op = " OR "
	}
	parts := make([]string, len(l.args))
	for i, a := range l.args {
		if inner, ok := a.(*logic); ok && inner.or == l.or {
			parts[i] = inner.String()
		} else {
			parts[i] = operand(a)
		}
	}
	return strings.Join(parts, op)
}

func (l *logic) Children() []Expr { return l.args }

func (l *logic) WithChildren(children []Expr) (Expr, error) {
	cp := *l
	cp.args = children
	return &cp, nil
}

func (l *logic) SameOp(other Expr) bool {
	o, ok := other.(*logic)
	return ok && o.or == l.or && len(o.args) == len(l.args)
}

// not is NOT x: NULL stays NULL.
type not struct {
	arg Expr
	src src
}

var _ Structural = (*not)(nil)

func (x *not) Type() arrow.DataType { return typBool }

func (x *not) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	a, err := x.arg.Eval(rec)
	if err != nil {
		return nil, err
	}
	n := a.Len()
	vals, off := boolsOf(a)
	out := make([]byte, bitutil.BytesForBits(int64(n)))
	bitutil.InvertBitmap(vals, off, n, out, 0)
	valid, nulls := validCopy(a, n)
	return boolOut(out, n, valid, nulls), nil
}

func (x *not) String() string { return "NOT " + operand(x.arg) }

func (x *not) Children() []Expr { return []Expr{x.arg} }

func (x *not) WithChildren(children []Expr) (Expr, error) {
	cp := *x
	cp.arg = children[0]
	return &cp, nil
}

func (x *not) SameOp(other Expr) bool {
	_, ok := other.(*not)
	return ok
}
