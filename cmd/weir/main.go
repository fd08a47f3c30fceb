// Command weir is the single weir binary: the notebook server, a SQL client, a
// data generator and the benchmark harness, each behind a subcommand.
//
// main stays thin: it parses the subcommand and its flags, wires the pieces
// together and owns the shutdown order. Each subcommand lives in a file of its
// own (serve.go, query.go, gen.go, bench.go) as a function with the shape of
// [command.run].
//
// Exit status: 0 on success (and for -h), 1 when a command fails, 2 for a usage
// error or a subcommand that is not built yet, 130 when interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
)

// Shutdown order. SIGINT or SIGTERM cancels ctx — unless the running
// subcommand has taken the first signal (onInterrupt: weir query --job
// stops its job with a savepoint, and cancels ctx itself if it cannot); the
// subcommand sees it, stops taking new work (listeners, sources), cancels
// its jobs, waits for their goroutines, flushes its output (sinks, stdout)
// and returns. Only then does main exit, so nothing is cut off mid-write.
// After the first signal the default signal behaviour is restored: a
// second Ctrl-C kills the process at once, for a shutdown that hangs.
func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	in := listenInterrupts(cancel)
	code := run(withInterrupts(ctx, in), os.Args[1:], os.Stdout, os.Stderr)
	in.stop()
	os.Exit(code)
}

// interrupts routes the first SIGINT or SIGTERM: to the handler a
// subcommand installed with onInterrupt, else to the cancellation of the
// command's context.
type interrupts struct {
	sigs   chan os.Signal
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	handler func(cancel func())
}

// listenInterrupts starts routing SIGINT and SIGTERM; cancel cancels the
// command's context.
func listenInterrupts(cancel context.CancelCauseFunc) *interrupts {
	in := &interrupts{sigs: make(chan os.Signal, 1), cancel: cancel}
	signal.Notify(in.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-in.sigs; ok {
			signal.Reset(os.Interrupt, syscall.SIGTERM) // a second signal kills at once
			in.fire()
		}
	}()
	return in
}

// stop stops routing signals.
func (in *interrupts) stop() {
	signal.Stop(in.sigs)
	close(in.sigs)
}

// fire handles the first signal: the handler runs (in its own goroutine)
// with the cancellation it replaces, or ctx is cancelled.
func (in *interrupts) fire() {
	in.mu.Lock()
	h := in.handler
	in.mu.Unlock()
	cancel := func() { in.cancel(context.Canceled) }
	if h == nil {
		cancel()
		return
	}
	go h(cancel)
}

type interruptsKey struct{}

func withInterrupts(ctx context.Context, in *interrupts) context.Context {
	return context.WithValue(ctx, interruptsKey{}, in)
}

// onInterrupt makes h the response to the first interrupt instead of the
// cancellation of ctx; h receives that cancellation, to call when it
// cannot do better. remove uninstalls h. Without signal routing in ctx (a
// test calling run), it does nothing.
func onInterrupt(ctx context.Context, h func(cancel func())) (remove func()) {
	in, _ := ctx.Value(interruptsKey{}).(*interrupts)
	if in == nil {
		return func() {}
	}
	in.mu.Lock()
	in.handler = h
	in.mu.Unlock()
	return func() {
		in.mu.Lock()
		in.handler = nil
		in.mu.Unlock()
	}
}

// command is one subcommand. run receives the arguments after the subcommand's
// name and returns nil, an error wrapping errUsage or errNotBuilt, flag.ErrHelp,
// or any other error, which run reports as a failure.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands in the order usage shows them.
var commands = []command{
	{"serve", "run the notebook server", runServe},
	{"query", "run SQL from the command line (backfill or live)", runQuery},
	{"gen", "generate a history as Parquet (nexmark)", runGen},
	{"bench", "run a benchmark (nexmark)", runBench},
	{"version", "print the version", runVersion},
}

var (
	// errUsage marks a usage error whose message has already been printed
	// together with the usage text; run exits with status 2 and prints nothing
	// more.
	errUsage = errors.New("usage error")
	// errNotBuilt marks a subcommand that a later issue will build.
	errNotBuilt = errors.New("not built yet")
)

// run dispatches args (without the program name) to a subcommand and returns
// the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(rest) > 0 {
			// "weir help serve" is "weir serve -h".
			return run(ctx, []string{rest[0], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	cmd, ok := lookup(name)
	if !ok {
		_, _ = fmt.Fprintf(stderr, "weir: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, rest, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errNotBuilt):
		_, _ = fmt.Fprintln(stderr, err)
		return 2
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		_, _ = fmt.Fprintf(stderr, "weir %s: interrupted\n", cmd.name)
		return 130
	default:
		_, _ = fmt.Fprintln(stderr, err)
		return 1
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("weir is a batch-and-stream analytics notebook backend.\n\n")
	b.WriteString("Usage:\n\n\tweir <command> [flags] [arguments]\n\nCommands:\n\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "\t%-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'weir <command> -h' for a command's flags.\n")
	_, _ = io.WriteString(w, b.String())
}

// newFlagSet returns a FlagSet for "weir <name>" that reports errors instead of
// exiting and prints synopsis followed by the flag defaults as its usage.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("weir "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "Usage:\n\n\t%s\n\nFlags:\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. It returns flag.ErrHelp for -h and errUsage
// for a bad flag (the flag package has printed the message and the usage).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		return flag.ErrHelp
	default:
		return errUsage
	}
}

// parseNamed parses "NAME [flags]" as well as "[flags] NAME", as in
// "weir gen nexmark --events N": the flag package alone stops at the first
// non-flag argument. It returns NAME and rejects any further argument.
func parseNamed(fs *flag.FlagSet, args []string) (string, error) {
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	extra := fs.Args()
	if name == "" && len(extra) > 0 {
		name, extra = extra[0], extra[1:]
	}
	if len(extra) > 0 {
		return "", usagef(fs, "unexpected argument %q", extra[0])
	}
	return name, nil
}

// usagef prints "weir <cmd>: message" and the usage of fs, and returns errUsage.
func usagef(fs *flag.FlagSet, format string, args ...any) error {
	_, _ = fmt.Fprintf(fs.Output(), "%s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errUsage
}

// version is set at link time: go build -ldflags "-X main.version=v0.1.0".
var version = ""

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "weir version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	v := version
	if v == "" {
		v = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	_, err := fmt.Fprintf(stdout, "weir %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
