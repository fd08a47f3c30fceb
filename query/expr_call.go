package query

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// src is where a node is in the statement text, so that an error it raises
// (at bind, fold or run time) points there.
type src struct {
	text string
	pos  int
}

// wrap positions a kernel's error at the node; an error that already is an
// *Error (raised by a sub-expression) is returned as it is.
func (s src) wrap(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, ErrUnsupported) {
		return unsupportedError{errorAt(s.text, s.pos, "%s", err.Error())}
	}
	return errorAt(s.text, s.pos, "%s", err.Error())
}

// style is how a call renders as SQL.
type style uint8

const (
	styleFunc   style = iota // name(a, b)
	styleInfix               // a op b
	stylePrefix              // op a
)

// call applies a function or an operator to its arguments with a kernel.
type call struct {
	name  string // registry name (an operator's symbol)
	style style
	args  []Expr
	ov    *overload
	run   kernel
	typ   arrow.DataType
	src   src
}

var _ Structural = (*call)(nil)

func (c *call) Type() arrow.DataType { return c.typ }

func (c *call) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	out, _, err := c.evalScratch(rec)
	return out, err
}

// scratcher is a node whose result may be a scratch buffer (pooled: the
// caller may recycle it once done with it).
type scratcher interface {
	evalScratch(rec arrow.RecordBatch) (out arrow.Array, pooled bool, err error)
}

func (c *call) evalScratch(rec arrow.RecordBatch) (arrow.Array, bool, error) {
	n := int(rec.NumRows())
	if n == 0 {
		return nullArray(c.typ, 0), false, nil
	}
	args := make([]arrow.Array, len(c.args))
	var pooled []int // arguments whose buffers this call may recycle
	allConst := true
	for i, a := range c.args {
		if l, ok := a.(*Literal); ok {
			args[i] = l.arr
			continue
		}
		allConst = false
		var err error
		var p bool
		if s, ok := a.(scratcher); ok {
			args[i], p, err = s.evalScratch(rec)
		} else {
			args[i], err = a.Eval(rec)
		}
		if err != nil {
			return nil, false, err
		}
		if p {
			pooled = append(pooled, i)
		}
	}
	out, fresh, err := c.apply(args, n, allConst)
	if err != nil {
		return nil, false, err
	}
	for _, i := range pooled {
		if !sharesValues(out, args[i]) {
			recycle(args[i])
		}
	}
	return out, fresh && c.ov.pooled, nil
}

// evalArgs evaluates sub-expressions; constants stay one-row arrays.
func evalArgs(es []Expr, rec arrow.RecordBatch) ([]arrow.Array, bool, error) {
	args := make([]arrow.Array, len(es))
	allConst := true
	for i, a := range es {
		if l, ok := a.(*Literal); ok {
			args[i] = l.arr
			continue
		}
		allConst = false
		v, err := a.Eval(rec)
		if err != nil {
			return nil, false, err
		}
		args[i] = v
	}
	return args, allConst, nil
}

// apply runs the kernel on evaluated arguments; with constants only it
// computes one row and broadcasts it. fresh reports that the result came
// from the kernel itself (not an all-NULL or broadcast copy).
func (c *call) apply(args []arrow.Array, n int, allConst bool) (arrow.Array, bool, error) {
	m := n
	if allConst {
		m = 1
	}
	k := &kctx{args: args, n: m}
	if !c.ov.lenient {
		valid, nulls, allNull := strictValidity(args, m)
		if allNull || nulls == m {
			return nullArray(c.typ, n), false, nil
		}
		k.valid, k.nulls = valid, nulls
	}
	out, err := c.run(k)
	if err != nil {
		return nil, false, c.src.wrap(err)
	}
	if m != n {
		out, err = broadcast(out, n)
		return out, false, err
	}
	return out, true, nil
}

func (c *call) String() string {
	switch c.style {
	case styleInfix:
		return operand(c.args[0]) + " " + c.name + " " + operand(c.args[1])
	case stylePrefix:
		return c.name + operand(c.args[0])
	}
	parts := make([]string, len(c.args))
	for i, a := range c.args {
		parts[i] = a.String()
	}
	return c.name + "(" + strings.Join(parts, ", ") + ")"
}

// operand renders a sub-expression of an operator, in parentheses unless it
// is atomic (a column, a constant, a function call, a CAST).
func operand(e Expr) string {
	s := e.String()
	switch x := e.(type) {
	case *ColumnRef, *Literal, *cast, *caseExpr, *coalesce:
		return s
	case *call:
		if x.style == styleFunc {
			return s
		}
	}
	return "(" + s + ")"
}

func (c *call) Children() []Expr { return c.args }

func (c *call) WithChildren(children []Expr) (Expr, error) {
	cp := *c
	cp.args = children
	return &cp, nil
}

func (c *call) SameOp(other Expr) bool {
	o, ok := other.(*call)
	return ok && o.name == c.name && o.ov == c.ov && arrow.TypeEqual(o.typ, c.typ)
}

func (c *call) mayFail() bool { return c.ov.canFail != nil && c.ov.canFail(c.args) }

// Evaluate evaluates e on rec and checks the result's shape; it is the
// boundary where a panic inside evaluation (a bug: kernels report bad data
// as errors) becomes an error naming the expression, so that an operator
// fails its job instead of the process.
func Evaluate(e Expr, rec arrow.RecordBatch) (out arrow.Array, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("internal error evaluating %s: %v", e, r)
		}
	}()
	out, err = e.Eval(rec)
	if err == nil && out.Len() != int(rec.NumRows()) {
		return nil, fmt.Errorf("internal error: %s gave %d rows for %d", e, out.Len(), rec.NumRows())
	}
	return out, err
}
