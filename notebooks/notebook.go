// Package notebooks is weir's notebook model and its persistence: ordered
// SQL and markdown cells stored as readable JSON files in the workspace,
// plus the demo notebooks embedded in the binary.
//
// A notebook does not run anything: the server runs its cells. The file
// format is the one of docs/api.md:
//
//	{
//	  "title": "Live Nexmark dashboard",
//	  "cells": [
//	    {"id": "intro", "kind": "markdown", "source": "# Bids, live"},
//	    {"id": "bps", "kind": "sql", "source": "SELECT …", "mode": "live",
//	     "from": "", "to": "", "chart": {"type": "line", "x": "window_start", "y": ["bids"]},
//	     "dashboard": true}
//	  ]
//	}
//
// Fields a client adds that this package does not know (a cell's height, a
// collapsed flag) are kept as they are, on the notebook, its cells and their
// charts: the UI can grow without a server change. The file does not hold
// the notebook's name (its file name) nor when it was modified (the file's
// time); both are filled when a notebook is read.
package notebooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Cell kinds.
const (
	KindSQL      = "sql"
	KindMarkdown = "markdown"
)

// Notebook is an ordered list of cells with a title.
type Notebook struct {
	// Name and Modified are filled when a notebook is read; they are not
	// stored in its file.
	Name     string `json:"name,omitempty"`
	Title    string `json:"title"`
	Modified string `json:"modified,omitempty"`
	Cells    []Cell `json:"cells"`
	// Extra holds the fields this package does not know, as they came.
	Extra map[string]json.RawMessage `json:"-"`
}

// Cell is one SQL or markdown cell.
type Cell struct {
	// ID is unique within the notebook; Put assigns one to a cell without.
	ID string `json:"id"`
	// Kind is "sql" or "markdown".
	Kind   string `json:"kind"`
	Source string `json:"source"`
	// Mode is "backfill" (the default) or "live"; From and To are RFC 3339
	// times or empty (open).
	Mode  string `json:"mode,omitempty"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	Chart *Chart `json:"chart,omitempty"`
	// Dashboard shows the cell's output in the dashboard view.
	Dashboard bool                       `json:"dashboard,omitempty"`
	Extra     map[string]json.RawMessage `json:"-"`
}

// Chart is how a SQL cell's result is drawn.
type Chart struct {
	// Type is "auto" (the default), "table", "line" or "bar".
	Type  string                     `json:"type,omitempty"`
	X     string                     `json:"x,omitempty"`
	Y     []string                   `json:"y,omitempty"`
	Extra map[string]json.RawMessage `json:"-"`
}

// ErrInvalid wraps every reason a notebook is refused.
var ErrInvalid = errors.New("invalid notebook")

var chartTypes = map[string]bool{"": true, "auto": true, "table": true, "line": true, "bar": true}

// Normalize checks a notebook and fills what may be left out: a cell
// without an id gets one ("cell-N"). The error names the cell at fault.
func (n *Notebook) Normalize() error {
	if n.Cells == nil {
		n.Cells = []Cell{}
	}
	if len(n.Title) > 1000 {
		return fmt.Errorf("%w: the title is longer than 1,000 bytes", ErrInvalid)
	}
	seen := map[string]bool{}
	for i := range n.Cells {
		if id := n.Cells[i].ID; id != "" {
			if seen[id] {
				return fmt.Errorf("%w: cell %d: id %q is used twice", ErrInvalid, i+1, id)
			}
			seen[id] = true
		}
	}
	next := 1
	for i := range n.Cells {
		c := &n.Cells[i]
		if c.ID == "" {
			for seen[fmt.Sprintf("cell-%d", next)] {
				next++
			}
			c.ID = fmt.Sprintf("cell-%d", next)
			seen[c.ID] = true
		}
		if err := c.check(); err != nil {
			return fmt.Errorf("%w: cell %d (%s): %v", ErrInvalid, i+1, c.ID, err)
		}
	}
	return nil
}

func (c *Cell) check() error {
	switch c.Kind {
	case KindSQL, KindMarkdown:
	case "":
		return errors.New(`kind is missing ("sql" or "markdown")`)
	default:
		return fmt.Errorf(`kind %q is not "sql" or "markdown"`, c.Kind)
	}
	switch c.Mode {
	case "", "backfill", "live":
	default:
		return fmt.Errorf(`mode %q is not "backfill" or "live"`, c.Mode)
	}
	var from, to time.Time
	for _, f := range []struct {
		name string
		v    string
		into *time.Time
	}{{"from", c.From, &from}, {"to", c.To, &to}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.v)
		if err != nil {
			return fmt.Errorf("%s %q is not an RFC 3339 time (2026-01-01T00:00:00Z)", f.name, f.v)
		}
		*f.into = t
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return fmt.Errorf("from %s is not before to %s", c.From, c.To)
	}
	if c.Chart != nil && !chartTypes[c.Chart.Type] {
		return fmt.Errorf(`chart type %q is not "auto", "table", "line" or "bar"`, c.Chart.Type)
	}
	return nil
}

// The JSON methods keep unknown fields. Known fields are written first, in
// the struct's order, then the unknown ones sorted by name.

type notebookJSON Notebook
type cellJSON Cell
type chartJSON Chart

var (
	notebookKeys = []string{"name", "title", "modified", "cells"}
	cellKeys     = []string{"id", "kind", "source", "mode", "from", "to", "chart", "dashboard"}
	chartKeys    = []string{"type", "x", "y"}
)

// MarshalJSON writes the notebook with its unknown fields.
func (n Notebook) MarshalJSON() ([]byte, error) { return withExtra(notebookJSON(n), n.Extra) }

// UnmarshalJSON reads a notebook, keeping fields it does not know.
func (n *Notebook) UnmarshalJSON(b []byte) error {
	var v notebookJSON
	extra, err := readWithExtra(b, &v, notebookKeys)
	if err != nil {
		return err
	}
	*n = Notebook(v)
	n.Extra = extra
	return nil
}

// MarshalJSON writes the cell with its unknown fields.
func (c Cell) MarshalJSON() ([]byte, error) { return withExtra(cellJSON(c), c.Extra) }

// UnmarshalJSON reads a cell, keeping fields it does not know.
func (c *Cell) UnmarshalJSON(b []byte) error {
	var v cellJSON
	extra, err := readWithExtra(b, &v, cellKeys)
	if err != nil {
		return err
	}
	*c = Cell(v)
	c.Extra = extra
	return nil
}

// MarshalJSON writes the chart with its unknown fields.
func (c Chart) MarshalJSON() ([]byte, error) { return withExtra(chartJSON(c), c.Extra) }

// UnmarshalJSON reads a chart, keeping fields it does not know.
func (c *Chart) UnmarshalJSON(b []byte) error {
	var v chartJSON
	extra, err := readWithExtra(b, &v, chartKeys)
	if err != nil {
		return err
	}
	*c = Chart(v)
	c.Extra = extra
	return nil
}

func readWithExtra(b []byte, known any, keys []string) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(b, known); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for _, k := range keys {
		delete(all, k)
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

func withExtra(known any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(known)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	names := make([]string, 0, len(extra))
	for k := range extra {
		names = append(names, k)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1]) // without the closing brace
	for _, k := range names {
		v := extra[k]
		if !json.Valid(v) {
			return nil, fmt.Errorf("field %q holds invalid JSON", k)
		}
		kb, _ := json.Marshal(k)
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
