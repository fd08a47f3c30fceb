package ui_test

import (
	"bufio"
	"context"
	"net/http"
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
	serve := exec.CommandContext(ctx, bin, "serve", "--workspace", filepath.Join(tmp, "ws"), "--addr", "127.0.0.1:0", "--checkpoint-interval", "1s")
	serve.Cancel = func() error { return serve.Process.Signal(os.Interrupt) }
	serve.WaitDelay = 10 * time.Second
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedWriter{}
	serve.Stderr = logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("weir serve's log:\n%s", logs.String())
		}
	}()

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
		t.Fatal("weir serve printed no address within 2 minutes")
	}
	waitHealthy(t, strings.TrimSuffix(url, "/")+"/api/health")

	run := exec.CommandContext(ctx, node, "e2e/run.mjs", url)
	run.Env = append(os.Environ(), "CHROMIUM="+chromium)
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

// waitHealthy polls /api/health until it answers 200 or a deadline passes.
func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30 s (last error: %v)", url, err)
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
