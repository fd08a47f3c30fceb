package storage_test

import (
	"testing"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/dataflow/checkpointtest"
	"github.com/weirdata/weir/storage"
)

func TestCheckpointsMemory(t *testing.T) {
	checkpointtest.Run(t, func(*testing.T) dataflow.CheckpointStore {
		return storage.NewCheckpoints(storage.NewMemory(), "")
	})
}

func TestCheckpointsLocal(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) dataflow.CheckpointStore {
		s, err := storage.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return storage.NewCheckpoints(s, "workspace/checkpoints/")
	})
}
