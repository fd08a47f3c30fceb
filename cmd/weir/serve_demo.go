package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/notebooks"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/unbounded/nexmark"
)

// The demo data of a workspace: a Nexmark history written on the first
// start, and a live feed that continues the same event sequence (same
// seed, rate, partitions and base), so a live run from a time inside the
// history reads the history and then the feed.
const (
	demoRate       = 1000 // events per second of event time
	demoSeed       = 1
	demoPartitions = 4
	// demoSpan is how much history the first start writes: the hour
	// before it (3.6 million events, about 240 MB, about 2 s on 2 cores).
	demoSpan = time.Hour
	// demoStateFile remembers the history's base so restarts reuse it.
	demoStateFile = "demo.json"
)

// demoState is WORKSPACE/demo.json.
type demoState struct {
	// Base is the event time of event 0: the history's start.
	Base time.Time `json:"base"`
	// End is the history's end (exclusive): Base + Events/Rate.
	End    time.Time `json:"end"`
	Events int64     `json:"events"`
	// History is the directory of the Parquet files (bids/, auctions/,
	// persons/ under it).
	History string `json:"history"`
}

// setupDemo makes sure the workspace has its demo: the Nexmark history
// (generated when demo.json is missing: the span before now, truncated to
// the minute), the tables bids, auctions and persons over it and the live
// feed, and the demo notebooks (written once). It says what it does on w.
func setupDemo(ctx context.Context, workspace string, eng *query.Engine, nbs *notebooks.Store, now time.Time, span time.Duration, w io.Writer) (demoState, error) {
	st, err := ensureDemoHistory(ctx, workspace, now, span, w)
	if err != nil {
		return st, fmt.Errorf("demo history: %w", err)
	}
	if err := ensureDemoTables(ctx, eng, st); err != nil {
		return st, fmt.Errorf("demo tables: %w", err)
	}
	wrote, err := nbs.InstallDemos(notebooks.DemoParams{HistoryStart: st.Base, HistoryEnd: st.End, HistoryDir: st.History})
	if err != nil {
		return st, fmt.Errorf("demo notebooks: %w", err)
	}
	for _, n := range wrote {
		_, _ = fmt.Fprintf(w, "wrote the demo notebook %s\n", filepath.Join(nbs.Dir(), n+".json"))
	}
	return st, nil
}

func ensureDemoHistory(ctx context.Context, workspace string, now time.Time, span time.Duration, w io.Writer) (demoState, error) {
	statePath := filepath.Join(workspace, demoStateFile)
	var st demoState
	b, err := os.ReadFile(statePath)
	if err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("%s: %w (delete it to generate the demo history again)", statePath, err)
		}
		return st, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	st = demoState{
		Base:    now.Add(-span).UTC().Truncate(time.Minute),
		Events:  int64(span/time.Second) * demoRate,
		History: filepath.Join(workspace, "data", "nexmark"),
	}
	st.End = st.Base.Add(time.Duration(st.Events/demoRate) * time.Second)
	// A first start that stopped before demo.json was written may have
	// left files: the directory is the demo's own, start it afresh.
	if err := os.RemoveAll(st.History); err != nil {
		return st, err
	}
	if err := os.MkdirAll(st.History, 0o755); err != nil {
		return st, err
	}
	_, _ = fmt.Fprintf(w, "first start: writing the demo Nexmark history (%s to %s, %d events/s, seed %d, %d partitions) to %s\n",
		st.Base.Format(time.RFC3339), st.End.Format(time.RFC3339), demoRate, demoSeed, demoPartitions, st.History)
	start := time.Now()
	store, prefix, err := storage.Open(ctx, (&url.URL{Scheme: "file", Path: filepath.ToSlash(st.History) + "/"}).String())
	if err != nil {
		return st, err
	}
	cfg := nexmark.Config{Seed: demoSeed, Rate: demoRate, Events: st.Events, BaseTime: st.Base}
	res, err := genNexmark(ctx, store, prefix, cfg, demoPartitions, parquet.WriterOptions{Codec: "snappy", MaxFileRows: 1 << 20, Lineage: true})
	if err != nil {
		return st, err
	}
	var rows, bytes int64
	for _, s := range res {
		rows, bytes = rows+s.rows, bytes+s.bytes
	}
	_, _ = fmt.Fprintf(w, "  %d rows, %.1f MB in %s\n", rows, float64(bytes)/1e6, time.Since(start).Round(time.Millisecond))
	sb, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return st, err
	}
	tmp := statePath + ".tmp"
	if err := os.WriteFile(tmp, append(sb, '\n'), 0o644); err != nil {
		return st, err
	}
	return st, os.Rename(tmp, statePath)
}

// demoTableSQL is the definition of a demo table: the history and the live
// feed that continues it.
func demoTableSQL(name string, st demoState) string {
	history := (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(st.History, name)) + "/"}).String()
	live := fmt.Sprintf("nexmark://%s?rate=%d&base=%s&seed=%d&partitions=%d", name, demoRate, st.Base.Format(time.RFC3339), demoSeed, demoPartitions)
	return fmt.Sprintf(`CREATE TABLE %s () WITH (history = '%s', live = '%s', event_time = 'date_time', watermark_delay = '2 seconds', idle_timeout = '10 seconds')`,
		name, sqlString(history), sqlString(live))
}

func sqlString(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// ensureDemoTables creates the demo tables a workspace lacks. A table the
// user defined is left alone, except the live-only demo tables of earlier
// versions (no history, the old nexmark feed), which are replaced.
func ensureDemoTables(ctx context.Context, eng *query.Engine, st demoState) error {
	for _, name := range []string{"bids", "auctions", "persons"} {
		if t, ok := eng.Catalog.Table(name); ok {
			if t.History != "" || t.Live != "nexmark://"+name+"?rate=10000" {
				continue
			}
			if err := eng.Execute(ctx, "DROP TABLE "+name, query.RunOptions{}, discardSink{}); err != nil {
				return err
			}
		}
		if err := eng.Execute(ctx, demoTableSQL(name, st), query.RunOptions{}, discardSink{}); err != nil {
			return err
		}
	}
	return nil
}
