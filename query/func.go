package query

import (
	"slices"
	"strings"
)

// The scalar function registry: operators (registered under their symbol,
// "+", "=", "||") and functions, each with overloads by argument types.
//
// Overload resolution follows Postgres in small: an exact match wins; when
// the typed arguments share one type, untyped ones ('2026-01-01' in ts >
// '2026-01-01', NULL in NULL + 1) are first assumed to have it; otherwise
// the candidate needing the cheapest implicit conversions wins (widening a
// number by one step costs 1, an untyped literal 1 to text and 2 to other
// types, a NULL 1, an "any" parameter 3), ties going to the overload
// registered first. Postgres reports ties as "not unique"; weir registers
// overloads in its preference order instead.

// overload is one signature of a function or operator and its kernel.
type overload struct {
	params []kind
	// variadic: the last parameter repeats (one or more times).
	variadic bool
	// ret is the result kind; retOf, when set, computes it from the
	// argument kinds after coercion.
	ret   kind
	retOf func(args []kind) kind
	// lenient functions see NULL arguments (COALESCE-like, IS DISTINCT
	// FROM, concat); the others are strict: NULL in any argument is NULL.
	lenient bool
	// canFail reports whether the call may fail at run time (nil: never).
	// AND, OR, CASE and COALESCE evaluate an argument that may fail only on
	// the rows that reach it.
	canFail func(args []Expr) bool
	eval    kernel
	// pooled kernels take their value buffer from the scratch pool and
	// never return an argument as their result (see scratchInt64).
	pooled bool
	// prep, when set, builds the kernel at bind time from the arguments
	// (constant arguments are *Literal), e.g. to parse date_trunc's unit once.
	prep func(args []Expr) (kernel, error)
}

func always([]Expr) bool { return true }

// registry maps a lower-case function name or operator symbol to its
// overloads in preference order.
var registry = map[string][]*overload{}

func register(name string, ovs ...*overload) {
	registry[name] = append(registry[name], ovs...)
}

// aliases are other names of registered functions.
var aliases = map[string]string{
	"ceiling":          "ceil",
	"pow":              "power",
	"char_length":      "length",
	"character_length": "length",
	"substring":        "substr",
	"position":         "strpos",
	"extract":          "date_part",
}

// aggregates are the aggregate functions the planner implements; BindExpr
// hands them to Scope.Aggregate.
var aggregates = map[string]bool{
	"count": true, "sum": true, "min": true, "max": true, "avg": true,
	"approx_percentile": true, "percentile_approx": true, "approx_count_distinct": true,
}

// otherAggregates are Postgres aggregates weir does not have (yet): calling
// one is an ErrUnsupported error rather than "function does not exist".
var otherAggregates = map[string]bool{
	"stddev": true, "stddev_pop": true, "stddev_samp": true, "variance": true, "var_pop": true,
	"var_samp": true, "string_agg": true, "array_agg": true, "bool_and": true, "bool_or": true,
	"every": true, "json_agg": true, "jsonb_agg": true, "percentile_cont": true,
	"percentile_disc": true, "mode": true, "bit_and": true, "bit_or": true, "corr": true,
	"covar_pop": true, "covar_samp": true, "regr_slope": true, "xmlagg": true,
}

// IsAggregate reports whether name (lower case) is an aggregate function
// that BindExpr passes to Scope.Aggregate.
func IsAggregate(name string) bool { return aggregates[strings.ToLower(name)] }

// volatile are functions whose result depends on when or how often a query
// runs. weir refuses them: a backfill and a live run of one query must give
// identical results, and a re-run after a failure must too.
var volatile = map[string]string{
	"now":                   "now()",
	"random":                "random()",
	"setseed":               "setseed()",
	"clock_timestamp":       "clock_timestamp()",
	"statement_timestamp":   "statement_timestamp()",
	"transaction_timestamp": "transaction_timestamp()",
	"timeofday":             "timeofday()",
	"gen_random_uuid":       "gen_random_uuid()",
	"current_timestamp":     "current_timestamp",
	"current_date":          "current_date",
	"localtimestamp":        "localtimestamp",
	"nextval":               "nextval()",
}

// match is a resolved call: the overload and the kind each argument must be
// coerced to.
type match struct {
	ov   *overload
	want []kind
}

// resolve picks the overload of name for arguments of the given kinds.
func resolve(name string, args []kind) (match, bool) {
	cands := registry[name]
	// Exact match.
	for _, ov := range cands {
		if want, c := fits(ov, args); c == 0 {
			return match{ov, want}, true
		}
	}
	// Untyped arguments assumed to be of the known arguments' common type.
	if t, ok := uniformKnown(args); ok {
		assumed := make([]kind, len(args))
		for i, a := range args {
			assumed[i] = a
			if a == kUnknown || a == kNull {
				assumed[i] = t
			}
		}
		var typed []*overload // "any" parameters take untyped arguments as text
		for _, ov := range cands {
			if !slices.Contains(ov.params, kAny) {
				typed = append(typed, ov)
			}
		}
		if m, ok := cheapest(typed, assumed); ok {
			return m, true
		}
	}
	return cheapest(cands, args)
}

// cheapest is the candidate needing the cheapest implicit conversions.
func cheapest(cands []*overload, args []kind) (match, bool) {
	best, bestCost := match{}, -1
	for _, ov := range cands {
		want, c := fits(ov, args)
		if c >= 0 && (bestCost < 0 || c < bestCost) {
			best, bestCost = match{ov, want}, c
		}
	}
	return best, bestCost >= 0
}

// uniformKnown is the kind shared by every typed argument, if there is one
// and at least one argument is untyped.
func uniformKnown(args []kind) (kind, bool) {
	t, untyped := kNull, false
	for _, a := range args {
		switch {
		case a == kUnknown || a == kNull:
			untyped = true
		case t == kNull:
			t = a
		case t != a:
			return kNull, false
		}
	}
	return t, untyped && t != kNull
}

// fits matches args against ov's parameters (the last one repeated when
// variadic): want[i] is the kind argument i is coerced to (for an "any"
// parameter its own kind, text for an untyped one) and cost the sum of the
// implicit conversion costs, -1 when ov does not apply.
func fits(ov *overload, args []kind) (want []kind, cost int) {
	p := ov.params
	if len(args) != len(p) && (!ov.variadic || len(args) < len(p)) {
		return nil, -1
	}
	want = make([]kind, len(args))
	for i, a := range args {
		if a == kOther {
			return nil, -1
		}
		w := p[min(i, len(p)-1)]
		if w == kAny {
			w = a
			if w == kUnknown || w == kNull {
				w = kText
			}
			cost += implicitCost(a, kAny)
			want[i] = w
			continue
		}
		c := implicitCost(a, w)
		if c < 0 {
			return nil, -1
		}
		cost += c
		want[i] = w
	}
	return want, cost
}

// signature renders name(types) or "type op type" for messages.
func signature(name string, names []string, operator bool) string {
	if operator {
		if len(names) == 1 {
			return name + " " + names[0]
		}
		return names[0] + " " + name + " " + names[1]
	}
	return name + "(" + strings.Join(names, ", ") + ")"
}
