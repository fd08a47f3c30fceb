package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
)

// DiffFiles is how many Parquet files the differential data has: each is a
// split of its own for weir, with its own lateness.
const DiffFiles = 4

// WriteDiffData writes the differential test's data into dir as DiffFiles
// Parquet files of rows rows in all, deterministically from seed (DuckDB's
// hash of the row number, not random()). File f holds rows i ≡ f (mod
// DiffFiles) in order of i, in row groups of 700 rows.
//
// Columns: id BIGINT (the row number, unique, never NULL); k BIGINT with 50
// values, a third of the rows on key 7, 4 % NULL; v DOUBLE in [-500, 1500)
// with two decimals; n INTEGER in [-100, 900); s VARCHAR from eight strings
// (” and non-ASCII among them); b BOOLEAN; d TIMESTAMP anywhere in 2023;
// ts TIMESTAMP, the event time: 50 ms apart by i, but one row in 29 is
// moved back by up to 20 s (out of order, often late), and 1 % are NULL.
// Every column but id has NULLs. tsType is ts's type, TIMESTAMPTZ (Parquet
// isAdjustedToUTC) or TIMESTAMP; d is always TIMESTAMP. (This DuckDB has no
// ICU extension, so its TIMESTAMPTZ is UTC.)
func WriteDiffData(ctx context.Context, db *sql.DB, dir string, rows, seed int, tsType string) error {
	for f := range DiffFiles {
		q := fmt.Sprintf(`COPY (
  WITH g AS (
    SELECT i,
      (hash(i, %[1]d, 1) %% 1000000007)::BIGINT AS h1,
      (hash(i, %[1]d, 2) %% 1000000007)::BIGINT AS h2,
      (hash(i, %[1]d, 3) %% 1000000007)::BIGINT AS h3
    FROM range(0, %[2]d) r(i) WHERE i %% %[3]d = %[4]d)
  SELECT
    i AS id,
    CASE WHEN h1 %% 23 = 0 THEN NULL WHEN h2 %% 3 = 0 THEN 7 ELSE h3 %% 50 END AS k,
    CASE WHEN h2 %% 19 = 0 THEN NULL ELSE (h1 %% 200000)::DOUBLE / 100.0 - 500.0 END AS v,
    CASE WHEN h3 %% 17 = 0 THEN NULL ELSE ((h2 %% 1000) - 100)::INTEGER END AS n,
    CASE WHEN h1 %% 13 = 0 THEN NULL
      ELSE ['alpha', 'beta', 'Gamma', 'delta_x', '', 'a%%b', 'epsilon zeta', 'ünï'][(h3 %% 8) + 1] END AS s,
    CASE WHEN h2 %% 11 = 0 THEN NULL ELSE h1 %% 2 = 0 END AS b,
    CASE WHEN h1 %% 31 = 0 THEN NULL ELSE TIMESTAMP '2023-01-01' + to_microseconds(h2 * 31536) END AS d,
    CASE WHEN h3 %% 97 = 0 THEN NULL
      ELSE CAST(TIMESTAMP '2024-03-01' + to_microseconds(i * 50000 - CASE WHEN h1 %% 29 = 0 THEN h2 %% 20000000 ELSE 0 END) AS %[6]s) END AS ts
  FROM g ORDER BY i
) TO '%[5]s' (FORMAT PARQUET, ROW_GROUP_SIZE 700)`, seed, rows, DiffFiles, f, filepath.Join(dir, fmt.Sprintf("part-%d.parquet", f)), tsType)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("writing file %d: %w", f, err)
		}
	}
	return nil
}

// OnTimeView is DuckDB's version of weir's lateness (DESIGN §4, package
// watermark): per file (split), in row order, a row is late when its event
// time is below the largest earlier event time of its file minus delay;
// rows with a NULL event time are dropped too. Only on-time rows raise
// weir's maximum, but a late row is below the maximum anyway, so the plain
// running maximum is the same (weir sets no future-skew guard here).
func OnTimeView(name, glob, delay string) string {
	return fmt.Sprintf(`CREATE VIEW %s AS SELECT * EXCLUDE (filename, file_row_number, mx) FROM (
  SELECT *, max(ts) OVER (PARTITION BY filename ORDER BY file_row_number
    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS mx
  FROM (SELECT * REPLACE (CAST(ts AS TIMESTAMP) AS ts)
    FROM read_parquet('%s', filename = true, file_row_number = true)))
WHERE ts IS NOT NULL AND (mx IS NULL OR ts >= mx - INTERVAL '%s')`, name, glob, delay)
}
