package query

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/internal/columnar"
)

// relCol is one column visible in a FROM clause.
type relCol struct {
	qual string // table name or alias
	name string
	typ  arrow.DataType
	// idx is the column of the plan's output this name reads (joins alias
	// the right side's window columns to the left's).
	idx int
	// hidden columns are not expanded by *.
	hidden bool
}

// relScope resolves names against the columns of a FROM clause (or of a
// query's output, for ORDER BY). aggs, when set, collects aggregate calls;
// otherwise aggregates are refused with where's wording.
type relScope struct {
	b     *stmtBinder
	cols  []relCol
	aggs  *aggCollector
	where string // the clause, for "aggregate functions are not allowed in WHERE"
	// winEnd, when windowTime is set, is the window_end column that
	// window_time reads (see windowTimeExpr): the scope of an aggregate
	// over windows.
	windowTime bool
	winEnd     int
}

func (s *relScope) Column(qual, name string, pos int) (Expr, error) {
	found := -1
	for i, c := range s.cols {
		if c.name != name || (qual != "" && c.qual != qual) {
			continue
		}
		if found >= 0 {
			return nil, s.b.stmt.errorAt(int32(pos), "column reference %q is ambiguous", name)
		}
		found = i
	}
	if found < 0 && qual == "" && name == windowTimeName && s.windowTime {
		end := &ColumnRef{Index: s.winEnd, Name: "window_end", Typ: columnar.TimestampType}
		s.b.pos[end] = int32(pos)
		return &windowTimeExpr{end: end}, nil
	}
	if found < 0 {
		full := name
		if qual != "" {
			full = qual + "." + name
			if !s.hasQual(qual) {
				return nil, s.b.stmt.errorAt(int32(pos), "missing FROM-clause entry for table %q", qual)
			}
		}
		return nil, s.b.stmt.errorAt(int32(pos), "column %q does not exist (columns: %s)", full, s.names())
	}
	c := s.cols[found]
	ref := &ColumnRef{Index: c.idx, Name: c.name, Typ: c.typ}
	s.b.pos[ref] = int32(pos)
	return ref, nil
}

func (s *relScope) hasQual(q string) bool {
	for _, c := range s.cols {
		if c.qual == q {
			return true
		}
	}
	return false
}

func (s *relScope) names() string {
	var ns []string
	for _, c := range s.cols {
		if c.qual != "" {
			ns = append(ns, c.qual+"."+c.name)
		} else {
			ns = append(ns, c.name)
		}
	}
	return strings.Join(ns, ", ")
}

func (s *relScope) Aggregate(call *pg.FuncCall, pos int) (Expr, error) {
	if s.aggs == nil {
		where := s.where
		if where == "" {
			where = "this context"
		}
		return nil, s.b.stmt.errorAt(int32(pos), "aggregate functions are not allowed in %s", where)
	}
	return s.aggs.add(call, pos)
}

// scopeOf returns a scope over a plan's output, every column qualified by qual.
func (b *stmtBinder) scopeOf(p Plan, qual string) *relScope {
	s := &relScope{b: b}
	for i, f := range p.Schema().Fields() {
		s.cols = append(s.cols, relCol{qual: qual, name: f.Name, typ: f.Type, idx: i})
	}
	return s
}

// aggRef stands for an aggregate's result while a select list is bound;
// the aggregate rewrite replaces it with a column of the aggregate's output.
type aggRef struct {
	index int
	typ   arrow.DataType
	text  string
}

func (a *aggRef) Type() arrow.DataType              { return a.typ }
func (a *aggRef) String() string                    { return a.text }
func (a *aggRef) Children() []Expr                  { return nil }
func (a *aggRef) WithChildren([]Expr) (Expr, error) { return a, nil }
func (a *aggRef) Eval(arrow.RecordBatch) (arrow.Array, error) {
	return nil, fmt.Errorf("internal: aggregate %s evaluated before aggregation", a.text)
}
