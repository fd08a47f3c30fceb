package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// tableOptions are the WITH (...) options of CREATE TABLE.
var tableOptions = map[string]string{
	"history":         "where the table's history is: a URL prefix or glob of Parquet files (file://, s3://)",
	"live":            "its live feed: nexmark://bids, kafka://…, nats://…, ingest://name",
	"event_time":      "the event-time column",
	"watermark_delay": "how far out of order events may be, e.g. '4 seconds'",
	"idle_timeout":    "after how long a silent split stops holding windows back (live runs)",
	"state_ttl":       "how far apart in event time rows of a regular join may be; older rows leave its state",
}

func (e *Engine) createTable(ctx context.Context, st Statement, cs *pg.CreateStmt) error {
	if cs.Relation == nil {
		return st.errorAt(-1, "CREATE TABLE without a name")
	}
	t := &TableDef{Name: cs.Relation.Relname}
	for _, el := range cs.TableElts {
		cd := el.GetColumnDef()
		if cd == nil {
			return st.unsupportedAt(loc32(el), "table constraints")
		}
		typ, err := ParseType(cd.TypeName)
		if err != nil {
			return st.errorAt(cd.Location, "column %q: %v", cd.Colname, err)
		}
		t.Columns = append(t.Columns, ColumnDef{Name: cd.Colname, Type: TypeName(typ)})
	}
	for _, o := range cs.Options {
		d := o.GetDefElem()
		name := strings.ToLower(d.Defname)
		val, err := defString(d)
		if err != nil {
			return st.errorAt(d.Location, "option %s: %v", name, err)
		}
		switch name {
		case "history":
			t.History = val
		case "live":
			t.Live = val
		case "event_time":
			t.EventTime = val
		case "watermark_delay", "idle_timeout":
			us, err := parseInterval(val, intervalFullRange)
			dur := time.Duration(us) * time.Microsecond
			if err != nil {
				return st.errorAt(d.Location, "option %s: %v", name, err)
			}
			if name == "watermark_delay" {
				t.WatermarkDelay = Duration(dur)
			} else {
				t.IdleTimeout = Duration(dur)
			}
		case "state_ttl":
			if _, err := parseInterval(val, intervalFullRange); err != nil {
				return st.errorAt(d.Location, "option %s: %v", name, err)
			}
			if t.Options == nil {
				t.Options = map[string]string{}
			}
			t.Options[name] = val
		default:
			var known []string
			for k := range tableOptions {
				known = append(known, k)
			}
			return st.errorAt(d.Location, "unknown table option %q (known: %s)", name, strings.Join(sortedStrings(known), ", "))
		}
	}
	if t.History == "" && t.Live == "" {
		return st.errorAt(cs.Relation.Location, "table %q needs history = '…' or live = '…' in WITH (…)", t.Name)
	}
	if _, ok := e.Catalog.Table(t.Name); ok && cs.IfNotExists {
		return nil
	}
	// Check it now, not at the first query: the URLs, the schema, the
	// event-time column.
	b := newBinder(ctx, e, st)
	if _, err := b.scan(t, cs.Relation.Location); err != nil {
		return err
	}
	if err := e.Catalog.CreateTable(t, false); err != nil {
		return st.errorAt(cs.Relation.Location, "%v", err)
	}
	return nil
}

func sortedStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// defString reads an option's value: a string, a number or an identifier.
func defString(d *pg.DefElem) (string, error) {
	switch {
	case d.Arg == nil:
		return "", fmt.Errorf("needs a value")
	case d.Arg.GetString_() != nil:
		return d.Arg.GetString_().Sval, nil
	case d.Arg.GetInteger() != nil:
		return strconv.Itoa(int(d.Arg.GetInteger().Ival)), nil
	case d.Arg.GetFloat() != nil:
		return d.Arg.GetFloat().Fval, nil
	case d.Arg.GetTypeName() != nil:
		names := d.Arg.GetTypeName().Names
		return names[len(names)-1].GetString_().Sval, nil
	}
	return "", fmt.Errorf("must be a string")
}

func (e *Engine) createView(ctx context.Context, st Statement, vs *pg.ViewStmt) error {
	name := vs.View.Relname
	// Keep the query's own text, canonical (deparsed), without CREATE VIEW.
	sql, err := pg.Deparse(&pg.ParseResult{Version: parseTreeVersion(), Stmts: []*pg.RawStmt{{Stmt: vs.Query}}})
	if err != nil {
		return st.errorAt(vs.View.Location, "view %q: %v", name, err)
	}
	// Check it binds.
	if _, err := newBinder(ctx, e, st).bindQuery(vs.Query); err != nil {
		return err
	}
	if err := e.Catalog.CreateView(&ViewDef{Name: name, SQL: sql}, vs.Replace); err != nil {
		return st.errorAt(vs.View.Location, "%v", err)
	}
	return nil
}

func (e *Engine) drop(st Statement, ds *pg.DropStmt) (string, error) {
	var view bool
	var tag string
	switch ds.RemoveType {
	case pg.ObjectType_OBJECT_TABLE:
		tag = "DROP TABLE"
	case pg.ObjectType_OBJECT_VIEW:
		view, tag = true, "DROP VIEW"
	default:
		return "", st.unsupportedAt(-1, "this DROP")
	}
	for _, obj := range ds.Objects {
		items := obj.GetList().GetItems()
		name := items[len(items)-1].GetString_().GetSval()
		err := e.Catalog.Drop(name, view)
		if err != nil && (!ds.MissingOk || !errors.Is(err, ErrNotFound)) {
			return "", st.errorAt(-1, "%v", err)
		}
	}
	return tag, nil
}

// parseTreeVersion is the parse-tree version of the linked libpg_query,
// which Deparse insists on (read once from a parse).
var parseTreeVersion = sync.OnceValue(func() int32 {
	res, err := pg.Parse("SELECT 1")
	if err != nil {
		return 0
	}
	return res.Version
})
