"use strict";
// End-to-end harness: the package as a user gets it (npm pack → npm install into a userDir) loaded by a
// real Node-RED process (red.js, the same entry point as the `node-red` command), plus a loopback HTTP
// collector that stands in for whatever a flow sends messages to.
// Node-RED is the one selected by test/helpers/node-red-path.js, so CI's Node-RED 5 run exercises it too.
const { execFile, spawn } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { nodeRedDir } = require("../helpers/node-red-path");
const { npmCommand } = require("../helpers/npm");

const repoRoot = path.resolve(__dirname, "..", "..");
const CREDENTIAL_SECRET = "smartlocks-e2e-credential-secret";
const STOP_GRACE_MS = 10000;

const tempDirs = [];
const running = new Set();
// A Node-RED left running would keep its port and outlive the test run (mocha runs with --exit), and
// each run leaves a few MB of userDirs in the temp folder.
function cleanUp() {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanUp);
// A signal skips "exit" handlers: clean up, then let the signal end the process as it would have.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    cleanUp();
    process.kill(process.pid, signal);
  });
}

function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `smartlocks-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

function npm(args, cwd) {
  const [file, argv] = npmCommand(args);
  return new Promise((resolve, reject) => {
    execFile(file, argv, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`npm ${args.join(" ")} failed in ${cwd}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

let packed;
// Packs what `npm publish` would ship. Scripts are skipped: mocha runs after `npm run build`, and prepack
// would rebuild dist/ under the running tests.
function packPackage() {
  packed ??= (async () => {
    const dest = makeTempDir("pack");
    const out = await npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dest], repoRoot);
    const [info] = JSON.parse(out);
    return path.join(dest, info.filename);
  })();
  return packed;
}

const templates = new Map();
// One `npm install` per tarball and process; each Node-RED instance then gets a copy, so instances never
// share flows, credentials or context.
async function createUserDir(tgz) {
  if (!templates.has(tgz)) {
    templates.set(tgz, (async () => {
      const dir = makeTempDir("userdir-template");
      const pkg = { name: "smartlocks-e2e-userdir", version: "0.0.0", private: true, dependencies: {} };
      pkg.dependencies[readPackageName()] = `file:${tgz}`;
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify(pkg, null, 2));
      await npm(["install", "--no-audit", "--no-fund", "--prefer-offline"], dir);
      return dir;
    })());
  }
  const template = await templates.get(tgz);
  const userDir = makeTempDir("userdir");
  fs.cpSync(template, userDir, { recursive: true, verbatimSymlinks: true });
  return userDir;
}

function readPackageName() {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")).name;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Node-RED appends a trailing slash to both roots; doing the same here keeps URL joins simple.
function formatRoot(root) {
  let r = root.startsWith("/") ? root : `/${root}`;
  if (!r.endsWith("/")) r += "/";
  return r;
}

/**
 * `settingsSource` is JavaScript for an object merged into the settings last, for settings JSON cannot carry
 * (functions such as httpAdminMiddleware).
 */
function writeSettings(userDir, { port, httpAdminRoot, httpNodeRoot, settings, settingsSource }) {
  const file = path.join(userDir, "settings.js");
  const all = {
    uiHost: "127.0.0.1",
    uiPort: port,
    flowFile: "flows.json",
    credentialSecret: CREDENTIAL_SECRET,
    httpAdminRoot,
    httpNodeRoot,
    // Pinned so the log lines waited on below are English whatever the machine's locale.
    lang: "en-US",
    telemetry: { enabled: false },
    editorTheme: { tours: false },
    logging: { console: { level: "info", metrics: false, audit: false } },
    ...settings,
  };
  const extra = settingsSource ? `Object.assign(module.exports, ${settingsSource});\n` : "";
  fs.writeFileSync(file, `module.exports = ${JSON.stringify(all, null, 2)};\n${extra}`);
  return file;
}

const tail = (lines) => lines.slice(-60).join("\n");

async function startNodeRed({ userDir, httpNodeRoot = "/", httpAdminRoot = "/", port, env, settings = {}, settingsSource, readyTimeoutMs = 60000 }) {
  // A probed free port can be taken before Node-RED binds it; only then (not for a caller's port) retry.
  for (let attempt = 1; ; attempt++) {
    const chosen = port ?? (await freePort());
    try {
      return await startOnce({ userDir, httpNodeRoot, httpAdminRoot, port: chosen, env, settings, settingsSource, readyTimeoutMs });
    } catch (err) {
      if (port !== undefined || attempt >= 3 || !/EADDRINUSE|port in use|Unable to listen/i.test(err.message)) throw err;
    }
  }
}

async function startOnce({ userDir, httpNodeRoot, httpAdminRoot, port, env, settings, settingsSource, readyTimeoutMs }) {
  const adminRoot = formatRoot(httpAdminRoot);
  const nodeRoot = formatRoot(httpNodeRoot);
  const settingsFile = writeSettings(userDir, { port, httpAdminRoot: adminRoot, httpNodeRoot: nodeRoot, settings, settingsSource });
  const child = spawn(process.execPath, [path.join(nodeRedDir, "red.js"), "--settings", settingsFile, "--userDir", userDir], {
    cwd: userDir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);

  const logs = [];
  const waiters = new Set();
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      for (const w of waiters) w.onExit();
      resolve(exited);
    });
  });
  const collect = (stream) => {
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      const lines = (partial + chunk).split(/\r?\n/);
      partial = lines.pop();
      for (const line of lines) {
        logs.push(line);
        for (const w of waiters) w.onLine(line);
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);

  // Resolves with the first line matching regex at or after index `from` of logs.
  function waitForLog(regex, timeoutMs = 10000, from = 0) {
    const seen = logs.slice(from).find((l) => regex.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        onLine: (line) => regex.test(line) && finish(null, line),
        onExit: () => finish(new Error(`Node-RED exited (${JSON.stringify(exited)}) before a log line matched ${regex}:\n${tail(logs)}`)),
      };
      const timer = setTimeout(() => finish(new Error(`no Node-RED log line matched ${regex} within ${timeoutMs} ms:\n${tail(logs)}`)), timeoutMs);
      function finish(err, line) {
        clearTimeout(timer);
        waiters.delete(w);
        if (err) reject(err);
        else resolve(line);
      }
      waiters.add(w);
      if (exited) w.onExit();
    });
  }

  const url = `http://127.0.0.1:${port}`;
  const adminUrl = url + adminRoot;
  const nodeUrl = url + nodeRoot;

  async function stop() {
    if (exited) return exited;
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    const result = await exitPromise;
    clearTimeout(timer);
    return result;
  }

  try {
    await waitUntilReady(`${adminUrl}settings`, readyTimeoutMs, () => exited).catch((err) => {
      throw new Error(`${err.message}\n${tail(logs)}`);
    });
    // The server listens before the flows have started; a deploy racing the start-up would see the
    // start-up's "Started flows" as its own. Missing node types keep flows from starting at all.
    await waitForLog(/\bStarted flows\b|Waiting for missing types/, readyTimeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }

  async function deployFlows(flows) {
    const from = logs.length;
    const res = await fetch(`${adminUrl}flows`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Node-RED-Deployment-Type": "full", "Node-RED-API-Version": "v1" },
      body: JSON.stringify(flows),
    });
    if (!res.ok) throw new Error(`deploy failed: ${res.status} ${await res.text()}`);
    await waitForLog(/\bStarted flows\b/, 20000, from);
  }

  async function getFlows() {
    const res = await fetch(`${adminUrl}flows`, { headers: { Accept: "application/json", "Node-RED-API-Version": "v1" } });
    if (!res.ok) throw new Error(`GET flows failed: ${res.status}`);
    return res.json();
  }

  return { url, adminUrl, nodeUrl, port, userDir, logs, waitForLog, deployFlows, getFlows, stop, process: child };
}

async function waitUntilReady(settingsUrl, timeoutMs, hasExited) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = hasExited();
    if (status) throw new Error(`Node-RED exited before it was ready (${JSON.stringify(status)})`);
    try {
      const res = await fetch(settingsUrl, { headers: { Accept: "application/json" } });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Node-RED did not answer ${settingsUrl} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Records every request body sent to it; a core `http request` node (POST) wired after one of our nodes
// turns the node's output messages into entries here.
function startCollector() {
  const received = [];
  const waiters = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text, so a wrong content type is visible in the assertion
      }
      const entry = { path: req.url, method: req.method, body, headers: req.headers };
      received.push(entry);
      for (const w of waiters) w(entry);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end("{}");
    });
  });

  function waitFor(predicate, timeoutMs = 10000) {
    const seen = received.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`collector: no matching request within ${timeoutMs} ms; got ${JSON.stringify(received.map((r) => r.body))}`));
      }, timeoutMs);
      function check(entry) {
        if (!predicate(entry)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(entry);
      }
      waiters.add(check);
    });
  }

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      resolve({
        url,
        received,
        waitFor,
        close: () => new Promise((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}

module.exports = { packPackage, createUserDir, startNodeRed, startCollector, repoRoot, CREDENTIAL_SECRET };
