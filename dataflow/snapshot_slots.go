package dataflow

import (
	"cmp"
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/internal/columnar"
)

// Slot snapshots: the payload of one aggregate slot (a group key and its
// accumulators), shared by the window, session and group aggregates.
//
//	slot  = count:varint key* acc*          one key per group column, one acc per aggregate
//	key   = 0x00                            NULL
//	      | 0x01 (varint | float | bytes | bool)   by the column's kind
//	acc   = (nothing)                       count(*): the slot's count
//	      | n:varint                        count(col)
//	      | n:varint value [multiset]       sum, min, max, avg: value is a float, a varint, or
//	                                        for min/max of text bytes ("" when n is 0);
//	                                        the multiset of min/max values when tracked:
//	                                        len:uvarint (value k:varint)*
//	      | n:varint holistic
//	holistic = 0x00                         no values
//	      | 0x01 words:(len (uvarint k:varint)*) strs:(len (bytes k:varint)*)   distinct sets
//	      | 0x01 zero:varint pos:(len (varint k:varint)*) neg:(…)               ddSketch
//	      | 0x01 0x00 sparse:(len uvarint*) | 0x01 0x01 regs:bytes              hllSketch
//
// Maps are written in key order, so equal state gives equal bytes.

// encodeSlot appends slot s of the arena.
func (a *slotArena) encodeSlot(e *snapEncoder, s int32) {
	acc := a.acc
	e.varint(acc.count[s])
	for k := range a.keys {
		kc := &a.keys[k]
		if !kc.valid[s] {
			e.byte(0)
			continue
		}
		e.byte(1)
		switch kc.kind {
		case keyInt:
			e.varint(kc.i[s])
		case keyFloat:
			e.float(kc.f[s])
		case keyString:
			e.str(kc.s[s])
		case keyBool:
			e.bool(kc.b[s])
		}
	}
	for k := range acc.aggs {
		c := &acc.aggs[k]
		if c.fn == CountAll {
			continue
		}
		e.varint(c.n[s])
		switch {
		case c.fn == Count:
		case c.fn.holistic():
			c.encodeHolistic(e, s)
		case c.text:
			e.str(c.s[s])
			if acc.track {
				encodeCounts(e, c.vs[s], e.str)
			}
		default:
			if c.float {
				e.float(c.f[s])
			} else {
				e.varint(c.i[s])
			}
			if acc.track && (c.fn == Min || c.fn == Max) {
				if c.float {
					encodeCounts(e, c.vf[s], e.float)
				} else {
					encodeCounts(e, c.vi[s], e.varint)
				}
			}
		}
	}
}

func encodeCounts[K cmp.Ordered](e *snapEncoder, m map[K]int64, key func(K)) {
	e.uvarint(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key(k)
		e.varint(m[k])
	}
}

func decodeCounts[K comparable](d *snapDecoder, minBytes int, key func() K) map[K]int64 {
	n := d.count(minBytes + 1)
	if n == 0 {
		return nil
	}
	m := make(map[K]int64, n)
	for range n {
		k := key()
		m[k] = d.varint()
	}
	return m
}

func (c *accCol) encodeHolistic(e *snapEncoder, s int32) {
	switch c.fn {
	case ApproxPercentile:
		q := c.qs[s]
		if q == nil {
			e.byte(0)
			return
		}
		e.byte(1)
		e.varint(q.zero)
		encodeCounts(e, q.pos, func(i int32) { e.varint(int64(i)) })
		encodeCounts(e, q.neg, func(i int32) { e.varint(int64(i)) })
	case ApproxCountDistinct:
		h := c.hs[s]
		if h == nil {
			e.byte(0)
			return
		}
		e.byte(1)
		if h.regs != nil {
			e.byte(1)
			e.bytes(h.regs)
			return
		}
		e.byte(0)
		e.uvarint(uint64(len(h.sparse)))
		for _, x := range slices.Sorted(maps.Keys(h.sparse)) {
			e.uvarint(x)
		}
	default:
		ds := c.ds[s]
		if ds == nil {
			e.byte(0)
			return
		}
		e.byte(1)
		encodeCounts(e, ds.words, e.uvarint)
		encodeCounts(e, ds.strs, e.str)
	}
}

// decodeSlot reads a slot into slot s, which alloc has just returned (so
// its accumulators are zero).
func (a *slotArena) decodeSlot(d *snapDecoder, s int32) {
	acc := a.acc
	acc.count[s] = d.varint()
	for k := range a.keys {
		kc := &a.keys[k]
		kc.valid[s] = d.bool()
		if !kc.valid[s] {
			continue
		}
		switch kc.kind {
		case keyInt:
			kc.i[s] = d.varint()
		case keyFloat:
			kc.f[s] = d.float()
		case keyString:
			kc.s[s] = d.str()
		case keyBool:
			kc.b[s] = d.bool()
		}
	}
	for k := range acc.aggs {
		c := &acc.aggs[k]
		if c.fn == CountAll {
			continue
		}
		c.n[s] = d.varint()
		switch {
		case c.fn == Count:
		case c.fn.holistic():
			c.decodeHolistic(d, s)
		case c.text:
			c.s[s] = d.str()
			if acc.track {
				c.vs[s] = decodeCounts(d, 1, d.str)
			}
		default:
			if c.float {
				c.f[s] = d.float()
			} else {
				c.i[s] = d.varint()
			}
			if acc.track && (c.fn == Min || c.fn == Max) {
				if c.float {
					c.vf[s] = decodeCounts(d, 8, d.float)
				} else {
					c.vi[s] = decodeCounts(d, 1, d.varint)
				}
			}
		}
	}
}

func (c *accCol) decodeHolistic(d *snapDecoder, s int32) {
	if !d.bool() {
		return
	}
	switch c.fn {
	case ApproxPercentile:
		q := &ddSketch{zero: d.varint()}
		idx := func() int32 {
			v := d.varint()
			if v < -1<<31 || v >= 1<<31 {
				d.fail("sketch bucket %d out of range", v)
			}
			return int32(v)
		}
		q.pos = decodeCounts(d, 1, idx)
		q.neg = decodeCounts(d, 1, idx)
		c.qs[s] = q
	case ApproxCountDistinct:
		h := &hllSketch{}
		if d.bool() {
			h.regs = slices.Clone(d.bytes())
			if d.err == nil && len(h.regs) != hllM {
				d.fail("HyperLogLog of %d registers, want %d", len(h.regs), hllM)
			}
		} else {
			n := d.count(1)
			if n > hllSparseMax {
				d.fail("sparse HyperLogLog of %d values, at most %d", n, hllSparseMax)
				return
			}
			h.sparse = make(map[uint64]struct{}, n)
			for range n {
				h.sparse[d.uvarint()] = struct{}{}
			}
		}
		c.hs[s] = h
	default:
		ds := &distinctSet{}
		ds.words = decodeCounts(d, 1, d.uvarint)
		ds.strs = decodeCounts(d, 1, d.str)
		c.ds[s] = ds
	}
}

// slotKeyGroups returns the key group of each slot's row, as a hash
// exchange on the columns hashKeys would route it: each column is a group
// key (by name in groupKeys) or a window bound (window_start, window_end
// of w). ok is false when a column is neither: the state cannot be split
// by key group.
func (a *slotArena) slotKeyGroups(slots []int32, groupKeys, hashKeys []string, w Window, maxPar int) ([]int, error) {
	if len(slots) == 0 {
		return nil, nil
	}
	var keyCols []arrow.Array
	cols := make([]arrow.Array, len(hashKeys))
	for i, name := range hashKeys {
		switch j := slices.Index(groupKeys, name); {
		case j >= 0:
			if keyCols == nil {
				keyCols = a.keyColumns(slots)
			}
			cols[i] = keyCols[j]
		case name == WindowStartColumn || name == WindowEndColumn:
			v := w.Start
			if name == WindowEndColumn {
				v = w.End
			}
			vals := make([]int64, len(slots))
			for r := range vals {
				vals[r] = v
			}
			cols[i] = columnar.Timestamps(vals)
		default:
			return nil, errNotSplittable(name)
		}
	}
	hashes := make([]uint64, len(slots))
	if err := columnar.HashColumns(cols, hashes); err != nil {
		return nil, err
	}
	kgs := make([]int, len(slots))
	for i, h := range hashes {
		kgs[i] = KeyGroupOf(h, maxPar)
	}
	return kgs, nil
}

// keyRecord returns the key columns of slots as a record, with the group
// index's key kinds, so restored slots can be looked up (and merged) with
// groupIndex.lookup like rows of a batch.
func (a *slotArena) keyRecord(slots []int32) arrow.RecordBatch {
	cols := a.keyColumns(slots)
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: string(rune('a' + i%26)), Type: c.DataType(), Nullable: true}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(slots)))
}
