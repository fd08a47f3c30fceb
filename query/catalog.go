package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// TableDef is a table of the catalog: a history (Parquet under a URL
// prefix), optionally a live feed, an event-time column and a watermark
// delay (DESIGN §3).
type TableDef struct {
	Name string `json:"name"`
	// Columns are declared, or empty to infer them from the data.
	Columns        []ColumnDef       `json:"columns,omitempty"`
	History        string            `json:"history,omitempty"`
	Live           string            `json:"live,omitempty"`
	EventTime      string            `json:"event_time,omitempty"`
	WatermarkDelay Duration          `json:"watermark_delay,omitempty"`
	IdleTimeout    Duration          `json:"idle_timeout,omitempty"`
	Options        map[string]string `json:"options,omitempty"`
}

// ColumnDef is a declared column.
type ColumnDef struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// ViewDef is a named query.
type ViewDef struct {
	Name string `json:"name"`
	SQL  string `json:"sql"`
}

// Duration is a time.Duration that reads and writes as "4s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Catalog holds tables and views. With a directory it persists each as a
// readable JSON file (tables/NAME.json, views/NAME.json), written
// atomically (temp file, then rename); without one it lives in memory.
type Catalog struct {
	dir    string
	mu     sync.Mutex
	tables map[string]*TableDef
	views  map[string]*ViewDef
}

// NewCatalog returns an in-memory catalog.
func NewCatalog() *Catalog {
	return &Catalog{tables: map[string]*TableDef{}, views: map[string]*ViewDef{}}
}

// OpenCatalog loads (or creates) the catalog stored under dir.
func OpenCatalog(dir string) (*Catalog, error) {
	c := NewCatalog()
	c.dir = dir
	for _, sub := range []string{"tables", "views"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
	}
	load := func(sub string, into func([]byte) error) error {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			path := filepath.Join(dir, sub, e.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := into(b); err != nil {
				return fmt.Errorf("catalog file %s: %w", path, err)
			}
		}
		return nil
	}
	if err := load("tables", func(b []byte) error {
		var t TableDef
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		c.tables[t.Name] = &t
		return nil
	}); err != nil {
		return nil, err
	}
	if err := load("views", func(b []byte) error {
		var v ViewDef
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		c.views[v.Name] = &v
		return nil
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// ErrExists and ErrNotFound are returned by catalog changes.
var (
	ErrExists   = errors.New("already exists")
	ErrNotFound = errors.New("does not exist")
)

// Table returns the named table.
func (c *Catalog) Table(name string) (*TableDef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tables[name]
	return t, ok
}

// View returns the named view.
func (c *Catalog) View(name string) (*ViewDef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.views[name]
	return v, ok
}

// Tables and Views list names in order.
func (c *Catalog) Tables() []string { c.mu.Lock(); defer c.mu.Unlock(); return sortedKeys(c.tables) }
func (c *Catalog) Views() []string  { c.mu.Lock(); defer c.mu.Unlock(); return sortedKeys(c.views) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CreateTable adds t; with replace it overwrites an existing one.
func (c *Catalog) CreateTable(t *TableDef, replace bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.views[t.Name]; ok {
		return fmt.Errorf("a view named %q %w", t.Name, ErrExists)
	}
	if _, ok := c.tables[t.Name]; ok && !replace {
		return fmt.Errorf("table %q %w", t.Name, ErrExists)
	}
	if err := c.write("tables", t.Name, t); err != nil {
		return err
	}
	c.tables[t.Name] = t
	return nil
}

// CreateView adds v; with replace it overwrites an existing one.
func (c *Catalog) CreateView(v *ViewDef, replace bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tables[v.Name]; ok {
		return fmt.Errorf("a table named %q %w", v.Name, ErrExists)
	}
	if _, ok := c.views[v.Name]; ok && !replace {
		return fmt.Errorf("view %q %w", v.Name, ErrExists)
	}
	if err := c.write("views", v.Name, v); err != nil {
		return err
	}
	c.views[v.Name] = v
	return nil
}

// Drop removes a table or a view.
func (c *Catalog) Drop(name string, view bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	kind, sub := "table", "tables"
	_, ok := c.tables[name]
	if view {
		kind, sub = "view", "views"
		_, ok = c.views[name]
	}
	if !ok {
		return fmt.Errorf("%s %q %w", kind, name, ErrNotFound)
	}
	if c.dir != "" {
		if err := os.Remove(filepath.Join(c.dir, sub, fileName(name))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("catalog: %w", err)
		}
	}
	if view {
		delete(c.views, name)
	} else {
		delete(c.tables, name)
	}
	return nil
}

// fileName maps an object name to a file name that cannot escape the
// catalog directory (names are SQL identifiers, but quoted identifiers can
// hold anything).
func fileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "%%%04x", r)
		}
	}
	return b.String() + ".json"
}

func (c *Catalog) write(sub, name string, v any) error {
	if c.dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dst := filepath.Join(c.dir, sub, fileName(name))
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone after the rename; cleans up after a failure
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("catalog: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("catalog: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}
