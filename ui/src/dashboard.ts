// dashboard.ts: a notebook's pinned cells (dashboard: true) as tiles in a
// grid, each running as soon as the page opens. Live cells keep updating;
// the server runs one job for all viewers of the same live query.
import type { Cell, Notebook } from "./api";
import { clear, h, icon } from "./dom";
import { Output } from "./output";
import { store } from "./store";

export class DashboardPage {
  el = h("main.page.dashboard");
  private outputs: Output[] = [];

  constructor(private name: string, private go: (path: string) => void) {}

  async mount(): Promise<HTMLElement> {
    let nb: Notebook;
    try { nb = await store.get(this.name); } catch (e) {
      clear(this.el, h("div.empty-page", h("h2", "Notebook not found"), h("p", String((e as Error).message))));
      return this.el;
    }
    const cells = (nb.cells || []).filter((c) => c.kind === "sql" && c.dashboard);
    const back = h("button.btn", { onclick: () => this.go(`/notebooks/${this.name}`), title: "Back to the notebook" }, icon("list"), "Notebook");
    const head = h("div.nb-head", h("div.nb-title", h("h1.title-static", nb.title || this.name), h("span.nb-name", "dashboard")), h("div.nb-actions", back));
    if (!cells.length) {
      clear(this.el, head, h("div.empty-page", h("h2", "Nothing pinned yet"), h("p", "Pin a SQL cell with its ", icon("pin"), " button in the notebook; it shows up here, running live.")));
      return this.el;
    }
    const grid = h("div.grid");
    for (const cell of cells) grid.append(this.tile(nb, cell));
    clear(this.el, head, grid);
    return this.el;
  }

  private tile(nb: Notebook, cell: Cell) {
    const state = h("span.tile-state");
    const out = new Output({ chart: () => cell.chart, compact: true, tableHeight: 210, chartHeight: 210 });
    this.outputs.push(out);
    const el = h("section.tile", { "data-cell": cell.id }, h("div.tile-head", h("h3", titleOf(nb, cell)), state), out.el);
    queueMicrotask(() => out.start({ sql: cell.source, mode: cell.mode || "live", from: cell.from || "", to: cell.to || "", durable: !!cell.durable }));
    return el;
  }

  unmount() { for (const o of this.outputs) o.stop(); }
}

/** titleOf names a tile: the cell's title, its SQL's leading comment, the
 * heading of the text cell above it, or its id. */
export function titleOf(nb: Notebook, cell: Cell): string {
  if (typeof cell.title === "string" && cell.title) return cell.title;
  const m = cell.source.match(/^\s*--\s*(.+)/);
  if (m) return m[1].split(/: |\. /)[0].replace(/\.$/, "").trim();
  const i = nb.cells.indexOf(cell);
  for (let j = i - 1; j >= 0 && j >= i - 2; j--) {
    const c = nb.cells[j];
    if (c.kind === "markdown") {
      const hd = c.source.match(/^#{1,6}\s+(.+)$/m);
      if (hd) return hd[1].replace(/[*_`]/g, "").trim();
    } else break;
  }
  return cell.id;
}
