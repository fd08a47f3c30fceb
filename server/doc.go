// Package server serves weir over HTTP: a JSON API, a websocket protocol
// that streams query results as changelogs, Prometheus metrics, and (with
// package ui) the notebook in the browser.
//
// # Endpoints
//
//	GET  /api/health   {"status":"ok"}
//	POST /api/query    {"sql":"…","mode":"backfill","from":"…","to":"…"} → a bounded
//	                   query's final rows as JSON, or an error with line/column
//	GET  /metrics      Prometheus text exposition (weir_* metrics)
//	GET  /ws           the websocket protocol below
//
// # Websocket protocol (DESIGN §10)
//
// JSON text frames. A client runs SQL and may cancel it:
//
//	{"type":"run", "id":"c1", "sql":"…", "mode":"backfill"|"live", "from":"…", "to":"…"}
//	{"type":"cancel", "id":"c1"}
//
// The server answers, per run id (stmt numbers the statements of a script):
//
//	{"type":"schema",   "id":"c1", "stmt":0, "columns":[{"name":"auction","type":"bigint"}, …]}
//	{"type":"rows",     "id":"c1", "stmt":0, "ops":["+","-"], "rows":[[1,"2026-01-01T00:00:10Z",3], …]}
//	{"type":"progress", "id":"c1", "rows_in":N, "rows_out":N, "splits_done":N, "splits_total":N,
//	                    "watermark":"…", "late_rows":N}
//	{"type":"done",     "id":"c1", "stmt":0, "rows_out":N, "elapsed_ms":N, "message":"CREATE TABLE"}
//	{"type":"error",    "id":"c1", "message":"…", "line":1, "column":8}
//
// Rows are arrays in schema order; timestamps are RFC 3339 strings in UTC;
// ops holds "+" (insert) or "-" (retract) per row, so a client folds the
// changelog into a table.
//
// # Slow clients
//
// Each connection has one bounded send queue. Updates to the same result
// are coalesced while they wait: a queued rows message absorbs the next
// ones of its statement, and a retraction cancels the queued insertion of
// the same row, so a dashboard that updates faster than a browser reads
// holds at most its result's size, not the stream's rate. Progress messages
// replace each other. Only when a result keeps growing (a large backfill)
// does the queue fill; the query then waits for the client — backpressure
// to the sources — and a client that stops reading is disconnected after
// the write timeout.
//
// # Security
//
// The server binds to loopback by default. Bound to another address it
// requires a token (generated and printed at start if none is given),
// accepted as "Authorization: Bearer", or once as ?token= on a page load,
// which sets an HttpOnly cookie. Tokens are compared in constant time and
// never logged. Websocket upgrades from a foreign Origin are refused (403),
// and messages larger than MaxMessageBytes close the connection.
package server
