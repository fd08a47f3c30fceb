package server

import (
	"context"
	"net/http"
	"sort"

	"github.com/weirdata/weir/query"
)

// tableList is GET /api/tables' answer: what an editor completes and a
// schema browser shows.
type tableList struct {
	Tables []tableInfo `json:"tables"`
}

type tableInfo struct {
	Name      string   `json:"name"`
	Columns   []column `json:"columns"`
	EventTime string   `json:"event_time,omitempty"`
	History   string   `json:"history,omitempty"`
	Live      string   `json:"live,omitempty"`
	View      bool     `json:"view,omitempty"`
	SQL       string   `json:"sql,omitempty"` // a view's definition
	// Error says why the columns are unknown (a history that cannot be
	// read, a view over a dropped table); the entry is listed anyway.
	Error string `json:"error,omitempty"`
}

// apiTables lists the catalog's tables and views with their columns. The
// columns come from DESCRIBE, the engine's own answer, so they are the
// ones a query sees (a table's inferred schema, a view's output).
func (s *Server) apiTables(w http.ResponseWriter, r *http.Request) {
	cat := s.engine.Catalog
	out := tableList{Tables: []tableInfo{}}
	for _, name := range cat.Tables() {
		t, ok := cat.Table(name)
		if !ok {
			continue // dropped meanwhile
		}
		ti := tableInfo{Name: name, EventTime: t.EventTime, History: t.History, Live: t.Live}
		s.describe(r.Context(), &ti)
		out.Tables = append(out.Tables, ti)
	}
	for _, name := range cat.Views() {
		v, ok := cat.View(name)
		if !ok {
			continue
		}
		ti := tableInfo{Name: name, View: true, SQL: v.SQL}
		s.describe(r.Context(), &ti)
		out.Tables = append(out.Tables, ti)
	}
	sort.SliceStable(out.Tables, func(i, j int) bool { return out.Tables[i].Name < out.Tables[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// describe fills a relation's columns (and a view's event-time column).
func (s *Server) describe(ctx context.Context, ti *tableInfo) {
	ti.Columns = []column{}
	sink := &foldSink{}
	if err := s.engine.Execute(ctx, "DESCRIBE "+quoteIdent(ti.Name), query.RunOptions{}, sink); err != nil {
		ti.Error = errorMessage("", err).Message
		return
	}
	res := sink.result()
	if len(res.Results) != 1 {
		return
	}
	for _, row := range res.Results[0].Rows {
		if len(row) < 3 {
			continue
		}
		name, _ := row[0].(string)
		typ, _ := row[1].(string)
		ti.Columns = append(ti.Columns, column{Name: name, Type: typ})
		if isTime, _ := row[2].(bool); isTime && ti.EventTime == "" {
			ti.EventTime = name
		}
	}
}

// quoteIdent quotes a catalog name for SQL.
func quoteIdent(name string) string {
	out := []byte{'"'}
	for i := 0; i < len(name); i++ {
		if name[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, name[i])
	}
	return string(append(out, '"'))
}
