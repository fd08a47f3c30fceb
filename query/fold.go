package query

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Fold evaluates the constant subtrees of e once, on a one-row batch, and
// replaces them with Literals: 60 * 60 * 1000 becomes 3600000, and
// TIMESTAMP '2026-01-01' + INTERVAL '1 day' a timestamp literal. An error in
// a constant (1 / 0, CAST('x' AS int)) is returned now, at plan time, with
// its position, as Postgres does — even inside a CASE arm no row would
// reach, except that, like Postgres, arms and arguments that constants
// make unreachable are dropped before they are folded:
//
//	CASE WHEN true THEN 1 ELSE 1/0 END   → 1
//	COALESCE(1, 1/0)                     → 1
//	false AND x                          → false
//	true AND x                           → x
//
// e itself is not modified.
func Fold(e Expr) (out Expr, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("internal error folding %s: %v", e, r)
		}
	}()
	return fold(e)
}

// oneRow is the batch constants are evaluated on: no columns, one row.
var oneRow = array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1)

func fold(e Expr) (Expr, error) {
	switch x := e.(type) {
	case *Literal, *ColumnRef:
		return e, nil
	case *logic:
		return foldLogic(x)
	case *caseExpr:
		return foldCase(x)
	case *coalesce:
		return foldCoalesce(x)
	case *slot:
		return e, nil
	case *let:
		return foldLet(x)
	}
	kids := e.Children()
	if len(kids) == 0 {
		return e, nil
	}
	out := make([]Expr, len(kids))
	changed, allConst := false, true
	for i, ch := range kids {
		f, err := fold(ch)
		if err != nil {
			return nil, err
		}
		out[i] = f
		changed = changed || f != ch
		allConst = allConst && isLiteral(f)
	}
	if changed {
		var err error
		if e, err = e.WithChildren(out); err != nil {
			return nil, err
		}
	}
	if _, mine := e.(Structural); !allConst || !mine {
		return e, nil
	}
	return evalConstant(e)
}

// evalConstant computes an expression whose children are all literals.
func evalConstant(e Expr) (Expr, error) {
	v, err := e.Eval(oneRow)
	if err != nil {
		return nil, err
	}
	if v.Len() != 1 {
		return nil, fmt.Errorf("internal error: constant %s evaluated to %d rows", e, v.Len())
	}
	return literalOf(v), nil
}

func boolLiteral(b bool) *Literal {
	l, _ := NewLiteral(typBool, b)
	return l
}

func nullLiteral(dt arrow.DataType) *Literal {
	return &Literal{typ: dt, k: kindOf(dt), arr: nullArray(dt, 1)}
}

func foldLogic(l *logic) (Expr, error) {
	var args []Expr
	sawNull := false
	for _, a := range l.args {
		f, err := fold(a)
		if err != nil {
			return nil, err
		}
		if lit, ok := f.(*Literal); ok {
			if lit.IsNull() {
				sawNull = true
				continue
			}
			if lit.Value().(bool) == l.or {
				return boolLiteral(l.or), nil // TRUE OR x, FALSE AND x
			}
			continue // FALSE OR x, TRUE AND x: x
		}
		args = append(args, f)
	}
	if sawNull {
		args = append(args, nullLiteral(typBool))
	}
	switch len(args) {
	case 0:
		return boolLiteral(!l.or), nil
	case 1:
		return args[0], nil
	}
	cp := *l
	cp.args = args
	return &cp, nil
}

func foldCase(c *caseExpr) (Expr, error) {
	var whens, thens []Expr
	els := c.els
	for k, cond := range c.whens {
		f, err := fold(cond)
		if err != nil {
			return nil, err
		}
		if lit, ok := f.(*Literal); ok {
			if lit.IsNull() || !lit.Value().(bool) {
				continue // never taken
			}
			els = c.thens[k] // always taken: later arms are unreachable
			break
		}
		t, err := fold(c.thens[k])
		if err != nil {
			return nil, err
		}
		whens, thens = append(whens, f), append(thens, t)
	}
	if els != nil {
		f, err := fold(els)
		if err != nil {
			return nil, err
		}
		els = f
	}
	if len(whens) == 0 {
		if els == nil {
			return nullLiteral(c.typ), nil
		}
		return els, nil
	}
	return &caseExpr{whens: whens, thens: thens, els: els, typ: c.typ}, nil
}

func foldCoalesce(c *coalesce) (Expr, error) {
	var args []Expr
	for _, a := range c.args {
		f, err := fold(a)
		if err != nil {
			return nil, err
		}
		if lit, ok := f.(*Literal); ok {
			if lit.IsNull() {
				continue
			}
			args = append(args, f)
			break // later arguments are unreachable
		}
		args = append(args, f)
	}
	switch len(args) {
	case 0:
		return nullLiteral(c.typ), nil
	case 1:
		return args[0], nil
	}
	return &coalesce{args: args, typ: c.typ}, nil
}

// foldLet folds a let's value and body; a constant value is substituted
// into the body, which may then fold further.
func foldLet(l *let) (Expr, error) {
	v, err := fold(l.value)
	if err != nil {
		return nil, err
	}
	if c, ok := v.(*Literal); ok {
		body, err := substitute(l.body, c, 0)
		if err != nil {
			return nil, err
		}
		return fold(body)
	}
	body, err := fold(l.body)
	if err != nil {
		return nil, err
	}
	return &let{value: v, body: body, show: l.show}, nil
}
