package statetest_test

import (
	"testing"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/dataflow/statetest"
)

func TestMemoryBackend(t *testing.T) {
	statetest.Run(t, statetest.Backend{New: func(_ *testing.T, r dataflow.KeyGroupRange) *dataflow.StateBackend {
		return dataflow.NewStateBackend(r)
	}})
}
