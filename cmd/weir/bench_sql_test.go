package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestBenchNexmarkSQL runs a query's SQL version through the command: the
// same lines as the Go API run, plus the planner's overhead.
func TestBenchNexmarkSQL(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"bench", "nexmark", "--query", "q5", "--sql", "--events", "20000", "--parallelism", "2"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("weir bench --sql = %d\nstderr:\n%s", code, &stderr)
	}
	for _, want := range []string{"nexmark q5 (SQL): 20000 events, parallelism 2", "\nevents/s: ", "\nevents/s/core: ", "\npeak memory: ", "\nplanner overhead: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &stdout)
		}
	}
	stdout.Reset()
	if code := run(t.Context(), []string{"bench", "nexmark", "--query", "q42", "--sql"}, &stdout, &stderr); code == 0 {
		t.Error("unknown query: want a non-zero exit")
	}
}
