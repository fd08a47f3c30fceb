// Package server serves weir over HTTP: a JSON API, a websocket protocol
// that streams query results as changelogs, Prometheus metrics, and (with
// package ui) the notebook in the browser.
//
// # Endpoints
//
//	GET    /api/health            {"status":"ok"}
//	POST   /api/query             {"sql":"…","mode":"backfill","from":"…","to":"…"} → a bounded
//	                              query's final rows as JSON, or an error with line/column
//	GET    /api/tables            catalog tables and views with their columns
//	GET    /api/notebooks         the notebooks (package notebooks)
//	GET    /api/notebooks/{name}  one notebook; PUT creates or replaces it, DELETE removes it
//	GET    /api/jobs              running and recently ended jobs
//	DELETE /api/jobs/{id}         stops a job for every viewer (a durable one is forgotten;
//	                              ?savepoint=true stops it with a savepoint instead)
//	GET    /metrics               Prometheus text exposition (weir_* metrics)
//	GET    /ws                    the websocket protocol below
//
// docs/api.md is the contract in full; this comment is the map of the code.
//
// # Websocket protocol (DESIGN §10)
//
// JSON text frames. A client runs SQL and may cancel it:
//
//	{"type":"run", "id":"c1", "sql":"…", "mode":"backfill"|"live", "from":"…", "to":"…",
//	 "format":"json"|"arrow", "durable":true, "job":"NAME"}
//	{"type":"cancel", "id":"c1"}
//
// The server answers, per run id (stmt numbers the statements of a script):
//
//	{"type":"schema",   "id":"c1", "stmt":0, "columns":[{"name":"auction","type":"bigint"}, …]}
//	{"type":"rows",     "id":"c1", "stmt":0, "ops":["+","-"], "rows":[[1,"2026-01-01T00:00:10Z",3], …]}
//	{"type":"progress", "id":"c1", "rows_in":N, "rows_out":N, "splits_done":N, "splits_total":N,
//	                    "watermark":"…", "late_rows":N,
//	                    "checkpoint_id":N, "checkpoint_ms":N, "checkpoint_bytes":N, … (durable jobs)}
//	{"type":"done",     "id":"c1", "stmt":0, "rows_out":N, "elapsed_ms":N, "message":"CREATE TABLE"}
//	{"type":"error",    "id":"c1", "message":"…", "line":1, "column":8}
//
// Rows are arrays in schema order; timestamps are RFC 3339 strings in UTC;
// ops holds "+" (insert) or "-" (retract) per row, so a client folds the
// changelog into a table. schema, progress and done also carry "job"; live
// progress carries lag_ms and rows_per_sec.
//
// With "format":"arrow" rows travel as binary frames instead (arrow.go):
// uint32 little-endian N, N bytes of JSON header {"type":"rows","id","stmt"},
// then an Arrow IPC stream of the result columns plus __op (int8, 1 or −1),
// gathered from the engine's own batches.
//
// # Jobs and viewers
//
// Every run is a job (job.go) with an id, listed by /api/jobs. A client's
// run is a viewer of a job. A live run whose SQL and from equal those of a
// running live job joins it instead of starting another: the job keeps its
// result folded (fold.go; at most Options.MaxFoldedRows rows, the newest),
// and a joiner gets the schema, that fold as inserts, then the changelog.
// Each batch is rendered once (JSON values, coalescing keys, Arrow
// references) and handed to every viewer's queue. A job whose last viewer
// leaves stops, unless it is durable. A live job never waits for a
// viewer: one whose queue is full is detached with an error. A backfill
// job has one viewer and waits for it (backpressure).
//
// # Durable jobs
//
// A live run with "durable":true (and every live INSERT) is a durable job
// (durable.go): a query.Durable run that checkpoints to the workspace, keeps
// running without viewers, is recorded as WORKSPACE/jobs/NAME.json and is
// started again by RestoreJobs when the server starts. DELETE
// /api/jobs/{id} stops and forgets it; a shutdown keeps it. Its progress,
// /api/jobs entry and /metrics carry its checkpoint figures.
//
// # Slow clients
//
// Each connection has one bounded send queue. Updates to the same result
// are coalesced while they wait: a queued rows message absorbs the next
// ones of its statement, and a retraction cancels the queued insertion of
// the same row, so a dashboard that updates faster than a browser reads
// holds at most its result's size, not the stream's rate. Progress messages
// replace each other. Arrow clients coalesce the same way: the delta keeps
// references to rows, and becomes one frame when sent. Only when a result
// keeps growing (a large backfill) does the queue fill; a backfill then
// waits for the client — backpressure to the sources — a live job detaches
// the viewer, and a client that stops reading is disconnected after the
// write timeout.
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
