package query

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/weirdata/weir/internal/columnar"
)

func TestPackBools(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 1000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(2))
		}
		out := make([]byte, bitutil.BytesForBits(int64(n)))
		packBools(b, out)
		for i := range b {
			if bitutil.BitIsSet(out, i) != (b[i] == 1) {
				t.Fatalf("n=%d: bit %d is %v, want %v", n, i, bitutil.BitIsSet(out, i), b[i] == 1)
			}
		}
	}
}

// TestDivisor checks division by a constant with a multiply against the
// hardware division, for edge divisors and dividends and random ones.
func TestDivisor(t *testing.T) {
	edges := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 32, -123, -3, -2, 0, 1, 2, 3, 7, 123,
		1 << 31, 1<<62 + 1, math.MaxInt64 - 1, math.MaxInt64}
	divisors := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 40, -1000, -123, -7, -3, -2,
		2, 3, 5, 6, 7, 10, 123, 641, 1 << 20, 1<<31 - 1, 1 << 32, 1<<62 + 3, math.MaxInt64}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		d := int64(r.Uint64())
		if d == 0 || d == 1 || d == -1 {
			continue
		}
		divisors = append(divisors, d, d>>int(r.IntN(62)))
	}
	for _, d := range divisors {
		if d >= -1 && d <= 1 {
			continue
		}
		dv := newDivisor(d)
		check := func(x int64) {
			if got, want := dv.quo(x), x/d; got != want {
				t.Fatalf("%d / %d = %d, want %d", x, d, got, want)
			}
		}
		for _, x := range edges {
			check(x)
		}
		for range 2000 {
			x := int64(r.Uint64()) >> int(r.IntN(63))
			check(x)
			check(-x)
		}
	}
}

func TestMulOverflows(t *testing.T) {
	cases := []struct {
		a, b int64
		want bool
	}{
		{0, math.MinInt64, false}, {1, math.MinInt64, false}, {-1, math.MinInt64, true},
		{math.MinInt64, -1, true}, {math.MaxInt64, 2, true}, {math.MaxInt64, -1, false},
		{1 << 31, 1 << 31, false}, {1 << 32, 1 << 31, true}, {-(1 << 32), 1 << 31, false},
		{-(1 << 32), -(1 << 31), true}, {3037000499, 3037000499, false}, {3037000500, 3037000500, true},
	}
	for _, c := range cases {
		if got := mulOverflows(c.a, c.b); got != c.want {
			t.Errorf("mulOverflows(%d, %d) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestStrictValidity ANDs bitmaps of sliced arrays (offsets that are not a
// multiple of 8) and broadcasts constants.
func TestStrictValidity(t *testing.T) {
	mk := func(valid []bool) arrow.Array {
		bits := make([]byte, bitutil.BytesForBits(int64(len(valid))))
		nulls := 0
		for i, v := range valid {
			if v {
				bitutil.SetBit(bits, i)
			} else {
				nulls++
			}
		}
		return columnar.Fixed(typInt64, make([]int64, len(valid)), bits, nulls)
	}
	a := array.NewSlice(mk([]bool{false, false, false, true, true, false, true, true, true, true, false, true}), 3, 12)
	b := mk([]bool{true, false, true, true, true, true, true, true, false})
	valid, nulls, allNull := strictValidity([]arrow.Array{a, b}, 9)
	want := []bool{true, false, false, true, true, true, true, false, false}
	if allNull {
		t.Fatal("allNull")
	}
	n := 0
	for i, w := range want {
		if bitutil.BitIsSet(valid, i) != w {
			t.Errorf("row %d valid = %v, want %v", i, !w, w)
		}
		if !w {
			n++
		}
	}
	if nulls != n {
		t.Errorf("nulls = %d, want %d", nulls, n)
	}
	nullConst := columnar.Fixed(typInt64, []int64{0}, []byte{0}, 1)
	if _, _, allNull := strictValidity([]arrow.Array{a, nullConst}, 9); !allNull {
		t.Error("a NULL constant must make every row NULL")
	}
	if v, nulls, _ := strictValidity([]arrow.Array{columnar.Int64s(make([]int64, 9))}, 9); v != nil || nulls != 0 {
		t.Error("no NULLs must give a nil bitmap")
	}
}

// TestScratchRecycling: an intermediate result is recycled into the pool,
// never a column of the input or a result that leaves the expression.
func TestScratchRecycling(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: typInt64}, {Name: "i", Type: typInt32}}, nil)
	a := columnar.Int64s([]int64{1, 2, 3, 4})
	i32 := columnar.Fixed(typInt32, []int32{10, 20, 30, 40}, nil, 0)
	rec := array.NewRecordBatch(schema, []arrow.Array{a, i32}, 4)
	for _, src := range []string{"a + 1", "(a + 1) * 2", "CAST(a AS bigint) + 1", "a + i", "(a * 2) + (i * 3)", "0.5 * a", "(a + 0) > 2"} {
		e := mustBind(t, src, schema)
		var outs []arrow.Array
		for range 5 {
			out, err := e.Eval(rec)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, out)
			// Scribble over whatever the pool holds: results already
			// returned and the input must not change.
			var held []*[]uint64
			for range 8 {
				p := scratch64.Get().(*[]uint64)
				for j := range *p {
					(*p)[j] = 0xDEADBEEF
				}
				held = append(held, p)
			}
			for _, p := range held {
				scratch64.Put(p)
			}
		}
		for _, out := range outs[1:] {
			if render(out) != render(outs[0]) {
				t.Fatalf("%s: a result changed after later runs: %s vs %s", src, render(out), render(outs[0]))
			}
		}
		if render(a) != "1, 2, 3, 4" || render(i32) != "10, 20, 30, 40" {
			t.Fatalf("%s modified its input: %s / %s", src, render(a), render(i32))
		}
	}
}
