package dataflow

import (
	"fmt"
	"strings"
)

// Partitioning is how an edge routes batches from the subtasks of its
// upstream node to those of its downstream node.
type Partitioning uint8

const (
	// Forward sends subtask i's output to subtask i (equal parallelism).
	// Forward edges are chained: both operators run in one goroutine.
	Forward Partitioning = iota
	// Hash sends each row to the subtask owning its key group.
	Hash
	// Broadcast sends every batch to every subtask.
	Broadcast
	// Rebalance sends whole batches round-robin.
	Rebalance
)

func (p Partitioning) String() string {
	return [...]string{"forward", "hash", "broadcast", "rebalance"}[p]
}

// Graph is the logical dataflow of a job: nodes (sources and operators, each
// with a parallelism) joined by edges. Build it with Source, Stream.Apply,
// KeyedStream.Apply and Connect; run it with NewJob.
type Graph struct {
	// MaxParallelism is the number of key groups (default 128). It bounds
	// every node's parallelism and is fixed for the life of a job's state.
	MaxParallelism int
	// Parallelism is the default parallelism of nodes that do not set one.
	Parallelism int

	nodes []*Node
}

// NewGraph returns an empty graph with default parallelism p.
func NewGraph(p int) *Graph {
	if p < 1 {
		p = 1
	}
	return &Graph{MaxParallelism: DefaultMaxParallelism, Parallelism: p}
}

// Node is a source or an operator of the graph.
type Node struct {
	ID          int
	Name        string
	Parallelism int

	newOp  func() Operator // nil for sources
	source *SourceSpec

	inputs  []*Edge
	outputs map[string][]*Edge // by port; "" is the main output
}

// IsSource reports whether the node is a source.
func (n *Node) IsSource() bool { return n.source != nil }

// Edge joins an output port of one node to an input of another.
type Edge struct {
	From  *Node
	Port  string
	To    *Node
	Input int
	Part  Partitioning
	Keys  *KeySelector // for Hash
}

// Stream is an output port of a node, to be consumed by other nodes.
type Stream struct {
	g    *Graph
	node *Node
	port string
	part Partitioning // requested partitioning; Forward means "forward if possible"
}

// KeyedStream is a stream partitioned by key: each row goes to the subtask
// owning its key group.
type KeyedStream struct {
	Stream
	keys *KeySelector
}

// LatePort is the side output of a source that receives late records.
const LatePort = "late"

func (g *Graph) add(name string, p int) *Node {
	if p <= 0 {
		p = g.Parallelism
	}
	n := &Node{ID: len(g.nodes), Name: name, Parallelism: p, outputs: map[string][]*Edge{}}
	g.nodes = append(g.nodes, n)
	return n
}

// Source adds a source node. Its parallelism is spec.Parallelism (or the
// graph default); splits are assigned to subtasks round-robin.
func (g *Graph) Source(name string, spec SourceSpec) Stream {
	n := g.add(name, spec.Parallelism)
	s := spec
	n.source = &s
	return Stream{g: g, node: n}
}

// Node returns the node that produces the stream.
func (s Stream) Node() *Node { return s.node }

// Late returns the late side output of a source stream: records that were
// late, too far in the future or had no event time, in split order.
func (s Stream) Late() Stream { return Stream{g: s.g, node: s.node, port: LatePort} }

// Rebalance asks for round-robin distribution to the next operator.
func (s Stream) Rebalance() Stream { s.part = Rebalance; return s }

// Broadcast asks for every batch to reach every subtask of the next operator.
func (s Stream) Broadcast() Stream { s.part = Broadcast; return s }

// KeyBy partitions the stream by the named columns.
func (s Stream) KeyBy(cols ...string) KeyedStream {
	return KeyedStream{Stream: s, keys: Keys(cols...)}
}

// Apply adds an operator reading this stream. newOp is called once per
// subtask; p <= 0 means the graph's default parallelism.
func (s Stream) Apply(name string, p int, newOp func() Operator) Stream {
	return s.g.Connect(name, p, newOp, s)
}

// Apply adds an operator reading this keyed stream through a hash exchange.
func (k KeyedStream) Apply(name string, p int, newOp func() Operator) Stream {
	return k.g.Connect(name, p, newOp, k)
}

// Input is a Stream or a KeyedStream feeding an operator.
type Input interface{ edgeSpec() (Stream, *KeySelector) }

func (s Stream) edgeSpec() (Stream, *KeySelector)      { return s, nil }
func (k KeyedStream) edgeSpec() (Stream, *KeySelector) { return k.Stream, k.keys }

// Connect adds an operator with several inputs (a join, a union); input i of
// the operator is inputs[i].
func (g *Graph) Connect(name string, p int, newOp func() Operator, inputs ...Input) Stream {
	n := g.add(name, p)
	n.newOp = newOp
	for i, in := range inputs {
		s, keys := in.edgeSpec()
		if s.g != g {
			panic("dataflow: stream from another graph")
		}
		e := &Edge{From: s.node, Port: s.port, To: n, Input: i, Part: s.part, Keys: keys}
		switch {
		case keys != nil:
			e.Part = Hash
		case e.Part == Forward && s.node.Parallelism != n.Parallelism:
			e.Part = Rebalance
		}
		n.inputs = append(n.inputs, e)
		s.node.outputs[s.port] = append(s.node.outputs[s.port], e)
	}
	return Stream{g: g, node: n}
}

// Nodes returns the nodes in the order they were added (a topological order).
func (g *Graph) Nodes() []*Node { return g.nodes }

// Validate checks the graph before it runs.
func (g *Graph) Validate() error {
	if g.MaxParallelism < 1 {
		return fmt.Errorf("dataflow: max parallelism %d < 1", g.MaxParallelism)
	}
	if len(g.nodes) == 0 {
		return fmt.Errorf("dataflow: empty graph")
	}
	for _, n := range g.nodes {
		if n.Parallelism > g.MaxParallelism {
			return fmt.Errorf("dataflow: node %q: parallelism %d exceeds max parallelism %d", n.Name, n.Parallelism, g.MaxParallelism)
		}
		if n.source == nil && len(n.inputs) == 0 {
			return fmt.Errorf("dataflow: operator %q has no input", n.Name)
		}
		if n.source != nil && n.source.Source == nil {
			return fmt.Errorf("dataflow: source %q has no Source", n.Name)
		}
	}
	return nil
}

// chainedTo returns the node that n's main output is chained into, or nil.
// An edge is chained when it is the only consumer of n's main output, is
// forward between equal parallelisms, and is its consumer's only input.
func (n *Node) chainedTo() *Node {
	outs := n.outputs[""]
	if len(outs) != 1 {
		return nil
	}
	e := outs[0]
	if e.Part != Forward || e.From.Parallelism != e.To.Parallelism || len(e.To.inputs) != 1 {
		return nil
	}
	return e.To
}

// chainHead reports whether n starts a chain (it is not chained into from upstream).
func (n *Node) chainHead() bool {
	if len(n.inputs) != 1 {
		return true
	}
	return n.inputs[0].From.chainedTo() != n
}

// String draws the graph: one line per chain (operators joined by "->",
// which run in one goroutine), then its exchanges. It is what EXPLAIN shows.
func (g *Graph) String() string {
	var b strings.Builder
	for _, n := range g.nodes {
		if !n.chainHead() {
			continue
		}
		fmt.Fprintf(&b, "[%d] ", n.Parallelism)
		for m := n; m != nil; m = m.chainedTo() {
			if m != n {
				b.WriteString(" -> ")
			}
			b.WriteString(m.Name)
			if m.source != nil {
				b.WriteString(" (source)")
			}
		}
		b.WriteString("\n")
		for m := n; m != nil; m = m.chainedTo() {
			for _, port := range sortedPorts(m.outputs) {
				for _, e := range m.outputs[port] {
					if m.chainedTo() == e.To && port == "" {
						continue
					}
					from := m.Name
					if port != "" {
						from += "." + port
					}
					how := e.Part.String()
					if e.Part == Hash {
						how += "(" + strings.Join(e.Keys.Columns, ", ") + ")"
					}
					fmt.Fprintf(&b, "    %s =%s=> %s[input %d]\n", from, how, e.To.Name, e.Input)
				}
			}
		}
	}
	return b.String()
}

func sortedPorts(m map[string][]*Edge) []string {
	ports := make([]string, 0, len(m))
	for p := range m {
		ports = append(ports, p)
	}
	for i := 1; i < len(ports); i++ {
		for j := i; j > 0 && ports[j] < ports[j-1]; j-- {
			ports[j], ports[j-1] = ports[j-1], ports[j]
		}
	}
	return ports
}
