package query

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage"
)

// The S3 fault tests of issue 6 run durable jobs whose checkpoints (and,
// for an INSERT, whose table) are on a real MinIO that the test stops in
// the middle of a checkpoint's upload and starts again. They need a MinIO
// process of their own, so they start the binary scripts/minio.sh builds
// into its cache (not the shared server it exports): without it they
// skip, and fail under CI=true, like the S3 tests of storage/.

// minioServer is a MinIO process on a loopback port with a data directory
// that survive a stop: start it again and it serves the same objects.
type minioServer struct {
	t         *testing.T
	bin, data string
	addr      string
	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{} // closed when cmd has been reaped
}

// minioBinary finds the MinIO that scripts/minio.sh installs: the version
// pinned there, in its cache directory.
func minioBinary(t *testing.T) string {
	t.Helper()
	skip := func(why string) string {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("%s, and CI=true: the S3 fault tests must not be skipped in CI (./scripts/test.sh installs MinIO)", why)
		}
		t.Skipf("%s: skipping the S3 fault tests (./scripts/minio.sh true installs MinIO)", why)
		return ""
	}
	script, err := os.ReadFile("../scripts/minio.sh")
	if err != nil {
		return skip(err.Error())
	}
	m := regexp.MustCompile(`(?m)^MINIO_VERSION=(\S+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/minio.sh pins no MINIO_VERSION")
	}
	cache := os.Getenv("WEIR_CACHE_DIR")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return skip(err.Error())
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "weir")
	}
	bin := filepath.Join(cache, "minio-"+string(m[1]), "minio")
	if _, err := os.Stat(bin); err != nil {
		return skip(fmt.Sprintf("no MinIO at %s", bin))
	}
	return bin
}

// newMinIO starts a MinIO of the test's own; it is killed at the end.
func newMinIO(t *testing.T) *minioServer {
	t.Helper()
	bin := minioBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	m := &minioServer{t: t, bin: bin, data: t.TempDir(), addr: addr}
	m.start()
	t.Cleanup(m.stop)
	t.Setenv("AWS_ACCESS_KEY_ID", "weir-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "weir-test-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", m.endpoint())
	// Fail fast while the server is down: a checkpoint's upload gives up
	// after two attempts rather than five with backoff.
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	return m
}

func (m *minioServer) endpoint() string { return "http://" + m.addr }

// start runs the server and polls its readiness endpoint.
func (m *minioServer) start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.addr, filepath.Join(m.data, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=weir-test", "MINIO_ROOT_PASSWORD=weir-test-secret",
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=on")
	log, err := os.OpenFile(filepath.Join(m.data, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		m.t.Fatal(err)
	}
	defer func() { _ = log.Close() }()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start minio: %v", err)
	}
	exited := make(chan struct{})
	m.cmd, m.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			out, _ := os.ReadFile(filepath.Join(m.data, "log"))
			m.t.Fatalf("minio exited at start:\n%s", out)
		default:
		}
		resp, err := client.Get(m.endpoint() + "/minio/health/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // a poll interval
	}
	m.t.Fatalf("minio at %s not ready after 60 s", m.addr)
}

// stop kills the server, as a crash or a pulled cable would: requests in
// flight are cut off.
func (m *minioServer) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited // reaped: its port is free for a restart
	m.cmd = nil
}

// bucket creates a fresh bucket and returns a store over it.
func (m *minioServer) bucket(t *testing.T) (*storage.S3, string) {
	t.Helper()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "weir-fault-" + hex.EncodeToString(rnd[:])
	s, err := storage.NewS3(t.Context(), name, "", storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return s, name
}

// faultStore is a checkpoint store over S3 that stops the server once it
// is armed and a checkpoint has uploaded its first file: the rest of that
// checkpoint's upload (its other files, its metadata) meets a dead server.
// It records every name whose Put succeeded.
type faultStore struct {
	dataflow.CheckpointStore
	server *minioServer
	armed  atomic.Bool
	// failed is the checkpoint whose upload the server died in (0: none yet).
	failed atomic.Int64

	mu  sync.Mutex
	put map[string]bool
}

func (f *faultStore) Put(ctx context.Context, name string, data []byte) error {
	err := f.CheckpointStore.Put(ctx, name, data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.put[name] = true
	f.mu.Unlock()
	if id, ok := checkpointOf(name); ok && path.Base(name) != "_metadata" && f.armed.CompareAndSwap(true, false) {
		f.failed.Store(id)
		f.server.stop()
	}
	return nil
}

func (f *faultStore) stored(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.put[name]
}

// complete lists the checkpoints whose metadata was stored.
func (f *faultStore) complete() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int64
	for name := range f.put {
		if id, ok := checkpointOf(name); ok && path.Base(name) == "_metadata" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// checkpointOf is the checkpoint id of a name j/chk-<id>/….
func checkpointOf(name string) (int64, bool) {
	dir, _, ok := strings.Cut(strings.TrimPrefix(name, "j/chk-"), "/")
	if !ok || !strings.HasPrefix(name, "j/chk-") {
		return 0, false
	}
	id, err := strconv.ParseInt(dir, 10, 64)
	return id, err == nil
}

// syncLog is a log buffer safe for the job's goroutines.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newSteadyEngine registers a live table "steady": 2 splits of 3000
// batches of 4 rows, paced by pause (read at each batch), so that a test
// can keep the job running while the server is down and let it finish
// at full speed afterwards.
func newSteadyEngine(t *testing.T, log *syncLog, pause *atomic.Int64) *Engine {
	t.Helper()
	e := NewEngine(NewCatalog())
	e.Logger = slog.New(slog.NewTextHandler(log, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the engine's log:\n%s", log.String())
		}
	})
	schema, splits := durableSplits(3000, 5, 100*time.Millisecond, 100_000)
	e.Providers.Memory().Put("steady", &MemoryTable{Schema: schema, Splits: splits,
		Pause: func(int, int) time.Duration { return time.Duration(pause.Load()) }})
	run(t, e, `CREATE TABLE steady () WITH (live = 'mem://steady', event_time = 'ts')`, RunOptions{})
	return e
}

const steadySQL = `SELECT k, window_start, count(*) AS n, sum(v) AS s
FROM TUMBLE(steady, ts, INTERVAL '1' SECOND) GROUP BY k, window_start, window_end`

const steadyInsertSQL = `INSERT INTO out SELECT k, window_start, count(*), sum(v)
FROM TUMBLE(steady, ts, INTERVAL '1' SECOND) GROUP BY k, window_start, window_end`

// pollUntil polls cond until it holds or the deadline passes.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 90 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDurableS3ServerStops: a durable job checkpoints to MinIO, which is
// killed during a checkpoint's upload (after its first file). That
// checkpoint fails and is logged, the job goes on; it is never taken for
// complete (no metadata, LatestCheckpoint passes it over); once the server
// is back a later checkpoint completes, and the job's output equals a
// failure-free run's.
func TestDurableS3ServerStops(t *testing.T) {
	m := newMinIO(t)
	var log syncLog
	var pause atomic.Int64
	e := newSteadyEngine(t, &log, &pause)
	want := run(t, e, steadySQL, RunOptions{Mode: Live}).rows(t, 0)

	s3store, _ := m.bucket(t)
	store := &faultStore{CheckpointStore: storage.NewCheckpoints(s3store, ""), server: m, put: map[string]bool{}}
	pause.Store(int64(2 * time.Millisecond))
	var failed int64
	errc := make(chan error, 1)
	sink := newCollectSink()
	go func() {
		opts := RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: store, Interval: 50 * time.Millisecond}}
		errc <- e.Execute(t.Context(), steadySQL, opts, sink)
	}()
	pollUntil(t, "two checkpoints complete", func() bool { return len(store.complete()) >= 2 })
	store.armed.Store(true)
	pollUntil(t, "the server stopped during an upload", func() bool { return store.failed.Load() != 0 })
	failed = store.failed.Load()
	pause.Store(int64(20 * time.Millisecond)) // keep the job going while the server is down
	pollUntil(t, "the failed checkpoint logged", func() bool {
		return strings.Contains(log.String(), "checkpoint failed") && strings.Contains(log.String(), fmt.Sprintf("checkpoint %d:", failed))
	})
	m.start()
	// Half written: a file of the failed checkpoint is on the server, its
	// metadata is not, and the latest checkpoint is an older one.
	dir := fmt.Sprintf("j/chk-%020d/", failed)
	if names, err := store.List(t.Context(), dir); err != nil {
		t.Fatal(err)
	} else if slices.Contains(names, dir+"_metadata") || store.stored(dir+"_metadata") {
		t.Fatalf("checkpoint %d has metadata: %v", failed, names)
	} else {
		t.Logf("checkpoint %d failed half written: %v", failed, names)
	}
	chk, err := dataflow.LatestCheckpoint(t.Context(), store, "j", e.Logger)
	if err != nil {
		t.Fatal(err)
	}
	if chk.ID == failed {
		t.Fatalf("LatestCheckpoint returned the failed checkpoint %d", failed)
	}
	pollUntil(t, "a checkpoint after the failed one completes", func() bool {
		ids := store.complete()
		return ids[len(ids)-1] > failed
	})
	chk, err = dataflow.LatestCheckpoint(t.Context(), store, "j", e.Logger)
	if err != nil || chk.ID <= failed {
		t.Fatalf("latest checkpoint after the server came back: %v, %v", chk, err)
	}
	pause.Store(0)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := sink.rows(t, 0); !slices.Equal(got, want) {
		t.Errorf("the job's output differs from a failure-free run's:\n%s", rowsDiff(got, want))
	}
	t.Logf("checkpoints completed: %v; failed: %d", store.complete(), failed)
}

// TestDurableS3InsertServerStops: a durable INSERT into a table on MinIO,
// checkpointing there too, meets the server's death during a checkpoint's
// upload. The sink cannot stage its next files on a dead server, so the
// job fails, and restarts (restart.go) until the server is back; nothing
// of the failed checkpoint is published, the attempt that gets through
// resumes from the last complete checkpoint, and the table then equals a
// failure-free INSERT's, every row once.
func TestDurableS3InsertServerStops(t *testing.T) {
	m := newMinIO(t)
	var log syncLog
	var pause atomic.Int64
	e := newSteadyEngine(t, &log, &pause)
	want := run(t, e, steadySQL, RunOptions{Mode: Live}).rows(t, 0)

	s3store, bucket := m.bucket(t)
	run(t, e, `CREATE TABLE out (k bigint, ws timestamp, n bigint, s bigint) WITH (history = 's3://`+bucket+`/out/')`, RunOptions{})
	store := &faultStore{CheckpointStore: storage.NewCheckpoints(s3store, ""), server: m, put: map[string]bool{}}
	published := func() []string {
		infos, err := s3store.List(t.Context(), "out/")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, i := range infos {
			if strings.HasSuffix(i.Key, ".parquet") {
				if rel := strings.TrimPrefix(i.Key, "out/"); strings.Contains(rel, "/") || strings.HasPrefix(rel, "_") {
					t.Errorf("%s is visible: staged data named .parquet", i.Key)
				}
				out = append(out, i.Key)
			}
		}
		return out
	}
	restarts := make(chan Restart, 100)
	var resumed atomic.Int64
	opts := RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: store, Interval: 50 * time.Millisecond,
		Restarts:  RestartPolicy{MaxRestarts: 50, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
		Restarted: func(r Restart) { restarts <- r },
		Resumed:   func(_ string, id int64) { resumed.Store(id) },
	}}
	pause.Store(int64(2 * time.Millisecond))
	errc := make(chan error, 1)
	go func() { errc <- e.Execute(t.Context(), steadyInsertSQL, opts, newCollectSink()) }()
	pollUntil(t, "two checkpoints complete", func() bool { return len(store.complete()) >= 2 })
	store.armed.Store(true)
	pollUntil(t, "the server stopped during an upload", func() bool { return store.failed.Load() != 0 })
	failed := store.failed.Load()
	pause.Store(int64(20 * time.Millisecond))
	// Windows keep closing while the server is down: the sink's next
	// staging fails, and with it the job, which restarts.
	var first Restart
	pollUntil(t, "the job failed on the dead server", func() bool {
		select {
		case first = <-restarts:
			return true
		case err := <-errc:
			t.Fatalf("the INSERT ended while the server was down: %v", err)
		default:
		}
		return false
	})
	t.Logf("checkpoint %d failed, then the INSERT (attempt %d: %v); restarting", failed, first.Attempt, first.Err)
	m.start()
	before := published()
	if store.stored(fmt.Sprintf("j/chk-%020d/_metadata", failed)) {
		t.Fatalf("checkpoint %d has metadata", failed)
	}
	pause.Store(0)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if id := resumed.Load(); id == 0 || id >= failed {
		t.Errorf("the job resumed from checkpoint %d, want one before the failed %d", id, failed)
	}
	t.Logf("%d restarts; resumed from checkpoint %d", len(restarts)+1, resumed.Load())
	after := published()
	for _, k := range before {
		if !slices.Contains(after, k) {
			t.Errorf("%s was published while the server was down and is gone", k)
		}
	}
	if left, err := s3store.List(t.Context(), "out/_staging/"); err != nil || len(left) > 0 {
		t.Errorf("staging left after the job ended: %v, %v", left, err)
	}
	if got := run(t, e, `SELECT k, ws, n, s FROM out`, RunOptions{}).rows(t, 0); !slices.Equal(got, want) {
		t.Errorf("the table differs from a failure-free run's:\n%s", rowsDiff(got, want))
	}
}

// TestDurableS3TruncatedMetadata: the latest checkpoint's _metadata on S3
// cut short makes recovery fall back to the previous checkpoint, with a
// warning (TestDurableCorruptLatestFallsBack over the in-memory store, here
// over MinIO).
func TestDurableS3TruncatedMetadata(t *testing.T) {
	m := newMinIO(t)
	var log syncLog
	var pause atomic.Int64
	e := newSteadyEngine(t, &log, &pause)
	s := run(t, e, steadySQL, RunOptions{Mode: Live})
	full := durableResult{rows: s.order[0], rowsIn: s.last[0].RowsIn}
	s3store, _ := m.bucket(t)
	store := storage.NewCheckpoints(s3store, "")
	pause.Store(int64(2 * time.Millisecond))
	crashed, err := durableRun(t, e, store, steadySQL, false, func() bool { return len(completeCheckpoints(t, store)) >= 3 })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("crashed run: err = %v, want it cancelled (did it end before 3 checkpoints?)", err)
	}
	ids := completeCheckpoints(t, store)
	latest := ids[len(ids)-1] + "/_metadata"
	b, err := store.Get(t.Context(), latest)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(t.Context(), latest, b[:len(b)/2]); err != nil {
		t.Fatal(err)
	}
	pause.Store(0)
	r, err := durableRun(t, e, store, steadySQL, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := ids[len(ids)-2]; r.resumed == 0 || want != fmt.Sprintf("j/chk-%020d", r.resumed) {
		t.Fatalf("resumed from checkpoint %d, want the one before the truncated latest (%s)", r.resumed, want)
	}
	if want := fmt.Sprintf("falling back to the previous one\" job=j checkpoint=%d", r.resumed+1); !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	checkResumed(t, full, crashed.rows, r)
}
