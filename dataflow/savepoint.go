package dataflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Savepoints: stop a job with a snapshot that outlives it, and read one
// back.
//
// A savepoint is a checkpoint (the same barrier, marked Savepoint, the same
// layout and format, written by the same writeCheckpoint) that the user
// owns rather than the job: Job.StopWithSavepoint writes it to a store of
// its own, where checkpoint retention never looks, so it stays until it is
// deleted by hand. It is self-contained — its metadata names every file it
// needs, all under its own directory — and relocatable: ReadSavepoint reads
// it wherever its directory was moved or copied to, since the files are
// found relative to the directory rather than by the names the metadata
// recorded. Restoring it at another parallelism redistributes key groups
// like any checkpoint.
//
// Stop-with-savepoint, in order:
//
//  1. the coordinator starts the savepoint's barrier and from then on
//     refuses every other checkpoint, and Run makes no final commit;
//  2. once every task has aligned and snapshotted it, it is written to the
//     savepoint store (attachments, state, metadata last) and copied, as
//     the job's latest checkpoint, to its checkpoint store, so that a plain
//     re-run of the job resumes from it (if the copy fails, the savepoint
//     is deleted again: a savepoint that exists is one the sinks commit);
//  3. the sinks commit it;
//  4. the job is cancelled with ErrStopped.
//
// So nothing after the savepoint is committed: rows that reached the sinks
// after its barrier stay staged and are discarded when the job resumes from
// it (CheckpointListener.RecoverCheckpoint). If 2 fails, nothing is
// committed, the job goes on and checkpoints again, and the error says
// why.

// ErrStopped is what Run returns for a job stopped by StopWithSavepoint
// (also when every task happened to finish while the savepoint was taken:
// the savepoint's commit, not Run's, is the job's last).
var ErrStopped = errors.New("job stopped with a savepoint")

// ErrJobEnded is returned by StopWithSavepoint for a job that ran to its
// end: everything it produced is committed, there is nothing to resume.
var ErrJobEnded = errors.New("the job has ended")

// SavepointOptions say where StopWithSavepoint writes the savepoint.
type SavepointOptions struct {
	// Store keeps the savepoint under <job>/chk-<id>/, the layout of a
	// checkpoint, where <job> is the job's checkpoint name
	// (CheckpointOptions.Job). It should not be the job's checkpoint
	// store, whose retention would delete it.
	Store CheckpointStore
	// Attachments are written into the savepoint's directory, under their
	// names, before its metadata: what the caller needs to resume the job
	// (the query layer's job record). The metadata does not name them. A
	// name is one path segment and does not begin with "_".
	Attachments map[string][]byte
}

// SavepointDir is the directory of savepoint (or checkpoint) id of job in
// its store: "<job>/chk-<id, 20 digits>/".
func SavepointDir(job string, id int64) string { return checkpointDir(job, id) }

// StopWithSavepoint takes a savepoint, writes it to opts.Store (and, when
// the job checkpoints to a store, as its latest checkpoint there), commits
// the sinks for it and stops the job: Run returns ErrStopped. It returns
// the savepoint and its directory in opts.Store.
//
// On an error before the savepoint is written the job goes on; one after
// (a sink's commit failed) still stops it — the sinks commit the savepoint
// when the job resumes from it. A job that has ended returns ErrJobEnded.
func (j *Job) StopWithSavepoint(ctx context.Context, opts SavepointOptions) (*Checkpoint, string, error) {
	if opts.Store == nil {
		return nil, "", errors.New("stop with savepoint: no savepoint store")
	}
	job := j.opts.Checkpoints.Job
	if job == "" {
		return nil, "", errors.New("stop with savepoint: no job name to file the savepoint under (CheckpointOptions.Job)")
	}
	for name := range opts.Attachments {
		if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, "_") || name == "." || name == ".." {
			return nil, "", fmt.Errorf("stop with savepoint: attachment name %q: one path segment, not beginning with '_'", name)
		}
	}
	chk, p, err := j.snapshot(ctx, true, true)
	if err != nil {
		if p != nil {
			j.chkStats.record(nil, err, p.start, p.align)
		}
		return nil, "", fmt.Errorf("stop with savepoint: %w", err)
	}
	dir := checkpointDir(job, chk.ID)
	err = j.writeSavepoint(ctx, opts, job, chk, p.snaps)
	j.chkStats.record(chk, err, p.start, p.align)
	if err != nil {
		j.coord.resume()
		return nil, "", fmt.Errorf("stop with savepoint: %w", err)
	}
	err = j.commit(ctx, chk.ID)
	j.coord.cancel(ErrStopped)
	if err != nil {
		return chk, dir, fmt.Errorf("stop with savepoint: savepoint %d is written to %s in %s, but %w (the sinks commit it when the job resumes from it)", chk.ID, dir, opts.Store, err)
	}
	return chk, dir, nil
}

// writeSavepoint writes the savepoint, then copies it to the job's
// checkpoint store. (Writing the snapshot twice is not possible: the
// upload of a state store's files consumes its local checkpoint.) A
// savepoint whose write or copy fails is deleted again, so that a
// savepoint that exists is always one the sinks commit — the job goes on
// past one that does not, and resuming from it would repeat what they
// commit since.
func (j *Job) writeSavepoint(ctx context.Context, opts SavepointOptions, job string, chk *Checkpoint, snaps []subtaskSnapshot) error {
	if len(chk.Unsupported) > 0 {
		return fmt.Errorf("savepoint %d: %w: operators %v keep state that cannot be checkpointed yet", chk.ID, ErrIncompatibleSnapshot, chk.Unsupported)
	}
	err := writeSavepointFiles(ctx, opts, job, chk, snaps)
	co := j.opts.Checkpoints
	if err == nil && co.Store != nil {
		if err = copyCheckpointDir(ctx, opts.Store, co.Store, checkpointDir(job, chk.ID)); err != nil {
			err = fmt.Errorf("savepoint %d as the job's checkpoint: %w", chk.ID, err)
		} else if rerr := retainCheckpoints(ctx, co.Store, co.Job, co.Retained); rerr != nil {
			j.opts.Logger.Warn("checkpoint retention failed", "checkpoint", chk.ID, "error", rerr)
		}
	}
	if err != nil {
		if derr := deleteCheckpoint(context.WithoutCancel(ctx), opts.Store, job, chk.ID); derr != nil {
			j.opts.Logger.Error("a savepoint the job goes on past could not be deleted: do not resume from it", "savepoint", chk.ID,
				"dir", checkpointDir(job, chk.ID), "store", opts.Store.String(), "error", derr)
		}
	}
	return err
}

// writeSavepointFiles writes the attachments and then the snapshot.
func writeSavepointFiles(ctx context.Context, opts SavepointOptions, job string, chk *Checkpoint, snaps []subtaskSnapshot) error {
	dir := checkpointDir(job, chk.ID)
	for _, name := range sortedMapKeys(opts.Attachments) {
		if err := opts.Store.Put(ctx, dir+name, opts.Attachments[name]); err != nil {
			return fmt.Errorf("savepoint %d: write %s: %w", chk.ID, dir+name, err)
		}
	}
	if err := writeCheckpoint(ctx, opts.Store, job, chk, snaps); err != nil {
		return fmt.Errorf("savepoint %d in %s: %w", chk.ID, opts.Store, err)
	}
	return nil
}

// copyCheckpointDir copies the checkpoint directory dir (complete, and
// self-contained like a savepoint) from one store to another under the
// same names, its metadata last.
func copyCheckpointDir(ctx context.Context, from, to CheckpointStore, dir string) error {
	names, err := from.List(ctx, dir)
	if err != nil {
		return err
	}
	copyBlob := func(name string) error {
		b, err := from.Get(ctx, name)
		if err != nil {
			return err
		}
		return to.Put(ctx, name, b)
	}
	for _, name := range names {
		if name != dir+metadataName {
			if err := copyBlob(name); err != nil {
				return err
			}
		}
	}
	return copyBlob(dir + metadataName)
}

// ReadSavepoint reads the savepoint (or checkpoint) whose directory is dir
// in store ("" for the store's root, else ending in "/") and verifies it
// like a checkpoint: the files its metadata names, sizes and CRCs. The
// files are looked for in dir whatever directory they were written to, so
// a savepoint may be moved or copied elsewhere. It returns the savepoint
// and the name of the job that took it.
func ReadSavepoint(ctx context.Context, store CheckpointStore, dir string) (*Checkpoint, string, error) {
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	meta, err := store.Get(ctx, dir+metadataName)
	if err != nil {
		if errors.Is(err, ErrBlobNotFound) {
			return nil, "", fmt.Errorf("savepoint %s%s: no %s: not a savepoint, or one that never completed: %w", store, dir, metadataName, err)
		}
		return nil, "", fmt.Errorf("savepoint %s%s: %w", store, dir, err)
	}
	job, head, _, err := decodeMetadata(meta)
	if err != nil {
		return nil, "", fmt.Errorf("savepoint %s%s: metadata: %w", store, dir, err)
	}
	moved := &relocatedStore{CheckpointStore: store, from: checkpointDir(job, head.ID), to: dir}
	chk, err := ReadCheckpoint(ctx, moved, job, head.ID)
	if err != nil {
		return nil, "", fmt.Errorf("savepoint %s%s: %w", store, dir, err)
	}
	return chk, job, nil
}

// relocatedStore reads the names under from in the directory to: a
// checkpoint's files where its directory lies now.
type relocatedStore struct {
	CheckpointStore
	from, to string
}

// List lists the names under prefix as the savepoint recorded them; a
// prefix outside its directory (the job's shared files) holds nothing.
func (r *relocatedStore) List(ctx context.Context, prefix string) ([]string, error) {
	var at string
	switch {
	case strings.HasPrefix(prefix, r.from):
		at = r.to + strings.TrimPrefix(prefix, r.from)
	case strings.HasPrefix(r.from, prefix):
		at = r.to // the whole directory lies under prefix
	default:
		return nil, nil
	}
	names, err := r.CheckpointStore.List(ctx, at)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, r.to); ok {
			out = append(out, r.from+rest)
		}
	}
	return out, nil
}

func (r *relocatedStore) Get(ctx context.Context, name string) ([]byte, error) {
	rest, ok := strings.CutPrefix(name, r.from)
	if !ok {
		return nil, fmt.Errorf("%w: %s lies outside the savepoint's directory %s", ErrCorruptSnapshot, name, r.from)
	}
	return r.CheckpointStore.Get(ctx, r.to+rest)
}

// checkSplitsKnown refuses to restore chk into a job whose sources lack a
// split that chk had begun and not finished: its rest would be lost, or
// read again under another split's ID on top of the restored state (a
// source whose splits follow the parallelism, restored at another one).
// New splits are fine (files added to a directory are read from their
// start), and so are missing splits the checkpoint had finished.
func checkSplitsKnown(chk *Checkpoint, known map[string]bool) error {
	if chk == nil {
		return nil
	}
	var missing []string
	for _, id := range sortedMapKeys(chk.Splits) {
		if st := chk.Splits[id]; !known[id] && !st.Done && st.Position != 0 {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if len(missing) > 3 {
		missing = append(missing[:3], fmt.Sprintf("and %d more", len(missing)-3))
	}
	return fmt.Errorf("%w: checkpoint %d was taken reading splits the job's sources do not have now (%s): their sources changed, or split their input by the parallelism",
		ErrIncompatibleSnapshot, chk.ID, strings.Join(missing, ", "))
}
