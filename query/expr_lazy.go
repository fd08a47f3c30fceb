package query

import (
	"fmt"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/weirdata/weir/internal/columnar"
)

// Lazy evaluation. A vectorized engine evaluates each sub-expression on
// whole batches, but SQL users rely on CASE, COALESCE, AND and OR not
// evaluating what they guard: CASE WHEN x = 0 THEN 0 ELSE 100 / x END must
// not fail with "division by zero", nor must x <> 0 AND 100 / x > 1. So an
// argument that may fail at run time (division, overflow-checked
// arithmetic, casts from text, ...) is evaluated only on the rows that
// reach it, gathered into a smaller batch; an argument that cannot fail is
// evaluated on the whole batch, which is cheaper than gathering.

// failer is implemented by nodes that can fail at run time by themselves.
type failer interface{ mayFail() bool }

// mayFail reports whether evaluating e can return an error. Expressions of
// other packages count as failing, to be safe.
func mayFail(e Expr) bool {
	switch e.(type) {
	case *Literal, *ColumnRef:
		return false
	}
	if _, ok := e.(Structural); !ok {
		return true
	}
	if f, ok := e.(failer); ok && f.mayFail() {
		return true
	}
	for _, ch := range e.Children() {
		if mayFail(ch) {
			return true
		}
	}
	return false
}

// evalRows evaluates e on the rows sel of rec only. Columns e does not read
// are passed as slices of the right length, never gathered.
func evalRows(e Expr, rec arrow.RecordBatch, sel []int32) (arrow.Array, error) {
	if l, ok := e.(*Literal); ok {
		return broadcast(l.arr, len(sel))
	}
	cols := make([]arrow.Array, rec.NumCols())
	gather := make([]bool, len(cols))
	if hasOpaque(e) || hasSlot(e) {
		for i := range gather {
			gather[i] = true
		}
	} else {
		for _, c := range Columns(e) {
			if c >= 0 && c < len(gather) {
				gather[c] = true
			}
		}
	}
	for i := range cols {
		col := rec.Column(i)
		if !gather[i] {
			cols[i] = array.NewSlice(col, 0, int64(len(sel)))
			continue
		}
		taken, err := columnar.Take(col, sel)
		if err != nil {
			// A column type Take does not know (string_view, say): evaluate
			// on the whole batch and keep the selected rows instead.
			full, err := e.Eval(rec)
			if err != nil {
				return nil, err
			}
			return columnar.Take(full, sel)
		}
		cols[i] = taken
	}
	return e.Eval(array.NewRecordBatch(rec.Schema(), cols, int64(len(sel))))
}

// hasOpaque reports whether e contains a node of another package, whose
// columns Columns cannot see.
func hasOpaque(e Expr) bool {
	switch e.(type) {
	case *Literal, *ColumnRef:
		return false
	}
	if _, ok := e.(Structural); !ok {
		return true
	}
	for _, ch := range e.Children() {
		if hasOpaque(ch) {
			return true
		}
	}
	return false
}

// selected lists the rows whose bit is set in bm (n bits at offset 0).
func selected(bm []byte, n int) []int32 {
	sel := make([]int32, 0, n)
	for j := 0; j*8 < n; j++ {
		b := bm[j]
		if j*8+8 > n {
			b &= byte(1)<<(n-j*8) - 1
		}
		for b != 0 {
			sel = append(sel, int32(j*8+bits.TrailingZeros8(b)))
			b &= b - 1
		}
	}
	return sel
}

// partValidity reads validity bitmaps of parts once, for per-row tests
// without an interface call.
type partValidity struct {
	bits [][]byte
	offs []int
	all  []bool // no NULLs (or a nil part)
}

func validities(parts []arrow.Array) partValidity {
	pv := partValidity{bits: make([][]byte, len(parts)), offs: make([]int, len(parts)), all: make([]bool, len(parts))}
	for j, p := range parts {
		if p == nil {
			continue
		}
		if p.DataType().ID() == arrow.NULL {
			pv.bits[j] = make([]byte, bitutil.BytesForBits(int64(p.Len())))
			continue
		}
		pv.bits[j], pv.offs[j] = bitmapOf(p)
		pv.all[j] = pv.bits[j] == nil
	}
	return pv
}

func (pv partValidity) valid(w int16, at int32) bool {
	return pv.all[w] || bitutil.BitIsSet(pv.bits[w], pv.offs[w]+int(at))
}

// assemble builds n rows of type dt, row i being row at[i] of
// parts[which[i]], or NULL when which[i] < 0.
func assemble(dt arrow.DataType, n int, parts []arrow.Array, which []int16, at []int32) (arrow.Array, error) {
	if dt.ID() == arrow.NULL {
		return nullArray(dt, n), nil
	}
	valid := make([]byte, bitutil.BytesForBits(int64(n)))
	nulls := 0
	pv := validities(parts)
	for i := 0; i < n; i++ {
		if w := which[i]; w >= 0 && pv.valid(w, at[i]) {
			bitutil.SetBit(valid, i)
		} else {
			nulls++
		}
	}
	if nulls == n {
		return nullArray(dt, n), nil
	}
	switch dt.ID() {
	case arrow.BOOL:
		out := make([]byte, bitutil.BytesForBits(int64(n)))
		vals := make([][]byte, len(parts))
		offs := make([]int, len(parts))
		for j, p := range parts {
			if p != nil {
				vals[j], offs[j] = boolsOf(p)
			}
		}
		for i := 0; i < n; i++ {
			if w := which[i]; w >= 0 && pv.valid(w, at[i]) && bitutil.BitIsSet(vals[w], offs[w]+int(at[i])) {
				bitutil.SetBit(out, i)
			}
		}
		return boolOut(out, n, valid, nulls), nil
	case arrow.STRING:
		strsOf := make([]strs, len(parts))
		for j, p := range parts {
			if p != nil && p.DataType().ID() == arrow.STRING {
				strsOf[j] = stringsOf(p, p.Len())
			}
		}
		b := newStrBuilder(n, 16*n)
		for i := 0; i < n; i++ {
			if w := which[i]; w >= 0 && pv.valid(w, at[i]) {
				b.add(strsOf[w].at(int(at[i])))
			} else {
				b.end()
			}
		}
		return b.finish(valid, nulls)
	}
	fw, ok := dt.(arrow.FixedWidthDataType)
	if !ok {
		return nil, fmt.Errorf("cannot assemble rows of type %s", dt)
	}
	switch fw.BitWidth() {
	case 16:
		return fixedOut(dt, pick[int16](n, parts, which, at), valid, nulls), nil
	case 32:
		return fixedOut(dt, pick[int32](n, parts, which, at), valid, nulls), nil
	case 64:
		return fixedOut(dt, pick[int64](n, parts, which, at), valid, nulls), nil
	}
	return nil, fmt.Errorf("cannot assemble rows of type %s", dt)
}

func pick[T any](n int, parts []arrow.Array, which []int16, at []int32) []T {
	vals := make([][]T, len(parts))
	for j, p := range parts {
		if p != nil && p.DataType().ID() != arrow.NULL {
			vals[j] = valuesOf[T](p)
		}
	}
	out := make([]T, n)
	for i := range out {
		if w := which[i]; w >= 0 && vals[w] != nil {
			out[i] = vals[w][at[i]]
		}
	}
	return out
}
