package dataflow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/weirdata/weir/watermark"
)

// CheckpointStore keeps the named blobs of checkpoints. Package storage
// implements it over an object store (the local workspace, S3); dataflow
// declares it so that the engine never imports a store. Names are
// slash-separated and relative.
type CheckpointStore interface {
	// Put writes data under name, replacing what was there; a reader sees
	// the whole blob or none of it.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the blob, or an error wrapping ErrBlobNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// List returns the names that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes a blob; a missing one is not an error.
	Delete(ctx context.Context, name string) error
	// String names the store in messages.
	String() string
}

// ErrBlobNotFound is wrapped by CheckpointStore.Get for a missing blob.
var ErrBlobNotFound = errors.New("checkpoint blob not found")

// Layout of a job's checkpoints in a CheckpointStore:
//
//	<job>/chk-<id>/<node>/<subtask>   state of one operator subtask (subtask file)
//	<job>/chk-<id>/_metadata          written last
//
// <id> is zero-padded to 20 digits so that names sort by id; <node> is the
// node's name, path-escaped. A checkpoint exists only once its _metadata is
// written: the metadata names every subtask file with its size and CRC, so
// a checkpoint whose metadata is missing (an upload that failed or a crash
// before it) or that does not match its files is not restored — the restore
// falls back to the previous complete one and says why.
//
// Subtask file, with bytes and the envelope as in snapshot_codec.go:
//
//	file  = "WCS" version:byte(=2) node:bytes subtask:uvarint n:uvarint entry*n crc:uint32
//	entry = kind:byte kg:uvarint blob:bytes
//	kind  = 1 operator blob | 2 keyed-state snapshot | 3 state-store manifest (version 2)
//
// Metadata:
//
//	meta  = "WCM" version:byte(=2) job:bytes id:uvarint savepoint:bool maxParallelism:uvarint
//	        nsplits:uvarint (split:bytes position:varint max:varint done:bool)*
//	        nfiles:uvarint (name:bytes size:uvarint crc:uvarint kind:byte)*
//	        crc:uint32
//	kind  = 1 subtask file | 2 state-store file (checkpoint_incremental.go)
//
// crc is the CRC-32C of every byte before it, big-endian. The metadata
// names every file the checkpoint needs: its subtask files, and the
// state-store files, which may be shared with other checkpoints of the
// job (<job>/shared/...) except in a savepoint, whose files are all under
// its own directory. Version 1 (no kind: every file a subtask file, no
// state-store entries) is still read; a version above 2 is refused with
// ErrIncompatibleSnapshot.

const (
	metadataName     = "_metadata"
	subtaskMagic     = "WCS"
	metadataMagic    = "WCM"
	checkpointFormat = 2

	fileSubtask = 1 // metadata file kinds
	fileStore   = 2
)

func checkpointDir(job string, id int64) string {
	return fmt.Sprintf("%s/chk-%020d/", escapeName(job), id)
}

func subtaskFileName(job string, id int64, node string, subtask int) string {
	return fmt.Sprintf("%s%s/%d", checkpointDir(job, id), escapeName(node), subtask)
}

// escapeName makes a job or node name one path segment that every object
// store accepts: path-escaped, and never empty, "." or "..".
func escapeName(s string) string {
	e := url.PathEscape(s)
	if e == "" || e == "." || e == ".." {
		e = strings.ReplaceAll(e, ".", "%2E") + "%"
	}
	return e
}

func seal(buf []byte) []byte {
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// unseal checks the magic, version (1 to maxVersion) and trailing CRC of a
// file and returns a decoder over what lies between, and the version.
func unseal(b []byte, magic, what string, maxVersion byte) (*snapDecoder, byte, error) {
	if len(b) < len(magic)+1+4 {
		return nil, 0, fmt.Errorf("%w: %s of %d bytes (truncated)", ErrCorruptSnapshot, what, len(b))
	}
	body := b[:len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, 0, fmt.Errorf("%w: %s checksum %08x, want %08x", ErrCorruptSnapshot, what, got, want)
	}
	if string(body[:len(magic)]) != magic {
		return nil, 0, fmt.Errorf("%w: %s has a bad magic number", ErrCorruptSnapshot, what)
	}
	v := body[len(magic)]
	if v < 1 || v > maxVersion {
		return nil, 0, fmt.Errorf("%w: %s format version %d, want 1 to %d (written by a newer weir?)", ErrIncompatibleSnapshot, what, v, maxVersion)
	}
	return &snapDecoder{b: body[len(magic)+1:]}, v, nil
}

func encodeSubtaskFile(s subtaskSnapshot) []byte {
	e := snapEncoder{buf: append([]byte(subtaskMagic), checkpointFormat)}
	e.str(s.node)
	e.uvarint(uint64(s.subtask))
	e.uvarint(uint64(len(s.entries)))
	for _, en := range s.entries {
		e.byte(en.kind)
		e.uvarint(uint64(en.kg))
		e.bytes(en.blob)
	}
	return seal(e.buf)
}

// decodeSubtaskFile adds the entries of a subtask file to state.
func decodeSubtaskFile(b []byte, maxPar int, state map[string]*NodeState) error {
	return decodeSubtaskFileAt(b, maxPar, state, manifestBase{})
}

// decodeSubtaskFileAt is decodeSubtaskFile for a file of the checkpoint
// whose store manifests are relative to base.
func decodeSubtaskFileAt(b []byte, maxPar int, state map[string]*NodeState, base manifestBase) error {
	d, version, err := unseal(b, subtaskMagic, "subtask file", checkpointFormat)
	if err != nil {
		return err
	}
	node := d.str()
	d.uvarint() // subtask: informative
	n := d.count(3)
	ns := state[node]
	if ns == nil && d.err == nil {
		ns = &NodeState{}
		state[node] = ns
	}
	for range n {
		kind := d.byte()
		kg := d.uvarint()
		blob := d.bytes()
		if d.err != nil {
			break
		}
		if kind != entryOperator && kind != entryBackend && (kind != entryStore || version < 2) {
			d.fail("unknown entry kind %d", kind)
			break
		}
		if kg >= uint64(maxPar) {
			d.fail("key group %d of %d", kg, maxPar)
			break
		}
		if kind == entryStore {
			sc, err := decodeStoreManifest(blob, base)
			if err != nil {
				d.err = err
				break
			}
			ns.Stores = append(ns.Stores, sc)
			continue
		}
		ns.add(kind, int(kg), blob)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

type fileRef struct {
	name string
	size uint64
	crc  uint32
	kind byte // fileSubtask or fileStore
}

func encodeMetadata(job string, chk *Checkpoint, files []fileRef) []byte {
	e := snapEncoder{buf: append([]byte(metadataMagic), checkpointFormat)}
	e.str(job)
	e.uvarint(uint64(chk.ID))
	e.bool(chk.Savepoint)
	e.uvarint(uint64(chk.MaxParallelism))
	ids := sortedMapKeys(chk.Splits)
	e.uvarint(uint64(len(ids)))
	for _, id := range ids {
		st := chk.Splits[id]
		e.str(id)
		e.varint(int64(st.Position))
		e.varint(int64(st.Max))
		e.bool(st.Done)
	}
	e.uvarint(uint64(len(files)))
	for _, f := range files {
		e.str(f.name)
		e.uvarint(f.size)
		e.uvarint(uint64(f.crc))
		e.byte(f.kind)
	}
	return seal(e.buf)
}

func decodeMetadata(b []byte) (job string, chk *Checkpoint, files []fileRef, err error) {
	d, version, err := unseal(b, metadataMagic, "metadata", checkpointFormat)
	if err != nil {
		return "", nil, nil, err
	}
	job = d.str()
	chk = &Checkpoint{Splits: map[string]SplitState{}, State: map[string]*NodeState{}}
	chk.ID = int64(d.uvarint())
	chk.Savepoint = d.bool()
	chk.MaxParallelism = int(d.uvarint())
	if d.err == nil && (chk.MaxParallelism <= 0 || chk.MaxParallelism > 1<<15) {
		d.fail("max parallelism %d", chk.MaxParallelism)
	}
	n := d.count(4)
	for range n {
		id := d.str()
		st := SplitState{Position: Position(d.varint())}
		st.Max = watermark.Time(d.varint())
		st.Done = d.bool()
		chk.Splits[id] = st
	}
	n = d.count(3)
	for range n {
		f := fileRef{name: d.str(), size: d.uvarint(), kind: fileSubtask}
		c := d.uvarint()
		if c > 1<<32-1 {
			d.fail("crc %d", c)
		}
		f.crc = uint32(c)
		if version >= 2 {
			f.kind = d.byte()
			if d.err == nil && f.kind != fileSubtask && f.kind != fileStore {
				d.fail("file kind %d", f.kind)
			}
		}
		files = append(files, f)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return "", nil, nil, d.err
	}
	return job, chk, files, nil
}

// writeCheckpoint uploads a checkpoint: the new files of state stores and
// every subtask file (a few at a time), then the metadata. It runs after
// the tasks have acknowledged, off their goroutines. The local checkpoint
// directories of state stores are removed whatever the outcome.
func writeCheckpoint(ctx context.Context, store CheckpointStore, job string, chk *Checkpoint, snaps []subtaskSnapshot) error {
	defer func() {
		for _, s := range snaps {
			if s.store != nil {
				os.RemoveAll(s.store.dir) //nolint:errcheck // best effort: the subtask's directory is removed on Close
			}
		}
	}()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	upload := func(name string, put func() error) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			if err := put(); err != nil {
				cancel(fmt.Errorf("checkpoint %d: upload %s: %w", chk.ID, name, err))
			}
		})
	}
	// State-store files first: the subtask files name their sizes and CRCs.
	for _, s := range snaps {
		if s.store == nil {
			continue
		}
		for _, i := range s.store.upload {
			upload(s.store.manifest.Files[i].Blob, func() error { return s.store.uploadFile(ctx, store, i) })
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	var files []fileRef
	for _, s := range snaps {
		if s.store == nil {
			continue
		}
		for _, f := range s.store.manifest.Files {
			files = append(files, fileRef{name: f.Blob, size: f.Size, crc: f.CRC, kind: fileStore})
		}
		// The manifest now has every size and CRC: encode it into the
		// subtask file's entry, and add it to chk.
		blob := encodeStoreManifest(s.store.manifest, baseOf(job, chk.ID))
		for i, e := range s.entries {
			if e.kind == entryStore {
				s.entries[i].blob = blob
			}
		}
		ns := chk.State[s.node]
		if ns == nil {
			ns = &NodeState{}
			chk.State[s.node] = ns
		}
		ns.Stores = append(ns.Stores, s.store.manifest)
		chk.files = store
	}
	for _, s := range snaps {
		data := encodeSubtaskFile(s)
		name := subtaskFileName(job, chk.ID, s.node, s.subtask)
		files = append(files, fileRef{name: name, size: uint64(len(data)), crc: crc32.Checksum(data, castagnoli), kind: fileSubtask})
		upload(name, func() error { return store.Put(ctx, name, data) })
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if err := store.Put(ctx, checkpointDir(job, chk.ID)+metadataName, encodeMetadata(job, chk, files)); err != nil {
		return fmt.Errorf("checkpoint %d: write metadata: %w", chk.ID, err)
	}
	for _, s := range snaps {
		if s.store != nil {
			s.store.confirm(job)
		}
	}
	return nil
}

// listCheckpoints returns the ids of the job's checkpoint directories,
// ascending, and which of them have metadata (are complete, unless corrupt).
func listCheckpoints(ctx context.Context, store CheckpointStore, job string) (ids []int64, complete map[int64]bool, err error) {
	prefix := escapeName(job) + "/chk-"
	names, err := store.List(ctx, prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("list checkpoints of %q in %s: %w", job, store, err)
	}
	complete = map[int64]bool{}
	seen := map[int64]bool{}
	for _, name := range names {
		rest := strings.TrimPrefix(name, prefix)
		dir, file, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		id, err := strconv.ParseInt(dir, 10, 64)
		if err != nil {
			continue
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
		if file == metadataName {
			complete[id] = true
		}
	}
	slices.Sort(ids)
	return ids, complete, nil
}

// retainCheckpoints deletes all but the newest keep complete checkpoints,
// and the incomplete ones older than the newest complete one (left over by
// failed uploads). Incomplete checkpoints newer than it may be in progress.
// Then it deletes the shared state-store files that the deleted
// checkpoints named and that no retained complete checkpoint names; a
// shared file a checkpoint in progress uploaded is named by none of the
// deleted ones, so it stays.
func retainCheckpoints(ctx context.Context, store CheckpointStore, job string, keep int) error {
	ids, complete, err := listCheckpoints(ctx, store, job)
	if err != nil {
		return err
	}
	kept, newest := 0, int64(-1)
	var drop, retained []int64
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		switch {
		case complete[id] && kept < keep:
			kept++
			newest = max(newest, id)
			retained = append(retained, id)
		case complete[id] || id < newest:
			drop = append(drop, id)
		}
	}
	orphans := map[string]bool{}
	for _, id := range drop {
		// A checkpoint whose files cannot be read leaves its shared files.
		names, _ := sharedFilesOf(ctx, store, job, id, complete[id])
		for n := range names {
			orphans[n] = true
		}
		if err := deleteCheckpoint(ctx, store, job, id); err != nil {
			return err
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	for _, id := range retained {
		names, err := sharedFilesOf(ctx, store, job, id, true)
		if err != nil {
			return fmt.Errorf("retain checkpoints: %w (no shared file deleted)", err)
		}
		for n := range names {
			delete(orphans, n)
		}
	}
	for _, name := range sortedMapKeys(orphans) {
		if err := store.Delete(ctx, name); err != nil {
			return fmt.Errorf("delete shared state-store file %s: %w", name, err)
		}
	}
	return nil
}

// sharedFilesOf returns the shared state-store files that checkpoint id
// names: in its metadata when it is complete, else in its subtask files.
func sharedFilesOf(ctx context.Context, store CheckpointStore, job string, id int64, complete bool) (map[string]bool, error) {
	out := map[string]bool{}
	shared := sharedPrefix(job)
	if complete {
		meta, err := store.Get(ctx, checkpointDir(job, id)+metadataName)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: metadata: %w", id, err)
		}
		_, _, files, err := decodeMetadata(meta)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: metadata: %w", id, err)
		}
		for _, f := range files {
			if f.kind == fileStore && strings.HasPrefix(f.name, shared) {
				out[f.name] = true
			}
		}
		return out, nil
	}
	names, err := store.List(ctx, checkpointDir(job, id))
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if strings.Contains(strings.TrimPrefix(name, checkpointDir(job, id)), ".store/") {
			continue
		}
		data, err := store.Get(ctx, name)
		if err != nil {
			continue
		}
		state := map[string]*NodeState{}
		if decodeSubtaskFileAt(data, 1<<15, state, baseOf(job, id)) != nil {
			continue
		}
		for _, ns := range state {
			for _, sc := range ns.Stores {
				for _, f := range sc.Files {
					if strings.HasPrefix(f.Blob, shared) {
						out[f.Blob] = true
					}
				}
			}
		}
	}
	return out, nil
}

// deleteCheckpoint removes the metadata first, so that a checkpoint half
// deleted is incomplete rather than missing files.
func deleteCheckpoint(ctx context.Context, store CheckpointStore, job string, id int64) error {
	dir := checkpointDir(job, id)
	if err := store.Delete(ctx, dir+metadataName); err != nil {
		return fmt.Errorf("delete checkpoint %d: %w", id, err)
	}
	names, err := store.List(ctx, dir)
	if err != nil {
		return fmt.Errorf("delete checkpoint %d: %w", id, err)
	}
	for _, name := range names {
		if err := store.Delete(ctx, name); err != nil {
			return fmt.Errorf("delete checkpoint %d: %w", id, err)
		}
	}
	return nil
}

// ReadCheckpoint loads and verifies checkpoint id of job. The state-store
// files it names are checked to exist; they are read, and their sizes and
// CRCs checked, when a subtask restores from them.
func ReadCheckpoint(ctx context.Context, store CheckpointStore, job string, id int64) (*Checkpoint, error) {
	meta, err := store.Get(ctx, checkpointDir(job, id)+metadataName)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: metadata: %w", id, err)
	}
	gotJob, chk, files, err := decodeMetadata(meta)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: metadata: %w", id, err)
	}
	if gotJob != job || chk.ID != id {
		return nil, fmt.Errorf("checkpoint %d: %w: metadata is of job %q checkpoint %d", id, ErrCorruptSnapshot, gotJob, chk.ID)
	}
	storeFiles := map[string]fileRef{}
	for _, f := range files {
		if f.kind == fileStore {
			if !strings.HasPrefix(f.name, checkpointDir(job, id)) && !strings.HasPrefix(f.name, sharedPrefix(job)) {
				return nil, fmt.Errorf("checkpoint %d: %w: state-store file %q outside the checkpoint and the job's shared files", id, ErrCorruptSnapshot, f.name)
			}
			storeFiles[f.name] = f
			continue
		}
		if !strings.HasPrefix(f.name, checkpointDir(job, id)) {
			return nil, fmt.Errorf("checkpoint %d: %w: file %q outside the checkpoint", id, ErrCorruptSnapshot, f.name)
		}
		data, err := store.Get(ctx, f.name)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", id, err)
		}
		if uint64(len(data)) != f.size || crc32.Checksum(data, castagnoli) != f.crc {
			return nil, fmt.Errorf("checkpoint %d: %w: %s does not match the metadata (%d bytes, want %d)", id, ErrCorruptSnapshot, f.name, len(data), f.size)
		}
		if err := decodeSubtaskFileAt(data, chk.MaxParallelism, chk.State, baseOf(job, id)); err != nil {
			return nil, fmt.Errorf("checkpoint %d: %s: %w", id, f.name, err)
		}
	}
	if len(storeFiles) == 0 {
		return chk, nil
	}
	// Every state-store file a subtask needs is in the metadata, as the
	// subtask's manifest describes it, and in the store.
	for _, ns := range chk.State {
		for _, sc := range ns.Stores {
			for _, f := range sc.Files {
				m, ok := storeFiles[f.Blob]
				if !ok || m.size != f.Size || m.crc != f.CRC {
					return nil, fmt.Errorf("checkpoint %d: %w: state-store file %s of subtask %d is not in the metadata as its manifest says", id, ErrCorruptSnapshot, f.Blob, sc.Subtask)
				}
			}
		}
	}
	present := map[string]bool{}
	for _, prefix := range []string{checkpointDir(job, id), sharedPrefix(job)} {
		names, err := store.List(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: list state-store files: %w", id, err)
		}
		for _, n := range names {
			present[n] = true
		}
	}
	for _, name := range sortedMapKeys(storeFiles) {
		if !present[name] {
			return nil, fmt.Errorf("checkpoint %d: %w: state-store file %s is missing", id, ErrCorruptSnapshot, name)
		}
	}
	chk.files = store
	return chk, nil
}

// LatestCheckpoint loads the newest complete checkpoint of job. A newer one
// that is partial (no metadata) is ignored; one that is corrupt is skipped
// for the previous complete one, with a warning on logger naming the
// checkpoint and what was wrong. It returns an error wrapping
// ErrNoCheckpoint when none is usable.
func LatestCheckpoint(ctx context.Context, store CheckpointStore, job string, logger *slog.Logger) (*Checkpoint, error) {
	if logger == nil {
		logger = slog.Default()
	}
	ids, complete, err := listCheckpoints(ctx, store, job)
	if err != nil {
		return nil, err
	}
	var skipped []string
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		if !complete[id] {
			logger.Info("checkpoint has no metadata: it never completed; skipped", "job", job, "checkpoint", id)
			continue
		}
		chk, err := ReadCheckpoint(ctx, store, job, id)
		if err == nil {
			return chk, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		logger.Warn("checkpoint is unusable; falling back to the previous one", "job", job, "checkpoint", id, "error", err)
		skipped = append(skipped, err.Error())
	}
	if len(skipped) > 0 {
		return nil, fmt.Errorf("%w of job %q in %s (skipped: %s)", ErrNoCheckpoint, job, store, strings.Join(skipped, "; "))
	}
	return nil, fmt.Errorf("%w of job %q in %s", ErrNoCheckpoint, job, store)
}

// MemoryCheckpointStore is a CheckpointStore in memory, for tests and jobs
// that only need to survive a failure inside one process.
type MemoryCheckpointStore struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

// NewMemoryCheckpointStore returns an empty store.
func NewMemoryCheckpointStore() *MemoryCheckpointStore {
	return &MemoryCheckpointStore{blobs: map[string][]byte{}}
}

// Put implements CheckpointStore.
func (m *MemoryCheckpointStore) Put(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[name] = slices.Clone(data)
	return nil
}

// Get implements CheckpointStore.
func (m *MemoryCheckpointStore) Get(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrBlobNotFound)
	}
	return slices.Clone(b), nil
}

// List implements CheckpointStore.
func (m *MemoryCheckpointStore) List(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.blobs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Delete implements CheckpointStore.
func (m *MemoryCheckpointStore) Delete(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, name)
	return nil
}

func (m *MemoryCheckpointStore) String() string { return "memory" }
