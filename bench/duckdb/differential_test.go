package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	_ "github.com/marcboeker/go-duckdb"

	"github.com/weirdata/weir/query"
)

// diffRows and diffSeed make the differential data (see WriteDiffData).
const (
	diffRows = 24_000
	diffSeed = 42
)

// A diffCase is one query run on weir and on DuckDB. weir is Postgres
// dialect; duck, when set, is DuckDB's text of the same query (else weir's
// text is used on both). Both may use the tokens of expand: {TUMBLE t 10},
// {HOP t 5 20} (slide, size; seconds) and {GLOB}.
//
// Relations: ev is every row (no event time, so no lateness); t, t0 and
// t30 have event time ts with watermark delays 5 s, 0 and 30 s, so their
// late and NULL-time rows are dropped (DuckDB: OnTimeView).
type diffCase struct {
	name    string
	weir    string
	duck    string
	ordered bool // compare in order: the ORDER BY is total
}

var diffCases = []diffCase{
	// Filters and expressions.
	{name: "filter/and", weir: "SELECT id, k, v FROM ev WHERE v > 100 AND k < 10"},
	{name: "filter/or-not", weir: "SELECT id FROM ev WHERE NOT (k = 7) OR v < -400"},
	{name: "expr/arith", weir: "SELECT id, v * 2 + n AS x, v / 4 AS y, n % 7 AS m, -v AS neg, k - n AS kn FROM ev"},
	{name: "expr/int-division", weir: "SELECT id, n / 3 AS q, k / 2 AS kq FROM ev", duck: "SELECT id, n // 3 AS q, k // 2 AS kq FROM ev"},
	{name: "expr/compare", weir: "SELECT id, v >= 0 AS pos, k = 7 AS hot, s <> 'beta' AS nb, n <= 10 AS small, s < 'b' AS lt FROM ev"},
	{name: "expr/case-searched", weir: "SELECT id, CASE WHEN v < 0 THEN 'neg' WHEN v < 500 THEN 'low' ELSE 'high' END AS bucket FROM ev"},
	{name: "expr/case-simple", weir: "SELECT id, CASE k WHEN 7 THEN 'hot' WHEN 0 THEN 'zero' END AS kk, CASE WHEN b THEN n ELSE -n END AS sn FROM ev"},
	{name: "expr/cast", weir: "SELECT id, CAST(n AS DOUBLE PRECISION) * 1.5 AS f, CAST(k AS VARCHAR) AS ks, CAST(n AS TEXT) || 'x' AS nx, CAST(b AS INTEGER) AS bi FROM ev"},
	{name: "expr/cast-double-to-bigint", weir: "SELECT id, v, CAST(v AS BIGINT) AS vi FROM ev WHERE v <> floor(v) + 0.5"},
	{name: "expr/cast-text-to-int", weir: "SELECT id, CAST('12' AS INTEGER) + n AS x, CAST(d AS DATE) AS dd FROM ev"},
	{name: "expr/coalesce", weir: "SELECT id, COALESCE(k, -1) AS k2, COALESCE(s, 'none') AS s2, COALESCE(v, n, 0) AS v2 FROM ev"},
	{name: "expr/nullif-greatest", weir: "SELECT id, NULLIF(k, 7) AS a, NULLIF(s, '') AS b2, greatest(n, k) AS g, least(v, 0) AS l FROM ev"},
	{name: "expr/in", weir: "SELECT id, k FROM ev WHERE k IN (1, 3, 5, 7) AND s NOT IN ('alpha', 'beta')"},
	{name: "expr/in-null", weir: "SELECT id, k IN (1, 7, NULL) AS i1, k NOT IN (1, NULL) AS i2, s IN ('beta', 'Gamma') AS i3 FROM ev"},
	{name: "expr/between", weir: "SELECT id, v FROM ev WHERE v BETWEEN -10 AND 10 OR n NOT BETWEEN 0 AND 800"},
	{name: "expr/like", weir: "SELECT id, s FROM ev WHERE s LIKE 'a%' OR s LIKE '%ta%' OR s LIKE '_eta'"},
	{name: "expr/not-like-escape", weir: "SELECT id, s LIKE 'a!%b' ESCAPE '!' AS e, s NOT LIKE '%a%' AS nl FROM ev"},
	{name: "expr/ilike", weir: "SELECT id, s FROM ev WHERE s ILIKE 'gam%' OR s ILIKE 'ÜN%'"},
	{name: "expr/math", weir: "SELECT id, abs(v) AS a, floor(v) AS f, ceil(v) AS c, sqrt(abs(v)) AS r, power(n, 2) AS p, sign(v) AS sg FROM ev"},
	{name: "string/functions", weir: "SELECT id, upper(s) AS u, lower(s) AS l, length(s) AS n, substr(s, 2, 3) AS sub, replace(s, 'a', 'A') AS r, strpos(s, 'a') AS p, left(s, 2) AS lf, right(s, 2) AS rt FROM ev"},
	{name: "string/concat", weir: "SELECT id, s || '-' || CAST(k AS TEXT) AS c1, concat(s, k, b) AS c2, trim(' ' || s || ' ') AS t, starts_with(s, 'a') AS sw FROM ev"},
	// DuckDB's split_part(NULL, ...) is '', not NULL as in Postgres.
	{name: "string/split-pad", weir: "SELECT id, split_part(s, '_', 2) AS sp, lpad(s, 6, '*') AS lp, rpad(s, 6, '.') AS rp, reverse(s) AS rv FROM ev",
		duck: "SELECT id, CASE WHEN s IS NOT NULL THEN split_part(s, '_', 2) END AS sp, lpad(s, 6, '*') AS lp, rpad(s, 6, '.') AS rp, reverse(s) AS rv FROM ev"},
	{name: "time/parts", weir: "SELECT id, extract(year FROM d) AS y, extract(month FROM d) AS m, extract(day FROM d) AS dd, extract(hour FROM d) AS h, extract(dow FROM d) AS dow, extract(doy FROM d) AS doy FROM ev"},
	// DuckDB's date_trunc to a month or coarser returns a DATE.
	{name: "time/date-trunc", weir: "SELECT id, date_trunc('hour', d) AS h, date_trunc('month', d) AS m, date_trunc('minute', ts) AS tm FROM ev",
		duck: "SELECT id, date_trunc('hour', d) AS h, CAST(date_trunc('month', d) AS TIMESTAMP) AS m, date_trunc('minute', ts) AS tm FROM ev"},
	{name: "time/epoch", weir: "SELECT id, extract(epoch FROM ts) AS e FROM ev"},
	{name: "time/interval-arith", weir: "SELECT id, ts + INTERVAL '90 seconds' AS a, d - INTERVAL '1 day' AS b2, ts - INTERVAL '1 hour' AS c FROM ev"},
	{name: "time/literal-range", weir: "SELECT id, ts FROM ev WHERE ts >= TIMESTAMP '2024-03-01 00:05:00' AND ts < TIMESTAMP '2024-03-01 00:06:00'"},
	{name: "time/compare-columns", weir: "SELECT id, d < ts AS before, d >= TIMESTAMP '2023-07-01' AS h2 FROM ev"},

	// NULL semantics.
	{name: "null/predicates", weir: "SELECT id, k IS NULL AS kn, s IS NOT NULL AS sn, b IS TRUE AS bt, b IS NOT FALSE AS bnf, b IS UNKNOWN AS bu FROM ev"},
	{name: "null/three-valued", weir: "SELECT id, b AND v > 0 AS a, b OR v > 0 AS o, NOT b AS nb, k + NULL AS kn FROM ev"},
	{name: "null/distinct-from", weir: "SELECT id, k IS DISTINCT FROM 7 AS d1, s IS NOT DISTINCT FROM NULL AS d2 FROM ev"},
	{name: "null/where-excludes", weir: "SELECT count(*) AS c FROM ev WHERE k <> 7"},
	{name: "null/counts", weir: "SELECT count(*) AS a, count(k) AS b1, count(v) AS c, count(s) AS d1, count(b) AS e, count(ts) AS f, count(d) AS g FROM ev"},

	// Aggregates.
	{name: "agg/global", weir: "SELECT count(*) AS c, sum(v) AS s, min(v) AS mn, max(v) AS mx, avg(v) AS a, sum(n) AS sn, avg(n) AS an FROM ev"},
	{name: "agg/by-key", weir: "SELECT k, count(*) AS c, sum(v) AS s, min(v) AS mn, max(v) AS mx, avg(v) AS a FROM ev GROUP BY k"},
	{name: "agg/by-two", weir: "SELECT s, b, count(*) AS c, sum(n) AS sn, min(ts) AS t1, max(d) AS d1 FROM ev GROUP BY s, b"},
	{name: "agg/min-max-text", weir: "SELECT b, min(s) AS mn, max(s) AS mx, count(s) AS c FROM ev GROUP BY b"},
	{name: "agg/by-expression", weir: "SELECT k % 5 AS m, count(*) AS c FROM ev GROUP BY k % 5"},
	{name: "agg/by-ordinal", weir: "SELECT date_trunc('minute', ts) AS m, count(*) AS c, sum(v) AS s FROM ev GROUP BY 1"},
	{name: "agg/bool-key", weir: "SELECT b, count(*) AS c, avg(v) AS a, min(n) AS mn, max(d) AS mx FROM ev GROUP BY b"},
	{name: "agg/expr-of-aggs", weir: "SELECT k, sum(v) / count(*) AS mean, max(v) - min(v) AS spread, count(*) * 2 AS c2 FROM ev GROUP BY k"},
	{name: "agg/case-inside", weir: "SELECT k, sum(CASE WHEN v > 0 THEN 1 ELSE 0 END) AS pos, count(CASE WHEN b THEN 1 END) AS bt FROM ev GROUP BY k"},
	{name: "agg/count-distinct", weir: "SELECT k, count(DISTINCT s) AS ds, count(DISTINCT n) AS dn FROM ev GROUP BY k"},
	{name: "agg/having", weir: "SELECT k, count(*) AS c, avg(v) AS a FROM ev GROUP BY k HAVING count(*) > 400 AND avg(v) > 480"},
	{name: "agg/having-only-agg", weir: "SELECT s FROM ev GROUP BY s HAVING max(n) > 898"},
	{name: "agg/filtered", weir: "SELECT s, count(*) AS c, sum(v) AS sv FROM ev WHERE b AND k IS NOT NULL GROUP BY s"},
	{name: "distinct/two-columns", weir: "SELECT DISTINCT s, b FROM ev"},
	{name: "distinct/filtered", weir: "SELECT DISTINCT k FROM ev WHERE v > 1000"},

	// ORDER BY with LIMIT (the order is total, so it is compared).
	{name: "order/desc-limit", weir: "SELECT id, v FROM ev ORDER BY v DESC NULLS LAST, id LIMIT 20", ordered: true},
	{name: "order/agg-limit", weir: "SELECT k, count(*) AS c FROM ev GROUP BY k ORDER BY c DESC, k NULLS FIRST LIMIT 5", ordered: true},
	{name: "order/offset", weir: "SELECT id, s FROM ev WHERE s IS NOT NULL ORDER BY s, id LIMIT 10 OFFSET 5", ordered: true},
	{name: "order/nulls-first", weir: "SELECT id, ts FROM ev ORDER BY ts NULLS FIRST, id LIMIT 15", ordered: true},
	{name: "order/by-expression", weir: "SELECT id, n, abs(n - 400) AS dist FROM ev ORDER BY dist NULLS LAST, id DESC LIMIT 12", ordered: true},
	{name: "order/groups", weir: "SELECT s, count(*) AS c FROM ev GROUP BY s ORDER BY s NULLS FIRST", ordered: true},
	{name: "order/aggregate-call", weir: "SELECT k, count(*), sum(n) AS total FROM ev GROUP BY k ORDER BY count(*) DESC, sum(n), k NULLS FIRST LIMIT 6", ordered: true},
	{name: "order/hidden-expression", weir: "SELECT id, n FROM ev ORDER BY abs(n - 400) NULLS LAST, -id LIMIT 12", ordered: true},

	// UNION ALL, subqueries, CTEs.
	{name: "union/all", weir: "SELECT k AS x, v FROM ev WHERE k = 1 UNION ALL SELECT CAST(n AS BIGINT), v FROM ev WHERE n < -95"},
	{name: "union/constant", weir: "SELECT s FROM ev WHERE id < 100 UNION ALL SELECT 'const'"},
	{name: "union/aggregated", weir: "SELECT s, count(*) AS c FROM (SELECT s FROM ev WHERE b UNION ALL SELECT s FROM ev WHERE k = 7) u GROUP BY s"},
	{name: "cte/agg-of-agg", weir: "WITH a AS (SELECT k, count(*) AS c FROM ev GROUP BY k) SELECT c, count(*) AS n FROM a GROUP BY c"},
	{name: "subquery/filter-on-agg", weir: "SELECT x.k, x.total FROM (SELECT k, sum(v) AS total FROM ev GROUP BY k) x WHERE x.total > 0"},
	{name: "subquery/max-of-counts", weir: "SELECT max(c) AS m, min(c) AS mn FROM (SELECT s, count(*) AS c FROM ev GROUP BY s) x"},
	{name: "cte/two", weir: "WITH pos AS (SELECT * FROM ev WHERE v > 0), hot AS (SELECT * FROM pos WHERE k = 7) SELECT b, count(*) AS c FROM hot GROUP BY b"},

	// Joins (weir 7725aad: regular joins of streams).
	{name: "join/with-aggregate", weir: "SELECT e.id, e.v, g.c FROM ev e JOIN (SELECT k, count(*) AS c FROM ev GROUP BY k) g ON e.k = g.k WHERE e.id < 3000"},
	{name: "join/self-filtered", weir: "SELECT a.id, b.id AS bid, a.s FROM (SELECT * FROM ev WHERE id < 60) a JOIN (SELECT * FROM ev WHERE id < 60) b ON a.k = b.k"},

	// Lateness: t, t0 and t30 drop late rows per file, in row order.
	{name: "late/count", weir: "SELECT count(*) AS c, sum(v) AS s FROM t"},
	{name: "late/rows", weir: "SELECT id, ts FROM t WHERE id % 29 = 0"},
	{name: "late/delay-0", weir: "SELECT k, count(*) AS c FROM t0 GROUP BY k"},
	{name: "late/delay-30", weir: "SELECT count(*) AS c, count(DISTINCT id) AS ids FROM t30"},
	{name: "late/read-parquet", weir: "SELECT count(*) AS c, sum(n) AS s FROM read_parquet('{GLOB}', event_time => 'ts', watermark_delay => INTERVAL '5 seconds')", duck: "SELECT count(*) AS c, sum(n) AS s FROM t"},

	// Tumbling windows.
	{name: "tumble/count-by-key", weir: "SELECT k, window_start, window_end, count(*) AS c, sum(v) AS sv FROM {TUMBLE t 10} GROUP BY k, window_start, window_end"},
	{name: "tumble/global", weir: "SELECT window_start, window_end, count(*) AS c FROM {TUMBLE t 10} GROUP BY window_start, window_end"},
	{name: "tumble/minute-by-string", weir: "SELECT s, window_start, min(v) AS mn, max(v) AS mx, avg(v) AS a FROM {TUMBLE t 60} GROUP BY s, window_start, window_end"},
	{name: "tumble/filtered", weir: "SELECT b, window_start, count(*) AS c FROM {TUMBLE t 10} WHERE v > 0 GROUP BY b, window_start, window_end"},
	{name: "tumble/having", weir: "SELECT k, window_end, count(*) AS c FROM {TUMBLE t 30} GROUP BY k, window_start, window_end HAVING count(*) >= 20"},
	{name: "tumble/delay-0", weir: "SELECT window_start, count(*) AS c, count(n) AS cn FROM {TUMBLE t0 10} GROUP BY window_start, window_end"},
	{name: "tumble/delay-30", weir: "SELECT window_start, count(*) AS c FROM {TUMBLE t30 10} GROUP BY window_start, window_end"},
	{name: "tumble/then-aggregate", weir: "SELECT max(c) AS m, count(*) AS windows FROM (SELECT window_start, count(*) AS c FROM {TUMBLE t 10} GROUP BY window_start, window_end) x"},
	{name: "tumble/order-limit", weir: "SELECT window_start, count(*) AS c FROM {TUMBLE t 10} GROUP BY window_start, window_end ORDER BY c DESC, window_start LIMIT 5", ordered: true},

	// Hopping windows.
	{name: "hop/global", weir: "SELECT window_start, window_end, count(*) AS c FROM {HOP t 5 20} GROUP BY window_start, window_end"},
	{name: "hop/by-key", weir: "SELECT k, window_start, count(*) AS c, sum(n) AS sn FROM {HOP t 10 30} GROUP BY k, window_start, window_end"},
	{name: "hop/delay-0", weir: "SELECT window_start, max(v) AS m FROM {HOP t0 5 10} GROUP BY window_start, window_end"},
}

// refusedCases are valid Postgres that weir refuses (ErrUnsupported), with
// the reason. They do not count as differential queries; when weir learns
// one, the test fails and the query moves to diffCases.
var refusedCases = []struct{ sql, reason string }{
	{"SELECT id FROM ev WHERE k IN (SELECT k FROM ev WHERE v > 1400)", "subqueries in WHERE"},
	{"SELECT id, (SELECT max(v) FROM ev) AS m FROM ev", "scalar subqueries"},
	{"SELECT a.id, b.id FROM ev a JOIN ev b ON a.id = b.id + 4", "regular joins (only window joins are)"},
	{"SELECT id, row_number() OVER (PARTITION BY k ORDER BY id) AS r FROM ev", "window functions (OVER)"},
	{"SELECT k, string_agg(s, ',') AS ss FROM ev GROUP BY k", "string_agg"},
	{"SELECT id FROM ev EXCEPT SELECT id FROM ev WHERE k = 7", "EXCEPT"},
}

// expand replaces the tokens of a diffCase for one side.
var tokenRE = regexp.MustCompile(`\{(TUMBLE|HOP) (\w+) (\d+)(?: (\d+))?\}|\{GLOB\}`)

func expand(q, dir string, duck bool) string {
	return tokenRE.ReplaceAllStringFunc(q, func(tok string) string {
		m := tokenRE.FindStringSubmatch(tok)
		if m[1] == "" {
			if duck {
				return filepath.Join(dir, "*.parquet")
			}
			return "file://" + filepath.Join(dir, "*.parquet")
		}
		rel, a := m[2], m[3]
		bucket := func(secs string) string {
			return fmt.Sprintf("time_bucket(INTERVAL '%s seconds', ts, TIMESTAMP '1970-01-01')", secs)
		}
		switch {
		case m[1] == "TUMBLE" && !duck:
			return fmt.Sprintf("TUMBLE(%s, ts, INTERVAL '%s' SECOND)", rel, a)
		case m[1] == "TUMBLE":
			return fmt.Sprintf("(SELECT *, %s AS window_start, %s + INTERVAL '%s seconds' AS window_end FROM %s) w", bucket(a), bucket(a), a, rel)
		case !duck:
			return fmt.Sprintf("HOP(%s, ts, INTERVAL '%s' SECOND, INTERVAL '%s' SECOND)", rel, a, m[4])
		}
		slide, _ := strconv.Atoi(a)
		size, _ := strconv.Atoi(m[4])
		// A row is in the size/slide windows that start at its slide bucket
		// and the ones before it.
		return fmt.Sprintf(`(SELECT *, window_start + INTERVAL '%d seconds' AS window_end FROM (
  SELECT %s.*, %s - to_seconds(%d * j) AS window_start FROM %s CROSS JOIN generate_series(0, %d) g(j))) w`,
			size, rel, bucket(a), slide, rel, size/slide-1)
	})
}

// diffEnv is the data and both engines, set up once per test binary.
type diffEnv struct {
	dir  string
	db   *sql.DB
	weir *query.Engine
}

// newDiffEnv writes the data, with event time ts of type tsType, and
// declares its relations in DuckDB and weir.
func newDiffEnv(t *testing.T, tsType string) *diffEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // one connection: the views live in it
	if err := WriteDiffData(ctx, db, dir, diffRows, diffSeed, tsType); err != nil {
		t.Fatal(err)
	}
	glob := filepath.Join(dir, "*.parquet")
	for _, q := range []string{
		fmt.Sprintf("CREATE VIEW ev AS SELECT * REPLACE (CAST(ts AS TIMESTAMP) AS ts) FROM read_parquet('%s')", glob),
		OnTimeView("t", glob, "5 seconds"),
		OnTimeView("t0", glob, "0 seconds"),
		OnTimeView("t30", glob, "30 seconds"),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	e := query.NewEngine(query.NewCatalog())
	url := "file://" + glob
	ddl := fmt.Sprintf(`CREATE TABLE ev () WITH (history = '%[1]s');
CREATE TABLE t () WITH (history = '%[1]s', event_time = 'ts', watermark_delay = '5 seconds');
CREATE TABLE t0 () WITH (history = '%[1]s', event_time = 'ts', watermark_delay = '0 seconds');
CREATE TABLE t30 () WITH (history = '%[1]s', event_time = 'ts', watermark_delay = '30 seconds')`, url)
	if err := e.Execute(ctx, ddl, query.RunOptions{}, &WeirSink{Stmt: -1}); err != nil {
		t.Fatal(err)
	}
	return &diffEnv{dir: dir, db: db, weir: e}
}

// weirModes are the runs every query must agree in: a backfill, and a live
// run whose changelog is folded, at different parallelism.
var weirModes = []struct {
	name string
	opts query.RunOptions
}{
	{"backfill", query.RunOptions{Mode: query.Backfill, Parallelism: 2}},
	{"live", query.RunOptions{Mode: query.Live, Parallelism: 3}},
}

func TestDifferential(t *testing.T) {
	if len(diffCases) < 50 {
		t.Fatalf("%d differential queries, want at least 50", len(diffCases))
	}
	env := newDiffEnv(t, "TIMESTAMPTZ")
	seen := map[string]bool{}
	for _, c := range diffCases {
		if seen[c.name] {
			t.Fatalf("two cases named %q", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) { env.check(t, c) })
	}
}

// check runs c on DuckDB and in every weir mode and compares.
func (env *diffEnv) check(t *testing.T, c diffCase) {
	t.Helper()
	ctx := context.Background()
	duckSQL := c.duck
	if duckSQL == "" {
		duckSQL = c.weir
	}
	duckSQL = expand(duckSQL, env.dir, true)
	want, err := RunDuck(ctx, env.db, duckSQL)
	if err != nil {
		t.Fatalf("DuckDB: %v\n%s", err, duckSQL)
	}
	if len(want.Rows) == 0 {
		t.Errorf("DuckDB returns no rows: the case tests nothing\n%s", duckSQL)
	}
	weirSQL := expand(c.weir, env.dir, false)
	for _, m := range weirModes {
		got, _, err := RunWeir(ctx, env.weir, weirSQL, m.opts)
		if err != nil {
			t.Errorf("weir %s: %v\n%s", m.name, err, weirSQL)
			continue
		}
		if d := Diff(got, want, c.ordered); d != "" {
			t.Errorf("weir %s differs from DuckDB:\n%s\nweir:   %s\nDuckDB: %s", m.name, d, weirSQL, duckSQL)
		}
	}
}

func TestRefused(t *testing.T) {
	env := newDiffEnv(t, "TIMESTAMPTZ")
	for _, c := range refusedCases {
		_, _, err := RunWeir(context.Background(), env.weir, c.sql, query.RunOptions{})
		// min(text) says "not supported" without wrapping ErrUnsupported.
		if !errors.Is(err, query.ErrUnsupported) && (err == nil || !strings.Contains(err.Error(), "not supported")) {
			t.Errorf("%s: error %v, want ErrUnsupported (%s)", c.sql, err, c.reason)
		}
	}
}
