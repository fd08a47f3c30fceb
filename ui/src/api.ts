// api.ts: the HTTP half of docs/api.md (notebooks, tables, jobs).
import type { CheckpointFigures } from "./conn";

export interface Column { name: string; type: string }
export interface Table { name: string; columns: Column[]; event_time?: string; history?: string; live?: string; view?: boolean }
export interface Chart { type: "auto" | "table" | "line" | "bar"; x?: string; y?: string[] }
export interface Cell {
  id: string;
  kind: "sql" | "markdown";
  source: string;
  mode?: "backfill" | "live";
  from?: string;
  to?: string;
  chart?: Chart;
  dashboard?: boolean;
  /** durable: a live run keeps running on the server without viewers. */
  durable?: boolean;
  [unknown: string]: unknown; // kept as they are (the server keeps them too)
}
export interface Notebook { name?: string; title: string; modified?: string; cells: Cell[]; [unknown: string]: unknown }
export interface NotebookInfo { name: string; title: string; modified: string }
export interface Job extends CheckpointFigures {
  id: string; sql: string; mode: string; from?: string; to?: string; state: string; started: string; viewers: number; rows_out: number;
  ended?: string; error?: string; lag_ms?: number;
  durable?: boolean; name?: string; created?: string; resumed_from?: number;
  restarts?: number; last_failure?: string; savepoint?: { id: number; location: string };
}

/** ApiError carries the server's error object (message, line, column). */
export class ApiError extends Error {
  constructor(public status: number, message: string, public line?: number, public column?: number) { super(message); }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!res.ok) {
    let msg = `${method} ${path}: ${res.status} ${res.statusText}`;
    let line, column;
    try {
      const e = await res.json();
      if (e && e.message) ({ message: msg, line, column } = e);
    } catch { /* not JSON */ }
    throw new ApiError(res.status, msg, line, column);
  }
  if (res.status === 204) return undefined as T;
  return res.json();
}

export const api = {
  notebooks: () => call<{ notebooks: NotebookInfo[] }>("GET", "/api/notebooks").then((r) => r.notebooks || []),
  notebook: (name: string) => call<Notebook>("GET", `/api/notebooks/${encodeURIComponent(name)}`),
  save: (name: string, nb: Notebook) => call<Notebook>("PUT", `/api/notebooks/${encodeURIComponent(name)}`, nb),
  remove: (name: string) => call<void>("DELETE", `/api/notebooks/${encodeURIComponent(name)}`),
  tables: () => call<{ tables: Table[] }>("GET", "/api/tables").then((r) => r.tables || []),
  jobs: () => call<{ jobs: Job[] }>("GET", "/api/jobs").then((r) => r.jobs || []),
  cancelJob: (id: string) => call<void>("DELETE", `/api/jobs/${encodeURIComponent(id)}`),
  savepointJob: (id: string) => call<{ savepoint: { id: number; location: string } }>("DELETE", `/api/jobs/${encodeURIComponent(id)}?savepoint=true`),
};

/** missing reports whether an error means the endpoint is not there (yet). */
export const missing = (e: unknown) => e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501);
