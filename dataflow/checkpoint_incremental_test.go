package dataflow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// dirStore is a StateStore whose checkpoints are given files: it tests the
// bookkeeping of incremental checkpoints (which files are uploaded, named,
// kept and deleted) step by step; the real store (Pebble) runs the
// statetest suite, whose job test covers the same path end to end.
type dirStore struct{ files map[string]string }

func (d *dirStore) Get([]byte) ([]byte, bool, error)                 { return nil, false, nil }
func (d *dirStore) Set(_, _ []byte) error                            { return nil }
func (d *dirStore) Merge(_, _ []byte) error                          { return nil }
func (d *dirStore) Delete([]byte) error                              { return nil }
func (d *dirStore) DeleteRange(_, _ []byte) error                    { return nil }
func (d *dirStore) Scan(_, _ []byte, _ func(_, _ []byte) bool) error { return nil }
func (d *dirStore) Restore([]string, KeyGroupRange) error            { return nil }
func (d *dirStore) Close() error                                     { return nil }
func (d *dirStore) Immutable(name string) bool                       { return strings.HasSuffix(name, ".sst") }
func (d *dirStore) Checkpoint(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for name, content := range d.files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

type putCounter struct {
	CheckpointStore
	mu       sync.Mutex
	puts     []string
	failMeta bool // fail writing metadata: the checkpoint stays incomplete
}

func (p *putCounter) Put(ctx context.Context, name string, data []byte) error {
	if p.failMeta && strings.HasSuffix(name, metadataName) {
		return errors.New("metadata write failed")
	}
	p.mu.Lock()
	p.puts = append(p.puts, name)
	p.mu.Unlock()
	return p.CheckpointStore.Put(ctx, name, data)
}

func TestIncrementalCheckpointRetention(t *testing.T) {
	ctx := t.Context()
	fake := &dirStore{}
	groups := KeyGroupRange{Start: 0, End: 8}
	st := NewStoreStateBackend(groups, func(StateStoreSpec) (StateStore, error) { return fake, nil }, StateStoreSpec{Node: "n"}, t.TempDir())
	defer func() { _ = st.Close() }()
	st.st.ensure()
	st.st.inc = &incrementalState{job: "j", node: "n", run: "r1", uploaded: map[string]StoreFile{}}
	store := &putCounter{CheckpointStore: NewMemoryCheckpointStore()}

	take := func(id int64, savepoint bool, files ...string) []string {
		t.Helper()
		fake.files = map[string]string{"MANIFEST-1": "manifest " + strings.Join(files, ",")}
		for _, f := range files {
			fake.files[f] = "content of " + f
		}
		snap, _, err := snapshotStore(subtaskSnapshot{node: "n"}, st, Barrier{ID: id, Savepoint: savepoint})
		if err != nil {
			t.Fatal(err)
		}
		chk := &Checkpoint{ID: id, Savepoint: savepoint, MaxParallelism: 8, Splits: map[string]SplitState{}, State: map[string]*NodeState{"n": {}}}
		for _, e := range snap.entries {
			chk.State["n"].add(e.kind, e.kg, e.blob)
		}
		store.puts = nil
		if err := writeCheckpoint(ctx, store, "j", chk, []subtaskSnapshot{snap}); err != nil {
			t.Fatal(err)
		}
		if err := retainCheckpoints(ctx, store, "j", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(snap.store.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("checkpoint %d: the local copy %s was not removed: %v", id, snap.store.dir, err)
		}
		// What a restore reads: every file, as uploaded.
		got, err := ReadCheckpoint(ctx, store, "j", id)
		if err != nil {
			t.Fatal(err)
		}
		sc := got.State["n"].Stores[0]
		for _, f := range sc.Files {
			data, err := store.Get(ctx, f.Blob)
			if err != nil || string(data) != fake.files[f.Name] {
				t.Fatalf("checkpoint %d: %s (%s) = %q, %v", id, f.Name, f.Blob, data, err)
			}
			if savepoint && strings.Contains(f.Blob, "/shared/") {
				t.Fatalf("savepoint %d names the shared file %s", id, f.Blob)
			}
		}
		var uploaded []string
		for _, p := range store.puts {
			if strings.HasSuffix(p, ".sst") {
				uploaded = append(uploaded, p[strings.LastIndexByte(p, '/')+1:])
			}
		}
		return uploaded
	}
	shared := func() []string {
		names, err := store.List(ctx, "j/shared/")
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range names {
			names[i] = strings.TrimPrefix(n, "j/shared/n/0/r1-")
		}
		return names
	}
	check := func(step string, got, want []string) {
		t.Helper()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %q, want %q", step, got, want)
		}
	}

	check("chk 1 uploads", take(1, false, "a.sst", "b.sst"), []string{"r1-a.sst", "r1-b.sst"})
	check("chk 2 uploads", take(2, false, "b.sst", "c.sst"), []string{"r1-c.sst"})
	check("after chk 2", shared(), []string{"a.sst", "b.sst", "c.sst"})
	// Checkpoint 1 is dropped: a is named by no retained one.
	check("chk 3 uploads", take(3, false, "c.sst", "d.sst"), []string{"r1-d.sst"})
	check("after chk 3", shared(), []string{"b.sst", "c.sst", "d.sst"})
	// A savepoint uploads all its files under its own directory, shares
	// none and changes nothing shared.
	check("savepoint uploads", take(4, true, "c.sst", "d.sst", "e.sst"), []string{"c.sst", "d.sst", "e.sst"})
	check("after the savepoint", shared(), []string{"c.sst", "d.sst"})
	// The savepoint's e.sst was not recorded as shared: uploaded again.
	check("chk 5 uploads", take(5, false, "d.sst", "e.sst"), []string{"r1-e.sst"})
	check("after chk 5", shared(), []string{"d.sst", "e.sst"})
	if names, _ := store.List(ctx, checkpointDir("j", 4)); len(names) == 0 {
		t.Error("the savepoint was deleted before its turn")
	}
	// A checkpoint that fails after its uploads leaves its files; the next
	// complete one drops it, with the shared files only it named.
	fake.files = map[string]string{"MANIFEST-1": "m", "e.sst": "content of e.sst", "f.sst": "content of f.sst"}
	snap, _, err := snapshotStore(subtaskSnapshot{node: "n"}, st, Barrier{ID: 6})
	if err != nil {
		t.Fatal(err)
	}
	chk6 := &Checkpoint{ID: 6, MaxParallelism: 8, Splits: map[string]SplitState{}, State: map[string]*NodeState{"n": {}}}
	store.failMeta = true
	if err := writeCheckpoint(ctx, store, "j", chk6, []subtaskSnapshot{snap}); err == nil {
		t.Fatal("writing checkpoint 6 succeeded without its metadata")
	}
	store.failMeta = false
	check("after the failed chk 6", shared(), []string{"d.sst", "e.sst", "f.sst"})
	// f.sst was not confirmed: checkpoint 7 uploads it again if it needs it; it does not.
	check("chk 7 uploads", take(7, false, "e.sst", "g.sst"), []string{"r1-g.sst"})
	// f.sst is gone; d.sst stays, named by checkpoint 5, still retained.
	check("after chk 7", shared(), []string{"d.sst", "e.sst", "g.sst"})
	check("chk 8 uploads", take(8, false, "g.sst"), nil)
	check("after chk 8", shared(), []string{"e.sst", "g.sst"})
	// A file a retained checkpoint names is missing: that checkpoint is corrupt.
	if err := store.Delete(ctx, "j/shared/n/0/r1-g.sst"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCheckpoint(ctx, store, "j", 8); !errors.Is(err, ErrCorruptSnapshot) || !strings.Contains(err.Error(), "r1-g.sst") {
		t.Fatalf("reading a checkpoint with a missing file: %v", err)
	}
}

// TestMetadataVersions: format-1 metadata (no file kinds) is still read;
// a newer format is refused as incompatible, not as corrupt.
func TestMetadataVersions(t *testing.T) {
	e := snapEncoder{buf: append([]byte(metadataMagic), 1)}
	e.str("job")
	e.uvarint(7)
	e.bool(false)
	e.uvarint(128)
	e.uvarint(0) // splits
	e.uvarint(1)
	e.str("job/chk-00000000000000000007/op/0")
	e.uvarint(10)
	e.uvarint(99)
	job, chk, files, err := decodeMetadata(seal(e.buf))
	if err != nil || job != "job" || chk.ID != 7 || len(files) != 1 || files[0].kind != fileSubtask || files[0].crc != 99 {
		t.Fatalf("format 1: %q %+v %+v %v", job, chk, files, err)
	}
	b := encodeMetadata("job", &Checkpoint{ID: 7, MaxParallelism: 128}, []fileRef{{name: "x", kind: fileStore}})
	b[len(metadataMagic)] = 3
	if _, _, _, err := decodeMetadata(seal(b[:len(b)-4])); !errors.Is(err, ErrIncompatibleSnapshot) {
		t.Fatalf("format 3: %v, want ErrIncompatibleSnapshot", err)
	}
	// A format-1 subtask file cannot hold a state-store manifest.
	sf := encodeSubtaskFile(subtaskSnapshot{node: "n", entries: []snapshotEntry{{kind: entryStore, blob: encodeStoreManifest(&StoreCheckpoint{KeyGroups: KeyGroupRange{Start: 0, End: 1}}, manifestBase{})}}})
	if err := decodeSubtaskFile(sf, 8, map[string]*NodeState{}); err != nil {
		t.Fatal(err)
	}
	sf[len(subtaskMagic)] = 1
	if err := decodeSubtaskFile(seal(sf[:len(sf)-4]), 8, map[string]*NodeState{}); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("a store entry in a format-1 subtask file: %v", err)
	}
}

// FuzzStoreManifest: the state-store manifest decoder never panics, and
// what it accepts encodes to bytes that decode to the same manifest.
func FuzzStoreManifest(f *testing.F) {
	base := baseOf("j", 1)
	f.Add(encodeStoreManifest(&StoreCheckpoint{Subtask: 2, KeyGroups: KeyGroupRange{Start: 4, End: 9},
		Files: []StoreFile{{Name: "000004.sst", Blob: "j/shared/n/2/r-000004.sst", Size: 812, CRC: 0xdeadbeef},
			{Name: "MANIFEST-000001", Blob: "j/chk-00000000000000000001/n/2.store/MANIFEST-000001", Size: 90},
			{Name: "x", Blob: "elsewhere/x", Size: 1}}}, base))
	f.Add(encodeStoreManifest(&StoreCheckpoint{KeyGroups: KeyGroupRange{Start: 0, End: 1}}, base))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, seal(append([]byte(storeManifestMagic+"\x01"), b...))} {
			sc, err := decodeStoreManifest(in, base)
			if err != nil {
				continue
			}
			again, err := decodeStoreManifest(encodeStoreManifest(sc, base), base)
			if err != nil || !reflect.DeepEqual(again, sc) {
				t.Fatalf("re-encoded manifest decodes to %+v, %v; want %+v", again, err, sc)
			}
		}
	})
}

// TestStoreManifestRelative: a manifest names the files of its checkpoint
// relative to the checkpoint's directory, so a moved savepoint's subtask
// files name its files at their new place.
func TestStoreManifestRelative(t *testing.T) {
	sc := &StoreCheckpoint{KeyGroups: KeyGroupRange{Start: 0, End: 4}, Files: []StoreFile{
		{Name: "000005.sst", Blob: checkpointDir("a", 7) + "n/0.store/000005.sst"},
		{Name: "000006.sst", Blob: sharedPrefix("a") + "n/0/r-000006.sst"}}}
	moved, err := decodeStoreManifest(encodeStoreManifest(sc, baseOf("a", 7)), baseOf("b", 9))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := moved.Files[0].Blob, checkpointDir("b", 9)+"n/0.store/000005.sst"; got != want {
		t.Errorf("moved private file: %s, want %s", got, want)
	}
	if got, want := moved.Files[1].Blob, sharedPrefix("b")+"n/0/r-000006.sst"; got != want {
		t.Errorf("moved shared file: %s, want %s", got, want)
	}
}
