// Package parquet reads Parquet files from an object store as a bounded
// dataflow source: one split per file, decoded column by column straight
// into Arrow arrays, with projection and predicate pushdown.
//
// # Splits and positions
//
// Each file is one split, read in row order (DESIGN §4: for history written
// by others, each file is a split in row order, so lateness is decided per
// file). A split's position is the index of the next row in the file; a
// reader opened at any row skips the row groups before it without reading
// them, and the pages before it when the file has an offset index. The
// reader implements dataflow.TimeBounded from the statistics of the
// event-time column (the page index when there is one, else the row
// groups'), so that a backfill's watermark advances across files and row
// groups before their rows arrive.
//
// # How a file is read
//
// New reads every footer (one ranged read of the file's last 64 KiB for
// most files, Prefetch.Footers at once), merges the schemas and prunes
// files by partition values and row groups by statistics. A split's reader
// plans its units on its first Next: a unit is a row group, or a part of a
// large one cut along the offset index, with the rows the page index leaves
// in. Units are fetched (only the pages they need, coalesced into few
// ranged reads) and decoded by a pool of Parallelism goroutines shared by
// the source, up to Prefetch.Units ahead of the unit being returned and
// within Prefetch.Bytes in flight; each unit's batches go through its own
// channel, so decoding is parallel within a file and across files while
// every split returns its rows in order.
//
// Decoding uses parquet-go's page reader (parquet.FileColumnChunk.PagesFrom)
// over a stream of just the unit's pages, which the reader splices together
// from the fetched ranges; it then copies each page's values (page.Data():
// typed slices of values, dictionary indexes, definition levels) into Arrow
// buffers, expanding NULLs and looking dictionary indexes up itself. No row
// is ever materialized as parquet.Row, and no reflection runs on data.
// Before parquet-go sees a page, its header is checked against the column
// chunk and row group (sizes, counts), and after decoding the page against
// its header, so that corrupt files fail with ErrCorrupt instead of
// allocating without bound or reading stale buffers; a panic in the
// decoder is recovered into an error at the reader's boundary.
//
// # Types
//
// Primitive columns of every physical and logical type map to Arrow; see
// mapColumn for the table. Structs are flattened into columns named
// "struct.field" (see flatten). Lists, maps and repeated fields fail with
// ErrUnsupported ("nested types are not supported yet") when read; a
// projection without them reads the rest of the file. The
// deprecated LZ4 codec (Hadoop framing), LZO, encrypted files and columns
// whose row groups use different codecs fail with ErrUnsupported too.
//
// # Pushdown
//
// Filter is a conjunction of comparisons of a column with constants and an
// event-time range. It is applied exactly (the source returns only matching
// rows) and used to read less: partition values prune files before they
// are opened; row-group statistics (min, max, null count) prune row groups;
// bloom filters prune row groups for = and IN; the column index prunes
// pages, whose bytes are then never fetched. Progress counts what was
// pruned and the bytes read, so the effect of pushdown is visible.
//
// # Glossary
//
//   - split: one file, read in row order.
//   - unit: the rows of one row group (or part of one) that one worker
//     fetches and decodes.
//   - page stream: the bytes handed to parquet-go's page reader for one
//     column of one unit: the dictionary page, then the unit's data pages.
//   - position: a row index in the file; reading resumes right there.
package parquet
