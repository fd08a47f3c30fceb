package query

import (
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ORDER BY keys that are not output columns.
//
// A key written as one of the select list's expressions — `ORDER BY
// count(*)` after `SELECT auction, count(*) …` — is that output column, as
// in Postgres, and so is such an expression inside a key (`ORDER BY
// -count(*)`): the parse trees are compared with their positions left out.
// Any other key must be an expression of the output columns (`ORDER BY
// -n`, `ORDER BY lower(name)`): it is computed as a hidden column after
// the select list, sorted on, and dropped (sortPlan.hidden). Postgres also
// takes input columns and aggregates missing from the select list; those
// are refused, with the fix (add it to the select list) in the message.

// selectListSubstitute returns key with every subexpression written as
// one of the select list's expressions replaced by a reference to that
// output column (named names[i]), so that `ORDER BY count(*)` and `ORDER
// BY -count(*)` bind over the output columns. Only a plain select list
// qualifies (no set operation, no *), where output column i is target i;
// otherwise key is returned as it is.
func selectListSubstitute(sel *pg.SelectStmt, key *pg.Node, names []string) *pg.Node {
	if sel.Op != pg.SetOperation_SETOP_NONE || len(sel.TargetList) != len(names) {
		return key
	}
	targets := make([]proto.Message, len(sel.TargetList))
	for i, t := range sel.TargetList {
		rt := t.GetResTarget()
		if rt == nil || rt.Val == nil {
			return key
		}
		if cr := rt.Val.GetColumnRef(); cr != nil {
			for _, f := range cr.Fields {
				if f.GetAStar() != nil {
					return key
				}
			}
		}
		targets[i] = withoutLocations(rt.Val)
	}
	match := func(n *pg.Node) *pg.Node {
		want := withoutLocations(n)
		for i, t := range targets {
			if proto.Equal(want, t) {
				return pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode(names[i])}, loc32(n))
			}
		}
		return nil
	}
	if r := match(key); r != nil {
		return r
	}
	c := proto.Clone(key).(*pg.Node)
	substituteNodes(c.ProtoReflect(), match)
	return c
}

// substituteNodes replaces, below m, every Node for which match returns a
// replacement, not descending into subqueries or into what it replaced.
func substituteNodes(m protoreflect.Message, match func(*pg.Node) *pg.Node) {
	if _, ok := m.Interface().(*pg.SubLink); ok {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() || fd.Message() == nil:
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				if n, ok := l.Get(i).Message().Interface().(*pg.Node); ok {
					if r := match(n); r != nil {
						l.Set(i, protoreflect.ValueOfMessage(r.ProtoReflect()))
						continue
					}
				}
				substituteNodes(l.Get(i).Message(), match)
			}
		default:
			if n, ok := v.Message().Interface().(*pg.Node); ok {
				if r := match(n); r != nil {
					m.Set(fd, protoreflect.ValueOfMessage(r.ProtoReflect()))
					return true
				}
			}
			substituteNodes(v.Message(), match)
		}
		return true
	})
}

// withoutLocations returns a copy of n with every location field cleared,
// so that two trees of the same expression written in two places compare
// equal.
func withoutLocations(n *pg.Node) proto.Message {
	c := proto.Clone(n)
	clearLocations(c.ProtoReflect())
	return c
}

func clearLocations(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Name() == "location":
			m.Clear(fd) // clearing the field being visited is allowed
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				clearLocations(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			clearLocations(v.Message())
		}
		return true
	})
}

// withHidden returns p with e appended as a hidden output column for
// sorting, and the column's index. Hidden columns are appended to one
// projection over p, made on the first call (hidden is then 0).
func withHidden(p Plan, hidden int, e Expr) (Plan, int) {
	if hidden > 0 {
		pr := p.(*projectPlan)
		exprs := append(pr.exprs[:len(pr.exprs):len(pr.exprs)], e)
		np := newProject(pr.input, exprs, append(schemaNames(pr.out), hiddenName(len(exprs)-1)))
		return np, len(exprs) - 1
	}
	s := p.Schema()
	exprs := make([]Expr, 0, s.NumFields()+1)
	for i, f := range s.Fields() {
		exprs = append(exprs, &ColumnRef{Index: i, Name: f.Name, Typ: f.Type})
	}
	exprs = append(exprs, e)
	return newProject(p, exprs, append(schemaNames(s), hiddenName(len(exprs)-1))), len(exprs) - 1
}

func hiddenName(i int) string { return "$order" + strconv.Itoa(i) }

func schemaNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}
