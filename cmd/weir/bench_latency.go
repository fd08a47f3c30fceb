package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/server"
)

// latencyOptions configure "weir bench latency".
type latencyOptions struct {
	Rate        int64         // Nexmark events per second (all kinds)
	Partitions  int           // generator partitions (splits)
	Window      time.Duration // tumbling window size
	Duration    time.Duration // how long to measure, after the warm-up
	Warmup      time.Duration // windows that end before this are not counted
	Viewers     int           // idle viewers to attach, for memory per viewer
	Parallelism int
}

// latencyResult is what "weir bench latency" measured.
type latencyResult struct {
	Samples        []time.Duration // per window: arrival − window end, sorted
	Rows           int64
	ViewerHeap     int64 // heap growth per idle viewer, bytes (0 without viewers)
	ViewerRoutines int   // goroutines per idle viewer
}

func (r latencyResult) quantile(q float64) time.Duration {
	if len(r.Samples) == 0 {
		return 0
	}
	return r.Samples[min(len(r.Samples)-1, int(q*float64(len(r.Samples))))]
}

// runBenchLatency is "weir bench latency": the time from an event entering a
// live source to its window's row arriving at a websocket client, beyond
// the watermark delay.
//
// A paced Nexmark feed releases each event when the wall clock reaches its
// event time, so the last event of a window [s, e) enters the source before
// wall time e. The feed also bounds the time of its next event
// (dataflow.TimeBounded), so its watermark passes e as soon as the batch
// before e is out, without waiting for the table's watermark delay (1 s
// here): the delay bounds lateness, and a source that knows its next event
// time never needs it. The latency of a window is therefore the wall time
// its row arrives at a websocket client on loopback minus e. It includes the
// source's batching (a batch is released when its last event is due; 10 ms
// of events per batch), the pipeline, the server's send queue and the
// websocket. Server and client run in this process.
func runBenchLatency(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench latency", "weir bench latency [--rate N] [--window D] [--duration D] [--viewers N]", stderr)
	o := latencyOptions{}
	fs.Int64Var(&o.Rate, "rate", 100_000, "Nexmark events per second of live input (`N`)")
	fs.IntVar(&o.Partitions, "partitions", 4, "generator partitions `P`")
	fs.DurationVar(&o.Window, "window", 100*time.Millisecond, "tumbling window size `D`")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to measure (`D`)")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "time not measured at the start (`D`)")
	fs.IntVar(&o.Viewers, "viewers", 0, "idle viewers to attach to the live job, to measure memory per viewer (`N`)")
	fs.IntVar(&o.Parallelism, "parallelism", 2, "parallelism `P` of the query")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case o.Rate <= 0, o.Partitions <= 0, o.Window <= 0, o.Duration <= 0, o.Viewers < 0:
		return usagef(fs, "--rate, --partitions, --window and --duration must be positive")
	case o.Warmup < 0:
		return usagef(fs, "--warmup must not be negative")
	}
	res, err := benchLatency(ctx, o)
	if err != nil {
		return err
	}
	if len(res.Samples) == 0 {
		return errors.New("bench latency: no window arrived")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "latency: %d events/s live (Nexmark, %d partitions), %s tumbling windows, parallelism %d, %s measured\n",
		o.Rate, o.Partitions, o.Window, o.Parallelism, o.Duration)
	fmt.Fprintf(&b, "windows: %d   rows: %d\n", len(res.Samples), res.Rows)
	fmt.Fprintf(&b, "latency after the window's end: p50 %s   p99 %s   max %s\n",
		res.quantile(0.50).Round(10*time.Microsecond), res.quantile(0.99).Round(10*time.Microsecond),
		res.Samples[len(res.Samples)-1].Round(10*time.Microsecond))
	if o.Viewers > 0 {
		fmt.Fprintf(&b, "idle viewers: %d   heap per viewer: %.1f KiB   goroutines per viewer: %d\n",
			o.Viewers, float64(res.ViewerHeap)/1024, res.ViewerRoutines)
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

func benchLatency(ctx context.Context, o latencyOptions) (res latencyResult, err error) {
	ws, err := os.MkdirTemp("", "weir-bench-latency-")
	if err != nil {
		return res, err
	}
	defer func() { _ = os.RemoveAll(ws) }()
	eng, err := openEngine(ctx, ws)
	if err != nil {
		return res, err
	}
	ddl := fmt.Sprintf(`CREATE TABLE lat () WITH (live = 'nexmark://bids?rate=%d&partitions=%d', event_time = 'date_time', watermark_delay = '1 second')`,
		o.Rate, o.Partitions)
	if err := eng.Execute(ctx, ddl, query.RunOptions{}, discardSink{}); err != nil {
		return res, err
	}
	srv, err := server.New(eng, server.Options{Addr: "127.0.0.1:0", Parallelism: o.Parallelism,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return res, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if serr := <-served; serr != nil && err == nil {
			err = fmt.Errorf("bench latency: server: %w", serr)
		}
	}()

	url := "ws://" + ln.Addr().String() + "/ws"
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		return res, err
	}
	defer func() { _ = conn.Close() }()
	sql := fmt.Sprintf(`SELECT window_end, count(*) AS bids FROM TUMBLE(lat, date_time, INTERVAL '%d microseconds') GROUP BY window_start, window_end`,
		o.Window.Microseconds())
	if err := conn.WriteJSON(map[string]string{"type": "run", "id": "lat", "sql": sql, "mode": "live"}); err != nil {
		return res, err
	}

	start := time.Now()
	measureFrom := start.Add(o.Warmup)
	end := measureFrom.Add(o.Duration)
	type viewerResult struct {
		heapPer     int64
		routinesPer int
		err         error
	}
	viewersStarted, viewers, viewersStop := false, make(chan viewerResult, 1), make(chan struct{})
	for time.Now().Before(end) {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := conn.ReadMessage()
		arrived := time.Now()
		if err != nil {
			return res, fmt.Errorf("bench latency: reading results: %w", err)
		}
		var m struct {
			Type    string   `json:"type"`
			Message string   `json:"message"`
			Ops     []string `json:"ops"`
			Rows    [][]any  `json:"rows"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return res, fmt.Errorf("bench latency: %w", err)
		}
		switch m.Type {
		case "error":
			return res, fmt.Errorf("bench latency: query failed: %s", m.Message)
		case "rows":
		default:
			continue
		}
		for i, row := range m.Rows {
			if i < len(m.Ops) && m.Ops[i] != "+" {
				continue
			}
			res.Rows++
			s, _ := row[0].(string)
			we, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return res, fmt.Errorf("bench latency: window_end %v: %w", row[0], err)
			}
			if we.Before(measureFrom) {
				continue
			}
			res.Samples = append(res.Samples, arrived.Sub(we))
		}
		if !viewersStarted && o.Viewers > 0 {
			// Viewers join once the job runs and stay until the end, so the
			// latency measured includes their fan-out.
			viewersStarted = true
			go func() {
				var v viewerResult
				v.heapPer, v.routinesPer, v.err = attachViewers(ctx, url, sql, o.Viewers, viewersStop)
				viewers <- v
			}()
		}
	}
	close(viewersStop)
	if viewersStarted {
		v := <-viewers
		if v.err != nil {
			return res, v.err
		}
		res.ViewerHeap, res.ViewerRoutines = v.heapPer, v.routinesPer
	}
	slices.Sort(res.Samples)
	return res, nil
}

// attachViewers opens n websocket viewers of the same live query, lets them
// settle, measures the heap and goroutine growth per viewer, and keeps them
// open until stop is closed. The viewers read (and drop) what they receive,
// as an idle browser tab does. The figures include the in-process client's
// side of each connection: its buffers (about 8 KiB) and reading goroutine.
func attachViewers(ctx context.Context, url, sql string, n int, stop <-chan struct{}) (heapPer int64, routinesPer int, err error) {
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	h0, g0 := heap(), runtime.NumGoroutine()
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range n {
		c, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
		if err != nil {
			return 0, 0, fmt.Errorf("viewer %d: %w", i, err)
		}
		conns = append(conns, c)
		if err := c.WriteJSON(map[string]string{"type": "run", "id": "v", "sql": sql, "mode": "live"}); err != nil {
			return 0, 0, err
		}
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	select {
	case <-time.After(2 * time.Second):
	case <-stop:
	}
	h1, g1 := heap(), runtime.NumGoroutine()
	<-stop
	return (h1 - h0) / int64(n), (g1 - g0) / n, nil
}
