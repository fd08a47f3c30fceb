package query

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// parquetFiles lists the .parquet files under dir (relative, sorted).
func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func TestInsertInto(t *testing.T) {
	e := newTestEngine(t)
	dir := t.TempDir()
	run(t, e, `CREATE TABLE out (k bigint, name text, v bigint, ts timestamp) WITH (history = 'file://`+dir+`/out/')`, RunOptions{})
	s := run(t, e, `INSERT INTO out SELECT k, name, v * 2, ts FROM events WHERE v > 5`, RunOptions{})
	if got := s.messages[0]; got != "INSERT 0 4" {
		t.Fatalf("command tag %q, want INSERT 0 4", got)
	}
	files := parquetFiles(t, dir)
	if len(files) == 0 || len(files) > 2 {
		t.Fatalf("files %v: want one per sink subtask that got rows", files)
	}
	want := []string{
		"1 | a | 20 | " + ts(1),
		"1 | a | 60 | " + ts(4),
		"2 | b | 14 | " + ts(2),
		"2 | b | 40 | " + ts(3),
	}
	slices.Sort(want)
	got := run(t, e, `SELECT k, name, v, ts FROM out`, RunOptions{}).rows(t, 0)
	if !slices.Equal(got, want) {
		t.Fatalf("read back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A second INSERT appends new files; the table is now read from its
	// files (schema inferred and checked against the declaration).
	run(t, e, `INSERT INTO out SELECT k, name, v, ts FROM events WHERE k = 3`, RunOptions{})
	if n := len(parquetFiles(t, dir)); n <= len(files) {
		t.Fatalf("%d files after a second INSERT, had %d", n, len(files))
	}
	got = run(t, e, `SELECT count(*), sum(v) FROM out`, RunOptions{}).rows(t, 0)
	if !slices.Equal(got, []string{"6 | 137"}) {
		t.Fatalf("after the second INSERT: %v", got)
	}

	// A windowed aggregate is insert-only: it can be inserted.
	run(t, e, `CREATE TABLE counts (ws timestamp, n bigint) WITH (history = 'file://`+dir+`/counts/')`, RunOptions{})
	run(t, e, `INSERT INTO counts SELECT window_start, count(*) FROM TUMBLE(events, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end`, RunOptions{})
	got = run(t, e, `SELECT ws, n FROM counts`, RunOptions{}).rows(t, 0)
	if len(got) == 0 {
		t.Fatal("no windows inserted")
	}
}

func TestInsertErrors(t *testing.T) {
	e := newTestEngine(t)
	dir := t.TempDir()
	run(t, e, `CREATE TABLE out (k bigint, name text) WITH (history = 'file://`+dir+`/out/')`, RunOptions{})
	tests := []struct {
		sql, want string
		line, col int
	}{
		{`INSERT INTO out SELECT k, count(*) FROM events GROUP BY k`, "INSERT INTO needs an insert-only query; this one updates rows", 1, 57},
		{`INSERT INTO out SELECT k FROM events`, "INSERT has 1 columns but table \"out\" has 2", 0, 0},
		{"INSERT INTO out\nSELECT k, v FROM events", "column 2 of the query (v) is bigint, but column 2 of table \"out\" (name) is text", 2, 11},
		{`INSERT INTO nowhere SELECT k, name FROM events`, `table "nowhere" does not exist`, 1, 13},
		{`INSERT INTO out (k, name) SELECT k, name FROM events`, "column list", 0, 0},
		{`INSERT INTO events SELECT * FROM events`, "not a Parquet location", 0, 0},
	}
	for _, tc := range tests {
		err := e.Execute(context.Background(), tc.sql, RunOptions{}, newCollectSink())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.sql, err, tc.want)
			continue
		}
		var qe *Error
		if tc.line > 0 && (!errors.As(err, &qe) || qe.Line != tc.line || qe.Column != tc.col) {
			t.Errorf("%s: error at %d:%d, want %d:%d (%v)", tc.sql, qe.Line, qe.Column, tc.line, tc.col, err)
		}
	}
	if files := parquetFiles(t, dir); len(files) != 0 {
		t.Fatalf("failed INSERTs left %v", files)
	}
}

// TestInsertFailureLeavesNothing: a job that fails after rows reached the
// sink commits no file.
func TestInsertFailureLeavesNothing(t *testing.T) {
	e := newTestEngine(t)
	dir := t.TempDir()
	run(t, e, `CREATE TABLE out (k bigint, name text) WITH (history = 'file://`+dir+`/out/')`, RunOptions{})
	err := e.Execute(context.Background(), `INSERT INTO out SELECT k, CASE WHEN v < 20 THEN name ELSE CAST(1 / (k - k) AS text) END FROM events`, RunOptions{}, newCollectSink())
	if err == nil {
		t.Skip("division by zero does not fail the job here")
	}
	if files := parquetFiles(t, dir); len(files) != 0 {
		t.Fatalf("a failed INSERT left %v", files)
	}
}

// A durable INSERT killed after staging and before its first publish
// leaves only hidden objects (its _staging manifests and staged files) in
// the table's location. They are not data: the declared columns still
// stand, so the next INSERT (the resumed job) can run.
func TestInsertIgnoresHiddenObjects(t *testing.T) {
	e := newTestEngine(t)
	dir := t.TempDir()
	staging := filepath.Join(dir, "out", "_staging", "job")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"_chk-00000000000000000001-run-000.json", "_part-run-0-0.parquet.staged"} {
		if err := os.WriteFile(filepath.Join(staging, name), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, e, `CREATE TABLE out (k bigint, v bigint) WITH (history = 'file://`+dir+`/out/')`, RunOptions{})
	run(t, e, `INSERT INTO out SELECT k, v FROM events WHERE v > 5`, RunOptions{})
	if got := run(t, e, `SELECT count(*) FROM out`, RunOptions{}).rows(t, 0); !slices.Equal(got, []string{"4"}) {
		t.Fatalf("read back %v, want 4 rows", got)
	}
}
