package nexmark

import (
	"math"
	"math/bits"
)

// rng is SplitMix64 (Steele, Lea, Flood 2014): a Weyl sequence passed
// through a 64-bit finaliser. It is tiny, fast, and good enough for synthetic
// data; every event gets its own rng seeded from (seed, event number).
//
// Bounded draws (intn) are taken from one 64-bit word at a time by
// multiply-shift: the high word of x·n is the value, the low word the rest
// of x's randomness for the next draw. A fresh word is drawn when fewer than
// guardBits bits beyond the range's width are left, so each value's bias
// stays below 2^-guardBits relative. A bid's bounded draws usually fit in one
// or two words.
type rng struct {
	s    uint64 // Weyl state
	x    uint64 // unused randomness for intn
	left int    // bits of randomness left in x
}

const (
	golden    = 0x9e3779b97f4a7c15
	guardBits = 16
)

func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// eventRNG returns the rng of event number e under the mixed seed sm.
func eventRNG(sm uint64, e int64) rng {
	return rng{s: mix64(sm + uint64(e)*golden)}
}

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// intn returns a value in [0, n) for n > 0.
func (r *rng) intn(n int64) int64 {
	w := bits.Len64(uint64(n - 1))
	if r.left < w+guardBits {
		r.x = r.next()
		r.left = 64
	}
	hi, lo := bits.Mul64(r.x, uint64(n))
	r.x = lo
	r.left -= w
	return int64(hi)
}

// priceBits is log2 of the size of the price table.
const priceBits = 12

// priceTable[j] = 100 · 10^(6j/2^priceBits).
var priceTable = func() (t [1<<priceBits + 1]float64) {
	for j := range t {
		t[j] = 100 * math.Pow(10, 6*float64(j)/(1<<priceBits))
	}
	return t
}()

// nextPrice is PriceGenerator.nextPrice: round(10^(6u) · 100) for uniform u,
// log-uniform in [100, 10^8]. The top priceBits bits of u pick a table entry,
// the rest a cubic Taylor polynomial of exp over the step (relative error
// below 1e-11, so the rounded result is math.Pow's but for rare ties).
func nextPrice(r *rng) int64 {
	v := r.next() >> 11 // 53 bits
	j := v >> (53 - priceBits)
	f := float64(v&(1<<(53-priceBits)-1)) * (1.0 / (1 << (53 - priceBits)))
	x := f * (6 * math.Ln10 / (1 << priceBits))
	p := (1 + x) + (x*x)*(1.0/2+x*(1.0/6))
	return int64(priceTable[j]*p + 0.5)
}
