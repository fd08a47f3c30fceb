package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBenchState runs "weir bench state" small on both backends: it fills
// the state, checkpoints, and recovers a job that finds the state.
func TestBenchState(t *testing.T) {
	for _, backend := range []string{"memory", "pebble"} {
		var stdout, stderr bytes.Buffer
		args := []string{"bench", "state", "--backend", backend, "--state", "2MiB", "--checkpoints", "3", "--dir", t.TempDir()}
		if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("weir %q = %d; stderr:\n%s", args, code, &stderr)
		}
		out := stdout.String()
		for _, want := range []string{"state " + backend + ": 2048 keys × 1024 B", "checkpoint duration p50: ", "recovery (cancel to first output, from checkpoint 3)"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output lacks %q:\n%s", backend, want, out)
			}
		}
		// Three sizes, the first a full 2 MiB or more (values are random).
		m := regexp.MustCompile(`MiB uploaded per checkpoint: ([0-9.]+) [0-9.]+ [0-9.]+\n`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%s: no upload sizes:\n%s", backend, out)
		}
		if first, err := strconv.ParseFloat(m[1], 64); err != nil || first < 2 {
			t.Errorf("%s: the first checkpoint uploaded %s MiB, want the whole state", backend, m[1])
		}
	}
}

func TestStateBackendFlags(t *testing.T) {
	ws := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"query", "--workspace", ws, "--state-backend", "pebble", "SELECT 1"}, 2, "--state-backend needs --job NAME"},
		{[]string{"query", "--workspace", ws, "--job", "j", "--state-backend", "rocks", "SELECT 1"}, 2, `state backend "rocks": use memory or pebble`},
		{[]string{"bench", "state", "--backend", "disk"}, 2, `state backend "disk"`},
		{[]string{"bench", "state", "--state", "lots"}, 2, `size "lots"`},
		{[]string{"bench", "state", "--checkpoints", "0"}, 2, "--checkpoints must be at least 1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("weir %q = %d, want %d with %q; stderr:\n%s", tc.args, code, tc.code, tc.want, &stderr)
		}
	}
	// A durable query runs with its state in Pebble.
	var stdout, stderr bytes.Buffer
	args := []string{"query", "--workspace", ws, "--job", "p", "--state-backend", "pebble", "SELECT 41 + 1 AS x"}
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "42") {
		t.Fatalf("weir %q = %d; stdout:\n%s\nstderr:\n%s", args, code, &stdout, &stderr)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "64MiB": 64 << 20, "1.5KiB": 1536, "10MB": 10_000_000, "42": 42, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "-1MiB", "0", "1TiB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}
