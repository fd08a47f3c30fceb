// plan.ts chooses how a result is drawn: a line chart when it has a time
// column and numeric ones, else a table; the cell's chart settings override.
import type { Chart, Column } from "./api";
import { isNumeric, isTime } from "./format";

export interface Plan { type: "line" | "bar"; x: number; y: number[] }

/** plan picks the chart for a result, or null for a table only. */
export function plan(columns: Column[], c: Chart | undefined): Plan | null {
  const type = c?.type || "auto";
  if (type === "table" || columns.length < 2) return null;
  const idx = (name?: string) => (name ? columns.findIndex((col) => col.name === name) : -1);
  const times = columns.map((col, i) => (isTime(col.type) ? i : -1)).filter((i) => i >= 0);
  const nums = (x: number) => columns.map((col, i) => (i !== x && isNumeric(col.type) && !/(^|_)id$/.test(col.name) ? i : -1)).filter((i) => i >= 0);
  const chosenY = (x: number) => {
    const ys = (c?.y || []).map(idx).filter((i) => i >= 0 && i !== x);
    return ys.length ? ys : nums(x).slice(0, 4);
  };
  if (type === "auto" || type === "line") {
    let x = idx(c?.x);
    if (x < 0) x = times.length ? times[0] : type === "line" ? 0 : -1;
    if (x < 0) return null;
    const y = chosenY(x);
    if (!y.length) return null;
    return { type: "line", x, y };
  }
  let x = idx(c?.x);
  if (x < 0) x = columns.findIndex((col) => !isNumeric(col.type));
  if (x < 0) x = 0;
  const y = chosenY(x);
  return y.length ? { type: "bar", x, y: y.slice(0, 3) } : null;
}

