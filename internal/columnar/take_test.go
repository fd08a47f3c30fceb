package columnar

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestTakeTypes(t *testing.T) {
	mem := memory.DefaultAllocator
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{10, 20, 30, 40}, []bool{true, false, true, true})
	ints := ib.NewArray()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"a", "bb", "", "dddd"}, []bool{true, true, false, true})
	strs := sb.NewArray()
	bools := Bools([]bool{true, false, false, true})
	i32 := array.NewInt32Builder(mem)
	i32.AppendValues([]int32{1, 2, 3, 4}, nil)
	ts := Timestamps([]int64{5, 6, 7, 8})
	// Take from a slice, to exercise offsets.
	sliced := array.NewSlice(ints, 1, 4)

	idx := []int32{3, 1, 1, 0}
	for _, tc := range []struct {
		name string
		in   arrow.Array
		idx  []int32
		want string
	}{
		{"int64", ints, idx, "[40 (null) (null) 10]"},
		{"string", strs, idx, `["dddd" "bb" "bb" "a"]`},
		{"string-null", strs, []int32{2, 0}, `[(null) "a"]`},
		{"bool", bools, idx, "[true false false true]"},
		{"int32", i32.NewArray(), idx, "[4 2 2 1]"},
		{"timestamp", ts, []int32{2}, "[7]"},
		{"sliced", sliced, []int32{2, 0}, "[40 (null)]"},
		{"empty", ints, nil, "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Take(tc.in, tc.idx)
			if err != nil {
				t.Fatal(err)
			}
			if s := got.String(); s != tc.want {
				t.Fatalf("Take = %s, want %s", s, tc.want)
			}
			if v, ok := got.(interface{ ValidateFull() error }); ok && v.ValidateFull() != nil {
				t.Fatalf("invalid array: %v", v.ValidateFull())
			}
		})
	}
}

func TestTakeUnsupported(t *testing.T) {
	lb := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64)
	lb.Append(true)
	if _, err := Take(lb.NewArray(), []int32{0}); err == nil {
		t.Fatal("Take of a list: want an error")
	}
}

func TestBuilders(t *testing.T) {
	if s := StringsOf([]string{"x", "", "yz"}).String(); s != `["x" "" "yz"]` {
		t.Fatalf("StringsOf = %s", s)
	}
	if got := Int64Values(array.NewSlice(Int64s([]int64{1, 2, 3}), 1, 3)); len(got) != 2 || got[0] != 2 {
		t.Fatalf("Int64Values of a slice = %v", got)
	}
	if e := Empty(arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)); e.NumRows() != 0 || e.NumCols() != 1 {
		t.Fatalf("Empty = %v", e)
	}
}

// Sliced string arrays: ValueBytes is shifted by the first offset.
func TestTakeAndHashSlicedStrings(t *testing.T) {
	full := StringsOf([]string{"aa", "b", "ccc", "dd"})
	sliced := array.NewSlice(full, 2, 4)
	got, err := Take(sliced, []int32{1, 0})
	if err != nil {
		t.Fatal(err)
	}
	if s := got.String(); s != `["dd" "ccc"]` {
		t.Fatalf("Take of a slice = %s", s)
	}
	h1 := make([]uint64, 2)
	h2 := make([]uint64, 2)
	if err := HashColumns([]arrow.Array{sliced}, h1); err != nil {
		t.Fatal(err)
	}
	if err := HashColumns([]arrow.Array{StringsOf([]string{"ccc", "dd"})}, h2); err != nil {
		t.Fatal(err)
	}
	if h1[0] != h2[0] || h1[1] != h2[1] {
		t.Fatalf("hash of a slice %v != hash of equal values %v", h1, h2)
	}
}
