package dataflow

import (
	"math/rand/v2"
	"testing"
)

func TestIntTableMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tab, ref := newIntTable(), map[int64]int32{}
	for i := 0; i < 100_000; i++ {
		k := r.Int64N(5000) - 2500
		if i%7 == 0 {
			k = r.Int64() // wide keys, negative ones, collisions of low bits
		}
		if v, ok := tab.get(k); ok != (ref[k] != 0) || ok && v != ref[k]-1 {
			t.Fatalf("get(%d) = %d, %v; map has %d", k, v, ok, ref[k]-1)
		}
		if _, ok := ref[k]; !ok {
			ref[k] = int32(len(ref)) + 1
			tab.put(k, ref[k]-1)
		}
	}
	if tab.len() != len(ref) {
		t.Fatalf("len %d, want %d", tab.len(), len(ref))
	}
}

func BenchmarkIntTable(b *testing.B) {
	keys := make([]int64, 8192)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range keys {
		keys[i] = r.Int64N(1000)
	}
	b.Run("table=open-addressing", func(b *testing.B) {
		tab := newIntTable()
		for b.Loop() {
			for _, k := range keys {
				if _, ok := tab.get(k); !ok {
					tab.put(k, int32(tab.len()))
				}
			}
		}
		b.ReportMetric(float64(b.N*len(keys))/b.Elapsed().Seconds(), "lookups/s")
	})
	b.Run("table=go-map", func(b *testing.B) {
		m := map[int64]int32{}
		for b.Loop() {
			for _, k := range keys {
				if _, ok := m[k]; !ok {
					m[k] = int32(len(m))
				}
			}
		}
		b.ReportMetric(float64(b.N*len(keys))/b.Elapsed().Seconds(), "lookups/s")
	})
}
