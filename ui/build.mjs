// build.mjs bundles src/ into dist/ (index.html, app.js, app.css) with
// esbuild: minified, no source maps, deterministic (the same sources give
// the same bytes, which scripts/ui-check.sh relies on).
//
//   node build.mjs            build once
//   node build.mjs --watch    rebuild on change and serve dist/ on :5173,
//                             proxying /api, /ws and /metrics to $WEIR
//                             (default http://127.0.0.1:8080)
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const watch = process.argv.includes("--watch");

const options = {
  entryPoints: { app: join(here, "src/main.ts") },
  outdir: dist,
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "eof",
  charset: "utf8",
  logLevel: "info",
  plugins: [{
    name: "index-html",
    setup(build) {
      build.onEnd(() => copyFileSync(join(here, "src/index.html"), join(dist, "index.html")));
    },
  }],
};

if (!watch) {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  await esbuild.build(options);
} else {
  mkdirSync(dist, { recursive: true });
  const ctx = await esbuild.context(options);
  await ctx.watch();
  const { serveDev } = await import("./dev.mjs");
  serveDev(dist, process.env.WEIR || "http://127.0.0.1:8080", Number(process.env.PORT || 5173));
}
