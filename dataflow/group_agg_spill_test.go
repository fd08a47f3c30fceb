package dataflow

import (
	"encoding/binary"
	"hash/maphash"
	"testing"
)

// TestKeyFilter: every key added is reported (a miss would lose a spilled
// key's state), across the filter's growth, and few others are.
func TestKeyFilter(t *testing.T) {
	f := keyFilter{seed: maphash.MakeSeed()}
	key := func(i int) []byte { return binary.AppendUvarint([]byte{1}, uint64(i)) }
	const n = 300_000 // several parts
	for i := range n {
		f.add(key(i))
	}
	if len(f.parts) < 3 {
		t.Fatalf("%d parts for %d keys: the filter did not grow", len(f.parts), n)
	}
	for i := range n {
		if !f.mayContain(key(i)) {
			t.Fatalf("key %d was added but is not reported", i)
		}
	}
	fp := 0
	for i := n; i < 2*n; i++ {
		if f.mayContain(key(i)) {
			fp++
		}
	}
	// About 1% per part; the parts add up.
	if rate := float64(fp) / n; rate > 0.05 {
		t.Errorf("%.1f%% false positives", 100*rate)
	}
}
