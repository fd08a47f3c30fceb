package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQueryDurableFlags(t *testing.T) {
	ws := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--restart", "SELECT 1"}, 2, "--restart and --checkpoint-interval need --job NAME"},
		{[]string{"--checkpoint-interval", "1s", "SELECT 1"}, 2, "--restart and --checkpoint-interval need --job NAME"},
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
	query := func(ctx context.Context, args ...string) (code int, stdout, stderr string) {
		var o, e bytes.Buffer
		code = run(ctx, append([]string{"query", "--workspace", ws}, args...), &o, &e)
		return code, o.String(), e.String()
	}
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
