package query

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Expr is a bound, typed scalar expression, evaluated on whole record
// batches (vectorized: one call per batch, typed loops inside, no per-row
// boxing). SQL NULL semantics throughout: NULL in, NULL out, except where SQL
// says otherwise (AND/OR three-valued logic, IS NULL, COALESCE, CASE).
type Expr interface {
	// Type is the Arrow type of the result.
	Type() arrow.DataType
	// Eval computes the expression for every row of rec. The result has
	// rec.NumRows() rows. It must not modify rec.
	Eval(rec arrow.RecordBatch) (arrow.Array, error)
	// String renders the expression as SQL, for EXPLAIN and messages.
	String() string
	// Children returns the direct sub-expressions (nil for leaves), and
	// WithChildren a copy of the node with them replaced (same count, same
	// order). Every analysis and rewrite (Transform, folding, pushdown,
	// GROUP BY matching) walks expressions through these two methods only.
	Children() []Expr
	WithChildren(children []Expr) (Expr, error)
}

// Transform rewrites e bottom-up: f sees each node after its children were
// transformed, and returns the node to use in its place.
func Transform(e Expr, f func(Expr) (Expr, error)) (Expr, error) {
	kids := e.Children()
	if len(kids) > 0 {
		changed := false
		out := make([]Expr, len(kids))
		for i, k := range kids {
			nk, err := Transform(k, f)
			if err != nil {
				return nil, err
			}
			out[i] = nk
			changed = changed || nk != k
		}
		if changed {
			var err error
			if e, err = e.WithChildren(out); err != nil {
				return nil, err
			}
		}
	}
	return f(e)
}

// Walk calls f for e and every sub-expression, parents first, while f
// returns true.
func Walk(e Expr, f func(Expr) bool) {
	if !f(e) {
		return
	}
	for _, k := range e.Children() {
		Walk(k, f)
	}
}

// ColumnRef reads column Index of the input.
type ColumnRef struct {
	Index int
	Name  string
	Typ   arrow.DataType
}

func (c *ColumnRef) Type() arrow.DataType              { return c.Typ }
func (c *ColumnRef) Children() []Expr                  { return nil }
func (c *ColumnRef) WithChildren([]Expr) (Expr, error) { return c, nil }
func (c *ColumnRef) String() string                    { return quoteIdent(c.Name) }
func (c *ColumnRef) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	if c.Index >= int(rec.NumCols()) {
		return nil, fmt.Errorf("column %d (%s) out of range of a %d-column batch", c.Index, c.Name, rec.NumCols())
	}
	return rec.Column(c.Index), nil
}

// Scope resolves the names an expression refers to while it is bound.
type Scope interface {
	// Column resolves a column reference: qualifier is the table name or
	// alias ("" when unqualified); pos is the reference's byte offset in the
	// statement text, for errors.
	Column(qualifier, name string, pos int) (Expr, error)
	// Aggregate binds an aggregate call (count, sum, min, max, avg,
	// approx_percentile, …) appearing in an expression and returns the
	// expression that reads its result; a scope where aggregates are not
	// allowed (WHERE) returns an error.
	Aggregate(call *pg.FuncCall, pos int) (Expr, error)
}

// quoteIdent renders an identifier, quoted only when it needs to be.
func quoteIdent(s string) string {
	plain := s != ""
	for i, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (i == 0 || r < '0' || r > '9') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, s[i])
	}
	return string(append(out, '"'))
}
