package dataflow_test

// Scripts for the graph description (Graph.String, what EXPLAIN shows):
// testdata/graph. Regenerate with `go test ./dataflow -run TestGraphScripts
// -args -rewrite`.
//
//	graph parallelism=2 [max-parallelism=128]
//	src = source [p=N]
//	f = filter src              filter, map: chained to their input when possible
//	w = window f:hash(k) p=3    a tumbling window aggregate behind a hash exchange
//	o = sink w p=1              sink, op: a one-input operator of parallelism p
//	l = sink src.late           the late side output of a source
//	u = union a b:rebalance     union: several inputs
//
// An input is "node", "node.late", with ":hash(cols…)", ":rebalance" or
// ":broadcast" to ask for that exchange. The output is Graph.String(), then
// "error: …" when the graph does not validate.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/cockroachdb/datadriven"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
)

func TestGraphScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/graph", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "graph" {
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			p := 1
			d.MaybeScanArgs(t, "parallelism", &p)
			g := dataflow.NewGraph(p)
			d.MaybeScanArgs(t, "max-parallelism", &g.MaxParallelism)
			if err := ddBuildGraph(g, d.Input); err != nil {
				d.Fatalf(t, "%v", err)
			}
			out := g.String()
			if err := g.Validate(); err != nil {
				out += "error: " + err.Error() + "\n"
			}
			return out
		})
	})
}

func ddBuildGraph(g *dataflow.Graph, input string) error {
	streams := map[string]dataflow.Stream{}
	for _, line := range strings.Split(input, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, rest, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("%q: want <name> = <kind> <inputs…> [p=N]", line)
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if len(f) == 0 {
			return fmt.Errorf("%q: kind missing", line)
		}
		kind, p := f[0], 0
		var ins []ddGraphInput
		for _, a := range f[1:] {
			if v, ok := strings.CutPrefix(a, "p="); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("%q: %w", line, err)
				}
				p = n
				continue
			}
			in, err := ddParseGraphInput(streams, a)
			if err != nil {
				return fmt.Errorf("%q: %w", line, err)
			}
			ins = append(ins, in)
		}
		if kind == "source" {
			if len(ins) > 0 {
				return fmt.Errorf("%q: a source has no inputs", line)
			}
			streams[name] = g.Source(name, dataflow.SourceSpec{Source: &bounded.Memory{Sch: ddSchema(nil)}, EventTime: "ts", Parallelism: p})
			continue
		}
		if len(ins) == 0 {
			return fmt.Errorf("%q: no input", line)
		}
		if kind == "union" {
			var inputs []dataflow.Input
			for _, in := range ins {
				inputs = append(inputs, in.input())
			}
			streams[name] = g.Union(name, p, inputs...)
			continue
		}
		if len(ins) != 1 {
			return fmt.Errorf("%q: %s takes one input", line, kind)
		}
		in := ins[0]
		newOp := func() dataflow.Operator { return &ddSinkOp{sink: &ddSink{}} }
		switch kind {
		case "filter", "map":
			if in.keyed != nil || p != 0 {
				return fmt.Errorf("%q: %s keeps its input's parallelism and partitioning", line, kind)
			}
			if kind == "filter" {
				streams[name] = in.s.Filter(name, func(_ arrow.RecordBatch, sel []int32) ([]int32, error) { return sel, nil })
			} else {
				streams[name] = in.s.Map(name, func(r arrow.RecordBatch) (arrow.RecordBatch, error) { return r, nil })
			}
		case "window":
			if in.keyed == nil {
				return fmt.Errorf("%q: a window aggregate needs a keyed input (:hash(…))", line)
			}
			streams[name] = in.keyed.WindowAggregate(name, p, dataflow.WindowAggSpec{
				Keys: in.keyed.Columns(), TimeColumn: "ts", Window: dataflow.Tumble(10 * time.Second),
				Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}},
			})
		case "op", "sink":
			if in.keyed != nil {
				streams[name] = in.keyed.Apply(name, p, newOp)
			} else if kind == "sink" {
				in.s.Sink(name, p, func(context.Context, int, dataflow.Batch) error { return nil })
			} else {
				streams[name] = in.s.Apply(name, p, newOp)
			}
		default:
			return fmt.Errorf("%q: unknown kind %q (source, filter, map, window, op, sink, union)", line, kind)
		}
	}
	return nil
}

// ddGraphInput is a stream, possibly keyed, feeding a node.
type ddGraphInput struct {
	s     dataflow.Stream
	keyed *ddKeyed
}

type ddKeyed struct {
	dataflow.KeyedStream
	cols []string
}

func (k *ddKeyed) Columns() []string { return k.cols }

func (in ddGraphInput) input() dataflow.Input {
	if in.keyed != nil {
		return in.keyed.KeyedStream
	}
	return in.s
}

// ddParseGraphInput reads "node[.late][:hash(a,b)|:rebalance|:broadcast]".
func ddParseGraphInput(streams map[string]dataflow.Stream, ref string) (ddGraphInput, error) {
	ref, how, _ := strings.Cut(ref, ":")
	node, port, _ := strings.Cut(ref, ".")
	s, ok := streams[node]
	if !ok {
		return ddGraphInput{}, fmt.Errorf("no node %q (yet)", node)
	}
	switch port {
	case "":
	case "late":
		s = s.Late()
	default:
		return ddGraphInput{}, fmt.Errorf("unknown port %q", port)
	}
	switch {
	case how == "":
	case how == "rebalance":
		s = s.Rebalance()
	case how == "broadcast":
		s = s.Broadcast()
	case strings.HasPrefix(how, "hash(") && strings.HasSuffix(how, ")"):
		cols := strings.Split(how[len("hash("):len(how)-1], ",")
		return ddGraphInput{s: s, keyed: &ddKeyed{KeyedStream: s.KeyBy(cols...), cols: cols}}, nil
	default:
		return ddGraphInput{}, fmt.Errorf("unknown exchange %q (hash(cols), rebalance, broadcast)", how)
	}
	return ddGraphInput{s: s}, nil
}
