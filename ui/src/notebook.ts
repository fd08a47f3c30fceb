// notebook.ts: the notebook page — ordered cells (SQL and markdown), each
// with its mode and chart settings; saved to the server as the user edits.
import type { EditorView } from "@codemirror/view";
import type { Cell, Chart, Notebook } from "./api";
import { clear, h, icon } from "./dom";
import { clearError, createEditor, showError } from "./editor";
import { escapeHTML, renderMarkdown } from "./markdown";
import { Output } from "./output";
import { newID, store, local } from "./store";

type SaveState = "saved" | "dirty" | "saving" | "failed";

interface CellView { cell: Cell; el: HTMLElement; editor?: EditorView; output?: Output; run?(): void }

export class NotebookPage {
  el = h("main.page.notebook");
  private cellsEl = h("div.cells");
  private saveEl = h("span.save-state");
  private views: CellView[] = [];
  private saveState: SaveState = "saved";
  private saveTimer = 0;
  private nb!: Notebook;

  constructor(private name: string, private go: (path: string) => void) {}

  async mount(): Promise<HTMLElement> {
    try {
      this.nb = await store.get(this.name);
    } catch (e) {
      clear(this.el, h("div.empty-page", h("h2", "Notebook not found"), h("p", String((e as Error).message)), h("a.btn", { href: "/", onclick: (ev: Event) => { ev.preventDefault(); this.go("/"); } }, "All notebooks")));
      return this.el;
    }
    this.nb.cells ||= [];
    const title = h("input.title", { value: this.nb.title || this.name, "aria-label": "notebook title", spellcheck: false, oninput: (e: Event) => { this.nb.title = (e.target as HTMLInputElement).value; this.dirty(); } });
    clear(this.el,
      h("div.nb-head",
        h("div.nb-title", title, h("span.nb-name", this.name + (local ? " · in this browser" : ""))),
        h("div.nb-actions",
          this.saveEl,
          h("button.btn", { title: "Run every SQL cell, top to bottom", onclick: () => this.runAll() }, icon("play"), "Run all"),
          h("button.btn", { title: "Open the dashboard: the pinned cells, running live", onclick: () => this.go(`/notebooks/${this.name}/dashboard`), "data-testid": "open-dashboard" }, icon("grid"), "Dashboard"))),
      this.cellsEl);
    this.render();
    this.drawSave();
    return this.el;
  }

  unmount() {
    for (const v of this.views) { v.output?.stop(); v.editor?.destroy(); }
    if (this.saveState === "dirty") void this.save();
  }

  get unsaved() { return this.saveState === "dirty" || this.saveState === "saving" || this.saveState === "failed"; }

  private render() {
    this.views = this.nb.cells.map((c) => this.cellView(c));
    this.layout();
  }

  // layout puts the cells' elements in order, with an inserter between
  // each; existing elements are moved, so editors and outputs survive.
  private layout() {
    const items: HTMLElement[] = [this.inserter(0)];
    this.views.forEach((v, i) => items.push(v.el, this.inserter(i + 1)));
    if (!this.views.length) items.push(h("div.empty", "An empty notebook. Add a SQL cell to start."));
    this.cellsEl.replaceChildren(...items);
  }

  private inserter(at: number) {
    return h("div.inserter",
      h("button.ins", { title: "Add a SQL cell here", onclick: () => this.add(at, "sql") }, icon("plus"), "SQL"),
      h("button.ins", { title: "Add a text cell here", onclick: () => this.add(at, "markdown") }, icon("plus"), "Text"));
  }

  private add(at: number, kind: "sql" | "markdown") {
    const cell: Cell = kind === "sql"
      ? { id: newID(), kind, source: "", mode: "backfill", from: "", to: "", chart: { type: "auto" } }
      : { id: newID(), kind, source: "" };
    this.nb.cells.splice(at, 0, cell);
    const v = this.cellView(cell);
    this.views.splice(at, 0, v);
    this.layout();
    this.dirty();
    if (v.editor) v.editor.focus();
    else v.el.querySelector<HTMLTextAreaElement>("textarea")?.focus();
  }

  private move(cell: Cell, by: number) {
    const i = this.nb.cells.indexOf(cell), j = i + by;
    if (j < 0 || j >= this.nb.cells.length) return;
    this.nb.cells.splice(i, 1);
    this.nb.cells.splice(j, 0, cell);
    // Move the DOM nodes rather than rebuild: outputs and editors survive.
    const vi = this.views.findIndex((v) => v.cell === cell);
    const [v] = this.views.splice(vi, 1);
    this.views.splice(j, 0, v);
    this.layout();
    v.el.scrollIntoView({ block: "nearest" });
    this.dirty();
  }

  private remove(cell: Cell) {
    const i = this.nb.cells.indexOf(cell);
    const v = this.views[i];
    v.output?.stop();
    v.editor?.destroy();
    this.nb.cells.splice(i, 1);
    this.views.splice(i, 1);
    this.layout();
    this.dirty();
  }

  private cellTools(cell: Cell, extra: HTMLElement[] = []) {
    return h("div.cell-tools",
      ...extra,
      h("button.tool", { title: "Move up", onclick: () => this.move(cell, -1) }, icon("up")),
      h("button.tool", { title: "Move down", onclick: () => this.move(cell, 1) }, icon("down")),
      h("button.tool.danger", { title: "Delete cell", onclick: () => this.remove(cell) }, icon("trash")));
  }

  private cellView(cell: Cell): CellView {
    return cell.kind === "markdown" ? this.markdownCell(cell) : this.sqlCell(cell);
  }

  private markdownCell(cell: Cell): CellView {
    const view = h("div.md");
    const area = h("textarea.md-src", { spellcheck: true, placeholder: "Markdown: # heading, **bold**, `code`, - lists, [links](https://…)" }) as HTMLTextAreaElement;
    const el = h("section.cell.markdown", { "data-cell": cell.id });
    const show = () => {
      view.innerHTML = cell.source.trim() ? renderMarkdown(cell.source) : `<p class="muted">${escapeHTML("Empty text cell — double-click to write.")}</p>`;
      el.classList.remove("editing");
    };
    const edit = () => {
      area.value = cell.source;
      el.classList.add("editing");
      autosize();
      area.focus();
    };
    const autosize = () => { area.style.height = "auto"; area.style.height = `${area.scrollHeight + 2}px`; };
    area.addEventListener("input", () => { cell.source = area.value; autosize(); this.dirty(); });
    area.addEventListener("keydown", (e) => {
      if ((e.key === "Enter" && (e.shiftKey || e.ctrlKey || e.metaKey)) || e.key === "Escape") { e.preventDefault(); show(); }
      if (e.key === "s" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); void this.save(); }
    });
    area.addEventListener("blur", () => show());
    view.addEventListener("dblclick", edit);
    el.append(
      h("div.cell-gutter"),
      h("div.cell-main", this.cellTools(cell, [h("button.tool", { title: "Edit text", onclick: edit }, icon("edit"))]), view, area));
    show();
    if (!cell.source) queueMicrotask(edit);
    return { cell, el };
  }

  private sqlCell(cell: Cell): CellView {
    const el = h("section.cell.sql", { "data-cell": cell.id });
    const v: CellView = { cell, el };
    cell.mode ||= "backfill";
    const runBtn = h("button.run", { title: "Run (Shift+Enter)", "aria-label": "run cell" }, icon("play"));
    const edHost = h("div.editor");
    const output = new Output({
      chart: () => cell.chart,
      setChart: (c: Chart) => { cell.chart = c; this.dirty(); output.refresh(); },
      onError: (msg, line, col) => { if (v.editor) showError(v.editor, msg, line, col); },
      onState: (s) => {
        el.dataset.state = s;
        runBtn.replaceChildren(icon(s === "running" ? "stop" : "play"));
        runBtn.title = s === "running" ? "Stop" : "Run (Shift+Enter)";
        runBtn.classList.toggle("stop", s === "running");
      },
    });
    v.output = output;
    const run = () => {
      if (v.editor) clearError(v.editor);
      output.start({ sql: cell.source, mode: cell.mode || "backfill", from: cell.from || "", to: cell.to || "", durable: !!cell.durable });
    };
    v.run = run;
    runBtn.addEventListener("click", () => (output.state === "running" ? output.stop() : run()));

    const range = h("div.range");
    const timeInput = (key: "from" | "to", label: string) => h("label.time", h("span", label),
      h("input", { value: cell[key] || "", placeholder: key === "from" ? (cell.mode === "live" ? "now" : "start") : "end", spellcheck: false, title: "RFC 3339, e.g. 2026-01-01T00:00:00Z (empty: unbounded)",
        oninput: (e: Event) => { cell[key] = (e.target as HTMLInputElement).value.trim(); this.dirty(); } }));
    // A live run may keep running on the server: a durable job, restored
    // when weir restarts (docs/api.md, "Durable jobs").
    const keep = () => h("label.keep", { title: "Keep running on the server when nobody watches, checkpointed, and restored when weir restarts. Stop it in Jobs." },
      h("input", { type: "checkbox", checked: !!cell.durable, "data-testid": "keep-running", onchange: (e: Event) => { cell.durable = (e.target as HTMLInputElement).checked; this.dirty(); } }),
      h("span", "keep running"));
    const drawRange = () => clear(range, timeInput("from", "from"), cell.mode === "backfill" ? timeInput("to", "to") : keep());
    const modeBtn = (m: "backfill" | "live", label: string, tip: string) => h("button.seg-btn" + (cell.mode === m ? ".on" : ""), { title: tip, "data-mode": m, onclick: (e: Event) => {
      cell.mode = m;
      (e.currentTarget as HTMLElement).parentElement!.querySelectorAll(".seg-btn").forEach((b) => b.classList.toggle("on", (b as HTMLElement).dataset.mode === m));
      el.dataset.mode = m;
      drawRange();
      this.dirty();
    } }, label);
    el.dataset.mode = cell.mode;
    drawRange();
    const pin = h("button.tool" + (cell.dashboard ? ".on" : ""), { title: cell.dashboard ? "On the dashboard (click to remove)" : "Show on the dashboard", onclick: (e: Event) => {
      cell.dashboard = !cell.dashboard;
      (e.currentTarget as HTMLElement).classList.toggle("on", !!cell.dashboard);
      (e.currentTarget as HTMLElement).title = cell.dashboard ? "On the dashboard (click to remove)" : "Show on the dashboard";
      this.dirty();
    } }, icon("pin"));
    el.append(
      h("div.cell-gutter", runBtn),
      h("div.cell-main",
        h("div.cell-bar",
          h("div.seg.mode", modeBtn("backfill", "Backfill", "Run over history, from–to, and finish"), modeBtn("live", "Live", "Run on the live feed and keep updating")),
          range,
          h("span.spacer"),
          this.cellTools(cell, [pin])),
        edHost,
        output.el));
    v.editor = createEditor(edHost, cell.source, {
      onRun: run,
      onSave: () => void this.save(),
      onChange: (doc) => { cell.source = doc; this.dirty(); },
    });
    return v;
  }

  private async runAll() {
    for (const v of this.views) {
      if (!v.run || !v.output) continue;
      v.run();
      if (v.cell.mode === "live") continue;
      // Backfills run in order: a later cell may read a view an earlier one made.
      const out = v.output;
      await new Promise<void>((resolve) => {
        const check = () => (out.state === "running" ? setTimeout(check, 50) : resolve());
        check();
      });
      if (v.output.state === "error") break;
    }
  }

  private dirty() {
    this.saveState = "dirty";
    this.drawSave();
    window.clearTimeout(this.saveTimer);
    this.saveTimer = window.setTimeout(() => void this.save(), 800);
  }

  async save() {
    window.clearTimeout(this.saveTimer);
    if (this.saveState === "saved") return;
    this.saveState = "saving";
    this.drawSave();
    const body: Notebook = { ...this.nb, cells: this.nb.cells.map((c) => ({ ...c })) };
    delete body.name;
    delete body.modified;
    try {
      const saved = await store.put(this.name, body);
      if (this.saveState === "saving") this.saveState = "saved";
      if (saved && saved.modified) this.nb.modified = saved.modified;
    } catch (e) {
      this.saveState = "failed";
      this.saveEl.title = String((e as Error).message);
    }
    this.drawSave();
  }

  private drawSave() {
    const text = { saved: "Saved", dirty: "Unsaved changes", saving: "Saving…", failed: "Not saved — retry" }[this.saveState];
    this.saveEl.className = `save-state ${this.saveState}`;
    this.saveEl.dataset.state = this.saveState;
    clear(this.saveEl, this.saveState === "failed"
      ? h("button.link", { onclick: () => { this.saveState = "dirty"; void this.save(); } }, text)
      : text);
  }
}
