// Package duckdb checks weir against DuckDB on the same Parquet files: a
// differential test suite (the same queries, compared as multisets) and the
// speed benchmark of issue 3 (a 20 M-row file, weir vs DuckDB in one
// process).
//
// It is a module of its own so that weir's module does not carry DuckDB, a
// cgo build of several minutes, for everyone who imports it.
package duckdb
