package query

import (
	"sort"
	"testing"
)

// TestRegistryNulls calls every overload of every function and operator
// with NULL arguments (and with constant arguments alone): strict ones must
// return NULL for every row, lenient ones must not fail.
func TestRegistryNulls(t *testing.T) {
	rec := parseTable(t, "x bigint\n1\n2\n3")
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	count := 0
	for _, name := range names {
		for _, ov := range registry[name] {
			nargs := len(ov.params)
			if ov.variadic {
				nargs++
			}
			args := make([]Expr, nargs)
			for i := range args {
				k := ov.params[min(i, len(ov.params)-1)]
				if k == kAny {
					k = kText
				}
				args[i] = nullLiteral(k.typ())
			}
			run := ov.eval
			if ov.prep != nil {
				var err error
				if run, err = ov.prep(args); err != nil {
					t.Errorf("%s: prep: %v", name, err)
					continue
				}
			}
			ret := ov.ret
			if ov.retOf != nil {
				ret = ov.retOf(ov.params)
			}
			c := &call{name: name, args: args, ov: ov, run: run, typ: ret.typ()}
			out, err := c.Eval(rec)
			count++
			if err != nil {
				t.Errorf("%s%v with NULLs: %v", name, ov.params, err)
				continue
			}
			if out.Len() != 3 {
				t.Errorf("%s%v: %d rows", name, ov.params, out.Len())
			}
			if !ov.lenient && nargs > 0 && out.NullN() != 3 {
				t.Errorf("%s%v with NULLs = %s, want NULLs", name, ov.params, render(out))
			}
		}
	}
	if count < 150 {
		t.Errorf("only %d overloads registered", count)
	}
}

// TestFunctionTable evaluates one constant call per function with its
// Postgres result (the scripts in testdata/expr cover columns, NULLs and
// errors).
func TestFunctionTable(t *testing.T) {
	rec := parseTable(t, "x bigint\n1")
	cases := map[string]string{
		"abs(-3)": "3", "abs(-2.5)": "2.5", "round(2.5)": "3", "round(-1.45, 1)": "-1.5", "trunc(-2.7)": "-2",
		"floor(-2.5)": "-3", "ceil(-2.5)": "-2", "ceiling(2.1)": "3", "sign(-0.5)": "-1", "sqrt(2)": "1.4142135623730951",
		"cbrt(-8)": "-2", "ln(1)": "0", "log(1000)": "3", "log(4, 64)": "3", "log10(0.01)": "-2", "exp(0)": "1",
		"power(2, 0.5)": "1.4142135623730951", "pow(-2, 3)": "-8", "mod(-7, 3)": "-1", "mod(7, -3)": "1",
		"pi()": "3.141592653589793", "degrees(1)": "57.29577951308232", "radians(90)": "1.5707963267948966",
		"lower('ÀB')": "'àb'", "upper('àb')": "'ÀB'", "length('日本')": "2", "octet_length('日本')": "6",
		"substr('hello', 2, 3)": "'ell'", "concat('a', NULL, 1)": "'a1'", "concat_ws('/', 'a', NULL, 'b')": "'a/b'",
		"btrim('  a  ')": "'a'", "ltrim('xxa', 'x')": "'a'", "rtrim('axx', 'x')": "'a'", "replace('aaa', 'a', 'bb')": "'bbbbbb'",
		"strpos('hello', 'll')": "3", "split_part('a.b.c', '.', 3)": "'c'", "left('hello', 2)": "'he'",
		"right('hello', 2)": "'lo'", "starts_with('hello', 'he')": "true", "lpad('7', 3, '0')": "'007'",
		"rpad('7', 3, '0')": "'700'", "reverse('abc')": "'cba'", "md5('abc')": "'900150983cd24fb0d6963f7d28e17f72'",
		"repeat('-', 3)": "'---'", "initcap('hi there')": "'Hi There'", "ascii('A')": "65", "chr(97)": "'a'",
		"translate('abc', 'ab', 'x')": "'xc'", "'a' || 'b'": "'ab'", "'a' || 1": "'a1'",
		"date_trunc('month', TIMESTAMP '2026-05-17 10:00')": "2026-05-01 00:00:00",
		"date_part('dow', DATE '2026-05-17')":               "0", "extract(isodow FROM DATE '2026-05-17')": "7",
		"to_timestamp(86400)": "1970-01-02 00:00:00",
		"date_bin(INTERVAL '10 minutes', TIMESTAMP '2026-01-01 10:17', TIMESTAMP '2026-01-01')": "2026-01-01 10:10:00",
		"make_date(2026, 5, 17)": "2026-05-17", "make_timestamp(2026, 5, 17, 1, 2, 3)": "2026-05-17 01:02:03",
		"make_interval(weeks => 1, secs => 0.5)":          "7 days 00:00:00.5",
		"TIMESTAMP '2026-01-31' + INTERVAL '1 day'":       "2026-02-01 00:00:00",
		"TIMESTAMP '2026-03-01' - TIMESTAMP '2026-02-01'": "28 days", "DATE '2026-03-01' - 1": "2026-02-28",
		"DATE '2026-03-01' - DATE '2026-02-01'": "28", "INTERVAL '1 hour' * 2.5": "02:30:00",
		"INTERVAL '1 hour' / 4": "00:15:00", "INTERVAL '1 day' > INTERVAL '23 hours'": "true",
		"greatest(1, 3, 2)": "3", "least('b', 'a')": "'a'", "nullif(1, 2)": "1", "coalesce(NULL, 'x')": "'x'",
	}
	for expr, want := range cases {
		e, _, err := bindSQL(expr, rec.Schema())
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		out, err := e.Eval(rec)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got := render(out); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
}
