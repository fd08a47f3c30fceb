package dataflow

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// StateStore is an ordered key-value store that keeps the byte tables of a
// StateBackend out of the Go heap: state larger than memory. Package
// storage/pebblestate implements it with Pebble; dataflow declares it so
// that the engine never imports a store. The keys are those of the layout
// in StateBackend's comment (key group, table, key), so a key group and a
// table within it are each one key range.
//
// A store is used by the one goroutine of its subtask, except Checkpoint's
// directory, which the checkpoint upload reads from another goroutine.
type StateStore interface {
	// Get returns the value of key, and false when there is none. The
	// caller may keep the value; the store never modifies it.
	Get(key []byte) ([]byte, bool, error)
	// Set sets the value of key. The store copies key and val.
	Set(key, val []byte) error
	// Merge appends val to the value of key (an absent value is empty)
	// without reading it.
	Merge(key, val []byte) error
	// Delete removes key; an absent key is not an error.
	Delete(key []byte) error
	// DeleteRange removes every key in [start, end).
	DeleteRange(start, end []byte) error
	// Scan calls fn for every key in [start, end), in byte order, until fn
	// returns false. key and val are valid until fn returns. fn may write
	// to the store: keys it deletes that were not yet visited are not
	// visited; keys it adds may or may not be.
	Scan(start, end []byte, fn func(key, val []byte) bool) error
	// Checkpoint writes a consistent copy of everything written so far
	// into the directory dir, which must not exist, as cheaply as it can
	// (hard links to immutable files). The copy is a flat directory of
	// files that Restore accepts; it stays valid while the store changes.
	Checkpoint(dir string) error
	// Immutable reports whether the file name of a checkpoint directory
	// keeps its content for as long as it exists under that name in any
	// checkpoint of this store (a Pebble SST), so that it is uploaded once
	// and shared by the checkpoints that need it.
	Immutable(name string) bool
	// Restore replaces the store's content by the keys of the key groups
	// groups held in the checkpoint directories dirs, which Checkpoint
	// wrote in stores of any key groups. With exactly one directory the
	// store adopts it: it may move it, and its immutable files keep their
	// names and contents in the store's later checkpoints.
	Restore(dirs []string, groups KeyGroupRange) error
	// Close releases the store; its files may be removed afterwards.
	Close() error
}

// StateStoreSpec says which operator subtask a StateStore is opened for.
type StateStoreSpec struct {
	// Node and Subtask name the operator subtask.
	Node    string
	Subtask int
	// KeyGroups are the key groups the subtask owns.
	KeyGroups KeyGroupRange
	// Dir is a local directory for the store's files, which the store
	// creates. Its parent is removed after Close.
	Dir string
}

// StateStoreFactory opens the StateStore of one operator subtask. It is
// the per-job choice of state backend: JobOptions.StateStore.
type StateStoreFactory func(spec StateStoreSpec) (StateStore, error)

// storeState is what a StateBackend kept in a StateStore has besides the
// store: the sticky error of its writes, the tables' key prefixes, and the
// bookkeeping of incremental checkpoints.
type storeState struct {
	open func(dir string) (StateStore, error) // opens kv on first use
	base string                               // where dir is made
	kv   StateStore                           // nil until first use
	dir  string                               // the subtask's local directory (store files, checkpoint copies, downloads)
	err  error                                // first store error
	tabs map[string]*StateTable
	seq  int // numbers the local directories of checkpoints and downloads

	// Incremental checkpoints (checkpoint_store.go): set when the job
	// stores its checkpoints.
	inc *incrementalState
}

// incrementalState records which immutable files of a subtask's store
// are in the checkpoint store already. It is shared by the subtask's
// goroutine (which snapshots) and the checkpoint upload (which confirms).
type incrementalState struct {
	job, node string
	subtask   int
	run       string // names the files this run uploads, unique per run

	mu sync.Mutex
	// uploaded maps a local file name to the file of a complete
	// checkpoint that holds the same bytes.
	uploaded map[string]StoreFile
}

// NewStoreStateBackend returns a backend for the key groups groups whose
// byte tables are kept in a StateStore that open opens, on first use, in
// a new directory under base (os.TempDir() when empty); spec names the
// subtask (its Dir is set when the store is opened). Timers stay in
// memory. Close it when done: that closes the store and removes the
// directory.
func NewStoreStateBackend(groups KeyGroupRange, open StateStoreFactory, spec StateStoreSpec, base string) *StateBackend {
	s := NewStateBackend(groups)
	spec.KeyGroups = groups
	s.st = &storeState{base: base, tabs: map[string]*StateTable{}, open: func(dir string) (StateStore, error) {
		spec.Dir = dir
		return open(spec)
	}}
	return s
}

// ensure opens the store unless it is open; on failure the store is one
// that fails every call, and the backend's Err says why.
func (st *storeState) ensure() StateStore {
	if st.kv != nil {
		return st.kv
	}
	dir, err := os.MkdirTemp(st.base, "weir-state-*")
	if err == nil {
		st.dir = dir
		st.kv, err = st.open(filepath.Join(dir, "db"))
	}
	if err != nil {
		st.fail("open", err)
		st.kv = failedStore{err: st.err}
	}
	return st.kv
}

// opened reports whether the store was used.
func (st *storeState) opened() bool { return st.kv != nil }

// failedStore is a StateStore that could not be opened.
type failedStore struct{ err error }

func (f failedStore) Get([]byte) ([]byte, bool, error)                 { return nil, false, f.err }
func (f failedStore) Set(_, _ []byte) error                            { return f.err }
func (f failedStore) Merge(_, _ []byte) error                          { return f.err }
func (f failedStore) Delete([]byte) error                              { return f.err }
func (f failedStore) DeleteRange(_, _ []byte) error                    { return f.err }
func (f failedStore) Scan(_, _ []byte, _ func(_, _ []byte) bool) error { return f.err }
func (f failedStore) Checkpoint(string) error                          { return f.err }
func (f failedStore) Immutable(string) bool                            { return false }
func (f failedStore) Restore([]string, KeyGroupRange) error            { return f.err }
func (f failedStore) Close() error                                     { return nil }

// Err returns the first error of the backend's store (nil in memory).
// The typed states and byte tables return no errors, so the process
// operator checks Err after each batch, and a checkpoint fails with it.
func (s *StateBackend) Err() error {
	if s.st == nil {
		return nil
	}
	return s.st.err
}

// Close releases the backend's store and removes its local directory.
// A backend in memory has nothing to release.
func (s *StateBackend) Close() error {
	if s.st == nil || s.st.kv == nil {
		return nil
	}
	err := s.st.kv.Close()
	s.st.kv = failedStore{err: fmt.Errorf("state store closed")}
	if s.st.dir != "" {
		if rerr := os.RemoveAll(s.st.dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

func (st *storeState) fail(op string, err error) {
	if err != nil && st.err == nil {
		st.err = fmt.Errorf("state store: %s: %w", op, err)
	}
}

// kvTable is a byte table in a store: its key prefix per key group is
// kg (2 bytes BE) | uvarint len(name) | name.
type kvTable struct {
	st   *storeState
	name []byte // uvarint len(name) | name
	buf  []byte // scratch for keys
}

func tablePrefix(name string) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(name))), name...)
}

func appendKGPrefix(dst []byte, kg int) []byte { return append(dst, byte(kg>>8), byte(kg)) }

// key returns the store key of (kg, key) in scratch space valid until the
// next call.
func (t *kvTable) key(kg int, key []byte) []byte {
	t.buf = append(append(appendKGPrefix(t.buf[:0], kg), t.name...), key...)
	return t.buf
}

// prefixEnd returns the least key greater than every key that starts with
// p, or nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := slices.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// keyGroupSpan returns the store keys of the key groups [from, to).
func keyGroupSpan(from, to int) (start, end []byte) {
	return appendKGPrefix(nil, from), appendKGPrefix(nil, to)
}

func (t *kvTable) get(kg int, key []byte) ([]byte, bool) {
	v, ok, err := t.st.ensure().Get(t.key(kg, key))
	if err != nil {
		t.st.fail("get", err)
		return nil, false
	}
	return slices.Clip(v), ok
}

func (t *kvTable) put(kg int, key, val []byte) {
	t.st.fail("set", t.st.ensure().Set(t.key(kg, key), val))
}

func (t *kvTable) merge(kg int, key, val []byte) {
	t.st.fail("merge", t.st.ensure().Merge(t.key(kg, key), val))
}

func (t *kvTable) delete(kg int, key []byte) {
	t.st.fail("delete", t.st.ensure().Delete(t.key(kg, key)))
}

// scan calls fn with the table keys (without the key-group and table
// prefix) of key group kg that start with prefix.
func (t *kvTable) scan(kg int, prefix []byte, fn func(key, val []byte) bool) {
	start := append(append(appendKGPrefix(nil, kg), t.name...), prefix...)
	skip := 2 + len(t.name)
	err := t.st.ensure().Scan(start, prefixEnd(start), func(k, v []byte) bool {
		return fn(k[skip:], slices.Clip(v))
	})
	t.st.fail("scan", err)
}

func (t *kvTable) deletePrefix(kg int, prefix []byte) int {
	n := 0
	t.scan(kg, prefix, func(_, _ []byte) bool { n++; return true })
	if n > 0 {
		start := append(append(appendKGPrefix(nil, kg), t.name...), prefix...)
		t.st.fail("delete range", t.st.ensure().DeleteRange(start, prefixEnd(start)))
	}
	return n
}

// groupsWithEntries returns the key groups of r that hold any key, by
// seeking from one group to the next.
func (st *storeState) groupsWithEntries(r KeyGroupRange) []int {
	if !st.opened() {
		return nil
	}
	var out []int
	for kg := r.Start; kg < r.End; {
		start, end := keyGroupSpan(kg, r.End)
		next := -1
		err := st.ensure().Scan(start, end, func(k, _ []byte) bool {
			next = int(k[0])<<8 | int(k[1])
			return false
		})
		st.fail("scan", err)
		if next < 0 || err != nil {
			break
		}
		out = append(out, next)
		kg = next + 1
	}
	return out
}

// tableNamesIn returns the names of the tables with entries in key group
// kg, by seeking from one table to the next.
func (st *storeState) tableNamesIn(kg int) []string {
	if !st.opened() {
		return nil
	}
	var names []string
	start, end := keyGroupSpan(kg, kg+1)
	for {
		var name []byte
		err := st.ensure().Scan(start, end, func(k, _ []byte) bool {
			n, w := binary.Uvarint(k[2:])
			if w > 0 && n <= uint64(len(k)-2-w) {
				name = slices.Clone(k[2 : 2+w+int(n)])
			}
			return false
		})
		st.fail("scan", err)
		if name == nil || err != nil {
			break
		}
		_, w := binary.Uvarint(name)
		names = append(names, string(name[w:]))
		start = prefixEnd(append(appendKGPrefix(nil, kg), name...))
	}
	return names
}

// localDir returns a new directory path under the subtask's directory
// (the store must be open).
func (st *storeState) localDir(what string) string {
	st.seq++
	return filepath.Join(st.dir, fmt.Sprintf("%s-%d", what, st.seq))
}
