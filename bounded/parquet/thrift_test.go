package parquet

import (
	"encoding/binary"
	"testing"
)

func TestCheckThriftBoundsLists(t *testing.T) {
	// FileMetaData{4: list<struct> of 2^30 elements}, then nothing: a
	// decoder that trusts the size allocates a terabyte.
	b := []byte{0x49, 0xfc}
	b = binary.AppendUvarint(b, 1<<30)
	b = append(b, 0, 0) // one empty struct, then the stop
	if err := checkThrift(b); err == nil {
		t.Fatal("a list larger than its input passed")
	}
	// 40 empty structs in 41 bytes fit, but weigh 40 KiB decoded: within
	// the floor of the budget.
	b = []byte{0x49, 0xfc}
	b = binary.AppendUvarint(b, 40)
	for range 40 {
		b = append(b, 0)
	}
	b = append(b, 0)
	if err := checkThrift(b); err != nil {
		t.Fatal(err)
	}
}

func TestRepairKeyValues(t *testing.T) {
	// FileMetaData{5: list<KeyValue>[{1: "k"}]}
	footer := []byte{0x59, 0x1c, 0x18, 1, 'k', 0, 0}
	fixed, n, err := repairKeyValues(footer)
	if err != nil || n != 1 {
		t.Fatalf("repair: %d fixes, %v", n, err)
	}
	want := []byte{0x59, 0x1c, 0x18, 1, 'k', ctBinary, 4, 0, 0, 0}
	if string(fixed) != string(want) {
		t.Fatalf("repaired % x, want % x", fixed, want)
	}
}
