package query

import (
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Mathematical functions. Integer arguments of the double precision
// functions convert implicitly (floor(5) is 5.0); abs and mod keep bigint.
// round rounds halves away from zero, as Postgres rounds a numeric (its
// float8 round goes to even; weir's NUMERIC is a float8 and round(2.5) = 3
// is what the SQL's reader expects).
// Errors are Postgres': "cannot take logarithm of zero", "cannot take
// square root of a negative number", "value out of range: overflow".

func init() {
	f1 := func(name string, fn func(float64) (float64, error)) {
		register(name, &overload{params: []kind{kFloat64}, ret: kFloat64, eval: floatFunc(fn), canFail: always})
	}
	f1p := func(name string, fn func(float64) float64) {
		register(name, &overload{params: []kind{kFloat64}, ret: kFloat64, eval: floatFunc(func(x float64) (float64, error) { return fn(x), nil })})
	}
	register("abs",
		&overload{params: []kind{kInt64}, ret: kInt64, eval: absInt64, canFail: always},
		&overload{params: []kind{kFloat64}, ret: kFloat64, eval: floatFunc(func(x float64) (float64, error) { return math.Abs(x), nil })},
		&overload{params: []kind{kInterval}, ret: kInterval, eval: absInt64, canFail: always},
	)
	f1p("round", roundHalfAway)
	register("round", &overload{params: []kind{kFloat64, kInt32}, ret: kFloat64, eval: roundDigitsKernel(false)})
	f1p("trunc", math.Trunc)
	register("trunc", &overload{params: []kind{kFloat64, kInt32}, ret: kFloat64, eval: roundDigitsKernel(true)})
	f1p("floor", math.Floor)
	f1p("ceil", math.Ceil)
	f1p("sign", func(x float64) float64 {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return x // 0, -0 or NaN
	})
	f1("sqrt", func(x float64) (float64, error) {
		if x < 0 {
			return 0, errNegativeSqrt
		}
		return math.Sqrt(x), nil
	})
	f1p("cbrt", math.Cbrt)
	f1("ln", logFunc(math.Log))
	f1("log", logFunc(math.Log10))
	f1("log10", logFunc(math.Log10))
	f1("exp", func(x float64) (float64, error) {
		r := math.Exp(x)
		switch {
		case math.IsInf(r, 0) && !math.IsInf(x, 0):
			return 0, errFloatOverflow
		case r == 0 && !math.IsInf(x, 0):
			return 0, errFloatUnder
		}
		return r, nil
	})
	f1p("degrees", func(x float64) float64 { return x * 180 / math.Pi })
	f1p("radians", func(x float64) float64 { return x * math.Pi / 180 })
	register("log", &overload{params: []kind{kFloat64, kFloat64}, ret: kFloat64, eval: logBaseKernel, canFail: always})
	register("power", &overload{params: []kind{kFloat64, kFloat64}, ret: kFloat64, eval: powerKernel, canFail: always})
	register("mod",
		&overload{params: []kind{kInt64, kInt64}, ret: kInt64, eval: int64Arith('%'), canFail: intArithFails('%'), pooled: true},
		&overload{params: []kind{kFloat64, kFloat64}, ret: kFloat64, eval: float64Arith('%'), canFail: always, pooled: true},
	)
	register("pi", &overload{params: nil, ret: kFloat64, eval: func(k *kctx) (arrow.Array, error) {
		return fixedOut(typFloat64, repeat(math.Pi, k.n), nil, 0), nil
	}})
	for _, k := range append([]kind{kInt16, kInt32}, comparableKinds...) {
		minMaxOverloads[[2]int{int(k), 0}] = &overload{params: []kind{k}, variadic: true, ret: k, lenient: true, eval: minMaxKernel(k, false)}
		minMaxOverloads[[2]int{int(k), 1}] = &overload{params: []kind{k}, variadic: true, ret: k, lenient: true, eval: minMaxKernel(k, true)}
	}
}

// floatFunc applies fn to every valid row.
func floatFunc(fn func(float64) (float64, error)) kernel {
	return func(k *kctx) (arrow.Array, error) {
		src := valuesOf[float64](k.args[0])
		out := make([]float64, k.n)
		for i, x := range src[:k.n] {
			if !k.isValid(i) {
				continue
			}
			r, err := fn(x)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return fixedOut(typFloat64, out, k.valid, k.nulls), nil
	}
}

func logFunc(f func(float64) float64) func(float64) (float64, error) {
	return func(x float64) (float64, error) {
		switch {
		case x == 0:
			return 0, errLogZero
		case x < 0:
			return 0, errLogNegative
		}
		return f(x), nil
	}
}

// logBaseKernel is log(b, x): the logarithm of x to base b.
func logBaseKernel(k *kctx) (arrow.Array, error) {
	bs, xs := valuesOf[float64](k.args[0]), valuesOf[float64](k.args[1])
	m0, m1 := k.m(0), k.m(1)
	out := make([]float64, k.n)
	for i := range out {
		if !k.isValid(i) {
			continue
		}
		b, x := bs[i&m0], xs[i&m1]
		switch {
		case b == 0 || x == 0:
			return nil, errLogZero
		case b < 0 || x < 0:
			return nil, errLogNegative
		case b == 1:
			return nil, errDivByZero
		}
		out[i] = math.Log(x) / math.Log(b)
	}
	return fixedOut(typFloat64, out, k.valid, k.nulls), nil
}

func absInt64(k *kctx) (arrow.Array, error) {
	src := valuesOf[int64](k.args[0])
	out := make([]int64, k.n)
	for i, x := range src[:k.n] {
		if x == math.MinInt64 && k.isValid(i) {
			return nil, rangeError(kindOf(k.args[0].DataType()))
		}
		if x < 0 {
			x = -x
		}
		out[i] = x
	}
	return fixedOut(k.args[0].DataType(), out, k.valid, k.nulls), nil
}

// roundDigitsKernel is round(x, d) (or trunc(x, d)) at d decimal digits
// (negative d rounds left of the point). It rounds the shortest decimal
// form of x, as Postgres rounds a numeric: round(2.675, 2) is 2.68 although
// the double nearest 2.675 is slightly below it.
func roundDigitsKernel(trunc bool) kernel {
	return func(k *kctx) (arrow.Array, error) {
		xs, ds := valuesOf[float64](k.args[0]), valuesOf[int32](k.args[1])
		m0, m1 := k.m(0), k.m(1)
		out := make([]float64, k.n)
		for i := range out {
			if k.isValid(i) {
				out[i] = roundDecimal(xs[i&m0], int(ds[i&m1]), trunc)
			}
		}
		return fixedOut(typFloat64, out, k.valid, k.nulls), nil
	}
}

func roundDecimal(x float64, d int, trunc bool) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x == 0 {
		return x
	}
	d = max(min(d, 400), -400)
	// Shortest decimal digits of x and its exponent: x = 0.digits × 10^exp.
	s := strconv.FormatFloat(math.Abs(x), 'e', -1, 64)
	mant, expStr, _ := cut(s, 'e')
	exp, _ := strconv.Atoi(expStr)
	digits := make([]byte, 0, len(mant))
	for i := 0; i < len(mant); i++ {
		if mant[i] != '.' {
			digits = append(digits, mant[i])
		}
	}
	point := exp + 1 // digits before the decimal point
	keep := point + d
	if keep >= len(digits) {
		return x
	}
	up := false
	if keep < 0 {
		digits = digits[:0]
	} else {
		up = !trunc && digits[keep] >= '5'
		digits = digits[:keep]
	}
	// Add one unit in the last kept place, carrying.
	if up {
		i := len(digits) - 1
		for ; i >= 0; i-- {
			if digits[i] == '9' {
				digits[i] = '0'
				continue
			}
			digits[i]++
			break
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
			point++
		}
	}
	if len(digits) == 0 {
		return math.Copysign(0, x)
	}
	v, err := strconv.ParseFloat(string(digits)+"e"+strconv.Itoa(point-len(digits)), 64)
	if err != nil {
		return x
	}
	return math.Copysign(v, x)
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// minMaxOverloads are GREATEST and LEAST per kind ([kind, least]); they
// ignore NULLs and are NULL only when every argument is.
var minMaxOverloads = map[[2]int]*overload{}

func minMaxOverload(k kind, least bool) *overload {
	l := 0
	if least {
		l = 1
	}
	return minMaxOverloads[[2]int{int(k), l}]
}

func minMaxKernel(k kind, least bool) kernel {
	op := opGT
	if least {
		op = opLT
	}
	return func(c *kctx) (arrow.Array, error) {
		n := c.n
		cur := c.args[0]
		curIsConst := cur.Len() != n
		for _, next := range c.args[1:] {
			better := compareBytes(op, k, next, cur, n)
			cv, _ := validCopy(cur, n)
			nv, _ := validCopy(next, n)
			which := make([]int16, n)
			at := make([]int32, n)
			mc, mn := bmask(cur, n), bmask(next, n)
			for i := range which {
				curOK := cv == nil || bitutil.BitIsSet(cv, i)
				nextOK := nv == nil || bitutil.BitIsSet(nv, i)
				switch {
				case nextOK && (!curOK || better[i] == 1):
					which[i], at[i] = 1, int32(i&mn)
				case curOK:
					which[i], at[i] = 0, int32(i&mc)
				default:
					which[i] = -1
				}
			}
			var err error
			if cur, err = assemble(k.typ(), n, []arrow.Array{cur, next}, which, at); err != nil {
				return nil, err
			}
			curIsConst = false
		}
		if curIsConst {
			return broadcast(cur, n)
		}
		return cur, nil
	}
}
