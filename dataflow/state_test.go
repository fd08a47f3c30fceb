package dataflow

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

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestMemoryBackend(t *testing.T) {
	testBackend(t, NewStateBackend)
}

// testBackend is the conformance suite every state backend must pass: the
// in-memory one here, Pebble when it comes. newBackend returns an empty
// backend for a key-group range.
func testBackend(t *testing.T, newBackend func(KeyGroupRange) *StateBackend) {
	all := KeyGroupRange{Start: 0, End: 8}
	t.Run("table", func(t *testing.T) { testTable(t, newBackend(all)) })
	t.Run("value", func(t *testing.T) { testValueState(t, newBackend(all)) })
	t.Run("map", func(t *testing.T) { testMapState(t, newBackend(all)) })
	t.Run("list", func(t *testing.T) { testListState(t, newBackend(all)) })
	t.Run("snapshot-round-trip", func(t *testing.T) { testSnapshotRoundTrip(t, newBackend) })
	t.Run("snapshot-rescale", func(t *testing.T) { testSnapshotRescale(t, newBackend) })
	t.Run("snapshot-errors", func(t *testing.T) { testSnapshotErrors(t, newBackend) })
}

func testTable(t *testing.T, s *StateBackend) {
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

func scanKeys(tb *StateTable, kg int, prefix string) string {
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

func testValueState(t *testing.T, s *StateBackend) {
	key := []byte{0, 1, 2}
	checkValue(t, NewValueState(s, "i", Int64Codec{}), key, -42)
	checkValue(t, NewValueState(s, "f", Float64Codec{}), key, math.Inf(-1))
	checkValue(t, NewValueState(s, "s", StringCodec{}), key, "héllo")
	checkValue(t, NewValueState(s, "j", JSONCodec[point]{}), key, point{"p", 1.5, -2, []string{"a"}})
	checkValue(t, NewValueState(s, "g", GobCodec[point]{}), key, point{"q", 3, 4, nil})

	b := NewValueState(s, "b", BytesCodec{})
	if err := b.Put(5, key, []byte("raw")); err != nil {
		t.Fatal(err)
	}
	v, _, _ := b.Get(5, key)
	v[0] = 'X' // Decode copies: state is unchanged.
	if v, _, _ := b.Get(5, key); string(v) != "raw" {
		t.Errorf("BytesCodec value changed through a decoded copy: %q", v)
	}

	bad := NewValueState(s, "bad", JSONCodec[func()]{})
	if err := bad.Put(0, key, func() {}); err == nil {
		t.Error("JSONCodec encoded a func")
	}
	s.Table("i").Put(1, key, []byte("short"))
	if _, ok, err := NewValueState(s, "i", Int64Codec{}).Get(1, key); err == nil || ok {
		t.Errorf("decoding 5 bytes as int64: ok=%v err=%v", ok, err)
	}
}

func checkValue[T any](t *testing.T, vs *ValueState[T], key []byte, want T) {
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

func testMapState(t *testing.T, s *StateBackend) {
	m := NewMapState(s, "m", Int64Codec{}, StringCodec{})
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

func testListState(t *testing.T, s *StateBackend) {
	l := NewListState(s, "l", StringCodec{})
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
func fill(t *testing.T, s *StateBackend, rng *rand.Rand) {
	r := s.KeyGroups()
	v := NewValueState(s, "value", Int64Codec{})
	m := NewMapState(s, "map", StringCodec{}, Float64Codec{})
	l := NewListState(s, "list", BytesCodec{})
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

func snapshot(t *testing.T, s *StateBackend, kg int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.SnapshotKeyGroup(kg, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dump describes everything s holds, in a canonical text form.
func dump(s *StateBackend) string {
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

func testSnapshotRoundTrip(t *testing.T, newBackend func(KeyGroupRange) *StateBackend) {
	r := KeyGroupRange{Start: 0, End: 16}
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

func testSnapshotRescale(t *testing.T, newBackend func(KeyGroupRange) *StateBackend) {
	const maxP = 32
	// Parallelism 3 → 2 → 5 → 1: every step restores each new subtask's key
	// groups from the old subtask that owned them.
	old := make([]*StateBackend, 3)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range old {
		old[i] = newBackend(KeyGroupsOf(i, 3, maxP))
		fill(t, old[i], rng)
	}
	want := dumpAll(old)
	for _, p := range []int{2, 5, 1} {
		next := make([]*StateBackend, p)
		for i := range next {
			r := KeyGroupsOf(i, p, maxP)
			next[i] = newBackend(r)
			for kg := r.Start; kg < r.End; kg++ {
				from := old[SubtaskOf(kg, len(old), maxP)]
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
func dumpAll(bs []*StateBackend) string {
	var lines []string
	for _, b := range bs {
		lines = append(lines, strings.Split(strings.TrimSpace(dump(b)), "\n")...)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func testSnapshotErrors(t *testing.T, newBackend func(KeyGroupRange) *StateBackend) {
	r := KeyGroupRange{Start: 0, End: 4}
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
	if err := dst.RestoreKeyGroup(1, bytes.NewReader(snap)); err == nil || errors.Is(err, ErrCorruptSnapshot) {
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

func FuzzRestoreKeyGroup(f *testing.F) {
	src := NewStateBackend(KeyGroupRange{Start: 0, End: 4})
	src.Table("t").Put(1, []byte("k"), []byte("v"))
	_ = NewListState(src, "l", Int64Codec{}).Append(1, []byte("k"), 7)
	src.Timers("x").Register(1, []byte("k"), -5)
	for kg := range 4 {
		var buf bytes.Buffer
		_ = src.SnapshotKeyGroup(kg, &buf)
		f.Add(buf.Bytes())
	}
	f.Add([]byte("WKG\x01\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewStateBackend(KeyGroupRange{Start: 0, End: 4})
		if s.RestoreKeyGroup(1, bytes.NewReader(data)) != nil {
			return
		}
		// What restores must snapshot canonically and restore to itself.
		var a, b bytes.Buffer
		if err := s.SnapshotKeyGroup(1, &a); err != nil {
			t.Fatal(err)
		}
		s2 := NewStateBackend(KeyGroupRange{Start: 0, End: 4})
		if err := s2.RestoreKeyGroup(1, bytes.NewReader(a.Bytes())); err != nil {
			t.Fatal(err)
		}
		if err := s2.SnapshotKeyGroup(1, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("snapshot of a restored snapshot differs")
		}
	})
}

func TestStateTableAgainstMap(t *testing.T) {
	// Random puts and deletes over enough keys to split and merge chunks,
	// checked against a map and a sort.
	rng := rand.New(rand.NewPCG(7, 8))
	s := NewStateBackend(KeyGroupRange{Start: 0, End: 1})
	tb := s.Table("t")
	ref := map[string]string{}
	for step := range 40_000 {
		k := fmt.Sprintf("%x", rng.IntN(3000))
		if rng.IntN(3) == 0 {
			tb.Delete(0, []byte(k))
			delete(ref, k)
		} else {
			v := fmt.Sprint(step)
			tb.Put(0, []byte(k), []byte(v))
			ref[k] = v
		}
		if step%5000 != 4999 {
			continue
		}
		keys := make([]string, 0, len(ref))
		for k := range ref {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := make([]string, 0, len(ref))
		for _, k := range keys {
			want = append(want, k+"="+ref[k])
		}
		var got []string
		tb.Scan(0, func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true })
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: scan differs from the reference (%d vs %d keys)", step, len(got), len(want))
		}
		prefix := fmt.Sprintf("%x", rng.IntN(16))
		var gotP, wantP []string
		tb.ScanPrefix(0, []byte(prefix), func(k, _ []byte) bool { gotP = append(gotP, string(k)); return true })
		for _, kv := range want {
			if strings.HasPrefix(kv, prefix) {
				wantP = append(wantP, kv[:strings.IndexByte(kv, '=')])
			}
		}
		if !slices.Equal(gotP, wantP) {
			t.Fatalf("step %d: ScanPrefix(%q) = %d keys, want %d", step, prefix, len(gotP), len(wantP))
		}
	}
}

func TestCodecsPreserveOrder(t *testing.T) {
	ints := []int64{math.MinInt64, -1 << 40, -2, -1, 0, 1, 2, 1 << 40, math.MaxInt64}
	checkOrder(t, Int64Codec{}, ints)
	floats := []float64{math.Inf(-1), -1e300, -2.5, -1e-300, 0, 1e-300, 2.5, 1e300, math.Inf(1)}
	checkOrder(t, Float64Codec{}, floats)
	checkOrder(t, StringCodec{}, []string{"", "a", "a\x00", "ab", "b"})
	if b, _ := (Float64Codec{}).Encode(nil, math.NaN()); true {
		if v, _ := (Float64Codec{}).Decode(b); !math.IsNaN(v) {
			t.Errorf("NaN decoded as %v", v)
		}
	}
	if _, err := (Float64Codec{}).Decode([]byte{1}); err == nil {
		t.Error("Float64Codec decoded 1 byte")
	}
	if _, err := (GobCodec[point]{}).Decode([]byte("junk")); err == nil {
		t.Error("GobCodec decoded junk")
	}
	if _, err := (JSONCodec[point]{}).Decode([]byte("{")); err == nil {
		t.Error("JSONCodec decoded junk")
	}
}

func checkOrder[T any](t *testing.T, c Codec[T], sorted []T) {
	t.Helper()
	var prev []byte
	for i, v := range sorted {
		b, err := c.Encode([]byte("prefix"), v)
		if err != nil {
			t.Fatal(err)
		}
		b = b[len("prefix"):]
		got, err := c.Decode(b)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Fatalf("round trip of %v = %v, %v", v, got, err)
		}
		if i > 0 && bytes.Compare(prev, b) >= 0 {
			t.Errorf("encoding of %v does not sort after %v", v, sorted[i-1])
		}
		prev = b
	}
}

func TestEncodeKey(t *testing.T) {
	mem := memory.DefaultAllocator
	tsType := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean,
		arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, tsType,
		arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64,
	}
	// Row 0: small values; row 1: extremes; row 2: NULLs; row 3: like row 0
	// but float64 -0 (which must encode as +0).
	rows := [][]any{
		{int8(-1), int16(-2), int32(-3), int64(-4), uint8(1), uint16(2), uint32(3), uint64(4),
			float32(1.5), 0.0, true, "a\x00b", []byte{0, 1}, arrow.Timestamp(-5), arrow.Date32(6), arrow.Date64(7)},
		{int8(math.MaxInt8), int16(math.MinInt16), int32(math.MaxInt32), int64(math.MinInt64), uint8(255), uint16(65535),
			uint32(math.MaxUint32), uint64(math.MaxUint64), float32(math.Inf(-1)), math.MaxFloat64, false, "", []byte{},
			arrow.Timestamp(math.MaxInt64), arrow.Date32(math.MinInt32), arrow.Date64(0)},
		make([]any, len(types)),
		{int8(-1), int16(-2), int32(-3), int64(-4), uint8(1), uint16(2), uint32(3), uint64(4),
			float32(1.5), math.Copysign(0, -1), true, "a\x00b", []byte{0, 1}, arrow.Timestamp(-5), arrow.Date32(6), arrow.Date64(7)},
	}
	fields := make([]arrow.Field, len(types))
	for i, dt := range types {
		fields[i] = arrow.Field{Name: fmt.Sprint("c", i), Type: dt, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	w, err := NewRowWriter(schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Append(Insert, r...); err != nil {
			t.Fatal(err)
		}
	}
	rec := w.Batch().Rec
	cols := make([]int, len(types))
	for i := range cols {
		cols[i] = i
		if !KeyEncodable(types[i]) {
			t.Fatalf("%s not key-encodable", types[i])
		}
	}
	keys := make([][]byte, len(rows))
	for row := range rows {
		keys[row] = EncodeKey(rec, cols, row, nil)
		got, err := DecodeKey(keys[row], types...)
		if err != nil {
			t.Fatalf("row %d: %v", row, err)
		}
		if row == 3 {
			continue
		}
		for i := range types {
			if fmt.Sprintf("%T %v", got[i], got[i]) != fmt.Sprintf("%T %v", rows[row][i], rows[row][i]) {
				t.Errorf("row %d column %d (%s): decoded %T %v, want %T %v", row, i, types[i], got[i], got[i], rows[row][i], rows[row][i])
			}
		}
	}
	if bytes.Equal(keys[0], keys[1]) || bytes.Equal(keys[0], keys[2]) || bytes.Equal(keys[1], keys[2]) {
		t.Error("distinct rows encode equally")
	}
	if !bytes.Equal(keys[0], keys[3]) {
		t.Error("float64 -0 and +0 encode differently")
	}
	// Equal keys hash equally (the key group follows from the key bytes).
	h := make([]uint64, 4)
	if err := (&KeySelector{Columns: schemaFieldNames(schema)}).Hash(rec, h); err != nil {
		t.Fatal(err)
	}
	if h[0] != h[3] {
		t.Error("rows with equal keys hash differently")
	}
	// Concatenations are unambiguous: ("a", "bc") and ("ab", "c") differ.
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"a", "ab"}, nil)
	s1 := sb.NewArray()
	sb.AppendValues([]string{"bc", "c"}, nil)
	s2 := sb.NewArray()
	two := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.BinaryTypes.String}, {Name: "y", Type: arrow.BinaryTypes.String}}, nil), []arrow.Array{s1, s2}, 2)
	if bytes.Equal(EncodeKey(two, []int{0, 1}, 0, nil), EncodeKey(two, []int{0, 1}, 1, nil)) {
		t.Error(`("a","bc") and ("ab","c") encode equally`)
	}
	if _, err := DecodeKey(append(keys[0], 0), types...); err == nil {
		t.Error("DecodeKey accepted trailing bytes")
	}
	if _, err := DecodeKey(keys[0][:len(keys[0])-1], types...); err == nil {
		t.Error("DecodeKey accepted a truncated key")
	}
	if KeyEncodable(arrow.BinaryTypes.LargeString) {
		t.Error("large strings are not hashable, so not key-encodable")
	}
}

func schemaFieldNames(s *arrow.Schema) []string {
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name)
	}
	return names
}
