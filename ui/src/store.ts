// store.ts: notebooks over the HTTP API. While a server has no notebook
// endpoints (404), notebooks live in this browser's localStorage instead,
// so the page stays usable; the UI says so.
import { api, missing, type Notebook, type NotebookInfo } from "./api";

const KEY = "weir.notebooks";
export let local = false;

function readLocal(): Record<string, Notebook> {
  try { return JSON.parse(localStorage.getItem(KEY) || "{}"); } catch { return {}; }
}
function writeLocal(all: Record<string, Notebook>) { localStorage.setItem(KEY, JSON.stringify(all)); }

const scratch: Notebook = {
  title: "Scratch",
  cells: [
    { id: "intro", kind: "markdown", source: "# Scratch notebook\nThis server does not store notebooks yet, so this one lives in your browser.\nRun a cell with **Shift+Enter**." },
    { id: "bps", kind: "sql", mode: "live", from: "", to: "", source: "SELECT window_start, count(*) AS bids\nFROM TUMBLE(bids, date_time, INTERVAL '1' SECOND)\nGROUP BY window_start, window_end", chart: { type: "auto" }, dashboard: true },
    { id: "hot", kind: "sql", mode: "live", from: "", to: "", source: "SELECT auction, count(*) AS bids\nFROM TUMBLE(bids, date_time, INTERVAL '10' SECOND)\nGROUP BY auction, window_start, window_end\nORDER BY bids DESC LIMIT 10", chart: { type: "table" }, dashboard: true },
  ],
};

async function fallback<T>(remote: () => Promise<T>, offline: () => T): Promise<T> {
  if (!local) {
    try { return await remote(); } catch (e) { if (!missing(e)) throw e; local = true; }
  }
  return offline();
}

export const store = {
  list: () => fallback<NotebookInfo[]>(api.notebooks, () => {
    const all = readLocal();
    if (!all.scratch) all.scratch = scratch;
    return Object.entries(all).map(([name, nb]) => ({ name, title: nb.title, modified: nb.modified || "" })).sort((a, b) => a.name.localeCompare(b.name));
  }),
  get: (name: string) => fallback<Notebook>(() => api.notebook(name), () => {
    const nb = readLocal()[name] || (name === "scratch" ? scratch : null);
    if (!nb) throw new Error(`no notebook "${name}"`);
    return { ...structuredClone(nb), name };
  }),
  put: (name: string, nb: Notebook) => fallback<Notebook>(() => api.save(name, nb), () => {
    const all = readLocal();
    all[name] = { ...nb, name, modified: new Date().toISOString() };
    writeLocal(all);
    return all[name];
  }),
  remove: (name: string) => fallback<void>(() => api.remove(name), () => {
    const all = readLocal();
    delete all[name];
    writeLocal(all);
  }),
};

/** newID makes a short cell id that is unique enough within a notebook. */
export const newID = () => Math.random().toString(36).slice(2, 8);
