package query

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/unbounded/nexmark"
)

// Mode is how a query runs (DESIGN §3): a backfill over history, or live.
type Mode uint8

const (
	Backfill Mode = iota
	Live
)

func (m Mode) String() string {
	if m == Live {
		return "live"
	}
	return "backfill"
}

// ParseMode reads "backfill" or "live".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "backfill":
		return Backfill, nil
	case "live":
		return Live, nil
	}
	return 0, fmt.Errorf("unknown mode %q (backfill or live)", s)
}

// SourceRequest is what a run asks of a table's data.
type SourceRequest struct {
	Mode Mode
	// From and To bound event time ([From, To)); zero means open.
	From, To time.Time
	// Partitions hints how many splits a generator should make.
	Partitions int
	// Start is when the job started (zero: now). A live source that
	// begins at the present and has no base of its own (nexmark://
	// without base=) takes it as its base: a durable job resumed later
	// then reads the same feed, event for event.
	Start time.Time
	// Columns is the projection (nil = all); EventTime the event-time
	// column. A provider may return all columns anyway: the compiler drops
	// the others.
	Columns   []string
	EventTime string
	// SplitHints are the run's filters of the form column op constant. A
	// provider may use them only to skip whole splits (a Parquet file under
	// a partition directory that no row of which can match): dropping rows
	// inside a split would change the sequence lateness is decided on. The
	// filters stay in the plan either way.
	SplitHints []Hint
}

// Hint is a filter column op constant (op: = <> < <= > >=); Value is an
// int64, float64, string, bool or time.Time.
type Hint struct {
	Column string
	Op     string
	Value  any
}

// Provider turns the URLs of one scheme into dataflow sources.
type Provider interface {
	// Schema returns the schema of the data at u.
	Schema(ctx context.Context, u *url.URL) (*arrow.Schema, error)
	// Open returns the source for one run. bounded reports whether it ends.
	Open(ctx context.Context, u *url.URL, req SourceRequest) (src dataflow.Source, bounded bool, err error)
}

// Providers maps URL schemes to providers.
type Providers struct {
	mu      sync.Mutex
	schemes map[string]Provider
	memory  *MemoryProvider
}

// NewProviders returns the built-in providers: nexmark:// and mem://.
func NewProviders() *Providers {
	p := &Providers{schemes: map[string]Provider{}, memory: &MemoryProvider{tables: map[string]*MemoryTable{}}}
	p.schemes["nexmark"] = nexmarkProvider{}
	p.schemes["mem"] = p.memory
	p.schemes["file"] = parquetProvider{}
	p.schemes["s3"] = parquetProvider{}
	return p
}

// Register adds or replaces the provider of scheme.
func (p *Providers) Register(scheme string, pr Provider) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.schemes[scheme] = pr
}

// Memory returns the in-memory tables (mem://NAME).
func (p *Providers) Memory() *MemoryProvider { return p.memory }

func (p *Providers) lookup(raw string) (Provider, *url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("bad URL %q: %w", raw, err)
	}
	p.mu.Lock()
	pr, ok := p.schemes[u.Scheme]
	p.mu.Unlock()
	if !ok {
		known := sortedKeys(p.schemes)
		return nil, nil, fmt.Errorf("unknown URL scheme %q in %q (known: %s)", u.Scheme, raw, strings.Join(known, ", "))
	}
	return pr, u, nil
}

// nexmarkProvider serves nexmark://bids|auctions|persons, with query
// parameters seed, rate, events (a bounded generation of that many events
// of all kinds), partitions (default defaultNexmarkPartitions, as weir gen
// writes) and base (RFC 3339 time of event 0). Live runs
// are paced by the wall clock from base (default: when the run starts) and
// start at the run's from, else at the wall clock's now (see nexmarkFeed).
type nexmarkProvider struct{}

// defaultNexmarkPartitions is how many splits a nexmark:// feed has
// unless its URL says partitions=N.
const defaultNexmarkPartitions = 4

func nexmarkKind(u *url.URL) (nexmark.Kind, error) {
	name := u.Host
	if name == "" {
		name = strings.Trim(u.Opaque+u.Path, "/")
	}
	switch strings.TrimSuffix(strings.ToLower(name), "s") {
	case "bid":
		return nexmark.Bid, nil
	case "auction":
		return nexmark.Auction, nil
	case "person":
		return nexmark.Person, nil
	}
	return 0, fmt.Errorf("unknown Nexmark stream %q in %s (bids, auctions or persons)", name, u)
}

func (nexmarkProvider) Schema(_ context.Context, u *url.URL) (*arrow.Schema, error) {
	k, err := nexmarkKind(u)
	if err != nil {
		return nil, err
	}
	return nexmark.Schema(k), nil
}

func (nexmarkProvider) Open(_ context.Context, u *url.URL, req SourceRequest) (dataflow.Source, bool, error) {
	k, err := nexmarkKind(u)
	if err != nil {
		return nil, false, err
	}
	q := u.Query()
	var cfg nexmark.Config
	num := func(name string, into *int64) error {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%s: parameter %s=%q is not a non-negative integer", u, name, v)
			}
			*into = n
		}
		return nil
	}
	var seed, partitions int64
	for name, into := range map[string]*int64{"seed": &seed, "rate": &cfg.Rate, "events": &cfg.Events, "partitions": &partitions} {
		if err := num(name, into); err != nil {
			return nil, false, err
		}
	}
	cfg.Seed = uint64(seed)
	if b := q.Get("base"); b != "" {
		t, err := time.Parse(time.RFC3339Nano, b)
		if err != nil {
			return nil, false, fmt.Errorf("%s: parameter base: %w", u, err)
		}
		cfg.BaseTime = t
	}
	if partitions == 0 {
		// Not the run's parallelism: a source's splits must not change
		// with it, or a job resumed at another parallelism would read
		// splits its checkpoint never saw.
		partitions = defaultNexmarkPartitions
	}
	if req.Mode == Live {
		// A live feed starts at the run's from, else at the event whose
		// time is now: with a base in the past, not at event 0 (a replay
		// of everything since). Without a base, event 0 is now.
		start := req.From
		if cfg.BaseTime.IsZero() {
			cfg.BaseTime = req.Start
			if cfg.BaseTime.IsZero() {
				cfg.BaseTime = time.Now()
			}
			cfg.BaseTime = cfg.BaseTime.UTC().Truncate(time.Second)
		} else if start.IsZero() {
			start = time.Now()
		}
		return newNexmarkFeed(cfg, k, int(partitions), start), cfg.Events > 0, nil
	}
	if cfg.Events == 0 {
		return nil, false, fmt.Errorf("%s is an endless live feed: a backfill needs events=N (or the table's history)", u)
	}
	return &nexmark.Source{Config: cfg, Kind: k, Partitions: int(partitions)}, true, nil
}

// MemoryTable is an in-memory table: split i is Splits[i], read in order.
type MemoryTable struct {
	Schema *arrow.Schema
	Splits [][]arrow.RecordBatch
	// Pause, if set, is waited before each batch in live mode, to exercise
	// idleness: (split, batch index) → pause.
	Pause func(split, batch int) time.Duration
}

// MemoryProvider serves mem://NAME tables registered in-process (tests,
// sqltest scripts, small demo tables).
type MemoryProvider struct {
	mu     sync.Mutex
	tables map[string]*MemoryTable
}

// Put registers or replaces the table NAME.
func (m *MemoryProvider) Put(name string, t *MemoryTable) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tables[name] = t
}

func (m *MemoryProvider) get(u *url.URL) (*MemoryTable, error) {
	name := u.Host + strings.TrimSuffix(u.Path, "/")
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tables[name]
	if !ok {
		return nil, fmt.Errorf("no in-memory table %q", name)
	}
	return t, nil
}

func (m *MemoryProvider) Schema(_ context.Context, u *url.URL) (*arrow.Schema, error) {
	t, err := m.get(u)
	if err != nil {
		return nil, err
	}
	return t.Schema, nil
}

func (m *MemoryProvider) Open(_ context.Context, u *url.URL, req SourceRequest) (dataflow.Source, bool, error) {
	t, err := m.get(u)
	if err != nil {
		return nil, false, err
	}
	if req.Mode == Live {
		return &pacedMemory{t: t}, true, nil
	}
	return &bounded.Memory{Sch: t.Schema, Parts: t.Splits}, true, nil
}

// pacedMemory delivers a memory table as a live feed: the same split
// sequences, with the table's pauses between batches (so that idle
// timeouts fire), ending when the batches do.
type pacedMemory struct{ t *MemoryTable }

func (p *pacedMemory) Schema() *arrow.Schema { return p.t.Schema }

func (p *pacedMemory) Splits(context.Context) ([]dataflow.Split, error) {
	out := make([]dataflow.Split, len(p.t.Splits))
	for i := range out {
		out[i] = &pacedSplit{t: p.t, i: i}
	}
	return out, nil
}

type pacedSplit struct {
	t *MemoryTable
	i int
}

func (s *pacedSplit) ID() string { return fmt.Sprintf("memory/%d", s.i) }

func (s *pacedSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	return &pacedReader{s: s, next: int(pos)}, nil
}

type pacedReader struct {
	s    *pacedSplit
	next int
}

func (r *pacedReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	batches := r.s.t.Splits[r.s.i]
	if r.next >= len(batches) {
		return nil, dataflow.Position(r.next), errEOF
	}
	if r.s.t.Pause != nil {
		if d := r.s.t.Pause(r.s.i, r.next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, 0, ctx.Err()
			case <-t.C:
			}
		}
	}
	b := batches[r.next]
	r.next++
	return b, dataflow.Position(r.next), nil
}

func (r *pacedReader) Close() error { return nil }

var errEOF = io.EOF
