package notebooks

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "demo", "live-dashboard", "q_1", "0abc", strings.Repeat("x", 64)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "..", ".", "a/b", `a\b`, ".demos", "-a", "_a", "Upper", "a b", "a.json", strings.Repeat("x", 65), "é"} {
		if err := ValidName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

func TestStoreCRUD(t *testing.T) {
	ws := t.TempDir()
	s, err := Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Fatalf("empty store lists %v, %v", l, err)
	}
	in := `{"title":"T","layout":{"cols":2},"cells":[
		{"id":"a","kind":"sql","source":"SELECT 1","mode":"live","from":"2026-01-01T00:00:00Z","height":120,
		 "chart":{"type":"line","x":"t","y":["n"],"stacked":true},"dashboard":true},
		{"kind":"markdown","source":"# hi"}]}`
	var nb Notebook
	if err := json.Unmarshal([]byte(in), &nb); err != nil {
		t.Fatal(err)
	}
	got, err := s.Put("first", &nb)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "first" || got.Modified == "" || got.Cells[1].ID != "cell-1" {
		t.Fatalf("put returned %+v", got)
	}
	// Unknown fields survive, at every level, in the file and on reading.
	raw, err := os.ReadFile(filepath.Join(ws, "notebooks", "first.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"height": 120`, `"stacked": true`, `"layout": {`, "\n  \"cells\": ["} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("file lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(string(raw), `"name"`) || strings.Contains(string(raw), `"modified"`) {
		t.Errorf("file stores name or modified:\n%s", raw)
	}
	again, err := s.Get("first")
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := json.Marshal(got)
	b2, _ := json.Marshal(again)
	if string(b1) != string(b2) || !strings.Contains(string(b2), `"height":120`) {
		t.Fatalf("get differs from put:\n%s\n%s", b1, b2)
	}
	if _, err := s.Put("second", &Notebook{Title: "S"}); err != nil {
		t.Fatal(err)
	}
	// A broken file is listed with its error, not hidden.
	if err := os.WriteFile(filepath.Join(ws, "notebooks", "broken.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 3 || l[0].Name != "broken" || l[0].Error == "" || l[1].Title != "T" || l[2].Name != "second" {
		t.Fatalf("list %+v", l)
	}
	if err := s.Delete("second"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("second"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Delete("second"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Join(ws, "notebooks"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("left %s", e.Name())
		}
	}
}

func TestStoreRefusesBadNamesAndNotebooks(t *testing.T) {
	ws := t.TempDir()
	s, err := Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	for _, name := range []string{"../escape", "..", "a/b", ".demos"} {
		if _, err := s.Put(name, &Notebook{}); !errors.Is(err, ErrBadName) {
			t.Errorf("put %q: %v", name, err)
		}
		if _, err := s.Get(name); !errors.Is(err, ErrBadName) {
			t.Errorf("get %q: %v", name, err)
		}
		if err := s.Delete(name); !errors.Is(err, ErrBadName) {
			t.Errorf("delete %q: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "escape.json")); err == nil {
		t.Fatal("a notebook was written outside the notebook directory")
	}
	// A symlink planted in the directory does not lead out of it.
	outside := filepath.Join(ws, "secret.json")
	if err := os.WriteFile(outside, []byte(`{"title":"secret","cells":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ws, "notebooks", "link.json")); err == nil {
		if nb, err := s.Get("link"); err == nil {
			t.Fatalf("read through a symlink out of the workspace: %+v", nb)
		}
	}
	for _, c := range []struct{ cell, want string }{
		{`{"kind":"python","source":""}`, `kind "python"`},
		{`{"source":"x"}`, "kind is missing"},
		{`{"kind":"sql","mode":"stream"}`, `mode "stream"`},
		{`{"kind":"sql","from":"yesterday"}`, `from "yesterday" is not an RFC 3339 time`},
		{`{"kind":"sql","from":"2026-01-02T00:00:00Z","to":"2026-01-01T00:00:00Z"}`, "is not before"},
		{`{"kind":"sql","chart":{"type":"pie"}}`, `chart type "pie"`},
	} {
		var nb Notebook
		if err := json.Unmarshal([]byte(`{"cells":[`+c.cell+`]}`), &nb); err != nil {
			t.Fatal(err)
		}
		_, err := s.Put("x", &nb)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "cell 1") {
			t.Errorf("%s: %v, want %q", c.cell, err, c.want)
		}
	}
	var dup Notebook
	_ = json.Unmarshal([]byte(`{"cells":[{"id":"a","kind":"sql"},{"id":"a","kind":"sql"}]}`), &dup)
	if _, err := s.Put("x", &dup); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate ids: %v", err)
	}
}

func TestDemosInstalledOnce(t *testing.T) {
	ws := t.TempDir()
	s, err := Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	start := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	p := DemoParams{HistoryStart: start, HistoryEnd: start.Add(time.Hour), HistoryDir: `C:\data "x"`}
	names := DemoNames()
	if len(names) != 3 {
		t.Fatalf("demos %v", names)
	}
	wrote, err := s.InstallDemos(p)
	if err != nil || len(wrote) != 3 {
		t.Fatalf("first install wrote %v, %v", wrote, err)
	}
	vs, err := s.Get("backfill-vs-live")
	if err != nil {
		t.Fatal(err)
	}
	if c := vs.Cells[1]; c.From != "2026-11-21T00:00:00Z" || c.To != "2026-11-21T00:10:00Z" || c.Mode != "backfill" {
		t.Fatalf("backfill cell %+v", c)
	}
	if c := vs.Cells[2]; c.From != "2026-11-21T00:00:00Z" || c.Mode != "live" || c.Source != vs.Cells[1].Source {
		t.Fatalf("live cell %+v", c)
	}
	bh, _ := s.Get("backfill-history")
	if !strings.Contains(bh.Cells[0].Source, `C:\data "x"`) || !strings.Contains(bh.Cells[0].Source, "the hour") {
		t.Fatalf("history intro %q", bh.Cells[0].Source)
	}
	// The user edits one and deletes another: a restart keeps both choices.
	bh.Title = "mine"
	if _, err := s.Put("backfill-history", bh); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("live-dashboard"); err != nil {
		t.Fatal(err)
	}
	if wrote, err := s.InstallDemos(p); err != nil || len(wrote) != 0 {
		t.Fatalf("second install wrote %v, %v", wrote, err)
	}
	if nb, _ := s.Get("backfill-history"); nb.Title != "mine" {
		t.Fatalf("the user's edit was overwritten: %q", nb.Title)
	}
	if _, err := s.Get("live-dashboard"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted demo came back: %v", err)
	}
	// A user's notebook that has a demo's name before the first start.
	ws2 := t.TempDir()
	s2, _ := Open(ws2)
	defer func() { _ = s2.Close() }()
	if _, err := s2.Put("live-dashboard", &Notebook{Title: "user's"}); err != nil {
		t.Fatal(err)
	}
	if wrote, err := s2.InstallDemos(p); err != nil || len(wrote) != 2 {
		t.Fatalf("install beside a user's notebook wrote %v, %v", wrote, err)
	}
	if nb, _ := s2.Get("live-dashboard"); nb.Title != "user's" {
		t.Fatal("a user's notebook was overwritten by a demo")
	}
	if l, _ := s2.List(); len(l) != 3 {
		t.Fatalf("the marker file is listed: %+v", l)
	}
}
