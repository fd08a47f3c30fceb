package query

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/dataflow"
)

// bindJoin binds JOIN … ON and chooses the join's kind:
//
//   - a window join when both sides are windowed (window_start, window_end);
//   - an interval join when ON bounds one side's event time by the other's:
//     r.ts BETWEEN l.ts - INTERVAL '…' AND l.ts + INTERVAL '…' (or the two
//     comparisons >=, <=), besides key equalities;
//   - a lookup join when one side is a bounded table (a table with history
//     and no live feed, scanned directly), in any mode;
//   - otherwise a regular join, with the state TTL of the tables' state_ttl
//     option (the smaller, when both set one).
//
// Interval, lookup and regular joins need at least one key equality.
func (b *stmtBinder) bindJoin(j *pg.JoinExpr) (Plan, *relScope, error) {
	if j.IsNatural || len(j.UsingClause) > 0 {
		return nil, nil, b.stmt.unsupportedAt(loc32(j.Larg), "NATURAL and USING joins; write JOIN ... ON")
	}
	var kind dataflow.JoinKind
	switch j.Jointype {
	case pg.JoinType_JOIN_INNER:
		kind = dataflow.InnerJoin
	case pg.JoinType_JOIN_LEFT:
		kind = dataflow.LeftOuterJoin
	case pg.JoinType_JOIN_RIGHT:
		kind = dataflow.RightOuterJoin
	case pg.JoinType_JOIN_FULL:
		kind = dataflow.FullOuterJoin
	default:
		return nil, nil, b.stmt.unsupportedAt(loc32(j.Larg), "this join type")
	}
	left, ls, err := b.bindFromItem(j.Larg)
	if err != nil {
		return nil, nil, err
	}
	right, rs, err := b.bindFromItem(j.Rarg)
	if err != nil {
		return nil, nil, err
	}
	lp, rp := left.props(), right.props()
	if lp.winStart >= 0 && rp.winStart >= 0 && lp.winEnd >= 0 && rp.winEnd >= 0 {
		return b.bindWindowJoin(j, kind, left, ls, right, rs)
	}
	if j.Quals == nil {
		return nil, nil, b.stmt.errorAt(loc32(j.Rarg), "a join needs ON with key equalities")
	}
	// The combined scope, which is also the output's: left columns, then
	// right columns (dataflow.JoinSchema).
	nl := left.Schema().NumFields()
	scope := &relScope{b: b, cols: append([]relCol(nil), ls.cols...), where: "JOIN conditions"}
	for _, c := range rs.cols {
		c.idx += nl
		scope.cols = append(scope.cols, c)
	}
	// Time bounds are recognized on the syntax tree, the rest bound as usual.
	var rest []*pg.Node
	var lower, upper *int64
	for _, n := range andArgs(j.Quals) {
		bounds, ok, err := b.timeBounds(n, scope, nl, lp.timeCol, rp.timeCol)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			rest = append(rest, n)
			continue
		}
		for _, bd := range bounds {
			v := bd.v
			if bd.upper {
				if upper == nil || v < *upper {
					upper = &v
				}
			} else if lower == nil || v > *lower {
				lower = &v
			}
		}
	}
	var lkeys, rkeys []int
	var residual []Expr
	if len(rest) > 0 {
		node := rest[0]
		if len(rest) > 1 {
			node = pg.MakeBoolExprNode(pg.BoolExprType_AND_EXPR, rest, loc32(rest[0]))
		}
		cond, err := BindExpr(b.stmt.Text, node, scope)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range Conjuncts(cond) {
			l, r, ok := equiColumns(c, nl)
			if !ok {
				residual = append(residual, c)
				continue
			}
			if !arrow.TypeEqual(left.Schema().Field(l).Type, right.Schema().Field(r).Type) {
				return nil, nil, b.stmt.errorAt(loc32(j.Quals), "join keys %s (%s) and %s (%s) must have the same type",
					left.Schema().Field(l).Name, TypeName(left.Schema().Field(l).Type), right.Schema().Field(r).Name, TypeName(right.Schema().Field(r).Type))
			}
			lkeys, rkeys = append(lkeys, l), append(rkeys, r)
		}
	}
	if len(lkeys) == 0 {
		return nil, nil, b.stmt.unsupportedAt(loc32(j.Quals), "a join of streams without a key equality (l.k = r.k) in ON")
	}
	if kind != dataflow.InnerJoin && kind != dataflow.LeftOuterJoin {
		return nil, nil, b.stmt.unsupportedAt(loc32(j.Larg), "%s joins of streams that are not both windowed (inner and LEFT joins are)", strings.ToLower(kind.String()))
	}
	if len(residual) > 0 && kind != dataflow.InnerJoin {
		return nil, nil, b.stmt.unsupportedAt(loc32(j.Quals), "conditions other than key equalities in the ON of a LEFT join")
	}
	jp := &streamJoinPlan{left: left, right: right, kind: kind, leftKeys: lkeys, rightKeys: rkeys}
	switch {
	case lower != nil || upper != nil:
		if lower == nil || upper == nil {
			return nil, nil, b.stmt.unsupportedAt(loc32(j.Quals), "an interval join bounded on one side only; bound the other side's time from below and above")
		}
		if kind != dataflow.InnerJoin {
			return nil, nil, b.stmt.unsupportedAt(loc32(j.Larg), "LEFT interval joins")
		}
		if *lower > *upper {
			return nil, nil, b.stmt.errorAt(loc32(j.Quals), "the interval join's time bounds are empty (lower bound after upper bound)")
		}
		jp.join, jp.lower, jp.upper = intervalJoin, time.Duration(*lower)*time.Microsecond, time.Duration(*upper)*time.Microsecond
	case boundedScan(right) != nil:
		jp.join = lookupJoin
		jp.right = boundedScan(right)
	case boundedScan(left) != nil && kind == dataflow.InnerJoin:
		// The table is on the left: probe it with the right side, then put
		// the columns back in order.
		sw := &streamJoinPlan{join: lookupJoin, left: right, right: boundedScan(left), kind: kind, leftKeys: rkeys, rightKeys: lkeys}
		sw.out = dataflow.JoinSchema(right.Schema(), left.Schema())
		nr := right.Schema().NumFields()
		exprs := make([]Expr, 0, sw.out.NumFields())
		names := make([]string, 0, sw.out.NumFields())
		for i, f := range left.Schema().Fields() {
			exprs, names = append(exprs, &ColumnRef{Index: nr + i, Name: sw.out.Field(nr + i).Name, Typ: f.Type}), append(names, f.Name)
		}
		for i, f := range right.Schema().Fields() {
			exprs, names = append(exprs, &ColumnRef{Index: i, Name: f.Name, Typ: f.Type}), append(names, f.Name)
		}
		out := dataflow.JoinSchema(left.Schema(), right.Schema())
		for i := range names {
			names[i] = out.Field(i).Name
		}
		return b.finishJoin(newProject(sw, exprs, names), scope, residual)
	default:
		jp.join = regularJoin
		ttl, err := b.stateTTL(left, right)
		if err != nil {
			return nil, nil, b.stmt.errorAt(loc32(j.Larg), "%v", err)
		}
		jp.ttl = ttl
	}
	if jp.join != lookupJoin && (lp.updating || rp.updating) {
		return nil, nil, b.stmt.unsupportedAt(loc32(j.Larg), "a %s of an updating input (a changelog, such as a GROUP BY without windows)", jp.join)
	}
	if jp.join == lookupJoin && lp.updating && kind != dataflow.InnerJoin {
		return nil, nil, b.stmt.unsupportedAt(loc32(j.Larg), "a LEFT lookup join of an updating input")
	}
	if (jp.join == intervalJoin || jp.ttl > 0) && (lp.timeCol < 0 || rp.timeCol < 0) {
		return nil, nil, b.stmt.errorAt(loc32(j.Larg), "a %s needs event time on both sides (event_time on the tables)", jp.join)
	}
	jp.out = dataflow.JoinSchema(jp.left.Schema(), jp.right.Schema())
	return b.finishJoin(jp, scope, residual)
}

// finishJoin adds the residual conditions over the join's output.
func (b *stmtBinder) finishJoin(p Plan, scope *relScope, residual []Expr) (Plan, *relScope, error) {
	scope.where = ""
	if len(residual) > 0 {
		p = &filterPlan{input: p, cond: And(residual...)}
	}
	return p, scope, nil
}

// andArgs splits a condition's syntax tree at its top-level ANDs.
func andArgs(n *pg.Node) []*pg.Node {
	if be := n.GetBoolExpr(); be != nil && be.Boolop == pg.BoolExprType_AND_EXPR {
		var out []*pg.Node
		for _, a := range be.Args {
			out = append(out, andArgs(a)...)
		}
		return out
	}
	return []*pg.Node{n}
}

// timeBound is a bound on right time − left time, in µs.
type timeBound struct {
	upper bool
	v     int64
}

// timeBounds recognizes a bound between the two sides' event times:
// x BETWEEN y ± a AND y ± b, or x op y ± a with op one of >=, >, <=, <, where
// x and y are the event-time columns of the two sides (either way round).
func (b *stmtBinder) timeBounds(n *pg.Node, scope *relScope, nl, ltime, rtime int) ([]timeBound, bool, error) {
	ax := n.GetAExpr()
	if ax == nil || ltime < 0 || rtime < 0 {
		return nil, false, nil
	}
	type term struct {
		col int
		off int64
	}
	var termOf func(n *pg.Node) (term, bool)
	termOf = func(n *pg.Node) (term, bool) {
		if n.GetColumnRef() != nil {
			e, err := BindExpr(b.stmt.Text, n, scope)
			if c, ok := e.(*ColumnRef); err == nil && ok {
				return term{col: c.Index}, true
			}
			return term{}, false
		}
		op := n.GetAExpr()
		if op == nil || op.Kind != pg.A_Expr_Kind_AEXPR_OP || len(op.Name) != 1 || op.Lexpr == nil || op.Lexpr.GetColumnRef() == nil {
			return term{}, false
		}
		sym := op.Name[0].GetString_().GetSval()
		if sym != "+" && sym != "-" {
			return term{}, false
		}
		t, ok := termOf(op.Lexpr)
		if !ok {
			return term{}, false
		}
		e, err := BindExpr(b.stmt.Text, op.Rexpr, &relScope{b: b, where: "an interval join bound"})
		if err != nil {
			return term{}, false
		}
		v, err := constValue(e)
		d, isDur := v.(time.Duration)
		if err != nil || !isDur {
			return term{}, false
		}
		t.off = d.Microseconds()
		if sym == "-" {
			t.off = -t.off
		}
		return t, true
	}
	lt, rt := ltime, nl+rtime
	// bound turns "x op y + off" into bounds on d = r − l.
	bound := func(x, y term, op string) (timeBound, bool) {
		off := y.off - x.off
		var upper bool
		switch op {
		case ">=", ">":
			upper = false
		case "<=", "<":
			upper = true
		default:
			return timeBound{}, false
		}
		strict := op == ">" || op == "<"
		switch {
		case x.col == rt && y.col == lt: // r op l + off
		case x.col == lt && y.col == rt: // l op r + off  ⇔  d op' −off
			off, upper = -off, !upper
		default:
			return timeBound{}, false
		}
		if strict {
			if upper {
				off--
			} else {
				off++
			}
		}
		return timeBound{upper: upper, v: off}, true
	}
	switch ax.Kind {
	case pg.A_Expr_Kind_AEXPR_BETWEEN:
		list := ax.Rexpr.GetList()
		if list == nil || len(list.Items) != 2 {
			return nil, false, nil
		}
		x, ok1 := termOf(ax.Lexpr)
		lo, ok2 := termOf(list.Items[0])
		hi, ok3 := termOf(list.Items[1])
		if !ok1 || !ok2 || !ok3 {
			return nil, false, nil
		}
		b1, ok1 := bound(x, lo, ">=")
		b2, ok2 := bound(x, hi, "<=")
		if !ok1 || !ok2 {
			return nil, false, nil
		}
		return []timeBound{b1, b2}, true, nil
	case pg.A_Expr_Kind_AEXPR_OP:
		if len(ax.Name) != 1 || ax.Lexpr == nil || ax.Rexpr == nil {
			return nil, false, nil
		}
		x, ok1 := termOf(ax.Lexpr)
		y, ok2 := termOf(ax.Rexpr)
		if !ok1 || !ok2 {
			return nil, false, nil
		}
		bd, ok := bound(x, y, ax.Name[0].GetString_().GetSval())
		if !ok {
			return nil, false, nil
		}
		return []timeBound{bd}, true, nil
	}
	return nil, false, nil
}

// boundedScan returns p as a scan of a bounded table (history only) read
// without event time, or nil: a lookup join reads the whole table first.
func boundedScan(p Plan) *scanPlan {
	s, ok := p.(*scanPlan)
	if !ok || s.table.Live != "" || s.table.History == "" {
		return nil
	}
	t := *s.table
	t.EventTime, t.WatermarkDelay, t.IdleTimeout = "", 0, 0
	return &scanPlan{table: &t, schema: s.schema, cols: s.cols, timeCol: -1, loc: s.loc}
}

// stateTTL is the state TTL of a regular join: the smallest state_ttl
// option of the tables scanned on either side (0: none).
func (b *stmtBinder) stateTTL(plans ...Plan) (time.Duration, error) {
	var ttl time.Duration
	var walk func(p Plan) error
	walk = func(p Plan) error {
		if s, ok := p.(*scanPlan); ok {
			if v, ok := s.table.Options["state_ttl"]; ok {
				us, err := parseInterval(v, intervalFullRange)
				if err != nil {
					return fmt.Errorf("table %q: state_ttl: %w", s.table.Name, err)
				}
				if d := time.Duration(us) * time.Microsecond; d > 0 && (ttl == 0 || d < ttl) {
					ttl = d
				}
			}
		}
		for _, in := range p.Inputs() {
			if err := walk(in); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range plans {
		if err := walk(p); err != nil {
			return 0, err
		}
	}
	return ttl, nil
}

// streamJoinKind is the operator of a streamJoinPlan.
type streamJoinKind uint8

const (
	regularJoin streamJoinKind = iota
	intervalJoin
	lookupJoin
)

func (k streamJoinKind) String() string {
	return [...]string{"regular join", "interval join", "lookup join"}[k]
}

// streamJoinPlan is a join of streams that are not both windowed: an
// interval, lookup or regular join (bindJoin). Output: left columns, then
// right columns (dataflow.JoinSchema).
type streamJoinPlan struct {
	join                streamJoinKind
	left, right         Plan
	kind                dataflow.JoinKind
	leftKeys, rightKeys []int
	lower, upper        time.Duration // interval join: right time − left time
	ttl                 time.Duration // regular join
	out                 *arrow.Schema
}

func (p *streamJoinPlan) Schema() *arrow.Schema { return p.out }
func (p *streamJoinPlan) Inputs() []Plan        { return []Plan{p.left, p.right} }
func (p *streamJoinPlan) withInputs(ins []Plan) Plan {
	np := *p
	np.left, np.right = ins[0], ins[1]
	return &np
}
func (p *streamJoinPlan) describe() string {
	var conds []string
	for i := range p.leftKeys {
		conds = append(conds, p.left.Schema().Field(p.leftKeys[i]).Name+" = "+p.right.Schema().Field(p.rightKeys[i]).Name)
	}
	s := fmt.Sprintf("%s %s on [%s]", strings.ToUpper(p.join.String()[:1])+p.join.String()[1:], p.kind, strings.Join(conds, ", "))
	switch {
	case p.join == intervalJoin:
		s += fmt.Sprintf(" time right−left in [%s, %s]", p.lower, p.upper)
	case p.ttl > 0:
		s += fmt.Sprintf(" state TTL %s", p.ttl)
	}
	return s
}
func (p *streamJoinPlan) props() planProps {
	l, r := p.left.props(), p.right.props()
	out := noProps()
	switch p.join {
	case intervalJoin:
		out.timeCol = l.timeCol
	case lookupJoin:
		out.timeCol, out.updating = l.timeCol, l.updating
	default:
		out.updating = p.kind != dataflow.InnerJoin || l.updating || r.updating
	}
	return out
}

// bindWindowJoin binds a window join: both sides windowed by the same kind
// of window, joined on window_start and window_end plus equalities.
func (b *stmtBinder) bindWindowJoin(j *pg.JoinExpr, kind dataflow.JoinKind, left Plan, ls *relScope, right Plan, rs *relScope) (Plan, *relScope, error) {
	lp, rp := left.props(), right.props()
	var err error
	// The combined scope: left columns, then right columns (window
	// columns of the right read the left's: equal in every joined row).
	nl := left.Schema().NumFields()
	scope := &relScope{b: b, cols: append([]relCol(nil), ls.cols...)}
	for _, c := range rs.cols {
		c.idx += nl
		scope.cols = append(scope.cols, c)
	}
	if j.Quals == nil {
		return nil, nil, b.stmt.errorAt(loc32(j.Rarg), "a window join needs ON with the windows' equality")
	}
	scope.where = "JOIN conditions"
	cond, err := BindExpr(b.stmt.Text, j.Quals, scope)
	if err != nil {
		return nil, nil, err
	}
	var lkeys, rkeys []int
	var residual []Expr
	sameStart, sameEnd := false, false
	for _, c := range Conjuncts(cond) {
		l, r, ok := equiColumns(c, nl)
		switch {
		case !ok:
			residual = append(residual, c)
		case l == lp.winStart && r == rp.winStart:
			sameStart = true
		case l == lp.winEnd && r == rp.winEnd:
			sameEnd = true
		default:
			if !arrow.TypeEqual(left.Schema().Field(l).Type, right.Schema().Field(r).Type) {
				return nil, nil, b.stmt.errorAt(loc32(j.Quals), "join keys %s (%s) and %s (%s) must have the same type",
					left.Schema().Field(l).Name, TypeName(left.Schema().Field(l).Type), right.Schema().Field(r).Name, TypeName(right.Schema().Field(r).Type))
			}
			lkeys, rkeys = append(lkeys, l), append(rkeys, r)
		}
	}
	if !sameStart || !sameEnd {
		return nil, nil, b.stmt.errorAt(loc32(j.Quals), "a window join must match both windows: ON l.window_start = r.window_start AND l.window_end = r.window_end")
	}
	if len(residual) > 0 && kind != dataflow.InnerJoin {
		return nil, nil, b.stmt.unsupportedAt(loc32(j.Quals), "conditions other than equalities in an outer window join")
	}
	jp := &joinPlan{left: left, right: right, kind: kind, leftKeys: lkeys, rightKeys: rkeys}
	jp.out, jp.rightCols = windowJoinSchema(left.Schema(), right.Schema(), kind)
	// Map the scope to the join's output columns.
	out := &relScope{b: b, cols: append([]relCol(nil), ls.cols...)}
	for _, c := range rs.cols {
		if c.idx == rp.winStart || c.idx == rp.winEnd {
			if c.idx == rp.winStart {
				c.idx = lp.winStart
			} else {
				c.idx = lp.winEnd
			}
			c.hidden = true
		} else {
			c.idx = jp.rightCols[c.idx]
		}
		out.cols = append(out.cols, c)
	}
	var p Plan = jp
	if len(residual) > 0 {
		// Residual conditions were bound over left ++ right; remap them.
		mapping := make([]int, nl+right.Schema().NumFields())
		for i := 0; i < nl; i++ {
			mapping[i] = i
		}
		for i := range right.Schema().Fields() {
			switch i {
			case rp.winStart:
				mapping[nl+i] = lp.winStart
			case rp.winEnd:
				mapping[nl+i] = lp.winEnd
			default:
				mapping[nl+i] = jp.rightCols[i]
			}
		}
		rc, err := Remap(And(residual...), mapping)
		if err != nil {
			return nil, nil, err
		}
		p = &filterPlan{input: p, cond: rc}
	}
	return p, out, nil
}
