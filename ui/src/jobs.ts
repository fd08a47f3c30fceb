// jobs.ts: the server's running jobs (GET /api/jobs) in a side panel, with
// cancel (DELETE /api/jobs/{id}: the job stops for every viewer).
import { api, missing, type Job } from "./api";
import { clear, h, icon } from "./dom";
import { checkpointText, checkpointTitle, formatCount, formatDuration } from "./format";

export class JobsPanel {
  el = h("aside.jobs", { "aria-label": "jobs", hidden: true });
  private list = h("div.jobs-list");
  private timer = 0;
  private count = h("span.badge", { hidden: true });

  constructor() {
    this.el.append(h("div.jobs-head", h("h2", "Jobs"), h("button.tool", { title: "Close", onclick: () => this.toggle(false) }, icon("x"))), this.list);
  }

  /** badge shows the number of running jobs on the top bar's button. */
  get badge() { return this.count; }

  toggle(open = this.el.hidden) {
    this.el.hidden = !open;
    window.clearInterval(this.timer);
    if (open) {
      void this.load();
      this.timer = window.setInterval(() => void this.load(), 2000);
    }
  }

  /** poll refreshes the badge now and then while the panel is closed. */
  startPolling() {
    const tick = async () => {
      if (this.el.hidden) await this.load(true);
      setTimeout(tick, 5000);
    };
    void tick();
  }

  private async load(badgeOnly = false) {
    let jobs: Job[];
    try { jobs = await api.jobs(); } catch (e) {
      this.count.hidden = true;
      if (!badgeOnly) clear(this.list, h("p.muted", missing(e) ? "This server does not list jobs yet." : `Could not load jobs: ${(e as Error).message}`));
      return;
    }
    const running = jobs.filter((j) => j.state === "running" || !j.state);
    this.count.textContent = String(running.length);
    this.count.hidden = running.length === 0;
    if (badgeOnly) return;
    const ended = jobs.filter((j) => !running.includes(j));
    clear(this.list,
      running.length ? running.map((j) => this.job(j)) : h("p.muted", "No job is running. Run a cell to start one."),
      ended.length ? h("h3.jobs-sub", "Ended") : null,
      ended.slice(0, 20).map((j) => this.job(j)));
  }

  private job(j: Job) {
    const live = j.state === "running" || !j.state;
    const sql = j.sql.split("\n").filter((l) => !/^\s*--/.test(l)).join("\n").trim() || j.sql;
    const took = (j.ended ? Date.parse(j.ended) : Date.now()) - Date.parse(j.started);
    return h("div.job" + (live ? "" : ".ended"), { "data-job": j.id, "data-state": j.state || "running" },
      h("div.job-top",
        h("span.pill." + (j.mode === "live" ? "live" : "running"), j.mode === "live" && live ? h("span.dot") : null, j.mode),
        h("b", j.id),
        j.durable ? h("span.job-name", { title: "a durable job: it keeps running without viewers and is restored when weir restarts" }, j.name || "durable") : null,
        h("span.job-state." + (j.state || "running"), j.state || "running"),
        h("span.spacer"),
        live || (j.durable && j.state === "failed") ? h("button.btn.small.danger", { title: j.durable ? "Stop this durable job for every viewer and forget it (it is not restored)" : "Stop this job for every viewer", onclick: async (e: Event) => {
          (e.currentTarget as HTMLButtonElement).disabled = true;
          try { await api.cancelJob(j.id); } catch { /* ended already */ }
          void this.load();
        } }, icon("stop"), live ? "Cancel" : "Forget") : null,
        live && j.durable ? h("button.btn.small", { title: "Stop with a savepoint: its state is kept, and running the cell again resumes from it (it is not restored when weir restarts)", onclick: async (e: Event) => {
          const b = e.currentTarget as HTMLButtonElement;
          b.disabled = true;
          try { await api.savepointJob(j.id); } catch (err) { b.disabled = false; b.title = (err as Error).message; }
          void this.load();
        } }, "Savepoint") : null),
      h("pre.job-sql", sql),
      h("div.job-stats",
        live ? h("span", `${j.viewers} viewer${j.viewers === 1 ? "" : "s"}`) : null,
        h("span", `${formatCount(j.rows_out || 0)} rows out`),
        Number.isFinite(took) ? h("span", `${live ? "running" : "ran"} ${formatDuration(took)}`) : null),
      j.durable && live ? h("div.job-ckpt", { title: checkpointTitle(j) },
        checkpointText(j) || "no checkpoint yet",
        j.resumed_from ? ` · resumed from checkpoint ${j.resumed_from}` : "",
        j.checkpoints_failed ? h("span.warn", ` · ${j.checkpoints_failed} failed`) : null) : null,
      j.restarts ? h("div.job-error", { title: j.last_failure || "" }, `restarted ${j.restarts}× after failures${j.last_failure ? `: ${j.last_failure}` : ""}`) : null,
      j.savepoint ? h("div.job-ckpt", { title: j.savepoint.location }, `stopped with savepoint ${j.savepoint.id}`) : null,
      j.error ? h("div.job-error", j.error) : null);
  }
}
