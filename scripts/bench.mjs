// npm run bench: performance of the hot path, measured in one run on this machine, written to bench/RESULTS.md.
//
//   1-3  webhook ingest (req/s, p50, p99): Nuki Bridge callbacks into our route vs a hand-built
//        http in → function → http response flow vs a plain Node http server
//   7    p99 latency of our route at a fixed rate
//   5    RSS before/after 1 million events through a listener
//   4    UniFi Access WebSocket notifications/s: unifi-access-events vs core websocket in (when available)
//   6    Node-RED start time with and without the package
//   plus, for information, 1, 2 and 7 again on a Node-RED with httpAdminRoot "/admin"
//
// The package is packed and installed into a fresh userDir of a real Node-RED (test/e2e/harness.js); dist/ is
// built first only when it is missing. Environment:
//   BENCH_RESULTS=<file>   where to write the results (default bench/RESULTS.md)
//   BENCH_SMOKE=1          a tiny load (for test/e2e/bench-smoke.spec.js); figures are meaningless
//   BENCH_ONLY=a,b         run only some of: ingest, fixed, memory, unifi, admin, startup
//   BENCH_RECEIVERS=nuki   load only some of the receivers nuki, user, plain (e.g. to profile one)
//   BENCH_PROFILE=1        CPU-profile Node-RED during the ingest, fixed-rate and UniFi runs (BENCH_PROFILE_DIR);
//   BENCH_PROFILE=heap     the same windows with a sampling allocation profile instead
//   BENCH_ADMIN_ROOT=/x    httpAdminRoot of the main Node-RED (default "/", Node-RED's default)
//   BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_RATE, BENCH_RATE_ROUNDS, BENCH_EVENTS, BENCH_STARTS
//                          override the load
import { execFileSync, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

if (!existsSync(path.join(root, "dist", "nodes", "nuki.js"))) {
  console.log("bench: dist/ is missing, building it first");
  execFileSync(process.execPath, [path.join(root, "scripts", "build.mjs")], { stdio: "inherit", cwd: root });
}

const { DevicePool, EVENTS_PER_REQUEST } = await import("../bench/lib/payloads.mjs");
const { hammer, paced } = await import("../bench/lib/load.mjs");
const { benchFlows, USER_PATH } = await import("../bench/lib/flows.mjs");
const { timeStart } = await import("../bench/lib/startup.mjs");
const { median, medianRun, medianBy, percentile } = await import("../bench/lib/stats.mjs");
const { tailAttribution, stealMs } = await import("../bench/lib/tail.mjs");
const { consoleTable, markdown } = await import("../bench/lib/report.mjs");
const { summarise, formatSummary } = await import("../bench/lib/cpuprofile-top.mjs");
const { summariseHeap, formatHeapSummary } = await import("../bench/lib/heapprofile-top.mjs");
const unifiBench = await import("../bench/lib/unifi.mjs");

const harness = require("../test/e2e/harness.js");
const { nodeRedDir, nodeRedVersion } = require("../test/helpers/node-red-path.js");
const { NukiBridgeSimulator } = require("../test/simulators/nuki-bridge.js");

const env = process.env;
const SMOKE = env.BENCH_SMOKE === "1";
const num = (name, dflt) => (env[name] !== undefined && env[name] !== "" ? Number(env[name]) : dflt);
const cfg = {
  connections: num("BENCH_CONNECTIONS", SMOKE ? 4 : 10),
  devicesPerConnection: 8,
  // warm-up and rounds: at least warmupSeconds / about roundSeconds (full), or fixed request counts (smoke)
  warmupSeconds: SMOKE ? 0 : 3,
  warmupRequests: 100,
  rounds: num("BENCH_ROUNDS", SMOKE ? 1 : 3),
  roundSeconds: num("BENCH_DURATION", SMOKE ? 0 : 8),
  roundRequests: 300,
  rate: num("BENCH_RATE", SMOKE ? 200 : 1000),
  rateSeconds: SMOKE ? 1 : 15,
  rateRounds: num("BENCH_RATE_ROUNDS", SMOKE ? 1 : 5),
  // answers slower than this count as slow in the tail attribution (target 7)
  slowMs: 5,
  // a device's next body is sent this long after its previous one at the fixed rate (requests may overtake)
  ratePoolSeconds: SMOKE ? 0.5 : 1.5,
  memEvents: num("BENCH_EVENTS", SMOKE ? 2000 : 1_000_000),
  memWarmupEvents: SMOKE ? 600 : 60_000,
  starts: num("BENCH_STARTS", SMOKE ? 1 : 7),
  unifiFrames: SMOKE ? 500 : 50_000,
  unifiRounds: SMOKE ? 1 : 3,
  adminRounds: SMOKE ? 1 : 2,
};
const ONLY = new Set((env.BENCH_ONLY ?? "ingest,fixed,memory,unifi,admin,startup").split(",").map((s) => s.trim()).filter(Boolean));
const RECEIVERS = (env.BENCH_RECEIVERS ?? "nuki,user,plain").split(",").map((s) => s.trim()).filter((s) => ["nuki", "user", "plain"].includes(s));
const PROFILE = env.BENCH_PROFILE === "1" || env.BENCH_PROFILE === "cpu" ? "cpu" : env.BENCH_PROFILE === "heap" ? "heap" : null;
// Node-RED's default mounts the editor/admin app on "/" too, so every node route also walks the admin app.
const ADMIN_ROOT = env.BENCH_ADMIN_ROOT || "/";
const resultsFile = path.resolve(env.BENCH_RESULTS || path.join(root, "bench", "RESULTS.md"));
const notesFile = path.join(root, "bench", "NOTES.md");

const TOKEN = "bench-bridge-token";
const SECRET = randomBytes(18).toString("base64url");
const t0 = performance.now();
const log = (...args) => console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s]`, ...args);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "n/a");

// requests answered by a Node-RED so far (the profiles give allocations per request)
let answeredByNodeRed = 0;
let plainPid = -1;
const results = { smoke: SMOKE, date: new Date().toISOString(), problems: [], machine: machineInfo(), params: {} };
const cleanups = [];

try {
  await run();
} catch (err) {
  results.problems.push(`the run failed: ${err.stack ?? err}`);
  console.error(err);
} finally {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
}
results.machine.loadEnd = os.loadavg().map((v) => v.toFixed(2)).join(" ");
results.elapsedSeconds = (performance.now() - t0) / 1000;
mkdirSync(path.dirname(resultsFile), { recursive: true });
writeFileSync(resultsFile, markdown(results, { notesFile }) + "\n");
console.log("\n" + consoleTable(results));
console.log(`\nbench: results written to ${path.relative(process.cwd(), resultsFile) || resultsFile}`);
// A miss is a result, not a failure; a failed run or an unverified count is.
process.exit(results.problems.length ? 1 : 0);

async function run() {
  describeParams();
  log(`packing and installing the package (Node-RED ${nodeRedVersion})`);
  const tgz = await harness.packPackage();

  const plain = await startPlainServer();
  plainPid = plain.pid;
  cleanups.push(plain.stop);

  const unifi = ONLY.has("unifi")
    ? await unifiBench.prepare({ root, frames: cfg.unifiFrames, rounds: cfg.unifiRounds, settleMs: SMOKE ? 500 : 1500 })
    : { skipped: "not selected (BENCH_ONLY)" };
  if (unifi.stop) cleanups.push(unifi.stop);
  results.params.unifi = unifi.params ?? `skipped (${unifi.skipped})`;

  const profileDir = PROFILE ? path.resolve(env.BENCH_PROFILE_DIR || mkdtempSync(path.join(os.tmpdir(), "smartlocks-bench-prof-"))) : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  // ---- the main Node-RED (Node-RED's defaults, unless BENCH_ADMIN_ROOT) -------------------------------------
  const main = await startBenchNodeRed({ tgz, httpAdminRoot: ADMIN_ROOT, profileDir, plain, idBase: 0x10000000 });
  if (ONLY.has("ingest") || ONLY.has("fixed")) await warmUp(main);
  if (ONLY.has("ingest")) {
    await main.profiler.start();
    results.ingest = await ingest(main, cfg.rounds);
    await main.profiler.stop();
  }
  if (ONLY.has("fixed")) {
    await main.profiler.start();
    results.fixed = await fixedRate(main, { autocannon: true });
    await main.profiler.stop();
  }
  if (ONLY.has("memory")) results.memory = await memory(main);
  if (ONLY.has("unifi")) {
    if (unifi.skipped) {
      results.unifi = { skipped: unifi.skipped };
      log(`unifi: skipped: ${unifi.skipped}`);
    } else {
      log("unifi: measuring notifications/s");
      results.unifi = await unifi.measure({ deploy: main.deploy, counts: main.counts, reset: main.reset, log, profiler: main.profiler, pid: main.red.process.pid });
      results.problems.push(...(results.unifi.problems ?? []));
    }
  }
  await main.stop();

  // ---- for information: httpAdminRoot "/admin", so nothing but httpNode is mounted on the callback path -----
  if (ONLY.has("admin") && ADMIN_ROOT === "/") {
    const admin = await startBenchNodeRed({ tgz, httpAdminRoot: "/admin", profileDir: null, plain, idBase: 0x50000000 });
    const receivers = RECEIVERS.filter((name) => name !== "plain");
    await warmUp(admin, receivers);
    results.admin = { ingest: await ingest(admin, cfg.adminRounds, receivers) };
    if (receivers.includes("nuki")) results.admin.fixed = await fixedRate(admin, { receivers: ["nuki"] });
    await admin.stop();
  }

  // ---- 6: start time ---------------------------------------------------------------------------------
  if (ONLY.has("startup")) results.startup = await startup(tgz);
}

function describeParams() {
  const p = results.params;
  p.autocannon = require("autocannon/package.json").version;
  p.connections = cfg.connections;
  p.devicesPerConnection = cfg.devicesPerConnection;
  p.bodyBytes = new DevicePool(0x10000000, 1).devices[0].next("door").length;
  p.warmup = SMOKE ? `${cfg.warmupRequests} requests` : `at least ${cfg.warmupSeconds} s (batches of 1000 requests)`;
  p.round = SMOKE ? `${cfg.roundRequests} requests` : `about ${cfg.roundSeconds} s (a fixed number of requests: the receiver's last req/s × ${cfg.roundSeconds})`;
  p.rounds = cfg.rounds;
  const ratePool = Math.round(cfg.rate * cfg.ratePoolSeconds);
  p.fixed = `${cfg.rateRounds} round(s), each on a collected Node-RED heap (see ingest), of ${cfg.rate} req/s for ${cfg.rateSeconds} s per receiver (${cfg.rate * cfg.rateSeconds} requests each), interleaved (1, 2, 3, 1, 2, 3, …), bodies rotating over ${ratePool} devices (each device every ${cfg.ratePoolSeconds} s), after one unmeasured pass over all of them; the table shows the round with the median p99 and the p99 over the answers of all rounds together`;
  p.memory = `${cfg.memWarmupEvents} warm-up events, then ${cfg.memEvents} events (callbacks that flip six aspects at once: lock, door, battery critical, charging, level, keypad battery → 6 events per request, over ${cfg.connections * cfg.devicesPerConnection} devices); RSS from /proc/<pid>/status VmRSS after forcing GC twice (Node-RED started with --expose-gc, gc() called from a function node) and a 1 s pause`;
  p.startup = `median of ${cfg.starts} starts each, alternating (with, without, without, with, …), from spawn of red.js to GET /settings answering 200 and the "Started flows" log line (polled every 5 ms), empty flows, after one unmeasured start per userDir; "with" = the packed package installed in userDir/node_modules (with its dependencies), "without" = an empty userDir`;
  p.admin = `a second Node-RED (fresh userDir) with httpAdminRoot "/admin": ${cfg.adminRounds} round(s) of receivers 1 and 2 after the same warm-up, and 7 for receiver 1`;
  p.unifi = "not run";
}

/** A Node-RED with the packed package and the bench flows, a Nuki Bridge simulator for its config node, and its receivers. */
async function startBenchNodeRed({ tgz, httpAdminRoot, profileDir, plain, idBase }) {
  const userDir = await harness.createUserDir(tgz);
  const sim = new NukiBridgeSimulator({ token: TOKEN, busyMs: 5, actionMs: 50 });
  await sim.start();
  cleanups.push(() => sim.stop());
  const simPort = Number(new URL(sim.url).port);
  // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preloaded script profiles between two POST /bench/profile.
  const preload = path.join(root, "bench", "lib", "profiler-preload.cjs");
  const nodeOptions = ["--expose-gc", ...(profileDir ? [`--require=${JSON.stringify(preload)}`] : [])].join(" ");
  log(`starting Node-RED (httpAdminRoot ${JSON.stringify(httpAdminRoot)}, NODE_OPTIONS=${nodeOptions})`);
  const red = await harness.startNodeRed({ userDir, httpAdminRoot, env: { NODE_OPTIONS: nodeOptions, ...(profileDir ? { SMARTLOCKS_PROFILE_DIR: profileDir, SMARTLOCKS_PROFILE_KIND: PROFILE } : {}) } });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await red.stop();
    await sim.stop();
  };
  cleanups.push(stop);
  const deploy = (extra = []) => red.deployFlows(benchFlows({ simPort, token: TOKEN, secret: SECRET, extra }));
  await deploy();
  await waitUntil(() => sim.callbacks.length === 1, 20000, "the listener's callback registration at the simulator");
  log("flows deployed, callback registered");

  const counts = async () => (await (await fetch(`${red.nodeUrl}bench/counts`)).json());
  const reset = async () => (await fetch(`${red.nodeUrl}bench/reset`, { method: "POST" })).arrayBuffer();
  const devices = cfg.connections * cfg.devicesPerConnection;
  const ratePool = Math.round(cfg.rate * cfg.ratePoolSeconds);
  const receiver = (label, url, count, pid, reset, base, { memUrl, gc }) => ({
    label,
    memUrl,
    gc,
    url,
    count,
    pid,
    reset,
    pool: new DevicePool(base, devices),
    ratePool: new DevicePool(base + 0x01000000, ratePool),
  });
  const memUrl = `${red.nodeUrl}bench/mem`;
  const gcCall = async (action) => (await fetch(`${red.nodeUrl}bench/gc`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ action }) })).json();
  const gc = { start: () => gcCall("start"), stop: () => gcCall("stop") };
  const receivers = {
    nuki: receiver("1 nuki-events route", `${red.nodeUrl}smartlocks/nuki/${SECRET}/bridge`, async () => (await counts()).nuki, red.process.pid, reset, idBase, { memUrl, gc }),
    user: receiver("2 http in → function", `${red.nodeUrl}${USER_PATH.slice(1)}`, async () => (await counts()).user, red.process.pid, reset, idBase + 0x02000000, { memUrl, gc }),
    // the plain server keeps its devices' state across Node-RED instances: its pools are made once
    plain: (plain.receiver ??= receiver("3 plain Node http", `${plain.url}/callback`, plain.count, plain.pid, plain.reset, 0x7a000000, { gc: plain.gc })),
  };
  return { red, sim, deploy, counts, reset, receivers, rates: {}, stop, profiler: profilerFor(red, profileDir), httpAdminRoot };
}

function profilerFor(red, profileDir) {
  let started = false;
  let answeredAtStart = 0;
  const ext = PROFILE === "heap" ? ".heapprofile" : ".cpuprofile";
  const what = PROFILE === "heap" ? "allocation profile" : "CPU profile";
  const toggle = async () => (await fetch(`${red.nodeUrl}bench/profile`, { method: "POST" })).arrayBuffer();
  return {
    async start() {
      if (!profileDir || started) return;
      started = true;
      answeredAtStart = answeredByNodeRed;
      await toggle();
      log(`${what} started`);
    },
    async stop() {
      if (!profileDir || !started) return;
      started = false;
      const before = new Set(readdirSync(profileDir));
      await toggle();
      await waitUntil(() => readdirSync(profileDir).some((f) => f.endsWith(ext) && !before.has(f)), 30000, `the ${what}`);
      const file = newestProfile(profileDir, ext);
      const profile = JSON.parse(readFileSync(file, "utf8"));
      const requests = answeredByNodeRed - answeredAtStart;
      const summary = PROFILE === "heap" ? formatHeapSummary(summariseHeap(profile, { top: 25 }), { requests }) : formatSummary(summarise(profile, { top: 25 }));
      results.profile = `${results.profile ? results.profile + "\n\n" : ""}${file} (${requests} requests answered by Node-RED in the window)\n\n${summary}`;
      log(`${what} ${file}\n${summary}`);
    },
  };
}

/** `requests` callback bodies from autocannon (see bench/lib/load.mjs). */
function load(receiver, { requests, pool = receiver.pool, mode = "door", overallRate }) {
  return hammer({
    url: receiver.url,
    pool,
    mode,
    connections: cfg.connections,
    devicesPerConnection: cfg.devicesPerConnection,
    amount: requests,
    ...(overallRate !== undefined ? { overallRate } : {}),
  });
}

/** Waits until the receiver's counter stops moving; returns it. */
async function settle(receiver, expected) {
  let last = -1;
  const deadline = Date.now() + 15000;
  for (;;) {
    const n = await receiver.count();
    if (n === last && (n >= expected || Date.now() > deadline)) return n;
    last = n;
    await sleep(n >= expected ? 150 : 50);
  }
}

/** Runs a load against a receiver with its counters reset; checks delivered events; adds CPU per request. */
async function measure(receiver, runLoad, eventsPerRequest = 1) {
  await receiver.reset();
  const cpuBefore = cpuTime(receiver.pid);
  const out = await runLoad(receiver);
  const cpuAfter = cpuTime(receiver.pid);
  // CPU time of the receiving process per answered request (less sensitive to a busy machine than req/s)
  out.cpuUserUs = ((cpuAfter.user - cpuBefore.user) * 1000) / out.ok;
  out.cpuSystemUs = ((cpuAfter.system - cpuBefore.system) * 1000) / out.ok;
  out.expected = out.ok * eventsPerRequest;
  out.delivered = await settle(receiver, out.expected);
  out.verified = out.delivered === out.expected && out.non2xx === 0 && !out.errors && !out.timeouts;
  if (receiver.pid !== plainPid) answeredByNodeRed += out.ok;
  if (!out.verified) {
    results.problems.push(
      `${receiver.label}: ${out.delivered} events delivered for ${out.ok} 2xx answers (expected ${out.expected}), non-2xx ${out.non2xx ?? 0}, errors ${out.errors ?? 0}, timeouts ${out.timeouts ?? 0}, statuses ${JSON.stringify(out.statuses)}`,
    );
  }
  return out;
}

/**
 * Receivers (1) and (2) share one Node-RED: before a round, its heap is collected (gc() twice, then a pause), so
 * that a round does not pay for garbage the receiver measured before it left behind (at 1000 req/s the hand-built
 * flow runs near saturation and leaves an old generation that is collected during the next round otherwise).
 */
async function collect(receiver) {
  if (!receiver.memUrl) return;
  await (await fetch(receiver.memUrl)).arrayBuffer();
  await sleep(SMOKE ? 50 : 500);
}

/** Every receiver learns every device it will see (first reports are snapshots) and the JIT warms up. */
async function warmUp(instance, names = RECEIVERS) {
  for (const name of names) {
    const receiver = instance.receivers[name];
    log(`warm-up ${receiver.label}`);
    const began = performance.now();
    do {
      const out = await load(receiver, { requests: SMOKE ? cfg.warmupRequests : 1000 });
      instance.rates[name] = out.rps;
    } while (performance.now() - began < cfg.warmupSeconds * 1000);
    // one pass over the fixed-rate devices too
    await paced({ url: receiver.url, pool: receiver.ratePool, mode: "door", rate: cfg.rate, seconds: receiver.ratePool.devices.length / cfg.rate });
    await settle(receiver, 0);
  }
}

// ---- 1-3: ingest ------------------------------------------------------------------------------------
async function ingest(instance, rounds, names = RECEIVERS) {
  const runs = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const name of names) {
      const receiver = instance.receivers[name];
      const requests = SMOKE ? cfg.roundRequests : Math.max(1000, Math.round(instance.rates[name] * cfg.roundSeconds));
      await collect(receiver);
      const out = await measure(receiver, (r) => load(r, { requests }));
      instance.rates[name] = out.rps;
      runs[name].push(out);
      log(
        `round ${round} ${receiver.label}: ${Math.round(out.rps)} req/s (${out.ok} in ${fmt(out.seconds)} s), p50 ${fmt(out.p50)} ms, p99 ${fmt(out.p99)} ms, ` +
          `CPU/request ${Math.round(out.cpuUserUs)} µs user + ${Math.round(out.cpuSystemUs)} µs system, events ${out.delivered}/${out.expected}`,
      );
    }
  }
  const out = {};
  for (const name of names) out[name] = { ...medianRun(runs[name]), rounds: runs[name].map((r) => r.rps), verified: runs[name].every((r) => r.verified) };
  return out;
}

// ---- 7: latency at a fixed rate ---------------------------------------------------------------------
async function fixedRate(instance, { receivers = RECEIVERS, autocannon = false, rounds = cfg.rateRounds } = {}) {
  const out = { rate: cfg.rate, slowMs: cfg.slowMs };
  const runs = Object.fromEntries(receivers.map((name) => [name, []]));
  const latencies = Object.fromEntries(receivers.map((name) => [name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const name of receivers) {
      const receiver = instance.receivers[name];
      await collect(receiver);
      await receiver.gc.start();
      const stealBefore = stealMs();
      const x = await measure(receiver, (r) => paced({ url: r.url, pool: r.ratePool, mode: "door", rate: cfg.rate, seconds: cfg.rateSeconds }));
      x.stealMsPerSecond = (stealMs() - stealBefore) / x.seconds;
      const recording = await receiver.gc.stop();
      x.tail = tailAttribution(x.timeline, recording.pauses, cfg.slowMs);
      x.senderTail = tailAttribution(x.timeline, x.senderPauses, cfg.slowMs);
      delete x.senderPauses;
      x.loop = recording.loop;
      for (const [, ms] of x.timeline) latencies[name].push(ms);
      delete x.timeline;
      runs[name].push(x);
      log(
        `fixed ${cfg.rate} req/s round ${round} ${receiver.label}: p50 ${fmt(x.p50)} ms, p99 ${fmt(x.p99)} ms (from due ${fmt(x.p99Due)}), max ${fmt(x.max, 1)} ms; ` +
          `${x.tail.slow} answers > ${cfg.slowMs} ms, ${x.tail.slowInGc} of them during a GC pause; ${describePauses(x.tail.pauses)}; ` +
          `longest loop stall ${fmt(x.loop?.max, 1)} ms; sender: ${x.senderTail.slowInGc} slow answers during its ${describePauses(x.senderTail.pauses)}, longest stall ${fmt(x.senderStallMs, 1)} ms; ` +
          `steal ${fmt(x.stealMsPerSecond, 1)} ms/s`,
      );
    }
  }
  for (const name of receivers) {
    const all = latencies[name].sort((a, b) => a - b);
    out[name] = { ...medianBy(runs[name], "p99"), rounds: runs[name], p99All: percentile(all, 99), answersAll: all.length };
  }
  if (autocannon && receivers.includes("nuki")) {
    const x = await measure(instance.receivers.nuki, (r) => load(r, { requests: cfg.rate * cfg.rateSeconds, overallRate: cfg.rate }));
    out.autocannon = x;
    log(`autocannon overallRate ${cfg.rate} nuki: p99 ${fmt(x.p99)} ms`);
  }
  return out;
}

function describePauses(pauses) {
  const parts = Object.entries(pauses).map(([kind, k]) => `${k.count} ${kind} (p50 ${fmt(k.p50Ms, 1)}, max ${fmt(k.maxMs, 1)} ms)`);
  return parts.length ? `GC ${parts.join(", ")}` : "no GC recorded";
}

// ---- 5: memory over 1M events ----------------------------------------------------------------------
async function memory(instance) {
  const { red } = instance;
  const receiver = instance.receivers.nuki;
  const pool = new DevicePool(0x40000000, cfg.connections * cfg.devicesPerConnection);
  const perRequest = EVENTS_PER_REQUEST.all;
  log(`memory: warm-up with ${cfg.memWarmupEvents} events`);
  await load(receiver, { requests: Math.ceil(cfg.memWarmupEvents / perRequest), pool, mode: "all" });
  const sample = async () => {
    const mem = await (await fetch(`${red.nodeUrl}bench/mem`)).json();
    await sleep(1000);
    return { rss: vmRss(red.process.pid), heapUsed: mem.heapUsed, gc: mem.gc };
  };
  await settle(receiver, 0);
  const before = await sample();
  let peakRss = before.rss;
  const sampler = setInterval(() => {
    const rss = vmRss(red.process.pid);
    if (rss > peakRss) peakRss = rss;
  }, 250);
  const requests = Math.ceil(cfg.memEvents / perRequest);
  log(`memory: ${requests} requests × ${perRequest} events (RSS before ${(before.rss / 1048576).toFixed(1)} MB)`);
  const out = await measure(receiver, (r) => load(r, { requests, pool, mode: "all" }), perRequest);
  clearInterval(sampler);
  const after = await sample();
  log(`memory: RSS ${(before.rss / 1048576).toFixed(1)} → ${(after.rss / 1048576).toFixed(1)} MB (peak ${(peakRss / 1048576).toFixed(1)}), heap ${(before.heapUsed / 1048576).toFixed(1)} → ${(after.heapUsed / 1048576).toFixed(1)} MB, ${out.delivered} events in ${fmt(out.seconds, 1)} s`);
  return { events: cfg.memEvents, requests: out.ok, expected: out.expected, delivered: out.delivered, verified: out.verified, seconds: out.seconds, before, after, peakRss, gc: before.gc && after.gc };
}

// ---- 6: start time ---------------------------------------------------------------------------------
async function startup(tgz) {
  const withDir = await harness.createUserDir(tgz);
  const withoutDir = mkdtempSync(path.join(os.tmpdir(), "smartlocks-bench-bare-"));
  cleanups.push(async () => rmSync(withoutDir, { recursive: true, force: true }));
  writeFileSync(path.join(withoutDir, "package.json"), JSON.stringify({ name: "smartlocks-bench-bare", version: "0.0.0", private: true }));
  const ports = {};
  for (const [name, dir] of [["with", withDir], ["without", withoutDir]]) {
    // The harness writes settings.js (port, credentialSecret, logging) and this start warms the caches.
    const warm = await harness.startNodeRed({ userDir: dir });
    ports[name] = warm.port;
    await warm.stop();
  }
  const samples = { with: [], without: [] };
  for (let i = 0; i < cfg.starts; i++) {
    for (const [name, dir] of i % 2 ? [["without", withoutDir], ["with", withDir]] : [["with", withDir], ["without", withoutDir]]) {
      samples[name].push(await timeStart({ nodeRedDir, userDir: dir, port: ports[name] }));
    }
  }
  const summary = (list) => ({ median: median(list.map((x) => x.ms)), cpuMedian: median(list.map((x) => x.cpuMs)), samples: list.map((x) => x.ms), cpuSamples: list.map((x) => x.cpuMs) });
  const out = { with: summary(samples.with), without: summary(samples.without) };
  log(`start: with ${Math.round(out.with.median)} ms (CPU ${Math.round(out.with.cpuMedian)} ms), without ${Math.round(out.without.median)} ms (CPU ${Math.round(out.without.cpuMedian)} ms)`);
  return out;
}

function machineInfo() {
  const cpus = os.cpus();
  let git = "";
  try {
    git = execFileSync("git", ["describe", "--always", "--dirty"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    // not a git checkout
  }
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model?.trim() ?? "unknown",
    cpuMHz: cpus[0]?.speed || 0,
    totalMem: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadStart: os.loadavg().map((v) => v.toFixed(2)).join(" "),
    node: process.version,
    nodeRed: nodeRedVersion,
    nodeRedDir: path.relative(root, nodeRedDir) || nodeRedDir,
    package: `${pkg.name}@${pkg.version}`,
    git,
  };
}

/** VmRSS of a process in bytes, from /proc (Linux). */
function vmRss(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** User and system CPU time of a process in ms, from /proc/<pid>/stat (Linux; clock ticks of 10 ms). */
function cpuTime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const tick = 1000 / 100; // USER_HZ is 100 on Linux
    return { user: Number(fields[11]) * tick, system: Number(fields[12]) * tick };
  } catch {
    return { user: NaN, system: NaN };
  }
}

function newestProfile(dir, ext) {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return files[0];
}

async function startPlainServer() {
  const child = fork(path.join(root, "bench", "lib", "plain-server.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
  const port = await new Promise((resolve, reject) => {
    child.once("message", (m) => resolve(m.port));
    child.once("exit", (code) => reject(new Error(`plain server exited (${code})`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    pid: child.pid,
    count: async () => (await (await fetch(`${url}/counts`)).json()).events,
    reset: async () => (await fetch(`${url}/reset`, { method: "POST" })).arrayBuffer(),
    gc: {
      start: async () => (await fetch(`${url}/gc/start`, { method: "POST" })).json(),
      stop: async () => (await fetch(`${url}/gc/stop`, { method: "POST" })).json(),
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    },
  };
}

async function waitUntil(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
