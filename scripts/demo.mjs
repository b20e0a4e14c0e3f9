// `npm run demo`: the test simulators as demo devices (a Nuki Bridge with a Smart Lock and an Opener, a Tedee
// Bridge with two locks, a UniFi Access controller with two doors), and Node-RED with this plugin (through
// scripts/start.mjs, user directory .node-red-demo/) running a flow wired to them. Door events show up in the
// Debug sidebar; the inject buttons move the simulated locks (through the plugin's action nodes) or play a
// physical happening at a simulator (door opened, doorbell, keypad...). Everything listens on 127.0.0.1.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { NukiBridgeSimulator } = require("../test/simulators/nuki-bridge.js");
const { TedeeBridgeSimulator } = require("../test/simulators/tedee-bridge.js");
const { UnifiAccessSimulator } = require("../test/simulators/unifi-access.js");

const port = Number(process.env.PORT || 1880);
const base = Number(process.env.DEMO_PORT_BASE || 18080);
const TOKENS = { nuki: "demo-nuki-token", tedee: "demo-tedee-token", unifi: "demo-unifi-token" };
// Route secrets are made once per demo run (the editor makes them when a config node is created).
const secret = () => randomBytes(18).toString("base64url");
const NUKI_LOCK = { id: "3E63C84D", nukiId: 1046726733 };
const NUKI_OPENER = { id: "1A2B3C4D", nukiId: 439041101 };

const sims = {
  nuki: new NukiBridgeSimulator({ port: base, token: TOKENS.nuki, controlApi: true }),
  tedee: new TedeeBridgeSimulator({ port: base + 1, token: TOKENS.tedee, controlApi: true }),
  unifi: new UnifiAccessSimulator({ port: base + 2, token: TOKENS.unifi }),
};

let nodeRed = null;
async function shutdown(code = 0) {
  if (nodeRed && nodeRed.exitCode === null) {
    nodeRed.kill("SIGINT");
    await new Promise((resolve) => nodeRed.once("exit", resolve));
  }
  await Promise.all(Object.values(sims).map((sim) => sim.stop().catch(() => undefined)));
  process.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => void shutdown(0));

try {
  await sims.nuki.start();
  await sims.tedee.start();
  await sims.unifi.start();
  const tedeeLock = sims.tedee.devices[0];
  const door = sims.unifi.doors[0];

  nodeRed = spawn(process.execPath, [join(root, "scripts", "start.mjs")], {
    cwd: root,
    env: { ...process.env, PORT: String(port), SMARTLOCKS_USER_DIR: process.env.SMARTLOCKS_DEMO_DIR || ".node-red-demo" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  nodeRed.once("exit", (code) => {
    nodeRed = null;
    void shutdown(code ?? 1);
  });
  await waitForNodeRed(`http://127.0.0.1:${port}/settings`);
  await deploy(`http://127.0.0.1:${port}/flows`, demoFlow({ tedeeLock, door }));
  // Node-RED answers the deploy before every node has started: "ready" only once the demo flow's own route answers.
  await waitForNodeRed(`http://127.0.0.1:${port}/demo/doors`);
  console.log(`
smartlocks demo ready: open http://127.0.0.1:${port}/ and the Debug sidebar.
  Simulated devices: Nuki Bridge ${sims.nuki.url}, Tedee Bridge ${sims.tedee.url}, UniFi Access ${sims.unifi.url}
  Press the inject buttons: actions move the simulated locks; "simulate" buttons play a physical happening.
  Current state of every door: http://127.0.0.1:${port}/demo/doors
  Ctrl+C stops Node-RED and the simulators.`);
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : err}`);
  await shutdown(1);
}

async function waitForNodeRed(url) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Node-RED did not answer ${url}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function deploy(url, flows) {
  // Node-RED answers /settings before its start-up deploy is done; a deploy during it is refused or lost.
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Node-RED-Deployment-Type": "full", "Node-RED-API-Version": "v1" },
      body: JSON.stringify(flows),
    });
    if (res.ok) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("could not deploy the demo flow");
}

/** The demo tab: one listener, action buttons and "simulate" buttons per simulated vendor. */
function demoFlow({ tedeeLock, door }) {
  const tab = "demo-tab";
  const nodes = [{ id: tab, type: "tab", label: "Smart locks demo", info: "Made by npm run demo; talks to simulated devices on 127.0.0.1." }];
  let y = 40;
  const row = () => (y += 50);
  const add = (node) => nodes.push({ z: tab, ...node });
  add({ id: "demo-comment", type: "comment", name: "Door events from three simulated vendors, in one shape: see the Debug sidebar", x: 330, y, wires: [] });
  add({ id: "demo-debug", type: "debug", name: "door events", active: true, tosidebar: true, console: false, tostatus: false, complete: "payload", targetType: "msg", x: 880, y: 140, wires: [] });
  add({ id: "demo-result", type: "debug", name: "action results", active: true, tosidebar: true, console: false, tostatus: false, complete: "payload", targetType: "msg", x: 880, y: 420, wires: [] });
  add({ id: "demo-errors", type: "debug", name: "action errors", active: true, tosidebar: true, console: false, tostatus: false, complete: "error", targetType: "msg", x: 880, y: 480, wires: [] });
  add({ id: "demo-catch", type: "catch", name: "", scope: null, uncaught: false, x: 660, y: 480, wires: [["demo-errors"]] });

  const inject = (id, name, payload, target, type = "str") =>
    add({ id, type: "inject", name, props: [{ p: "payload" }], repeat: "", once: false, topic: "", payload: type === "json" ? JSON.stringify(payload) : payload, payloadType: type, x: 180, y: row(), wires: [[target]] });
  const simulate = (id, name, url) => {
    add({ id, type: "inject", name: `simulate: ${name}`, props: [{ p: "payload" }], repeat: "", once: false, topic: "", payload: "{}", payloadType: "json", x: 180, y: row(), wires: [[`${id}-post`]] });
    add({ id: `${id}-post`, type: "http request", name: "", method: "POST", ret: "txt", paytoqs: "ignore", url, x: 420, y, wires: [[]] });
  };

  // Nuki
  nodes.push({ id: "demo-nuki-cfg", type: "nuki-config", name: "simulated Nuki Bridge", host: "127.0.0.1", port: base, auth: "encrypted", callbackUrl: "", webApiUrl: "https://api.nuki.io", webhookUrl: "", credentials: { token: TOKENS.nuki, routeSecret: secret() } });
  add({ id: "demo-nuki-ev", type: "nuki-events", name: "Nuki events", config: "demo-nuki-cfg", devices: [], events: [], x: 620, y: 100, wires: [["demo-debug"]] });
  add({ id: "demo-nuki-act", type: "nuki-action", name: "Nuki action", config: "demo-nuki-cfg", device: "", action: "", confirm: true, timeout: 30, x: 620, y: 300, wires: [["demo-result"]] });
  const nukiSim = `${sims.nuki.url}/_sim/devices`;
  inject("demo-nuki-unlock", "Nuki: unlock", { action: "unlock", device: NUKI_LOCK.id }, "demo-nuki-act", "json");
  inject("demo-nuki-lock", "Nuki: lock", { action: "lock", device: NUKI_LOCK.id }, "demo-nuki-act", "json");
  inject("demo-nuki-rto", "Opener: ring to open on", { action: "ring_to_open_on", device: NUKI_OPENER.id }, "demo-nuki-act", "json");
  simulate("demo-nuki-open", "front door opened", `${nukiSim}/${NUKI_LOCK.nukiId}/open-door`);
  simulate("demo-nuki-close", "front door closed", `${nukiSim}/${NUKI_LOCK.nukiId}/close-door`);
  simulate("demo-nuki-ring", "doorbell at the Opener", `${nukiSim}/${NUKI_OPENER.nukiId}/ring`);

  // Tedee
  nodes.push({ id: "demo-tedee-cfg", type: "tedee-config", name: "simulated Tedee Bridge", host: "127.0.0.1", port: base + 1, auth: "encrypted", callbackUrl: "", cloudUrl: "https://api.tedee.com", credentials: { token: TOKENS.tedee, routeSecret: secret() } });
  add({ id: "demo-tedee-ev", type: "tedee-events", name: "Tedee events", config: "demo-tedee-cfg", devices: [], events: [], x: 620, y: 160, wires: [["demo-debug"]] });
  add({ id: "demo-tedee-act", type: "tedee-action", name: "Tedee action", config: "demo-tedee-cfg", device: String(tedeeLock.id), action: "", confirm: true, timeout: 30, x: 620, y: 360, wires: [["demo-result"]] });
  inject("demo-tedee-unlatch", "Tedee: unlatch", "unlatch", "demo-tedee-act");
  inject("demo-tedee-lock", "Tedee: lock", "lock", "demo-tedee-act");
  simulate("demo-tedee-jam", "Tedee lock jammed", `${sims.tedee.url}/_sim/devices/${tedeeLock.id}/jam`);

  // UniFi Access (trust on first use of the simulator's self-signed certificate)
  nodes.push({ id: "demo-unifi-cfg", type: "unifi-access-config", name: "simulated UniFi Access", host: "127.0.0.1", port: base + 2, tls: "pin", fingerprint: "", webhooks: true, callbackUrl: "", unknownEvents: false, actorName: "Node-RED demo", credentials: { token: TOKENS.unifi, routeSecret: secret() } });
  add({ id: "demo-unifi-ev", type: "unifi-access-events", name: "UniFi Access events", config: "demo-unifi-cfg", devices: [], events: [], x: 620, y: 220, wires: [["demo-debug"]] });
  add({ id: "demo-unifi-act", type: "unifi-access-action", name: "UniFi Access action", config: "demo-unifi-cfg", device: door.id, action: "", confirm: true, timeout: 30, x: 640, y: 420, wires: [["demo-result"]] });
  inject("demo-unifi-unlock", `UniFi: unlock ${door.name}`, "unlock", "demo-unifi-act");
  const doorSim = `${sims.unifi.url}/_sim/doors/${door.id}`;
  simulate("demo-unifi-nfc", "NFC card at the reader", `${doorSim}/nfc`);
  simulate("demo-unifi-ring", "doorbell at the reader", `${doorSim}/ring`);
  simulate("demo-unifi-open", `${door.name} opened`, `${doorSim}/open`);

  // What every door looks like now, for a browser: GET /demo/doors
  add({ id: "demo-doors-in", type: "http in", name: "", url: "/demo/doors", method: "get", upload: false, x: 150, y: row() + 20, wires: [["demo-doors"]] });
  add({ id: "demo-doors", type: "door-state", name: "all doors", device: "", emitOnChange: false, x: 360, y, wires: [["demo-doors-out"]] });
  add({ id: "demo-doors-out", type: "http response", name: "", statusCode: "", headers: {}, x: 540, y, wires: [] });
  // The UniFi simulator uses TLS with a self-signed certificate: its control API is reached over https, so the
  // core http request nodes for it skip verification (demo only).
  for (const node of nodes) if (node.type === "http request" && node.url.startsWith("https:")) node.tls = "demo-insecure";
  if (nodes.some((n) => n.tls === "demo-insecure")) nodes.push({ id: "demo-insecure", type: "tls-config", name: "demo: self-signed simulator", cert: "", key: "", ca: "", certname: "", keyname: "", caname: "", servername: "", verifyservercert: false, alpnprotocol: "" });
  return nodes;
}
