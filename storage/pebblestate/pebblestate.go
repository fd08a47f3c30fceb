// Package pebblestate keeps the keyed state of operator subtasks in Pebble
// (github.com/cockroachdb/pebble/v2): a dataflow.StateStore for state
// larger than memory, chosen per job with dataflow.JobOptions.StateStore.
//
// One Pebble DB per operator subtask, in a local directory the job removes
// when it ends. The WAL is off: durability comes from checkpoints, which
// flush the memtable and hard-link the live files (Store.Checkpoint), so
// that a job's checkpoints upload only the SSTs that are new. A ristretto
// cache of values sits in front of point reads and is invalidated by every
// write of its key (see Store); clearing key groups is a range delete.
//
// Pebble v2 rather than v1: v2.1 is the maintained line, builds cleanly
// with Go 1.26, and its checkpoints and range deletions are what this
// package needs; v1.1 is in maintenance only.
package pebblestate

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/dgraph-io/ristretto/v2"

	"github.com/weirdata/weir/dataflow"
)

// Options tune a Store.
type Options struct {
	// CacheBytes is the budget of the ristretto value cache in front of
	// point reads (default 32 MiB; negative: no cache).
	CacheBytes int64
	// BlockCacheBytes is Pebble's block cache (default 64 MiB).
	BlockCacheBytes int64
	// MemTableBytes is the size of a Pebble memtable (default 64 MiB).
	MemTableBytes uint64
	// Logger receives Pebble's errors (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.CacheBytes == 0 {
		o.CacheBytes = 32 << 20
	}
	if o.BlockCacheBytes <= 0 {
		o.BlockCacheBytes = 64 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Factory returns the dataflow.StateStoreFactory that opens a Store per
// operator subtask in the directory the job gives it.
func Factory(o Options) dataflow.StateStoreFactory {
	return func(spec dataflow.StateStoreSpec) (dataflow.StateStore, error) {
		s, err := Open(spec.Dir, o)
		if err != nil {
			return nil, fmt.Errorf("state store of %s#%d: %w", spec.Node, spec.Subtask, err)
		}
		return s, nil
	}
}

// Store is a dataflow.StateStore in a Pebble DB. Like the backend it
// serves, it is used by one goroutine.
//
// The value cache is invalidated by generation rather than by deleting
// entries: ristretto applies its sets asynchronously, so a set of a value
// read before a write could become visible after the write's delete. Each
// cached value carries the write count at which it was read; a write
// stamps the current count into one of writeSlots slots chosen by the
// key's hash, and a range delete into floor; a cached value older than
// its slot or floor is not used. Collisions only cost misses, and a write
// costs a hash and a store instead of a ristretto delete.
type Store struct {
	dir   string
	opts  Options
	db    *pebble.DB
	cache *ristretto.Cache[[]byte, cachedValue] // nil when off
	seed  maphash.Seed
	slots []uint64 // write count of the last write, by key hash
	floor uint64   // write count of the last range delete
	// writes counts writes: cache generations, and a scan notices that fn
	// wrote and repositions its iterator.
	writes uint64
}

type cachedValue struct {
	v   []byte
	gen uint64
}

const writeSlots = 1 << 16

var _ dataflow.StateStore = (*Store)(nil)

// Open opens (creating it) the Pebble DB in dir.
func Open(dir string, o Options) (*Store, error) {
	o = o.withDefaults()
	s := &Store{dir: dir, opts: o}
	if o.CacheBytes > 0 {
		s.seed = maphash.MakeSeed()
		s.slots = make([]uint64, writeSlots)
		c, err := ristretto.NewCache(&ristretto.Config[[]byte, cachedValue]{
			// ~10 counters per entry ristretto may hold; assume entries of
			// 64 bytes and more.
			NumCounters: max(o.CacheBytes/64*10, 1000),
			MaxCost:     o.CacheBytes,
			BufferItems: 64,
			Cost:        func(v cachedValue) int64 { return int64(len(v.v)) + 64 },
		})
		if err != nil {
			return nil, fmt.Errorf("value cache: %w", err)
		}
		s.cache = c
	}
	if err := s.open(); err != nil {
		if s.cache != nil {
			s.cache.Close()
		}
		return nil, err
	}
	return s, nil
}

func (s *Store) open() error {
	cache := pebble.NewCache(s.opts.BlockCacheBytes)
	defer cache.Unref()
	db, err := pebble.Open(s.dir, &pebble.Options{
		DisableWAL:   true,
		Cache:        cache,
		MemTableSize: s.opts.MemTableBytes,
		Merger:       pebble.DefaultMerger, // concatenation: Append
		Logger:       pebbleLogger{s.opts.Logger.With("pebble", s.dir)},
	})
	if err != nil {
		return fmt.Errorf("open pebble in %s: %w", s.dir, err)
	}
	s.db = db
	return nil
}

// pebbleLogger sends Pebble's errors to slog and drops its chatter.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(string, ...any) {}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	// Pebble's contract: Fatalf does not return. On the task's goroutine
	// the panic fails the job (the task recovers it); on one of Pebble's
	// own goroutines it ends the process, as Pebble's default logger does.
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// Get implements dataflow.StateStore.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	var slot *uint64
	if s.cache != nil {
		slot = &s.slots[maphash.Bytes(s.seed, key)%writeSlots]
		if e, ok := s.cache.Get(key); ok && e.gen >= *slot && e.gen >= s.floor {
			return e.v, true, nil
		}
	}
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = bytes.Clone(v)
	if v == nil {
		v = []byte{}
	}
	if err := closer.Close(); err != nil {
		return nil, false, err
	}
	if s.cache != nil {
		s.cache.Set(key, cachedValue{v: v, gen: s.writes}, 0)
	}
	return v, true, nil
}

func (s *Store) written(key []byte) {
	s.writes++
	if s.cache != nil {
		s.slots[maphash.Bytes(s.seed, key)%writeSlots] = s.writes
	}
}

// Set implements dataflow.StateStore.
func (s *Store) Set(key, val []byte) error {
	s.written(key)
	return s.db.Set(key, val, pebble.NoSync)
}

// Merge implements dataflow.StateStore: it appends val.
func (s *Store) Merge(key, val []byte) error {
	s.written(key)
	return s.db.Merge(key, val, pebble.NoSync)
}

// Delete implements dataflow.StateStore.
func (s *Store) Delete(key []byte) error {
	s.written(key)
	return s.db.Delete(key, pebble.NoSync)
}

// DeleteRange implements dataflow.StateStore with a range tombstone.
func (s *Store) DeleteRange(start, end []byte) error {
	s.writes++
	s.floor = s.writes
	return s.db.DeleteRange(start, end, pebble.NoSync)
}

// Scan implements dataflow.StateStore. When fn writes, the iterator is
// opened again after the key it visited, so that it sees the writes.
func (s *Store) Scan(start, end []byte, fn func(key, val []byte) bool) error {
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return err
	}
	defer func() {
		if iter != nil {
			iter.Close() //nolint:errcheck // errors are reported by iter.Error below
		}
	}()
	for ok := iter.First(); ok; {
		v, err := iter.ValueAndErr()
		if err != nil {
			return err
		}
		w := s.writes
		if !fn(iter.Key(), v) {
			return iter.Error()
		}
		if s.writes == w {
			ok = iter.Next()
			continue
		}
		after := append(bytes.Clone(iter.Key()), 0)
		if err := iter.Close(); err != nil {
			return err
		}
		if iter, err = s.db.NewIter(&pebble.IterOptions{LowerBound: after, UpperBound: end}); err != nil {
			iter = nil
			return err
		}
		ok = iter.First()
	}
	return iter.Error()
}

// Checkpoint implements dataflow.StateStore: it flushes the memtable (the
// WAL is off) and has Pebble hard-link the live files into dir.
func (s *Store) Checkpoint(dir string) error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := s.db.Checkpoint(dir); err != nil {
		return fmt.Errorf("checkpoint to %s: %w", dir, err)
	}
	return nil
}

// Immutable implements dataflow.StateStore: SSTs and blob files never
// change under their names; MANIFEST, OPTIONS and markers do.
func (s *Store) Immutable(name string) bool {
	return strings.HasSuffix(name, ".sst") || strings.HasSuffix(name, ".blob")
}

// Restore implements dataflow.StateStore. The first directory becomes
// the DB (renamed into place) without the keys outside groups, removed by
// range deletes; the keys of groups in the others are copied in.
func (s *Store) Restore(dirs []string, groups dataflow.KeyGroupRange) error {
	if err := s.db.Close(); err != nil {
		return err
	}
	s.db = nil
	s.writes++
	s.floor = s.writes
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	if len(dirs) > 0 {
		if err := os.Rename(dirs[0], s.dir); err != nil {
			return err
		}
	}
	if err := s.open(); err != nil {
		return err
	}
	lo, hi := kgKey(groups.Start), kgKey(groups.End)
	if len(dirs) > 0 {
		if err := s.db.DeleteRange(kgKey(0), lo, pebble.NoSync); err != nil {
			return err
		}
		if err := s.db.DeleteRange(hi, []byte{0xff, 0xff, 0xff}, pebble.NoSync); err != nil {
			return err
		}
	}
	for _, dir := range dirs[min(1, len(dirs)):] {
		if err := s.copyFrom(dir, lo, hi); err != nil {
			return fmt.Errorf("restore from %s: %w", filepath.Base(dir), err)
		}
	}
	return nil
}

// copyFrom copies the keys in [lo, hi) of the checkpoint in dir.
func (s *Store) copyFrom(dir string, lo, hi []byte) error {
	src, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, Merger: pebble.DefaultMerger,
		Logger: pebbleLogger{s.opts.Logger.With("pebble", dir)}})
	if err != nil {
		return err
	}
	defer src.Close() //nolint:errcheck // read-only
	iter, err := src.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	for ok := iter.First(); ok; ok = iter.Next() {
		v, err := iter.ValueAndErr()
		if err != nil {
			iter.Close() //nolint:errcheck // the error is err
			return err
		}
		if err := b.Set(iter.Key(), v, nil); err != nil {
			iter.Close() //nolint:errcheck // the error is err
			return err
		}
		if b.Len() >= 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				iter.Close() //nolint:errcheck // the error is err
				return err
			}
			b = s.db.NewBatch()
		}
	}
	if err := iter.Close(); err != nil {
		return err
	}
	return b.Commit(pebble.NoSync)
}

func kgKey(kg int) []byte { return []byte{byte(kg >> 8), byte(kg)} }

// Close implements dataflow.StateStore.
func (s *Store) Close() error {
	if s.cache != nil {
		s.cache.Close()
		s.cache = nil
	}
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}
