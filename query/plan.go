package query

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
)

// Plan is a node of a logical plan: what to compute, in relational terms,
// before it becomes a dataflow graph (compile.go). Planning never runs
// anything.
type Plan interface {
	// Schema is the output: column names and types.
	Schema() *arrow.Schema
	Inputs() []Plan
	// describe is the node's line in EXPLAIN.
	describe() string
	props() planProps
}

// planProps are the streaming properties of a plan's output.
type planProps struct {
	timeCol  int  // the event-time column, or −1
	winStart int  // window_start, or −1
	winEnd   int  // window_end, or −1
	updating bool // the output is a changelog with retractions
}

func noProps() planProps { return planProps{timeCol: -1, winStart: -1, winEnd: -1} }

// scanPlan reads a table: all its columns, or cols (in table order).
type scanPlan struct {
	table   *TableDef
	schema  *arrow.Schema // the table's full schema
	cols    []int         // the columns read (pruneColumns); nil = all
	timeCol int           // in the output, or −1
	out     *arrow.Schema
	// loc is where the query names the table (−1: nowhere), for the
	// errors of opening its data when the plan is compiled.
	loc int32
}

// Schema is the output: the columns read.
func (p *scanPlan) Schema() *arrow.Schema {
	if p.cols == nil {
		return p.schema
	}
	if p.out == nil {
		fields := make([]arrow.Field, len(p.cols))
		for i, c := range p.cols {
			fields[i] = p.schema.Field(c)
		}
		p.out = arrow.NewSchema(fields, nil)
	}
	return p.out
}

// columnNames are the names of the columns read.
func (p *scanPlan) columnNames() []string {
	s := p.Schema()
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

func (p *scanPlan) Inputs() []Plan { return nil }
func (p *scanPlan) describe() string {
	s := "Scan " + p.table.Name
	if p.cols != nil {
		s += " [" + strings.Join(p.columnNames(), ", ") + "]"
	}
	if p.table.EventTime != "" {
		s += fmt.Sprintf(" (event time %s, delay %s)", p.table.EventTime, time.Duration(p.table.WatermarkDelay))
	}
	return s
}
func (p *scanPlan) props() planProps {
	pr := noProps()
	pr.timeCol = p.timeCol
	return pr
}

// valuesPlan is one row with no columns: SELECT without FROM.
type valuesPlan struct{}

var emptySchema = arrow.NewSchema(nil, nil)

func (p *valuesPlan) Schema() *arrow.Schema { return emptySchema }
func (p *valuesPlan) Inputs() []Plan        { return nil }
func (p *valuesPlan) describe() string      { return "Values (1 row)" }
func (p *valuesPlan) props() planProps      { return noProps() }

// filterPlan keeps the rows where cond is true.
type filterPlan struct {
	input Plan
	cond  Expr
}

func (p *filterPlan) Schema() *arrow.Schema { return p.input.Schema() }
func (p *filterPlan) Inputs() []Plan        { return []Plan{p.input} }
func (p *filterPlan) describe() string      { return "Filter " + p.cond.String() }
func (p *filterPlan) props() planProps      { return p.input.props() }

// projectPlan computes new columns.
type projectPlan struct {
	input Plan
	exprs []Expr
	out   *arrow.Schema
}

func newProject(input Plan, exprs []Expr, names []string) *projectPlan {
	fields := make([]arrow.Field, len(exprs))
	for i, e := range exprs {
		fields[i] = arrow.Field{Name: names[i], Type: e.Type(), Nullable: true}
	}
	return &projectPlan{input: input, exprs: exprs, out: arrow.NewSchema(fields, nil)}
}

func (p *projectPlan) Schema() *arrow.Schema { return p.out }
func (p *projectPlan) Inputs() []Plan        { return []Plan{p.input} }
func (p *projectPlan) describe() string {
	parts := make([]string, len(p.exprs))
	for i, e := range p.exprs {
		parts[i] = e.String()
		if name := p.out.Field(i).Name; name != e.String() {
			parts[i] += " AS " + quoteIdent(name)
		}
	}
	return "Project " + strings.Join(parts, ", ")
}

// props carries the time and window columns through when they are
// projected as they are.
func (p *projectPlan) props() planProps {
	in := p.input.props()
	out := noProps()
	out.updating = in.updating
	for i, e := range p.exprs {
		if windowTimeOf(e, in.winEnd) && out.timeCol < 0 {
			out.timeCol = i // window_time: the rows' event time
			continue
		}
		c, ok := e.(*ColumnRef)
		if !ok {
			continue
		}
		switch c.Index {
		case in.timeCol:
			if out.timeCol < 0 {
				out.timeCol = i
			}
		case in.winStart:
			out.winStart = i
		case in.winEnd:
			out.winEnd = i
		}
	}
	return out
}

// windowKind is a windowing table function.
type windowKind uint8

const (
	tumbleWindow windowKind = iota
	hopWindow
	cumulateWindow
	sessionWindow
)

// windowSpec is a windowing table function's arguments.
type windowSpec struct {
	kind     windowKind
	timeCol  int // in the input
	size     time.Duration
	slide    time.Duration // HOP
	step     time.Duration // CUMULATE
	gap      time.Duration // SESSION
	funcName string
}

func (w *windowSpec) assigner() dataflow.Assigner {
	switch w.kind {
	case hopWindow:
		return dataflow.Hop(w.slide, w.size)
	case cumulateWindow:
		return dataflow.Cumulate(w.step, w.size)
	case sessionWindow:
		return dataflow.Session(w.gap)
	}
	return dataflow.Tumble(w.size)
}

// windowPlan is a windowing table function (TUMBLE, HOP, CUMULATE,
// SESSION): the input's rows with window_start and window_end. Under an
// aggregate grouped by the window, compile fuses the two into one window
// aggregate and no row is ever repeated; alone, each row is repeated once
// per window containing it.
type windowPlan struct {
	input Plan
	spec  windowSpec
	out   *arrow.Schema
}

func newWindowPlan(input Plan, spec windowSpec) *windowPlan {
	fields := append(append([]arrow.Field(nil), input.Schema().Fields()...),
		arrow.Field{Name: dataflow.WindowStartColumn, Type: columnar.TimestampType},
		arrow.Field{Name: dataflow.WindowEndColumn, Type: columnar.TimestampType})
	return &windowPlan{input: input, spec: spec, out: arrow.NewSchema(fields, nil)}
}

func (p *windowPlan) Schema() *arrow.Schema { return p.out }
func (p *windowPlan) Inputs() []Plan        { return []Plan{p.input} }
func (p *windowPlan) describe() string {
	return fmt.Sprintf("Window %s on %s", p.spec.assigner(), p.input.Schema().Field(p.spec.timeCol).Name)
}
func (p *windowPlan) props() planProps {
	in := p.input.props()
	n := p.input.Schema().NumFields()
	return planProps{timeCol: in.timeCol, winStart: n, winEnd: n + 1, updating: in.updating}
}

// aggCall is one aggregate of an aggregatePlan.
type aggCall struct {
	fn   dataflow.AggFunc
	arg  int // input column, −1 for count(*)
	name string
	typ  arrow.DataType
	text string  // as written, for EXPLAIN
	frac float64 // approx_percentile's fraction
}

// aggregatePlan groups its input. With window, it is a window aggregate
// whose output adds window_start and window_end after the keys; with
// fromColumns it groups an already windowed input by its windows; else it
// is a plain GROUP BY whose output updates (a changelog).
type aggregatePlan struct {
	input       Plan
	keys        []int
	aggs        []aggCall
	window      *windowSpec
	fromColumns bool
	out         *arrow.Schema
}

func newAggregate(input Plan, keys []int, aggs []aggCall, window *windowSpec, fromColumns bool) *aggregatePlan {
	in := input.Schema()
	var fields []arrow.Field
	for _, k := range keys {
		fields = append(fields, in.Field(k))
	}
	if window != nil || fromColumns {
		fields = append(fields,
			arrow.Field{Name: dataflow.WindowStartColumn, Type: columnar.TimestampType},
			arrow.Field{Name: dataflow.WindowEndColumn, Type: columnar.TimestampType})
	}
	for _, a := range aggs {
		fields = append(fields, arrow.Field{Name: a.name, Type: a.typ, Nullable: true})
	}
	return &aggregatePlan{input: input, keys: keys, aggs: aggs, window: window, fromColumns: fromColumns, out: arrow.NewSchema(fields, nil)}
}

func (p *aggregatePlan) Schema() *arrow.Schema { return p.out }
func (p *aggregatePlan) Inputs() []Plan        { return []Plan{p.input} }
func (p *aggregatePlan) windowed() bool        { return p.window != nil || p.fromColumns }
func (p *aggregatePlan) describe() string {
	var keys []string
	for _, k := range p.keys {
		keys = append(keys, p.input.Schema().Field(k).Name)
	}
	var aggs []string
	for _, a := range p.aggs {
		aggs = append(aggs, a.text)
	}
	kind := "GroupAggregate"
	switch {
	case p.window != nil:
		kind = fmt.Sprintf("WindowAggregate %s on %s", p.window.assigner(), p.input.Schema().Field(p.window.timeCol).Name)
	case p.fromColumns:
		kind = "WindowAggregate by window columns"
	}
	return fmt.Sprintf("%s keys=[%s] aggs=[%s]", kind, strings.Join(keys, ", "), strings.Join(aggs, ", "))
}
func (p *aggregatePlan) props() planProps {
	out := noProps()
	if p.windowed() {
		out.winStart, out.winEnd = len(p.keys), len(p.keys)+1
	}
	// A plain GROUP BY updates its rows; so does any aggregate of an
	// updating input.
	out.updating = !p.windowed() || p.input.props().updating
	return out
}

// sortKey orders by an output column.
type sortKey struct {
	col        int
	desc       bool
	nullsFirst bool
}

// sortPlan orders a bounded result and applies LIMIT/OFFSET. It runs when
// the result is complete (compile.go), so it is refused in live mode.
type sortPlan struct {
	input  Plan
	keys   []sortKey
	limit  int64 // −1: none
	offset int64
	// hidden is how many of the input's last columns are only sorted on
	// (ORDER BY expressions of output columns, bind_order.go); the result
	// leaves them out.
	hidden int
}

func (p *sortPlan) Schema() *arrow.Schema {
	s := p.input.Schema()
	if p.hidden == 0 {
		return s
	}
	md := s.Metadata()
	return arrow.NewSchema(s.Fields()[:s.NumFields()-p.hidden], &md)
}
func (p *sortPlan) Inputs() []Plan { return []Plan{p.input} }
func (p *sortPlan) describe() string {
	var parts []string
	for _, k := range p.keys {
		s := p.input.Schema().Field(k.col).Name
		if k.desc {
			s += " DESC"
		}
		parts = append(parts, s)
	}
	s := "Sort"
	if len(parts) > 0 {
		s += " " + strings.Join(parts, ", ")
	}
	if p.limit >= 0 {
		s += fmt.Sprintf(" LIMIT %d", p.limit)
	}
	if p.offset > 0 {
		s += fmt.Sprintf(" OFFSET %d", p.offset)
	}
	return s
}
func (p *sortPlan) props() planProps { return p.input.props() }

// unionPlan is UNION ALL.
type unionPlan struct{ inputs []Plan }

func (p *unionPlan) Schema() *arrow.Schema { return p.inputs[0].Schema() }
func (p *unionPlan) Inputs() []Plan        { return p.inputs }
func (p *unionPlan) describe() string      { return "Union all" }
func (p *unionPlan) props() planProps {
	out := p.inputs[0].props()
	for _, in := range p.inputs[1:] {
		pr := in.props()
		if pr.timeCol != out.timeCol {
			out.timeCol = -1
		}
		if pr.winStart != out.winStart || pr.winEnd != out.winEnd {
			out.winStart, out.winEnd = -1, -1
		}
		out.updating = out.updating || pr.updating
	}
	return out
}

// joinPlan is a window join: rows of the same window with equal keys.
type joinPlan struct {
	left, right         Plan
	kind                dataflow.JoinKind
	leftKeys, rightKeys []int
	out                 *arrow.Schema
	rightCols           []int // right column → output column (−1: window)
}

func (p *joinPlan) Schema() *arrow.Schema { return p.out }
func (p *joinPlan) Inputs() []Plan        { return []Plan{p.left, p.right} }
func (p *joinPlan) describe() string {
	var conds []string
	for i := range p.leftKeys {
		conds = append(conds, p.left.Schema().Field(p.leftKeys[i]).Name+" = "+p.right.Schema().Field(p.rightKeys[i]).Name)
	}
	return fmt.Sprintf("WindowJoin %s on window and [%s]", p.kind, strings.Join(conds, ", "))
}
func (p *joinPlan) props() planProps {
	l := p.left.props()
	return planProps{timeCol: -1, winStart: l.winStart, winEnd: l.winEnd, updating: l.updating || p.right.props().updating}
}

// explain draws a plan as an indented tree.
func explain(p Plan) string {
	var b strings.Builder
	var walk func(p Plan, depth int)
	walk = func(p Plan, depth int) {
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth), p.describe())
		for _, in := range p.Inputs() {
			walk(in, depth+1)
		}
	}
	walk(p, 0)
	return b.String()
}
