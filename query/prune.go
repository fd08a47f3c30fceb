package query

import (
	"fmt"
	"sort"
)

// pruneColumns narrows every scan to the columns the plan above it uses
// (projection pushdown): a Parquet source then decodes only those columns,
// and other sources drop the rest right after reading. Operators that do
// not drop columns keep their outputs; only scans, filters and windowing
// functions change width, and the expressions above them are remapped.
func pruneColumns(p Plan) (Plan, error) {
	all := make([]int, p.Schema().NumFields())
	for i := range all {
		all[i] = i
	}
	out, _, err := prune(p, all)
	return out, err
}

// prune returns p narrowed to (at least) the output columns required, and
// the mapping from p's output columns to the new plan's (−1: dropped).
func prune(p Plan, required []int) (Plan, []int, error) {
	switch p := p.(type) {
	case *scanPlan:
		need := map[int]bool{}
		for _, c := range required {
			need[c] = true
		}
		if p.timeCol >= 0 {
			need[p.timeCol] = true
		}
		cols := sortedSet(need)
		if len(cols) == p.schema.NumFields() && p.cols == nil {
			return p, identityMap(len(cols)), nil
		}
		n := &scanPlan{table: p.table, schema: p.schema, cols: cols, timeCol: -1, loc: p.loc}
		mapping := make([]int, p.schema.NumFields())
		for i := range mapping {
			mapping[i] = -1
		}
		for i, c := range cols {
			mapping[c] = i
			if c == p.timeCol {
				n.timeCol = i
			}
		}
		return n, mapping, nil
	case *filterPlan:
		need := append(append([]int(nil), required...), Columns(p.cond)...)
		in, m, err := prune(p.input, need)
		if err != nil {
			return nil, nil, err
		}
		cond, err := Remap(p.cond, m)
		if err != nil {
			return nil, nil, err
		}
		return &filterPlan{input: in, cond: cond}, m, nil
	case *projectPlan:
		var need []int
		for _, e := range p.exprs {
			need = append(need, Columns(e)...)
		}
		in, m, err := prune(p.input, need)
		if err != nil {
			return nil, nil, err
		}
		exprs := make([]Expr, len(p.exprs))
		for i, e := range p.exprs {
			if exprs[i], err = Remap(e, m); err != nil {
				return nil, nil, err
			}
		}
		return &projectPlan{input: in, exprs: exprs, out: p.out}, identityMap(len(exprs)), nil
	case *windowPlan:
		n := p.input.Schema().NumFields()
		var need []int
		for _, c := range required {
			if c < n {
				need = append(need, c)
			}
		}
		need = append(need, p.spec.timeCol)
		in, m, err := prune(p.input, need)
		if err != nil {
			return nil, nil, err
		}
		spec := p.spec
		spec.timeCol = m[p.spec.timeCol]
		w := newWindowPlan(in, spec)
		width := in.Schema().NumFields()
		mapping := append(append([]int(nil), m...), width, width+1)
		return w, mapping, nil
	case *aggregatePlan:
		in, err := pruneAll(p.input)
		if err != nil {
			return nil, nil, err
		}
		np := *p
		np.input = in
		return &np, identityMap(p.out.NumFields()), nil
	case *sortPlan:
		in, err := pruneAll(p.input)
		if err != nil {
			return nil, nil, err
		}
		np := *p
		np.input = in
		return &np, identityMap(p.Schema().NumFields()), nil
	case *unionPlan:
		np := &unionPlan{}
		for _, in := range p.inputs {
			pi, err := pruneAll(in)
			if err != nil {
				return nil, nil, err
			}
			np.inputs = append(np.inputs, pi)
		}
		return np, identityMap(p.Schema().NumFields()), nil
	case *joinPlan:
		l, err := pruneAll(p.left)
		if err != nil {
			return nil, nil, err
		}
		r, err := pruneAll(p.right)
		if err != nil {
			return nil, nil, err
		}
		np := *p
		np.left, np.right = l, r
		return &np, identityMap(p.out.NumFields()), nil
	case *valuesPlan:
		return p, nil, nil
	case rebuilder:
		ins := make([]Plan, len(p.Inputs()))
		for i, in := range p.Inputs() {
			pi, err := pruneAll(in)
			if err != nil {
				return nil, nil, err
			}
			ins[i] = pi
		}
		return p.withInputs(ins), identityMap(p.Schema().NumFields()), nil
	}
	return nil, nil, fmt.Errorf("internal: cannot prune %T", p)
}

// rebuilder is a plan node that keeps every input column (prune keeps its
// inputs whole) and can be rebuilt over pruned inputs.
type rebuilder interface {
	Plan
	withInputs(ins []Plan) Plan
}

// pruneAll prunes below p, keeping all of p's outputs at their positions.
func pruneAll(p Plan) (Plan, error) {
	all := identityMap(p.Schema().NumFields())
	out, m, err := prune(p, all)
	if err != nil {
		return nil, err
	}
	for i, j := range m {
		if j != i {
			// The plan got narrower; keep the positions above it.
			return nil, fmt.Errorf("internal: pruning %T moved column %d to %d", p, i, j)
		}
	}
	return out, nil
}

func identityMap(n int) []int {
	m := make([]int, n)
	for i := range m {
		m[i] = i
	}
	return m
}

func sortedSet(s map[int]bool) []int {
	out := make([]int, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}
