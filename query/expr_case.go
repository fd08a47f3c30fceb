package query

import (
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// caseExpr is a searched CASE (a simple CASE x WHEN v is bound as WHEN x =
// v). Each row takes the result of its first TRUE condition, else the ELSE
// result, else NULL. Conditions and results that may fail run only on the
// rows that reach them (expr_lazy.go).
type caseExpr struct {
	whens, thens []Expr
	els          Expr // nil: ELSE NULL
	typ          arrow.DataType
}

var _ Structural = (*caseExpr)(nil)

func (c *caseExpr) Type() arrow.DataType { return c.typ }

func (c *caseExpr) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	n := int(rec.NumRows())
	nb := int(bitutil.BytesForBits(int64(n)))
	// open marks the rows no condition has taken yet.
	open := make([]byte, nb)
	fillOnes(open)
	nopen := n
	which := make([]int16, n)
	for i := range which {
		which[i] = -1
	}
	taken := make([][]int32, len(c.thens)+1)
	for k, cond := range c.whens {
		if nopen == 0 {
			break
		}
		var hits []int32
		if lit, ok := cond.(*Literal); ok {
			if lit.IsNull() || !lit.Value().(bool) {
				continue
			}
			hits = selected(open, n)
		} else {
			var err error
			hits, err = trueRows(cond, rec, open, nopen, n)
			if err != nil {
				return nil, err
			}
		}
		for _, r := range hits {
			which[r] = int16(k)
			bitutil.ClearBit(open, int(r))
		}
		nopen -= len(hits)
		taken[k] = hits
	}
	if c.els != nil && nopen > 0 {
		rest := selected(open, n)
		for _, r := range rest {
			which[r] = int16(len(c.thens))
		}
		taken[len(c.thens)] = rest
	}
	results := append(append([]Expr{}, c.thens...), c.els)
	return evalBranches(c.typ, rec, results, taken, which)
}

// trueRows evaluates a condition on the open rows and returns those where
// it is TRUE.
func trueRows(cond Expr, rec arrow.RecordBatch, open []byte, nopen, n int) ([]int32, error) {
	var sel []int32
	if nopen < n && mayFail(cond) {
		sel = selected(open, n)
	}
	var res arrow.Array
	var err error
	if sel != nil {
		res, err = evalRows(cond, rec, sel)
	} else {
		res, err = cond.Eval(rec)
	}
	if err != nil {
		return nil, err
	}
	vals, off := boolsOf(res)
	vbits, voff := bitmapOf(res)
	if sel == nil && off == 0 && voff == 0 {
		// Word-wise: TRUE = value AND valid AND open.
		hit := make([]byte, len(open))
		for i := range hit {
			h := vals[i] & open[i]
			if vbits != nil {
				h &= vbits[i]
			}
			hit[i] = h
		}
		return selected(hit, n), nil
	}
	var hits []int32
	for r := 0; r < res.Len(); r++ {
		row := r
		if sel != nil {
			row = int(sel[r])
		} else if !bitutil.BitIsSet(open, r) {
			continue
		}
		if (vbits == nil || bitutil.BitIsSet(vbits, voff+r)) && bitutil.BitIsSet(vals, off+r) {
			hits = append(hits, int32(row))
		}
	}
	return hits, nil
}

// evalBranches evaluates results[k] on the rows taken[k] and assembles the
// rows in order (which[i] is row i's branch, -1 for NULL).
func evalBranches(typ arrow.DataType, rec arrow.RecordBatch, results []Expr, taken [][]int32, which []int16) (arrow.Array, error) {
	n := len(which)
	parts := make([]arrow.Array, len(results))
	at := make([]int32, n)
	for k, rows := range taken {
		if len(rows) == 0 || results[k] == nil {
			continue
		}
		e := results[k]
		switch {
		case isLiteral(e):
			parts[k] = e.(*Literal).arr
			// at stays 0 for these rows: the constant's only row.
			for _, r := range rows {
				at[r] = 0
			}
		case len(rows) == n || !mayFail(e):
			res, err := e.Eval(rec)
			if err != nil {
				return nil, err
			}
			if len(rows) == n && parts[k] == nil && allSame(which, int16(k)) {
				return res, nil
			}
			parts[k] = res
			for _, r := range rows {
				at[r] = r
			}
		default:
			res, err := evalRows(e, rec, rows)
			if err != nil {
				return nil, err
			}
			parts[k] = res
			for j, r := range rows {
				at[r] = int32(j)
			}
		}
	}
	return assemble(typ, n, parts, which, at)
}

func isLiteral(e Expr) bool {
	_, ok := e.(*Literal)
	return ok
}

func allSame(which []int16, k int16) bool {
	for _, w := range which {
		if w != k {
			return false
		}
	}
	return true
}

func (c *caseExpr) String() string {
	var b strings.Builder
	b.WriteString("CASE")
	for k := range c.whens {
		b.WriteString(" WHEN " + c.whens[k].String() + " THEN " + c.thens[k].String())
	}
	if c.els != nil {
		b.WriteString(" ELSE " + c.els.String())
	}
	b.WriteString(" END")
	return b.String()
}

func (c *caseExpr) Children() []Expr {
	out := append(append([]Expr{}, c.whens...), c.thens...)
	if c.els != nil {
		out = append(out, c.els)
	}
	return out
}

func (c *caseExpr) WithChildren(children []Expr) (Expr, error) {
	cp := *c
	w := len(c.whens)
	cp.whens = children[:w:w]
	cp.thens = children[w : 2*w : 2*w]
	if c.els != nil {
		cp.els = children[2*w]
	}
	return &cp, nil
}

func (c *caseExpr) SameOp(other Expr) bool {
	o, ok := other.(*caseExpr)
	return ok && len(o.whens) == len(c.whens) && (o.els == nil) == (c.els == nil) && arrow.TypeEqual(o.typ, c.typ)
}

// coalesce is COALESCE(a, b, ...): the first non-NULL argument of each row.
// An argument is evaluated only when some row is still NULL, and when it
// may fail, only on those rows.
type coalesce struct {
	args []Expr
	typ  arrow.DataType
}

var _ Structural = (*coalesce)(nil)

func (c *coalesce) Type() arrow.DataType { return c.typ }

func (c *coalesce) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	n := int(rec.NumRows())
	if l, ok := c.args[len(c.args)-1].(*Literal); ok && len(c.args) == 2 && !l.IsNull() && !isLiteral(c.args[0]) {
		// COALESCE(x, constant): x with its NULLs filled in.
		x, err := c.args[0].Eval(rec)
		if err != nil {
			return nil, err
		}
		if out, ok := fillNulls(x, l.arr); ok {
			return out, nil
		}
	}
	which := make([]int16, n)
	for i := range which {
		which[i] = -1
	}
	parts := make([]arrow.Array, len(c.args))
	at := make([]int32, n)
	var open []int32 // rows still NULL; nil = all rows
	for k, arg := range c.args {
		if open != nil && len(open) == 0 {
			break
		}
		var res arrow.Array
		var err error
		rows := open
		switch {
		case isLiteral(arg):
			res = arg.(*Literal).arr
		case open == nil || !mayFail(arg):
			res, err = arg.Eval(rec)
		default:
			res, err = evalRows(arg, rec, open)
		}
		if err != nil {
			return nil, err
		}
		if open == nil && res.NullN() == 0 && !isLiteral(arg) {
			return res, nil // the first argument has no NULLs
		}
		parts[k] = res
		pv := validities([]arrow.Array{res})
		// pos is where row r (the j-th open row) is in res.
		pos := func(j int, r int32) int32 { return r }
		switch {
		case isLiteral(arg):
			pos = func(int, int32) int32 { return 0 }
		case rows != nil && mayFail(arg):
			pos = func(j int, _ int32) int32 { return int32(j) }
		}
		still := []int32{}
		if rows == nil {
			for i := range n {
				if p := pos(i, int32(i)); pv.valid(0, p) {
					which[i], at[i] = int16(k), p
				} else {
					still = append(still, int32(i))
				}
			}
		} else {
			for j, r := range rows {
				if p := pos(j, r); pv.valid(0, p) {
					which[r], at[r] = int16(k), p
				} else {
					still = append(still, r)
				}
			}
		}
		open = still
	}
	return assemble(c.typ, n, parts, which, at)
}

func (c *coalesce) String() string {
	parts := make([]string, len(c.args))
	for i, a := range c.args {
		parts[i] = a.String()
	}
	return "COALESCE(" + strings.Join(parts, ", ") + ")"
}

func (c *coalesce) Children() []Expr { return c.args }

func (c *coalesce) WithChildren(children []Expr) (Expr, error) {
	cp := *c
	cp.args = children
	return &cp, nil
}

func (c *coalesce) SameOp(other Expr) bool {
	o, ok := other.(*coalesce)
	return ok && len(o.args) == len(c.args) && arrow.TypeEqual(o.typ, c.typ)
}

// fillNulls replaces the NULLs of a fixed-width array by the one-row
// constant c (ok false: another type, left to the general path).
func fillNulls(a, c arrow.Array) (arrow.Array, bool) {
	if a.NullN() == 0 {
		return a, true
	}
	bm, off := bitmapOf(a)
	if bm == nil || a.DataType().ID() == arrow.BOOL {
		return nil, false
	}
	fw, ok := a.DataType().(arrow.FixedWidthDataType)
	if !ok {
		return nil, false
	}
	switch fw.BitWidth() {
	case 16:
		return fixedOut(a.DataType(), fill(valuesOf[int16](a), valuesOf[int16](c)[0], bm, off), nil, 0), true
	case 32:
		return fixedOut(a.DataType(), fill(valuesOf[int32](a), valuesOf[int32](c)[0], bm, off), nil, 0), true
	case 64:
		return fixedOut(a.DataType(), fill(valuesOf[int64](a), valuesOf[int64](c)[0], bm, off), nil, 0), true
	}
	return nil, false
}

func fill[T any](vals []T, c T, valid []byte, off int) []T {
	out := make([]T, len(vals))
	copy(out, vals)
	for i := range out {
		if !bitutil.BitIsSet(valid, off+i) {
			out[i] = c
		}
	}
	return out
}
