package query

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Shared operands. SQL defines several constructs by repeating an operand:
// x BETWEEN SYMMETRIC a AND b compares x, a and b twice each, CASE x WHEN
// 1 … WHEN 2 compares x once per arm, NULLIF(x, y) is CASE WHEN x = y THEN
// NULL ELSE x END, and x IN (a, b) with a non-constant item is x = a OR x =
// b. Binding them by copying the operand would evaluate it once per use —
// CASE extract(dow FROM ts) WHEN 0 … WHEN 6 seven times — and nesting them
// would grow the tree exponentially. So an operand that is not a column or
// a constant is bound once as the value of a let, and the construct's body
// reads it through a slot: the let evaluates the value, appends it to the
// batch as an extra column, and evaluates the body on that batch; a slot
// reads the column its let appended (depth counts the lets between them).
// A let renders as the construct it was bound from (show), so that String
// stays linear in the size of the SQL; a slot elsewhere renders as the SQL
// of its value.

// let evaluates value once and makes it available to body as a slot.
type let struct {
	value, body Expr
	// show renders the construct as written (nil: the body).
	show func() string
}

// slot reads the value of an enclosing let.
type slot struct {
	depth int // 0: the innermost enclosing let
	typ   arrow.DataType
	shows Expr // the value's expression, for String only
}

var (
	_ Structural = (*let)(nil)
	_ Structural = (*slot)(nil)
)

func (l *let) Type() arrow.DataType { return l.body.Type() }

func (l *let) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	v, err := l.value.Eval(rec)
	if err != nil {
		return nil, err
	}
	return l.body.Eval(withColumn(rec, v))
}

// withColumn appends a column to a batch.
func withColumn(rec arrow.RecordBatch, col arrow.Array) arrow.RecordBatch {
	fields := append(rec.Schema().Fields(), arrow.Field{
		Name: fmt.Sprintf("$let%d", rec.NumCols()), Type: col.DataType(), Nullable: true,
	})
	cols := append(append(make([]arrow.Array, 0, rec.NumCols()+1), rec.Columns()...), col)
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}

func (l *let) String() string {
	if l.show != nil {
		return l.show()
	}
	return l.body.String()
}

func (l *let) Children() []Expr       { return []Expr{l.value, l.body} }
func (l *let) SameOp(other Expr) bool { _, ok := other.(*let); return ok }
func (l *let) WithChildren(ch []Expr) (Expr, error) {
	if len(ch) != 2 {
		return nil, fmt.Errorf("let with %d children", len(ch))
	}
	return &let{value: ch[0], body: ch[1], show: l.show}, nil
}

func (s *slot) Type() arrow.DataType { return s.typ }

func (s *slot) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	i := int(rec.NumCols()) - 1 - s.depth
	if i < 0 {
		return nil, fmt.Errorf("internal error: slot %d outside its let", s.depth)
	}
	return rec.Column(i), nil
}

func (s *slot) String() string                    { return s.shows.String() }
func (s *slot) Children() []Expr                  { return nil }
func (s *slot) WithChildren([]Expr) (Expr, error) { return s, nil }
func (s *slot) SameOp(other Expr) bool {
	o, ok := other.(*slot)
	return ok && o.depth == s.depth && arrow.TypeEqual(o.typ, s.typ)
}

// share prepares operands that a construct uses more than once: refs[i]
// stands for es[i] in the construct (es[i] itself when it is a column or a
// constant, else a slot), and wrap puts the lets around the bound body,
// the outermost rendering as show. The operands must not read slots
// themselves (they are bound on their own, before the construct).
func share(es ...Expr) (refs []Expr, wrap func(body Expr, show func() string) Expr) {
	refs = make([]Expr, len(es))
	var values []Expr
	var slots []*slot
	for i, e := range es {
		switch e.(type) {
		case *ColumnRef, *Literal:
			refs[i] = e
		default:
			s := &slot{typ: e.Type(), shows: e}
			values, slots = append(values, e), append(slots, s)
			refs[i] = s
		}
	}
	// The first shared value gets the outermost let: its slot is deepest.
	for j, s := range slots {
		s.depth = len(slots) - 1 - j
	}
	return refs, func(body Expr, show func() string) Expr {
		for i := len(values) - 1; i >= 0; i-- {
			l := &let{value: values[i], body: body}
			if i == 0 {
				l.show = show
			}
			body = l
		}
		return body
	}
}

// hasSlot reports whether e reads a slot of a let outside it.
func hasSlot(e Expr) bool {
	found := false
	var visit func(e Expr, lets int)
	visit = func(e Expr, lets int) {
		switch x := e.(type) {
		case *slot:
			found = found || x.depth >= lets
		case *let:
			visit(x.value, lets)
			visit(x.body, lets+1)
		default:
			for _, ch := range e.Children() {
				visit(ch, lets)
			}
		}
	}
	visit(e, 0)
	return found
}

// substitute replaces the slot of the let being removed (level lets deep
// inside it) with the constant c, and shifts deeper references.
func substitute(e Expr, c *Literal, level int) (Expr, error) {
	switch x := e.(type) {
	case *slot:
		switch {
		case x.depth == level:
			return c, nil
		case x.depth > level:
			return &slot{depth: x.depth - 1, typ: x.typ, shows: x.shows}, nil
		}
		return x, nil
	case *let:
		v, err := substitute(x.value, c, level)
		if err != nil {
			return nil, err
		}
		b, err := substitute(x.body, c, level+1)
		if err != nil {
			return nil, err
		}
		return &let{value: v, body: b, show: x.show}, nil
	}
	kids := e.Children()
	if len(kids) == 0 {
		return e, nil
	}
	out := make([]Expr, len(kids))
	changed := false
	for i, k := range kids {
		s, err := substitute(k, c, level)
		if err != nil {
			return nil, err
		}
		out[i] = s
		changed = changed || s != k
	}
	if !changed {
		return e, nil
	}
	return e.WithChildren(out)
}
