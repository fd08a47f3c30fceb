package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage"
)

// stagingManifest is one sink subtask's record of the files it staged on
// one checkpoint: _chk-<id>-<run>-<subtask>.json under the job's staging
// prefix (layout in insert.go).
type stagingManifest struct {
	Checkpoint int64         `json:"checkpoint"`
	Files      []stagedEntry `json:"files"`
}

type stagedEntry struct {
	Staged string `json:"staged"` // the staged object's key
	Key    string `json:"key"`    // its key once published
	Rows   int64  `json:"rows"`
}

const manifestPrefix = "_chk-"

// manifestKey names the manifest of checkpoint id of one sink subtask;
// the zero-padded id makes the keys of a prefix sort by checkpoint.
func (in *insertion) manifestKey(id int64, writer string) string {
	return fmt.Sprintf("%s%s%020d-%s.json", in.staging, manifestPrefix, id, writer)
}

// manifestID is the checkpoint of a manifest key, false for any other key.
func manifestID(key string) (int64, bool) {
	base := path.Base(key)
	if !strings.HasPrefix(base, manifestPrefix) || !strings.HasSuffix(base, ".json") {
		return 0, false
	}
	digits, _, ok := strings.Cut(strings.TrimPrefix(base, manifestPrefix), "-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	return id, err == nil
}

// publishedKey is where a staged file is published: the table's location
// with the staging marks ("_" and ".staged") taken off its name.
func (in *insertion) publishedKey(staged string) string {
	base := strings.TrimSuffix(strings.TrimPrefix(path.Base(staged), "_"), ".staged")
	return in.opts.Prefix + base
}

// publish makes the files of a manifest visible, then deletes the staged
// copies and the manifest. Every step can be replayed after a crash: a
// published key that exists already is this file (names are unique per
// run), and a staged file that is gone was published before it was
// deleted.
func (in *insertion) publish(ctx context.Context, key string) error {
	raw, err := storage.ReadAll(ctx, in.store, key)
	if errors.Is(err, storage.ErrNotExist) {
		return nil // published by an earlier call
	}
	if err != nil {
		return fmt.Errorf("read staging manifest %s: %w", key, err)
	}
	var m stagingManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("staging manifest %s: %w", key, err)
	}
	for _, f := range m.Files {
		fresh, err := in.copyIfAbsent(ctx, f.Staged, f.Key)
		if err != nil {
			return fmt.Errorf("publish %s: %w", f.Key, err)
		}
		if fresh {
			in.rows.Add(f.Rows)
		}
	}
	for _, f := range m.Files {
		if err := in.store.Delete(ctx, f.Staged); err != nil {
			return err
		}
	}
	return in.store.Delete(ctx, key)
}

// copyIfAbsent copies the object src to dst unless dst exists or src is
// gone (both mean an earlier publish got that far); fresh reports a copy.
func (in *insertion) copyIfAbsent(ctx context.Context, src, dst string) (fresh bool, err error) {
	info, err := in.store.Stat(ctx, src)
	if errors.Is(err, storage.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := in.store.Stat(ctx, dst); err == nil {
		return false, nil
	}
	w, err := in.store.Create(ctx, dst, storage.CreateOptions{IfAbsent: true})
	if errors.Is(err, storage.ErrExists) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(w, io.NewSectionReader(storage.ReaderAt(ctx, in.store, src), 0, info.Size)); err != nil {
		_ = w.Abort(context.WithoutCancel(ctx))
		return false, err
	}
	if err := w.Commit(ctx); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// discard deletes the files of a manifest and the manifest.
func (in *insertion) discard(ctx context.Context, key string) error {
	raw, err := storage.ReadAll(ctx, in.store, key)
	if errors.Is(err, storage.ErrNotExist) {
		return nil
	}
	if err == nil {
		var m stagingManifest
		if json.Unmarshal(raw, &m) == nil {
			for _, f := range m.Files {
				if err := in.store.Delete(ctx, f.Staged); err != nil {
					return err
				}
			}
		}
	}
	return in.store.Delete(ctx, key)
}

// recoverStaging publishes every manifest of checkpoint ≤ id and deletes
// every other object under the staging prefix: manifests after id, and
// staged files no manifest names (their subtask failed before its
// manifest was written). It runs before any task opens, so nothing under
// the prefix is being written.
func (in *insertion) recoverStaging(ctx context.Context, id int64) error {
	in.recoverMu.Lock()
	defer in.recoverMu.Unlock()
	infos, err := in.store.List(ctx, in.staging)
	if err != nil {
		return fmt.Errorf("list staging %s: %w", in.staging, err)
	}
	for _, info := range infos {
		n, ok := manifestID(info.Key)
		if !ok {
			continue
		}
		if n <= id {
			err = in.publish(ctx, info.Key)
		} else {
			err = in.discard(ctx, info.Key)
		}
		if err != nil {
			return err
		}
	}
	infos, err = in.store.List(ctx, in.staging)
	if err != nil {
		return fmt.Errorf("list staging %s: %w", in.staging, err)
	}
	for _, info := range infos {
		if err := in.store.Delete(ctx, info.Key); err != nil {
			return err
		}
	}
	return nil
}

// durableInsertSink is the sink of a durable INSERT: it stages its files
// on every checkpoint barrier and publishes them when the checkpoint
// completes (two-phase commit; layout and protocol in insert.go).
type durableInsertSink struct {
	insertSink
	writer string // <run>-<subtask>

	mu        sync.Mutex
	manifests []stagedManifestRef // written, not yet published
}

type stagedManifestRef struct {
	id  int64
	key string
}

var _ dataflow.CheckpointListener = (*durableInsertSink)(nil)

func (o *durableInsertSink) Open(tc *dataflow.TaskContext) error {
	o.TC = tc
	o.writer = fmt.Sprintf("%s-%03d", o.in.runID, tc.Subtask)
	opts := o.in.opts
	opts.Prefix = o.in.staging
	opts.ID = o.writer
	opts.Staged = true
	w, err := parquet.NewWriter(o.in.store, o.in.schema, opts)
	if err != nil {
		return err
	}
	o.w = w
	return nil
}

// Finish does nothing: the task precommits the sink after Finish, and the
// job commits that at its end.
func (o *durableInsertSink) Finish(context.Context) error { return nil }

// Close aborts the files not staged yet; staged ones are left for
// recovery to publish or discard.
func (o *durableInsertSink) Close() error {
	if o.w != nil {
		return o.w.Abort(context.Background())
	}
	return nil
}

// PrecommitCheckpoint stages the subtask's open files: they become whole
// objects under the staging prefix, and then a manifest labelled id names
// them. The manifest is written last, so a crash in between leaves staged
// files that no manifest names, which recovery deletes.
func (o *durableInsertSink) PrecommitCheckpoint(ctx context.Context, id int64) error {
	files, err := o.w.Commit(ctx)
	if err != nil || len(files) == 0 {
		return err
	}
	m := stagingManifest{Checkpoint: id}
	for _, f := range files {
		m.Files = append(m.Files, stagedEntry{Staged: f.Key, Key: o.in.publishedKey(f.Key), Rows: f.Rows})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	key := o.in.manifestKey(id, o.writer)
	if err := storage.Put(ctx, o.in.store, key, raw, storage.CreateOptions{}); err != nil {
		return fmt.Errorf("write staging manifest %s: %w", key, err)
	}
	o.mu.Lock()
	o.manifests = append(o.manifests, stagedManifestRef{id: id, key: key})
	o.mu.Unlock()
	return nil
}

// CommitCheckpoint publishes what the subtask staged up to id, in
// checkpoint order. The lock is held throughout, so that two commits never
// race over one manifest. The job's final commit (FinalCheckpoint)
// publishes nothing: no checkpoint records that the job ended, so
// insertDurable first writes a completion record and then publishes.
func (o *durableInsertSink) CommitCheckpoint(ctx context.Context, id int64) error {
	if id == dataflow.FinalCheckpoint {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.manifests) > 0 && o.manifests[0].id <= id {
		if err := o.in.publish(ctx, o.manifests[0].key); err != nil {
			return err
		}
		o.manifests = o.manifests[1:]
	}
	return nil
}

// RecoverCheckpoint settles what earlier attempts of the job staged (see
// recoverStaging); every subtask calls it, the first one does the work.
func (o *durableInsertSink) RecoverCheckpoint(ctx context.Context, id int64) error {
	return o.in.recoverStaging(ctx, id)
}

// completedKey is the completion record of a durable INSERT that ran to its
// end: written before its last files are published, deleted last. Its name
// is no manifest's (manifestID ignores it) and hidden from readers.
func (in *insertion) completedKey() string { return in.staging + "_completed" }

func (in *insertion) markCompleted(ctx context.Context) error {
	if err := storage.Put(ctx, in.store, in.completedKey(), []byte("{}\n"), storage.CreateOptions{}); err != nil {
		return fmt.Errorf("record the job's completion: %w", err)
	}
	return nil
}

// completed reports whether an attempt of the job ran to its end.
func (in *insertion) completed(ctx context.Context) (bool, error) {
	_, err := in.store.Stat(ctx, in.completedKey())
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("read the job's completion record: %w", err)
}

// complete finishes a job that ran to its end: it publishes every staged
// manifest, forgets the job's checkpoints, removes what is left of the
// staging and, last, the completion record. Each step can be replayed.
func (in *insertion) complete(ctx context.Context, d *Durable) error {
	infos, err := in.store.List(ctx, in.staging)
	if err != nil {
		return fmt.Errorf("list staging %s: %w", in.staging, err)
	}
	for _, info := range infos {
		if _, ok := manifestID(info.Key); ok {
			if err := in.publish(ctx, info.Key); err != nil {
				return err
			}
		}
	}
	if err := d.discard(ctx); err != nil {
		return err
	}
	if infos, err = in.store.List(ctx, in.staging); err != nil {
		return fmt.Errorf("list staging %s: %w", in.staging, err)
	}
	for _, info := range infos {
		if info.Key != in.completedKey() {
			if err := in.store.Delete(ctx, info.Key); err != nil {
				return err
			}
		}
	}
	return in.store.Delete(ctx, in.completedKey())
}
