// Unit tests of the UI's pure parts: the changelog fold, the markdown
// renderer's safety, statement counting, chart choice and value formats.
// Run by test/run.mjs (npm test), which ui/e2e_test.go calls from go test.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkpointText, formatValue } from "../src/format";
import { renderMarkdown } from "../src/markdown";
import { plan } from "../src/plan";
import { Result } from "../src/result";
import { countStatements } from "../src/sql";

const cols = [{ name: "k", type: "text" }, { name: "n", type: "bigint" }];
const rows = (r: Result) => r.slots.map((s) => s.row);

test("fold: inserts, retractions of one equal row, updates in place", () => {
  const cases: { name: string; steps: [string[], unknown[][]][]; want: unknown[][] }[] = [
    { name: "inserts keep arrival order", steps: [[["+", "+"], [["a", 1], ["b", 1]]]], want: [["a", 1], ["b", 1]] },
    { name: "a retraction removes one of two equal rows", steps: [[["+", "+"], [["a", 1], ["a", 1]]], [["-"], [["a", 1]]]], want: [["a", 1]] },
    { name: "an update takes the old row's place", steps: [[["+", "+", "+"], [["a", 1], ["b", 1], ["c", 1]]], [["-", "+"], [["b", 1], ["b", 2]]]], want: [["a", 1], ["b", 2], ["c", 1]] },
    { name: "updates pair by first column", steps: [[["+", "+"], [["a", 1], ["b", 1]]], [["-", "-", "+", "+"], [["a", 1], ["b", 1], ["b", 5], ["a", 7]]]], want: [["a", 7], ["b", 5]] },
    { name: "an unknown retraction is ignored", steps: [[["+"], [["a", 1]]], [["-"], [["z", 9]]]], want: [["a", 1]] },
    { name: "insert then retract in one message", steps: [[["+", "-"], [["a", 1], ["a", 1]]]], want: [] },
  ];
  for (const c of cases) {
    const r = new Result();
    r.reset(cols);
    for (const [ops, rs] of c.steps) r.apply(ops, rs);
    assert.deepEqual(rows(r), c.want, c.name);
  }
});

test("fold: memory is bounded by cap, keeping the newest rows", () => {
  const r = new Result(3);
  r.reset(cols);
  for (let i = 0; i < 10; i++) r.apply(["+"], [[`k${i}`, i]]);
  assert.deepEqual(rows(r), [["k7", 7], ["k8", 8], ["k9", 9]]);
  assert.equal(r.dropped, 7);
  r.apply(["-", "+"], [["k8", 8], ["k8", 80]]);
  assert.deepEqual(rows(r), [["k7", 7], ["k8", 80], ["k9", 9]]);
});

test("markdown: escapes HTML and refuses script links", () => {
  const cases: [string, string][] = [
    ["<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"],
    ['<img src=x onerror="x()">', "<p>&lt;img src=x onerror=&quot;x()&quot;&gt;</p>"],
    ["[x](javascript:alert(1))", "<p>x)</p>"], // the link is dropped, its text kept,
    ['[x](https://a.example/?q="><b>)', '<p><a href="https://a.example/?q=&quot;&gt;&lt;b&gt;" target="_blank" rel="noopener noreferrer">x</a></p>'],
    ["# T *a* **b** `<c>`", "<h1>T <em>a</em> <strong>b</strong> <code>&lt;c&gt;</code></h1>"],
    ["- one\n- two", "<ul><li>one</li><li>two</li></ul>"],
    ["```\n<b>\n```", "<pre><code>&lt;b&gt;</code></pre>"],
  ];
  for (const [src, want] of cases) assert.equal(renderMarkdown(src), want, src);
});

test("countStatements skips semicolons in strings and comments", () => {
  const cases: [string, number][] = [
    ["SELECT 1", 1], ["SELECT 1;", 1], ["SELECT 1; SELECT 2", 2], ["SELECT ';'; -- a;b\nSELECT 2;", 2],
    ["/* ; */ SELECT 1", 1], ['SELECT ";" FROM t; ;', 1], ["", 1],
  ];
  for (const [sql, n] of cases) assert.equal(countStatements(sql), n, sql);
});

test("plan: a line chart for time and numbers, settings override", () => {
  const ts = [{ name: "window_start", type: "timestamp" }, { name: "auction_id", type: "bigint" }, { name: "bids", type: "bigint" }];
  assert.deepEqual(plan(ts, undefined), { type: "line", x: 0, y: [2] });
  assert.equal(plan(ts, { type: "table" }), null);
  assert.deepEqual(plan(ts, { type: "bar", x: "auction_id", y: ["bids"] }), { type: "bar", x: 1, y: [2] });
  assert.equal(plan([{ name: "k", type: "text" }, { name: "n", type: "bigint" }], { type: "auto" }), null);
});

test("formatValue", () => {
  assert.equal(formatValue("2026-01-01T00:00:10Z", "timestamp"), "2026-01-01 00:00:10");
  assert.equal(formatValue("2026-01-01T00:00:10.500Z", "timestamp"), "2026-01-01 00:00:10.5");
  assert.equal(formatValue(null, "bigint"), "null");
  assert.equal(formatValue(0.1 + 0.2, "double precision"), "0.3");
});

test("checkpoint line: id, age, duration, size; empty before the first", () => {
  assert.equal(checkpointText({ checkpoints_completed: 0, checkpoints_failed: 0 }), "");
  const at = "2026-01-01T00:00:10Z";
  assert.equal(checkpointText({ checkpoint_id: 7, checkpoint_at: at, checkpoint_ms: 45, checkpoint_bytes: 1536 }, Date.parse(at) + 3000), "checkpoint 7 · 3.00 s ago · took 45 ms · 1.5 KB");
  assert.equal(checkpointText({ checkpoint_id: 2 }), "checkpoint 2");
});
