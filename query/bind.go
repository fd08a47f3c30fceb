package query

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/weirdata/weir/dataflow"
)

// stmtBinder turns one statement into a logical plan, resolving names against
// the catalog and checking types; every error it returns has a position.
type stmtBinder struct {
	ctx  context.Context
	eng  *Engine
	stmt Statement
	ctes map[string]*pg.CommonTableExpr
	// pos remembers where each column reference was written, for errors
	// found after binding (GROUP BY checks).
	pos   map[Expr]int32
	depth int // view nesting, against cycles
}

func newBinder(ctx context.Context, eng *Engine, stmt Statement) *stmtBinder {
	return &stmtBinder{ctx: ctx, eng: eng, stmt: stmt, ctes: map[string]*pg.CommonTableExpr{}, pos: map[Expr]int32{}}
}

// bindQuery binds a SELECT (with set operations, ORDER BY and LIMIT).
func (b *stmtBinder) bindQuery(n *pg.Node) (Plan, error) {
	sel := n.GetSelectStmt()
	if sel == nil {
		return nil, b.stmt.unsupportedAt(loc32(n), "this kind of query")
	}
	return b.bindSelect(sel)
}

func (b *stmtBinder) bindSelect(sel *pg.SelectStmt) (Plan, error) {
	if w := sel.WithClause; w != nil {
		if w.Recursive {
			return nil, b.stmt.unsupportedAt(w.Location, "WITH RECURSIVE")
		}
		for _, c := range w.Ctes {
			cte := c.GetCommonTableExpr()
			b.ctes[cte.Ctename] = cte
		}
	}
	var plan Plan
	var err error
	switch sel.Op {
	case pg.SetOperation_SETOP_NONE:
		plan, err = b.bindSimpleSelect(sel)
	case pg.SetOperation_SETOP_UNION:
		plan, err = b.bindUnion(sel)
	default:
		return nil, b.stmt.unsupportedAt(-1, "%s", strings.TrimPrefix(sel.Op.String(), "SETOP_"))
	}
	if err != nil {
		return nil, err
	}
	return b.bindOrderLimit(sel, plan)
}

func (b *stmtBinder) bindUnion(sel *pg.SelectStmt) (Plan, error) {
	if !sel.All {
		return nil, b.stmt.unsupportedAt(-1, "UNION without ALL (use UNION ALL, or SELECT DISTINCT over it)")
	}
	var inputs []Plan
	for _, side := range []*pg.SelectStmt{sel.Larg, sel.Rarg} {
		p, err := b.bindSelect(side)
		if err != nil {
			return nil, err
		}
		if u, ok := p.(*unionPlan); ok {
			inputs = append(inputs, u.inputs...)
		} else {
			inputs = append(inputs, p)
		}
	}
	first := inputs[0].Schema()
	types := make([]arrow.DataType, first.NumFields())
	for i, f := range first.Fields() {
		types[i] = f.Type
	}
	for _, in := range inputs[1:] {
		s := in.Schema()
		if s.NumFields() != first.NumFields() {
			return nil, b.stmt.errorAt(-1, "each UNION query must have the same number of columns (%d and %d)", first.NumFields(), s.NumFields())
		}
		for i := range s.Fields() {
			t, ok := unionType(types[i], s.Field(i).Type)
			if !ok {
				return nil, b.stmt.errorAt(-1, "UNION types %s and %s cannot be matched (column %d, %q)",
					TypeName(types[i]), TypeName(s.Field(i).Type), i+1, first.Field(i).Name)
			}
			types[i] = t
		}
	}
	// Cast each input to the common types, named as the first input.
	for j, in := range inputs {
		s := in.Schema()
		same := true
		exprs := make([]Expr, s.NumFields())
		names := make([]string, s.NumFields())
		for i, f := range s.Fields() {
			var e Expr = &ColumnRef{Index: i, Name: f.Name, Typ: f.Type}
			if !arrow.TypeEqual(f.Type, types[i]) {
				c, err := Cast(e, types[i])
				if err != nil {
					return nil, b.stmt.errorAt(-1, "UNION column %d: %v", i+1, err)
				}
				e, same = c, false
			}
			exprs[i], names[i] = e, first.Field(i).Name
		}
		if !same {
			inputs[j] = newProject(in, exprs, names)
		}
	}
	return &unionPlan{inputs: inputs}, nil
}

// unionType is the type two UNION columns resolve to, as Postgres does
// for the types weir has: equal types; NULL takes the other; integers
// widen to bigint, and with a float to double precision.
func unionType(a, b arrow.DataType) (arrow.DataType, bool) {
	switch {
	case arrow.TypeEqual(a, b):
		return a, true
	case a.ID() == arrow.NULL:
		return b, true
	case b.ID() == arrow.NULL:
		return a, true
	}
	isInt := func(t arrow.DataType) bool {
		switch t.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
			return true
		}
		return false
	}
	isFloat := func(t arrow.DataType) bool { return t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64 }
	switch {
	case isInt(a) && isInt(b):
		return arrow.PrimitiveTypes.Int64, true
	case (isInt(a) || isFloat(a)) && (isInt(b) || isFloat(b)):
		return arrow.PrimitiveTypes.Float64, true
	}
	return nil, false
}

func (b *stmtBinder) bindSimpleSelect(sel *pg.SelectStmt) (Plan, error) {
	if len(sel.ValuesLists) > 0 {
		return nil, b.stmt.unsupportedAt(-1, "VALUES")
	}
	if sel.IntoClause != nil {
		return nil, b.stmt.unsupportedAt(-1, "SELECT INTO")
	}
	// A window top-N (bind_topn.go) binds its FROM and WHERE together.
	input, scope, topN, err := b.bindTopN(sel)
	if err != nil {
		return nil, err
	}
	if !topN {
		if input, scope, err = b.bindFromList(sel.FromClause); err != nil {
			return nil, err
		}
	}
	if sel.WhereClause != nil && !topN {
		scope.where = "WHERE"
		cond, err := BindExpr(b.stmt.Text, sel.WhereClause, scope)
		if err != nil {
			return nil, err
		}
		if cond.Type().ID() != arrow.BOOL && cond.Type().ID() != arrow.NULL {
			return nil, b.stmt.errorAt(loc32(sel.WhereClause), "argument of WHERE must be type boolean, not type %s", TypeName(cond.Type()))
		}
		input = pushFilter(input, cond)
	}

	// Is it an aggregation? GROUP BY, HAVING, or an aggregate in the select list.
	probe := &aggCollector{b: b, input: scope}
	aggScope := &relScope{b: b, cols: scope.cols, aggs: probe}
	items, err := b.expandTargets(sel.TargetList, scope)
	if err != nil {
		return nil, err
	}
	var plan Plan
	var exprs []Expr
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.name
	}
	if len(sel.GroupClause) > 0 || sel.HavingClause != nil || b.usesAggregates(items, aggScope) {
		plan, exprs, err = b.bindAggregate(sel, input, scope, items)
	} else {
		for _, it := range items {
			e := it.expr
			if e == nil {
				if e, err = BindExpr(b.stmt.Text, it.node, scope); err != nil {
					return nil, err
				}
			}
			exprs = append(exprs, e)
		}
		plan = input
	}
	if err != nil {
		return nil, err
	}
	out := Plan(newProject(plan, exprs, uniqueNames(names)))
	if isIdentity(out.(*projectPlan), plan) {
		out = plan
	}
	if sel.DistinctClause != nil {
		if len(sel.DistinctClause) > 0 && sel.DistinctClause[0].GetNode() != nil {
			return nil, b.stmt.unsupportedAt(loc32(sel.DistinctClause[0]), "DISTINCT ON")
		}
		out = distinct(out)
	}
	return out, nil
}

// usesAggregates reports whether any select item calls an aggregate
// function (outside a window function's OVER), found in the parse tree so
// that an error inside the call is reported by the aggregate binding
// rather than mistaken for "no aggregates here".
func (b *stmtBinder) usesAggregates(items []target, _ *relScope) bool {
	for _, it := range items {
		if it.node != nil && containsAggregate(it.node.ProtoReflect()) {
			return true
		}
	}
	return false
}

// containsAggregate walks a parse tree (any message of it) for an
// aggregate call, not descending into subqueries.
func containsAggregate(m protoreflect.Message) bool {
	if fc, ok := m.Interface().(*pg.FuncCall); ok && fc.Over == nil && IsAggregate(funcName(fc.Funcname)) {
		return true
	}
	if _, ok := m.Interface().(*pg.SubLink); ok {
		return false
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				found = containsAggregate(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			found = containsAggregate(v.Message())
		}
		return !found
	})
	return found
}

// distinct groups by every column (SELECT DISTINCT).
func distinct(p Plan) Plan {
	keys := make([]int, p.Schema().NumFields())
	for i := range keys {
		keys[i] = i
	}
	agg := newAggregate(p, keys, []aggCall{{fn: dataflow.CountAll, arg: -1, name: "$count", typ: arrow.PrimitiveTypes.Int64, text: "count(*)"}}, nil, false)
	if pr := p.props(); pr.winStart >= 0 && pr.winEnd >= 0 {
		// Distinct rows of a windowed result stay windowed.
		var rest []int
		for _, k := range keys {
			if k != pr.winStart && k != pr.winEnd {
				rest = append(rest, k)
			}
		}
		agg = newAggregate(p, rest, agg.aggs, nil, true)
		exprs, names := make([]Expr, 0, len(keys)), make([]string, 0, len(keys))
		out := agg.Schema()
		for i, f := range p.Schema().Fields() {
			idx := -1
			switch i {
			case pr.winStart:
				idx = len(rest)
			case pr.winEnd:
				idx = len(rest) + 1
			default:
				for j, k := range rest {
					if k == i {
						idx = j
					}
				}
			}
			exprs = append(exprs, &ColumnRef{Index: idx, Name: out.Field(idx).Name, Typ: f.Type})
			names = append(names, f.Name)
		}
		return newProject(agg, exprs, names)
	}
	exprs, names := make([]Expr, len(keys)), make([]string, len(keys))
	for i, f := range p.Schema().Fields() {
		exprs[i], names[i] = &ColumnRef{Index: i, Name: f.Name, Typ: f.Type}, f.Name
	}
	return newProject(agg, exprs, names)
}

// isIdentity reports whether a projection passes its input through.
func isIdentity(p *projectPlan, in Plan) bool {
	if len(p.exprs) != in.Schema().NumFields() {
		return false
	}
	for i, e := range p.exprs {
		c, ok := e.(*ColumnRef)
		if !ok || c.Index != i || p.out.Field(i).Name != in.Schema().Field(i).Name {
			return false
		}
	}
	return true
}

// pushFilter places a filter as low as it can go: below a windowing table
// function when it reads none of the window columns (so the window fuses
// with its aggregate), else on top.
func pushFilter(p Plan, cond Expr) Plan {
	if j, ok := p.(joinInputs); ok {
		if out, ok := pushIntoJoin(j, cond); ok {
			return out
		}
	}
	if w, ok := p.(*windowPlan); ok {
		n := w.input.Schema().NumFields()
		below := true
		Walk(cond, func(e Expr) bool {
			if c, ok := e.(*ColumnRef); ok && c.Index >= n {
				below = false
			}
			return below
		})
		if below {
			return newWindowPlan(pushFilter(w.input, cond), w.spec)
		}
	}
	return &filterPlan{input: p, cond: cond}
}

// joinInputs is a join whose output is its left columns, then right ones.
type joinInputs interface {
	Plan
	inner() bool
	// rightColumn maps an output column to the right input's column, or −1
	// (left columns, and a window join's shared window columns).
	rightColumn(out int) int
	withInputs(ins []Plan) Plan
}

func (p *joinPlan) inner() bool { return p.kind == dataflow.InnerJoin }
func (p *joinPlan) rightColumn(out int) int {
	for r, o := range p.rightCols {
		if o == out {
			return r
		}
	}
	return -1
}
func (p *joinPlan) withInputs(ins []Plan) Plan {
	np := *p
	np.left, np.right = ins[0], ins[1]
	return &np
}

func (p *streamJoinPlan) inner() bool { return p.kind == dataflow.InnerJoin }
func (p *streamJoinPlan) rightColumn(out int) int {
	if nl := p.left.Schema().NumFields(); out >= nl {
		return out - nl
	}
	return -1
}

// pushIntoJoin moves the conjuncts of cond that read only one side of an
// inner join below it, into that side (a self-join filtered on both sides
// then joins the filtered rows, not all of them). It is safe for weir's
// semantics: lateness is decided at the sources, before any filter.
func pushIntoJoin(j joinInputs, cond Expr) (Plan, bool) {
	if !j.inner() {
		return nil, false
	}
	ins := j.Inputs()
	nl := ins[0].Schema().NumFields()
	nOut := j.Schema().NumFields()
	toRight := make([]int, nOut)
	for i := range toRight {
		toRight[i] = j.rightColumn(i)
	}
	var left, right, rest []Expr
	for _, c := range Conjuncts(cond) {
		cols := Columns(c)
		allLeft, allRight := len(cols) > 0, len(cols) > 0
		for _, col := range cols {
			allLeft = allLeft && col < nl
			allRight = allRight && toRight[col] >= 0
		}
		switch {
		case allLeft:
			left = append(left, c)
		case allRight:
			rc, err := Remap(c, toRight)
			if err != nil {
				return nil, false
			}
			right = append(right, rc)
		default:
			rest = append(rest, c)
		}
	}
	if len(left) == 0 && len(right) == 0 {
		return nil, false
	}
	newIns := []Plan{ins[0], ins[1]}
	if len(left) > 0 {
		newIns[0] = pushFilter(ins[0], And(left...))
	}
	if len(right) > 0 {
		newIns[1] = pushFilter(ins[1], And(right...))
	}
	out := j.withInputs(newIns)
	if len(rest) > 0 {
		out = &filterPlan{input: out, cond: And(rest...)}
	}
	return out, true
}

// target is one output column of a select list: a node to bind, or an
// expression already bound (from * expansion).
type target struct {
	node *pg.Node
	expr Expr
	name string
	loc  int32
}

func (b *stmtBinder) expandTargets(list []*pg.Node, scope *relScope) ([]target, error) {
	var out []target
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			return nil, b.stmt.unsupportedAt(loc32(n), "this select item")
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			qual := ""
			if len(cr.Fields) == 2 {
				qual = cr.Fields[0].GetString_().GetSval()
			}
			matched := false
			for _, c := range scope.cols {
				if c.hidden || qual != "" && c.qual != qual {
					continue
				}
				matched = true
				out = append(out, target{expr: &ColumnRef{Index: c.idx, Name: c.name, Typ: c.typ}, name: c.name, loc: cr.Location})
			}
			if !matched {
				if qual != "" {
					return nil, b.stmt.errorAt(cr.Location, "missing FROM-clause entry for table %q", qual)
				}
				return nil, b.stmt.errorAt(cr.Location, "SELECT * with no tables specified is not valid")
			}
			continue
		}
		name := rt.Name
		if name == "" {
			name = deriveName(rt.Val)
		}
		out = append(out, target{node: rt.Val, name: name, loc: rt.Location})
	}
	return out, nil
}

// deriveName names an unaliased select item as Postgres does.
func deriveName(n *pg.Node) string {
	switch {
	case n.GetColumnRef() != nil:
		f := n.GetColumnRef().Fields
		return f[len(f)-1].GetString_().GetSval()
	case n.GetFuncCall() != nil:
		return strings.ToLower(n.GetFuncCall().Funcname[len(n.GetFuncCall().Funcname)-1].GetString_().GetSval())
	case n.GetTypeCast() != nil:
		if inner := deriveName(n.GetTypeCast().Arg); inner != "?column?" {
			return inner
		}
		names := n.GetTypeCast().TypeName.Names
		return names[len(names)-1].GetString_().GetSval()
	case n.GetCaseExpr() != nil:
		return "case"
	case n.GetCoalesceExpr() != nil:
		return "coalesce"
	}
	return "?column?"
}

// uniqueNames makes output names distinct, as later stages address columns
// by name: a repeated name gets a suffix (_2, _3, …).
func uniqueNames(names []string) []string {
	seen := map[string]int{}
	out := make([]string, len(names))
	for i, n := range names {
		seen[n]++
		if seen[n] == 1 {
			out[i] = n
			continue
		}
		for k := seen[n]; ; k++ {
			cand := fmt.Sprintf("%s_%d", n, k)
			if seen[cand] == 0 {
				seen[cand] = 1
				out[i] = cand
				break
			}
		}
	}
	return out
}

func (b *stmtBinder) bindOrderLimit(sel *pg.SelectStmt, p Plan) (Plan, error) {
	if len(sel.SortClause) == 0 && sel.LimitCount == nil && sel.LimitOffset == nil {
		return p, nil
	}
	sp := &sortPlan{input: p, limit: -1}
	out := b.scopeOf(p, "")
	out.where = "ORDER BY"
	for _, n := range sel.SortClause {
		sb := n.GetSortBy()
		key := sortKey{desc: sb.SortbyDir == pg.SortByDir_SORTBY_DESC}
		key.nullsFirst = key.desc // Postgres: NULLs sort as larger
		switch sb.SortbyNulls {
		case pg.SortByNulls_SORTBY_NULLS_FIRST:
			key.nullsFirst = true
		case pg.SortByNulls_SORTBY_NULLS_LAST:
			key.nullsFirst = false
		}
		if c := sb.Node.GetAConst(); c != nil && c.GetIval() != nil {
			k := int(c.GetIval().Ival)
			if k < 1 || k > p.Schema().NumFields() {
				return nil, b.stmt.errorAt(c.Location, "ORDER BY position %d is not in select list", k)
			}
			key.col = k - 1
		} else {
			e, err := BindExpr(b.stmt.Text, selectListSubstitute(sel, sb.Node, schemaNames(p.Schema())), out)
			if err != nil {
				if containsAggregate(sb.Node.ProtoReflect()) {
					return nil, b.stmt.errorAt(loc32(sb.Node), "ORDER BY an aggregate that is not in the select list is not supported: add it to the select list")
				}
				return nil, err
			}
			if c, ok := e.(*ColumnRef); ok {
				key.col = c.Index
			} else {
				sp.input, key.col = withHidden(sp.input, sp.hidden, e)
				sp.hidden++
			}
		}
		sp.keys = append(sp.keys, key)
	}
	var err error
	if sel.LimitCount != nil {
		if sp.limit, err = b.constInt(sel.LimitCount, "LIMIT"); err != nil {
			return nil, err
		}
	}
	if sel.LimitOffset != nil {
		if sp.offset, err = b.constInt(sel.LimitOffset, "OFFSET"); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// constInt evaluates a constant integer expression (LIMIT, OFFSET).
func (b *stmtBinder) constInt(n *pg.Node, what string) (int64, error) {
	if c := n.GetAConst(); c != nil && c.Isnull {
		return -1, nil // LIMIT NULL / LIMIT ALL
	}
	e, err := BindExpr(b.stmt.Text, n, &relScope{b: b, where: what})
	if err != nil {
		return 0, err
	}
	v, err := constValue(e)
	if err != nil {
		return 0, b.stmt.errorAt(loc32(n), "%s: %v", what, err)
	}
	i, ok := v.(int64)
	if !ok || i < 0 {
		return 0, b.stmt.errorAt(loc32(n), "%s must be a non-negative integer", what)
	}
	return i, nil
}

// constValue evaluates a constant expression to a Go value: int64, float64,
// string, bool, time.Duration (intervals), time.Time (timestamps) or nil.
func constValue(e Expr) (any, error) {
	if !IsConstant(e) {
		return nil, fmt.Errorf("%s is not a constant", e)
	}
	one := array.NewRecordBatch(emptySchema, nil, 1)
	arr, err := e.Eval(one)
	if err != nil {
		return nil, err
	}
	if arr.Len() != 1 {
		return nil, fmt.Errorf("constant %s gave %d values", e, arr.Len())
	}
	if arr.IsNull(0) {
		return nil, nil
	}
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(0), nil
	case *array.Int32:
		return int64(a.Value(0)), nil
	case *array.Int16:
		return int64(a.Value(0)), nil
	case *array.Int8:
		return int64(a.Value(0)), nil
	case *array.Float64:
		return a.Value(0), nil
	case *array.String:
		return a.Value(0), nil
	case *array.Boolean:
		return a.Value(0), nil
	case *array.Duration:
		unit := a.DataType().(*arrow.DurationType).Unit
		return time.Duration(int64(a.Value(0)) * int64(unit.Multiplier())), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return time.Unix(0, int64(a.Value(0))*int64(unit.Multiplier())).UTC(), nil
	}
	return nil, fmt.Errorf("constant of type %s", TypeName(arr.DataType()))
}

// loc32 is location (bind_expr.go) as the int32 of pg_query's fields.
func loc32(n *pg.Node) int32 { return int32(location(n)) }
