package notebooks

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"text/template"
	"time"
)

// The demo notebooks are text/template files: the times of the workspace's
// Nexmark history are substituted when they are written, so their cells
// read ranges that exist.
//
//go:embed demos/*.json
var demoFS embed.FS

// DemoParams are what the demo templates refer to.
type DemoParams struct {
	// HistoryStart and HistoryEnd bound the Nexmark history that serve
	// generated ([start, end)).
	HistoryStart, HistoryEnd time.Time
	// HistoryDir is where that history is, for the text.
	HistoryDir string
}

// Span is the history's length in words ("1 hour", "20 minutes").
func (p DemoParams) Span() string {
	d := p.HistoryEnd.Sub(p.HistoryStart)
	switch {
	case d == time.Hour:
		return "the hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("the %d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("the %d minutes", d/time.Minute)
	}
	return "the " + d.String()
}

// demoMarker records the demos already written (in the notebook
// directory; its name cannot be a notebook's). A demo listed there is never
// written again: a user who edited or deleted it keeps that.
const demoMarker = ".demos.json"

type demoState struct {
	Installed []string `json:"installed"`
}

// DemoNames returns the names of the embedded demo notebooks.
func DemoNames() []string {
	entries, _ := fs.ReadDir(demoFS, "demos")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(names)
	return names
}

// Demo renders the embedded demo notebook name with p.
func Demo(name string, p DemoParams) (*Notebook, error) {
	src, err := demoFS.ReadFile(path.Join("demos", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("%w: no demo %q", ErrNotFound, name)
	}
	funcs := template.FuncMap{
		// at formats start+d as RFC 3339 ("10m", "1h").
		"at": func(t time.Time, d string) (string, error) {
			dur, err := time.ParseDuration(d)
			if err != nil {
				return "", err
			}
			return t.Add(dur).UTC().Format(time.RFC3339), nil
		},
		// str escapes a string for the inside of a JSON string.
		"str": func(s string) string {
			b, _ := json.Marshal(s)
			return string(b[1 : len(b)-1])
		},
	}
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("demo %q: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("demo %q: %w", name, err)
	}
	var nb Notebook
	if err := json.Unmarshal(b.Bytes(), &nb); err != nil {
		return nil, fmt.Errorf("demo %q: %w", name, err)
	}
	if err := nb.Normalize(); err != nil {
		return nil, fmt.Errorf("demo %q: %w", name, err)
	}
	return &nb, nil
}

// InstallDemos writes the demo notebooks that were never written to this
// store and returns their names. A demo is written once: one the user
// edited or deleted is left as it is, and a notebook of the user's that
// has a demo's name is never overwritten.
func (s *Store) InstallDemos(p DemoParams) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st demoState
	b, err := s.root.ReadFile(demoMarker)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("notebooks: %w", err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("notebooks: %s: %w", demoMarker, err)
		}
	}
	done := map[string]bool{}
	for _, n := range st.Installed {
		done[n] = true
	}
	var wrote []string
	for _, name := range DemoNames() {
		if done[name] {
			continue
		}
		if _, err := s.root.Stat(fileOf(name)); err == nil {
			done[name] = true // the user's own notebook of that name
			continue
		}
		nb, err := Demo(name, p)
		if err != nil {
			return wrote, err
		}
		if err := s.write(name, nb); err != nil {
			return wrote, err
		}
		wrote, done[name] = append(wrote, name), true
	}
	st.Installed = st.Installed[:0]
	for n := range done {
		st.Installed = append(st.Installed, n)
	}
	sort.Strings(st.Installed)
	mb, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return wrote, err
	}
	return wrote, s.writeFile(demoMarker, append(mb, '\n'))
}
