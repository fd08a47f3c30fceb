// Package sqltest runs SQL behaviour scripts against the query engine, each
// query in backfill and in live mode, and checks that every run agrees with
// the others and with the expected rows — weir's promise (DESIGN §3, §4)
// checked query by query, the way promqltest is PromQL's conformance suite.
//
// A script is a datadriven file (github.com/cockroachdb/datadriven): a
// command line with arguments, input lines, "----", expected output. Blank
// lines separate commands; '#' starts a comment line. Regenerate expected
// output with
//
//	go test ./query/sqltest -args -rewrite
//
// and read the diff.
//
// # Commands
//
//	load name=t splits=2 [event_time=ts] [delay=2s] [idle_timeout=50ms]
//	ts timestamp, k bigint, v double, s text, b boolean
//	'00:00:01', 1, 1.5, 'a', true
//	@1 '2026-01-01 00:00:02.5', NULL, NULL, NULL, NULL
//	----
//
// registers the rows as the in-memory table t (history mem://t, live feed
// sqltest://t) and runs CREATE TABLE t () WITH (...) with the given event
// time, watermark delay and idle timeout. The first input line declares the
// columns (bigint, double, text, boolean, timestamp); every other line is a
// row of SQL literals ('quoted' text, numbers, true/false, NULL). A
// timestamp is 'YYYY-MM-DD HH:MM:SS[.ffffff]' or a bare 'HH:MM:SS[.f]',
// which means that time on 2026-01-01 (UTC). Rows go to the splits in order,
// round robin (row i to split i mod splits), unless a row starts with @N,
// which appends it to split N. The order of rows within a split is its
// sequence: lateness is decided on it (DESIGN §4), so it is part of the
// test.
//
//	query [mode=both|backfill|live] [runs=N]
//	SELECT ...
//	----
//	k | n
//	1 | 2
//
// runs the query in each mode (both by default) several times, and folds
// each run's changelog (inserts minus retractions) into a multiset of rows.
// Every run must give the same rows; the output is the header (column
// names) and the rows, printed as Postgres prints them (NULL for NULL),
// sorted — unless the query ends with ORDER BY ... [LIMIT ...], whose rows
// are printed in their order. A query that only runs in backfill (ORDER BY,
// LIMIT) says mode=backfill, and usually has an "error mode=live" twin. A
// query that fails prints "error: " and the message; every run must fail
// alike.
//
//	error [mode=both|backfill|live]
//	SELECT nope FROM t
//	----
//	column "nope" does not exist at line 1, column 8
//	  SELECT nope FROM t
//	         ^
//
// runs the statement in each mode and expects the same error from each: the
// message, its line and column, and the caret excerpt.
//
//	exec
//	CREATE VIEW v AS SELECT ...
//	----
//	CREATE VIEW
//
// runs statements once and prints their command tags (or the error).
//
// # What varies between runs
//
// Each run draws, from a seed, the parallelism (1–4), the size of the
// batches each split is cut into (1–4 rows), and in live mode a pause
// before some batches: short ones always, and, when the table has an
// idle_timeout, pauses of twice the timeout, so that idle splits are left
// out of the watermark and windows fire early and are then updated. The
// folded results must not change. A failure names the seed; rerun it with
//
//	go test ./query/sqltest -run TestScripts/NAME -args -sqltest.seed=SEED
//
// # Pending scripts
//
// pending/ holds scripts whose expected output is what Postgres (or the
// query's meaning) gives but weir does not yet: known bugs and features not
// built. TestPending runs them with -args -sqltest.pending; a script that
// passes moves to testdata/.
//
// In live mode an in-memory table is a live feed: it reports itself
// unbounded (so ORDER BY over it is refused as over any live feed) although
// its splits end, which ends the run.
package sqltest
