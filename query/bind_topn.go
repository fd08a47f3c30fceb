package query

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// topNPlaceholder names the column that stands in for ROW_NUMBER() while
// the subquery is bound (the expression binder refuses OVER).
const topNPlaceholder = "$row_number"

// bindTopN recognizes Flink's window top-N:
//
//	SELECT … FROM (
//	  SELECT …, ROW_NUMBER() OVER (PARTITION BY window_start, window_end [, cols]
//	                               ORDER BY col [DESC] [, …]) AS rownum
//	  FROM <windowed relation>) [AS alias]
//	WHERE rownum <= N   -- or rownum < N, rownum = 1, N >= rownum
//
// and plans the FROM and WHERE of sel as a window top-N. ok is false when
// sel's FROM is not a subquery with a window function (bind it as usual).
// The WHERE stays as a filter over the top-N's output (so rownum = 3 or
// rownum BETWEEN 2 AND 3 work too); its upper bound on rownum sets N. A
// ROW_NUMBER not partitioned by the window would need every row of an
// unbounded stream: it is refused.
func (b *stmtBinder) bindTopN(sel *pg.SelectStmt) (Plan, *relScope, bool, error) {
	if len(sel.FromClause) != 1 || sel.FromClause[0].GetRangeSubselect() == nil {
		return nil, nil, false, nil
	}
	rs := sel.FromClause[0].GetRangeSubselect()
	sub := rs.Subquery.GetSelectStmt()
	if sub == nil || sub.Op != pg.SetOperation_SETOP_NONE {
		return nil, nil, false, nil
	}
	item := -1
	for i, n := range sub.TargetList {
		rt := n.GetResTarget()
		if rt == nil || rt.Val.GetFuncCall() == nil || rt.Val.GetFuncCall().Over == nil {
			continue
		}
		if item >= 0 {
			return nil, nil, true, b.stmt.unsupportedAt(rt.Location, "more than one window function in a select list (only one ROW_NUMBER() for a top-N)")
		}
		item = i
	}
	if item < 0 {
		return nil, nil, false, nil
	}
	rt := sub.TargetList[item].GetResTarget()
	call := rt.Val.GetFuncCall()
	if name := strings.ToLower(funcName(call.Funcname)); name != "row_number" {
		return nil, nil, true, b.stmt.unsupportedAt(call.Location, "window function %s(...) OVER (only ROW_NUMBER() for a top-N per window)", name)
	}
	over := call.Over
	if len(call.Args) > 0 || over.Refname != "" || over.Name != "" || over.StartOffset != nil || over.EndOffset != nil {
		return nil, nil, true, b.stmt.unsupportedAt(call.Location, "this form of ROW_NUMBER(); write ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY …)")
	}
	rankName := rt.Name
	if rankName == "" {
		rankName = "row_number"
	}

	// Bind the subquery with a constant in place of ROW_NUMBER().
	saved := sub.TargetList
	list := append([]*pg.Node(nil), saved...)
	list[item] = pg.MakeResTargetNodeWithNameAndVal(topNPlaceholder, pg.MakeAConstIntNode(0, rt.Location), rt.Location)
	sub.TargetList = list
	input, err := b.bindQuery(rs.Subquery)
	sub.TargetList = saved
	if err != nil {
		return nil, nil, true, err
	}
	in := input.Schema()
	ph := in.FieldIndices(topNPlaceholder)
	if len(ph) != 1 {
		return nil, nil, true, b.stmt.errorAt(rt.Location, "internal: ROW_NUMBER() placeholder not found")
	}
	props := input.props()
	if props.winStart < 0 || props.winEnd < 0 {
		return nil, nil, true, b.stmt.unsupportedAt(over.Location,
			"ROW_NUMBER() over a relation that is not windowed (a top-N per window needs window_start and window_end, from TUMBLE, HOP or CUMULATE)")
	}
	// The top-N's input: the subquery without the placeholder.
	var keep []Expr
	var keepNames []string
	inIdx := make([]int, in.NumFields()) // subquery column → top-N input column
	for i, f := range in.Fields() {
		inIdx[i] = -1
		if i == ph[0] {
			continue
		}
		inIdx[i] = len(keep)
		keep, keepNames = append(keep, &ColumnRef{Index: i, Name: f.Name, Typ: f.Type}), append(keepNames, f.Name)
	}
	tin := newProject(input, keep, keepNames)
	column := func(n *pg.Node, what string) (int, error) {
		cr := n.GetColumnRef()
		if cr == nil || cr.Fields[len(cr.Fields)-1].GetString_() == nil {
			return 0, b.stmt.unsupportedAt(loc32(n), "%s of ROW_NUMBER() by an expression; name a column of the subquery's select list", what)
		}
		name := cr.Fields[len(cr.Fields)-1].GetString_().GetSval()
		idx := tin.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return 0, b.stmt.errorAt(cr.Location, "%s of ROW_NUMBER(): column %q is not in the subquery's select list", what, name)
		}
		return idx[0], nil
	}
	tp := &topNPlan{input: tin}
	sawStart, sawEnd := false, false
	for _, n := range over.PartitionClause {
		c, err := column(n, "PARTITION BY")
		if err != nil {
			return nil, nil, true, err
		}
		switch c {
		case inIdx[props.winStart]:
			sawStart = true
		case inIdx[props.winEnd]:
			sawEnd = true
		default:
			tp.partition = append(tp.partition, c)
		}
	}
	if !sawStart || !sawEnd {
		return nil, nil, true, b.stmt.unsupportedAt(over.Location,
			"ROW_NUMBER() not partitioned by window_start and window_end (a top-N of a whole stream never ends); write PARTITION BY window_start, window_end[, …]")
	}
	if len(over.OrderClause) == 0 {
		return nil, nil, true, b.stmt.errorAt(over.Location, "ROW_NUMBER() of a top-N needs ORDER BY")
	}
	for _, n := range over.OrderClause {
		sb := n.GetSortBy()
		c, err := column(sb.Node, "ORDER BY")
		if err != nil {
			return nil, nil, true, err
		}
		key := sortKey{col: c, desc: sb.SortbyDir == pg.SortByDir_SORTBY_DESC}
		key.nullsFirst = key.desc
		switch sb.SortbyNulls {
		case pg.SortByNulls_SORTBY_NULLS_FIRST:
			key.nullsFirst = true
		case pg.SortByNulls_SORTBY_NULLS_LAST:
			key.nullsFirst = false
		}
		tp.order = append(tp.order, key)
	}
	names := append(append([]string(nil), keepNames...), rankName)
	tp.rankName = uniqueNames(names)[len(names)-1]
	fields := append(append([]arrow.Field(nil), tin.Schema().Fields()...), arrow.Field{Name: tp.rankName, Type: arrow.PrimitiveTypes.Int64})
	tp.out = arrow.NewSchema(fields, nil)

	// Back to the subquery's column order, ROW_NUMBER() where it was written.
	exprs := make([]Expr, in.NumFields())
	outNames := make([]string, in.NumFields())
	for i, f := range in.Fields() {
		if i == ph[0] {
			exprs[i], outNames[i] = &ColumnRef{Index: len(keep), Name: tp.rankName, Typ: arrow.PrimitiveTypes.Int64}, rankName
			continue
		}
		exprs[i], outNames[i] = &ColumnRef{Index: inIdx[i], Name: f.Name, Typ: f.Type}, f.Name
	}
	plan, scope, err := b.aliased(newProject(tp, exprs, outNames), "", rs.Alias)
	if err != nil {
		return nil, nil, true, err
	}
	rankCol := ph[0]

	// N: the tightest upper bound on rownum in the outer WHERE.
	if sel.WhereClause == nil {
		return nil, nil, true, b.stmt.errorAt(rt.Location, "a top-N needs a bound on %s in the outer WHERE (WHERE %s <= N)", rankName, rankName)
	}
	scope.where = "WHERE"
	cond, err := BindExpr(b.stmt.Text, sel.WhereClause, scope)
	if err != nil {
		return nil, nil, true, err
	}
	if cond.Type().ID() != arrow.BOOL {
		return nil, nil, true, b.stmt.errorAt(loc32(sel.WhereClause), "argument of WHERE must be type boolean, not type %s", TypeName(cond.Type()))
	}
	for _, c := range Conjuncts(cond) {
		if n, ok := rankBound(c, rankCol); ok && (tp.n == 0 || n < tp.n) {
			tp.n = n
		}
	}
	if tp.n == 0 {
		return nil, nil, true, b.stmt.unsupportedAt(loc32(sel.WhereClause),
			"a top-N without an upper bound on %s (WHERE %s <= N, %s < N or %s = 1)", rankName, rankName, rankName, rankName)
	}
	if tp.n < 0 {
		tp.n = 1 // rownum < 1: nothing passes the filter; keep the operator valid
	}
	return &filterPlan{input: plan, cond: cond}, scope, true, nil
}

// rankBound returns the largest rank that can pass c when c bounds column
// rank from above (rank <= N, rank < N, rank = N, N >= rank, N > rank).
func rankBound(c Expr, rank int) (int64, bool) {
	op, l, r, ok := Comparison(c)
	if !ok {
		return 0, false
	}
	isRank := func(e Expr) bool { x, ok := e.(*ColumnRef); return ok && x.Index == rank }
	if isRank(r) && !isRank(l) {
		l, r = r, l
		op = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}[op]
	}
	if !isRank(l) || !IsConstant(r) {
		return 0, false
	}
	v, err := constValue(r)
	if err != nil {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		return 0, false
	}
	switch op {
	case "<=", "=":
		return n, true
	case "<":
		return n - 1, true
	}
	return 0, false
}

// topNPlan is a window top-N: per window and partition, the first n rows by
// order, with their rank appended as rankName (ROW_NUMBER()).
type topNPlan struct {
	input     Plan
	partition []int // besides window_start and window_end
	order     []sortKey
	n         int64
	rankName  string
	out       *arrow.Schema
}

func (p *topNPlan) Schema() *arrow.Schema { return p.out }
func (p *topNPlan) Inputs() []Plan        { return []Plan{p.input} }
func (p *topNPlan) withInputs(ins []Plan) Plan {
	np := *p
	np.input = ins[0]
	return &np
}
func (p *topNPlan) describe() string {
	in := p.input.Schema()
	parts := []string{"window_start", "window_end"}
	for _, c := range p.partition {
		parts = append(parts, in.Field(c).Name)
	}
	var order []string
	for _, k := range p.order {
		s := in.Field(k.col).Name
		if k.desc {
			s += " DESC"
		}
		order = append(order, s)
	}
	return fmt.Sprintf("WindowTopN %d partition=[%s] order=[%s]", p.n, strings.Join(parts, ", "), strings.Join(order, ", "))
}
func (p *topNPlan) props() planProps {
	in := p.input.props()
	return planProps{timeCol: -1, winStart: in.winStart, winEnd: in.winEnd, updating: in.updating}
}
