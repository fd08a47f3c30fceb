package ui_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBrowser runs the browser end-to-end scenarios (e2e/run.mjs) in
// Debian's chromium against a real "weir serve" on loopback with a fresh
// workspace. It needs /usr/bin/chromium (or $CHROMIUM), node and
// ui/node_modules (npm ci); scripts/test.sh installs them. Without them it
// skips, except under CI=true, where it fails. WEIR_SCREENSHOTS=DIR saves
// the main views there (scripts/ui-screenshots.sh writes docs/screenshots).
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	chromium, node := prerequisites(t, true)

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "weir")
	build := exec.Command("go", "build", "-o", bin, "../cmd/weir")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build ../cmd/weir: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ws := &weirServe{bin: bin, workspace: filepath.Join(tmp, "ws"), logs: &lockedWriter{}}
	url, err := ws.start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ws.stop()
		if t.Failed() {
			t.Logf("weir serve's log:\n%s", ws.logs.String())
		}
	}()
	// The scenarios restart weir serve (same workspace, same address) by
	// POST control/restart, as an operator would, to see durable jobs
	// restored and the page rejoin them.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/restart" {
			http.NotFound(w, r)
			return
		}
		ws.stop()
		if _, err := ws.start(ctx, strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer control.Close()

	run := exec.CommandContext(ctx, node, "e2e/run.mjs", url)
	run.Env = append(os.Environ(), "CHROMIUM="+chromium, "WEIR_CONTROL="+control.URL)
	if dir := os.Getenv("WEIR_SCREENSHOTS"); dir != "" {
		abs, _ := filepath.Abs(dir)
		run.Env = append(run.Env, "WEIR_SCREENSHOTS="+abs)
	}
	out, err := run.CombinedOutput()
	t.Logf("e2e/run.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser scenarios failed: %v", err)
	}
}

// weirServe is a "weir serve" process that the test may restart.
type weirServe struct {
	bin       string
	workspace string
	logs      *lockedWriter

	mu  sync.Mutex
	cmd *exec.Cmd
}

// start runs weir serve on addr and waits until it is healthy; it returns
// the URL weir prints (with its address, when addr's port is 0).
func (w *weirServe) start(ctx context.Context, addr string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	serve := exec.CommandContext(ctx, w.bin, "serve", "--workspace", w.workspace, "--addr", addr, "--checkpoint-interval", "1s")
	serve.Cancel = func() error { return serve.Process.Signal(os.Interrupt) }
	serve.WaitDelay = 10 * time.Second
	stdout, err := serve.StdoutPipe()
	if err != nil {
		return "", err
	}
	serve.Stderr = w.logs
	if err := serve.Start(); err != nil {
		return "", err
	}
	w.cmd = serve
	// weir prints its address once it listens.
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`https?://\S+`)
		for sc.Scan() {
			if u := re.FindString(sc.Text()); u != "" {
				select {
				case urlc <- u:
				default:
				}
			}
		}
	}()
	var url string
	select {
	case url = <-urlc:
	case <-time.After(2 * time.Minute):
		return "", fmt.Errorf("weir serve printed no address within 2 minutes")
	}
	return url, healthy(strings.TrimSuffix(url, "/") + "/api/health")
}

// stop interrupts weir serve (a graceful shutdown) and waits for it.
func (w *weirServe) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Signal(os.Interrupt)
	_ = w.cmd.Wait()
	w.cmd = nil
}

// TestUnit runs the UI's unit tests (test/unit.test.ts: the changelog
// fold, markdown safety, statement counting, chart choice) under node.
func TestUnit(t *testing.T) {
	_, node := prerequisites(t, false)
	out, err := exec.Command(node, "test/run.mjs").CombinedOutput()
	if err != nil {
		t.Fatalf("node test/run.mjs: %v\n%s", err, out)
	}
}

// prerequisites finds node and ui/node_modules (and chromium when the test
// needs a browser). Without them the test skips, except under CI=true,
// where it fails: scripts/test.sh installs them.
func prerequisites(t *testing.T, browser bool) (chromium, node string) {
	t.Helper()
	need := func(ok bool, what string) {
		if ok {
			return
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (scripts/test.sh installs it)", what)
		}
		t.Skipf("skipping: %s (scripts/test.sh installs it)", what)
	}
	node, err := exec.LookPath("node")
	need(err == nil, "no node on PATH")
	_, err = os.Stat("node_modules/playwright-core/package.json")
	need(err == nil, "no ui/node_modules (cd ui && npm ci)")
	if browser {
		chromium = os.Getenv("CHROMIUM")
		if chromium == "" {
			chromium = "/usr/bin/chromium"
		}
		_, err = os.Stat(chromium)
		need(err == nil, "no chromium at "+chromium+" (apt-get install chromium)")
	}
	return chromium, node
}

// healthy polls /api/health until it answers 200 or a deadline passes.
func healthy(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within 30 s (last error: %v)", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockedWriter keeps a child process's log while the test may read it.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
