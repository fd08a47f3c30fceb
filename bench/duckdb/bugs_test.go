package duckdb

import (
	"testing"
)

// knownBugs were differences from DuckDB (and Postgres) that were weir's
// bugs, each a minimal query; all are fixed now and run as regressions. A
// new one that fails today is added with WEIR_DUCKDB_KNOWN_BUGS=1 as its
// guard until it is fixed.
var knownBugs = []struct {
	diffCase
	tsType string // the event-time column's type
	bug    string
}{
	{
		diffCase: diffCase{name: "timestamp-without-time-zone-as-event-time", weir: "SELECT window_start, count(*) AS c FROM {TUMBLE t 10} GROUP BY window_start, window_end"},
		tsType:   "TIMESTAMP",
		bug: "a Parquet TIMESTAMP that is not adjusted to UTC (DuckDB's TIMESTAMP, Spark's TIMESTAMP_NTZ) as event time: " +
			`the source converts the column to timestamp[us, tz=UTC] but keeps the schema's timestamp[us]: panic "column \"$time\" type mismatch"`,
	},
	{
		diffCase: diffCase{name: "timestamp-without-time-zone-rows", weir: "SELECT id, ts FROM t WHERE id % 29 = 0"},
		tsType:   "TIMESTAMP",
		bug:      `the same, without a window: panic "column \"ts\" type mismatch: got=timestamp[us, tz=UTC], want=timestamp[us]"`,
	},
	{
		diffCase: diffCase{name: "global-aggregate-of-no-rows", weir: "SELECT count(*) AS c, sum(v) AS s FROM ev WHERE id < 0"},
		tsType:   "TIMESTAMPTZ",
		bug:      "an aggregate without GROUP BY over no rows returns no row; Postgres and DuckDB return one (0, NULL)",
	},
	{
		diffCase: diffCase{name: "cast-double-to-bigint-rounds-half-to-even", weir: "SELECT id, v, CAST(v AS BIGINT) AS vi FROM ev WHERE v = floor(v) + 0.5"},
		tsType:   "TIMESTAMPTZ",
		bug:      "CAST(-284.5::float8 AS bigint) is -285 in weir; Postgres (rint) and DuckDB round half to even: -284",
	},
	{
		diffCase: diffCase{name: "union-all-of-integer-and-bigint", weir: "SELECT k AS x FROM ev WHERE k = 1 UNION ALL SELECT n FROM ev WHERE n < -95"},
		tsType:   "TIMESTAMPTZ",
		bug:      `UNION ALL of bigint and integer columns fails ("UNION types bigint and integer cannot be matched"); Postgres resolves them to bigint`,
	},
}

func TestKnownBugs(t *testing.T) {
	envs := map[string]*diffEnv{"TIMESTAMP": newDiffEnv(t, "TIMESTAMP"), "TIMESTAMPTZ": newDiffEnv(t, "TIMESTAMPTZ")}
	for _, c := range knownBugs {
		t.Run(c.name, func(t *testing.T) {
			t.Log(c.bug)
			envs[c.tsType].check(t, c.diffCase)
		})
	}
}
