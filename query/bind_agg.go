package query

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/dataflow"
)

// aggSpec is an aggregate call found in a select list or HAVING, with its
// argument bound over the aggregate's input.
type aggSpec struct {
	fn   dataflow.AggFunc
	arg  Expr // nil for count(*)
	typ  arrow.DataType
	text string
	key  string  // for de-duplication: fn + argument
	frac float64 // approx_percentile's fraction
}

// aggCollector binds aggregate calls against the input scope and numbers
// them; the same call twice is one aggregate.
type aggCollector struct {
	b     *stmtBinder
	input *relScope
	specs []aggSpec
}

var aggFuncs = map[string]dataflow.AggFunc{
	"count": dataflow.Count, "sum": dataflow.Sum, "min": dataflow.Min, "max": dataflow.Max, "avg": dataflow.Avg,
	"approx_percentile": dataflow.ApproxPercentile, "percentile_approx": dataflow.ApproxPercentile,
	"approx_count_distinct": dataflow.ApproxCountDistinct,
}

// distinctFuncs are the aggregates of f(DISTINCT x); min and max do not
// change with DISTINCT.
var distinctFuncs = map[dataflow.AggFunc]dataflow.AggFunc{
	dataflow.Count: dataflow.CountDistinct, dataflow.Sum: dataflow.SumDistinct, dataflow.Avg: dataflow.AvgDistinct,
	dataflow.Min: dataflow.Min, dataflow.Max: dataflow.Max,
}

func (c *aggCollector) add(call *pg.FuncCall, pos int) (Expr, error) {
	name := strings.ToLower(funcName(call.Funcname))
	fn, ok := aggFuncs[name]
	if !ok {
		return nil, c.b.stmt.unsupportedAt(int32(pos), "aggregate function %s", name)
	}
	if call.Over != nil {
		return nil, c.b.stmt.unsupportedAt(int32(pos), "window function %s(...) OVER", name)
	}
	if call.AggFilter != nil {
		return nil, c.b.stmt.unsupportedAt(int32(pos), "FILTER on an aggregate")
	}
	if call.AggDistinct {
		d, ok := distinctFuncs[fn]
		if !ok {
			return nil, c.b.stmt.unsupportedAt(int32(pos), "%s(DISTINCT ...)", name)
		}
		fn = d
	}
	if len(call.AggOrder) > 0 || call.AggWithinGroup {
		return nil, c.b.stmt.unsupportedAt(int32(pos), "ORDER BY inside an aggregate")
	}
	spec := aggSpec{fn: fn}
	nargs := 1
	if fn == dataflow.ApproxPercentile {
		nargs = 2
	}
	switch {
	case call.AggStar:
		if fn != dataflow.Count {
			return nil, c.b.stmt.errorAt(int32(pos), "%s(*) is not an aggregate; only count(*) is", name)
		}
		spec.fn, spec.typ, spec.text, spec.key = dataflow.CountAll, arrow.PrimitiveTypes.Int64, "count(*)", "count(*)"
	case fn == dataflow.ApproxPercentile && len(call.Args) != 2:
		return nil, c.b.stmt.errorAt(int32(pos), "%s takes two arguments, a value and a fraction: %s(x, 0.95)", name, name)
	case len(call.Args) != nargs:
		return nil, c.b.stmt.errorAt(int32(pos), "%s takes one argument, got %d", name, len(call.Args))
	default:
		// Aggregates do not nest: the argument is bound without them.
		inner := &relScope{b: c.b, cols: c.input.cols, where: "the argument of an aggregate"}
		arg, err := BindExpr(c.b.stmt.Text, call.Args[0], inner)
		if err != nil {
			return nil, err
		}
		typ, err := aggResultType(fn, arg.Type())
		if err != nil {
			return nil, c.b.stmt.errorAt(int32(pos), "%s", err)
		}
		spec.arg, spec.typ = arg, typ
		distinct := ""
		if call.AggDistinct {
			distinct = "DISTINCT "
		}
		spec.text = fmt.Sprintf("%s(%s%s)", name, distinct, arg)
		spec.key = fn.String() + "(" + exprKey(arg) + ")"
		if fn == dataflow.ApproxPercentile {
			frac, err := c.fraction(call.Args[1], name)
			if err != nil {
				return nil, err
			}
			spec.frac = frac
			spec.text = fmt.Sprintf("%s(%s, %v)", name, arg, frac)
			spec.key += fmt.Sprintf("@%v", frac)
		}
	}
	for i, s := range c.specs {
		if s.key == spec.key {
			return &aggRef{index: i, typ: s.typ, text: s.text}, nil
		}
	}
	c.specs = append(c.specs, spec)
	return &aggRef{index: len(c.specs) - 1, typ: spec.typ, text: spec.text}, nil
}

// aggResultType mirrors the accumulators of package dataflow.
func aggResultType(fn dataflow.AggFunc, in arrow.DataType) (arrow.DataType, error) {
	numeric := func() bool {
		switch in.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT64, arrow.FLOAT32:
			return true
		}
		return false
	}
	switch fn {
	case dataflow.Count, dataflow.ApproxCountDistinct:
		return arrow.PrimitiveTypes.Int64, nil
	case dataflow.CountDistinct:
		switch in.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64, arrow.TIMESTAMP,
			arrow.DATE32, arrow.BOOL, arrow.STRING, arrow.LARGE_STRING, arrow.BINARY:
			return arrow.PrimitiveTypes.Int64, nil
		}
		return nil, fmt.Errorf("function count(DISTINCT %s) is not supported", TypeName(in))
	case dataflow.ApproxPercentile:
		if !numeric() {
			return nil, fmt.Errorf("function approx_percentile(%s) does not exist", TypeName(in))
		}
		return arrow.PrimitiveTypes.Float64, nil
	case dataflow.SumDistinct:
		return aggResultType(dataflow.Sum, in)
	case dataflow.AvgDistinct:
		return aggResultType(dataflow.Avg, in)
	case dataflow.Sum:
		if !numeric() {
			return nil, fmt.Errorf("function sum(%s) does not exist", TypeName(in))
		}
		if in.ID() == arrow.FLOAT64 || in.ID() == arrow.FLOAT32 {
			return arrow.PrimitiveTypes.Float64, nil
		}
		return arrow.PrimitiveTypes.Int64, nil
	case dataflow.Avg:
		if !numeric() {
			return nil, fmt.Errorf("function avg(%s) does not exist", TypeName(in))
		}
		return arrow.PrimitiveTypes.Float64, nil
	case dataflow.Min, dataflow.Max:
		switch in.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
			return arrow.PrimitiveTypes.Int64, nil
		case arrow.FLOAT32, arrow.FLOAT64:
			return arrow.PrimitiveTypes.Float64, nil
		case arrow.TIMESTAMP:
			return in, nil
		case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
			// Byte-wise order (UTF-8 code units), as Postgres under the C
			// collation; weir has no other collations.
			return typText, nil
		}
		return nil, fmt.Errorf("function %s(%s) is not supported", fn, TypeName(in))
	}
	return nil, fmt.Errorf("unknown aggregate %s", fn)
}

// exprKey identifies an expression structurally: its SQL with every column
// reference replaced by its input position, so t1.id and t2.id differ.
func exprKey(e Expr) string {
	k, err := Transform(e, func(x Expr) (Expr, error) {
		if c, ok := x.(*ColumnRef); ok {
			return &ColumnRef{Index: c.Index, Name: fmt.Sprintf("#%d", c.Index), Typ: c.Typ}, nil
		}
		return x, nil
	})
	if err != nil {
		return e.String()
	}
	return fmt.Sprintf("%s::%s", k, e.Type())
}

// bindAggregate plans GROUP BY (and aggregates without it): which kind of
// aggregate (window, windowed input, plain), a projection computing keys,
// the time column and aggregate arguments, the aggregate, HAVING, and the
// select list rewritten over the aggregate's output.
func (b *stmtBinder) bindAggregate(sel *pg.SelectStmt, input Plan, scope *relScope, items []target) (Plan, []Expr, error) {
	props := input.props()
	// Over windows, window_time names window_end − 1 µs (Flink's time
	// attribute of a window aggregate's rows).
	noAggs := &relScope{b: b, cols: scope.cols, where: "GROUP BY", windowTime: props.winEnd >= 0, winEnd: props.winEnd}
	var groups []Expr
	for _, g := range sel.GroupClause {
		if g.GetGroupingSet() != nil {
			return nil, nil, b.stmt.unsupportedAt(loc32(g), "GROUPING SETS, ROLLUP and CUBE")
		}
		e, err := b.bindGroupItem(g, noAggs, items)
		if err != nil {
			return nil, nil, err
		}
		groups = append(groups, e)
	}

	// Which windows? Grouping by window_start or window_end of a windowing
	// table function fuses the two; of an already windowed input, groups by
	// its windows; otherwise it is a plain GROUP BY.
	var keys []Expr
	byWindow := false
	for _, g := range groups {
		if c, ok := g.(*ColumnRef); ok && props.winStart >= 0 && (c.Index == props.winStart || c.Index == props.winEnd) {
			byWindow = true
			continue
		}
		if windowTimeOf(g, props.winEnd) {
			byWindow = true // a function of window_end, as in Flink's GROUP BY window_start, window_end, window_time
			continue
		}
		keys = append(keys, g)
	}
	var window *windowSpec
	aggInput := input
	if w, ok := input.(*windowPlan); ok {
		if byWindow {
			spec := w.spec
			window, aggInput = &spec, w.input
		} else if w.spec.kind == sessionWindow {
			return nil, nil, b.stmt.errorAt(-1, "SESSION windows must be grouped by window_start and window_end")
		}
	}
	fromColumns := byWindow && window == nil
	for _, k := range keys {
		bad := false
		Walk(k, func(e Expr) bool {
			if c, ok := e.(*ColumnRef); ok && byWindow && (c.Index == props.winStart || c.Index == props.winEnd) {
				bad = true
			}
			return !bad
		})
		if bad {
			return nil, nil, b.stmt.unsupportedAt(-1, "a GROUP BY expression over window_start or window_end")
		}
	}

	// Bind the select list and HAVING, collecting aggregates.
	coll := &aggCollector{b: b, input: scope}
	aggScope := &relScope{b: b, cols: scope.cols, aggs: coll, windowTime: byWindow, winEnd: props.winEnd}
	bound := make([]Expr, len(items))
	for i, it := range items {
		if it.expr != nil {
			bound[i] = it.expr
			continue
		}
		e, err := BindExpr(b.stmt.Text, it.node, aggScope)
		if err != nil {
			return nil, nil, err
		}
		bound[i] = e
	}
	var having Expr
	if sel.HavingClause != nil {
		e, err := BindExpr(b.stmt.Text, sel.HavingClause, aggScope)
		if err != nil {
			return nil, nil, err
		}
		if e.Type().ID() != arrow.BOOL {
			return nil, nil, b.stmt.errorAt(loc32(sel.HavingClause), "argument of HAVING must be type boolean, not type %s", TypeName(e.Type()))
		}
		having = e
	}

	// The projection under the aggregate: keys, the time or window
	// columns, then aggregate arguments. Expressions bound over a window
	// plan read the same columns of its input (the window's are last).
	var pre []Expr
	var preNames []string
	for i, k := range keys {
		pre, preNames = append(pre, k), append(preNames, keyName(k, i))
	}
	timeCol := -1
	switch {
	case window != nil:
		f := aggInput.Schema().Field(window.timeCol)
		timeCol = len(pre)
		pre, preNames = append(pre, &ColumnRef{Index: window.timeCol, Name: f.Name, Typ: f.Type}), append(preNames, "$time")
	case fromColumns:
		for _, idx := range []int{props.winStart, props.winEnd} {
			f := input.Schema().Field(idx)
			pre, preNames = append(pre, &ColumnRef{Index: idx, Name: f.Name, Typ: f.Type}), append(preNames, f.Name)
		}
	}
	calls := make([]aggCall, len(coll.specs))
	for i, s := range coll.specs {
		calls[i] = aggCall{fn: s.fn, arg: -1, name: fmt.Sprintf("$agg%d", i), typ: s.typ, text: s.text, frac: s.frac}
		if s.arg != nil {
			calls[i].arg = len(pre)
			pre, preNames = append(pre, s.arg), append(preNames, fmt.Sprintf("$arg%d", i))
		}
	}
	project := newProject(aggInput, pre, uniqueNames(preNames))
	keyIdx := make([]int, len(keys))
	for i := range keys {
		keyIdx[i] = i
	}
	var spec *windowSpec
	if window != nil {
		s := *window
		s.timeCol = timeCol
		spec = &s
	}
	agg := newAggregate(project, keyIdx, calls, spec, fromColumns)

	// Rewrite the select list and HAVING over the aggregate's output.
	nk := len(keys)
	winCols := 0
	if agg.windowed() {
		winCols = 2
	}
	rewrite := func(e Expr) (Expr, error) {
		return b.overAggregate(e, keys, nk, winCols, props, agg.Schema())
	}
	out := make([]Expr, len(bound))
	for i, e := range bound {
		r, err := rewrite(e)
		if err != nil {
			return nil, nil, err
		}
		out[i] = r
	}
	var plan Plan = agg
	if having != nil {
		h, err := rewrite(having)
		if err != nil {
			return nil, nil, err
		}
		plan = &filterPlan{input: agg, cond: h}
	}
	return plan, out, nil
}

// keyName names a grouping key column: its own name when it is a column.
func keyName(k Expr, i int) string {
	if c, ok := k.(*ColumnRef); ok {
		return c.Name
	}
	return fmt.Sprintf("$key%d", i)
}

// overAggregate rewrites an expression bound over the aggregate's input into
// one over its output (keys, window columns, aggregates), top-down: a
// subexpression equal to a grouping key reads that key; an aggregate reads
// its result; any other column is an error, as in Postgres.
func (b *stmtBinder) overAggregate(e Expr, keys []Expr, nk, winCols int, in planProps, out *arrow.Schema) (Expr, error) {
	ek := exprKey(e)
	for i, k := range keys {
		if exprKey(k) == ek {
			return &ColumnRef{Index: i, Name: out.Field(i).Name, Typ: out.Field(i).Type}, nil
		}
	}
	switch x := e.(type) {
	case *aggRef:
		idx := nk + winCols + x.index
		return &ColumnRef{Index: idx, Name: x.text, Typ: out.Field(idx).Type}, nil
	case *ColumnRef:
		if winCols > 0 && (x.Index == in.winStart || x.Index == in.winEnd) {
			idx := nk
			if x.Index == in.winEnd {
				idx = nk + 1
			}
			return &ColumnRef{Index: idx, Name: x.Name, Typ: out.Field(idx).Type}, nil
		}
		pos := int32(-1)
		if p, ok := b.pos[x]; ok {
			pos = p
		}
		return nil, b.stmt.errorAt(pos, "column %q must appear in the GROUP BY clause or be used in an aggregate function", x.Name)
	}
	kids := e.Children()
	if len(kids) == 0 {
		return e, nil
	}
	nk2 := make([]Expr, len(kids))
	for i, k := range kids {
		r, err := b.overAggregate(k, keys, nk, winCols, in, out)
		if err != nil {
			return nil, err
		}
		nk2[i] = r
	}
	return e.WithChildren(nk2)
}

// bindGroupItem binds a GROUP BY item: an ordinal, a select alias, or an
// expression over the input.
func (b *stmtBinder) bindGroupItem(g *pg.Node, scope *relScope, items []target) (Expr, error) {
	if c := g.GetAConst(); c != nil && c.GetIval() != nil {
		k := int(c.GetIval().Ival)
		if k < 1 || k > len(items) {
			return nil, b.stmt.errorAt(c.Location, "GROUP BY position %d is not in select list", k)
		}
		it := items[k-1]
		if it.expr != nil {
			return it.expr, nil
		}
		return BindExpr(b.stmt.Text, it.node, scope)
	}
	e, err := BindExpr(b.stmt.Text, g, scope)
	if err == nil {
		return e, nil
	}
	// An output alias, if the name is not an input column (Postgres' rule).
	if cr := g.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
		name := cr.Fields[0].GetString_().GetSval()
		for _, it := range items {
			if it.name == name && it.node != nil {
				return BindExpr(b.stmt.Text, it.node, scope)
			}
		}
	}
	return nil, err
}

// fraction evaluates approx_percentile's second argument: a constant in
// [0, 1].
func (c *aggCollector) fraction(n *pg.Node, name string) (float64, error) {
	e, err := BindExpr(c.b.stmt.Text, n, &relScope{b: c.b, where: "the fraction of " + name})
	if err != nil {
		return 0, err
	}
	v, err := constValue(e)
	if err != nil {
		return 0, c.b.stmt.errorAt(loc32(n), "%s: the fraction must be a constant: %v", name, err)
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	default:
		return 0, c.b.stmt.errorAt(loc32(n), "%s: the fraction must be a number between 0 and 1", name)
	}
	if !(f >= 0 && f <= 1) {
		return 0, c.b.stmt.errorAt(loc32(n), "%s: the fraction %v is not between 0 and 1", name, f)
	}
	return f, nil
}
