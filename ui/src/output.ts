// output.ts runs a cell's SQL and shows what comes back: a status line
// (progress for backfills, watermark and lag for live runs), a chart when
// the result suits one, and the folded result table. Used by notebook
// cells and dashboard tiles alike.
import type { Chart, Column } from "./api";
import { plan, ResultChart } from "./chart";
import { conn, type Progress, type Run, type RunSpec } from "./conn";
import { clear, h, icon } from "./dom";
import { checkpointText, checkpointTitle, formatBytes, formatCount, formatDuration, isNumeric, timeOfDay } from "./format";
import { Result } from "./result";
import { countStatements } from "./sql";
import { ResultTable } from "./table";

export type RunState = "idle" | "running" | "done" | "error" | "cancelled";

export interface OutputOptions {
  chart(): Chart | undefined;
  setChart?(c: Chart): void; // absent: no chart controls (dashboard)
  onError?(message: string, line?: number, column?: number): void;
  onState?(s: RunState): void;
  tableHeight?: number;
  chartHeight?: number;
  compact?: boolean;
}

export class Output {
  el: HTMLElement;
  state: RunState = "idle";
  private run?: Run;
  private spec?: RunSpec;
  private results: Result[] = [];
  private notes: string[] = [];
  private progress: Progress = {};
  private started = 0;
  private elapsed = 0;
  private rowsOut = 0;
  private job = "";
  private errorText = "";
  private errorAt = "";
  private status = h("div.status");
  private controls = h("div.controls");
  private body = h("div.out-body");
  private table?: ResultTable;
  private chart?: ResultChart;
  private shown?: Result;
  private frame = 0;
  private lastDraw = 0;
  private ticker = 0;
  private view: "chart" | "table" | "both";

  constructor(private o: OutputOptions) {
    this.view = o.compact ? "chart" : "both";
    this.el = h("div.output" + (o.compact ? ".compact" : ""), h("div.out-bar", this.status, this.controls), this.body);
    this.el.hidden = true;
  }

  start(spec: RunSpec) {
    this.stop(false);
    this.spec = spec;
    this.results = [];
    this.notes = [];
    this.progress = {};
    this.rowsOut = 0;
    this.job = "";
    this.errorText = "";
    this.started = performance.now();
    this.elapsed = 0;
    this.shown = undefined;
    this.setState("running");
    this.el.hidden = false;
    clear(this.body);
    this.table = undefined;
    this.chart?.destroy();
    this.chart = undefined;
    const result = (stmt: number) => (this.results[stmt] ||= new Result(spec.mode === "live" ? 20_000 : 100_000));
    this.run = conn.run(spec, {
      schema: (stmt, cols, job) => { result(stmt).reset(cols); if (job) this.job = job; this.schedule(); },
      rows: (stmt, ops, rows) => { result(stmt).apply(ops, rows); this.schedule(); },
      progress: (p) => { this.progress = { ...this.progress, ...p }; if (p.job) this.job = p.job; this.schedule(); },
      done: (stmt, m) => {
        const r = result(stmt);
        if (m.message && !r.columns.length) this.notes.push(m.message);
        this.rowsOut += m.rows_out || 0;
        // A script's last statement ends the run.
        if (this.spec && stmt >= this.lastStmt()) this.finish("done", m.elapsed_ms);
        else this.schedule();
      },
      error: (message, line, column, cancelled) => {
        this.errorText = message;
        this.errorAt = line ? ` (line ${line}${column ? `, column ${column}` : ""})` : "";
        // A job stopped from the job list, or by the server, is not a
        // mistake in the cell: show it as stopped, with the reason.
        if (cancelled) { this.finish("cancelled"); return; }
        this.finish("error");
        this.o.onError?.(message, line, column);
      },
    });
    this.ticker = window.setInterval(() => this.schedule(), 250);
    this.draw();
  }

  private lastStmt() { return countStatements(this.spec?.sql || "") - 1; }

  /** stop cancels a running query (the server detaches or stops the job;
   * a durable job keeps running without this viewer). */
  stop(mark = true) {
    if (this.run && this.state === "running") {
      this.run.cancel();
      if (this.spec?.durable && this.spec.mode === "live") this.errorText = "detached: the durable job keeps running on the server (stop it in Jobs)";
      if (mark) this.finish("cancelled");
    }
    this.run = undefined;
  }

  private finish(s: RunState, elapsedMs?: number) {
    if (s !== "cancelled" && this.run) conn.forget(this.run.id);
    this.elapsed = elapsedMs ?? performance.now() - this.started;
    window.clearInterval(this.ticker);
    this.setState(s);
    this.draw();
  }

  private setState(s: RunState) {
    this.state = s;
    this.el.dataset.state = s;
    this.o.onState?.(s);
  }

  /** refresh redraws after the cell's chart settings changed. */
  refresh() { this.shownSig = ""; this.draw(); }

  private schedule() {
    if (this.frame) return;
    // Live results redraw at most ~6 times a second; that is smooth to the
    // eye and leaves the main thread free while data pours in.
    const wait = Math.max(0, 160 - (performance.now() - this.lastDraw));
    this.frame = window.setTimeout(() => requestAnimationFrame(() => { this.frame = 0; this.draw(); }), wait);
  }

  private shownSig = "";

  private draw() {
    this.lastDraw = performance.now();
    this.drawStatus();
    if (this.state === "error") {
      clear(this.body, h("div.error-box", h("strong", "Error"), this.errorAt ? h("span.error-at", this.errorAt) : null, " ", this.errorText));
      clear(this.controls);
      this.table = undefined;
      this.chart?.destroy();
      this.chart = undefined;
      this.shownSig = "";
      return;
    }
    // Show the last statement that has columns; earlier ones (CREATE VIEW …)
    // appear as notes.
    const r = [...this.results].reverse().find((x) => x && x.columns.length);
    if (!r) {
      if (this.notes.length) clear(this.body, h("div.notes", this.notes.map((n) => h("div.note", icon("bolt"), n))));
      else if (this.state !== "running") clear(this.body, h("div.empty", "No result"));
      return;
    }
    const p = plan(r.columns, this.o.chart());
    const sig = `${this.results.indexOf(r)}:${r.columns.map((c) => c.name + c.type).join()}:${p ? p.type + p.x + p.y : "-"}:${this.view}`;
    if (r !== this.shown || sig !== this.shownSig) {
      this.shown = r;
      this.shownSig = sig;
      this.chart?.destroy();
      this.chart = undefined;
      this.table = new ResultTable(r, this.o.tableHeight ?? 320, this.spec?.mode === "live");
      const parts: HTMLElement[] = [];
      if (this.notes.length) parts.push(h("div.notes", this.notes.map((n) => h("div.note", icon("bolt"), n))));
      if (p && this.view !== "table") {
        this.chart = new ResultChart(r, this.o.chartHeight ?? 220);
        parts.push(this.chart.el);
      }
      if (!p || this.view !== "chart") parts.push(this.table.el);
      clear(this.body, parts);
      this.drawControls(r.columns, p);
    }
    if (this.chart && p) this.chart.draw(p);
    this.table?.draw();
    if (r.length === 0 && this.state === "done") {
      if (!this.body.querySelector(".empty")) this.body.append(h("div.empty", "0 rows"));
    } else this.body.querySelector(".empty")?.remove();
    if (this.table?.animating) this.schedule();
  }

  private drawStatus() {
    const p = this.progress;
    const live = this.spec?.mode === "live";
    const running = this.state === "running";
    const parts: (HTMLElement | string)[] = [];
    const r = [...this.results].reverse().find((x) => x && x.columns.length);
    const rows = r ? r.length : 0;
    this.el.dataset.rows = String(rows);
    this.el.dataset.version = String(r ? r.version : 0);
    this.el.dataset.job = this.job;
    const took = running ? performance.now() - this.started : this.elapsed;
    if (running && live) parts.push(h("span.pill.live", h("span.dot"), "Live"));
    else if (running) parts.push(h("span.pill.running", h("span.spinner"), "Running"));
    else if (this.state === "done") parts.push(h("span.pill.done", "✓ Done"));
    else if (this.state === "cancelled") parts.push(h("span.pill.cancelled", { title: this.errorText || "stopped" }, "Stopped"), this.errorText ? h("span.stat.muted", this.errorText) : "");
    else if (this.state === "error") parts.push(h("span.pill.error", "Error"));
    if (!live && running && (p.splits_total || p.bytes_total || p.rows_total)) {
      const frac = p.bytes_total ? (p.bytes_read || 0) / p.bytes_total : p.splits_total ? (p.splits_done || 0) / p.splits_total : (p.rows_in || 0) / (p.rows_total || 1);
      parts.push(h("span.progress", { title: `${Math.round(frac * 100)} %` }, h("span.progress-fill", { style: { width: `${Math.min(100, frac * 100).toFixed(1)}%` } })));
      if (p.splits_total) parts.push(h("span.stat", `${p.splits_done || 0}/${p.splits_total} splits`));
    }
    if (r) parts.push(h("span.stat", h("b", formatCount(rows)), rows === 1 ? " row" : " rows", r.dropped ? ` (latest; ${formatCount(r.dropped)} older dropped)` : ""));
    if (p.rows_in) parts.push(h("span.stat", { title: "rows read from the sources" }, `${formatCount(p.rows_in)} read`));
    if (p.bytes_read) parts.push(h("span.stat", `${formatBytes(p.bytes_read)}${p.bytes_total ? " of " + formatBytes(p.bytes_total) : ""}`));
    if (live && p.rows_per_sec) parts.push(h("span.stat", `${formatCount(Math.round(p.rows_per_sec))} rows/s`));
    if (p.watermark) {
      const lag = p.lag_ms ?? (live ? Date.now() - Date.parse(p.watermark) : undefined);
      parts.push(h("span.stat.wm", { title: `watermark ${p.watermark}: event time up to which results are complete` }, "watermark ", h("b", timeOfDay(p.watermark))));
      if (live && lag !== undefined && Number.isFinite(lag)) parts.push(h("span.stat" + (lag > 10_000 ? ".warn" : ""), { title: "how far the watermark is behind the wall clock" }, `${formatDuration(Math.max(0, lag))} behind`));
    }
    if (p.late_rows) parts.push(h("span.stat.warn", { title: "rows that arrived after the watermark had passed them and were dropped" }, `${formatCount(p.late_rows)} late`));
    if (took > 0 && (!live || !running)) parts.push(h("span.stat.muted", formatDuration(took)));
    // A durable job's progress carries its checkpoint counts, also when
    // this run joined it without asking for durability.
    if (live && running && (this.spec?.durable || p.checkpoints_completed !== undefined)) {
      const text = checkpointText(p);
      parts.push(h("span.stat.ckpt", { title: checkpointTitle(p), "data-checkpoint": String(p.checkpoint_id || 0) },
        text || "no checkpoint yet", p.checkpoints_failed ? h("span.warn", ` · ${p.checkpoints_failed} failed`) : null));
    }
    if (this.job) parts.push(h("span.stat.muted", { title: "the server job this result comes from" }, this.job));
    clear(this.status, parts);
  }

  private drawControls(cols: Column[], p: ReturnType<typeof plan>) {
    const set = this.o.setChart;
    const ctl: HTMLElement[] = [];
    if (p) {
      ctl.push(h("div.seg",
        ...(["both", "chart", "table"] as const).map((v) => h("button.seg-btn" + (this.view === v ? ".on" : ""), { title: `show ${v === "both" ? "chart and table" : v}`, onclick: () => { this.view = v; this.refresh(); } }, v === "both" ? "Both" : v === "chart" ? icon("chart") : icon("table")))));
    }
    if (set) {
      const c = this.o.chart() || { type: "auto" };
      const type = h("select.sel", { title: "chart type", onchange: (e: Event) => set({ ...c, type: (e.target as HTMLSelectElement).value as Chart["type"] }) },
        ...["auto", "line", "bar", "table"].map((t) => h("option", { value: t, selected: (c.type || "auto") === t }, t === "auto" ? "Chart: auto" : t === "table" ? "Table only" : t[0].toUpperCase() + t.slice(1))));
      ctl.push(type);
      if (p) {
        const xSel = h("select.sel", { title: "x axis", onchange: (e: Event) => set({ ...c, type: c.type === "auto" ? p.type : c.type, x: (e.target as HTMLSelectElement).value }) },
          ...cols.map((col, i) => h("option", { value: col.name, selected: i === p.x }, "x: " + col.name)));
        ctl.push(xSel);
        const ys = new Set(p.y.map((i) => cols[i].name));
        const menu = h("div.menu", ...cols.filter((col, i) => i !== p.x && isNumeric(col.type)).map((col) =>
          h("label.menu-item", h("input", { type: "checkbox", checked: ys.has(col.name), onchange: (e: Event) => {
            const on = (e.target as HTMLInputElement).checked;
            const next = cols.filter((cc) => (cc.name === col.name ? on : ys.has(cc.name))).map((cc) => cc.name);
            if (next.length) set({ ...c, type: c.type === "auto" ? p.type : c.type, x: cols[p.x].name, y: next });
          } }), col.name)));
        const yBtn = h("details.ysel", h("summary.sel", `y: ${[...ys].join(", ")}`), menu);
        ctl.push(yBtn);
      }
    }
    clear(this.controls, ctl);
  }
}

