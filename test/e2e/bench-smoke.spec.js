"use strict";
// Smoke test of `npm run bench` (scripts/bench.mjs): the whole bench on a tiny load (BENCH_SMOKE=1) must run
// through and write its results file. No timing assertions: figures from a smoke run mean nothing.
const assert = require("node:assert/strict");
const { execFile } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const repoRoot = path.resolve(__dirname, "..", "..");

describe("npm run bench (smoke: tiny load)", function () {
  this.timeout(180000);
  let dir;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "smartlocks-bench-smoke-"));
  });

  after(function () {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("runs every measurement, checks the delivered events and writes the results file", async function () {
    const results = path.join(dir, "RESULTS.md");
    const env = { ...process.env, BENCH_SMOKE: "1", BENCH_RESULTS: results };
    for (const name of Object.keys(env)) {
      if (name.startsWith("BENCH_") && name !== "BENCH_SMOKE" && name !== "BENCH_RESULTS") delete env[name];
    }
    const { code, stdout, stderr } = await new Promise((resolve) => {
      execFile(process.execPath, [path.join(repoRoot, "scripts", "bench.mjs")], { cwd: repoRoot, env, maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) =>
        resolve({ code: err ? (err.code ?? 1) : 0, stdout: out, stderr: errOut }),
      );
    });
    assert.equal(code, 0, `bench exited with ${code}:\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`);
    const text = fs.readFileSync(results, "utf8");
    assert.match(text, /smoke mode/);
    assert.match(text, /## Machine and run/);
    assert.match(text, /## Results against the targets/);
    // every target has its row, with a verdict (UniFi Access may be skipped when the vendor is not built)
    for (const id of ["1/2", "1/3", "7", "5", "6", "4"]) {
      assert.match(text, new RegExp(`^\\| ${id.replace("/", "\\/")} \\|.*\\| \\*\\*(PASS|MISS|SKIP)\\*\\* \\|`, "m"), `row ${id}`);
    }
    assert.doesNotMatch(text, /\*\*Problem:\*\*/);
    assert.match(stdout, /results written to/);
  });
});
