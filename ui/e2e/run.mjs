// run.mjs drives weir's notebook in a real browser (Debian's chromium via
// playwright-core) against a running "weir serve":
//
//   node e2e/run.mjs http://127.0.0.1:PORT/
//
// Each scenario is what a newcomer does: open a demo notebook, run a
// backfill and see its table and chart, run a live cell and watch it
// update, stop it, edit and save a notebook and find it after a reload, see
// an error underlined, open the dashboard and the job list, keep a live cell
// running as a durable job and see its checkpoints. With
// WEIR_SCREENSHOTS=DIR the main views are saved there as PNG files.
// ui/e2e_test.go runs this from "go test".
import { launch } from "./browser.mjs";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = (process.argv[2] || "http://127.0.0.1:8080/").replace(/\/$/, "");
const shots = process.env.WEIR_SCREENSHOTS || "";
if (shots) mkdirSync(shots, { recursive: true });

const { context, close } = await launch();
const page = context.pages()[0] || (await context.newPage());
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => { if (m.type() === "error" && !/status of 404/.test(m.text())) problems.push(`console: ${m.text()}`); });

let failed = 0;
async function scenario(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack || e}`);
    const where = join(tmpdir(), `weir-e2e-failure-${name.replace(/\W+/g, "-")}.png`);
    await page.screenshot({ path: where }).then(() => console.log(`     screenshot of the failure: ${where}`), () => {});
  }
}
async function shot(file) {
  if (!shots) return;
  await page.mouse.move(0, 0);
  await page.screenshot({ path: join(shots, file) });
  console.log(`     screenshot ${join(shots, file)}`);
}
const expect = (cond, msg) => { if (!cond) throw new Error(msg); };
const cell = (id) => page.locator(`section.cell[data-cell="${id}"]`);
const api = async (path, init) => {
  const res = await fetch(base + path, init);
  return { status: res.status, body: res.status === 204 ? null : await res.json().catch(() => null) };
};
// waitState waits for a cell's output to reach one of the states.
async function waitState(loc, states, timeout = 30_000) {
  await loc.locator(`.output:is(${states.map((s) => `[data-state="${s}"]`).join(",")})`).waitFor({ timeout });
  return loc.locator(".output").getAttribute("data-state");
}
const rowsOf = async (loc) => Number(await loc.locator(".output").getAttribute("data-rows"));

await scenario("home lists the demo notebooks", async () => {
  await page.goto(base + "/");
  await page.locator("a.nb-card").first().waitFor({ timeout: 10_000 });
  const names = await page.locator("a.nb-card").evaluateAll((els) => els.map((e) => e.dataset.notebook));
  for (const n of ["backfill-history", "live-dashboard", "backfill-vs-live"]) expect(names.includes(n), `no demo notebook ${n} in ${names}`);
  await page.locator('a.nb-card[data-notebook="backfill-history"]').click();
  await page.waitForURL(/\/notebooks\/backfill-history$/);
  await page.locator("section.cell.sql").first().waitFor();
});

await scenario("a backfill cell shows its table and chart", async () => {
  await page.goto(base + "/notebooks/backfill-history");
  const c = cell("bids-per-minute");
  await c.locator(".cm-content").click();
  await page.keyboard.press("Shift+Enter");
  const state = await waitState(c, ["done", "error"], 60_000);
  expect(state === "done", `state ${state}: ${await c.locator(".output").innerText()}`);
  expect((await rowsOf(c)) > 0, "no rows");
  await c.locator(".rt-row").first().waitFor();
  await c.locator(".uplot canvas").first().waitFor();
  // The bar chart of the next cell, and the table-only one.
  const top = cell("top-auctions");
  await top.locator("button.run").click();
  expect((await waitState(top, ["done", "error"], 60_000)) === "done", await top.locator(".output").innerText());
  await top.locator(".uplot canvas").first().waitFor();
  await c.scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot("notebook.png");
});

await scenario("a live cell updates, and stops", async () => {
  await page.goto(base + "/notebooks/live-dashboard");
  const c = cell("bids-per-second");
  await c.locator("button.run").click();
  await c.locator('.output[data-state="running"] .pill.live').waitFor({ timeout: 10_000 });
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.rows) > 0, `section.cell[data-cell="bids-per-second"] .output`, { timeout: 30_000 });
  const v1 = Number(await c.locator(".output").getAttribute("data-version"));
  await page.waitForFunction(([sel, v]) => Number(document.querySelector(sel)?.dataset.version) > v, [`section.cell[data-cell="bids-per-second"] .output`, v1], { timeout: 15_000 });
  await c.locator(".uplot canvas").first().waitFor();
  await c.locator(".status .wm").waitFor({ timeout: 10_000 });
  await c.locator("button.run.stop").click();
  expect((await waitState(c, ["cancelled"], 5_000)) === "cancelled", "not stopped");
  const rows = await rowsOf(c);
  await page.waitForTimeout(1500);
  expect((await rowsOf(c)) === rows, "rows still arrive after stop");
  // The server drops the job once its only viewer left.
  const jobs = await api("/api/jobs");
  if (jobs.status === 200) {
    const deadline = Date.now() + 5000;
    let left = jobs.body.jobs;
    while (left.some((j) => j.state === "running") && Date.now() < deadline) {
      await page.waitForTimeout(200);
      left = (await api("/api/jobs")).body.jobs;
    }
    expect(!left.some((j) => j.state === "running"), `jobs still running: ${JSON.stringify(left)}`);
  }
});

let created = "";
await scenario("edit and save a notebook, reload and find it", async () => {
  await page.goto(base + "/");
  await page.locator('[data-testid="new-notebook"]').click();
  await page.waitForURL(/\/notebooks\/notebook-/);
  created = new URL(page.url()).pathname.split("/").pop();
  const title = page.locator("input.title");
  await title.fill("Saved by the browser test");
  // A text cell at the end; markup in it must stay text.
  await page.locator(".inserter").last().locator("button", { hasText: "Text" }).click();
  await page.keyboard.type("## Notes\nHello <img src=x onerror=\"window.__xss=1\"> **there**");
  await page.keyboard.press("Escape");
  // Edit the SQL cell: a query with a mistake on line 2.
  const sql = page.locator("section.cell.sql").first();
  await sql.locator(".cm-content").click();
  await page.keyboard.press("Control+a");
  // Escape before Enter: an open completion would take the Enter.
  await page.keyboard.type("SELECT auction, price");
  await page.keyboard.press("Escape");
  await page.keyboard.press("Enter");
  await page.keyboard.type("FROM bidz");
  await page.keyboard.press("Escape");
  await sql.locator('button[data-mode="backfill"]').click();
  await page.locator('.save-state[data-state="saved"]').waitFor({ timeout: 10_000 });
  await page.reload();
  await page.locator("section.cell.sql").first().waitFor();
  expect((await page.locator("input.title").inputValue()) === "Saved by the browser test", "title not saved");
  const src = await page.locator("section.cell.sql .cm-content").first().innerText();
  expect(src.includes("FROM bidz"), `SQL not saved: ${src}`);
  const md = page.locator("section.cell.markdown .md").last();
  expect((await md.locator("h2").innerText()) === "Notes", "markdown heading not rendered");
  expect((await md.locator("img").count()) === 0, "markdown rendered raw HTML");
  expect((await md.innerText()).includes("<img"), "markdown dropped the escaped text");
  expect(!(await page.evaluate(() => window.__xss)), "script ran from markdown");
  if ((await api(`/api/notebooks/${created}`)).status === 200) {
    const nb = (await api(`/api/notebooks/${created}`)).body;
    expect(nb.title === "Saved by the browser test" && nb.cells.some((c) => c.source.includes("bidz")), "server copy differs");
  }
});

await scenario("an error is underlined where it is", async () => {
  const sql = page.locator("section.cell.sql").first();
  await sql.locator(".cm-content").click();
  await page.keyboard.press("Shift+Enter");
  expect((await waitState(sql, ["error", "done"], 20_000)) === "error", "no error");
  const under = sql.locator(".cm-lintRange-error");
  await under.waitFor({ timeout: 5000 });
  expect((await under.innerText()).includes("bidz"), `underlined ${await under.innerText()}`);
  expect((await sql.locator(".error-box").innerText()).includes("bidz"), "error text");
  await shot("error.png");
  // Fixing it clears the underline.
  await sql.locator(".cm-content").click();
  await page.keyboard.press("End");
  await page.keyboard.type(" ");
  await under.waitFor({ state: "detached", timeout: 5000 });
});

await scenario("the dashboard runs its pinned cells live", async () => {
  await page.goto(base + "/notebooks/live-dashboard");
  await page.locator('[data-testid="open-dashboard"]').click();
  await page.waitForURL(/\/dashboard$/);
  const tiles = page.locator("section.tile");
  await tiles.first().waitFor();
  const n = await tiles.count();
  expect(n >= 2, `${n} tiles`);
  for (let i = 0; i < n; i++) {
    await tiles.nth(i).locator('.output[data-state="running"] .pill.live').waitFor({ timeout: 15_000 });
  }
  await page.waitForFunction(() => [...document.querySelectorAll("section.tile .output")].every((o) => Number(o.dataset.rows) > 0), null, { timeout: 40_000 });
  if (shots) await page.waitForTimeout(12_000); // more windows, for the picture
  await shot("dashboard.png");
  // The job list shows the dashboard's jobs and cancels one.
  await page.locator('[data-testid="jobs"]').click();
  const job = page.locator(".jobs .job").first();
  const listed = await job.waitFor({ timeout: 5000 }).then(() => true, () => false);
  if ((await api("/api/jobs")).status === 200) {
    expect(listed, "no job listed");
    await shot("jobs.png");
    const id = await job.getAttribute("data-job");
    await job.locator("button", { hasText: "Cancel" }).click();
    await page.locator(`.jobs .job[data-job="${id}"][data-state="cancelled"]`).waitFor({ timeout: 10_000 });
    // Its tile learns that the job ended.
    await page.locator('section.tile .output[data-state="error"], section.tile .output[data-state="cancelled"]').first().waitFor({ timeout: 10_000 });
  }
});

await scenario("a durable live cell keeps running and shows its checkpoint", async () => {
  await page.goto(base + "/notebooks/live-dashboard");
  const c = cell("bids-per-second");
  const keep = c.locator('[data-testid="keep-running"]');
  await keep.check();
  await c.locator("button.run").click();
  await c.locator('.output[data-state="running"] .pill.live').waitFor({ timeout: 10_000 });
  // weir serve runs with --checkpoint-interval 1s here (ui/e2e_test.go).
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.checkpoint) > 0, `section.cell[data-cell="bids-per-second"] .stat.ckpt`, { timeout: 30_000 });
  const line = await c.locator(".stat.ckpt").innerText();
  expect(/checkpoint \d+ · .* ago · took .* · .*B/.test(line), `checkpoint line ${line}`);
  await shot("durable.png");
  const control = process.env.WEIR_CONTROL || "";
  if (control) {
    // weir serve restarts (ui/e2e_test.go): it restores the durable job
    // from its checkpoint, and the page reconnects and joins it again.
    const out = `section.cell[data-cell="bids-per-second"] .output`;
    const before = (await api("/api/jobs")).body.jobs.find((j) => j.durable && j.state === "running");
    const res = await fetch(control + "/restart", { method: "POST" });
    expect(res.status === 204, `restart: ${res.status} ${await res.text()}`);
    let after;
    const deadline = Date.now() + 15_000;
    while (!(after && after.resumed_from > 0) && Date.now() < deadline) {
      after = (await api("/api/jobs")).body.jobs.find((j) => j.durable && j.state === "running");
      await page.waitForTimeout(100);
    }
    expect(after && after.name === before.name && after.resumed_from > 0, `after the restart: ${JSON.stringify(after)} (before ${JSON.stringify(before)})`);
    await page.waitForFunction(([sel, id]) => document.querySelector(sel)?.dataset.job === id && Number(document.querySelector(sel)?.dataset.rows) > 0, [out, after.id], { timeout: 30_000 });
    const v = Number(await c.locator(".output").getAttribute("data-version"));
    await page.waitForFunction(([sel, v]) => Number(document.querySelector(sel)?.dataset.version) > v, [out, v], { timeout: 15_000 });
    expect((await c.locator(".output").getAttribute("data-state")) === "running", "the cell stopped at the restart");
  }
  await c.locator("button.run.stop").click();
  expect((await waitState(c, ["cancelled"], 5_000)) === "cancelled", "not detached");
  // Its job keeps running without a viewer, listed with its checkpoint.
  const durable = (await api("/api/jobs")).body.jobs.filter((j) => j.durable && j.state === "running");
  expect(durable.length === 1 && durable[0].viewers === 0, `durable jobs ${JSON.stringify(durable)}`);
  await page.locator('[data-testid="jobs"]').click();
  const job = page.locator(`.jobs .job[data-job="${durable[0].id}"]`);
  await job.locator(".job-ckpt").waitFor({ timeout: 5000 });
  expect((await job.locator(".job-ckpt").innerText()).includes("checkpoint"), "no checkpoint in the job list");
  await shot("jobs-durable.png");
  // Stopped with a savepoint from the jobs panel: listed with it.
  await job.locator("button", { hasText: "Savepoint" }).click();
  const ended = page.locator(`.jobs .job[data-job="${durable[0].id}"][data-state="cancelled"]`);
  await ended.waitFor({ timeout: 15_000 });
  expect(/stopped with savepoint \d+/.test(await ended.innerText()), `ended job: ${await ended.innerText()}`);
  await keep.uncheck();
  await page.locator('.save-state[data-state="saved"]').waitFor({ timeout: 10_000 });
});

if (created) await api(`/api/notebooks/${created}`, { method: "DELETE" }).catch(() => {});
await close();
for (const p of problems) console.log(`note ${p}`);
if (problems.some((p) => p.startsWith("page error"))) failed++;
console.log(failed ? `${failed} failed` : "all passed");
process.exit(failed ? 1 : 0);
