package query

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// isNull is x IS [NOT] NULL; never NULL itself.
type isNull struct {
	arg Expr
	not bool
}

var _ Structural = (*isNull)(nil)

func (x *isNull) Type() arrow.DataType { return typBool }

func (x *isNull) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	a, err := x.arg.Eval(rec)
	if err != nil {
		return nil, err
	}
	n := a.Len()
	out := make([]byte, bitutil.BytesForBits(int64(n)))
	valid, _ := validCopy(a, n)
	switch {
	case valid == nil: // no NULLs
		if x.not {
			fillOnes(out)
		}
	case x.not:
		copy(out, valid)
	default:
		bitutil.InvertBitmap(valid, 0, n, out, 0)
	}
	return boolOut(out, n, nil, 0), nil
}

func fillOnes(b []byte) {
	for i := range b {
		b[i] = 0xFF
	}
}

func (x *isNull) String() string {
	if x.not {
		return operand(x.arg) + " IS NOT NULL"
	}
	return operand(x.arg) + " IS NULL"
}

func (x *isNull) Children() []Expr { return []Expr{x.arg} }

func (x *isNull) WithChildren(children []Expr) (Expr, error) {
	cp := *x
	cp.arg = children[0]
	return &cp, nil
}

func (x *isNull) SameOp(other Expr) bool {
	o, ok := other.(*isNull)
	return ok && o.not == x.not
}

// boolTest is x IS [NOT] TRUE / FALSE / UNKNOWN; never NULL itself.
type boolTest struct {
	arg Expr
	// want is the value tested for: 1 TRUE, 0 FALSE, -1 UNKNOWN (NULL).
	want int8
	not  bool
}

var _ Structural = (*boolTest)(nil)

func (x *boolTest) Type() arrow.DataType { return typBool }

func (x *boolTest) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	a, err := x.arg.Eval(rec)
	if err != nil {
		return nil, err
	}
	n := a.Len()
	vals, off := boolsOf(a)
	valid, _ := validCopy(a, n)
	out := make([]byte, bitutil.BytesForBits(int64(n)))
	for i := 0; i < n; i++ {
		isValid := valid == nil || bitutil.BitIsSet(valid, i)
		var hit bool
		switch x.want {
		case 1:
			hit = isValid && bitutil.BitIsSet(vals, off+i)
		case 0:
			hit = isValid && !bitutil.BitIsSet(vals, off+i)
		default:
			hit = !isValid
		}
		if hit != x.not {
			bitutil.SetBit(out, i)
		}
	}
	return boolOut(out, n, nil, 0), nil
}

func (x *boolTest) String() string {
	s := operand(x.arg) + " IS "
	if x.not {
		s += "NOT "
	}
	switch x.want {
	case 1:
		return s + "TRUE"
	case 0:
		return s + "FALSE"
	}
	return s + "UNKNOWN"
}

func (x *boolTest) Children() []Expr { return []Expr{x.arg} }

func (x *boolTest) WithChildren(children []Expr) (Expr, error) {
	cp := *x
	cp.arg = children[0]
	return &cp, nil
}

func (x *boolTest) SameOp(other Expr) bool {
	o, ok := other.(*boolTest)
	return ok && o.want == x.want && o.not == x.not
}
