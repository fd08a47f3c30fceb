package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirdata/weir/storage"
)

func TestQueryDurableFlags(t *testing.T) {
	ws := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--restart", "SELECT 1"}, 2, "--restart, --checkpoint-interval and --from-savepoint need --job NAME"},
		{[]string{"--checkpoint-interval", "1s", "SELECT 1"}, 2, "--restart, --checkpoint-interval and --from-savepoint need --job NAME"},
		{[]string{"--from-savepoint", ws, "SELECT 1"}, 2, "--restart, --checkpoint-interval and --from-savepoint need --job NAME"},
		{[]string{"--job", "j", "--restart", "--from-savepoint", ws, "SELECT 1"}, 2, "--restart and --from-savepoint exclude each other"},
		{[]string{"--job", "j", "--from-savepoint", ws + "/nowhere", "SELECT 1"}, 1, "nowhere: not a directory"},
		{[]string{"--job", "j", "--from-savepoint", ws, "SELECT 1"}, 1, "not the savepoint of a durable job"},
		{[]string{"--job", "a/b", "SELECT 1"}, 2, `--job: job name "a/b"`},
		{[]string{"--job", "j", "--checkpoint-interval", "0s", "SELECT 1"}, 2, "--checkpoint-interval must be positive"},
		{[]string{"--job", "j", "SELECT 1; SELECT 2"}, 1, "a durable job runs one statement; the script has 2"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"query", "--workspace", ws}, tc.args...)
		if code := run(t.Context(), args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("weir %q = %d, want %d with %q; stderr:\n%s", args, code, tc.code, tc.want, &stderr)
		}
	}
}

// TestQueryDurableResumes interrupts a durable job once it has a complete
// checkpoint in the workspace and runs the command again: it resumes and
// prints the count of a failure-free run (the partial counts are state).
func TestQueryDurableResumes(t *testing.T) {
	ws := t.TempDir()
	query := queryIn(ws)
	if code, _, stderr := query(t.Context(), "CREATE TABLE b () WITH (live = 'nexmark://bids?events=5000000', event_time = 'date_time')"); code != 0 {
		t.Fatal(stderr)
	}
	const sql, want = "SELECT count(*) AS n FROM b", "n\n-------\n4600000\n(1 row)\n"
	job := []string{"--job", "counts", "--checkpoint-interval", "5ms"}

	// Interrupt the job once a checkpoint is complete.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		code, _, _ := query(ctx, append(job, sql)...)
		done <- code
	}()
	chkDir := filepath.Join(ws, "checkpoints", "counts")
	deadline := time.Now().Add(time.Minute)
	for {
		if m, _ := filepath.Glob(filepath.Join(chkDir, "chk-*", "_metadata")); len(m) > 0 {
			cancel()
			break
		}
		select {
		case code := <-done:
			t.Skipf("the job ended (exit %d) before its first checkpoint completed: too fast to interrupt", code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no complete checkpoint after a minute")
		}
		time.Sleep(time.Millisecond)
	}
	if code := <-done; code != 130 {
		t.Fatalf("interrupted job exited %d, want 130", code)
	}
	if _, err := os.Stat(filepath.Join(chkDir, "job.json")); err != nil {
		t.Fatalf("the job has no record: %v", err)
	}

	// Another query under the job's name is refused, and changes nothing.
	code, _, stderr := query(t.Context(), append(job, "SELECT count(*) AS n FROM b WHERE price > 10")...)
	if code != 1 || !strings.Contains(stderr, `job "counts" was checkpointed running something else`) || !strings.Contains(stderr, "--restart") {
		t.Fatalf("changed query: exit %d, stderr:\n%s", code, stderr)
	}

	code, stdout, stderr := query(t.Context(), append(job, sql)...)
	if code != 0 || stdout != want || !strings.Contains(stderr, "resuming job counts from checkpoint ") {
		t.Fatalf("resumed job: exit %d, stdout:\n%s\nwant\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	// It ran to its end: nothing is left to resume.
	if m, _ := filepath.Glob(filepath.Join(chkDir, "*")); len(m) > 0 {
		t.Errorf("checkpoints left after the job's end: %v", m)
	}
	code, stdout, stderr = query(t.Context(), append(job, "--restart", sql)...)
	if code != 0 || stdout != want || strings.Contains(stderr, "resuming") {
		t.Errorf("--restart: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestQueryStopWithSavepoint interrupts a durable job with a real SIGINT:
// it stops with a savepoint and prints where. The savepoint refuses
// another query; started from it at parallelism 4 under another name,
// and resumed by the same command at parallelism 1, the job prints what a
// failure-free run prints.
func TestQueryStopWithSavepoint(t *testing.T) {
	ws := t.TempDir()
	query := queryIn(ws)
	// The generator's partitions are fixed: by default they follow the
	// parallelism, and a checkpoint of some partitions is not restored
	// into others (TestQueryRescaleRefused).
	if code, _, stderr := query(t.Context(), "CREATE TABLE b () WITH (live = 'nexmark://bids?events=5000000&partitions=4', event_time = 'date_time')"); code != 0 {
		t.Fatal(stderr)
	}
	const sql = "SELECT bidder % 7 AS b, count(*) AS n, sum(price) AS s FROM b GROUP BY bidder % 7"
	code, want, stderr := query(t.Context(), sql)
	if code != 0 || strings.Count(want, "\n") != 10 {
		t.Fatalf("failure-free run: exit %d\n%s%s", code, want, stderr)
	}

	// Interrupt the job once a checkpoint is complete, with the signal
	// routing main installs.
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	in := listenInterrupts(cancel)
	defer in.stop()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := query(withInterrupts(ctx, in), "--job", "sp", "--checkpoint-interval", "5ms", sql)
		done <- result{code, stdout, stderr}
	}()
	chkDir := filepath.Join(ws, "checkpoints", "sp")
	deadline := time.Now().Add(time.Minute)
	for {
		if m, _ := filepath.Glob(filepath.Join(chkDir, "chk-*", "_metadata")); len(m) > 0 {
			if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			break
		}
		select {
		case r := <-done:
			t.Skipf("the job ended (exit %d) before its first checkpoint completed: too fast to interrupt", r.code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no complete checkpoint after a minute")
		}
		time.Sleep(time.Millisecond)
	}
	r := <-done
	if r.code != 0 || !strings.Contains(r.stderr, "stopping job sp with a savepoint") {
		if strings.Contains(r.stderr, "the job has ended") {
			t.Skipf("the job ended as it was interrupted: %s", r.stderr)
		}
		t.Fatalf("interrupted job: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`savepoint written to (.*/savepoints/sp/chk-0*([1-9][0-9]*))/?\n`).FindStringSubmatch(r.stderr)
	if m == nil || !strings.HasPrefix(m[1], ws) {
		t.Fatalf("no savepoint path under the workspace in:\n%s", r.stderr)
	}
	path, id := m[1], m[2]
	for _, f := range []string{"job.json", "_metadata"} {
		if _, err := os.Stat(filepath.Join(path, f)); err != nil {
			t.Errorf("savepoint: %v", err)
		}
	}

	// Another query from the savepoint is refused, naming what differs.
	code, _, stderr = query(t.Context(), "--job", "other", "--from-savepoint", path, "SELECT bidder % 7 AS b, count(*) AS n FROM b GROUP BY bidder % 7")
	if code != 1 || !strings.Contains(stderr, "was taken running something else: its query was \""+sql+"\"") {
		t.Errorf("another query from the savepoint: exit %d, stderr:\n%s", code, stderr)
	}

	// From the savepoint at parallelism 4, as another job.
	code, stdout, stderr := query(t.Context(), "--job", "sp4", "--parallelism", "4", "--from-savepoint", path, sql)
	if code != 0 || sortLines(stdout) != sortLines(want) || !strings.Contains(stderr, "resuming job sp4 from checkpoint "+id+"\n") {
		t.Errorf("from the savepoint at parallelism 4: exit %d, stdout:\n%s\nwant\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	// Moved into another store, from its URL, at parallelism 3.
	moved := storage.NamedMemory("weir-savepoint-test")
	err := filepath.WalkDir(path, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		return storage.Put(t.Context(), moved, "moved/"+filepath.ToSlash(rel), b, storage.CreateOptions{})
	})
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = query(t.Context(), "--job", "spm", "--parallelism", "3", "--from-savepoint", "mem://weir-savepoint-test/moved", sql)
	if code != 0 || sortLines(stdout) != sortLines(want) || !strings.Contains(stderr, "resuming job spm from checkpoint "+id+"\n") {
		t.Errorf("from the moved savepoint at parallelism 3: exit %d, stdout:\n%s\nwant\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}

	// The same command resumes from the savepoint, here at parallelism 1.
	code, stdout, stderr = query(t.Context(), "--job", "sp", "--checkpoint-interval", "5ms", "--parallelism", "1", sql)
	if code != 0 || sortLines(stdout) != sortLines(want) || !strings.Contains(stderr, "resuming job sp from checkpoint "+id+"\n") {
		t.Errorf("re-run after the stop: exit %d, stdout:\n%s\nwant\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	// The savepoint outlives the job's end.
	if _, err := os.Stat(filepath.Join(path, "_metadata")); err != nil {
		t.Errorf("savepoint after the job's end: %v", err)
	}
}

// TestQueryJobLock: while a durable job runs, a second run of it is
// refused at once, naming the holder.
func TestQueryJobLock(t *testing.T) {
	ws := t.TempDir()
	query := func(ctx context.Context, args ...string) (int, string) {
		code, _, stderr := queryIn(ws)(ctx, args...)
		return code, stderr
	}
	if code, stderr := query(t.Context(), "CREATE TABLE b () WITH (live = 'nexmark://bids?events=50000000', event_time = 'date_time')"); code != 0 {
		t.Fatal(stderr)
	}
	job := []string{"--job", "locked", "--checkpoint-interval", "5ms", "SELECT count(*) AS n FROM b"}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		code, _ := query(ctx, job...)
		done <- code
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		if m, _ := filepath.Glob(filepath.Join(ws, "checkpoints", "locked", "chk-*", "_metadata")); len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no complete checkpoint after a minute")
		}
		time.Sleep(time.Millisecond)
	}
	code, stderr := query(t.Context(), job...)
	if want := fmt.Sprintf("job locked is running (pid %d, since ", os.Getpid()); code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("second run: exit %d, want 1 with %q; stderr:\n%s", code, want, stderr)
	}
	cancel()
	if code := <-done; code != 130 && code != 0 {
		t.Errorf("first run: exit %d", code)
	}
}

// sortLines sorts a printed table's lines: rows of a GROUP BY come in no
// particular order.
func sortLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestQueryRescale: a job over the generator's default partitions, which
// do not follow the parallelism, resumes at another parallelism and counts
// every event exactly once. (A checkpoint of splits the job no longer has
// is refused: TestRestoreRefusesChangedSplits in dataflow.)
func TestQueryRescale(t *testing.T) {
	ws := t.TempDir()
	query := queryIn(ws)
	if code, _, stderr := query(t.Context(), "CREATE TABLE b () WITH (live = 'nexmark://bids?events=5000000', event_time = 'date_time')"); code != 0 {
		t.Fatal(stderr)
	}
	job := []string{"--job", "r", "--checkpoint-interval", "5ms", "SELECT count(*) AS n FROM b"}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		code, _, _ := query(ctx, job...)
		done <- code
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		// A later checkpoint: the first may precede any read.
		if m, _ := filepath.Glob(filepath.Join(ws, "checkpoints", "r", "chk-*", "_metadata")); len(m) > 1 {
			cancel()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no complete checkpoint after a minute")
		}
		time.Sleep(time.Millisecond)
	}
	if code := <-done; code != 130 {
		t.Skipf("the job ended (exit %d) before it was interrupted", code)
	}
	code, stdout, stderr := query(t.Context(), append([]string{"--parallelism", "3"}, job...)...)
	if code != 0 || stdout != "n\n-------\n4600000\n(1 row)\n" || !strings.Contains(stderr, "resuming job r from checkpoint") {
		t.Errorf("resumed at parallelism 3: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestQueryForStopsWithSavepoint: --for ends a durable live job with a
// savepoint, as an interrupt does, so a live INSERT publishes what it
// produced until then even when no checkpoint came first.
func TestQueryForStopsWithSavepoint(t *testing.T) {
	ws := t.TempDir()
	query := func(args ...string) (int, string, string) { return queryIn(ws)(t.Context(), args...) }
	for _, sql := range []string{
		"CREATE TABLE b () WITH (live = 'nexmark://bids?rate=5000', event_time = 'date_time')",
		"CREATE TABLE counts (window_start timestamp, n bigint) WITH (history = 'file://" + filepath.ToSlash(ws) + "/counts/')",
	} {
		if code, _, stderr := query(sql); code != 0 {
			t.Fatal(stderr)
		}
	}
	code, _, stderr := query("--mode", "live", "--job", "ins", "--checkpoint-interval", "1h", "--for", "2500ms",
		"INSERT INTO counts SELECT window_start, count(*) FROM TUMBLE(b, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end")
	if code != 0 || !strings.Contains(stderr, "savepoint written to ") {
		t.Fatalf("live INSERT --for: exit %d, stderr:\n%s", code, stderr)
	}
	code, stdout, stderr := query("--format", "csv", "SELECT count(*) FROM counts")
	if code != 0 || stdout == "count\n0\n" {
		t.Fatalf("after --for: exit %d, %q (want windows published by the savepoint), stderr:\n%s", code, stdout, stderr)
	}
}

// queryIn returns a function that runs weir query over the workspace ws
// with args, returning its exit code, stdout and stderr.
func queryIn(ws string) func(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	return func(ctx context.Context, args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := run(ctx, append([]string{"query", "--workspace", ws}, args...), &o, &e)
		return code, o.String(), e.String()
	}
}
