package dataflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Incremental checkpoints of state stores.
//
// Layout, besides that of checkpoint_store.go:
//
//	<job>/chk-<id>/<node>/<subtask>.store/<file>   a file private to the checkpoint
//	<job>/shared/<node>/<subtask>/<run>-<file>     an immutable file shared by checkpoints
//
// A checkpoint uploads the immutable files (Pebble SSTs) that no complete
// checkpoint of the subtask uploaded before to the shared area, and the
// others (MANIFEST, OPTIONS) under its own directory. <run> is random per
// run of the subtask, so that a run never overwrites the shared files of
// another one (which may have other contents under the same name). A
// savepoint shares nothing: every file goes under its own directory.
//
// The subtask's entry in its subtask file (kind 3) is a store manifest:
//
//	manifest = "WSC" version:byte(=1) subtask:uvarint start:uvarint end:uvarint
//	           nfiles:uvarint (name:bytes where:byte blob:bytes size:uvarint crc:uint32)* crc:uint32
//	where    = 0 blob is relative to the checkpoint's directory (<job>/chk-<id>/)
//	         | 1 blob is relative to the job's shared area (<job>/shared/)
//	         | 2 blob is a full name
//
// start and end are the key groups the store held, blob the file's name in
// the CheckpointStore, crc the CRC-32C of the file; the trailing crc is the
// CRC-32C of every byte before it. Names are relative so that a savepoint,
// whose files are all in its directory, can be moved: its subtask files
// stay valid, and only the metadata (which names every file in full) is
// rewritten.

const (
	storeManifestMagic   = "WSC"
	storeManifestVersion = 1
	sharedDir            = "shared/"
)

// storeUpload is what a subtask's StateStore saved on a barrier, waiting
// for the upload: a local checkpoint directory and the files to send.
type storeUpload struct {
	dir      string           // the local checkpoint directory, removed after the upload
	manifest *StoreCheckpoint // every file; CRC and Size of the new ones are set by the upload
	upload   []int            // indexes in manifest.Files of the files to upload
	inc      *incrementalState
	shared   bool // not a savepoint: record the shared files uploaded
}

func newRunID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("dataflow: crypto/rand: %v", err)) // never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func sharedPrefix(job string) string { return escapeName(job) + "/" + sharedDir }

// snapshotStore takes the synchronous part of an incremental checkpoint of
// st: the store's local checkpoint, the list of files the checkpoint needs,
// and the timers by key group.
func snapshotStore(snap subtaskSnapshot, st *StateBackend, b Barrier) (subtaskSnapshot, bool, error) {
	if err := st.Err(); err != nil {
		return snap, false, err
	}
	ss := st.st
	inc := ss.inc
	if ss.opened() {
		dir := ss.localDir("chk")
		if err := ss.kv.Checkpoint(dir); err != nil {
			return snap, false, fmt.Errorf("state store checkpoint: %w", err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return snap, false, fmt.Errorf("state store checkpoint: %w", err)
		}
		up := &storeUpload{dir: dir, inc: inc, shared: !b.Savepoint,
			manifest: &StoreCheckpoint{Subtask: inc.subtask, KeyGroups: st.groups}}
		private := fmt.Sprintf("%s%s/%d.store/", checkpointDir(inc.job, b.ID), escapeName(inc.node), inc.subtask)
		inc.mu.Lock()
		for _, e := range ents {
			if !e.Type().IsRegular() {
				inc.mu.Unlock()
				os.RemoveAll(dir) //nolint:errcheck // best effort; the directory is removed on Close anyway
				return snap, false, fmt.Errorf("state store checkpoint: %s is not a regular file", filepath.Join(dir, e.Name()))
			}
			name := e.Name()
			immutable := ss.kv.Immutable(name)
			if f, ok := inc.uploaded[name]; ok && immutable && up.shared {
				up.manifest.Files = append(up.manifest.Files, f)
				continue
			}
			f := StoreFile{Name: name, Blob: private + escapeName(name)}
			if immutable && up.shared {
				f.Blob = fmt.Sprintf("%s%s/%d/%s-%s", sharedPrefix(inc.job), escapeName(inc.node), inc.subtask, inc.run, escapeName(name))
			}
			up.upload = append(up.upload, len(up.manifest.Files))
			up.manifest.Files = append(up.manifest.Files, f)
		}
		inc.mu.Unlock()
		snap.store = up
		// The entry's sizes and CRCs are set by the upload (writeCheckpoint).
		snap.entries = append(snap.entries, snapshotEntry{kind: entryStore, kg: st.groups.Start})
	}
	for _, kg := range st.timerGroups() {
		var buf snapshotBuffer
		if err := st.snapshotKeyGroup(kg, &buf, false); err != nil {
			return snap, false, err
		}
		snap.entries = append(snap.entries, snapshotEntry{kind: entryBackend, kg: kg, blob: buf.b})
	}
	return snap, false, nil
}

// timerGroups returns, sorted, the key groups that hold timers.
func (s *StateBackend) timerGroups() []int {
	seen := map[int]bool{}
	for _, ts := range s.timers {
		for kg := range ts.byKG {
			seen[kg] = true
		}
	}
	return sortedMapKeys(seen)
}

// manifestBase is where the relative names of a store manifest are.
type manifestBase struct{ chkDir, shared string }

func baseOf(job string, id int64) manifestBase {
	return manifestBase{chkDir: checkpointDir(job, id), shared: sharedPrefix(job)}
}

func encodeStoreManifest(sc *StoreCheckpoint, base manifestBase) []byte {
	e := snapEncoder{buf: append([]byte(storeManifestMagic), storeManifestVersion)}
	e.uvarint(uint64(sc.Subtask))
	e.uvarint(uint64(sc.KeyGroups.Start))
	e.uvarint(uint64(sc.KeyGroups.End))
	e.uvarint(uint64(len(sc.Files)))
	for _, f := range sc.Files {
		e.str(f.Name)
		switch {
		case base.chkDir != "" && strings.HasPrefix(f.Blob, base.chkDir):
			e.byte(0)
			e.str(strings.TrimPrefix(f.Blob, base.chkDir))
		case base.shared != "" && strings.HasPrefix(f.Blob, base.shared):
			e.byte(1)
			e.str(strings.TrimPrefix(f.Blob, base.shared))
		default:
			e.byte(2)
			e.str(f.Blob)
		}
		e.uvarint(f.Size)
		e.buf = append(e.buf, byte(f.CRC>>24), byte(f.CRC>>16), byte(f.CRC>>8), byte(f.CRC))
	}
	return seal(e.buf)
}

func decodeStoreManifest(b []byte, base manifestBase) (*StoreCheckpoint, error) {
	d, _, err := unseal(b, storeManifestMagic, "state-store manifest", storeManifestVersion)
	if err != nil {
		return nil, err
	}
	sc := &StoreCheckpoint{Subtask: int(d.uvarint())}
	start, end := d.uvarint(), d.uvarint()
	if d.err == nil && (start >= end || end > 1<<15) {
		d.fail("key groups [%d, %d)", start, end)
	}
	sc.KeyGroups = KeyGroupRange{Start: int(start), End: int(end)}
	n := d.count(7)
	for range n {
		f := StoreFile{Name: d.str()}
		switch where, rel := d.byte(), d.str(); where {
		case 0:
			f.Blob = base.chkDir + rel
		case 1:
			f.Blob = base.shared + rel
		case 2:
			f.Blob = rel
		default:
			d.fail("file location %d", where)
		}
		f.Size = d.uvarint()
		for range 4 {
			f.CRC = f.CRC<<8 | uint32(d.byte())
		}
		if d.err == nil && !validStoreFileName(f.Name) {
			d.fail("file name %q", f.Name)
		}
		if d.err != nil {
			break
		}
		sc.Files = append(sc.Files, f)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return sc, nil
}

// validStoreFileName accepts the names of files of a flat directory.
func validStoreFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00")
}

// uploadFile uploads file i of the manifest, setting its size and CRC.
func (u *storeUpload) uploadFile(ctx context.Context, store CheckpointStore, i int) error {
	f := &u.manifest.Files[i]
	data, err := os.ReadFile(filepath.Join(u.dir, f.Name))
	if err != nil {
		return err
	}
	f.Size = uint64(len(data))
	f.CRC = crc32.Checksum(data, castagnoli)
	return store.Put(ctx, f.Blob, data)
}

// confirm records the shared files of a checkpoint whose metadata is
// written: later checkpoints of the subtask name them instead of
// uploading them again.
func (u *storeUpload) confirm(job string) {
	if !u.shared {
		return
	}
	u.inc.mu.Lock()
	defer u.inc.mu.Unlock()
	for _, f := range u.manifest.Files {
		if strings.HasPrefix(f.Blob, sharedPrefix(job)) {
			u.inc.uploaded[f.Name] = f
		}
	}
}

// restoreStore restores the tables of st from the store checkpoints of the
// former subtasks whose key groups overlap owned.
func restoreStore(ctx context.Context, st *StateBackend, chk *Checkpoint, stores []*StoreCheckpoint, owned KeyGroupRange) error {
	if st == nil || st.st == nil {
		return fmt.Errorf("%w: checkpoint %d keeps this operator's keyed state in state-store files (a Pebble job); this job keeps state in memory: run it with the same state backend", ErrIncompatibleSnapshot, chk.ID)
	}
	if chk.files == nil {
		return fmt.Errorf("%w: checkpoint %d names state-store files but no checkpoint store to read them from", ErrIncompatibleSnapshot, chk.ID)
	}
	ss := st.st
	kv := ss.ensure()
	if err := st.Err(); err != nil {
		return err
	}
	var from []*StoreCheckpoint
	for _, sc := range stores {
		if sc.KeyGroups.Start < owned.End && owned.Start < sc.KeyGroups.End {
			from = append(from, sc)
		}
	}
	var dirs []string
	defer func() {
		for _, d := range dirs {
			os.RemoveAll(d) //nolint:errcheck // best effort: the subtask's directory is removed on Close
		}
	}()
	for _, sc := range from {
		dir := ss.localDir("restore")
		dirs = append(dirs, dir)
		if err := downloadStore(ctx, chk, sc, dir); err != nil {
			return err
		}
	}
	if err := kv.Restore(dirs, owned); err != nil {
		return fmt.Errorf("restore state store of checkpoint %d: %w", chk.ID, err)
	}
	if inc := ss.inc; inc != nil && len(from) == 1 {
		// The store adopted the one directory: its immutable files are in
		// the shared area already, if that is this job's.
		inc.mu.Lock()
		for _, f := range from[0].Files {
			if kv.Immutable(f.Name) && strings.HasPrefix(f.Blob, sharedPrefix(inc.job)) {
				inc.uploaded[f.Name] = f
			}
		}
		inc.mu.Unlock()
	}
	return nil
}

// downloadStore writes the files of sc into the new directory dir, a few
// at a time, checking each against its size and CRC.
func downloadStore(ctx context.Context, chk *Checkpoint, sc *StoreCheckpoint, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, f := range sc.Files {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			if err := downloadFile(ctx, chk, sc, f, dir); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

func downloadFile(ctx context.Context, chk *Checkpoint, sc *StoreCheckpoint, f StoreFile, dir string) error {
	data, err := chk.files.Get(ctx, f.Blob)
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w: state-store file %s of subtask %d: %w", chk.ID, ErrCorruptSnapshot, f.Blob, sc.Subtask, err)
	}
	if uint64(len(data)) != f.Size || crc32.Checksum(data, castagnoli) != f.CRC {
		return fmt.Errorf("checkpoint %d: %w: state-store file %s of subtask %d does not match its manifest (%d bytes, want %d)", chk.ID, ErrCorruptSnapshot, f.Blob, sc.Subtask, len(data), f.Size)
	}
	if err := os.WriteFile(filepath.Join(dir, f.Name), data, 0o644); err != nil {
		return fmt.Errorf("checkpoint %d: download %s: %w", chk.ID, f.Blob, err)
	}
	return nil
}
