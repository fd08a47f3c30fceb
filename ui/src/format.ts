// format.ts: how values and types look in tables, charts and progress.
import type { CheckpointFigures } from "./conn";

export const isTime = (t: string) => t === "timestamp" || t === "date" || t.startsWith("timestamp");
export const isNumeric = (t: string) => ["bigint", "integer", "smallint", "double precision", "real", "numeric"].includes(t) || /^(u?int|float|double|decimal)/i.test(t);

/** ms parses a timestamp value (RFC 3339 string) to epoch milliseconds. */
export function ms(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return NaN;
  return Date.parse(v);
}

export function formatValue(v: unknown, type: string): string {
  if (v === null || v === undefined) return "null";
  if (type.startsWith("timestamp") && typeof v === "string") {
    // 2026-01-01T00:00:10.500Z → 2026-01-01 00:00:10.5
    return v.replace("T", " ").replace(/(\.\d*?)0*Z$/, "$1").replace(/\.?Z$/, "").replace(/\.$/, "");
  }
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 1e15 || (Math.abs(v) < 1e-4 && v !== 0) ? v.toExponential(4) : String(Math.round(v * 1e6) / 1e6);
  }
  return String(v);
}

export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1e6) return (n / 1e3).toFixed(n < 1e4 ? 1 : 0) + "k";
  if (n < 1e9) return (n / 1e6).toFixed(n < 1e7 ? 2 : 1) + "M";
  return (n / 1e9).toFixed(2) + "G";
}

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000), s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** timeOfDay shows a watermark compactly: 12:00:03 (UTC). */
export function timeOfDay(v: string): string {
  const t = Date.parse(v);
  if (!Number.isFinite(t)) return v;
  return new Date(t).toISOString().slice(11, 19);
}

/** checkpointText describes a durable job's last checkpoint: its id, age,
 * duration and size ("" before the first one). */
export function checkpointText(c: CheckpointFigures, now = Date.now()): string {
  if (!c.checkpoint_id) return "";
  const parts = [`checkpoint ${c.checkpoint_id}`];
  const at = c.checkpoint_at ? Date.parse(c.checkpoint_at) : NaN;
  if (Number.isFinite(at)) parts.push(`${formatDuration(Math.max(0, now - at))} ago`);
  if (c.checkpoint_ms !== undefined) parts.push(`took ${formatDuration(c.checkpoint_ms)}`);
  if (c.checkpoint_bytes !== undefined) parts.push(formatBytes(c.checkpoint_bytes));
  return parts.join(" · ");
}

/** checkpointTitle is the tooltip with every figure. */
export function checkpointTitle(c: CheckpointFigures): string {
  const lines = ["the job's last completed checkpoint: it resumes from there after a restart"];
  if (c.checkpoint_at) lines.push(`completed ${c.checkpoint_at}`);
  if (c.checkpoint_alignment_ms !== undefined) lines.push(`barrier alignment ${formatDuration(c.checkpoint_alignment_ms)}`);
  lines.push(`${c.checkpoints_completed || 0} completed, ${c.checkpoints_failed || 0} failed`);
  return lines.join("\n");
}
