package parquet

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// The fuzz targets feed arbitrary bytes to the three decoders this package
// has: footers, pages, and whole files. Any outcome but an error or a
// result (a panic, a hang, a runaway allocation) is a bug. Seeds are the
// parquet-testing files (all of them, good and bad) and files written here.
//
//	go test ./bounded/parquet -run '^$' -fuzz FuzzFooter -fuzztime 2m
//	go test ./bounded/parquet -run '^$' -fuzz FuzzPages -fuzztime 2m
//	go test ./bounded/parquet -run '^$' -fuzz FuzzScan -fuzztime 2m

// fuzzSeeds returns the parquet-testing files up to 64 KiB.
func fuzzSeeds(f testing.TB) [][]byte {
	var out [][]byte
	for _, pattern := range []string{"data/*.parquet", "data/*/*.parquet", "bad_data/*.parquet"} {
		paths, _ := filepath.Glob(filepath.Join(testingDir, pattern))
		for _, p := range paths {
			if fi, err := os.Stat(p); err != nil || fi.Size() > 64<<10 {
				continue
			}
			if b, err := os.ReadFile(p); err == nil {
				out = append(out, b)
			}
		}
	}
	return append(out, fuzzFile(f))
}

// fuzzFile is a small file with the column kinds and layouts the reader
// handles: dictionary and plain pages, NULLs, several row groups and pages,
// a page index, statistics and a bloom filter.
func fuzzFile(f testing.TB) []byte {
	type row struct {
		I  int64    `parquet:"i,dict"`
		S  *string  `parquet:"s"`
		D  float64  `parquet:"d"`
		B  bool     `parquet:"b"`
		TS int64    `parquet:"ts,timestamp(millisecond)"`
		U  *uint16  `parquet:"u"`
		F  *float32 `parquet:"f"`
	}
	rows := make([]row, 300)
	for i := range rows {
		s := string(rune('a' + i%26))
		u := uint16(i)
		fl := float32(i) / 3
		rows[i] = row{I: int64(i % 7), D: float64(i) * 1.5, B: i%3 == 0, TS: int64(i) * 1000}
		if i%5 != 0 {
			rows[i].S, rows[i].U, rows[i].F = &s, &u, &fl
		}
	}
	return writeParquet(f, rows, parquet.MaxRowsPerRowGroup(100), parquet.PageBufferSize(256),
		parquet.BloomFilters(parquet.SplitBlockFilter(10, "s")), parquet.Compression(&parquet.Snappy))
}

// scanBytes reads a whole file from bytes, with a filter that exercises
// pruning, and returns the error (if any).
func scanBytes(t testing.TB, data []byte, opts Options) error {
	st := newMemStore()
	st.put("f.parquet", data)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src, err := New(ctx, st, st.infos(t, "f.parquet"), opts)
	if err != nil {
		return err
	}
	splits, err := src.Splits(ctx)
	if err != nil {
		return err
	}
	for _, sp := range splits {
		if _, err := readSplit(ctx, sp, 0); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("the scan hung: %v", ctx.Err())
	}
	return nil
}

func FuzzFooter(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		// The footer alone, with its length and magic: that is what the
		// target mutates.
		if n := len(b); n >= 12 {
			footerLen := int(binary.LittleEndian.Uint32(b[n-8:]))
			if footerLen <= n-12 {
				f.Add(b[n-8-footerLen : n-8])
			}
		}
	}
	f.Fuzz(func(t *testing.T, footer []byte) {
		// A file of 4 magic bytes, 64 bytes of zero "data", the footer.
		data := append([]byte("PAR1"), make([]byte, 64)...)
		data = append(data, footer...)
		data = binary.LittleEndian.AppendUint32(data, uint32(len(footer)))
		data = append(data, "PAR1"...)
		st := newMemStore()
		st.put("f.parquet", data)
		src, err := New(context.Background(), st, st.infos(t, "f.parquet"), Options{})
		if err == nil {
			_ = src.Schema()
		}
		if fixed, _, err := repairKeyValues(footer); err == nil && len(fixed) < len(footer) {
			t.Fatalf("repair shrank the footer")
		}
	})
}

func FuzzPages(f *testing.F) {
	base := fuzzFile(f)
	st := newMemStore()
	st.put("f.parquet", base)
	src, err := New(context.Background(), st, st.infos(f, "f.parquet"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	// The column chunks of the base file: the fuzzer mutates one chunk's
	// bytes (pages and their headers) and the target puts them back.
	type span struct{ off, end int }
	var spans []span
	for rg := range src.files[0].rgs {
		for leaf := range src.files[0].schema.leaves {
			sp, _, err := chunkSpan(src.files[0], rg, leaf)
			if err != nil {
				f.Fatal(err)
			}
			spans = append(spans, span{int(sp.off), int(sp.end)})
			f.Add(uint8(len(spans)-1), base[sp.off:sp.end])
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, chunk []byte) {
		sp := spans[int(which)%len(spans)]
		data := append([]byte(nil), base...)
		n := copy(data[sp.off:sp.end], chunk)
		clear(data[sp.off+n : sp.end])
		_ = scanBytes(t, data, Options{BatchRows: 64})
	})
}

func FuzzScan(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = scanBytes(t, data, Options{BatchRows: 100})
		_ = scanBytes(t, data, Options{BatchRows: 50, Filter: Filter{And: []Pred{{Column: "i", Op: In, Values: []any{1, 3}}}}})
	})
}

// TestFuzzSeeds runs the fuzz targets' checks on every seed in normal test
// runs (go test runs the seed corpus of Fuzz functions too; this adds the
// bad files with a pushdown filter).
func TestFuzzSeeds(t *testing.T) {
	for _, b := range fuzzSeeds(t) {
		_ = scanBytes(t, b, Options{Filter: Filter{And: []Pred{{Column: "id", Op: Ge, Value: 3}}}})
	}
}
