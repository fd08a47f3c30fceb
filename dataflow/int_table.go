package dataflow

// intTable maps int64 group keys to slots: open addressing with linear
// probing in power-of-two arrays, grown at half full. On the hot path of
// every aggregate with one integer key it is several times faster than a Go
// map (no hashing of a generic key, no indirection through groups: one
// multiply, then a probe that is usually the first slot, in arrays that stay
// in cache for the few thousand keys a window or a combiner holds).
type intTable struct {
	keys  []int64
	vals  []int32 // −1: empty
	n     int
	shift uint
}

func newIntTable() *intTable {
	t := &intTable{}
	t.init(16)
	return t
}

func (t *intTable) init(capacity int) {
	t.keys = make([]int64, capacity)
	t.vals = make([]int32, capacity)
	for i := range t.vals {
		t.vals[i] = -1
	}
	t.n = 0
	t.shift = 64
	for c := capacity; c > 1; c >>= 1 {
		t.shift--
	}
}

// slot is the home position of k: Fibonacci hashing.
func (t *intTable) slot(k int64) int {
	return int((uint64(k) * 0x9e3779b97f4a7c15) >> t.shift)
}

// get returns k's value.
func (t *intTable) get(k int64) (int32, bool) {
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		v := t.vals[i]
		if v < 0 {
			return 0, false
		}
		if t.keys[i] == k {
			return v, true
		}
	}
}

// put sets k's value (v ≥ 0).
func (t *intTable) put(k int64, v int32) {
	if 2*(t.n+1) > len(t.keys) {
		t.grow()
	}
	mask := len(t.keys) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		if t.vals[i] < 0 {
			t.keys[i], t.vals[i] = k, v
			t.n++
			return
		}
		if t.keys[i] == k {
			t.vals[i] = v
			return
		}
	}
}

func (t *intTable) grow() {
	keys, vals := t.keys, t.vals
	t.init(2 * len(keys))
	for i, v := range vals {
		if v >= 0 {
			t.put(keys[i], v)
		}
	}
}

// len returns the number of keys.
func (t *intTable) len() int { return t.n }
