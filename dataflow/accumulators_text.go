package dataflow

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// Text min and max: a slot keeps its current extreme as a Go string (c.s),
// compared byte-wise — UTF-8 code units, Postgres' order under the C
// collation. A string read from a batch aliases that batch's value buffer,
// so it is copied (strings.Clone) only when it becomes a slot's extreme or
// a new key of a tracked multiset: a row that does not change the result
// allocates nothing, and a slot never pins a whole batch. Rejected: one
// byte arena per aggregate with offsets per slot — it saves a string header
// per slot but needs compaction as extremes are replaced.

// textValues is a string-like Arrow array: text, large text, string views.
type textValues interface {
	arrow.Array
	Value(int) string
}

// isText reports whether t is a text type min and max can fold.
func isText(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

// addText folds a text column into slots' min or max (and, tracked, into
// their multisets).
func (c *accCol) addText(col arrow.Array, slots []int32, hasNulls, track bool) error {
	vals, ok := col.(textValues)
	if !ok {
		return fmt.Errorf("%s: column of type %s is not text", c.fn, col.DataType())
	}
	for r, s := range slots {
		if s < 0 || (hasNulls && !vals.IsValid(r)) {
			continue
		}
		v := vals.Value(r)
		owned := false
		if c.n[s] == 0 || (c.fn == Min && v < c.s[s]) || (c.fn == Max && v > c.s[s]) {
			v, owned = strings.Clone(v), true
			c.s[s] = v
		}
		c.n[s]++
		if track {
			m := c.vs[s]
			if m == nil {
				m = map[string]int64{}
				c.vs[s] = m
			}
			if k, ok := m[v]; ok {
				m[v] = k + 1
				continue
			}
			if !owned {
				v = strings.Clone(v)
			}
			m[v] = 1
		}
	}
	return nil
}

// untrackText removes one occurrence of row r's value from slot s's
// multiset and, if it was the last occurrence of the extreme, finds the
// new one.
func (c *accCol) untrackText(col arrow.Array, r int, s int32) error {
	vals, ok := col.(textValues)
	if !ok {
		return fmt.Errorf("%s: column of type %s is not text", c.fn, col.DataType())
	}
	v := vals.Value(r)
	m := c.vs[s]
	if m[v] == 0 {
		return fmt.Errorf("%s: retraction of value %q never added", c.fn, v)
	}
	c.n[s]--
	if m[v]--; m[v] > 0 {
		return nil
	}
	delete(m, v)
	if v != c.s[s] {
		return nil
	}
	first := true
	c.s[s] = ""
	for x := range m {
		if first || (c.fn == Min && x < c.s[s]) || (c.fn == Max && x > c.s[s]) {
			c.s[s], first = x, false
		}
	}
	return nil
}

// mergeText folds slot src's text extreme (and multiset) into dst; the
// strings are the accumulator's own, so they are shared, not copied.
func (c *accCol) mergeText(dst, src int32, track bool) {
	if c.n[dst] == 0 || (c.fn == Min && c.s[src] < c.s[dst]) || (c.fn == Max && c.s[src] > c.s[dst]) {
		c.s[dst] = c.s[src]
	}
	if !track {
		return
	}
	for v, k := range c.vs[src] {
		if c.vs[dst] == nil {
			c.vs[dst] = map[string]int64{}
		}
		c.vs[dst][v] += k
	}
}

// outputText builds slots' text extremes as a string array, NULL where a
// slot has no value.
func (c *accCol) outputText(slots []int32) arrow.Array {
	valid, nulls := validity(c.n, slots)
	size := 0
	for _, s := range slots {
		if c.n[s] > 0 {
			size += len(c.s[s])
		}
	}
	if size > 1<<31-1 {
		panic(fmt.Sprintf("dataflow: %s: %d bytes of text in one batch", c.fn, size)) // batches are at most 8,192 rows
	}
	data := make([]byte, 0, size)
	offsets := make([]int32, 1, len(slots)+1)
	for _, s := range slots {
		if c.n[s] > 0 {
			data = append(data, c.s[s]...)
		}
		offsets = append(offsets, int32(len(data)))
	}
	out := columnar.Strings(data, offsets)
	if valid == nil {
		return out
	}
	bufs := out.Data().Buffers()
	d := array.NewData(arrow.BinaryTypes.String, len(slots), []*memory.Buffer{memory.NewBufferBytes(valid), bufs[1], bufs[2]}, nil, nulls, 0)
	return array.NewStringData(d)
}
