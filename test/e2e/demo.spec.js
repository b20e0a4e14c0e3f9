"use strict";
// `npm run demo` smoke test: simulators + Node-RED with the plugin and the demo flow; a simulated door opening
// reaches the door-state endpoint of the demo flow; Ctrl+C stops everything.
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const net = require("node:net");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { repoRoot } = require("./harness");
const { nodeRedDir } = require("../helpers/node-red-path");

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Three consecutive free ports for the simulators. */
async function freeRange() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = 20000 + Math.floor(Math.random() * 20000);
    const ok = await Promise.all([0, 1, 2].map((i) => new Promise((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(first + i, "127.0.0.1", () => s.close(() => resolve(true)));
    })));
    if (ok.every(Boolean)) return first;
  }
  throw new Error("no free port range");
}

describe("npm run demo", function () {
  this.timeout(120000);
  let child;
  let output = "";

  after(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
  });
  // (the temporary user directory is left to the OS: it only holds the demo's flows)

  it("starts the simulators and Node-RED with the demo flow, shows a simulated door opening, and stops on SIGINT", async function () {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "smartlocks-demo-"));
    const port = await freePort();
    const base = await freeRange();
    child = spawn(process.execPath, [path.join(repoRoot, "scripts", "demo.mjs")], {
      cwd: repoRoot,
      env: { ...process.env, PORT: String(port), DEMO_PORT_BASE: String(base), SMARTLOCKS_NODE_RED_DIR: nodeRedDir, SMARTLOCKS_SKIP_BUILD: "1", SMARTLOCKS_DEMO_DIR: userDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const deadline = Date.now() + 90000;
    while (!output.includes("smartlocks demo ready")) {
      if (child.exitCode !== null) throw new Error(`demo exited early:\n${output}`);
      if (Date.now() > deadline) throw new Error(`demo not ready:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const doors = async () => (await fetch(`http://127.0.0.1:${port}/demo/doors`)).json();
    // Each listener reports a device.state per device once it is connected.
    let state = [];
    while (Date.now() < deadline) {
      state = await doors();
      if (["nuki", "tedee", "unifi-access"].every((v) => state.some((d) => d.vendor === v))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual([...new Set(state.map((d) => d.vendor))].sort(), ["nuki", "tedee", "unifi-access"]);
    // The listener registers its callback at the bridge right after that snapshot: wait for it (plain token).
    while (Date.now() < deadline) {
      const list = await (await fetch(`http://127.0.0.1:${base}/callback/list?token=demo-nuki-token`)).json();
      if (list.callbacks && list.callbacks.some((c) => c.url.includes("/smartlocks/nuki/"))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const res = await fetch(`http://127.0.0.1:${base}/_sim/devices/1046726733/open-door`, { method: "POST" });
    assert.equal(res.status, 200);
    let front;
    while (Date.now() < deadline) {
      front = (await doors()).find((d) => d.vendor === "nuki" && d.device.id === "3E63C84D");
      if (front && front.door === "open") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(front.door, "open", output.slice(-3000));
    assert.equal(front.event, "door.opened");
    assert.ok(!/\[error\]/.test(output), output);
    const stoppedAt = Date.now();
    child.kill("SIGINT");
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 0);
    assert.ok(Date.now() - stoppedAt < 15000);
  });
});
