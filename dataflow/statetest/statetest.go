// Package statetest is the conformance suite every kind of state backend
// passes: the in-memory one and those kept in a dataflow.StateStore
// (storage/pebblestate). It covers the byte tables (put, get, delete, scan
// order, prefix scans, writes during scans), the typed states, timers,
// snapshots and restores by key group (also at another parallelism),
// large values, many keys, and a real job that checkpoints, is stopped,
// and is restored at another parallelism — incrementally, with shared
// state-store files, when the backend keeps its tables in a store.
//
//	func TestConformance(t *testing.T) {
//		statetest.Run(t, statetest.Backend{New: ..., Store: ...})
//	}
package statetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weirdata/weir/dataflow"
)

// Backend is a kind of state backend under test.
type Backend struct {
	// New returns an empty backend for the key groups r; the suite does
	// not close it (register a t.Cleanup).
	New func(t *testing.T, r dataflow.KeyGroupRange) *dataflow.StateBackend
	// Store is the JobOptions.StateStore that gives a job this kind of
	// backend (nil: in memory).
	Store dataflow.StateStoreFactory
	// Checkpoints returns an empty checkpoint store for the job test
	// (default: dataflow.NewMemoryCheckpointStore).
	Checkpoints func(t *testing.T) dataflow.CheckpointStore
}

// Run runs the suite against the backends b makes.
func Run(t *testing.T, b Backend) {
	all := dataflow.KeyGroupRange{Start: 0, End: 8}
	newBackend := func(t *testing.T) func(dataflow.KeyGroupRange) *dataflow.StateBackend {
		return func(r dataflow.KeyGroupRange) *dataflow.StateBackend { return b.New(t, r) }
	}
	t.Run("table", func(t *testing.T) { testTable(t, b.New(t, all)) })
	t.Run("value", func(t *testing.T) { testValueState(t, b.New(t, all)) })
	t.Run("map", func(t *testing.T) { testMapState(t, b.New(t, all)) })
	t.Run("list", func(t *testing.T) { testListState(t, b.New(t, all)) })
	t.Run("timers", func(t *testing.T) { testTimers(t, newBackend(t)) })
	t.Run("against-map", func(t *testing.T) { testAgainstMap(t, b.New(t, dataflow.KeyGroupRange{Start: 0, End: 1})) })
	t.Run("large-values", func(t *testing.T) { testLargeValues(t, newBackend(t)) })
	t.Run("many-keys", func(t *testing.T) { testManyKeys(t, newBackend(t)) })
	t.Run("snapshot-round-trip", func(t *testing.T) { testSnapshotRoundTrip(t, newBackend(t)) })
	t.Run("snapshot-rescale", func(t *testing.T) { testSnapshotRescale(t, newBackend(t)) })
	t.Run("snapshot-errors", func(t *testing.T) { testSnapshotErrors(t, newBackend(t)) })
	t.Run("job", func(t *testing.T) { testJob(t, b) })
}

func testTable(t *testing.T, s *dataflow.StateBackend) {
	tb := s.Table("t")
	tb.Put(1, []byte("b"), []byte("2"))
	tb.Put(1, []byte("a"), []byte("1"))
	tb.Put(1, []byte("ab"), []byte("3"))
	tb.Put(2, []byte("a"), []byte("other group"))
	if v, ok := tb.Get(1, []byte("a")); !ok || string(v) != "1" {
		t.Fatalf("Get(a) = %q, %v", v, ok)
	}
	if _, ok := tb.Get(1, []byte("c")); ok {
		t.Fatal("Get(c) found a value")
	}
	if got := scanKeys(tb, 1, ""); got != "a ab b" {
		t.Errorf("Scan = %q, want in key order", got)
	}
	if got := scanKeys(tb, 1, "a"); got != "a ab" {
		t.Errorf("ScanPrefix(a) = %q", got)
	}
	tb.Append(1, []byte("a"), []byte("x"))
	tb.Append(1, []byte("new"), []byte("y"))
	if v, _ := tb.Get(1, []byte("a")); string(v) != "1x" {
		t.Errorf("after Append: %q", v)
	}
	if v, _ := tb.Get(1, []byte("new")); string(v) != "y" {
		t.Errorf("Append to an absent key: %q", v)
	}
	if n := tb.DeletePrefix(1, []byte("a")); n != 2 {
		t.Errorf("DeletePrefix removed %d, want 2", n)
	}
	tb.Delete(1, []byte("b"))
	tb.Delete(1, []byte("b"))
	tb.Delete(1, []byte("new"))
	if tb.Len(1) != 0 || tb.Len(2) != 1 {
		t.Errorf("Len = %d, %d; want 0, 1", tb.Len(1), tb.Len(2))
	}
	if got := s.GroupsWithState(); !slices.Equal(got, []int{2}) {
		t.Errorf("GroupsWithState = %v, want [2]", got)
	}

	// Deleting during a scan: every key is visited once, deleted ones are not.
	for i := range 2000 {
		tb.Put(3, fmt.Appendf(nil, "k%05d", i), nil)
	}
	visited := 0
	tb.Scan(3, func(k, _ []byte) bool {
		visited++
		tb.Delete(3, k)
		next := fmt.Appendf(nil, "k%05d", mustAtoi(string(k[1:]))+1)
		tb.Delete(3, next) // skip the next one
		return true
	})
	if visited != 1000 || tb.Len(3) != 0 {
		t.Errorf("scan with deletes visited %d keys, left %d; want 1000, 0", visited, tb.Len(3))
	}

	// Values handed out by Get cannot be corrupted by later appends.
	tb.Put(4, []byte("k"), make([]byte, 1, 64))
	v1, _ := tb.Get(4, []byte("k"))
	_ = append(v1, 'z')
	tb.Append(4, []byte("k"), []byte("a"))
	if v, _ := tb.Get(4, []byte("k")); string(v) != "\x00a" {
		t.Errorf("value after Get-append-Append = %q", v)
	}

	defer func() {
		if recover() == nil {
			t.Error("Put outside the key-group range did not panic")
		}
	}()
	tb.Put(99, []byte("x"), nil)
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func scanKeys(tb *dataflow.StateTable, kg int, prefix string) string {
	var keys []string
	tb.ScanPrefix(kg, []byte(prefix), func(k, _ []byte) bool {
		keys = append(keys, string(k))
		return true
	})
	return strings.Join(keys, " ")
}

type point struct {
	Name string
	X, Y float64
	Tags []string
}

func testValueState(t *testing.T, s *dataflow.StateBackend) {
	key := []byte{0, 1, 2}
	checkValue(t, dataflow.NewValueState(s, "i", dataflow.Int64Codec{}), key, -42)
	checkValue(t, dataflow.NewValueState(s, "f", dataflow.Float64Codec{}), key, math.Inf(-1))
	checkValue(t, dataflow.NewValueState(s, "s", dataflow.StringCodec{}), key, "héllo")
	checkValue(t, dataflow.NewValueState(s, "j", dataflow.JSONCodec[point]{}), key, point{"p", 1.5, -2, []string{"a"}})
	checkValue(t, dataflow.NewValueState(s, "g", dataflow.GobCodec[point]{}), key, point{"q", 3, 4, nil})

	b := dataflow.NewValueState(s, "b", dataflow.BytesCodec{})
	if err := b.Put(5, key, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	v, _, _ := b.Get(5, key)
	v[0] = 'X' // Decode copies: state is unchanged.
	if v, _, _ := b.Get(5, key); string(v) != "raw" {
		t.Errorf("dataflow.BytesCodec value changed through a decoded copy: %q", v)
	}

	bad := dataflow.NewValueState(s, "bad", dataflow.JSONCodec[func()]{})
	if err := bad.Put(0, key, func() {}); err == nil {
		t.Error("dataflow.JSONCodec encoded a func")
	}
	s.Table("i").Put(1, key, []byte("short"))
	if _, ok, err := dataflow.NewValueState(s, "i", dataflow.Int64Codec{}).Get(1, key); err == nil || ok {
		t.Errorf("decoding 5 bytes as int64: ok=%v err=%v", ok, err)
	}
}

func checkValue[T any](t *testing.T, vs *dataflow.ValueState[T], key []byte, want T) {
	t.Helper()
	if _, ok, err := vs.Get(3, key); ok || err != nil {
		t.Fatalf("Get before Put: ok=%v err=%v", ok, err)
	}
	if err := vs.Put(3, key, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := vs.Get(3, key)
	if err != nil || !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Get = %v, %v, %v; want %v", got, ok, err, want)
	}
	vs.Clear(3, key)
	if _, ok, _ := vs.Get(3, key); ok {
		t.Fatal("Get after Clear found a value")
	}
}

func testMapState(t *testing.T, s *dataflow.StateBackend) {
	m := dataflow.NewMapState(s, "m", dataflow.Int64Codec{}, dataflow.StringCodec{})
	// Keys that are prefixes of one another, and contain 0x00, must not see
	// each other's entries.
	keys := [][]byte{nil, {0}, {0, 0}, []byte("a"), []byte("a\x00"), []byte("ab")}
	for i, k := range keys {
		for _, uk := range []int64{5, -3, 100, 0} {
			if err := m.Put(2, k, uk, fmt.Sprintf("%d/%d", i, uk)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, k := range keys {
		var got []string
		if err := m.Range(2, k, func(uk int64, v string) bool {
			got = append(got, fmt.Sprintf("%d=%s", uk, v))
			return true
		}); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("-3=%[1]d/-3 0=%[1]d/0 5=%[1]d/5 100=%[1]d/100", i)
		if strings.Join(got, " ") != want {
			t.Errorf("key %q: Range = %v, want %s (numeric order)", k, got, want)
		}
		if n := m.Len(2, k); n != 4 {
			t.Errorf("key %q: Len = %d", k, n)
		}
	}
	if v, ok, err := m.Get(2, []byte("a"), 5); err != nil || !ok || v != "3/5" {
		t.Errorf("Get = %q, %v, %v", v, ok, err)
	}
	if ok, _ := m.Contains(2, []byte("a"), 6); ok {
		t.Error("Contains(6) = true")
	}
	if err := m.Delete(2, []byte("a"), 5); err != nil {
		t.Fatal(err)
	}
	if ok, _ := m.Contains(2, []byte("a"), 5); ok {
		t.Error("Contains after Delete = true")
	}
	// Range stops early and may delete what it visits.
	n := 0
	if err := m.Range(2, []byte("ab"), func(uk int64, _ string) bool {
		n++
		if err := m.Delete(2, []byte("ab"), uk); err != nil {
			t.Error(err)
		}
		return n < 2
	}); err != nil {
		t.Fatal(err)
	}
	if got := m.Len(2, []byte("ab")); got != 2 {
		t.Errorf("after deleting 2 in Range: Len = %d, want 2", got)
	}
	m.Clear(2, []byte("a"))
	if m.Len(2, []byte("a")) != 0 || m.Len(2, []byte("a\x00")) != 4 || m.Len(2, []byte("ab")) != 2 {
		t.Errorf("Clear(a) touched other keys: %d %d %d", m.Len(2, []byte("a")), m.Len(2, []byte("a\x00")), m.Len(2, []byte("ab")))
	}
}

func testListState(t *testing.T, s *dataflow.StateBackend) {
	l := dataflow.NewListState(s, "l", dataflow.StringCodec{})
	k := []byte("key")
	if got, err := l.Get(1, k); got != nil || err != nil {
		t.Fatalf("empty list = %v, %v", got, err)
	}
	for _, v := range []string{"a", "", strings.Repeat("x", 300)} {
		if err := l.Append(1, k, v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Get(1, k)
	if err != nil || len(got) != 3 || got[0] != "a" || got[1] != "" || len(got[2]) != 300 {
		t.Fatalf("Get = %q, %v", got, err)
	}
	var first []string
	_ = l.Range(1, k, func(v string) bool { first = append(first, v); return false })
	if len(first) != 1 {
		t.Errorf("Range did not stop: %v", first)
	}
	if err := l.Update(1, k, []string{"z", "y"}); err != nil {
		t.Fatal(err)
	}
	_ = l.Append(1, k, "x")
	if got, _ := l.Get(1, k); strings.Join(got, ",") != "z,y,x" {
		t.Errorf("after Update+Append: %q", got)
	}
	l.Clear(1, k)
	if got, _ := l.Get(1, k); got != nil {
		t.Errorf("after Clear: %q", got)
	}
	_ = l.Update(1, k, nil)
	if s.Table("l").Len(1) != 0 {
		t.Error("Update with no values left an entry")
	}
	s.Table("l").Put(1, k, []byte{0x05, 'a'})
	if _, err := l.Get(1, k); err == nil {
		t.Error("corrupt list decoded without error")
	}
}

// fill puts a recognizable state into every key group of s: table entries
// (value, map and list state) and timers.
func fill(t *testing.T, s *dataflow.StateBackend, rng *rand.Rand) {
	r := s.KeyGroups()
	v := dataflow.NewValueState(s, "value", dataflow.Int64Codec{})
	m := dataflow.NewMapState(s, "map", dataflow.StringCodec{}, dataflow.Float64Codec{})
	l := dataflow.NewListState(s, "list", dataflow.BytesCodec{})
	tm := s.Timers("timers")
	for kg := r.Start; kg < r.End; kg++ {
		for i := range rng.IntN(5) {
			key := fmt.Appendf(nil, "key-%d-%d", kg, i)
			if err := v.Put(kg, key, rng.Int64()); err != nil {
				t.Fatal(err)
			}
			for j := range rng.IntN(4) {
				_ = m.Put(kg, key, fmt.Sprint(j), rng.Float64())
				_ = l.Append(kg, key, []byte{byte(j), 0, 0xff})
			}
			tm.Register(kg, key, rng.Int64N(1000)-500)
		}
	}
}

func snapshot(t *testing.T, s *dataflow.StateBackend, kg int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.SnapshotKeyGroup(kg, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dump describes everything s holds, in a canonical text form.
func dump(s *dataflow.StateBackend) string {
	var b strings.Builder
	for _, name := range s.TableNames() {
		tb := s.Table(name)
		for kg := s.KeyGroups().Start; kg < s.KeyGroups().End; kg++ {
			tb.Scan(kg, func(k, v []byte) bool {
				fmt.Fprintf(&b, "%s %d %q=%q\n", name, kg, k, v)
				return true
			})
		}
	}
	for _, name := range s.TimerNames() {
		ts := s.Timers(name)
		for kg := s.KeyGroups().Start; kg < s.KeyGroups().End; kg++ {
			ts.ScanKeyGroup(kg, func(k []byte, tm int64) bool {
				fmt.Fprintf(&b, "timer %s %d %q@%d\n", name, kg, k, tm)
				return true
			})
		}
	}
	return b.String()
}

func testSnapshotRoundTrip(t *testing.T, newBackend func(dataflow.KeyGroupRange) *dataflow.StateBackend) {
	r := dataflow.KeyGroupRange{Start: 0, End: 16}
	src := newBackend(r)
	fill(t, src, rand.New(rand.NewPCG(1, 2)))
	dst := newBackend(r)
	// Something to be replaced, in a group the snapshot restores.
	dst.Table("value").Put(3, []byte("stale"), []byte("x"))
	dst.Timers("timers").Register(3, []byte("stale"), 7)
	for kg := r.Start; kg < r.End; kg++ {
		snap := snapshot(t, src, kg)
		if again := snapshot(t, src, kg); !bytes.Equal(snap, again) {
			t.Fatalf("key group %d: two snapshots differ", kg)
		}
		if err := dst.RestoreKeyGroup(kg, bytes.NewReader(snap)); err != nil {
			t.Fatalf("key group %d: %v", kg, err)
		}
		if got := snapshot(t, dst, kg); !bytes.Equal(got, snap) {
			t.Fatalf("key group %d: snapshot after restore differs", kg)
		}
	}
	if d, s := dump(dst), dump(src); d != s {
		t.Fatalf("restored state differs:\n%s\nwant:\n%s", d, s)
	}
	if dst.Timers("timers").Len() != src.Timers("timers").Len() {
		t.Errorf("restored %d timers, want %d", dst.Timers("timers").Len(), src.Timers("timers").Len())
	}

	// Several snapshots in one stream, read through one bufio.Reader.
	var stream bytes.Buffer
	for kg := r.Start; kg < r.End; kg++ {
		stream.Write(snapshot(t, src, kg))
	}
	br := bufio.NewReader(&stream)
	dst2 := newBackend(r)
	for kg := r.Start; kg < r.End; kg++ {
		if err := dst2.RestoreKeyGroup(kg, br); err != nil {
			t.Fatalf("stream, key group %d: %v", kg, err)
		}
	}
	if dump(dst2) != dump(src) {
		t.Error("state restored from one stream differs")
	}
}

func testSnapshotRescale(t *testing.T, newBackend func(dataflow.KeyGroupRange) *dataflow.StateBackend) {
	const maxP = 32
	// Parallelism 3 → 2 → 5 → 1: every step restores each new subtask's key
	// groups from the old subtask that owned them.
	old := make([]*dataflow.StateBackend, 3)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range old {
		old[i] = newBackend(dataflow.KeyGroupsOf(i, 3, maxP))
		fill(t, old[i], rng)
	}
	want := dumpAll(old)
	for _, p := range []int{2, 5, 1} {
		next := make([]*dataflow.StateBackend, p)
		for i := range next {
			r := dataflow.KeyGroupsOf(i, p, maxP)
			next[i] = newBackend(r)
			for kg := r.Start; kg < r.End; kg++ {
				from := old[dataflow.SubtaskOf(kg, len(old), maxP)]
				if err := next[i].RestoreKeyGroup(kg, bytes.NewReader(snapshot(t, from, kg))); err != nil {
					t.Fatalf("p=%d subtask %d kg %d: %v", p, i, kg, err)
				}
			}
		}
		if got := dumpAll(next); got != want {
			t.Fatalf("after rescaling to %d:\n%s\nwant:\n%s", p, got, want)
		}
		old = next
	}
	// A key group outside the backend's range is refused.
	if err := old[0].RestoreKeyGroup(maxP, bytes.NewReader(nil)); err == nil {
		t.Error("restore outside the range succeeded")
	}
}

// dumpAll dumps several backends with disjoint ranges as one, sorted.
func dumpAll(bs []*dataflow.StateBackend) string {
	var lines []string
	for _, b := range bs {
		lines = append(lines, strings.Split(strings.TrimSpace(dump(b)), "\n")...)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func testSnapshotErrors(t *testing.T, newBackend func(dataflow.KeyGroupRange) *dataflow.StateBackend) {
	r := dataflow.KeyGroupRange{Start: 0, End: 4}
	src := newBackend(r)
	fill(t, src, rand.New(rand.NewPCG(5, 6)))
	src.Table("value").Put(2, []byte("k"), []byte("v"))
	snap := snapshot(t, src, 2)
	dst := newBackend(r)
	dst.Table("value").Put(2, []byte("keep"), []byte("me"))
	before := dump(dst)
	// Every truncation and every single-byte corruption is detected, and
	// leaves the backend unchanged.
	for i := range snap {
		if err := dst.RestoreKeyGroup(2, bytes.NewReader(snap[:i])); err == nil {
			t.Fatalf("truncated to %d bytes: restored", i)
		}
		bad := bytes.Clone(snap)
		bad[i] ^= 0x10
		if err := dst.RestoreKeyGroup(2, bytes.NewReader(bad)); err == nil {
			t.Fatalf("byte %d flipped: restored", i)
		}
	}
	if dump(dst) != before {
		t.Fatal("failed restores changed the backend")
	}
	if err := dst.RestoreKeyGroup(1, bytes.NewReader(snap)); err == nil || errors.Is(err, dataflow.ErrCorruptSnapshot) {
		t.Errorf("restoring key group 2's snapshot as 1: %v", err)
	}
	if err := src.SnapshotKeyGroup(9, &bytes.Buffer{}); err == nil {
		t.Error("snapshot outside the range succeeded")
	}
	var empty bytes.Buffer
	if err := newBackend(r).SnapshotKeyGroup(0, &empty); err != nil {
		t.Fatal(err)
	}
	// "WKG", version, kg 0, end, crc.
	if empty.Len() != 3+1+1+1+4 {
		t.Errorf("empty snapshot is %d bytes", empty.Len())
	}
}
