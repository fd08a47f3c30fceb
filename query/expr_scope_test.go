package query

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// testScope resolves columns of one table (qualified by its name or not)
// and refuses aggregates, like a WHERE clause.
type testScope struct {
	text   string
	table  string
	schema *arrow.Schema
}

func (s *testScope) Column(qualifier, name string, pos int) (Expr, error) {
	if qualifier != "" && qualifier != s.table {
		return nil, errorAt(s.text, pos, "missing FROM-clause entry for table %q", qualifier)
	}
	for i, f := range s.schema.Fields() {
		if f.Name == name {
			return &ColumnRef{Index: i, Name: name, Typ: f.Type}, nil
		}
	}
	return nil, errorAt(s.text, pos, "column %q does not exist", name)
}

func (s *testScope) Aggregate(call *pg.FuncCall, pos int) (Expr, error) {
	return nil, errorAt(s.text, pos, "aggregate functions are not allowed here")
}

// bindSQL parses "SELECT <expr> FROM t" and binds the expression over
// schema; the statement text is returned for positions.
func bindSQL(expr string, schema *arrow.Schema) (Expr, string, error) {
	text := "SELECT " + expr + " FROM t"
	stmts, err := Parse(text)
	if err != nil {
		return nil, text, err
	}
	if len(stmts) != 1 {
		return nil, text, fmt.Errorf("%d statements", len(stmts))
	}
	sel := stmts[0].Node.GetSelectStmt()
	if sel == nil || len(sel.TargetList) != 1 {
		return nil, text, fmt.Errorf("not a single-expression SELECT")
	}
	rt := sel.TargetList[0].GetResTarget()
	if rt == nil || rt.Val == nil {
		return nil, text, fmt.Errorf("not an expression")
	}
	e, err := BindExpr(text, rt.Val, &testScope{text: text, table: "t", schema: schema})
	return e, text, err
}

// mustBind binds and folds an expression or fails the test.
func mustBind(t testing.TB, expr string, schema *arrow.Schema) Expr {
	t.Helper()
	e, _, err := bindSQL(expr, schema)
	if err != nil {
		t.Fatalf("bind %s: %v", expr, err)
	}
	return e
}

// render prints an array's values as a test expects them: Postgres text,
// strings quoted, NULL.
func render(a arrow.Array) string {
	vals := make([]string, a.Len())
	for i := range vals {
		vals[i] = renderValue(a, i)
	}
	return strings.Join(vals, ", ")
}

func renderValue(a arrow.Array, i int) string {
	if a.DataType().ID() == arrow.NULL || a.IsNull(i) {
		return "NULL"
	}
	s := formatValue(a, i)
	if kindOf(a.DataType()) == kText {
		return quoteString(s)
	}
	return s
}
