package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// BindExpr turns a parsed scalar expression into a typed Expr: names are
// resolved through scope, operators and functions by the types of their
// arguments (func.go), and implicit coercions inserted the way Postgres
// does them (numbers widen, a date becomes a timestamp, a quoted literal
// takes the type of the other side: ts > '2026-01-01'). Aggregate calls
// are handed to scope.Aggregate. text is the statement the node was parsed
// from: errors are *Error values positioned in it ("operator does not
// exist: text + bigint" at the operator), and unsupported SQL (subqueries,
// window functions, ...) matches ErrUnsupported.
//
// Untyped quoted literals that nothing coerces stay text (SELECT 'a'); a
// bare NULL stays of type arrow.Null.
//
// Functions whose result depends on when or how often a query runs —
// now(), current_timestamp, current_date, random(), clock_timestamp(), and
// the literals 'now', 'today' — are refused with ErrUnsupported: weir
// promises that a backfill and a live run of a query give identical
// results, and that a job restored from a checkpoint repeats them.
func BindExpr(text string, node *pg.Node, scope Scope) (e Expr, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, &Error{Msg: fmt.Sprintf("internal error binding an expression: %v", r)}
		}
	}()
	b := &binder{text: text, scope: scope}
	return b.expr(node)
}

type binder struct {
	text  string
	scope Scope
}

func (b *binder) errorf(pos int, format string, args ...any) error {
	return errorAt(b.text, pos, format, args...)
}

// errAt positions a plain error at pos (an *Error is kept as it is).
func (b *binder) errAt(pos int, err error) error {
	return src{b.text, pos}.wrap(err)
}

func (b *binder) unsupported(pos int, format string, args ...any) error {
	return unsupportedAt(b.text, pos, format, args...)
}

// location is a node's byte offset in the text (-1 when it has none).
func location(n *pg.Node) int {
	if n == nil || n.Node == nil {
		return -1
	}
	m := n.ProtoReflect()
	oneofs := m.Descriptor().Oneofs()
	if oneofs.Len() == 0 {
		return -1
	}
	fd := m.WhichOneof(oneofs.Get(0))
	if fd == nil || fd.Message() == nil {
		return -1
	}
	inner := m.Get(fd).Message()
	if f := inner.Descriptor().Fields().ByName("location"); f != nil {
		return int(inner.Get(f).Int())
	}
	return -1
}

// nodeName is the parse node's type name (SubLink, A_ArrayExpr).
func nodeName(n *pg.Node) string {
	m := n.ProtoReflect()
	oneofs := m.Descriptor().Oneofs()
	if oneofs.Len() > 0 {
		if fd := m.WhichOneof(oneofs.Get(0)); fd != nil {
			return string(fd.Message().Name())
		}
	}
	return "unknown node"
}

func (b *binder) expr(n *pg.Node) (Expr, error) {
	if n == nil || n.Node == nil {
		return nil, &Error{Msg: "missing expression"}
	}
	pos := location(n)
	switch x := n.Node.(type) {
	case *pg.Node_AConst:
		return b.constant(x.AConst)
	case *pg.Node_ColumnRef:
		return b.column(x.ColumnRef)
	case *pg.Node_AExpr:
		return b.aExpr(x.AExpr)
	case *pg.Node_BoolExpr:
		return b.boolExpr(x.BoolExpr)
	case *pg.Node_NullTest:
		arg, err := b.expr(x.NullTest.Arg)
		if err != nil {
			return nil, err
		}
		return &isNull{arg: arg, not: x.NullTest.Nulltesttype == pg.NullTestType_IS_NOT_NULL}, nil
	case *pg.Node_BooleanTest:
		return b.booleanTest(x.BooleanTest)
	case *pg.Node_CaseExpr:
		return b.caseExpr(x.CaseExpr)
	case *pg.Node_CoalesceExpr:
		return b.coalesce(x.CoalesceExpr.Args, int(x.CoalesceExpr.Location))
	case *pg.Node_MinMaxExpr:
		return b.minMax(x.MinMaxExpr)
	case *pg.Node_NullIfExpr:
		if len(x.NullIfExpr.Args) != 2 {
			return nil, b.errorf(pos, "NULLIF requires two arguments")
		}
		return b.nullIf(x.NullIfExpr.Args[0], x.NullIfExpr.Args[1], pos)
	case *pg.Node_TypeCast:
		return b.typeCast(x.TypeCast)
	case *pg.Node_FuncCall:
		return b.funcCall(x.FuncCall)
	case *pg.Node_SubLink:
		return nil, b.unsupported(pos, "a subquery in an expression")
	case *pg.Node_SqlvalueFunction:
		return nil, b.sqlValueFunction(x.SqlvalueFunction)
	case *pg.Node_ParamRef:
		return nil, b.unsupported(pos, "parameter $%d", x.ParamRef.Number)
	case *pg.Node_AArrayExpr:
		return nil, b.unsupported(pos, "an ARRAY constructor")
	case *pg.Node_AIndirection:
		return nil, b.unsupported(location(x.AIndirection.Arg), "subscripting or field selection")
	case *pg.Node_RowExpr:
		return nil, b.unsupported(pos, "a row constructor")
	case *pg.Node_CollateClause:
		return nil, b.unsupported(pos, "COLLATE")
	case *pg.Node_GroupingFunc:
		return nil, b.unsupported(pos, "GROUPING")
	case *pg.Node_AStar:
		return nil, b.unsupported(pos, "* in an expression")
	case *pg.Node_NamedArgExpr:
		return nil, b.errorf(pos, "named argument %s => outside a function call", x.NamedArgExpr.Name)
	}
	return nil, b.unsupported(pos, "expression %s", nodeName(n))
}

// constant binds a literal: integers are integer (int4) when they fit and
// bigint otherwise, decimals double precision, quoted strings untyped.
func (b *binder) constant(c *pg.A_Const) (Expr, error) {
	pos := int(c.Location)
	if c.Isnull {
		return nullLiteral(typNull), nil
	}
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		return NewLiteral(typInt32, v.Ival.GetIval())
	case *pg.A_Const_Fval:
		s := v.Fval.GetFval()
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return NewLiteral(typInt64, i)
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, b.errorf(pos, "%q is out of range for type double precision", s)
		}
		return NewLiteral(typFloat64, f)
	case *pg.A_Const_Boolval:
		return NewLiteral(typBool, v.Boolval.GetBoolval())
	case *pg.A_Const_Sval:
		return untypedLiteral(v.Sval.GetSval()), nil
	case *pg.A_Const_Bsval:
		return nil, b.unsupported(pos, "a bit string constant")
	}
	return nil, b.unsupported(pos, "this constant")
}

func (b *binder) column(c *pg.ColumnRef) (Expr, error) {
	pos := int(c.Location)
	var parts []string
	for _, f := range c.Fields {
		switch x := f.Node.(type) {
		case *pg.Node_String_:
			parts = append(parts, x.String_.Sval)
		case *pg.Node_AStar:
			return nil, b.unsupported(pos, "* in an expression")
		default:
			return nil, b.unsupported(pos, "this column reference")
		}
	}
	switch len(parts) {
	case 1:
		return b.scope.Column("", parts[0], pos)
	case 2:
		return b.scope.Column(parts[0], parts[1], pos)
	case 3:
		return nil, b.unsupported(pos, "a schema-qualified column reference (%s)", strings.Join(parts, "."))
	}
	return nil, b.errorf(pos, "improper qualified name (too many dotted names): %s", strings.Join(parts, "."))
}

// operatorName is the last part of an operator's name (pg_catalog.+ is +).
func operatorName(name []*pg.Node) string {
	if len(name) == 0 {
		return ""
	}
	if s := name[len(name)-1].GetString_(); s != nil {
		return s.Sval
	}
	return ""
}

// unsupportedOps are Postgres operators weir lacks, named in the message.
var unsupportedOps = map[string]string{
	"~": "regular expression match (~)", "~*": "regular expression match (~*)",
	"!~": "regular expression match (!~)", "!~*": "regular expression match (!~*)",
	"@>": "containment (@>)", "<@": "containment (<@)", "&&": "overlap (&&)",
	"->": "JSON access (->)", "->>": "JSON access (->>)", "#>": "JSON access (#>)", "#>>": "JSON access (#>>)",
	"&": "bitwise AND (&)", "|": "bitwise OR (|)", "#": "bitwise XOR (#)", "<<": "bit shift (<<)", ">>": "bit shift (>>)",
	"|/": "square root operator |/ (use sqrt)", "||/": "cube root operator ||/ (use cbrt)", "@": "absolute value operator @ (use abs)",
}

func (b *binder) aExpr(x *pg.A_Expr) (Expr, error) {
	pos := int(x.Location)
	name := operatorName(x.Name)
	switch x.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		if x.Lexpr == nil {
			r, err := b.expr(x.Rexpr)
			if err != nil {
				return nil, err
			}
			return b.prefixOp(name, r, location(x.Rexpr), pos)
		}
		if x.Rexpr == nil {
			return nil, b.unsupported(pos, "postfix operator %s", name)
		}
		if name == "~~" || name == "!~~" || name == "~~*" || name == "!~~*" {
			return b.like(x)
		}
		l, r, err := b.pair(x.Lexpr, x.Rexpr)
		if err != nil {
			return nil, err
		}
		return b.operator(name, l, r, location(x.Lexpr), location(x.Rexpr), pos)
	case pg.A_Expr_Kind_AEXPR_DISTINCT, pg.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		l, r, err := b.pair(x.Lexpr, x.Rexpr)
		if err != nil {
			return nil, err
		}
		fn := "is distinct from"
		if x.Kind == pg.A_Expr_Kind_AEXPR_NOT_DISTINCT {
			fn = "is not distinct from"
		}
		return b.operator(fn, l, r, location(x.Lexpr), location(x.Rexpr), pos)
	case pg.A_Expr_Kind_AEXPR_NULLIF:
		return b.nullIf(x.Lexpr, x.Rexpr, pos)
	case pg.A_Expr_Kind_AEXPR_IN:
		return b.in(x)
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
		return b.like(x)
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		return b.between(x)
	case pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_OP_ALL:
		return nil, b.unsupported(pos, "%s ANY/ALL (array)", name)
	case pg.A_Expr_Kind_AEXPR_SIMILAR:
		return nil, b.unsupported(pos, "SIMILAR TO")
	}
	return nil, b.unsupported(pos, "operator %s", name)
}

func (b *binder) pair(l, r *pg.Node) (Expr, Expr, error) {
	le, err := b.expr(l)
	if err != nil {
		return nil, nil, err
	}
	re, err := b.expr(r)
	if err != nil {
		return nil, nil, err
	}
	return le, re, nil
}

// argKind is the kind overload resolution sees: untyped literals and NULL
// are the pseudo-kinds kUnknown and kNull.
func argKind(e Expr) kind {
	if l, ok := e.(*Literal); ok {
		if l.untyped {
			return kUnknown
		}
		if l.k == kNull {
			return kNull
		}
	}
	return kindOf(e.Type())
}

func argTypeName(e Expr) string {
	switch argKind(e) {
	case kUnknown, kNull:
		return "unknown"
	}
	return TypeName(e.Type())
}

func typeNames(es []Expr) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = argTypeName(e)
	}
	return out
}

// coerce converts e to kind to implicitly: a literal now (so that a bad
// '2026-13-01' fails at bind time, at pos), anything else with a cast.
func (b *binder) coerce(e Expr, to kind, pos int) (Expr, error) {
	from := argKind(e)
	if to == kAny {
		to = from
		if from == kUnknown || from == kNull {
			to = kText
		}
	}
	if l, ok := e.(*Literal); ok {
		if from == to && !l.untyped {
			return e, nil
		}
		out, err := castLiteral(l, to, 0, intervalFullRange)
		if err != nil {
			return nil, b.errAt(pos, err)
		}
		return out, nil
	}
	if from == to {
		return e, nil
	}
	if from == kOther {
		return nil, b.errorf(pos, "type %s is %v in expressions", TypeName(e.Type()), ErrUnsupported)
	}
	return newCast(e, to, 0, intervalFullRange, true, "", src{b.text, pos}), nil
}

// call resolves and binds a function or operator call. name is the registry
// name, shown its rendering; poss are the arguments' positions.
func (b *binder) call(name, shown string, st style, args []Expr, poss []int, pos int) (Expr, error) {
	kinds := make([]kind, len(args))
	for i, a := range args {
		args[i] = b.normalize(a, poss[i])
		kinds[i] = argKind(args[i])
	}
	m, ok := resolve(name, kinds)
	if !ok {
		if st == styleFunc {
			return nil, b.errorf(pos, "function %s does not exist", signature(shown, typeNames(args), false))
		}
		return nil, b.errorf(pos, "operator does not exist: %s", signature(shown, typeNames(args), true))
	}
	return b.bindCall(m, shown, st, args, poss, pos)
}

func (b *binder) bindCall(m match, shown string, st style, args []Expr, poss []int, pos int) (Expr, error) {
	coerced := make([]Expr, len(args))
	for i, a := range args {
		c, err := b.coerce(a, m.want[i], poss[i])
		if err != nil {
			return nil, err
		}
		coerced[i] = c
	}
	ret := m.ov.ret
	if m.ov.retOf != nil {
		ret = m.ov.retOf(m.want)
	}
	run := m.ov.eval
	if m.ov.prep != nil {
		var err error
		if run, err = m.ov.prep(coerced); err != nil {
			return nil, b.errAt(pos, err)
		}
	}
	return &call{name: shown, style: st, args: coerced, ov: m.ov, run: run, typ: ret.typ(), src: src{b.text, pos}}, nil
}

func (b *binder) operator(name string, l, r Expr, lpos, rpos, pos int) (Expr, error) {
	if _, ok := registry[name]; !ok {
		if what, known := unsupportedOps[name]; known {
			return nil, b.unsupported(pos, "operator %s", what)
		}
		return nil, b.errorf(pos, "operator does not exist: %s", signature(name, typeNames([]Expr{l, r}), true))
	}
	shown := name
	switch name {
	case "is distinct from":
		shown = "IS DISTINCT FROM"
	case "is not distinct from":
		shown = "IS NOT DISTINCT FROM"
	}
	return b.call(name, shown, styleInfix, []Expr{l, r}, []int{lpos, rpos}, pos)
}

func (b *binder) prefixOp(name string, r Expr, rpos, pos int) (Expr, error) {
	fn := ""
	switch name {
	case "-":
		fn = "unary -"
	case "+":
		fn = "unary +"
	default:
		if what, known := unsupportedOps[name]; known {
			return nil, b.unsupported(pos, "operator %s", what)
		}
		return nil, b.errorf(pos, "operator does not exist: %s", signature(name, typeNames([]Expr{r}), true))
	}
	r = b.normalize(r, rpos)
	kinds := []kind{argKind(r)}
	m, ok := resolve(fn, kinds)
	if !ok {
		return nil, b.errorf(pos, "operator does not exist: %s", signature(name, typeNames([]Expr{r}), true))
	}
	return b.bindCall(m, name, stylePrefix, []Expr{r}, []int{rpos}, pos)
}

// requireBool coerces a condition to boolean, or fails with Postgres'
// "argument of AND must be type boolean, not type integer".
func (b *binder) requireBool(e Expr, what string, pos int) (Expr, error) {
	switch argKind(e) {
	case kBool:
		return e, nil
	case kUnknown, kNull:
		return b.coerce(e, kBool, pos)
	}
	return nil, b.errorf(pos, "argument of %s must be type boolean, not type %s", what, argTypeName(e))
}

func (b *binder) boolExpr(x *pg.BoolExpr) (Expr, error) {
	what := "AND"
	switch x.Boolop {
	case pg.BoolExprType_OR_EXPR:
		what = "OR"
	case pg.BoolExprType_NOT_EXPR:
		what = "NOT"
	}
	args := make([]Expr, len(x.Args))
	for i, a := range x.Args {
		e, err := b.expr(a)
		if err != nil {
			return nil, err
		}
		if args[i], err = b.requireBool(e, what, location(a)); err != nil {
			return nil, err
		}
	}
	s := src{b.text, int(x.Location)}
	if what == "NOT" {
		if len(args) != 1 {
			return nil, b.errorf(int(x.Location), "NOT takes one argument")
		}
		return &not{arg: args[0], src: s}, nil
	}
	if len(args) < 2 {
		return nil, b.errorf(int(x.Location), "%s takes two or more arguments", what)
	}
	return &logic{or: what == "OR", args: args, src: s}, nil
}

func (b *binder) booleanTest(x *pg.BooleanTest) (Expr, error) {
	var want int8
	neg := false
	what := "IS TRUE"
	switch x.Booltesttype {
	case pg.BoolTestType_IS_TRUE:
		want = 1
	case pg.BoolTestType_IS_NOT_TRUE:
		want, neg, what = 1, true, "IS NOT TRUE"
	case pg.BoolTestType_IS_FALSE:
		want, what = 0, "IS FALSE"
	case pg.BoolTestType_IS_NOT_FALSE:
		want, neg, what = 0, true, "IS NOT FALSE"
	case pg.BoolTestType_IS_UNKNOWN:
		want, what = -1, "IS UNKNOWN"
	case pg.BoolTestType_IS_NOT_UNKNOWN:
		want, neg, what = -1, true, "IS NOT UNKNOWN"
	}
	e, err := b.expr(x.Arg)
	if err != nil {
		return nil, err
	}
	if e, err = b.requireBool(e, what, location(x.Arg)); err != nil {
		return nil, err
	}
	return &boolTest{arg: e, want: want, not: neg}, nil
}

// commonKind chooses the type of CASE results, COALESCE and GREATEST
// arguments and IN lists, as Postgres' select_common_type does among
// weir's types: untyped values and NULLs take the others' type (text if
// all are untyped), and the widest of types that convert implicitly wins. bad is
// the index of the first argument that fits none (-1: all fit).
func commonKind(es []Expr) (k kind, bad int) {
	k = kNull
	for i, e := range es {
		a := argKind(e)
		switch {
		case a == kUnknown || a == kNull:
		case k == kNull:
			k = a
		case a == k:
		case implicitCost(k, a) > 0:
			k = a
		case implicitCost(a, k) > 0:
		default:
			return k, i
		}
	}
	if k == kNull && len(es) > 0 {
		return kText, -1
	}
	return k, -1
}

// bindList binds expressions and records their positions.
func (b *binder) bindList(nodes []*pg.Node) ([]Expr, []int, error) {
	out := make([]Expr, len(nodes))
	poss := make([]int, len(nodes))
	for i, n := range nodes {
		e, err := b.expr(n)
		if err != nil {
			return nil, nil, err
		}
		out[i], poss[i] = e, location(n)
	}
	return out, poss, nil
}

// unify coerces es to their common kind, or fails with Postgres' "CASE
// types integer and text cannot be matched".
func (b *binder) unify(what string, es []Expr, poss []int) ([]Expr, kind, error) {
	for i, e := range es {
		es[i] = b.normalize(e, poss[i])
	}
	k, bad := commonKind(es)
	if bad >= 0 {
		return nil, k, b.errorf(poss[bad], "%s types %s and %s cannot be matched", what, k, argTypeName(es[bad]))
	}
	out := make([]Expr, len(es))
	for i, e := range es {
		c, err := b.coerce(e, k, poss[i])
		if err != nil {
			return nil, k, err
		}
		out[i] = c
	}
	return out, k, nil
}

// maxBranches bounds CASE arms and COALESCE arguments (rows record their
// branch in an int16).
const maxBranches = 10000

func (b *binder) caseExpr(x *pg.CaseExpr) (Expr, error) {
	var arg, operandExpr Expr
	wrap := func(e Expr, _ func() string) Expr { return e }
	if x.Arg != nil {
		var err error
		if arg, err = b.expr(x.Arg); err != nil {
			return nil, err
		}
		// CASE x WHEN a … compares x with every a: evaluate it once.
		var refs []Expr
		operandExpr = b.normalize(arg, location(x.Arg))
		refs, wrap = share(operandExpr)
		arg = refs[0]
	}
	var whens, results, whenVals []Expr
	var poss []int
	for _, w := range x.Args {
		cw := w.GetCaseWhen()
		if cw == nil {
			return nil, b.errorf(location(w), "malformed CASE")
		}
		cond, err := b.expr(cw.Expr)
		if err != nil {
			return nil, err
		}
		if arg != nil {
			whenVals = append(whenVals, cond)
			cond, err = b.operator("=", arg, cond, location(x.Arg), location(cw.Expr), location(cw.Expr))
		} else {
			cond, err = b.requireBool(cond, "CASE/WHEN", location(cw.Expr))
		}
		if err != nil {
			return nil, err
		}
		res, err := b.expr(cw.Result)
		if err != nil {
			return nil, err
		}
		whens, results, poss = append(whens, cond), append(results, res), append(poss, location(cw.Result))
	}
	if x.Defresult != nil {
		d, err := b.expr(x.Defresult)
		if err != nil {
			return nil, err
		}
		results, poss = append(results, d), append(poss, location(x.Defresult))
	}
	if len(results) > maxBranches {
		return nil, b.unsupported(int(x.Location), "a CASE with more than %d branches", maxBranches)
	}
	results, k, err := b.unify("CASE", results, poss)
	if err != nil {
		return nil, err
	}
	c := &caseExpr{whens: whens, thens: results[:len(whens)], typ: k.typ()}
	if x.Defresult != nil {
		c.els = results[len(whens)]
	}
	return wrap(c, func() string {
		var sb strings.Builder
		sb.WriteString("CASE " + operandExpr.String())
		for i, v := range whenVals {
			sb.WriteString(" WHEN " + v.String() + " THEN " + c.thens[i].String())
		}
		if c.els != nil {
			sb.WriteString(" ELSE " + c.els.String())
		}
		sb.WriteString(" END")
		return sb.String()
	}), nil
}

func (b *binder) coalesce(nodes []*pg.Node, pos int) (Expr, error) {
	args, poss, err := b.bindList(nodes)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, b.errorf(pos, "COALESCE requires at least one argument")
	}
	if len(args) > maxBranches {
		return nil, b.unsupported(pos, "COALESCE with more than %d arguments", maxBranches)
	}
	args, k, err := b.unify("COALESCE", args, poss)
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		return args[0], nil
	}
	return &coalesce{args: args, typ: k.typ()}, nil
}

func (b *binder) minMax(x *pg.MinMaxExpr) (Expr, error) {
	what, fn := "GREATEST", "greatest"
	if x.Op == pg.MinMaxOp_IS_LEAST {
		what, fn = "LEAST", "least"
	}
	args, poss, err := b.bindList(x.Args)
	if err != nil {
		return nil, err
	}
	args, k, err := b.unify(what, args, poss)
	if err != nil {
		return nil, err
	}
	ov := minMaxOverload(k, fn == "least")
	if ov == nil {
		return nil, b.errorf(int(x.Location), "could not identify a comparison function for type %s", k)
	}
	return &call{name: fn, style: styleFunc, args: args, ov: ov, run: ov.eval, typ: k.typ(), src: src{b.text, int(x.Location)}}, nil
}

func (b *binder) nullIf(ln, rn *pg.Node, pos int) (Expr, error) {
	l, r, err := b.pair(ln, rn)
	if err != nil {
		return nil, err
	}
	// NULLIF(a, b) is CASE WHEN a = b THEN NULL ELSE a END, of a's type,
	// with a evaluated once.
	l, r = b.normalize(l, location(ln)), b.normalize(r, location(rn))
	if l, err = b.coerce(l, kAny, location(ln)); err != nil {
		return nil, err
	}
	refs, wrap := share(l)
	eq, err := b.operator("=", refs[0], r, location(ln), location(rn), pos)
	if err != nil {
		return nil, err
	}
	return wrap(&caseExpr{whens: []Expr{eq}, thens: []Expr{nullLiteral(l.Type())}, els: refs[0], typ: l.Type()},
		func() string { return "NULLIF(" + l.String() + ", " + r.String() + ")" }), nil
}

func (b *binder) in(x *pg.A_Expr) (Expr, error) {
	pos := int(x.Location)
	negate := operatorName(x.Name) == "<>"
	list := x.Rexpr.GetList()
	if list == nil {
		return nil, b.unsupported(location(x.Rexpr), "this IN operand")
	}
	arg, err := b.expr(x.Lexpr)
	if err != nil {
		return nil, err
	}
	items, poss, err := b.bindList(list.Items)
	if err != nil {
		return nil, err
	}
	for i, it := range items {
		// Constant items (1 + 2, CAST('5' AS int)) become literals now, so
		// that the list is a set lookup.
		if !isLiteral(it) && IsConstant(it) {
			if items[i], err = Fold(it); err != nil {
				return nil, err
			}
		}
	}
	arg = b.normalize(arg, location(x.Lexpr))
	all := append([]Expr{arg}, items...)
	allPos := append([]int{location(x.Lexpr)}, poss...)
	k, bad := commonKind(all)
	if bad >= 0 {
		return nil, b.errorf(allPos[bad], "operator does not exist: %s = %s", k, argTypeName(all[bad]))
	}
	if _, ok := resolve("=", []kind{k, k}); !ok {
		return nil, b.errorf(pos, "operator does not exist: %s = %s", k, k)
	}
	constant := true
	for _, it := range items {
		constant = constant && isLiteral(it)
	}
	if constant {
		carg, err := b.coerce(arg, k, allPos[0])
		if err != nil {
			return nil, err
		}
		lits := make([]*Literal, len(items))
		for i, it := range items {
			c, err := b.coerce(it, k, poss[i])
			if err != nil {
				return nil, err
			}
			lits[i] = c.(*Literal)
		}
		return newInList(carg, lits, negate), nil
	}
	// x IN (a, b) is x = a OR x = b; x NOT IN (a, b) is x <> a AND x <> b;
	// x is evaluated once.
	op := "="
	if negate {
		op = "<>"
	}
	refs, wrap := share(arg)
	show := func() string {
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = it.String()
		}
		op := " IN ("
		if negate {
			op = " NOT IN ("
		}
		return operand(arg) + op + strings.Join(parts, ", ") + ")"
	}
	var terms []Expr
	for i, it := range items {
		t, err := b.operator(op, refs[0], it, allPos[0], poss[i], pos)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	if len(terms) == 1 {
		return wrap(terms[0], show), nil
	}
	return wrap(&logic{or: !negate, args: terms, src: src{b.text, pos}}, show), nil
}

func (b *binder) between(x *pg.A_Expr) (Expr, error) {
	pos := int(x.Location)
	list := x.Rexpr.GetList()
	if list == nil || len(list.Items) != 2 {
		return nil, b.errorf(pos, "BETWEEN needs two bounds")
	}
	arg, err := b.expr(x.Lexpr)
	if err != nil {
		return nil, err
	}
	lo, hi, err := b.pair(list.Items[0], list.Items[1])
	if err != nil {
		return nil, err
	}
	apos, lpos, hpos := location(x.Lexpr), location(list.Items[0]), location(list.Items[1])
	negate := x.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN || x.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM
	symmetric := x.Kind == pg.A_Expr_Kind_AEXPR_BETWEEN_SYM || x.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM
	s := src{b.text, pos}
	// The operand is compared twice (the bounds too, when SYMMETRIC):
	// evaluate each once.
	origArg, origLo, origHi := arg, lo, hi
	show := func() string {
		kw := " BETWEEN "
		if negate {
			kw = " NOT BETWEEN "
		}
		if symmetric {
			kw += "SYMMETRIC "
		}
		return operand(origArg) + kw + operand(origLo) + " AND " + operand(origHi)
	}
	var wrap func(Expr, func() string) Expr
	if symmetric {
		var refs []Expr
		refs, wrap = share(b.normalize(arg, apos), b.normalize(lo, lpos), b.normalize(hi, hpos))
		arg, lo, hi = refs[0], refs[1], refs[2]
	} else {
		var refs []Expr
		refs, wrap = share(b.normalize(arg, apos))
		arg = refs[0]
	}
	// range is lo <= arg <= hi, or its negation arg < lo OR arg > hi.
	rng := func(lo, hi Expr, lpos, hpos int) (Expr, error) {
		geOp, leOp := ">=", "<="
		if negate {
			geOp, leOp = "<", ">"
		}
		ge, err := b.operator(geOp, arg, lo, apos, lpos, pos)
		if err != nil {
			return nil, err
		}
		le, err := b.operator(leOp, arg, hi, apos, hpos, pos)
		if err != nil {
			return nil, err
		}
		return &logic{or: negate, args: []Expr{ge, le}, src: s}, nil
	}
	fwd, err := rng(lo, hi, lpos, hpos)
	if err != nil {
		return nil, err
	}
	if !symmetric {
		return wrap(fwd, show), nil
	}
	rev, err := rng(hi, lo, hpos, lpos)
	if err != nil {
		return nil, err
	}
	return wrap(&logic{or: !negate, args: []Expr{fwd, rev}, src: s}, show), nil
}

func (b *binder) like(x *pg.A_Expr) (Expr, error) {
	pos := int(x.Location)
	name := operatorName(x.Name)
	ilike := strings.HasSuffix(name, "*")
	negate := strings.HasPrefix(name, "!")
	arg, err := b.expr(x.Lexpr)
	if err != nil {
		return nil, err
	}
	patNode, escNode := x.Rexpr, (*pg.Node)(nil)
	if fc := x.Rexpr.GetFuncCall(); fc != nil && funcName(fc.Funcname) == "like_escape" && len(fc.Args) == 2 {
		patNode, escNode = fc.Args[0], fc.Args[1]
	}
	pat, err := b.expr(patNode)
	if err != nil {
		return nil, err
	}
	arg, pat = b.normalize(arg, location(x.Lexpr)), b.normalize(pat, location(patNode))
	ak, pk := argKind(arg), argKind(pat)
	if !textLike(ak) || !textLike(pk) {
		return nil, b.errorf(pos, "operator does not exist: %s", signature(name, typeNames([]Expr{arg, pat}), true))
	}
	if arg, err = b.coerce(arg, kText, location(x.Lexpr)); err != nil {
		return nil, err
	}
	if pat, err = b.coerce(pat, kText, location(patNode)); err != nil {
		return nil, err
	}
	var esc Expr
	if escNode != nil {
		if esc, err = b.expr(escNode); err != nil {
			return nil, err
		}
		if !textLike(argKind(esc)) {
			return nil, b.errorf(location(escNode), "function like_escape(text, %s) does not exist", argTypeName(esc))
		}
		if esc, err = b.coerce(esc, kText, location(escNode)); err != nil {
			return nil, err
		}
	}
	l, err := newLike(arg, pat, esc, ilike, negate, src{b.text, pos})
	if err != nil {
		epos := location(patNode)
		if errors.Is(err, errLikeEscape) && escNode != nil {
			epos = location(escNode)
		}
		return nil, b.errAt(epos, err)
	}
	return l, nil
}

func textLike(k kind) bool { return k == kText || k == kUnknown || k == kNull }

func (b *binder) typeCast(x *pg.TypeCast) (Expr, error) {
	tn := x.TypeName
	tpos := int(tn.GetLocation())
	pos := int(x.Location)
	if pos < 0 {
		pos = tpos
	}
	k, err := parseKind(tn)
	if err != nil {
		return nil, b.errAt(tpos, err)
	}
	limit := stringLimit(tn)
	fields := intervalFullRange
	if k == kInterval {
		fields = intervalFields(tn)
	}
	arg, err := b.expr(x.Arg)
	if err != nil {
		return nil, err
	}
	arg = b.normalize(arg, location(x.Arg))
	from := argKind(arg)
	if !castable(from, k) {
		return nil, b.errorf(pos, "cannot cast type %s to %s", argTypeName(arg), k)
	}
	if l, ok := arg.(*Literal); ok {
		out, err := castLiteral(l, k, limit, fields)
		if err != nil {
			return nil, b.errAt(location(x.Arg), err)
		}
		return out, nil
	}
	name := typeNameString(tn)
	switch name {
	case "bpchar":
		name = "char"
	case "float8":
		name = "double precision"
	}
	if limit > 0 {
		name = fmt.Sprintf("%s(%d)", name, limit)
	}
	return newCast(arg, k, limit, fields, false, name, src{b.text, pos}), nil
}

// funcName is a function's lower-case name without a pg_catalog qualifier;
// other qualifiers are kept (and then match nothing).
func funcName(names []*pg.Node) string {
	var parts []string
	for _, n := range names {
		if s := n.GetString_(); s != nil {
			parts = append(parts, strings.ToLower(s.Sval))
		}
	}
	if len(parts) == 2 && parts[0] == "pg_catalog" {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

func refusedVolatile(text string, pos int, what string) error {
	return unsupportedError{errorAt(text, pos, "%s is not supported: a query's result must not depend on when or how often it runs, "+
		"so that a backfill and a live run of it agree; use the event-time column or a constant instead", what)}
}

func (b *binder) sqlValueFunction(x *pg.SQLValueFunction) error {
	pos := int(x.Location)
	switch x.Op {
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return refusedVolatile(b.text, pos, "current_date")
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME, pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:
		return refusedVolatile(b.text, pos, "current_time")
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
		return refusedVolatile(b.text, pos, "current_timestamp")
	case pg.SQLValueFunctionOp_SVFOP_LOCALTIME, pg.SQLValueFunctionOp_SVFOP_LOCALTIME_N:
		return refusedVolatile(b.text, pos, "localtime")
	case pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return refusedVolatile(b.text, pos, "localtimestamp")
	}
	return b.unsupported(pos, "%s", strings.ToLower(strings.TrimPrefix(x.Op.String(), "SVFOP_")))
}

func (b *binder) funcCall(fc *pg.FuncCall) (Expr, error) {
	pos := int(fc.Location)
	name := funcName(fc.Funcname)
	if fc.Over != nil {
		return nil, b.unsupported(pos, "window function %s(...) OVER (...)", name)
	}
	if aggregates[name] {
		return b.scope.Aggregate(fc, pos)
	}
	if otherAggregates[name] {
		return nil, b.unsupported(pos, "aggregate function %s", name)
	}
	if what, ok := volatile[name]; ok {
		return nil, refusedVolatile(b.text, pos, what)
	}
	switch {
	case fc.AggStar:
		return nil, b.errorf(pos, "%s(*) specified, but %s is not an aggregate function", name, name)
	case fc.AggDistinct:
		return nil, b.errorf(pos, "DISTINCT specified, but %s is not an aggregate function", name)
	case fc.AggFilter != nil:
		return nil, b.errorf(pos, "FILTER specified, but %s is not an aggregate function", name)
	case len(fc.AggOrder) > 0:
		return nil, b.errorf(pos, "ORDER BY specified, but %s is not an aggregate function", name)
	case fc.AggWithinGroup:
		return nil, b.errorf(pos, "WITHIN GROUP specified, but %s is not an aggregate function", name)
	case fc.FuncVariadic:
		return nil, b.unsupported(pos, "VARIADIC arguments")
	}
	canon := name
	if a, ok := aliases[name]; ok {
		canon = a
	}
	argNodes := fc.Args
	var named []*pg.NamedArgExpr
	for _, a := range argNodes {
		if na := a.GetNamedArgExpr(); na != nil {
			named = append(named, na)
		}
	}
	var args []Expr
	var poss []int
	if len(named) > 0 {
		var err error
		if args, poss, err = b.namedArgs(canon, name, argNodes, pos); err != nil {
			return nil, err
		}
	} else {
		var err error
		if args, poss, err = b.bindList(argNodes); err != nil {
			return nil, err
		}
	}
	if _, ok := registry[canon]; !ok || !isWord(canon) {
		return nil, b.errorf(pos, "function %s does not exist", signature(name, typeNames(args), false))
	}
	return b.call(canon, canon, styleFunc, args, poss, pos)
}

func isWord(s string) bool {
	for _, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}

// namedArgs binds a call with name => value arguments against the
// function's parameter names, filling omitted ones with their defaults.
func (b *binder) namedArgs(canon, name string, nodes []*pg.Node, pos int) ([]Expr, []int, error) {
	params, ok := paramNames[canon]
	if !ok {
		return nil, nil, b.errorf(pos, "function %s does not accept named arguments", name)
	}
	args := make([]Expr, len(params))
	poss := make([]int, len(params))
	seenNamed := false
	for i, n := range nodes {
		argNode, slot := n, i
		if na := n.GetNamedArgExpr(); na != nil {
			seenNamed = true
			slot = -1
			for j, p := range params {
				if p.name == strings.ToLower(na.Name) {
					slot = j
				}
			}
			if slot < 0 {
				return nil, nil, b.errorf(int(na.Location), "function %s has no parameter named %q", name, na.Name)
			}
			argNode = na.Arg
		} else if seenNamed {
			return nil, nil, b.errorf(location(n), "positional argument cannot follow named argument")
		}
		if slot >= len(params) {
			return nil, nil, b.errorf(location(n), "too many arguments for %s", name)
		}
		if args[slot] != nil {
			return nil, nil, b.errorf(location(n), "argument %q is given twice", params[slot].name)
		}
		e, err := b.expr(argNode)
		if err != nil {
			return nil, nil, err
		}
		args[slot], poss[slot] = e, location(argNode)
	}
	for i, p := range params {
		if args[i] == nil {
			args[i], poss[i] = p.def, pos
		}
	}
	return args, poss, nil
}
