// main.ts: the page shell (top bar, jobs panel) and the routes:
//   /                          notebooks and tables
//   /notebooks/NAME            a notebook
//   /notebooks/NAME/dashboard  its dashboard
import "uplot/dist/uPlot.min.css";
import "./app.css";
import { conn } from "./conn";
import { DashboardPage } from "./dashboard";
import { h, icon } from "./dom";
import { HomePage } from "./home";
import { JobsPanel } from "./jobs";
import { NotebookPage } from "./notebook";

interface Page { el: HTMLElement; mount(): Promise<HTMLElement>; unmount(): void; unsaved?: boolean }

const jobs = new JobsPanel();
const connDot = h("span.conn", { title: "connecting…" });
conn.onState((s) => {
  connDot.className = `conn ${s}`;
  connDot.title = s === "open" ? "connected to weir" : s === "connecting" ? "connecting…" : "disconnected — reconnecting";
});
const crumb = h("nav.crumb");
const top = h("header.top",
  h("a.logo", { href: "/", onclick: (e: MouseEvent) => { e.preventDefault(); go("/"); } }, h("span.logo-mark"), "weir"),
  crumb,
  h("span.spacer"),
  connDot,
  h("button.btn.ghost", { onclick: () => jobs.toggle(), title: "Running jobs", "data-testid": "jobs" }, icon("bolt"), "Jobs", jobs.badge));
const slot = h("div.slot");
document.body.append(top, h("div.shell", slot, jobs.el));
jobs.startPolling();

let page: Page | null = null;

function go(path: string, replace = false) {
  if (path !== location.pathname) {
    if (replace) history.replaceState(null, "", path); else history.pushState(null, "", path);
  }
  void route();
}

async function route() {
  page?.unmount();
  const path = decodeURIComponent(location.pathname);
  let m: RegExpMatchArray | null;
  crumb.replaceChildren();
  if ((m = path.match(/^\/notebooks\/([^/]+)\/dashboard\/?$/))) {
    page = new DashboardPage(m[1], go);
    crumb.append(link(`/notebooks/${m[1]}`, m[1]), h("span.sep", "/"), h("span", "dashboard"));
    document.title = `${m[1]} · dashboard · weir`;
  } else if ((m = path.match(/^\/notebooks\/([^/]+)\/?$/))) {
    page = new NotebookPage(m[1], go);
    crumb.append(h("span", m[1]));
    document.title = `${m[1]} · weir`;
  } else {
    page = new HomePage(go);
    document.title = "weir";
  }
  const current = page;
  slot.replaceChildren(page.el);
  await page.mount();
  if (page === current) window.scrollTo(0, 0);
}

function link(href: string, text: string) {
  return h("a", { href, onclick: (e: MouseEvent) => { e.preventDefault(); go(href); } }, text);
}

window.addEventListener("popstate", () => void route());
window.addEventListener("beforeunload", (e) => {
  if (page?.unsaved) { e.preventDefault(); e.returnValue = ""; }
});
void route();
