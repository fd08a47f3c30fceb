// home.ts: the start page — the workspace's notebooks and its tables.
import { clear, h, icon } from "./dom";
import { loadTables } from "./editor";
import { local, newID, store } from "./store";

export class HomePage {
  el = h("main.page.home");
  constructor(private go: (path: string) => void) {}

  async mount(): Promise<HTMLElement> {
    const list = h("div.nb-list", h("p.muted", "Loading…"));
    const tables = h("div.tables");
    clear(this.el,
      h("section.hero",
        h("h1", "Notebooks"),
        h("p.lead", "SQL over history and live streams, one engine: a backfill over last month and a live run over the same events give identical results."),
        h("button.btn.primary", { onclick: () => this.create(), "data-testid": "new-notebook" }, icon("plus"), "New notebook")),
      list,
      h("h2.section", "Tables"),
      tables);
    try {
      const nbs = await store.list();
      clear(list, nbs.length ? nbs.map((nb) => h("a.nb-card", { href: `/notebooks/${nb.name}`, "data-notebook": nb.name, onclick: (e: MouseEvent) => { if (!e.metaKey && !e.ctrlKey) { e.preventDefault(); this.go(`/notebooks/${nb.name}`); } } },
        h("div.nb-card-title", nb.title || nb.name),
        h("div.nb-card-meta", h("span", nb.name), nb.modified ? h("span", ago(nb.modified)) : null),
        h("button.tool.danger.nb-del", { title: "Delete notebook", onclick: async (e: Event) => {
          e.preventDefault(); e.stopPropagation();
          if (!confirm(`Delete the notebook "${nb.title || nb.name}"?`)) return;
          await store.remove(nb.name);
          void this.mount();
        } }, icon("trash")))) : h("p.muted", "No notebooks yet."));
      if (local) list.append(h("p.muted.small.wide", "This server does not store notebooks yet; they are kept in this browser."));
    } catch (e) {
      clear(list, h("p.error-box", `Could not list notebooks: ${(e as Error).message}`));
    }
    const ts = await loadTables(true);
    clear(tables, ts.length ? ts.map((t) => h("div.table-card",
      h("div.table-name", h("code", t.name), t.live ? h("span.tag.live", "live") : null, t.history ? h("span.tag", "history") : null, t.view ? h("span.tag", "view") : null),
      h("div.table-cols", t.columns.map((c) => h("span.col" + (t.event_time === c.name ? ".et" : ""), { title: t.event_time === c.name ? `${c.type}, the event time (watermarks and windows follow it)` : c.type }, c.name))))) : h("p.muted.wide", "The server does not list tables yet — try SELECT * FROM bids in a live cell."));
    return this.el;
  }

  private async create() {
    const name = `notebook-${newID()}`;
    await store.put(name, { title: "Untitled notebook", cells: [
      { id: newID(), kind: "sql", source: "SELECT window_start, count(*) AS bids\nFROM TUMBLE(bids, date_time, INTERVAL '1' SECOND)\nGROUP BY window_start, window_end", mode: "live", from: "", to: "", chart: { type: "auto" } },
    ] });
    this.go(`/notebooks/${name}`);
  }

  unmount() {}
}

function ago(t: string): string {
  const s = (Date.now() - Date.parse(t)) / 1000;
  if (!Number.isFinite(s)) return "";
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toISOString().slice(0, 10);
}
