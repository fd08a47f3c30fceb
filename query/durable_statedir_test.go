package query

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirdata/weir/dataflow"
)

// TestDurableStateDir: a durable run over the Pebble backend first removes
// what a run that died left in the job's StateDir (its process killed, it
// never cleaned up), and runs.
func TestDurableStateDir(t *testing.T) {
	e := newDurableEngine(t)
	dir := filepath.Join(t.TempDir(), "state", "j")
	stale := filepath.Join(dir, "weir-state-123", "db")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: dataflow.NewMemoryCheckpointStore(),
		Interval: 15 * time.Millisecond, StateBackend: "pebble", StateDir: dir}}
	s := newCollectSink()
	if err := e.Execute(t.Context(), durableSQL, opts, s); err != nil {
		t.Fatal(err)
	}
	if len(s.order[0]) == 0 {
		t.Fatal("the job gave no rows")
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a dead run's state directory is still there: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the state directory: %v", err)
	}
}
