package sqltest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cockroachdb/datadriven"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
)

var (
	seedFlag = flag.Uint64("sqltest.seed", 0, "seed of the randomized runs (0 = a new one per script)")
	runsFlag = flag.Int("sqltest.runs", 2, "runs of each query per mode")
)

// Walk runs every script under dir as a subtest.
func Walk(t *testing.T, dir string) {
	datadriven.Walk(t, dir, func(t *testing.T, path string) { RunFile(t, path) })
}

// RunFile runs one script with a fresh engine.
func RunFile(t *testing.T, path string) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s := newScript(t, seed)
	datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "load":
			return s.load(t, d)
		case "query":
			return s.query(t, d)
		case "error":
			return s.error(t, d)
		case "exec":
			return s.exec(t, d)
		}
		d.Fatalf(t, "unknown command %q (load, query, error, exec)", d.Cmd)
		return ""
	})
}

// script is the state of one file: an engine and its loaded tables.
type script struct {
	eng    *query.Engine
	seed   uint64
	rng    *rand.Rand
	tables map[string]*table
}

// table is a loaded table: each split's rows as one record, cut into
// batches anew for every run.
type table struct {
	schema      *arrow.Schema
	splits      []arrow.RecordBatch
	idleTimeout time.Duration
}

func newScript(t *testing.T, seed uint64) *script {
	eng := query.NewEngine(query.NewCatalog())
	eng.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	eng.Providers.Register("sqltest", liveMemory{eng.Providers.Memory()})
	t.Logf("sqltest seed %d (rerun with -args -sqltest.seed=%d)", seed, seed)
	return &script{eng: eng, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), tables: map[string]*table{}}
}

// liveMemory serves sqltest://NAME: the in-memory table NAME as a live feed
// (unbounded to the planner, though its splits end).
type liveMemory struct{ mem *query.MemoryProvider }

func memURL(u *url.URL) *url.URL {
	c := *u
	c.Scheme = "mem"
	return &c
}

func (l liveMemory) Schema(ctx context.Context, u *url.URL) (*arrow.Schema, error) {
	return l.mem.Schema(ctx, memURL(u))
}

func (l liveMemory) Open(ctx context.Context, u *url.URL, req query.SourceRequest) (dataflow.Source, bool, error) {
	src, _, err := l.mem.Open(ctx, memURL(u), req)
	return src, req.Mode != query.Live, err
}

func (s *script) load(t *testing.T, d *datadriven.TestData) string {
	var name, eventTime string
	splits := 1
	var delay, idle time.Duration
	for _, a := range d.CmdArgs {
		v := ""
		if len(a.Vals) > 0 {
			v = a.Vals[0]
		}
		var err error
		switch a.Key {
		case "name":
			name = v
		case "splits":
			splits, err = strconv.Atoi(v)
		case "event_time":
			eventTime = v
		case "delay":
			delay, err = time.ParseDuration(v)
		case "idle_timeout":
			idle, err = time.ParseDuration(v)
		default:
			d.Fatalf(t, "load: unknown argument %q (name, splits, event_time, delay, idle_timeout)", a.Key)
		}
		if err != nil {
			d.Fatalf(t, "load: %s: %v", a.Key, err)
		}
	}
	if name == "" || splits < 1 {
		d.Fatalf(t, "load needs name=NAME and splits>=1")
	}
	tab, err := parseTable(d.Input, splits)
	if err != nil {
		d.Fatalf(t, "load %s: %v", name, err)
	}
	tab.idleTimeout = idle
	s.tables[name] = tab
	s.put(name, tab, query.Backfill)
	opts := []string{fmt.Sprintf("history = 'mem://%s'", name), fmt.Sprintf("live = 'sqltest://%s'", name)}
	if eventTime != "" {
		opts = append(opts, fmt.Sprintf("event_time = '%s'", eventTime))
	}
	if delay > 0 {
		opts = append(opts, fmt.Sprintf("watermark_delay = '%d milliseconds'", delay.Milliseconds()))
	}
	if idle > 0 {
		opts = append(opts, fmt.Sprintf("idle_timeout = '%d milliseconds'", idle.Milliseconds()))
	}
	ddl := fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s () WITH (%s)", name, name, strings.Join(opts, ", "))
	if err := s.eng.Execute(context.Background(), ddl, query.RunOptions{}, newSink()); err != nil {
		d.Fatalf(t, "load %s: %v", name, err)
	}
	return ""
}

// put registers a table's rows for one run, cut into random batches, with
// random pauses in live mode.
func (s *script) put(name string, tab *table, mode query.Mode) {
	maxBatch := 1 + s.rng.IntN(4)
	parts := make([][]arrow.RecordBatch, len(tab.splits))
	for i, rec := range tab.splits {
		for lo := int64(0); lo < rec.NumRows(); {
			hi := min(rec.NumRows(), lo+int64(1+s.rng.IntN(maxBatch)))
			parts[i] = append(parts[i], rec.NewSlice(lo, hi))
			lo = hi
		}
	}
	mt := &query.MemoryTable{Schema: tab.schema, Splits: parts}
	if mode == query.Live {
		// Decide the pauses now: Pause is called from several goroutines.
		pauses := make([][]time.Duration, len(parts))
		for i := range parts {
			pauses[i] = make([]time.Duration, len(parts[i]))
			for j := range pauses[i] {
				switch r := s.rng.IntN(8); {
				case tab.idleTimeout > 0 && r == 0:
					pauses[i][j] = 2 * tab.idleTimeout
				case r <= 2:
					pauses[i][j] = time.Duration(s.rng.IntN(2000)) * time.Microsecond
				}
			}
		}
		mt.Pause = func(split, batch int) time.Duration { return pauses[split][batch] }
	}
	s.eng.Providers.Memory().Put(name, mt)
}

// run is one execution's settings, printed when runs disagree.
type run struct {
	mode        query.Mode
	parallelism int
}

func (r run) String() string { return fmt.Sprintf("%s, parallelism %d", r.mode, r.parallelism) }

func modes(t *testing.T, d *datadriven.TestData) []query.Mode {
	m := "both"
	if d.HasArg("mode") {
		d.ScanArgs(t, "mode", &m)
	}
	switch m {
	case "both":
		return []query.Mode{query.Backfill, query.Live}
	case "backfill":
		return []query.Mode{query.Backfill}
	case "live":
		return []query.Mode{query.Live}
	}
	d.Fatalf(t, "mode=%s: want both, backfill or live", m)
	return nil
}

// execute runs sql once in mode with fresh batches for every table.
func (s *script) execute(sql string, mode query.Mode) (run, *sink, error) {
	r := run{mode: mode, parallelism: 1 + s.rng.IntN(4)}
	for name, tab := range s.tables {
		s.put(name, tab, mode)
	}
	out := newSink()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.eng.Execute(ctx, sql, query.RunOptions{Mode: mode, Parallelism: r.parallelism}, out)
	return r, out, err
}

var orderBy = regexp.MustCompile(`(?is)\border\s+by\b`)

// endsOrdered reports whether the query ends with an ORDER BY of its own:
// its last ORDER BY is followed by no ')' closing a subquery.
func endsOrdered(q string) bool {
	locs := orderBy.FindAllStringIndex(q, -1)
	if len(locs) == 0 {
		return false
	}
	depth := 0
	for _, c := range q[locs[len(locs)-1][1]:] {
		switch c {
		case '(':
			depth++
		case ')':
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return true
}

func (s *script) query(t *testing.T, d *datadriven.TestData) string {
	runs := *runsFlag
	if d.HasArg("runs") {
		d.ScanArgs(t, "runs", &runs)
	}
	ordered := endsOrdered(strings.TrimRight(strings.TrimSpace(d.Input), ";"))
	var first string
	var firstRun run
	for i := 0; i < runs; i++ {
		for _, mode := range modes(t, d) {
			r, out, err := s.execute(d.Input, mode)
			var got string
			if err == nil {
				got, err = out.result(ordered)
			}
			if err != nil {
				// Printed, and compared as any result: every run must
				// fail alike.
				got = "error: " + err.Error() + "\n"
			}
			if first == "" {
				first, firstRun = got, r
				continue
			}
			if got != first {
				t.Errorf("%s\nseed %d: runs disagree\n--- %s:\n%s--- run %d, %s:\n%s", d.Pos, s.seed, firstRun, first, i, r, got)
			}
		}
	}
	return first
}

func (s *script) error(t *testing.T, d *datadriven.TestData) string {
	var first string
	var firstRun run
	for _, mode := range modes(t, d) {
		r, _, err := s.execute(d.Input, mode)
		got := "no error\n"
		if err != nil {
			got = err.Error() + "\n"
			var qe *query.Error
			if !errors.As(err, &qe) {
				got = "(not a *query.Error) " + got
			}
		}
		if first == "" {
			first, firstRun = got, r
		} else if got != first {
			t.Errorf("%s\nseed %d: modes disagree\n--- %s:\n%s--- %s:\n%s", d.Pos, s.seed, firstRun, first, r, got)
		}
	}
	return first
}

func (s *script) exec(t *testing.T, d *datadriven.TestData) string {
	_, out, err := s.execute(d.Input, query.Backfill)
	var b strings.Builder
	for i := 0; i < len(out.messages); i++ {
		if m := out.messages[i]; m != "" {
			b.WriteString(m + "\n")
		}
	}
	if err != nil {
		b.WriteString("error: " + err.Error() + "\n")
	}
	return b.String()
}

// sink folds each statement's changelog; only the last statement's rows
// are the result.
type sink struct {
	mu       sync.Mutex
	schema   *arrow.Schema
	stmt     int
	counts   map[string]int
	order    []string
	messages map[int]string
}

func newSink() *sink { return &sink{counts: map[string]int{}, messages: map[int]string{}} }

func (s *sink) Schema(i int, sc *arrow.Schema) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schema, s.stmt, s.counts, s.order = sc, i, map[string]int{}, nil
	return nil
}

func (s *sink) Rows(i int, b dataflow.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Rec.NumCols() != int64(s.schema.NumFields()) {
		return fmt.Errorf("a batch of %d columns for a result of %d", b.Rec.NumCols(), s.schema.NumFields())
	}
	for r := 0; r < b.Len(); r++ {
		parts := make([]string, b.Rec.NumCols())
		for c := range parts {
			parts[c] = query.FormatValue(b.Rec.Column(c), r)
		}
		row := strings.Join(parts, " | ")
		if b.Op(r) == dataflow.Retract {
			s.counts[row]--
		} else {
			s.counts[row]++
			s.order = append(s.order, row)
		}
	}
	return nil
}

func (s *sink) Progress(int, query.Progress) error { return nil }

func (s *sink) Done(i int, d query.Done) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages[i] = d.Message
	return nil
}

// result prints the folded rows under a header: sorted, or in arrival order
// when the query is ordered.
func (s *sink) result(ordered bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.schema == nil {
		return "", errors.New("the statement returned no rows")
	}
	var names []string
	for _, f := range s.schema.Fields() {
		names = append(names, f.Name)
	}
	var rows []string
	if ordered {
		// An ordered result arrives once, at the end, as inserts.
		rows = s.order
	} else {
		for row, n := range s.counts {
			if n < 0 {
				return "", fmt.Errorf("row %q retracted %d times more than inserted", row, -n)
			}
			for ; n > 0; n-- {
				rows = append(rows, row)
			}
		}
		sort.Strings(rows)
	}
	var b strings.Builder
	b.WriteString(strings.Join(names, " | ") + "\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	return b.String(), nil
}
