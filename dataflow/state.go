package dataflow

import (
	"fmt"
	"sort"
)

// StateBackend holds the keyed state of one operator subtask, organized by
// key group so that it can be snapshotted per key group and restored at
// another parallelism. Keys and values are bytes (the layout a disk backend
// such as Pebble stores); typed access goes through ValueState, MapState and
// ListState with a Codec.
//
// Operators whose state is better kept in flat, typed tables (window
// accumulators, join buffers) do not store rows here; they register as
// ManagedState so the backend can still snapshot and restore them by key group.
//
// The in-memory implementation is the default; issue #6 adds Pebble behind
// the same methods.
type StateBackend struct {
	groups  KeyGroupRange
	tables  map[string]*stateTable
	managed map[string]ManagedState
}

// ManagedState is operator state kept outside the backend's tables.
type ManagedState interface {
	// KeyGroups lists the key groups that currently hold state.
	KeyGroups() []int
}

// NewStateBackend returns an empty in-memory backend for the key groups groups.
func NewStateBackend(groups KeyGroupRange) *StateBackend {
	return &StateBackend{groups: groups, tables: map[string]*stateTable{}, managed: map[string]ManagedState{}}
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
	t, ok := s.tables[name]
	if !ok {
		t = &stateTable{groups: map[int]map[string][]byte{}}
		s.tables[name] = t
	}
	return &StateTable{t: t, groups: s.groups}
}

type stateTable struct {
	groups map[int]map[string][]byte
}

// StateTable is a map from (key group, key) to value bytes.
type StateTable struct {
	t      *stateTable
	groups KeyGroupRange
}

func (t *StateTable) check(kg int) {
	if !t.groups.Contains(kg) {
		panic(fmt.Sprintf("dataflow: key group %d outside %s", kg, t.groups))
	}
}

// Get returns the value of key in key group kg.
func (t *StateTable) Get(kg int, key []byte) ([]byte, bool) {
	t.check(kg)
	v, ok := t.t.groups[kg][string(key)]
	return v, ok
}

// Put sets the value of key in key group kg. The table keeps val; the caller
// must not modify it afterwards.
func (t *StateTable) Put(kg int, key, val []byte) {
	t.check(kg)
	g := t.t.groups[kg]
	if g == nil {
		g = map[string][]byte{}
		t.t.groups[kg] = g
	}
	g[string(key)] = val
}

// Delete removes key from key group kg.
func (t *StateTable) Delete(kg int, key []byte) {
	t.check(kg)
	if g := t.t.groups[kg]; g != nil {
		delete(g, string(key))
		if len(g) == 0 {
			delete(t.t.groups, kg)
		}
	}
}

// Len returns the number of keys in key group kg.
func (t *StateTable) Len(kg int) int { return len(t.t.groups[kg]) }

// Scan calls fn for every key of key group kg in key order, until fn returns false.
func (t *StateTable) Scan(kg int, fn func(key, val []byte) bool) {
	g := t.t.groups[kg]
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn([]byte(k), g[k]) {
			return
		}
	}
}

// Codec encodes state values of type T.
type Codec[T any] interface {
	Encode(T) []byte
	Decode([]byte) (T, error)
}

// ValueState is one value of type T per key.
type ValueState[T any] struct {
	table *StateTable
	codec Codec[T]
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
func (v *ValueState[T]) Put(kg int, key []byte, val T) { v.table.Put(kg, key, v.codec.Encode(val)) }

// Clear removes the key's value.
func (v *ValueState[T]) Clear(kg int, key []byte) { v.table.Delete(kg, key) }
