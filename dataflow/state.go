package dataflow

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// StateBackend holds the keyed state of one operator subtask, organized by
// key group so that it can be snapshotted per key group and restored at
// another parallelism. Keys and values are bytes (the layout a disk backend
// such as Pebble stores); typed access goes through ValueState, MapState and
// ListState with a Codec. Event-time timers live here too (Timers), so that
// one snapshot of a key group holds everything keyed about it.
//
// Operators whose state is better kept in flat, typed tables (window
// accumulators, join buffers) do not store rows here; they register as
// ManagedState so the backend can still snapshot and restore them by key group.
//
// A backend is used by one goroutine (its subtask); it is not safe for
// concurrent use.
//
// The byte tables are kept in memory by default (NewStateBackend), or in
// a StateStore (NewStoreStateBackend: Pebble, in storage/pebblestate, for
// state larger than memory), chosen per job (JobOptions.StateStore).
// Timers and operator-managed state stay in memory either way. Both must
// pass the conformance suite in dataflow/statetest. The ordered-KV layout
// a store keeps is, per entry:
//
//	key group (2 bytes, big-endian) | uvarint len(table) | table | key  →  value
//
// so that a key group, a table within it, and a prefix of keys within that
// (the entries of one MapState key) are each a contiguous key range.
type StateBackend struct {
	groups  KeyGroupRange
	tables  map[string]*stateTable
	timers  map[string]*TimerService
	managed map[string]ManagedState
	st      *storeState // nil: the tables are in memory
}

// ManagedState is operator state kept outside the backend's tables.
type ManagedState interface {
	// KeyGroups lists the key groups that currently hold state.
	KeyGroups() []int
}

// NewStateBackend returns an empty in-memory backend for the key groups groups.
func NewStateBackend(groups KeyGroupRange) *StateBackend {
	return &StateBackend{groups: groups, tables: map[string]*stateTable{},
		timers: map[string]*TimerService{}, managed: map[string]ManagedState{}}
}

// KeyGroups returns the key groups this backend holds.
func (s *StateBackend) KeyGroups() KeyGroupRange { return s.groups }

// Register records operator-managed state under name.
func (s *StateBackend) Register(name string, m ManagedState) error {
	if _, ok := s.managed[name]; ok {
		return fmt.Errorf("state %q registered twice", name)
	}
	s.managed[name] = m
	return nil
}

// Table returns the byte table named name, creating it.
func (s *StateBackend) Table(name string) *StateTable {
	if s.st != nil {
		tb := s.st.tabs[name]
		if tb == nil {
			tb = &StateTable{groups: s.groups, kv: &kvTable{st: s.st, name: tablePrefix(name)}}
			s.st.tabs[name] = tb
		}
		return tb
	}
	t, ok := s.tables[name]
	if !ok {
		t = &stateTable{groups: map[int]*stateGroup{}}
		s.tables[name] = t
	}
	return &StateTable{t: t, groups: s.groups}
}

// Timers returns the event-time timer service named name, creating it.
// Its timers are part of the backend's key-group snapshots.
func (s *StateBackend) Timers(name string) *TimerService {
	ts, ok := s.timers[name]
	if !ok {
		ts = NewTimerService(s.groups)
		s.timers[name] = ts
	}
	return ts
}

// TableNames returns the names of the byte tables, sorted: in a store,
// those opened and those that hold entries.
func (s *StateBackend) TableNames() []string {
	if s.st == nil {
		return sortedMapKeys(s.tables)
	}
	seen := map[string]bool{}
	for name := range s.st.tabs {
		seen[name] = true
	}
	for _, kg := range s.st.groupsWithEntries(s.groups) {
		for _, name := range s.st.tableNamesIn(kg) {
			seen[name] = true
		}
	}
	return sortedMapKeys(seen)
}

// TimerNames returns the names of the timer services, sorted.
func (s *StateBackend) TimerNames() []string { return sortedMapKeys(s.timers) }

// GroupsWithState returns, sorted, the key groups that hold at least one
// table entry or timer (operator-managed state is not included: ask it).
// A checkpoint need not write the others.
func (s *StateBackend) GroupsWithState() []int {
	seen := map[int]bool{}
	for _, t := range s.tables {
		for kg := range t.groups {
			seen[kg] = true
		}
	}
	if s.st != nil {
		for _, kg := range s.st.groupsWithEntries(s.groups) {
			seen[kg] = true
		}
	}
	for _, ts := range s.timers {
		for kg := range ts.byKG {
			seen[kg] = true
		}
	}
	return sortedMapKeys(seen)
}

func sortedMapKeys[K string | int, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

type stateTable struct {
	groups map[int]*stateGroup
}

// stateGroup is one key group of a table: a hash map for point access and an
// ordered key set for scans. Values are boxed so that an update is one map
// lookup and can reuse the value's memory.
type stateGroup struct {
	vals map[string]*[]byte
	keys orderedKeys
}

// StateTable is a map from (key group, key) to value bytes. Scans visit
// keys in byte order.
type StateTable struct {
	t      *stateTable
	groups KeyGroupRange
	kv     *kvTable // non-nil: the table is in a StateStore
}

func (t *StateTable) check(kg int) {
	if !t.groups.Contains(kg) {
		panic(fmt.Sprintf("dataflow: key group %d outside %s", kg, t.groups))
	}
}

// Get returns the value of key in key group kg. The value is the table's
// memory: it must not be modified, and is valid until the key is next written.
func (t *StateTable) Get(kg int, key []byte) ([]byte, bool) {
	t.check(kg)
	if t.kv != nil {
		return t.kv.get(kg, key)
	}
	g := t.t.groups[kg]
	if g == nil {
		return nil, false
	}
	p := g.vals[string(key)]
	if p == nil {
		return nil, false
	}
	return slices.Clip(*p), true
}

func (t *StateTable) groupFor(kg int) *stateGroup {
	g := t.t.groups[kg]
	if g == nil {
		g = &stateGroup{vals: map[string]*[]byte{}}
		t.t.groups[kg] = g
	}
	return g
}

// Put sets the value of key in key group kg. The table keeps val; the caller
// must not modify it afterwards.
func (t *StateTable) Put(kg int, key, val []byte) {
	t.check(kg)
	if t.kv != nil {
		t.kv.put(kg, key, val)
		return
	}
	g := t.groupFor(kg)
	if p := g.vals[string(key)]; p != nil {
		*p = slices.Clip(val)
		return
	}
	g.insert(key, slices.Clip(val))
}

// putCopy sets the value of key to a copy of val, reusing the memory of
// the old value when it is large enough (fixed-width values always are).
// Typed states encode into scratch space and store with it.
func (t *StateTable) putCopy(kg int, key, val []byte) {
	t.check(kg)
	if t.kv != nil {
		t.kv.put(kg, key, val)
		return
	}
	g := t.groupFor(kg)
	if p := g.vals[string(key)]; p != nil {
		if cap(*p) >= len(val) {
			*p = (*p)[:len(val)]
			copy(*p, val)
		} else {
			*p = bytes.Clone(val)
		}
		return
	}
	g.insert(key, bytes.Clone(val))
}

func (g *stateGroup) insert(key, val []byte) {
	k := string(key)
	g.vals[k] = &val
	g.keys.insert(k)
}

// Append appends data to the value of key in key group kg (an absent value
// is empty), in amortized O(len(data)). A Pebble backend implements it with
// a merge operator, so ListState appends never read the list.
func (t *StateTable) Append(kg int, key, data []byte) {
	t.check(kg)
	if t.kv != nil {
		t.kv.merge(kg, key, data)
		return
	}
	g := t.groupFor(kg)
	p := g.vals[string(key)]
	if p == nil {
		g.insert(key, bytes.Clone(data))
		return
	}
	// Values stored by Put are clipped and Get hands out clipped slices, so
	// append never writes into memory that someone else may append to.
	*p = append(*p, data...)
}

// Delete removes key from key group kg.
func (t *StateTable) Delete(kg int, key []byte) {
	t.check(kg)
	if t.kv != nil {
		t.kv.delete(kg, key)
		return
	}
	g := t.t.groups[kg]
	if g == nil {
		return
	}
	if g.vals[string(key)] == nil {
		return
	}
	delete(g.vals, string(key))
	g.keys.delete(string(key))
	if len(g.vals) == 0 {
		delete(t.t.groups, kg)
	}
}

// DeletePrefix removes every key of key group kg that starts with prefix
// and returns how many there were.
func (t *StateTable) DeletePrefix(kg int, prefix []byte) int {
	t.check(kg)
	if t.kv != nil {
		return t.kv.deletePrefix(kg, prefix)
	}
	var keys []string
	t.scan(kg, string(prefix), func(k string, _ []byte) bool {
		keys = append(keys, k)
		return true
	})
	for _, k := range keys {
		t.Delete(kg, []byte(k))
	}
	return len(keys)
}

// Len returns the number of keys in key group kg.
func (t *StateTable) Len(kg int) int {
	if t.kv != nil {
		n := 0
		t.kv.scan(kg, nil, func(_, _ []byte) bool { n++; return true })
		return n
	}
	if g := t.t.groups[kg]; g != nil {
		return len(g.vals)
	}
	return 0
}

// Scan calls fn for every key of key group kg in key order, until fn returns false.
// fn may write to the table: keys it deletes that were not yet visited are
// not visited; keys it adds may or may not be. key and val are valid
// until fn returns (in a StateStore, the iterator's memory).
func (t *StateTable) Scan(kg int, fn func(key, val []byte) bool) {
	t.ScanPrefix(kg, nil, fn)
}

// ScanPrefix is Scan restricted to the keys that start with prefix: one
// seek and an ordered walk, as on a disk backend.
func (t *StateTable) ScanPrefix(kg int, prefix []byte, fn func(key, val []byte) bool) {
	if t.kv != nil {
		t.kv.scan(kg, prefix, fn)
		return
	}
	t.scan(kg, string(prefix), func(k string, v []byte) bool { return fn([]byte(k), v) })
}

func (t *StateTable) scan(kg int, prefix string, fn func(key string, val []byte) bool) {
	if t.kv != nil {
		t.kv.scan(kg, []byte(prefix), func(k, v []byte) bool { return fn(string(k), v) })
		return
	}
	g := t.t.groups[kg]
	if g == nil {
		return
	}
	o := &g.keys
	ci, i := o.seek(prefix)
	for ci < len(o.chunks) {
		k := o.chunks[ci][i]
		if !strings.HasPrefix(k, prefix) {
			return
		}
		ver := o.version
		if !fn(k, slices.Clip(*g.vals[k])) {
			return
		}
		if o.version != ver {
			ci, i = o.seek(k)
			if ci < len(o.chunks) && o.chunks[ci][i] == k {
				ci, i = o.next(ci, i)
			}
			continue
		}
		ci, i = o.next(ci, i)
	}
}

// orderedKeys is a sorted set of strings kept as a list of sorted chunks of
// at most keysPerChunk keys: O(log n) seeks, inserts and deletes that move at
// most a chunk, and in-order walks without allocation. The rejected
// alternatives were a single sorted slice (O(n) inserts), sorting on every
// scan (O(n log n) per MapState iteration) and a B-tree dependency for what
// fits in a page of code.
type orderedKeys struct {
	chunks [][]string
	// version changes with every insert and delete, so a walk can notice
	// that the chunks moved under it and seek again.
	version uint64
}

const keysPerChunk = 512

// seek returns the position of the first key ≥ k (ci == len(chunks) at the end).
func (o *orderedKeys) seek(k string) (ci, i int) {
	ci = sort.Search(len(o.chunks), func(j int) bool {
		c := o.chunks[j]
		return c[len(c)-1] >= k
	})
	if ci == len(o.chunks) {
		return ci, 0
	}
	i, _ = slices.BinarySearch(o.chunks[ci], k)
	return ci, i
}

func (o *orderedKeys) next(ci, i int) (int, int) {
	if i+1 < len(o.chunks[ci]) {
		return ci, i + 1
	}
	return ci + 1, 0
}

func (o *orderedKeys) insert(k string) {
	o.version++
	ci, i := o.seek(k)
	if ci == len(o.chunks) {
		if ci == 0 {
			o.chunks = append(o.chunks, make([]string, 0, 8))
		} else {
			ci--
		}
		i = len(o.chunks[ci])
	}
	c := slices.Insert(o.chunks[ci], i, k)
	if len(c) <= keysPerChunk {
		o.chunks[ci] = c
		return
	}
	half := len(c) / 2
	right := append(make([]string, 0, keysPerChunk), c[half:]...)
	clear(c[half:])
	o.chunks[ci] = c[:half]
	o.chunks = slices.Insert(o.chunks, ci+1, right)
}

func (o *orderedKeys) delete(k string) {
	ci, i := o.seek(k)
	if ci == len(o.chunks) || o.chunks[ci][i] != k {
		return
	}
	o.version++
	c := slices.Delete(o.chunks[ci], i, i+1)
	switch {
	case len(c) == 0:
		o.chunks = slices.Delete(o.chunks, ci, ci+1)
	case ci+1 < len(o.chunks) && len(c)+len(o.chunks[ci+1]) <= keysPerChunk/2:
		// Merge small neighbours so that deletes cannot leave a long list
		// of nearly empty chunks.
		o.chunks[ci] = append(c, o.chunks[ci+1]...)
		o.chunks = slices.Delete(o.chunks, ci+1, ci+2)
	default:
		o.chunks[ci] = c
	}
}

// Codec encodes state values of type T. Codecs used for MapState keys
// decide the order in which Range visits them: byte order of the encoding.
type Codec[T any] interface {
	// Encode appends the encoding of v to dst and returns the result.
	Encode(dst []byte, v T) ([]byte, error)
	// Decode decodes b, which it must not keep (it is backend memory).
	Decode(b []byte) (T, error)
}

// ValueState is one value of type T per key.
type ValueState[T any] struct {
	table *StateTable
	codec Codec[T]
	buf   []byte
}

// NewValueState returns the value state named name of backend s.
func NewValueState[T any](s *StateBackend, name string, c Codec[T]) *ValueState[T] {
	return &ValueState[T]{table: s.Table(name), codec: c}
}

// Get returns the key's value, and false if it has none.
func (v *ValueState[T]) Get(kg int, key []byte) (T, bool, error) {
	b, ok := v.table.Get(kg, key)
	if !ok {
		var zero T
		return zero, false, nil
	}
	val, err := v.codec.Decode(b)
	return val, err == nil, err
}

// Put sets the key's value.
func (v *ValueState[T]) Put(kg int, key []byte, val T) error {
	b, err := v.codec.Encode(v.buf[:0], val)
	if err != nil {
		return err
	}
	v.buf = b
	v.table.putCopy(kg, key, b)
	return nil
}

// Clear removes the key's value.
func (v *ValueState[T]) Clear(kg int, key []byte) { v.table.Delete(kg, key) }

// MapState is a map from user keys UK to values V per key. Each entry is
// one table entry under the composite key
//
//	uvarint(len(key)) | key | userKeyCodec(uk)
//
// The length prefix makes the composite keys of one key a contiguous range
// that no other key's entries share (a 0x00 separator would not: keys may
// contain 0x00), so Range is a prefix scan on any ordered backend, visiting
// user keys in the byte order of their encoding.
type MapState[UK, V any] struct {
	table *StateTable
	kc    Codec[UK]
	vc    Codec[V]
	buf   []byte // composite keys
	vbuf  []byte // values
}

// NewMapState returns the map state named name of backend s.
func NewMapState[UK, V any](s *StateBackend, name string, kc Codec[UK], vc Codec[V]) *MapState[UK, V] {
	return &MapState[UK, V]{table: s.Table(name), kc: kc, vc: vc}
}

func mapPrefix(dst, key []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(key))), key...)
}

func (m *MapState[UK, V]) composite(key []byte, uk UK) ([]byte, error) {
	b, err := m.kc.Encode(mapPrefix(m.buf[:0], key), uk)
	if err != nil {
		return nil, fmt.Errorf("map state key: %w", err)
	}
	m.buf = b
	return b, nil
}

// Get returns the value of uk in the key's map, and false if it has none.
func (m *MapState[UK, V]) Get(kg int, key []byte, uk UK) (V, bool, error) {
	var zero V
	ck, err := m.composite(key, uk)
	if err != nil {
		return zero, false, err
	}
	b, ok := m.table.Get(kg, ck)
	if !ok {
		return zero, false, nil
	}
	v, err := m.vc.Decode(b)
	return v, err == nil, err
}

// Contains reports whether the key's map has uk.
func (m *MapState[UK, V]) Contains(kg int, key []byte, uk UK) (bool, error) {
	ck, err := m.composite(key, uk)
	if err != nil {
		return false, err
	}
	_, ok := m.table.Get(kg, ck)
	return ok, nil
}

// Put sets uk to v in the key's map.
func (m *MapState[UK, V]) Put(kg int, key []byte, uk UK, v V) error {
	ck, err := m.composite(key, uk)
	if err != nil {
		return err
	}
	b, err := m.vc.Encode(m.vbuf[:0], v)
	if err != nil {
		return err
	}
	m.vbuf = b
	m.table.putCopy(kg, ck, b)
	return nil
}

// Delete removes uk from the key's map.
func (m *MapState[UK, V]) Delete(kg int, key []byte, uk UK) error {
	ck, err := m.composite(key, uk)
	if err != nil {
		return err
	}
	m.table.Delete(kg, ck)
	return nil
}

// Range calls fn for each entry of the key's map in the byte order of the
// encoded user keys, until fn returns false. fn may modify the map (see
// StateTable.Scan).
func (m *MapState[UK, V]) Range(kg int, key []byte, fn func(uk UK, v V) bool) error {
	prefix := mapPrefix(nil, key)
	var err error
	m.table.scan(kg, string(prefix), func(ck string, val []byte) bool {
		var uk UK
		var v V
		if uk, err = m.kc.Decode([]byte(ck[len(prefix):])); err != nil {
			return false
		}
		if v, err = m.vc.Decode(val); err != nil {
			return false
		}
		return fn(uk, v)
	})
	return err
}

// Len returns the number of entries of the key's map (a scan: O(entries)).
func (m *MapState[UK, V]) Len(kg int, key []byte) int {
	n := 0
	m.table.scan(kg, string(mapPrefix(nil, key)), func(string, []byte) bool { n++; return true })
	return n
}

// Clear removes the key's whole map.
func (m *MapState[UK, V]) Clear(kg int, key []byte) {
	m.table.DeletePrefix(kg, mapPrefix(nil, key))
}

// ListState is a list of values of type T per key. The list is one table
// value: the concatenation of uvarint(len(element)) | element for each
// element, so Append is a table append (a merge on Pebble) that never
// reads the list, and Get decodes it in one pass.
type ListState[T any] struct {
	table *StateTable
	codec Codec[T]
	buf   []byte // one element
	lbuf  []byte // a whole list
}

// NewListState returns the list state named name of backend s.
func NewListState[T any](s *StateBackend, name string, c Codec[T]) *ListState[T] {
	return &ListState[T]{table: s.Table(name), codec: c}
}

func (l *ListState[T]) appendElem(dst []byte, v T) ([]byte, error) {
	enc, err := l.codec.Encode(l.buf[:0], v)
	if err != nil {
		return dst, err
	}
	l.buf = enc
	return append(binary.AppendUvarint(dst, uint64(len(enc))), enc...), nil
}

// Append adds v at the end of the key's list.
func (l *ListState[T]) Append(kg int, key []byte, v T) error {
	b, err := l.appendElem(l.lbuf[:0], v)
	if err != nil {
		return err
	}
	l.lbuf = b
	l.table.Append(kg, key, b)
	return nil
}

// Update replaces the key's list by vs (an empty vs clears it).
func (l *ListState[T]) Update(kg int, key []byte, vs []T) error {
	if len(vs) == 0 {
		l.table.Delete(kg, key)
		return nil
	}
	b := l.lbuf[:0]
	for _, v := range vs {
		var err error
		if b, err = l.appendElem(b, v); err != nil {
			return err
		}
	}
	l.lbuf = b
	l.table.putCopy(kg, key, b)
	return nil
}

// Range calls fn for each element of the key's list in order, until fn
// returns false. fn must not modify the list.
func (l *ListState[T]) Range(kg int, key []byte, fn func(v T) bool) error {
	b, _ := l.table.Get(kg, key)
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return fmt.Errorf("list state: corrupt element length")
		}
		v, err := l.codec.Decode(b[w : w+int(n)])
		if err != nil {
			return err
		}
		if !fn(v) {
			return nil
		}
		b = b[w+int(n):]
	}
	return nil
}

// Get returns the key's list (nil if it is empty).
func (l *ListState[T]) Get(kg int, key []byte) ([]T, error) {
	var out []T
	err := l.Range(kg, key, func(v T) bool { out = append(out, v); return true })
	return out, err
}

// Clear empties the key's list.
func (l *ListState[T]) Clear(kg int, key []byte) { l.table.Delete(kg, key) }
