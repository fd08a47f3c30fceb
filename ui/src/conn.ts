// conn.ts: one websocket per page (docs/api.md), shared by every cell.
// Runs ask for Arrow; rows then arrive as binary frames
// (uint32 LE header length | JSON header | Arrow IPC stream) which are
// decoded here into plain rows, so the rest of the UI sees one shape
// whichever format the server used.
import { tableFromIPC, Type } from "apache-arrow";
import type { Column } from "./api";

/** durable: a live run that keeps running without viewers and survives a
 * restart of the server (docs/api.md, "Durable jobs"). */
export interface RunSpec { sql: string; mode: "backfill" | "live"; from?: string; to?: string; durable?: boolean }

/** Checkpoint figures of a durable job, in progress messages and /api/jobs. */
export interface CheckpointFigures {
  checkpoint_id?: number; checkpoint_ms?: number; checkpoint_bytes?: number; checkpoint_alignment_ms?: number;
  checkpoint_at?: string; checkpoints_completed?: number; checkpoints_failed?: number;
}

export interface Progress extends CheckpointFigures {
  rows_in?: number; rows_out?: number; bytes_read?: number; bytes_total?: number; rows_total?: number;
  splits_done?: number; splits_total?: number; watermark?: string; late_rows?: number; lag_ms?: number; rows_per_sec?: number;
  job?: string;
}

/** Handlers receive one run's messages; stmt numbers a script's statements. */
export interface RunHandlers {
  schema(stmt: number, columns: Column[], job?: string): void;
  rows(stmt: number, ops: string[], rows: unknown[][]): void;
  progress(p: Progress): void;
  done(stmt: number, m: { rows_out?: number; elapsed_ms?: number; message?: string }): void;
  /** cancelled: the run was stopped on purpose (cancel, the job list, shutdown), not failed. */
  error(message: string, line?: number, column?: number, cancelled?: boolean): void;
}

export interface Run { id: string; cancel(): void }

type Listener = (state: "connecting" | "open" | "closed") => void;

let seq = 0;

export class Conn {
  private ws?: WebSocket;
  private runs = new Map<string, { spec: RunSpec; h: RunHandlers; format: string }>();
  private queue: string[] = [];
  private arrow = true; // cleared when the server says it does not speak Arrow
  private backoff = 250;
  private listeners = new Set<Listener>();
  state: "connecting" | "open" | "closed" = "closed";

  constructor(private url: string) { this.connect(); }

  onState(l: Listener) { this.listeners.add(l); l(this.state); return () => this.listeners.delete(l); }

  private setState(s: "connecting" | "open" | "closed") {
    this.state = s;
    this.listeners.forEach((l) => l(s));
  }

  private connect() {
    this.setState("connecting");
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 250;
      this.setState("open");
      for (const m of this.queue.splice(0)) ws.send(m);
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.setState("closed");
      // Runs die with their connection: tell their cells, then reconnect.
      // A durable run is asked for again once reconnected: its job kept
      // running (or the restarted server restored it), and the run joins
      // it, getting its schema and folded result anew.
      this.queue = [];
      for (const [id, r] of this.runs) {
        if (r.spec.durable && r.spec.mode === "live") { this.queue.push(this.runMessage(id, r.spec, r.format)); continue; }
        r.h.error("the connection to weir was lost; run the cell again");
        this.runs.delete(id);
      }
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 5000);
    };
  }

  private send(m: object | string) {
    const s = typeof m === "string" ? m : JSON.stringify(m);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(s);
    else this.queue.push(s);
  }

  run(spec: RunSpec, h: RunHandlers): Run {
    const id = `r${++seq}`;
    const format = this.arrow ? "arrow" : "json";
    this.runs.set(id, { spec, h, format });
    this.send(this.runMessage(id, spec, format));
    return {
      id,
      cancel: () => this.cancel(id),
    };
  }

  private runMessage(id: string, spec: RunSpec, format: string): string {
    return JSON.stringify({ type: "run", id, sql: spec.sql, mode: spec.mode, from: spec.from || "", to: spec.to || "", format, ...(spec.durable && spec.mode === "live" ? { durable: true } : {}) });
  }

  private receive(data: unknown) {
    if (data instanceof ArrayBuffer) return this.receiveArrow(data);
    let m: any;
    try { m = JSON.parse(data as string); } catch { return; }
    const r = this.runs.get(m.id);
    if (!r) return;
    const stmt = m.stmt ?? 0;
    switch (m.type) {
      case "schema": r.h.schema(stmt, m.columns || [], m.job); break;
      case "rows": r.h.rows(stmt, m.ops || [], (m.rows || []).map((row: unknown[]) => row)); break;
      case "progress": r.h.progress(m); break;
      case "done": r.h.done(stmt, m); break;
      case "error":
        if (r.format === "arrow" && /format/.test(m.message) && /not supported/.test(m.message)) {
          // An older server: ask again in JSON, once, and remember.
          this.arrow = false;
          this.runs.delete(m.id);
          const again = this.run(r.spec, r.h);
          this.rename(again.id, m.id);
          return;
        }
        this.runs.delete(m.id);
        r.h.error(m.message || "error", m.line || undefined, m.column || undefined, m.cancelled === true);
        break;
    }
  }

  // rename keeps a retried run reachable under the handle its cell holds.
  private aliases = new Map<string, string>();
  private rename(newID: string, oldID: string) { this.aliases.set(oldID, newID); }
  cancel(id: string) {
    const real = this.aliases.get(id) || id;
    if (this.runs.delete(real)) this.send({ type: "cancel", id: real });
  }

  /** forget drops a finished run's handlers (nothing is sent). */
  forget(id: string) { this.runs.delete(this.aliases.get(id) || id); this.aliases.delete(id); }

  private receiveArrow(buf: ArrayBuffer) {
    const n = new DataView(buf).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
    const r = this.runs.get(header.id);
    if (!r) return;
    const table = tableFromIPC(new Uint8Array(buf, 4 + n));
    const fields = table.schema.fields;
    const opIdx = fields.findIndex((f) => f.name === "__op");
    const cols = fields.map((_, i) => table.getChildAt(i)!);
    const conv = fields.map((f) => converter(f.type.typeId));
    const rows: unknown[][] = [];
    const ops: string[] = [];
    for (let i = 0; i < table.numRows; i++) {
      const row: unknown[] = [];
      for (let c = 0; c < cols.length; c++) {
        if (c === opIdx) continue;
        const v = cols[c].isValid(i) ? cols[c].get(i) : null;
        row.push(v === null ? null : conv[c](v));
      }
      rows.push(row);
      ops.push(opIdx >= 0 && Number(cols[opIdx].get(i)) < 0 ? "-" : "+");
    }
    r.h.rows(header.stmt ?? 0, ops, rows);
  }
}

// converter maps Arrow values to the JSON protocol's: timestamps as RFC
// 3339 strings, dates as YYYY-MM-DD, 64-bit integers as numbers.
function converter(t: Type): (v: any) => unknown {
  switch (t) {
    case Type.Timestamp: return (v) => new Date(Number(v)).toISOString();
    case Type.Date: return (v) => new Date(Number(v)).toISOString().slice(0, 10);
    case Type.Int: return (v) => (typeof v === "bigint" ? Number(v) : v);
    case Type.Float: return (v) => (Number.isFinite(v) ? v : String(v));
    case Type.Bool: case Type.Utf8: case Type.LargeUtf8: return (v) => v;
    default: return (v) => (typeof v === "bigint" ? Number(v) : typeof v === "object" ? String(v) : v);
  }
}

export const conn = new Conn(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
