package parquet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/weirdata/weir/storage"
)

// WriterOptions configure a Writer. The zero value writes Snappy files of
// 128 Ki-row row groups, one file per partition until Commit, with
// statistics and the page index.
type WriterOptions struct {
	// Prefix is the directory of the files in the store ("bids/"; a
	// missing final "/" is added).
	Prefix string
	// ID names the writer in its files' names: part-<ID>-<seq>.parquet,
	// seq counting from 0 across partitions. Two writers of one location
	// need different IDs (they are checked: a taken name fails the commit
	// instead of replacing a file). Names sort in write order for one ID.
	ID string
	// Codec compresses pages: "snappy" (default), "zstd", "none".
	Codec string
	// RowGroupRows is the number of rows per row group (default 131072).
	RowGroupRows int64
	// PageBytes is the target uncompressed size of a page (default 256 KiB).
	PageBytes int
	// BloomFilters names columns that get a split-block bloom filter (10
	// bits per value), which the reader uses to prune row groups on = and IN.
	BloomFilters []string
	// NoPageStatistics leaves min/max out of page headers. Row-group
	// statistics and the page index (column and offset indexes) are always
	// written: the reader prunes with them.
	NoPageStatistics bool
	// Dictionary dictionary-encodes string and binary columns (parquet-go
	// falls back to plain when a dictionary grows past 1 MiB).
	Dictionary bool
	// MaxFileRows and MaxFileBytes roll over to a new file once a file
	// holds that many rows or (an estimate of) that many bytes; 0 is no
	// limit. Files end on row-group boundaries for MaxFileBytes.
	MaxFileRows  int64
	MaxFileBytes int64
	// PartitionBy names a time column (timestamp, date32, or int64 µs):
	// rows go to Hive directories by its value, date=YYYY-MM-DD/ (or
	// date=…/hour=HH/ with PartitionHourly), in UTC. Rows with a NULL time
	// go to date=__HIVE_DEFAULT_PARTITION__/ as Hive does.
	PartitionBy     string
	PartitionHourly bool
	// Lineage appends the columns _split (string) and _position (int64) to
	// the files; batches are then written with WriteLineage (DESIGN §4).
	Lineage bool
	// Staged names files _part-<ID>-<seq>.parquet.staged: objects a reader
	// of the location skips (a leading "_" is hidden, and the name does not
	// end in .parquet), for a sink that commits them durably before it
	// publishes them under their final name (query's INSERT on checkpoints).
	Staged bool
}

// File is a file a Writer committed.
type File struct {
	Key   string
	Rows  int64
	Bytes int64
}

// Writer writes Arrow record batches as Parquet files under a prefix of an
// object store, column by column.
//
// # Visibility
//
// Every file goes through storage.Store.Create and becomes visible only
// when committed: until then it is a staging file of the local store (not
// under the table's location) or an unfinished multipart upload on S3, so
// a reader never sees a half-written .parquet object. A file is finished
// (footer written, upload complete but not visible) when it rolls over or
// at Precommit, and committed at Commit; Abort discards what is not
// committed. This is the shape two-phase commit needs (finish on the
// checkpoint barrier, commit when the checkpoint completes).
//
// # How values are written
//
// Each column of a batch is turned into one []parquet.Value (reused across
// batches; strings point into the Arrow buffers, nothing is copied) and
// handed to that column's parquet.ColumnWriter, a chunk of rows at a time,
// which encodes pages, statistics and the page index as it goes. No row is
// assembled and no reflection runs on data. (The rejected alternative,
// parquet-go's row API, builds a parquet.Row per record and then takes it
// apart again into columns.)
//
// A Writer is not safe for concurrent use.
type Writer struct {
	store  storage.Store
	in     *arrow.Schema // the batches' schema
	schema *pq.Schema
	opts   WriterOptions
	cfg    []pq.WriterOption
	timeAt int // index of PartitionBy in in, or -1

	open    map[string]*openFile // by partition directory ("" without partitioning)
	order   []string             // partition directories in order of opening
	pending []*openFile          // finished, not committed
	done    []File               // committed
	seq     int
	closed  bool

	vals [][]pq.Value // scratch, per column
}

type openFile struct {
	key     string
	sw      storage.Writer
	cw      *countingWriter
	pw      *pq.GenericWriter[any]
	rows    int64
	rgRows  int64
	written bool // the footer is written
}

type countingWriter struct {
	w storage.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// NewWriter returns a writer of batches of schema into store.
func NewWriter(store storage.Store, schema *arrow.Schema, opts WriterOptions) (*Writer, error) {
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 128 << 10
	}
	if opts.PageBytes <= 0 {
		opts.PageBytes = 256 << 10
	}
	if opts.ID == "" {
		opts.ID = "0"
	}
	if opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if strings.ContainsAny(opts.ID, "/") {
		return nil, fmt.Errorf("parquet writer: ID %q has a slash", opts.ID)
	}
	w := &Writer{store: store, in: schema, opts: opts, open: map[string]*openFile{}, timeAt: -1}

	fields := schema.Fields()
	if opts.Lineage {
		for _, f := range fields {
			if f.Name == SplitColumn || f.Name == PositionColumn {
				return nil, fmt.Errorf("parquet writer: column %q is reserved for lineage", f.Name)
			}
		}
		fields = append(fields,
			arrow.Field{Name: SplitColumn, Type: arrow.BinaryTypes.String},
			arrow.Field{Name: PositionColumn, Type: arrow.PrimitiveTypes.Int64})
	}
	ps, err := writerSchema(arrow.NewSchema(fields, nil))
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	w.schema = ps
	w.vals = make([][]pq.Value, len(fields))

	if opts.PartitionBy != "" {
		is := schema.FieldIndices(opts.PartitionBy)
		if len(is) != 1 {
			return nil, fmt.Errorf("parquet writer: no partition column %q", opts.PartitionBy)
		}
		switch t := schema.Field(is[0]).Type.(type) {
		case *arrow.TimestampType, *arrow.Date32Type, *arrow.Int64Type:
		default:
			return nil, fmt.Errorf("parquet writer: partition column %q is %s, not a time", opts.PartitionBy, t)
		}
		w.timeAt = is[0]
	}

	var codec compress.Codec
	switch strings.ToLower(opts.Codec) {
	case "", "snappy":
		codec = &snappy.Codec{}
	case "zstd":
		codec = &zstd.Codec{Level: zstd.SpeedDefault}
	case "none", "uncompressed":
		codec = &uncompressed.Codec{}
	default:
		return nil, fmt.Errorf("parquet writer: unknown codec %q (snappy, zstd, none)", opts.Codec)
	}
	w.cfg = []pq.WriterOption{
		ps,
		pq.Compression(codec),
		pq.PageBufferSize(opts.PageBytes),
		pq.DataPageStatistics(!opts.NoPageStatistics),
		pq.CreatedBy("weir", "", ""),
	}
	if len(opts.BloomFilters) > 0 {
		var bfs []pq.BloomFilterColumn
		for _, c := range opts.BloomFilters {
			if len(schema.FieldIndices(c)) != 1 {
				return nil, fmt.Errorf("parquet writer: bloom filter on unknown column %q", c)
			}
			bfs = append(bfs, pq.SplitBlockFilter(10, c))
		}
		w.cfg = append(w.cfg, pq.BloomFilters(bfs...))
	}
	if opts.Dictionary {
		w.cfg = append(w.cfg, pq.DefaultEncodingFor(pq.ByteArray, &pq.RLEDictionary), pq.DictionaryMaxBytes(1<<20))
	}
	return w, nil
}

// Write writes a batch of the writer's schema. With Lineage, use
// WriteLineage.
func (w *Writer) Write(ctx context.Context, rec arrow.RecordBatch) error {
	if w.opts.Lineage {
		return errors.New("parquet writer: a writer with Lineage takes WriteLineage")
	}
	return w.write(ctx, rec, "", nil)
}

// WriteLineage writes a batch whose rows all come from split, row i at
// position positions[i].
func (w *Writer) WriteLineage(ctx context.Context, rec arrow.RecordBatch, split string, positions []int64) error {
	if !w.opts.Lineage {
		return errors.New("parquet writer: WriteLineage needs WriterOptions.Lineage")
	}
	if int64(len(positions)) != rec.NumRows() {
		return fmt.Errorf("parquet writer: %d positions for %d rows", len(positions), rec.NumRows())
	}
	return w.write(ctx, rec, split, positions)
}

func (w *Writer) write(ctx context.Context, rec arrow.RecordBatch, split string, positions []int64) error {
	if w.closed {
		return errors.New("parquet writer: write after Commit or Abort")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !rec.Schema().Equal(w.in) {
		if err := sameTypes(rec.Schema(), w.in); err != nil {
			return fmt.Errorf("parquet writer: %w", err)
		}
	}
	n := int(rec.NumRows())
	if w.timeAt < 0 {
		return w.writeRows(ctx, "", rec, split, positions, 0, n)
	}
	// Runs of rows of one partition go to that partition's file, in order.
	dirs := partitionDirs(rec.Column(w.timeAt), w.opts.PartitionHourly)
	for i := 0; i < n; {
		j := i + 1
		for j < n && dirs[j] == dirs[i] {
			j++
		}
		if err := w.writeRows(ctx, dirs[i], rec, split, positions, i, j); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// sameTypes accepts a batch whose schema differs from the writer's only in
// names or nullability (a query's result, renamed): columns go by position.
func sameTypes(got, want *arrow.Schema) error {
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("batch has %d columns, the writer %d", got.NumFields(), want.NumFields())
	}
	for i := range got.NumFields() {
		if !arrow.TypeEqual(got.Field(i).Type, want.Field(i).Type) {
			return fmt.Errorf("column %d (%s) is %s, the writer's %s", i+1, want.Field(i).Name, got.Field(i).Type, want.Field(i).Type)
		}
	}
	return nil
}

// writeRows writes rows [i, j) of rec to the file of partition dir, rolling
// over files and row groups on the way.
func (w *Writer) writeRows(ctx context.Context, dir string, rec arrow.RecordBatch, split string, positions []int64, i, j int) error {
	for i < j {
		f, err := w.file(ctx, dir)
		if err != nil {
			return err
		}
		k := j
		if room := w.opts.RowGroupRows - f.rgRows; int64(k-i) > room {
			k = i + int(room)
		}
		if w.opts.MaxFileRows > 0 {
			if room := w.opts.MaxFileRows - f.rows; int64(k-i) > room {
				k = i + int(room)
			}
		}
		if err := w.writeChunk(f, rec, split, positions, i, k); err != nil {
			return w.fail(ctx, fmt.Errorf("parquet writer: %s: %w", f.key, err))
		}
		f.rows += int64(k - i)
		f.rgRows += int64(k - i)
		i = k
		if f.rgRows >= w.opts.RowGroupRows {
			if err := f.pw.Flush(); err != nil {
				return w.fail(ctx, fmt.Errorf("parquet writer: %s: %w", f.key, err))
			}
			f.rgRows = 0
			if w.opts.MaxFileBytes > 0 && f.cw.n >= w.opts.MaxFileBytes {
				if err := w.finish(dir); err != nil {
					return w.fail(ctx, err)
				}
				continue
			}
		}
		if w.opts.MaxFileRows > 0 && f.rows >= w.opts.MaxFileRows ||
			w.opts.MaxFileBytes > 0 && f.pw.Size() >= w.opts.MaxFileBytes {
			if err := w.finish(dir); err != nil {
				return w.fail(ctx, err)
			}
		}
	}
	return nil
}

// file returns the open file of partition dir, creating it if needed.
func (w *Writer) file(ctx context.Context, dir string) (*openFile, error) {
	if f := w.open[dir]; f != nil {
		return f, nil
	}
	name := fmt.Sprintf("part-%s-%06d.parquet", w.opts.ID, w.seq)
	if w.opts.Staged {
		name = "_" + name + ".staged"
	}
	key := w.opts.Prefix + dir + name
	sw, err := w.store.Create(ctx, key, storage.CreateOptions{IfAbsent: true})
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	w.seq++
	cw := &countingWriter{w: sw}
	f := &openFile{key: key, sw: sw, cw: cw, pw: pq.NewGenericWriter[any](cw, w.cfg...)}
	w.open[dir] = f
	w.order = append(w.order, dir)
	return f, nil
}

// finish writes the footer of partition dir's open file and moves it to
// the pending files.
func (w *Writer) finish(dir string) error {
	f := w.open[dir]
	delete(w.open, dir)
	for i, d := range w.order {
		if d == dir {
			w.order = append(w.order[:i], w.order[i+1:]...)
			break
		}
	}
	w.pending = append(w.pending, f)
	if err := f.pw.Close(); err != nil {
		return fmt.Errorf("parquet writer: %s: %w", f.key, err)
	}
	f.written = true
	return nil
}

// Precommit finishes every open file (writes its footer; on S3 the upload
// completes at Commit), so that Commit only has to make them visible.
func (w *Writer) Precommit(ctx context.Context) error {
	for len(w.order) > 0 {
		if err := w.finish(w.order[0]); err != nil {
			return w.fail(ctx, err)
		}
	}
	return nil
}

// Commit finishes the open files and makes every finished file visible,
// in the order they were finished; it returns the files committed by this
// call. The writer stays usable: later batches go to new files.
func (w *Writer) Commit(ctx context.Context) ([]File, error) {
	if err := w.Precommit(ctx); err != nil {
		return nil, err
	}
	var out []File
	for len(w.pending) > 0 {
		f := w.pending[0]
		if err := f.sw.Commit(ctx); err != nil {
			return out, w.fail(ctx, fmt.Errorf("parquet writer: committing %s: %w", f.key, err))
		}
		w.pending = w.pending[1:]
		file := File{Key: f.key, Rows: f.rows, Bytes: f.cw.n}
		w.done = append(w.done, file)
		out = append(out, file)
	}
	return out, nil
}

// Close commits what is left and ends the writer.
func (w *Writer) Close(ctx context.Context) ([]File, error) {
	fs, err := w.Commit(ctx)
	w.closed = true
	return fs, err
}

// Abort discards every file not committed yet and ends the writer.
func (w *Writer) Abort(ctx context.Context) error {
	w.closed = true
	var errs []error
	for _, d := range w.order {
		errs = append(errs, w.open[d].sw.Abort(ctx))
	}
	for _, f := range w.pending {
		errs = append(errs, f.sw.Abort(ctx))
	}
	w.open, w.order, w.pending = map[string]*openFile{}, nil, nil
	return errors.Join(errs...)
}

// fail aborts what is not committed and returns err.
func (w *Writer) fail(ctx context.Context, err error) error {
	_ = w.Abort(context.WithoutCancel(ctx))
	return err
}

// Files returns every file committed so far.
func (w *Writer) Files() []File { return append([]File(nil), w.done...) }
