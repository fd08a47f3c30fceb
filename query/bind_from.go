package query

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/dataflow"
)

// maxViewDepth bounds view expansion (a view defined through itself).
const maxViewDepth = 16

func (b *stmtBinder) bindFromList(items []*pg.Node) (Plan, *relScope, error) {
	switch len(items) {
	case 0:
		return &valuesPlan{}, &relScope{b: b}, nil
	case 1:
		return b.bindFromItem(items[0])
	}
	return nil, nil, b.stmt.unsupportedAt(loc32(items[1]), "a comma-separated FROM list (a cross join); write JOIN ... ON")
}

func (b *stmtBinder) bindFromItem(n *pg.Node) (Plan, *relScope, error) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		p, err := b.bindRelation(rv.Relname, rv.Location)
		if err != nil {
			return nil, nil, err
		}
		return b.aliased(p, rv.Relname, rv.Alias)
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		if rs.Lateral {
			return nil, nil, b.stmt.unsupportedAt(loc32(n), "LATERAL")
		}
		p, err := b.bindQuery(rs.Subquery)
		if err != nil {
			return nil, nil, err
		}
		return b.aliased(p, "", rs.Alias)
	case n.GetRangeFunction() != nil:
		return b.bindTableFunction(n.GetRangeFunction())
	case n.GetJoinExpr() != nil:
		return b.bindJoin(n.GetJoinExpr())
	}
	return nil, nil, b.stmt.unsupportedAt(loc32(n), "this FROM item")
}

// aliased scopes a plan's columns under an alias (or name), renaming
// columns when the alias lists names.
func (b *stmtBinder) aliased(p Plan, name string, alias *pg.Alias) (Plan, *relScope, error) {
	qual := name
	if alias != nil {
		qual = alias.Aliasname
		if len(alias.Colnames) > 0 {
			if len(alias.Colnames) > p.Schema().NumFields() {
				return nil, nil, b.stmt.errorAt(-1, "table %q has %d columns available but %d columns specified",
					qual, p.Schema().NumFields(), len(alias.Colnames))
			}
			exprs := make([]Expr, p.Schema().NumFields())
			names := make([]string, len(exprs))
			for i, f := range p.Schema().Fields() {
				exprs[i], names[i] = &ColumnRef{Index: i, Name: f.Name, Typ: f.Type}, f.Name
				if i < len(alias.Colnames) {
					names[i] = alias.Colnames[i].GetString_().GetSval()
				}
			}
			p = newProject(p, exprs, names)
		}
	}
	return p, b.scopeOf(p, qual), nil
}

// bindRelation resolves a name in FROM: a CTE, a view or a table.
func (b *stmtBinder) bindRelation(name string, loc int32) (Plan, error) {
	if cte, ok := b.ctes[name]; ok {
		delete(b.ctes, name) // a CTE does not see itself
		defer func() { b.ctes[name] = cte }()
		p, err := b.bindQuery(cte.Ctequery)
		if err != nil {
			return nil, err
		}
		if len(cte.Aliascolnames) > 0 {
			if p, _, err = b.aliased(p, name, &pg.Alias{Aliasname: name, Colnames: cte.Aliascolnames}); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	if v, ok := b.eng.Catalog.View(name); ok {
		if b.depth >= maxViewDepth {
			return nil, b.stmt.errorAt(loc, "view %q nests deeper than %d views (does it refer to itself?)", name, maxViewDepth)
		}
		stmts, err := Parse(v.SQL)
		if err != nil || len(stmts) != 1 || stmts[0].Node == nil {
			return nil, b.stmt.errorAt(loc, "view %q is broken: %v", name, err)
		}
		sub := newBinder(b.ctx, b.eng, stmts[0])
		sub.depth = b.depth + 1
		p, err := sub.bindQuery(stmts[0].Node)
		if err != nil {
			return nil, fmt.Errorf("in view %q: %w", name, err)
		}
		return p, nil
	}
	if t, ok := b.eng.Catalog.Table(name); ok {
		return b.scan(t, loc)
	}
	return nil, b.stmt.errorAt(loc, "relation %q does not exist", name)
}

// scan plans a read of a table, resolving its schema.
func (b *stmtBinder) scan(t *TableDef, loc int32) (Plan, error) {
	schema, err := b.eng.tableSchema(b.ctx, t)
	if err != nil {
		return nil, b.stmt.errorAt(loc, "table %q: %v", t.Name, err)
	}
	p := &scanPlan{table: t, schema: schema, timeCol: -1, loc: loc}
	if t.EventTime != "" {
		is := schema.FieldIndices(t.EventTime)
		if len(is) != 1 {
			return nil, b.stmt.errorAt(loc, "table %q: event_time column %q does not exist", t.Name, t.EventTime)
		}
		if schema.Field(is[0]).Type.ID() != arrow.TIMESTAMP {
			return nil, b.stmt.errorAt(loc, "table %q: event_time column %q has type %s, not timestamp", t.Name, t.EventTime, TypeName(schema.Field(is[0]).Type))
		}
		p.timeCol = is[0]
	}
	return p, nil
}

func (b *stmtBinder) bindTableFunction(rf *pg.RangeFunction) (Plan, *relScope, error) {
	if rf.Lateral || rf.Ordinality || len(rf.Functions) != 1 {
		return nil, nil, b.stmt.unsupportedAt(-1, "this table function form")
	}
	items := rf.Functions[0].GetList().GetItems()
	if len(items) == 0 || items[0].GetFuncCall() == nil {
		return nil, nil, b.stmt.unsupportedAt(-1, "this table function")
	}
	call := items[0].GetFuncCall()
	name := strings.ToLower(funcName(call.Funcname))
	switch name {
	case "tumble", "hop", "cumulate", "session":
		p, qual, err := b.bindWindowTVF(name, call)
		if err != nil {
			return nil, nil, err
		}
		return b.aliased(p, qual, rf.Alias)
	case "read_parquet":
		p, err := b.bindReadParquet(call)
		if err != nil {
			return nil, nil, err
		}
		return b.aliased(p, name, rf.Alias)
	}
	return nil, nil, b.stmt.unsupportedAt(call.Location, "table function %s", name)
}

// bindWindowTVF binds TUMBLE(t, time_col, size), HOP(t, time_col, slide,
// size), CUMULATE(t, time_col, step, size) and SESSION(t, time_col, gap).
// t is a table, view or CTE name, or a parenthesized query; time_col may be
// written DESCRIPTOR(col) as in Flink.
func (b *stmtBinder) bindWindowTVF(name string, call *pg.FuncCall) (Plan, string, error) {
	want := map[string]int{"tumble": 3, "hop": 4, "cumulate": 4, "session": 3}[name]
	upper := strings.ToUpper(name)
	if len(call.Args) != want {
		usage := map[string]string{"tumble": "TUMBLE(table, time_column, size)", "hop": "HOP(table, time_column, slide, size)",
			"cumulate": "CUMULATE(table, time_column, step, size)", "session": "SESSION(table, time_column, gap)"}[name]
		return nil, "", b.stmt.errorAt(call.Location, "%s takes %d arguments: %s", upper, want, usage)
	}
	var input Plan
	var qual string
	switch arg := call.Args[0]; {
	case arg.GetColumnRef() != nil && len(arg.GetColumnRef().Fields) == 1:
		qual = arg.GetColumnRef().Fields[0].GetString_().GetSval()
		p, err := b.bindRelation(qual, arg.GetColumnRef().Location)
		if err != nil {
			return nil, "", err
		}
		input = p
	case arg.GetFuncCall() != nil && strings.EqualFold(funcName(arg.GetFuncCall().Funcname), "read_parquet"):
		qual = "read_parquet"
		p, err := b.bindReadParquet(arg.GetFuncCall())
		if err != nil {
			return nil, "", err
		}
		input = p
	case arg.GetSubLink() != nil && arg.GetSubLink().SubLinkType == pg.SubLinkType_EXPR_SUBLINK:
		p, err := b.bindQuery(arg.GetSubLink().Subselect)
		if err != nil {
			return nil, "", err
		}
		input = p
	default:
		return nil, "", b.stmt.errorAt(loc32(arg), "the first argument of %s must name a table or a view, or be read_parquet(…) or a parenthesized query", upper)
	}
	timeArg := call.Args[1]
	if fc := timeArg.GetFuncCall(); fc != nil && strings.EqualFold(funcName(fc.Funcname), "descriptor") && len(fc.Args) == 1 {
		timeArg = fc.Args[0]
	}
	cr := timeArg.GetColumnRef()
	if cr == nil || len(cr.Fields) != 1 {
		return nil, "", b.stmt.errorAt(loc32(timeArg), "the second argument of %s must be a time column", upper)
	}
	col := cr.Fields[0].GetString_().GetSval()
	idx := input.Schema().FieldIndices(col)
	if len(idx) != 1 {
		return nil, "", b.stmt.errorAt(cr.Location, "column %q does not exist in the input of %s", col, upper)
	}
	props := input.props()
	if props.timeCol != idx[0] {
		if props.timeCol < 0 {
			return nil, "", b.stmt.errorAt(cr.Location, "%s needs an event-time column, and this input has none (declare event_time on the table)", upper)
		}
		return nil, "", b.stmt.errorAt(cr.Location, "%s must window by the input's event-time column %q, whose watermarks say when windows are complete; %q is not it",
			upper, input.Schema().Field(props.timeCol).Name, col)
	}
	spec := windowSpec{timeCol: idx[0], funcName: upper}
	var durs []time.Duration
	for _, a := range call.Args[2:] {
		d, err := b.constDuration(a, upper)
		if err != nil {
			return nil, "", err
		}
		durs = append(durs, d)
	}
	switch name {
	case "tumble":
		spec.kind, spec.size = tumbleWindow, durs[0]
	case "hop":
		spec.kind, spec.slide, spec.size = hopWindow, durs[0], durs[1]
	case "cumulate":
		spec.kind, spec.step, spec.size = cumulateWindow, durs[0], durs[1]
	case "session":
		spec.kind, spec.gap = sessionWindow, durs[0]
	}
	if err := dataflow.ValidateAssigner(spec.assigner()); err != nil {
		return nil, "", b.stmt.errorAt(call.Location, "%s: %v", upper, err)
	}
	return newWindowPlan(input, spec), qual, nil
}

// constDuration evaluates a constant interval argument.
func (b *stmtBinder) constDuration(n *pg.Node, fn string) (time.Duration, error) {
	e, err := BindExpr(b.stmt.Text, n, &relScope{b: b, where: "a window size"})
	if err != nil {
		return 0, err
	}
	v, err := constValue(e)
	if err != nil {
		return 0, b.stmt.errorAt(loc32(n), "%s: %v", fn, err)
	}
	d, ok := v.(time.Duration)
	if !ok || d <= 0 {
		return 0, b.stmt.errorAt(loc32(n), "%s: window sizes must be positive intervals such as INTERVAL '10' SECOND", fn)
	}
	return d, nil
}

// bindReadParquet binds read_parquet('url', event_time => 'col',
// watermark_delay => INTERVAL '…', idle_timeout => INTERVAL '…').
func (b *stmtBinder) bindReadParquet(call *pg.FuncCall) (Plan, error) {
	t := &TableDef{Name: "read_parquet"}
	for i, a := range call.Args {
		argName := ""
		val := a
		if na := a.GetNamedArgExpr(); na != nil {
			argName, val = strings.ToLower(na.Name), na.Arg
		} else if i > 0 {
			return nil, b.stmt.errorAt(loc32(a), "read_parquet takes one positional argument (the URL); name the others (event_time => 'ts')")
		}
		e, err := BindExpr(b.stmt.Text, val, &relScope{b: b, where: "read_parquet"})
		if err != nil {
			return nil, err
		}
		v, err := constValue(e)
		if err != nil {
			return nil, b.stmt.errorAt(loc32(val), "read_parquet: %v", err)
		}
		switch argName {
		case "":
			s, ok := v.(string)
			if !ok {
				return nil, b.stmt.errorAt(loc32(val), "read_parquet: the URL must be a string")
			}
			t.History = s
		case "event_time":
			s, ok := v.(string)
			if !ok {
				return nil, b.stmt.errorAt(loc32(val), "read_parquet: event_time must be a column name string")
			}
			t.EventTime = s
		case "watermark_delay", "idle_timeout":
			d, ok := v.(time.Duration)
			if !ok || d < 0 {
				return nil, b.stmt.errorAt(loc32(val), "read_parquet: %s must be a non-negative interval", argName)
			}
			if argName == "watermark_delay" {
				t.WatermarkDelay = Duration(d)
			} else {
				t.IdleTimeout = Duration(d)
			}
		default:
			return nil, b.stmt.errorAt(loc32(a), "read_parquet has no argument %q (url, event_time, watermark_delay, idle_timeout)", argName)
		}
	}
	if t.History == "" {
		return nil, b.stmt.errorAt(call.Location, "read_parquet needs a URL: read_parquet('file:///data/*.parquet')")
	}
	return b.scan(t, call.Location)
}

// equiColumns matches "left column = right column" (either order) in a
// condition over left ++ right with nl left columns.
func equiColumns(e Expr, nl int) (l, r int, ok bool) {
	kids := e.Children()
	if op, _, _, ok := Comparison(e); !ok || op != "=" || len(kids) != 2 {
		return 0, 0, false
	}
	a, aok := kids[0].(*ColumnRef)
	c, cok := kids[1].(*ColumnRef)
	if !aok || !cok {
		return 0, 0, false
	}
	switch {
	case a.Index < nl && c.Index >= nl:
		return a.Index, c.Index - nl, true
	case c.Index < nl && a.Index >= nl:
		return c.Index, a.Index - nl, true
	}
	return 0, 0, false
}

// windowJoinSchema is the output of dataflow's window join: left columns,
// then right columns without its window, renamed "right_…" on a clash.
// rightCols maps each right column to its output index (−1 for the window).
func windowJoinSchema(ls, rs *arrow.Schema, kind dataflow.JoinKind) (*arrow.Schema, []int) {
	fields := append([]arrow.Field(nil), ls.Fields()...)
	taken := map[string]bool{}
	for _, f := range fields {
		taken[f.Name] = true
	}
	rightCols := make([]int, rs.NumFields())
	for i, f := range rs.Fields() {
		if f.Name == dataflow.WindowStartColumn || f.Name == dataflow.WindowEndColumn {
			rightCols[i] = -1
			continue
		}
		for taken[f.Name] {
			f.Name = "right_" + f.Name
		}
		taken[f.Name] = true
		rightCols[i] = len(fields)
		fields = append(fields, f)
	}
	_ = kind
	return arrow.NewSchema(fields, nil), rightCols
}
