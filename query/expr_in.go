package query

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// inList is x [NOT] IN (c1, c2, ...) over constants, with a set built once
// at bind time. SQL semantics: NULL when x is NULL, or when x matches no
// item and an item is NULL; NOT IN is the negation of IN. (An IN list with
// a non-constant item is bound as x = a OR x = b instead.)
type inList struct {
	arg   Expr
	items []*Literal
	not   bool
	set   *valueSet
}

var _ Structural = (*inList)(nil)

// valueSet holds the non-NULL items of an IN list by kind.
type valueSet struct {
	k       kind
	ints    map[int64]struct{}
	small   []int64 // up to 8 integer items: a scan beats a map
	floats  map[float64]struct{}
	nan     bool
	strs    map[string]struct{}
	bools   [2]bool
	hasNull bool
}

func newInList(arg Expr, items []*Literal, not bool) *inList {
	k := kindOf(arg.Type())
	s := &valueSet{k: k}
	for _, it := range items {
		if it.IsNull() {
			s.hasNull = true
			continue
		}
		switch k {
		case kInt16, kInt32, kInt64, kTimestamp, kInterval, kDate:
			s.small = append(s.small, int64sOf(it.arr)[0])
		case kFloat64:
			f := valuesOf[float64](it.arr)[0]
			if f != f {
				s.nan = true
				continue
			}
			if s.floats == nil {
				s.floats = map[float64]struct{}{}
			}
			s.floats[f+0] = struct{}{} // -0 and 0 are one key
		case kText:
			if s.strs == nil {
				s.strs = map[string]struct{}{}
			}
			s.strs[it.Value().(string)] = struct{}{}
		case kBool:
			if it.Value().(bool) {
				s.bools[1] = true
			} else {
				s.bools[0] = true
			}
		}
	}
	if len(s.small) > 8 {
		s.ints = make(map[int64]struct{}, len(s.small))
		for _, v := range s.small {
			s.ints[v] = struct{}{}
		}
		s.small = nil
	}
	return &inList{arg: arg, items: items, not: not, set: s}
}

func (x *inList) Type() arrow.DataType { return typBool }

func (x *inList) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	a, err := x.arg.Eval(rec)
	if err != nil {
		return nil, err
	}
	n := a.Len()
	s := x.set
	hit := make([]byte, n)
	switch s.k {
	case kInt16, kInt32, kInt64, kTimestamp, kInterval, kDate:
		vals := int64sOf(a)
		if s.ints != nil {
			for i, v := range vals {
				_, ok := s.ints[v]
				hit[i] = b2u(ok)
			}
		} else {
			for i, v := range vals {
				var h byte
				for _, c := range s.small {
					h |= b2u(v == c)
				}
				hit[i] = h
			}
		}
	case kFloat64:
		for i, v := range valuesOf[float64](a) {
			if v != v {
				hit[i] = b2u(s.nan)
				continue
			}
			_, ok := s.floats[v]
			hit[i] = b2u(ok)
		}
	case kText:
		strs := stringsOf(a, n)
		for i := range hit {
			_, ok := s.strs[strs.at(i)]
			hit[i] = b2u(ok)
		}
	case kBool:
		bits, off := boolsOf(a)
		for i := range hit {
			hit[i] = b2u(s.bools[b2u(bitutil.BitIsSet(bits, off+i))])
		}
	}
	valid, nulls := validCopy(a, n)
	if s.hasNull {
		// No match against a list with a NULL is NULL.
		if valid == nil {
			valid = make([]byte, bitutil.BytesForBits(int64(n)))
			fillOnes(valid)
		}
		for i, h := range hit {
			if h == 0 && bitutil.BitIsSet(valid, i) {
				bitutil.ClearBit(valid, i)
				nulls++
			}
		}
	}
	if x.not {
		for i := range hit {
			hit[i] ^= 1
		}
	}
	out := make([]byte, bitutil.BytesForBits(int64(n)))
	packBools(hit, out)
	return boolOut(out, n, valid, nulls), nil
}

func (x *inList) String() string {
	parts := make([]string, len(x.items))
	for i, it := range x.items {
		parts[i] = it.String()
	}
	op := " IN ("
	if x.not {
		op = " NOT IN ("
	}
	return operand(x.arg) + op + strings.Join(parts, ", ") + ")"
}

func (x *inList) Children() []Expr {
	out := make([]Expr, 0, len(x.items)+1)
	out = append(out, x.arg)
	for _, it := range x.items {
		out = append(out, it)
	}
	return out
}

// WithChildren keeps the item set when the items are unchanged constants
// (analysis rewrites the tested expression); new constant items rebuild it.
func (x *inList) WithChildren(children []Expr) (Expr, error) {
	if len(children) != len(x.items)+1 {
		return nil, fmt.Errorf("IN list with %d items given %d children", len(x.items), len(children)-1)
	}
	same := true
	lits := make([]*Literal, len(x.items))
	for i, ch := range children[1:] {
		l, ok := ch.(*Literal)
		if !ok {
			return nil, fmt.Errorf("IN list item %s is not a constant", ch)
		}
		lits[i] = l
		same = same && l == x.items[i]
	}
	if same {
		cp := *x
		cp.arg = children[0]
		return &cp, nil
	}
	return newInList(children[0], lits, x.not), nil
}

func (x *inList) SameOp(other Expr) bool {
	o, ok := other.(*inList)
	if !ok || o.not != x.not || len(o.items) != len(x.items) {
		return false
	}
	for i := range x.items {
		if !Equal(o.items[i], x.items[i]) {
			return false
		}
	}
	return true
}
