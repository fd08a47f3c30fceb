// table.ts: a virtualized result table. Only the rows in view are in the
// DOM, so a result of 100,000 rows scrolls as smoothly as one of ten.
// Rows changed in the last second are highlighted; a header click sorts.
import { h } from "./dom";
import { formatValue, isNumeric } from "./format";
import type { Result } from "./result";

const ROW = 26; // px, matches .rt-row in app.css

export class ResultTable {
  el: HTMLElement;
  private body: HTMLElement;
  private spacer: HTMLElement;
  private rowsEl: HTMLElement;
  private head: HTMLElement;
  private template = "";
  private sortCol = -1;
  private sortDesc = false;
  private order: number[] | null = null;
  private orderVersion = -1;
  private drawn = "";
  private lastColumns: unknown = null;
  private sized = false; // widths were measured on rows

  constructor(private result: Result, private maxHeight = 360, private highlight = true) {
    this.head = h("div.rt-head");
    this.rowsEl = h("div.rt-rows");
    this.spacer = h("div.rt-spacer", this.rowsEl);
    this.body = h("div.rt-body", { style: { maxHeight: `${maxHeight}px` }, onscroll: () => this.draw(true) }, this.head, this.spacer);
    this.el = h("div.rt", this.body);
  }

  setMaxHeight(px: number) { this.maxHeight = px; this.body.style.maxHeight = `${px}px`; }

  /** draw renders what is in view; cheap when nothing changed. */
  draw(force = false) {
    const r = this.result;
    if (r.columns !== this.lastColumns || (!this.sized && r.length > 0)) this.layout();
    const n = r.length;
    const top = this.body.scrollTop;
    const height = this.body.clientHeight || this.maxHeight;
    const first = Math.max(0, Math.floor(top / ROW) - 5);
    const last = Math.min(n, Math.ceil((top + height) / ROW) + 5);
    const key = `${r.version}:${first}:${last}:${this.sortCol}:${this.sortDesc}`;
    if (!force && key === this.drawn && !this.fresh) return;
    this.drawn = key;
    this.spacer.style.height = `${n * ROW}px`;
    const order = this.sorted();
    const now = performance.now();
    this.fresh = false;
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const slot = r.slots[order ? order[i] : i];
      const age = now - slot.at;
      const row = h("div.rt-row", { style: { top: `${i * ROW}px`, gridTemplateColumns: this.template } });
      if (this.highlight && age < 1200 && r.version > 1) { row.classList.add("fresh"); this.fresh = true; }
      slot.row.forEach((v, c) => {
        const col = r.columns[c];
        const text = formatValue(v, col ? col.type : "");
        row.append(h("div.rt-cell" + (col && isNumeric(col.type) ? ".num" : "") + (v === null ? ".null" : ""), { title: text.length > 24 ? text : undefined }, text));
      });
      frag.append(row);
    }
    this.rowsEl.replaceChildren(frag);
  }
  private fresh = false;
  /** needsFrame reports whether highlighted rows still fade (redraw soon). */
  get animating() { return this.fresh; }

  private layout() {
    const r = this.result;
    if (r.columns !== this.lastColumns) { this.sortCol = -1; this.order = null; }
    this.lastColumns = r.columns;
    const sample = r.slots.slice(0, 200);
    this.sized = sample.length > 0;
    const widths = r.columns.map((c, i) => {
      let w = Math.max(c.name.length, c.type.length * 0.8) + 2;
      if (!sample.length && c.type.startsWith("timestamp")) w = 19;
      for (const s of sample) w = Math.max(w, formatValue(s.row[i], c.type).length);
      return Math.min(Math.max(w * 7.6 + 24, 72), 380);
    });
    this.template = widths.map((w) => `${Math.round(w)}px`).join(" ");
    this.head.style.gridTemplateColumns = this.template;
    this.head.replaceChildren(...r.columns.map((c, i) =>
      h("div.rt-th" + (isNumeric(c.type) ? ".num" : ""), { title: `${c.name} (${c.type}) — click to sort`, onclick: () => this.sortBy(i) },
        h("span.rt-name", c.name), h("span.rt-type", c.type))));
    this.body.style.setProperty("--rt-width", `${widths.reduce((a, b) => a + b, 0)}px`);
  }

  private sortBy(c: number) {
    if (this.sortCol === c) {
      if (this.sortDesc) { this.sortCol = -1; this.sortDesc = false; } else this.sortDesc = true;
    } else { this.sortCol = c; this.sortDesc = false; }
    this.head.querySelectorAll(".rt-th").forEach((th, i) => {
      th.classList.toggle("asc", i === this.sortCol && !this.sortDesc);
      th.classList.toggle("desc", i === this.sortCol && this.sortDesc);
    });
    this.orderVersion = -1;
    this.draw(true);
  }

  private sorted(): number[] | null {
    if (this.sortCol < 0) return null;
    if (this.orderVersion === this.result.version && this.order) return this.order;
    const c = this.sortCol, slots = this.result.slots, dir = this.sortDesc ? -1 : 1;
    const order = slots.map((_, i) => i);
    order.sort((a, b) => {
      const x = slots[a].row[c] as any, y = slots[b].row[c] as any;
      if (x === y) return a - b;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    });
    this.order = order;
    this.orderVersion = this.result.version;
    return order;
  }
}
