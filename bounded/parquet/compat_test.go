package parquet

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/weirdata/weir/storage"
)

var update = flag.Bool("update", false, "rewrite testdata/compat.golden")

// outcome is what reading a parquet-testing file must give.
type outcome struct {
	// kind: "ok" (every row is read; the row count is the footer's),
	// "unsupported" (New or the read fails with ErrUnsupported, naming the
	// file and the feature), "corrupt" (an error wrapping ErrCorrupt),
	// "error" (any error).
	kind string
	// want is a substring of the error ("ok": unused).
	want string
}

// compat lists every file of parquet-testing and its outcome, so that a
// regression (or a new file) shows. testdata/compat.golden holds what was
// read (schemas and the first values) for review.
var compat = map[string]outcome{
	"data/alltypes_dictionary.parquet":                    {kind: "ok"},
	"data/alltypes_plain.parquet":                         {kind: "ok"},
	"data/alltypes_plain.snappy.parquet":                  {kind: "ok"},
	"data/alltypes_tiny_pages.parquet":                    {kind: "ok"},
	"data/alltypes_tiny_pages_plain.parquet":              {kind: "ok"},
	"data/binary.parquet":                                 {kind: "ok"},
	"data/binary_truncated_min_max.parquet":               {kind: "ok"},
	"data/byte_array_decimal.parquet":                     {kind: "ok"},
	"data/byte_stream_split.zstd.parquet":                 {kind: "ok"},
	"data/byte_stream_split_extended.gzip.parquet":        {kind: "ok"},
	"data/column_chunk_key_value_metadata.parquet":        {kind: "ok"},
	"data/concatenated_gzip_members.parquet":              {kind: "ok"},
	"data/data_index_bloom_encoding_stats.parquet":        {kind: "ok"},
	"data/data_index_bloom_encoding_with_length.parquet":  {kind: "ok"},
	"data/datapage_v1-corrupt-checksum.parquet":           {kind: "error", want: "crc32 checksum mismatch"},
	"data/datapage_v1-snappy-compressed-checksum.parquet": {kind: "ok"},
	"data/datapage_v1-uncompressed-checksum.parquet":      {kind: "ok"},
	"data/datapage_v2.snappy.parquet":                     {kind: "unsupported", want: `column "e" (group GROUP LIST): unsupported Parquet feature: nested types are not supported yet`},
	"data/datapage_v2_empty_datapage.snappy.parquet":      {kind: "ok"},
	"data/delta_binary_packed.parquet":                    {kind: "ok"},
	"data/delta_byte_array.parquet":                       {kind: "ok"},
	"data/delta_encoding_optional_column.parquet":         {kind: "ok"},
	"data/delta_encoding_required_column.parquet":         {kind: "ok"},
	"data/delta_length_byte_array.parquet":                {kind: "ok"},
	"data/dict-page-offset-zero.parquet":                  {kind: "ok"},
	"data/fixed_length_byte_array.parquet":                {kind: "ok"},
	"data/fixed_length_decimal.parquet":                   {kind: "ok"},
	"data/fixed_length_decimal_legacy.parquet":            {kind: "ok"},
	"data/float16_nonzeros_and_nans.parquet":              {kind: "ok"},
	"data/float16_zeros_and_nans.parquet":                 {kind: "ok"},
	"data/floating_orders_nan_count.parquet":              {kind: "ok"},
	"data/hadoop_lz4_compressed.parquet":                  {kind: "unsupported", want: "compression codec LZ4"},
	"data/hadoop_lz4_compressed_larger.parquet":           {kind: "unsupported", want: "compression codec LZ4"},
	"data/incorrect_map_schema.parquet":                   {kind: "unsupported", want: "nested types are not supported yet"},
	"data/int32_decimal.parquet":                          {kind: "ok"},
	"data/int32_with_null_pages.parquet":                  {kind: "ok"},
	"data/int64_decimal.parquet":                          {kind: "ok"},
	"data/int96_from_spark.parquet":                       {kind: "ok"},
	"data/large_string_map.brotli.parquet":                {kind: "unsupported", want: "nested types are not supported yet"},
	"data/list_columns.parquet":                           {kind: "unsupported", want: "nested types are not supported yet"},
	"data/lz4_raw_compressed.parquet":                     {kind: "ok"},
	"data/lz4_raw_compressed_larger.parquet":              {kind: "ok"},
	"data/map_no_value.parquet":                           {kind: "unsupported", want: "nested types are not supported yet"},
	"data/nan_in_stats.parquet":                           {kind: "ok"},
	"data/nation.dict-malformed.parquet":                  {kind: "corrupt", want: "runs past the end of its column chunk"},
	"data/nested_lists.snappy.parquet":                    {kind: "unsupported", want: "nested types are not supported yet"},
	"data/nested_maps.snappy.parquet":                     {kind: "unsupported", want: "nested types are not supported yet"},
	"data/nested_structs.rust.parquet":                    {kind: "ok"}, // structs are flattened into "struct.field" columns
	"data/non_hadoop_lz4_compressed.parquet":              {kind: "unsupported", want: "compression codec LZ4"},
	"data/nonnullable.impala.parquet":                     {kind: "unsupported", want: "nested types are not supported yet"},
	"data/null_list.parquet":                              {kind: "unsupported", want: "nested types are not supported yet"},
	"data/nullable.impala.parquet":                        {kind: "unsupported", want: "nested types are not supported yet"},
	"data/nulls.snappy.parquet":                           {kind: "ok"},
	"data/old_list_structure.parquet":                     {kind: "unsupported", want: "nested types are not supported yet"},
	"data/overflow_i16_page_cnt.parquet":                  {kind: "ok"},
	"data/page_v2_empty_compressed.parquet":               {kind: "ok"},
	"data/plain-dict-uncompressed-checksum.parquet":       {kind: "ok"},
	"data/repeated_no_annotation.parquet":                 {kind: "unsupported", want: "nested types are not supported yet"},
	"data/repeated_primitive_no_list.parquet":             {kind: "unsupported", want: "nested types are not supported yet"},
	"data/rle-dict-snappy-checksum.parquet":               {kind: "ok"},
	"data/rle-dict-uncompressed-corrupt-checksum.parquet": {kind: "error", want: "crc32 checksum mismatch"},
	"data/rle_boolean_encoding.parquet":                   {kind: "ok"},
	"data/single_nan.parquet":                             {kind: "ok"},
	"data/sort_columns.parquet":                           {kind: "ok"},
	"data/unknown-logical-type.parquet":                   {kind: "ok"},
	"data/geospatial/crs-arbitrary-value.parquet":         {kind: "ok"},
	"data/geospatial/crs-default.parquet":                 {kind: "ok"},
	"data/geospatial/crs-geography.parquet":               {kind: "ok"},
	"data/geospatial/crs-projjson.parquet":                {kind: "ok"},
	"data/geospatial/crs-srid.parquet":                    {kind: "ok"},
	"data/geospatial/geography-lines.parquet":             {kind: "ok"},
	"data/geospatial/geography-points.parquet":            {kind: "ok"},
	"data/geospatial/geography-polygons.parquet":          {kind: "ok"},
	"data/geospatial/geospatial-with-nan.parquet":         {kind: "ok"},
	"data/geospatial/geospatial.parquet":                  {kind: "ok"},
	"bad_data/ARROW-GH-41317.parquet":                     {kind: "error", want: "nested types are not supported yet"},
	"bad_data/ARROW-GH-41321.parquet":                     {kind: "error", want: "nested types are not supported yet"},
	"bad_data/ARROW-GH-45185.parquet":                     {kind: "error", want: "nested types are not supported yet"},
	"bad_data/ARROW-GH-47662.parquet":                     {kind: "corrupt", want: "100 values of 4 bytes in a 364-byte page"},
	"bad_data/ARROW-RS-GH-6229-DICTHEADER.parquet":        {kind: "corrupt", want: "outside the file"},
	"bad_data/ARROW-RS-GH-6229-LEVELS.parquet":            {kind: "error", want: "nested types are not supported yet"},
	"bad_data/PARQUET-1481.parquet":                       {kind: "corrupt", want: "unknown physical type -7"},
	// The one bad_data file that is read: its dictionary indexes are
	// RLE-encoded with bit width 0, which is valid for a one-value
	// dictionary. It is there because it crashed the Go Arrow reader;
	// arrow-rs reads it too (apache/arrow-rs#6344).
	"bad_data/ARROW-GH-43605.parquet": {kind: "ok"},
}

func TestCompatibility(t *testing.T) {
	var files []string
	for _, pattern := range []string{"data/*.parquet", "data/*/*.parquet", "bad_data/*.parquet"} {
		m, err := filepath.Glob(filepath.Join(testingDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			rel, _ := filepath.Rel(testingDir, p)
			files = append(files, filepath.ToSlash(rel))
		}
	}
	if len(files) == 0 {
		t.Skipf("no parquet-testing files under %s", testingDir)
	}
	sort.Strings(files)
	for f := range compat {
		if !contains(files, f) {
			t.Errorf("%s is in the table but not on disk", f)
		}
	}
	// The real local store, over the directory of the files.
	st, err := storage.NewLocal(testingDir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	var golden strings.Builder
	counts := map[string]int{}
	for _, rel := range files {
		want, ok := compat[rel]
		if !ok {
			t.Errorf("%s: not in the compatibility table; add its outcome", rel)
			continue
		}
		counts[want.kind]++
		t.Run(rel, func(t *testing.T) {
			summary, rows, footerRows, err := readFile(t, st, rel)
			fmt.Fprintf(&golden, "== %s\n", rel)
			switch want.kind {
			case "ok":
				if err != nil {
					t.Fatalf("want every row, got %v", err)
				}
				if rows != footerRows {
					t.Errorf("read %d rows, the footer says %d", rows, footerRows)
				}
				golden.WriteString(summary)
			default:
				if err == nil {
					t.Fatalf("want an error (%s), read %d rows", want.kind, rows)
				}
				msg := err.Error()
				if !strings.Contains(msg, st.String()+rel) {
					t.Errorf("the error does not name the file: %v", err)
				}
				if !strings.Contains(msg, want.want) {
					t.Errorf("the error does not say %q: %v", want.want, err)
				}
				if want.kind == "unsupported" && !errors.Is(err, ErrUnsupported) {
					t.Errorf("want ErrUnsupported, got %v", err)
				}
				if want.kind == "corrupt" && !errors.Is(err, ErrCorrupt) {
					t.Errorf("want ErrCorrupt, got %v", err)
				}
				fmt.Fprintf(&golden, "error: %s\n", strings.ReplaceAll(msg, st.String(), "STORE/"))
			}
		})
	}
	t.Logf("outcomes: %v of %d files", counts, len(files))
	path := filepath.Join("testdata", "compat.golden")
	if *update {
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	prev, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(prev) != golden.String() {
		t.Errorf("testdata/compat.golden differs from what was read (diff it with -update and git diff):\n%s", firstDiff(string(prev), golden.String()))
	}
}

// readFile reads one file and summarizes it: the schema and the first
// values of each column.
func readFile(t *testing.T, st storage.Store, key string) (summary string, rows, footerRows int64, err error) {
	info, err := st.Stat(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(context.Background(), st, []storage.ObjectInfo{info}, Options{})
	if err != nil {
		return "", 0, 0, err
	}
	for _, f := range src.files {
		footerRows += f.md.NumRows
	}
	recs, err := readSource(t, src)
	if err != nil {
		return "", 0, footerRows, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rows: %d\n", countRows(recs))
	for _, f := range src.Schema().Fields() {
		fmt.Fprintf(&b, "%s %s: %s\n", f.Name, f.Type, joinN(columnValues(t, recs, f.Name), 6))
	}
	return b.String(), countRows(recs), footerRows, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n-%s\n+%s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(al), len(bl))
}
