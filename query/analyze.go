package query

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
)

// Analysis of bound expressions for the planner: splitting and joining
// conjunctions, the columns an expression reads, moving it below a
// projection, structural equality and constant detection.
//
// They walk trees through Expr's Children and WithChildren (Walk and
// Transform in expr.go). Equality also needs each node's own attributes
// (which operator, which target type), which Children does not show: every
// node of this package implements Structural for that. An Expr without
// it (one the planner made, say) equals only itself, and unless it is a
// *ColumnRef or a *Literal it is not constant and is evaluated with all
// columns when gathered (it may read columns Columns cannot see).

// Structural is implemented by expression nodes that Equal compares by
// structure.
type Structural interface {
	Expr
	// SameOp reports whether other is the same operation with the same
	// non-expression attributes (operator, target type, flags), ignoring
	// the children.
	SameOp(other Expr) bool
}

// Conjuncts splits e at its top-level ANDs: a AND (b AND c) gives [a b c].
// Any other expression is a single conjunct.
func Conjuncts(e Expr) []Expr {
	if l, ok := e.(*logic); ok && !l.or {
		var out []Expr
		for _, a := range l.args {
			out = append(out, Conjuncts(a)...)
		}
		return out
	}
	if e == nil {
		return nil
	}
	return []Expr{e}
}

// And joins boolean expressions with AND: TRUE for none, the expression
// itself for one.
func And(es ...Expr) Expr {
	switch len(es) {
	case 0:
		l, _ := NewLiteral(typBool, true)
		return l
	case 1:
		return es[0]
	}
	return &logic{args: slices.Clone(es)}
}

// Columns returns the input column indices e reads, ascending, without
// duplicates.
func Columns(e Expr) []int {
	var out []int
	Walk(e, func(x Expr) bool {
		if c, ok := x.(*ColumnRef); ok {
			out = append(out, c.Index)
		}
		return true
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// Remap rewrites every column reference: column i becomes mapping[i]. It is
// an error for e to read a column the mapping drops (mapping[i] < 0) or
// does not cover. e is not modified.
func Remap(e Expr, mapping []int) (Expr, error) {
	return Transform(e, func(x Expr) (Expr, error) {
		c, ok := x.(*ColumnRef)
		if !ok {
			return x, nil
		}
		if c.Index < 0 || c.Index >= len(mapping) || mapping[c.Index] < 0 {
			return nil, fmt.Errorf("column %s (%d) is not available after the remapping", c.String(), c.Index)
		}
		cp := *c
		cp.Index = mapping[c.Index]
		return &cp, nil
	})
}

// Equal reports whether a and b are the same expression: the same
// operations on the same columns (by index) and constants. It matches
// GROUP BY expressions with the select list's.
func Equal(a, b Expr) bool {
	switch x := a.(type) {
	case *ColumnRef:
		y, ok := b.(*ColumnRef)
		return ok && x.Index == y.Index && typeEqual(x.Typ, y.Typ)
	case *Literal:
		y, ok := b.(*Literal)
		return ok && literalEqual(x, y)
	}
	sa, ok := a.(Structural)
	if !ok {
		return a == b
	}
	sb, ok := b.(Structural)
	if !ok || !sa.SameOp(b) || !sb.SameOp(a) {
		return false
	}
	ka, kb := a.Children(), b.Children()
	if len(ka) != len(kb) {
		return false
	}
	for i := range ka {
		if !Equal(ka[i], kb[i]) {
			return false
		}
	}
	return true
}

func typeEqual(a, b arrow.DataType) bool {
	if a == nil || b == nil {
		return a == b
	}
	return arrow.TypeEqual(a, b)
}

func literalEqual(a, b *Literal) bool {
	if a.k != b.k || !typeEqual(a.typ, b.typ) {
		return false
	}
	if a.IsNull() || b.IsNull() {
		return a.IsNull() == b.IsNull()
	}
	if a.k == kFloat64 { // NaN equals NaN here, as in Postgres
		fa, fb := a.Value().(float64), b.Value().(float64)
		return fa == fb || fa != fa && fb != fb
	}
	return a.Value() == b.Value()
}

// IsConstant reports whether e reads no column: its value is the same for
// every row (weir has no volatile functions), so Fold can compute it.
func IsConstant(e Expr) bool {
	switch e.(type) {
	case *Literal:
		return true
	case *ColumnRef, *slot:
		return false
	}
	if _, ok := e.(Structural); !ok {
		return false
	}
	for _, ch := range e.Children() {
		if !IsConstant(ch) {
			return false
		}
	}
	return true
}

// Comparison reports whether e is a comparison (op one of = <> < <= > >=)
// and returns its operands, for predicate pushdown into sources (a Parquet
// reader can skip row groups by their statistics).
func Comparison(e Expr) (op string, left, right Expr, ok bool) {
	c, isCall := e.(*call)
	if !isCall || c.style != styleInfix {
		return "", nil, nil, false
	}
	if _, isCmp := cmpOps[c.name]; !isCmp {
		return "", nil, nil, false
	}
	return c.name, c.args[0], c.args[1], true
}
