// 4: UniFi Access WebSocket notifications per second, `unifi-access-events` versus Node-RED's core
// `websocket in` (client) → function node (what users wire today), from the same UniFi Access simulator.
// Each is deployed alone (so the simulator's broadcast reaches one receiver), warmed up, then the simulator
// pushes `frames` door position changes (access.data.v2.location.update, dps open ↔ close) as fast as the
// socket drains, rotating over DOORS doors; the rate is frames over the time until the receiver's counter has
// seen all of them. Runs only when the vendor is built and the simulator exists.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { counter } from "./flows.mjs";

const require = createRequire(import.meta.url);
const DOORS = 64;
const WS_PATH = "/api/v1/developer/devices/notifications";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// What a user writes behind `websocket in` for UniFi Access: parse, keep the door's last state, one message per change.
const USER_WS_FUNCTION = `
let m;
try { m = JSON.parse(msg.payload); } catch (e) { return null; }
if (!m || m.event !== "access.data.v2.location.update" || !m.data || !m.data.state) return null;
const d = m.data;
const now = { lock: d.state.lock, dps: d.state.dps };
const doors = context.get("doors") || {};
const prev = doors[d.id];
doors[d.id] = now;
context.set("doors", doors);
if (!prev) return null;
const out = [];
const emit = (event) => out.push({ topic: "unifi-access/" + d.id + "/" + event, payload: { event, device: d.id, name: d.name, lock: now.lock, door: now.dps === "open" ? "open" : "closed", previous: prev, receivedAt: new Date().toISOString(), raw: m } });
if (prev.dps !== now.dps) emit(now.dps === "open" ? "door.opened" : "door.closed");
if (prev.lock !== now.lock) emit(now.lock === "locked" ? "lock.locked" : "lock.unlocked");
return [out];
`;

function doorId(i) {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
}

/** The next location update of a door; doors alternate between closed and open. */
class Doors {
  constructor() {
    this.steps = new Array(DOORS).fill(0);
    this.next = 0;
    this.seq = 0;
  }

  frame(i = this.next++ % DOORS) {
    const open = this.steps[i]++ % 2 === 1;
    const id = doorId(i);
    return JSON.stringify({
      event: "access.data.v2.location.update",
      receiver_id: "",
      event_object_id: `bench-${++this.seq}`,
      save_to_history: false,
      data: {
        id,
        location_type: "door",
        name: `Bench door ${i}`,
        up_id: "7dd4125f-4f38-4645-9739-7f279c1cdaf7",
        extras: null,
        device_ids: [],
        state: { lock: "locked", dps: open ? "open" : "close", dps_connected: true, emergency: { software: "none", hardware: "none" }, is_unavailable: false },
        last_activity: Math.floor(Date.now() / 1000),
      },
      meta: { object_type: "location", target_field: null, all_field: true, id, source: "" },
    });
  }
}

/** User + system CPU ms of a process, from /proc (Linux). */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

export async function prepare({ root, frames, rounds = 1, settleMs = 1500 }) {
  if (!existsSync(path.join(root, "dist", "nodes", "unifi-access.js"))) {
    return { skipped: "dist/nodes/unifi-access.js does not exist (the UniFi Access vendor is not built)" };
  }
  const simFile = path.join(root, "test", "simulators", "unifi-access.js");
  if (!existsSync(simFile)) return { skipped: "no UniFi Access simulator (test/simulators/unifi-access.js)" };
  const { UnifiAccessSimulator } = require(simFile);
  if (typeof UnifiAccessSimulator !== "function") return { skipped: "test/simulators/unifi-access.js exports no UnifiAccessSimulator" };
  const sim = new UnifiAccessSimulator({ heartbeatMs: 2000 });
  await sim.start();
  const url = new URL(sim.url);
  const colons = (hex) => hex.match(/.{2}/g).join(":");

  const oursNodes = () => [
    {
      id: "bench-ua-cfg",
      type: "unifi-access-config",
      name: "bench controller",
      host: url.hostname,
      port: Number(url.port),
      tls: "pin",
      fingerprint: colons(sim.fingerprint),
      webhooks: false,
      callbackUrl: "",
      credentials: { token: sim.token, routeSecret: "BenchUnifiRouteSecret_0123" },
    },
    { id: "bench-ua-ev", type: "unifi-access-events", config: "bench-ua-cfg", devices: [], events: [], wires: [["bench-count-unifi"]] },
    counter("bench-count-unifi", "unifi"),
  ];
  const coreNodes = () => [
    { id: "bench-tls", type: "tls-config", name: "", cert: "", key: "", ca: "", certname: "", keyname: "", caname: "", servername: "", verifyservercert: false, alpnprotocol: "" },
    {
      id: "bench-ws-client",
      type: "websocket-client",
      path: `wss://${url.hostname}:${url.port}${WS_PATH}`,
      tls: "bench-tls",
      wholemsg: "false",
      hb: "0",
      subprotocol: "",
      headers: [{ keyType: "other", keyValue: "Authorization", valueType: "other", valueValue: `Bearer ${sim.token}` }],
    },
    { id: "bench-ws-in", type: "websocket in", name: "", server: "", client: "bench-ws-client", wires: [["bench-ws-fn"]] },
    { id: "bench-ws-fn", type: "function", name: "user: compare door state", func: USER_WS_FUNCTION, outputs: 1, wires: [["bench-count-ws"]] },
    counter("bench-count-ws", "ws"),
  ];

  const openClients = () => [...sim.clients].filter((ws) => ws.readyState === ws.OPEN);

  /** Sends `n` frames, waiting whenever the socket holds more than 1 MiB unsent. */
  async function pump(doors, n) {
    for (let i = 0; i < n; i++) {
      sim.broadcastRaw(doors.frame());
      if (i % 64 === 63) {
        while (openClients().some((ws) => ws.bufferedAmount > 1 << 20)) await new Promise((r) => setImmediate(r));
      }
    }
  }

  async function run(name, nodes, { deploy, counts, reset, log, profiler, pid }, round) {
    await deploy(nodes);
    const deadline = Date.now() + 20000;
    while (openClients().length !== 1) {
      if (Date.now() > deadline) throw new Error(`unifi ${name}: expected one WebSocket client at the simulator, have ${openClients().length}`);
      await sleep(50);
    }
    await sleep(settleMs); // the listener's REST resync after connecting
    const doors = new Doors();
    // warm-up: every door known (first reports are snapshots, not changes), then a few rounds of changes
    await pump(doors, DOORS * 4);
    let last = -1;
    for (;;) {
      const n = (await counts())[name];
      if (n === last) break;
      last = n;
      await sleep(300);
    }
    await reset();
    if (name === "unifi" && round === 1) await profiler?.start();
    const cpuBefore = cpuMs(pid);
    const began = performance.now();
    await pump(doors, frames);
    let delivered = 0;
    let lastChange = performance.now();
    let doneAt = began;
    for (;;) {
      const n = (await counts())[name];
      const now = performance.now();
      if (n !== delivered) {
        delivered = n;
        lastChange = now;
        doneAt = now;
      }
      if (delivered >= frames || now - lastChange > 3000) break;
      await sleep(20);
    }
    const cpu = cpuMs(pid) - cpuBefore;
    if (name === "unifi" && round === 1) await profiler?.stop();
    const seconds = (doneAt - began) / 1000;
    const out = { frames, delivered, seconds, rate: delivered / seconds, cpuUs: (cpu * 1000) / Math.max(1, delivered) };
    log(`unifi round ${round} ${name}: ${delivered}/${frames} notifications in ${seconds.toFixed(2)} s = ${Math.round(out.rate)}/s, Node-RED CPU ${Math.round(out.cpuUs)} µs per notification`);
    return out;
  }

  return {
    params: `${rounds} round(s), alternating, of ${frames} door position notifications (access.data.v2.location.update, dps open ↔ close, ${DOORS} doors, about ${Buffer.byteLength(new Doors().frame(0))} bytes each) per receiver over the simulator's TLS WebSocket, sent as fast as the socket drains (at most 1 MiB unsent), after a warm-up of ${DOORS * 4}; each receiver deployed alone (redeployed every round); rate = notifications delivered to the counting node / time from the first send to the last one counted (counter polled every 20 ms), the round with the median rate is shown; Node-RED CPU per notification from /proc. unifi-access-config: tls pin, webhooks off; core: websocket-client with an Authorization header and a tls-config without certificate verification, → a function node that parses and compares the door state`,
    stop: () => sim.stop(),
    async measure(ctx) {
      const runs = { ours: [], core: [] };
      for (let round = 1; round <= rounds; round++) {
        runs.ours.push(await run("unifi", oursNodes(), ctx, round));
        runs.core.push(await run("ws", coreNodes(), ctx, round));
      }
      await ctx.deploy([]);
      const pick = (list) => ({ ...[...list].sort((a, b) => a.rate - b.rate)[Math.floor((list.length - 1) / 2)], rounds: list.map((x) => x.rate) });
      const result = { ours: pick(runs.ours), core: pick(runs.core) };
      const problems = [];
      for (const [label, list] of [["unifi-access-events", runs.ours], ["websocket in → function", runs.core]]) {
        for (const x of list) if (x.delivered !== x.frames) problems.push(`UniFi Access ${label}: ${x.delivered} of ${x.frames} notifications delivered`);
      }
      if (problems.length) result.problems = problems;
      return result;
    },
  };
}
