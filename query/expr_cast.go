package query

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// cast converts its argument to another SQL type: CAST(x AS t), x::t, and
// the implicit conversions of overload resolution (which render as their
// argument alone, as in the SQL that produced them). A bad value fails the
// query with Postgres' message quoting it.
type cast struct {
	arg      Expr
	to       kind
	limit    int // n of VARCHAR(n), 0: none
	fields   int // interval qualifier (intervalFullRange: none)
	implicit bool
	// name is the type as written (numeric, varchar(3)), for String.
	name string
	run  kernel
	// pooled: run takes its result from the scratch pool (widening).
	pooled bool
	src    src
}

var _ Structural = (*cast)(nil)

func newCast(arg Expr, to kind, limit, fields int, implicit bool, name string, s src) *cast {
	from := kindOf(arg.Type())
	var norm kernel
	if from == kOther { // an Arrow type converted to its SQL type first
		norm, from = normalizeKernel(arg.Type()), normalizeKind(arg.Type())
	}
	run := castKernel(from, to, limit)
	if to == kInterval && fields != intervalFullRange && from == kText {
		run = intervalCastKernel(fields)
	}
	if norm != nil && run != nil {
		then := run
		run = func(k *kctx) (arrow.Array, error) {
			a, err := norm(k)
			if err != nil {
				return nil, err
			}
			return then(&kctx{args: []arrow.Array{a}, n: k.n, valid: k.valid, nulls: k.nulls})
		}
	}
	if name == "" {
		name = to.String()
	}
	pooled := from.isInteger() && from != to && (to == kFloat64 || to == kInt64)
	return &cast{arg: arg, to: to, limit: limit, fields: fields, implicit: implicit, name: name, run: run, pooled: pooled, src: s}
}

func (c *cast) Type() arrow.DataType { return c.to.typ() }

// mayFail: parsing text, narrowing integers and rounding floats can fail.
func (c *cast) mayFail() bool {
	from := kindOf(c.arg.Type())
	switch {
	case from == kOther:
		return true
	case from == c.to, from == kNull:
		return false
	case from == kText:
		return c.to != kText
	case c.to.isInteger():
		return numRank(from) > numRank(c.to) || from == kFloat64
	}
	return false
}

func (c *cast) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	out, _, err := c.evalScratch(rec)
	return out, err
}

func (c *cast) evalScratch(rec arrow.RecordBatch) (arrow.Array, bool, error) {
	n := int(rec.NumRows())
	if n == 0 {
		return nullArray(c.Type(), 0), false, nil
	}
	var a arrow.Array
	argPooled := false
	if l, ok := c.arg.(*Literal); ok {
		a = l.arr
	} else {
		var err error
		if s, ok := c.arg.(scratcher); ok {
			a, argPooled, err = s.evalScratch(rec)
		} else {
			a, err = c.arg.Eval(rec)
		}
		if err != nil {
			return nil, false, err
		}
	}
	m := a.Len()
	valid, nulls, allNull := strictValidity([]arrow.Array{a}, m)
	if allNull || (nulls == m && m > 0) {
		return nullArray(c.Type(), n), false, nil
	}
	out, err := c.run(&kctx{args: []arrow.Array{a}, n: m, valid: valid, nulls: nulls})
	if err != nil {
		return nil, false, c.src.wrap(err)
	}
	if argPooled && !sharesValues(out, a) {
		recycle(a)
	}
	if m != n {
		out, err = broadcast(out, n)
		return out, false, err
	}
	return out, c.pooled, nil
}

func (c *cast) String() string {
	if c.implicit {
		return c.arg.String()
	}
	return "CAST(" + c.arg.String() + " AS " + c.name + ")"
}

func (c *cast) Children() []Expr { return []Expr{c.arg} }

func (c *cast) WithChildren(children []Expr) (Expr, error) {
	if kindOf(children[0].Type()) != kindOf(c.arg.Type()) {
		return newCast(children[0], c.to, c.limit, c.fields, c.implicit, c.name, c.src), nil
	}
	cp := *c
	cp.arg = children[0]
	return &cp, nil
}

func (c *cast) SameOp(other Expr) bool {
	o, ok := other.(*cast)
	return ok && o.to == c.to && o.limit == c.limit && o.fields == c.fields
}

// Cast converts e to the SQL type to as CAST(e AS to) does (for the
// planner: INSERT into a typed table, UNION ALL of different types). A
// constant is converted at once, so a bad value fails here; a cast that
// does not exist ("cannot cast type boolean to bigint") is an error.
// Arrow types outside weir's SQL types convert to their family first.
func Cast(e Expr, to arrow.DataType) (Expr, error) {
	k := kindOf(to)
	if k == kOther || k == kNull {
		return nil, fmt.Errorf("cannot cast to type %s: %w", to, ErrUnsupported)
	}
	from := argKind(e)
	if from == kOther {
		from = normalizeKind(e.Type())
	}
	if !castable(from, k) {
		return nil, fmt.Errorf("cannot cast type %s to %s", argTypeName(e), k)
	}
	if from == k && kindOf(e.Type()) == k && !isUntyped(e) {
		return e, nil
	}
	if l, ok := e.(*Literal); ok {
		return castLiteral(l, k, 0, intervalFullRange)
	}
	return newCast(e, k, 0, intervalFullRange, false, "", src{pos: -1}), nil
}

func isUntyped(e Expr) bool {
	l, ok := e.(*Literal)
	return ok && l.untyped
}
