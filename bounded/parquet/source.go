package parquet

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/parquet-go/parquet-go/format"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage"
)

// Options configure a Source. The zero value reads every column of every
// file with the defaults below.
type Options struct {
	// Columns is the projection: the names of the columns to return, in
	// that order (file columns and partition columns alike); nil means all
	// of them, file columns first (in order of first appearance across the
	// files), then partition columns. The EventTime column is added at the
	// end when the projection leaves it out.
	Columns []string
	// Filter is applied exactly and pushed down as far as it goes (see
	// Filter).
	Filter Filter
	// EventTime names the event-time column (a timestamp or an int64 of
	// microseconds). It enables Filter.From/To and the time bounds that let
	// a backfill's watermark advance across files (dataflow.TimeBounded).
	EventTime string
	// Partitions turns path segments into columns (see Partitioning).
	Partitions Partitioning
	// BatchRows is the number of rows per batch before filtering (default
	// 8192).
	BatchRows int
	// Parallelism is how many goroutines decode pages at once, across all
	// the splits of the source (default GOMAXPROCS). Within one file, row
	// groups are decoded concurrently and returned in order.
	Parallelism int
	// Prefetch bounds reading ahead.
	Prefetch Prefetch
	// Cache, if set, keeps footers, page indexes and column chunks across
	// queries (the store is read through storage.Cached).
	Cache *storage.Cache
	// NoPushdown reads every row group and page and applies Filter to rows
	// only. Results are the same; it exists to measure pushdown and to test
	// that it changes nothing.
	NoPushdown bool
}

// Prefetch bounds how far a source reads ahead of what it has returned.
type Prefetch struct {
	// Footers is how many footers New reads at once (default 16: on S3 a
	// footer costs a round trip).
	Footers int
	// Units is how many units (a row group, or a part of a large one) each
	// split fetches and decodes ahead of the one it returns (default
	// Parallelism).
	Units int
	// Bytes bounds the bytes in flight — fetched column chunks and decoded
	// batches not yet returned — across all splits (default 512 MiB). A
	// split with nothing in flight may always start one unit.
	Bytes int64
	// HoleBytes: two byte ranges of a file closer than this are read in
	// one request, the bytes between them included (default 8 KiB, as
	// Arrow C++'s read coalescing; raise it for stores with a high latency
	// per request).
	HoleBytes int64
}

const defaultBatchRows = 8192

// Source is a bounded dataflow source over Parquet files: one split per
// file, returning its rows in file order; positions are row indexes.
type Source struct {
	store     storage.Store
	opts      Options
	batchRows int

	files  []*fileMeta // the files not pruned by partition values or statistics
	schema *arrow.Schema
	// fileFields is the number of leading fields of schema that come from
	// files; the rest are partition columns.
	fileFields int
	out        *arrow.Schema
	proj       []int // output field i is schema field proj[i]
	preds      []*boundPred
	eventField int // index in schema, or -1

	// noPageIndex makes readers ignore the page index, as for a file
	// without one (tests).
	noPageIndex bool

	progress Progress
	budget   *budget
	decode   chan struct{} // decode tokens
}

var _ dataflow.Source = (*Source)(nil)

// New opens a source over files of store: it reads their footers, merges
// their schemas, and prunes files and row groups with the filter. Listing
// and globbing are the caller's (package storage); files are read in the
// order given, each as one split.
//
// New fails when a file is not Parquet or is corrupt, when files disagree on
// a column's type (the error names both files, the column and both types),
// when a projected column is nested or of an unsupported type (naming the
// file and the column), and when the filter names an unknown column or
// compares a column with a constant of another kind.
func New(ctx context.Context, store storage.Store, files []storage.ObjectInfo, opts Options) (*Source, error) {
	if opts.Cache != nil {
		store = storage.Cached(store, opts.Cache)
	}
	s := &Source{store: store, opts: opts, batchRows: opts.BatchRows, eventField: -1}
	if s.batchRows <= 0 {
		s.batchRows = defaultBatchRows
	}
	if s.opts.Parallelism <= 0 {
		s.opts.Parallelism = runtime.GOMAXPROCS(0)
	}
	if s.opts.Prefetch.Footers <= 0 {
		s.opts.Prefetch.Footers = 16
	}
	if s.opts.Prefetch.Units <= 0 {
		s.opts.Prefetch.Units = s.opts.Parallelism
	}
	if s.opts.Prefetch.Bytes <= 0 {
		s.opts.Prefetch.Bytes = 512 << 20
	}
	if s.opts.Prefetch.HoleBytes <= 0 {
		s.opts.Prefetch.HoleBytes = 8 << 10
	}
	s.budget = newBudget(s.opts.Prefetch.Bytes)
	s.decode = make(chan struct{}, s.opts.Parallelism)
	if len(files) == 0 {
		return nil, fmt.Errorf("parquet: no files to read")
	}

	// Partition values come from the keys: prune on them before opening
	// any file.
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.Key
	}
	partNames, partTypes, partVals, err := partitionColumns(keys, opts.Partitions)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	partIndex := map[string]int{}
	for i, n := range partNames {
		partIndex[n] = i
	}
	keep := make([]bool, len(files))
	for i := range files {
		keep[i] = true
	}
	if !opts.NoPushdown {
		nAnd := len(opts.Filter.And)
		for i, p := range append(opts.Filter.And[:nAnd:nAnd], opts.Filter.Partitions...) {
			c, ok := partIndex[p.Column]
			if !ok {
				continue
			}
			bp, err := bindPred(p, c, partTypes[c], true)
			if err != nil {
				if i >= nAnd {
					continue // a pruning hint that does not fit: prune nothing
				}
				return nil, fmt.Errorf("parquet: %w", err)
			}
			for i := range files {
				if keep[i] && !bp.matchConst(partVals[i][c].s, partVals[i][c].null) {
					keep[i] = false
					s.progress.FilesPruned.Add(1)
				}
			}
		}
	}

	// Footers, concurrently.
	metas := make([]*fileMeta, len(files))
	errs := make([]error, len(files))
	sem := make(chan struct{}, s.opts.Prefetch.Footers)
	var wg sync.WaitGroup
	for i, info := range files {
		if !keep[i] {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			metas[i], errs[i] = s.openFile(ctx, info)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	for i, m := range metas {
		if m != nil {
			m.parts = []partValue{}
			if partVals != nil {
				m.parts = partVals[i]
			}
			s.files = append(s.files, m)
		}
	}

	if err := s.mergeSchemas(partNames, partTypes); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	if err := s.bind(); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	for _, f := range s.files {
		if err := s.checkCodecs(f); err != nil {
			return nil, fmt.Errorf("parquet: %w", err)
		}
	}
	s.pruneRowGroups()
	s.progress.SplitsTotal.Store(int64(len(s.files)))
	return s, nil
}

// checkCodecs refuses the compression codecs parquet-go cannot decode, and
// columns whose chunks use different codecs (parquet-go decodes every chunk
// of a column with the codec of the first).
func (s *Source) checkCodecs(f *fileMeta) error {
	for _, c := range s.neededCols(f) {
		col := &f.schema.cols[c]
		var first format.CompressionCodec
		for g := range f.md.RowGroups {
			codec := f.md.RowGroups[g].Columns[col.leaf].MetaData.Codec
			switch codec {
			case format.Uncompressed, format.Snappy, format.Gzip, format.Brotli, format.Zstd, format.Lz4Raw:
			case format.Lz4:
				return fmt.Errorf("%s: column %q: %w: compression codec LZ4 (the deprecated Hadoop framing; LZ4_RAW is supported)", f.name, col.name, ErrUnsupported)
			default:
				return fmt.Errorf("%s: column %q: %w: compression codec %s", f.name, col.name, ErrUnsupported, codec)
			}
			if g == 0 {
				first = codec
			} else if codec != first {
				return fmt.Errorf("%s: column %q: %w: row groups compressed with different codecs (%s, %s)", f.name, col.name, ErrUnsupported, first, codec)
			}
		}
	}
	return nil
}

// fileName names a file in messages.
func (s *Source) fileName(key string) string {
	base := s.store.String()
	if base != "" && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + key
}

// mergeSchemas computes the source's schema: the union of the files'
// columns by name, each of the widest type of its files, then the partition
// columns.
func (s *Source) mergeSchemas(partNames []string, partTypes []arrow.DataType) error {
	type merged struct {
		typ      arrow.DataType
		nullable bool
		from     *fileMeta
		count    int
		bad      error // the column cannot be read in some file
	}
	var names []string
	fields := map[string]*merged{}
	for _, f := range s.files {
		fs := f.schema
		for _, name := range fs.order {
			m := fields[name]
			if m == nil {
				m = &merged{}
				fields[name] = m
				names = append(names, name)
			}
			m.count++
			if d, ok := fs.nested[name]; ok {
				if m.bad == nil {
					m.bad = fmt.Errorf("%s: column %q (%s): %w: nested types are not supported yet", f.name, name, d, ErrUnsupported)
				}
				continue
			}
			if err, ok := fs.badType[name]; ok {
				if m.bad == nil {
					m.bad = fmt.Errorf("%s: column %q: %w: %v", f.name, name, ErrUnsupported, err)
				}
				continue
			}
			c := &fs.cols[fs.byName[name]]
			if m.typ == nil {
				m.typ, m.from, m.nullable = c.typ, f, c.optional || c.conv == convNull
				continue
			}
			t, ok := mergeTypes(m.typ, c.typ)
			if !ok {
				return fmt.Errorf("column %q is %s in %s but %s in %s", name, m.typ, m.from.name, c.typ, f.name)
			}
			m.typ = t
			m.nullable = m.nullable || c.optional || c.conv == convNull
		}
	}
	partIndex := map[string]bool{}
	for _, n := range partNames {
		partIndex[n] = true
		if _, ok := fields[n]; ok {
			return fmt.Errorf("column %q is both a partition key and a column of the files", n)
		}
	}

	// The projection.
	want := s.opts.Columns
	if want == nil {
		want = append(append([]string(nil), names...), partNames...)
		// SELECT * skips nothing silently: an unreadable column is an error.
	}
	if s.opts.EventTime != "" {
		found := false
		for _, w := range want {
			found = found || w == s.opts.EventTime
		}
		if !found {
			want = append(want[:len(want):len(want)], s.opts.EventTime)
		}
	}

	var all []arrow.Field
	index := map[string]int{}
	addField := func(name string, t arrow.DataType, nullable bool) {
		index[name] = len(all)
		all = append(all, arrow.Field{Name: name, Type: t, Nullable: nullable})
	}
	// The schema holds every readable file column, so that filters on
	// columns outside the projection can be evaluated.
	for _, name := range names {
		m := fields[name]
		if m.bad != nil {
			continue
		}
		addField(name, m.typ, m.nullable || m.count < len(s.files))
	}
	s.fileFields = len(all)
	for i, n := range partNames {
		addField(n, partTypes[i], true)
	}
	s.schema = arrow.NewSchema(all, nil)

	seen := map[string]bool{}
	var out []arrow.Field
	for _, name := range want {
		if seen[name] {
			return fmt.Errorf("column %q is projected twice", name)
		}
		seen[name] = true
		i, ok := index[name]
		if !ok {
			if m := fields[name]; m != nil && m.bad != nil {
				return m.bad
			}
			return fmt.Errorf("no column %q in the files (columns: %s)", name, strings.Join(append(names, partNames...), ", "))
		}
		s.proj = append(s.proj, i)
		out = append(out, all[i])
	}
	s.out = arrow.NewSchema(out, nil)

	for _, f := range s.files {
		f.cols = make([]int, len(all))
		for i := range all {
			f.cols[i] = -1
			if i < s.fileFields {
				if c, ok := f.schema.byName[all[i].Name]; ok {
					f.cols[i] = c
				}
			}
		}
	}
	if s.opts.EventTime != "" {
		s.eventField = index[s.opts.EventTime]
		t := all[s.eventField].Type
		if t.ID() != arrow.TIMESTAMP && t.ID() != arrow.INT64 {
			return fmt.Errorf("event-time column %q is %s, not a timestamp", s.opts.EventTime, t)
		}
	}
	return nil
}

// bind resolves the filter against the schema.
func (s *Source) bind() error {
	f := s.opts.Filter
	preds := f.And
	if !f.From.IsZero() || !f.To.IsZero() {
		if s.opts.EventTime == "" {
			return fmt.Errorf("filter: an event-time range needs Options.EventTime")
		}
		if !f.From.IsZero() {
			preds = append(preds[:len(preds):len(preds)], Pred{Column: s.opts.EventTime, Op: Ge, Value: f.From})
		}
		if !f.To.IsZero() {
			preds = append(preds[:len(preds):len(preds)], Pred{Column: s.opts.EventTime, Op: Lt, Value: f.To})
		}
	}
	for _, p := range preds {
		i := s.schema.FieldIndices(p.Column)
		if len(i) == 0 {
			return fmt.Errorf("filter %s: no column %q", p, p.Column)
		}
		bp, err := bindPred(p, i[0], s.schema.Field(i[0]).Type, i[0] >= s.fileFields)
		if err != nil {
			return err
		}
		s.preds = append(s.preds, bp)
	}
	return nil
}

// pruneRowGroups drops the row groups (and files) whose statistics show
// that no row satisfies the filter, and sets the progress totals.
func (s *Source) pruneRowGroups() {
	kept := s.files[:0]
	for _, f := range s.files {
		var rows int64
		for g := range f.rgs {
			rg := &f.rgs[g]
			if !s.opts.NoPushdown && !s.rowGroupMayMatch(f, g) {
				rg.keep = false
				s.progress.RowGroupsPruned.Add(1)
				continue
			}
			rows += rg.rows
			for _, c := range s.neededCols(f) {
				s.progress.BytesTotal.Add(f.md.RowGroups[g].Columns[f.schema.cols[c].leaf].MetaData.TotalCompressedSize)
			}
		}
		if rows == 0 && f.rows > 0 {
			s.progress.FilesPruned.Add(1)
			continue
		}
		s.progress.RowsTotal.Add(rows)
		kept = append(kept, f)
	}
	s.files = kept
}

func (s *Source) rowGroupMayMatch(f *fileMeta, g int) bool {
	rows := f.rgs[g].rows
	for _, p := range s.preds {
		if p.part {
			if !p.matchConst(f.parts[p.field-s.fileFields].s, f.parts[p.field-s.fileFields].null) {
				return false
			}
			continue
		}
		c := f.cols[p.field]
		if c < 0 { // the column is NULL in this file
			if !p.matchConst(scalar{}, true) {
				return false
			}
			continue
		}
		col := &f.schema.cols[c]
		st := chunkStats(col, s.schema.Field(p.field).Type, &f.md.RowGroups[g].Columns[col.leaf].MetaData, rows)
		if !p.mayMatch(st) {
			return false
		}
	}
	return true
}

// neededCols lists the file's columns (indexes into f.schema.cols) that a
// reader decodes: the projected ones and the filter's.
func (s *Source) neededCols(f *fileMeta) []int {
	var out []int
	seen := map[int]bool{}
	add := func(field int) {
		if c := f.cols[field]; c >= 0 && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, i := range s.proj {
		add(i)
	}
	for _, p := range s.preds {
		if !p.part {
			add(p.field)
		}
	}
	return out
}

// Schema implements dataflow.Source.
func (s *Source) Schema() *arrow.Schema { return s.out }

// Progress returns the source's live counters.
func (s *Source) Progress() *Progress { return &s.progress }

// Splits implements dataflow.Source: one split per file that may hold a
// matching row, in the order the files were given.
func (s *Source) Splits(context.Context) ([]dataflow.Split, error) {
	out := make([]dataflow.Split, len(s.files))
	for i, f := range s.files {
		out[i] = &split{s: s, f: f}
	}
	return out, nil
}

type split struct {
	s *Source
	f *fileMeta
}

// ID is the file's URL (the store's URL and the key): stable across runs.
func (sp *split) ID() string { return sp.f.name }

// Open implements dataflow.Split. pos is the index of the first row to
// return; whole row groups before it are skipped without being read, and
// pages before it when the file has an offset index.
func (sp *split) Open(ctx context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	if pos < 0 || int64(pos) > sp.f.rows {
		return nil, fmt.Errorf("%s: position %d outside [0, %d]", sp.f.name, pos, sp.f.rows)
	}
	return newReader(ctx, sp.s, sp.f, int64(pos)), nil
}
