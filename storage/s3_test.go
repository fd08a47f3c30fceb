package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/storage/storagetest"
)

// s3Endpoint returns the S3 server the tests run against. Without one they
// fail under CI=true, so that CI can never pass by skipping them, and skip
// otherwise.
func s3Endpoint(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv("WEIR_TEST_S3_ENDPOINT"); ep != "" {
		return ep
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal("WEIR_TEST_S3_ENDPOINT is not set, and CI=true: the S3 tests must not be skipped in CI. " +
			"./scripts/test.sh starts a MinIO and sets it.")
	}
	t.Skip("WEIR_TEST_S3_ENDPOINT is not set: skipping the S3 tests against MinIO. " +
		"Run ./scripts/test.sh, or ./scripts/minio.sh go test ./storage/, to run them.")
	return ""
}

// testS3 returns an S3 store on the test server with a fresh bucket of its
// own, which is emptied and removed at the end.
func testS3(t testing.TB, opts storage.S3Options) *storage.S3 {
	t.Helper()
	opts.Endpoint = s3Endpoint(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	bucket := "weir-test-" + hex.EncodeToString(rnd[:])
	ctx := context.Background()
	s, err := storage.NewS3(ctx, bucket, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("creating bucket %s at %s: %v", bucket, opts.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		infos, err := s.List(ctx, "")
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, info := range infos {
			_ = s.Delete(ctx, info.Key)
		}
		if _, err := s.Client().DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
			t.Errorf("cleanup: deleting bucket %s: %v", bucket, err)
		}
	})
	return s
}

func TestS3Conformance(t *testing.T) {
	root := testS3(t, storage.S3Options{})
	var n atomic.Int64
	storagetest.Run(t, func(t *testing.T) storage.Store {
		// One bucket, a prefix per subtest: this also runs every case
		// through the store's key prefix.
		s, err := storage.NewS3(t.Context(), root.Bucket(), fmt.Sprintf("t%d/", n.Add(1)), storage.S3Options{Endpoint: s3Endpoint(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { assertNoUploads(t, s) })
		return s
	})
}

func TestS3CachedConformance(t *testing.T) {
	root := testS3(t, storage.S3Options{})
	var n atomic.Int64
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := storage.NewS3(t.Context(), root.Bucket(), fmt.Sprintf("t%d/", n.Add(1)), storage.S3Options{Endpoint: s3Endpoint(t)})
		if err != nil {
			t.Fatal(err)
		}
		c := storage.NewCache(64 << 20)
		t.Cleanup(c.Close)
		return storage.Cached(s, c)
	})
}

// assertNoUploads checks that no multipart upload was left behind under
// the store's prefix: aborted and lost writes must clean up.
func assertNoUploads(t *testing.T, s *storage.S3) {
	t.Helper()
	prefix := strings.TrimPrefix(s.String(), "s3://"+s.Bucket()+"/")
	out, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(s.Bucket()),
		Prefix: aws.String(prefix),
	})
	if err != nil {
		t.Errorf("listing multipart uploads: %v", err)
		return
	}
	for _, u := range out.Uploads {
		t.Errorf("multipart upload of %s left behind", aws.ToString(u.Key))
	}
}

func TestS3Metrics(t *testing.T) {
	s := testS3(t, storage.S3Options{})
	ctx := t.Context()
	data := bytes.Repeat([]byte("m"), 9<<20) // two parts
	if err := storage.Put(ctx, s, "m", data, storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.ReadAll(ctx, s, "m"); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Stat(ctx, "missing")
	m := s.Metrics().Snapshot()
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"requests[create]", m.Requests["create"], 1},
		{"requests[commit]", m.Requests["commit"], 1},
		{"requests[stat]", m.Requests["stat"], 2},
		{"requests[read]", m.Requests["read"], 1},
		{"errors[stat] (ErrNotExist is no error)", m.Errors["stat"], 0},
		{"bytes written", m.BytesWritten, int64(len(data))},
		{"bytes read", m.BytesRead, int64(len(data))},
		{"calls[CreateMultipartUpload]", m.Calls["CreateMultipartUpload"], 1},
		{"calls[UploadPart]", m.Calls["UploadPart"], 2},
		{"calls[CompleteMultipartUpload]", m.Calls["CompleteMultipartUpload"], 1},
		{"calls[HeadObject]", m.Calls["HeadObject"], 2},
		{"calls[GetObject]", m.Calls["GetObject"], 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestS3Environment opens an s3:// URL with the endpoint taken from the
// standard AWS_ENDPOINT_URL, as a user would, and checks that path-style
// addressing follows (127.0.0.1 has no bucket subdomains).
func TestS3Environment(t *testing.T) {
	s := testS3(t, storage.S3Options{})
	t.Setenv("AWS_ENDPOINT_URL", s3Endpoint(t))
	ctx := t.Context()
	if err := storage.Put(ctx, s, "env/part-0.parquet", []byte("PAR1"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, prefix, pattern, err := storage.OpenGlob(ctx, "s3://"+s.Bucket()+"/env/*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if prefix != "env/" || pattern != "env/*.parquet" || st.String() != "s3://"+s.Bucket()+"/" {
		t.Errorf("OpenGlob = %s, %q, %q", st, prefix, pattern)
	}
	infos, err := storage.Glob(ctx, st, pattern)
	if err != nil || len(infos) != 1 || infos[0].Key != "env/part-0.parquet" {
		t.Fatalf("Glob = %+v, %v", infos, err)
	}
}

func TestS3Errors(t *testing.T) {
	s := testS3(t, storage.S3Options{})
	ctx := t.Context()
	endpoint := s3Endpoint(t)

	// Wrong credentials: a permission error that says what to check.
	bad, err := storage.NewS3(ctx, s.Bucket(), "", storage.S3Options{
		Endpoint:    endpoint,
		Credentials: credentials.NewStaticCredentialsProvider("nobody", "wrong-secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Stat(ctx, "k")
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "credentials") || !strings.Contains(err.Error(), "s3://"+s.Bucket()+"/k") {
		t.Errorf("Stat with wrong credentials: %v; want fs.ErrPermission naming the object and the credentials", err)
	}
	_, err = bad.List(ctx, "")
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("List with wrong credentials: %v; want fs.ErrPermission", err)
	}

	// A missing bucket is named, and is not ErrNotExist (which would read
	// as "no such file" to a caller).
	missing, err := storage.NewS3(ctx, s.Bucket()+"-missing", "", storage.S3Options{Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	_, err = missing.ReadAt(ctx, "k", make([]byte, 10), 0)
	if err == nil || !strings.Contains(err.Error(), "bucket") || !strings.Contains(err.Error(), s.Bucket()+"-missing") {
		t.Errorf("ReadAt from a missing bucket: %v; want an error naming the bucket", err)
	}
	err = storage.Put(ctx, missing, "k", []byte("x"), storage.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Put to a missing bucket: %v", err)
	}
}

// faultOptions make a store give up fast on a dead or silent server.
func faultOptions(endpoint string) storage.S3Options {
	return storage.S3Options{
		Endpoint:    endpoint,
		Credentials: credentials.NewStaticCredentialsProvider("weir", "weir-secret", ""),
		MaxAttempts: 3,
		MaxBackoff:  50 * time.Millisecond,
		Timeout:     500 * time.Millisecond,
	}
}

// checkFault checks that an operation on a broken server failed, clearly
// and in bounded time.
func checkFault(t *testing.T, what string, start time.Time, err error, wantInMsg ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded against a broken server", what)
		return
	}
	t.Logf("%s: %v", what, err)
	for _, w := range wantInMsg {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", what, err, w)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("%s took %v to fail", what, d)
	}
}

// TestS3ClosedPort runs against a port nobody listens on: every operation
// fails after its retries, naming the object. It needs no MinIO.
func TestS3ClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx := t.Context()
	s, err := storage.NewS3(ctx, "lake", "tables/", faultOptions("http://"+addr))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Stat(ctx, "bids/p0.parquet")
	checkFault(t, "Stat", start, err, "s3://lake/tables/bids/p0.parquet", "connection refused")
	start = time.Now()
	_, err = s.ReadAt(ctx, "bids/p0.parquet", make([]byte, 100), 0)
	checkFault(t, "ReadAt", start, err, "s3://lake/tables/bids/p0.parquet", "connection refused")
	start = time.Now()
	_, err = s.List(ctx, "bids/")
	checkFault(t, "List", start, err, "s3://lake/tables/bids/", "connection refused")
	start = time.Now()
	err = storage.Put(ctx, s, "bids/p1.parquet", []byte("x"), storage.CreateOptions{})
	checkFault(t, "Put", start, err, "s3://lake/tables/bids/p1.parquet", "connection refused")
	if got := s.Metrics().Snapshot().Calls["HeadObject"]; got != 3 {
		t.Errorf("HeadObject attempts = %d, want 3 (MaxAttempts)", got)
	}
}

// silentServer accepts connections and never answers. With drain it reads
// and discards what the client sends; without, it reads nothing, so an
// upload fills the socket buffers and blocks.
func silentServer(t *testing.T, drain bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if drain {
				go func() { _, _ = io.Copy(io.Discard, c) }()
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// TestS3SilentServer runs against a server that accepts and never answers:
// timeouts, not hangs. It needs no MinIO.
func TestS3SilentServer(t *testing.T) {
	ctx := t.Context()
	s, err := storage.NewS3(ctx, "lake", "", faultOptions(silentServer(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.ReadAt(ctx, "p0.parquet", make([]byte, 100), 0)
	checkFault(t, "ReadAt", start, err, "s3://lake/p0.parquet", "timeout")
	start = time.Now()
	err = storage.Put(ctx, s, "p1.parquet", []byte("x"), storage.CreateOptions{})
	checkFault(t, "Put", start, err, "s3://lake/p1.parquet", "timeout")

	// A server that stops taking the body of an upload: the stall guard
	// gives up on the attempt (the transport alone would wait forever).
	opts := faultOptions(silentServer(t, false))
	opts.PartSize = 64 << 20 // one PutObject of the whole body
	s, err = storage.NewS3(ctx, "lake", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	err = storage.Put(ctx, s, "big.parquet", make([]byte, 48<<20), storage.CreateOptions{})
	checkFault(t, "Put of a body the server does not read", start, err, "s3://lake/big.parquet")
	var se *storage.StallError
	if !errors.As(err, &se) && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("error %v is neither a stall nor a timeout", err)
	}
}

// proxy forwards TCP connections to a backend and can break them: close
// them all after a number of response bytes, or freeze them (stop
// forwarding but keep them open).
type proxy struct {
	ln      net.Listener
	backend string

	mu     sync.Mutex
	conns  []net.Conn
	budget int64 // response bytes to forward before the fault; <0: no fault
	mode   string
	frozen chan struct{}
	faults int // how many times the fault fired
	once   bool
}

func newProxy(t *testing.T, backend string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: strings.TrimPrefix(backend, "http://"), budget: -1, frozen: make(chan struct{})}
	go p.serve()
	t.Cleanup(p.shutdown)
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

// breakAfter arms a fault after n more response bytes: "close" closes every
// connection (and, unless once, the listener); "freeze" stops forwarding.
func (p *proxy) breakAfter(n int64, mode string, once bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget, p.mode, p.once = n, mode, once
}

func (p *proxy) shutdown() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	select {
	case <-p.frozen:
	default:
		close(p.frozen)
	}
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(b, c) }()
		go p.forward(c, b)
	}
}

// forward copies the backend's response to the client, spending the budget.
func (p *proxy) forward(c, b net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := b.Read(buf)
		if n > 0 {
			p.mu.Lock()
			send, fault := n, false
			if p.budget >= 0 {
				if int64(n) >= p.budget {
					send, fault = int(p.budget), true
				}
				p.budget -= int64(send)
			}
			mode, once := p.mode, p.once
			if fault {
				p.faults++
				p.budget = -1
				if mode == "freeze" && !once {
					p.budget = 0 // freeze every later response too
				}
			}
			p.mu.Unlock()
			if _, werr := c.Write(buf[:send]); werr != nil {
				return
			}
			if fault {
				switch mode {
				case "close":
					p.mu.Lock()
					if !once {
						_ = p.ln.Close()
					}
					for _, cc := range p.conns {
						_ = cc.Close()
					}
					p.conns = nil
					p.mu.Unlock()
					return
				case "freeze":
					<-p.frozen
					return
				}
			}
		}
		if err != nil {
			_ = c.Close()
			return
		}
	}
}

// TestS3Faults breaks the connection to a real MinIO in the middle of a
// read. The read must fail with an error naming the object, in bounded
// time, or, when the break is a one-off, resume and return the right bytes.
func TestS3Faults(t *testing.T) {
	direct := testS3(t, storage.S3Options{})
	ctx := t.Context()
	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)
	if err := storage.Put(ctx, direct, "fault/obj", data, storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	through := func(t *testing.T) (*proxy, *storage.S3) {
		p := newProxy(t, s3Endpoint(t))
		opts := faultOptions(p.url())
		opts.Credentials = nil // the environment's, as for direct
		s, err := storage.NewS3(ctx, direct.Bucket(), "", opts)
		if err != nil {
			t.Fatal(err)
		}
		return p, s
	}

	t.Run("server goes away mid-read", func(t *testing.T) {
		p, s := through(t)
		p.breakAfter(1<<20, "close", false)
		buf := make([]byte, len(data))
		start := time.Now()
		n, err := s.ReadAt(ctx, "fault/obj", buf, 0)
		checkFault(t, "ReadAt", start, err, s.String()+"fault/obj", "bytes [0, 4194304): got ", " bytes, then: ")
		if n >= len(data) || !bytes.Equal(buf[:n], data[:n]) {
			t.Errorf("ReadAt returned %d bytes (of %d), or wrong ones", n, len(data))
		}
	})

	t.Run("server stalls mid-read", func(t *testing.T) {
		p, s := through(t)
		p.breakAfter(1<<20, "freeze", false) // and every response after
		buf := make([]byte, len(data))
		start := time.Now()
		n, err := s.ReadAt(ctx, "fault/obj", buf, 0)
		checkFault(t, "ReadAt", start, err, s.String()+"fault/obj", " bytes, then: ")
		if te, ok := errors.AsType[interface {
			error
			Timeout() bool
		}](err); !ok || !te.Timeout() {
			t.Errorf("ReadAt from a stalled server: %v is not a timeout", err)
		}
		if n >= len(data) || !bytes.Equal(buf[:n], data[:n]) {
			t.Errorf("ReadAt returned %d bytes (of %d), or wrong ones", n, len(data))
		}
	})

	t.Run("connection stalls once, read resumes", func(t *testing.T) {
		p, s := through(t)
		p.breakAfter(2<<20, "freeze", true)
		buf := make([]byte, len(data))
		n, err := s.ReadAt(ctx, "fault/obj", buf, 0)
		if err != nil || n != len(data) || !bytes.Equal(buf, data) {
			t.Fatalf("ReadAt = %d, %v; want all %d bytes after a resume", n, err, len(data))
		}
	})

	t.Run("connection breaks once, read resumes", func(t *testing.T) {
		p, s := through(t)
		p.breakAfter(1<<20+12345, "close", true)
		buf := make([]byte, len(data))
		n, err := s.ReadAt(ctx, "fault/obj", buf, 0)
		if err != nil || n != len(data) || !bytes.Equal(buf, data) {
			t.Fatalf("ReadAt = %d, %v; want all %d bytes after a resume", n, err, len(data))
		}
		if p.faults != 1 {
			t.Errorf("the proxy broke %d times, want 1", p.faults)
		}
		if got := s.Metrics().Snapshot().Calls["GetObject"]; got != 2 {
			t.Errorf("GetObject calls = %d, want 2 (the first and the resume)", got)
		}
	})
}
