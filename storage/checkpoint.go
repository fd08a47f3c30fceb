package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/weirdata/weir/dataflow"
)

// CheckpointPrefix is where checkpoints live in an object store: the
// layout under it is dataflow's (checkpoint_store.go there):
//
//	checkpoints/<job>/chk-<id>/<node>/<subtask>
//	checkpoints/<job>/chk-<id>/_metadata        written last
const CheckpointPrefix = "checkpoints/"

// Checkpoints keeps a job's checkpoints in an object store (the local
// workspace, S3, memory) under a prefix.
type Checkpoints struct {
	store  Store
	prefix string
}

var _ dataflow.CheckpointStore = (*Checkpoints)(nil)

// NewCheckpoints returns a checkpoint store over s, under prefix (""
// means CheckpointPrefix; otherwise it should end with "/").
func NewCheckpoints(s Store, prefix string) *Checkpoints {
	if prefix == "" {
		prefix = CheckpointPrefix
	}
	return &Checkpoints{store: s, prefix: prefix}
}

// Put implements dataflow.CheckpointStore. The object store's commit is
// atomic: a reader sees the whole blob or none of it.
func (c *Checkpoints) Put(ctx context.Context, name string, data []byte) error {
	return Put(ctx, c.store, c.prefix+name, data, CreateOptions{})
}

// Get implements dataflow.CheckpointStore.
func (c *Checkpoints) Get(ctx context.Context, name string) ([]byte, error) {
	b, err := ReadAll(ctx, c.store, c.prefix+name)
	if errors.Is(err, ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", dataflow.ErrBlobNotFound, err)
	}
	return b, err
}

// List implements dataflow.CheckpointStore.
func (c *Checkpoints) List(ctx context.Context, prefix string) ([]string, error) {
	infos, err := c.store.List(ctx, c.prefix+prefix)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(infos))
	for _, info := range infos {
		names = append(names, strings.TrimPrefix(info.Key, c.prefix))
	}
	return names, nil
}

// Delete implements dataflow.CheckpointStore.
func (c *Checkpoints) Delete(ctx context.Context, name string) error {
	return c.store.Delete(ctx, c.prefix+name)
}

func (c *Checkpoints) String() string { return c.store.String() + c.prefix }
