package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string // substrings
	}{
		{
			name:       "no arguments prints usage to stderr",
			args:       nil,
			wantCode:   2,
			wantStderr: []string{"Usage:", "serve", "query", "gen", "bench", "version"},
		},
		{
			name:       "-h prints usage to stdout",
			args:       []string{"-h"},
			wantCode:   0,
			wantStdout: []string{"Usage:", "serve", "query", "gen", "bench", "version"},
		},
		{
			name:       "help",
			args:       []string{"help"},
			wantCode:   0,
			wantStdout: []string{"weir <command>"},
		},
		{
			name:       "help for a command shows its flags",
			args:       []string{"help", "serve"},
			wantCode:   0,
			wantStderr: []string{"weir serve [--addr HOST:PORT] [--workspace DIR]", "-addr", "-workspace"},
		},
		{
			name:       "unknown command",
			args:       []string{"frobnicate"},
			wantCode:   2,
			wantStderr: []string{`weir: unknown command "frobnicate"`, "Usage:"},
		},
		{
			name:       "unknown flag",
			args:       []string{"serve", "--no-such-flag"},
			wantCode:   2,
			wantStderr: []string{"flag provided but not defined: -no-such-flag", "Usage:"},
		},
		{
			name:       "query rejects an unknown mode",
			args:       []string{"query", "--mode", "sideways", "SELECT 1"},
			wantCode:   2,
			wantStderr: []string{`--mode: unknown mode "sideways" (backfill or live)`},
		},
		{
			name:       "query needs SQL",
			args:       []string{"query"},
			wantCode:   2,
			wantStderr: []string{"give SQL either with -f FILE or as an argument"},
		},
		{
			name:       "gen needs --events",
			args:       []string{"gen", "nexmark", "--out", "file:///tmp/x/", "--seed", "7"},
			wantCode:   2,
			wantStderr: []string{"--events must be positive"},
		},
		{
			name:       "gen takes the generator after the flags too",
			args:       []string{"gen", "--events", "1000", "nexmark"},
			wantCode:   2,
			wantStderr: []string{"--out is required"},
		},
		{
			name:       "gen rejects an unknown generator",
			args:       []string{"gen", "tpch", "--events", "1000", "--out", "file:///tmp/x/"},
			wantCode:   2,
			wantStderr: []string{`unknown generator "tpch"`},
		},
		{
			name:       "gen needs an RFC 3339 --base",
			args:       []string{"gen", "nexmark", "--events", "10", "--out", "file:///tmp/x/", "--base", "yesterday"},
			wantCode:   2,
			wantStderr: []string{`--base: "yesterday" is not an RFC 3339 time`},
		},
		{
			name:       "version",
			args:       []string{"version"},
			wantCode:   0,
			wantStdout: []string{"weir "},
		},
		{
			name:       "version takes no arguments",
			args:       []string{"version", "extra"},
			wantCode:   2,
			wantStderr: []string{`unexpected argument "extra"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("run(%q) = %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, code, tt.wantCode, &stdout, &stderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("run(%q): stdout does not contain %q:\n%s", tt.args, want, &stdout)
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("run(%q): stderr does not contain %q:\n%s", tt.args, want, &stderr)
				}
			}
			if len(tt.wantStdout) == 0 && stdout.Len() > 0 {
				t.Errorf("run(%q): unexpected stdout:\n%s", tt.args, &stdout)
			}
		})
	}
}

// TestRunBenchDispatch checks that "weir bench" reaches runBench; what runBench
// does with its arguments is tested with bench.go.
func TestRunBenchDispatch(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("weir bench -h = %d, want 0\nstderr:\n%s", code, &stderr)
	}
	if !strings.Contains(stderr.String(), "weir bench") {
		t.Errorf("weir bench -h: stderr does not show bench usage:\n%s", &stderr)
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	saved := commands
	t.Cleanup(func() { commands = saved })
	commands = []command{{name: "wait", run: func(ctx context.Context, _ []string, _, _ io.Writer) error {
		<-ctx.Done()
		return ctx.Err()
	}}}
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"wait"}, &stdout, &stderr); code != 130 {
		t.Errorf("run after interrupt = %d, want 130; stderr:\n%s", code, &stderr)
	}
}

// TestBenchNexmarkOutput runs a small benchmark through the command and
// checks the lines its contract promises.
func TestBenchNexmarkOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"bench", "nexmark", "--query", "q1", "--events", "20000", "--parallelism", "2"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("weir bench = %d\nstderr:\n%s", code, &stderr)
	}
	for _, want := range []string{"nexmark q1: 20000 events, parallelism 2", "\nevents/s: ", "\nevents/s/core: ", "\npeak memory: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &stdout)
		}
	}
	if code := run(t.Context(), []string{"bench", "nexmark", "--query", "q42"}, &stdout, &stderr); code == 0 {
		t.Error("unknown query: want a non-zero exit")
	}
}

// TestQueryFormats runs SQL through "weir query" in a fresh workspace.
func TestQueryFormats(t *testing.T) {
	ws := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "jsonl", "SELECT 1 AS one, 'x' AS s"}, `{"one":1,"s":"x"}` + "\n"},
		{[]string{"--format", "csv", "SELECT 1 AS one, 'x' AS s"}, "one,s\n1,x\n"},
		{[]string{"SELECT 1 AS one, 'x' AS s"}, "one | s\n----+--\n1   | x\n(1 row)\n"},
		{[]string{"--mode", "live", "--format", "csv", "SELECT 2 AS two"}, "op,two\n+,2\n"},
		{[]string{"--mode", "live", "--format", "jsonl", "SELECT 2 AS two"}, `{"op":"+","two":2}` + "\n"},
		{[]string{"CREATE TABLE b () WITH (live = 'nexmark://bids?events=5000', event_time = 'date_time'); SELECT count(*) AS n FROM b"},
			"CREATE TABLE\nn\n----\n4600\n(1 row)\n"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"query", "--workspace", ws}, tc.args...)
		if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("weir %v = %d\n%s", args, code, &stderr)
		}
		if stdout.String() != tc.want {
			t.Errorf("weir %v:\n%s\nwant\n%s", args, &stdout, tc.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"query", "--workspace", ws, "SELECT nope FROM b"}, &stdout, &stderr); code == 0 ||
		!strings.Contains(stderr.String(), `column "nope" does not exist`) || !strings.Contains(stderr.String(), "line 1, column 8") {
		t.Errorf("bad SQL: exit %d, stderr:\n%s", code, &stderr)
	}
}
