// chart.ts draws a result as a line or bar chart (uPlot, canvas), chosen
// automatically when the result has a time column and numeric columns, or
// as the cell's chart settings say. Points are capped, so a live chart of
// an endless result keeps its most recent MAX_POINTS x values.
import uPlot from "uplot";
import { h } from "./dom";
import { formatValue, isNumeric, isTime, ms } from "./format";
import type { Plan } from "./plan";
export { plan } from "./plan";
import type { Result } from "./result";

const MAX_POINTS = 2000;
const MAX_BARS = 60;
export const palette = ["#2563eb", "#f59e0b", "#10b981", "#e11d48", "#8b5cf6", "#0891b2", "#84cc16", "#db2777"];

export class ResultChart {
  el: HTMLElement;
  private u?: uPlot;
  private sig = "";
  private width = 600;
  private ro: ResizeObserver;
  private labels: string[] = [];
  private note: HTMLElement;

  constructor(private result: Result, private height = 240) {
    this.note = h("div.chart-note");
    this.el = h("div.chart", this.note);
    this.ro = new ResizeObserver(() => {
      const w = Math.floor(this.el.clientWidth);
      if (w > 0 && w !== this.width) {
        this.width = w;
        this.u?.setSize({ width: w, height: this.height });
      }
    });
    this.ro.observe(this.el);
  }

  setHeight(px: number) { this.height = px; this.u?.setSize({ width: this.width, height: px }); }

  destroy() { this.ro.disconnect(); this.u?.destroy(); this.u = undefined; this.sig = ""; }

  draw(p: Plan) {
    const cols = this.result.columns;
    const sig = `${p.type}:${p.x}:${p.y.join(",")}:${cols.map((c) => c.name).join(",")}`;
    const data = p.type === "line" ? this.lineData(p) : this.barData(p);
    if (sig !== this.sig || !this.u) {
      this.u?.destroy();
      this.sig = sig;
      this.width = Math.floor(this.el.clientWidth) || this.width;
      this.u = new uPlot(this.options(p), data, this.el);
    } else {
      this.u.setData(data);
    }
  }

  private options(p: Plan): uPlot.Options {
    const cols = this.result.columns;
    const time = p.type === "line" && isTime(cols[p.x].type);
    const labels = this.labels;
    const axis = { stroke: "#64748b", grid: { stroke: "rgba(100,116,139,0.14)", width: 1 }, ticks: { stroke: "rgba(100,116,139,0.3)", width: 1, size: 4 }, font: "11px system-ui, sans-serif" };
    return {
      width: this.width,
      height: this.height,
      ms: 1,
      tzDate: (ts) => uPlot.tzDate(new Date(ts), "Etc/UTC"),
      cursor: { points: { size: 6 }, drag: { x: true, y: false } },
      legend: { show: p.y.length > 1, live: true },
      scales: p.type === "bar"
        ? { x: { time: false, range: (_u, min, max) => [min - 0.6, Math.max(max, min + 7) + 0.6] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] } }
        // Counts and sums read best from zero; a nearly flat series would
        // otherwise fill the plot with noise.
        : { x: { time }, y: { range: (_u, min, max) => (min >= 0 ? [0, max > 0 ? max * 1.1 : 1] : [min - (max - min) * 0.1 - 1, max + (max - min) * 0.1 + 1]) } },
      axes: [
        p.type === "bar" ? { ...axis, splits: () => barTicks(labels.length), values: (_u, splits) => splits.map((i) => labels[i] ?? "") }
          : time ? { ...axis, values: (u, splits) => timeTicks(splits, (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0)) } : axis,
        { ...axis, size: p.y.length > 1 ? 56 : 70, label: p.y.length > 1 ? undefined : cols[p.y[0]].name, labelSize: 16, labelFont: "600 11px system-ui, sans-serif", values: (_u, splits) => compactTicks(splits) },
      ],
      series: [
        { label: cols[p.x].name, value: p.type === "bar" ? (_u, i) => (i == null ? "—" : labels[i] ?? "") : time ? (_u, v) => (v == null ? "—" : new Date(v).toISOString().replace("T", " ").slice(0, 19)) : undefined },
        ...p.y.map((c, i) => {
          const color = palette[i % palette.length];
          return p.type === "bar"
            ? { label: cols[c].name, stroke: color, fill: color + "cc", width: 0, paths: uPlot.paths.bars!({ size: [0.7, 48], gap: 2 }), points: { show: false } }
            : { label: cols[c].name, stroke: color, fill: p.y.length === 1 ? color + "14" : undefined, width: 2, spanGaps: true, points: { show: false } };
        }),
      ],
    };
  }

  // lineData sorts by x and sums rows that share an x value.
  private lineData(p: Plan): uPlot.AlignedData {
    const cols = this.result.columns;
    const time = isTime(cols[p.x].type);
    const sums = new Map<number, number[]>();
    for (const s of this.result.slots) {
      const xv = time ? ms(s.row[p.x]) : Number(s.row[p.x]);
      if (!Number.isFinite(xv)) continue;
      let acc = sums.get(xv);
      if (!acc) sums.set(xv, (acc = p.y.map(() => 0)));
      p.y.forEach((c, i) => { const v = Number(s.row[c]); if (Number.isFinite(v)) acc![i] += v; });
    }
    let xs = [...sums.keys()].sort((a, b) => a - b);
    if (xs.length > MAX_POINTS) xs = xs.slice(xs.length - MAX_POINTS);
    const ys = p.y.map((_, i) => xs.map((x) => sums.get(x)![i]));
    this.note.textContent = sums.size > MAX_POINTS ? `latest ${MAX_POINTS} points` : "";
    return [xs, ...ys] as uPlot.AlignedData;
  }

  // barData keeps the table's order (or time order) and the first MAX_BARS.
  private barData(p: Plan): uPlot.AlignedData {
    const cols = this.result.columns;
    let slots = this.result.slots;
    if (isTime(cols[p.x].type) || isNumeric(cols[p.x].type)) {
      const key = (v: unknown) => (isTime(cols[p.x].type) ? ms(v) : Number(v));
      slots = [...slots].sort((a, b) => key(a.row[p.x]) - key(b.row[p.x]));
      if (slots.length > MAX_BARS) slots = slots.slice(slots.length - MAX_BARS);
    } else if (slots.length > MAX_BARS) {
      slots = [...slots].sort((a, b) => Number(b.row[p.y[0]]) - Number(a.row[p.y[0]])).slice(0, MAX_BARS);
    }
    this.labels.length = 0;
    for (const s of slots) this.labels.push(formatValue(s.row[p.x], cols[p.x].type).replace(/^\d{4}-\d\d-\d\d /, ""));
    this.note.textContent = this.result.length > MAX_BARS ? `${MAX_BARS} of ${this.result.length} bars` : "";
    return [slots.map((_, i) => i), ...p.y.map((c) => slots.map((s) => { const v = Number(s.row[c]); return Number.isFinite(v) ? v : null; }))] as uPlot.AlignedData;
  }
}

// compactTicks labels a value axis with k/M/G and as many decimals as the
// tick step needs, so neighbouring ticks never read the same.
function compactTicks(splits: number[]): string[] {
  const max = Math.max(...splits.map(Math.abs));
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : max;
  const [div, unit] = max >= 1e9 ? [1e9, "G"] : max >= 1e6 ? [1e6, "M"] : max >= 1e4 ? [1e3, "k"] : [1, ""];
  const decimals = step > 0 ? Math.min(6, Math.max(0, -Math.floor(Math.log10(step / div) + 1e-9))) : 0;
  return splits.map((v) => (v === 0 ? "0" : (v / div).toFixed(decimals) + unit));
}

// timeTicks labels a time axis in UTC: seconds when the span is short,
// dates when it is long.
function timeTicks(splits: number[], span: number): string[] {
  return splits.map((t) => {
    const iso = new Date(t).toISOString();
    if (span < 120_000) return t % 1000 && span > 4000 ? "" : iso.slice(11, t % 1000 ? 23 : 19);
    if (span < 86_400_000) return iso.slice(11, 16);
    if (span < 90 * 86_400_000) return iso.slice(5, 10) + " " + iso.slice(11, 16);
    return iso.slice(0, 10);
  });
}

// barTicks picks at most 8 evenly spaced bars to label.
function barTicks(n: number): number[] {
  const every = Math.max(1, Math.ceil(n / 7));
  const out: number[] = [];
  for (let i = 0; i < n; i += every) out.push(i);
  return out;
}
