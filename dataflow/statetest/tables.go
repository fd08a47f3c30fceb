package statetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/weirdata/weir/dataflow"
)

// testTimers checks that timers live with the table entries of their key
// group: GroupsWithState names them, and a key-group snapshot carries them.
func testTimers(t *testing.T, newBackend func(dataflow.KeyGroupRange) *dataflow.StateBackend) {
	r := dataflow.KeyGroupRange{Start: 0, End: 6}
	s := newBackend(r)
	ts := s.Timers("t")
	ts.Register(1, []byte("a"), 10)
	ts.Register(1, []byte("b"), 5)
	ts.Register(4, []byte("a"), 7)
	s.Table("v").Put(2, []byte("x"), []byte("y"))
	if got := s.GroupsWithState(); !slices.Equal(got, []int{1, 2, 4}) {
		t.Fatalf("GroupsWithState = %v, want [1 2 4]", got)
	}
	dst := newBackend(dataflow.KeyGroupRange{Start: 1, End: 5})
	for _, kg := range []int{1, 2, 4} {
		if err := dst.RestoreKeyGroup(kg, bytes.NewReader(snapshot(t, s, kg))); err != nil {
			t.Fatal(err)
		}
	}
	if d, w := dump(dst), dump(s); d != w {
		t.Fatalf("restored:\n%s\nwant:\n%s", d, w)
	}
	if e, ok := dst.Timers("t").Earliest(); !ok || e != 5 {
		t.Errorf("earliest restored timer = %d, %v; want 5", e, ok)
	}
}

// testAgainstMap runs random puts and deletes over enough keys to split
// and merge the in-memory chunks and to flush a store, checked against a
// map and a sort.
func testAgainstMap(t *testing.T, s *dataflow.StateBackend) {
	rng := rand.New(rand.NewPCG(7, 8))
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
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

// testLargeValues stores values of several MiB, appends to them, and
// snapshots and restores them.
func testLargeValues(t *testing.T, newBackend func(dataflow.KeyGroupRange) *dataflow.StateBackend) {
	r := dataflow.KeyGroupRange{Start: 0, End: 2}
	s := newBackend(r)
	tb := s.Table("big")
	rng := rand.New(rand.NewPCG(9, 10))
	big := make([]byte, 6<<20)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	tb.Put(1, []byte("k"), bytes.Clone(big))
	tb.Append(1, []byte("k"), big[:1<<20])
	want := append(bytes.Clone(big), big[:1<<20]...)
	if v, ok := tb.Get(1, []byte("k")); !ok || !bytes.Equal(v, want) {
		t.Fatalf("Get of a %d-byte value: %d bytes, ok=%v", len(want), len(v), ok)
	}
	dst := newBackend(r)
	if err := dst.RestoreKeyGroup(1, bytes.NewReader(snapshot(t, s, 1))); err != nil {
		t.Fatal(err)
	}
	if v, ok := dst.Table("big").Get(1, []byte("k")); !ok || !bytes.Equal(v, want) {
		t.Fatalf("restored value: %d bytes, ok=%v; want %d", len(v), ok, len(want))
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

// testManyKeys writes 200,000 keys over four key groups, then checks
// counts, order, a prefix delete and a snapshot round trip.
func testManyKeys(t *testing.T, newBackend func(dataflow.KeyGroupRange) *dataflow.StateBackend) {
	r := dataflow.KeyGroupRange{Start: 0, End: 4}
	s := newBackend(r)
	v := dataflow.NewValueState(s, "v", dataflow.Int64Codec{})
	const n = 200_000
	for i := range n {
		if err := v.Put(i%4, fmt.Appendf(nil, "key-%07d", i), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	tb := s.Table("v")
	for kg := range 4 {
		if got := tb.Len(kg); got != n/4 {
			t.Fatalf("key group %d: Len = %d, want %d", kg, got, n/4)
		}
	}
	var prev []byte
	count := 0
	tb.Scan(2, func(k, _ []byte) bool {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			t.Fatalf("scan out of order: %q after %q", k, prev)
		}
		prev = bytes.Clone(k)
		count++
		return true
	})
	if count != n/4 {
		t.Fatalf("scan visited %d keys, want %d", count, n/4)
	}
	// key-000xxxx: 10,000 keys, of which a quarter are in group 3.
	if got := tb.DeletePrefix(3, []byte("key-000")); got != 2500 {
		t.Fatalf("DeletePrefix removed %d, want 2500", got)
	}
	dst := newBackend(r)
	for kg := range 4 {
		if err := dst.RestoreKeyGroup(kg, bytes.NewReader(snapshot(t, s, kg))); err != nil {
			t.Fatal(err)
		}
	}
	for kg := range 4 {
		want := n / 4
		if kg == 3 {
			want -= 2500
		}
		if got := dst.Table("v").Len(kg); got != want {
			t.Fatalf("restored key group %d: Len = %d, want %d", kg, got, want)
		}
	}
	if got, ok, err := dataflow.NewValueState(dst, "v", dataflow.Int64Codec{}).Get(1, []byte("key-0123457")); err != nil || !ok || got != 123457 {
		t.Fatalf("restored value = %d, %v, %v", got, ok, err)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if err := dst.Err(); err != nil {
		t.Fatal(err)
	}
}
