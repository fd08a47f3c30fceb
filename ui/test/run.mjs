// run.mjs bundles the TypeScript unit tests with esbuild and runs them with
// node's test runner: node test/run.mjs (npm test).
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "weir-ui-test-"));
try {
  await esbuild.build({ entryPoints: [join(here, "unit.test.ts")], outfile: join(dir, "unit.test.mjs"), bundle: true, platform: "node", format: "esm", logLevel: "error" });
  const r = spawnSync(process.execPath, ["--test", join(dir, "unit.test.mjs")], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
