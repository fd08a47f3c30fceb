// result.ts folds a changelog into a table: "+" adds a row, "-" removes
// one equal row. A retraction followed by an insertion in the same message
// is an update, and the new row takes the old row's place, so rows update
// in place instead of jumping to the end. Memory is bounded: beyond `cap`
// rows the oldest are dropped (an endless live result keeps its newest).
import type { Column } from "./api";

export interface Slot { row: unknown[]; key: string; at: number }

export class Result {
  columns: Column[] = [];
  slots: Slot[] = [];
  private byKey = new Map<string, number[]>();
  dropped = 0; // rows dropped to stay under cap
  version = 0; // bumped by every change, for renderers
  message = ""; // the statement's command tag (CREATE TABLE …), when it has no rows

  constructor(public cap = 100_000) {}

  get length() { return this.slots.length; }

  reset(columns: Column[]) {
    this.columns = columns;
    this.slots = [];
    this.byKey.clear();
    this.dropped = 0;
    this.message = "";
    this.version++;
  }

  apply(ops: string[], rows: unknown[][]) {
    const now = performance.now();
    const slots: (Slot | null)[] = this.slots;
    // Vacancies left by this message's retractions, by first column value,
    // so an update lands in the slot of the row it replaces.
    const vacant = new Map<unknown, number[]>();
    const vacantAny: number[] = [];
    let holes = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      const key = JSON.stringify(row);
      if (ops[i] === "-") {
        const idxs = this.byKey.get(key);
        if (!idxs || idxs.length === 0) continue; // dropped earlier (cap)
        const idx = idxs.pop()!;
        if (idxs.length === 0) this.byKey.delete(key);
        slots[idx] = null;
        holes++;
        const v = vacant.get(row[0]);
        if (v) v.push(idx); else vacant.set(row[0], [idx]);
        vacantAny.push(idx);
        continue;
      }
      let idx = -1;
      const same = vacant.get(row[0]);
      while (same && same.length) {
        const j = same.shift()!;
        if (slots[j] === null) { idx = j; break; }
      }
      while (idx < 0 && vacantAny.length) {
        const j = vacantAny.shift()!;
        if (slots[j] === null) idx = j;
      }
      const slot = { row, key, at: now };
      if (idx >= 0) {
        slots[idx] = slot;
        holes--;
      } else {
        idx = slots.length;
        slots.push(slot);
      }
      const idxs = this.byKey.get(key);
      if (idxs) idxs.push(idx); else this.byKey.set(key, [idx]);
    }
    const over = Math.max(0, slots.length - holes - this.cap);
    if (holes > 0 || over > 0) this.compact(over);
    this.version++;
  }

  // compact removes holes and the `drop` oldest rows, and reindexes.
  private compact(drop: number) {
    const out: Slot[] = [];
    for (const s of this.slots as (Slot | null)[]) {
      if (s === null) continue;
      if (drop > 0) { drop--; this.dropped++; continue; }
      out.push(s);
    }
    this.slots = out;
    this.byKey.clear();
    out.forEach((s, i) => {
      const idxs = this.byKey.get(s.key);
      if (idxs) idxs.push(i); else this.byKey.set(s.key, [i]);
    });
  }
}
