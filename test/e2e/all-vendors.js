"use strict";
// Shared by the all-vendor end-to-end specs (redeploy-leaks, secrets, faults): starts every vendor simulator,
// builds one flow with a config + listener + action per vendor (Nuki bridge and Nuki Web on one config node,
// Tedee bridge + cloud, LOQED bridge + cloud, UniFi Access) plus door-state, and gives small HTTP helpers.
// Not a spec itself (mocha only runs *.spec.js).
const crypto = require("node:crypto");
const http = require("node:http");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");
const { NukiWebSimulator, defaultDevices: nukiWebDevices } = require("../simulators/nuki-web");
const { TedeeBridgeSimulator, STATE: TEDEE_STATE } = require("../simulators/tedee-bridge");
const { TedeeCloudSimulator } = require("../simulators/tedee-cloud");
const { LoqedBridgeSimulator, LoqedCloudSimulator } = require("../simulators/loqed-bridge");
const { UnifiAccessSimulator } = require("../simulators/unifi-access");

const NUKI = { LOCK: "3E63C84D", LOCK_ID: 1046726733, OPENER: "1A2B3C4D", OPENER_ID: 439041101, GARAGE: "6A6A6A6A" };
const TEDEE = { FRONT: 33819, BACK: 10 };
const LOQED = { MAC: "aabbccddeeff" };
const UNIFI = { FRONT: "5785e97b-6123-4596-ba49-b6e51164db9b", GARAGE: "0ed545f8-2fcd-4839-9021-b39e707f6aa9" };
const VENDORS = ["nuki", "tedee", "loqed", "unifi-access"];

/** Default secrets: valid but ordinary. The secrets spec passes distinctive ones. */
function defaultSecrets() {
  return {
    nukiToken: "allv-nuki-bridge-token",
    nukiWebToken: "allv-nuki-web-token",
    nukiRoute: "allvNukiRouteSecret_0123456789",
    tedeeToken: "allvTedeeToken",
    tedeeCloudKey: "allv-tedee-cloud-key",
    tedeeRoute: "allvTedeeRouteSecret_012345678",
    loqedBridgeKey: Buffer.from("allv loqed bridge key").toString("base64"),
    loqedKeySecret: Buffer.from("allv loqed key secret").toString("base64"),
    loqedCloudToken: "allv-loqed-cloud-token",
    loqedRoute: "allvLoqedRouteSecret_012345678",
    unifiToken: "allv-unifi-token-" + crypto.randomBytes(6).toString("hex"),
    unifiRoute: "allvUnifiRouteSecret_012345678",
  };
}

/** Starts every simulator with the given secrets (the real values, not `${ENV}` references). */
async function startSimulators(secrets, options = {}) {
  const nukiBridge = new NukiBridgeSimulator({ token: secrets.nukiToken, busyMs: 20, actionMs: 100, ...options.nukiBridge });
  await nukiBridge.start();
  const nukiWeb = new NukiWebSimulator({
    token: secrets.nukiWebToken,
    allowHttpWebhooks: true,
    actionMs: 80,
    logDelayMs: 40,
    devices: [...nukiWebDevices(), { nukiId: 0x6a6a6a6a, type: 4, name: "Garage", state: { mode: 2, state: 1, batteryCritical: false, batteryCharge: 90, doorState: 2 } }],
  });
  await nukiWeb.start();
  const tedeeBridge = new TedeeBridgeSimulator({ token: secrets.tedeeToken, busyMs: 10, actionMs: 60, modeFrom: "header", ...options.tedeeBridge });
  await tedeeBridge.start();
  const tedeeCloud = new TedeeCloudSimulator({ key: secrets.tedeeCloudKey, ...options.tedeeCloud });
  await tedeeCloud.start();
  const loqedBridge = new LoqedBridgeSimulator({ bridgeKey: secrets.loqedBridgeKey, keys: { 1: secrets.loqedKeySecret }, bolt: "night_lock" });
  await loqedBridge.start();
  const loqedCloud = new LoqedCloudSimulator({ token: secrets.loqedCloudToken });
  await loqedCloud.start();
  const unifi = new UnifiAccessSimulator({ heartbeatMs: 1000, relockMs: 500, token: secrets.unifiToken, ...options.unifi });
  await unifi.start();
  const sims = { nukiBridge, nukiWeb, tedeeBridge, tedeeCloud, loqedBridge, loqedCloud, unifi };
  sims.stopAll = async () => {
    for (const sim of [nukiBridge, nukiWeb, tedeeBridge, tedeeCloud, loqedBridge, loqedCloud, unifi]) await sim.stop().catch(() => undefined);
  };
  return sims;
}

/** Our registrations at each simulator (another application's are never counted). */
function ours(sims, secrets) {
  return {
    nukiBridge: sims.nukiBridge.callbacks.filter((c) => c.url.includes(`/smartlocks/nuki/${secrets.nukiRoute}/`)),
    nukiWeb: sims.nukiWeb.webhooks.filter((w) => w.webhookUrl.includes(`/smartlocks/nuki/${secrets.nukiRoute}/`)),
    tedeeBridge: sims.tedeeBridge.callbacks.filter((c) => c.url.includes(`/smartlocks/tedee/${secrets.tedeeRoute}/`)),
    loqedBridge: sims.loqedBridge.webhooks.filter((w) => w.url.includes(`/smartlocks/loqed/${secrets.loqedRoute}/`)),
    unifi: sims.unifi.webhooks.filter((w) => w.endpoint.includes(`/smartlocks/unifi-access/${secrets.unifiRoute}/`)),
  };
}

/** Every registration of anyone, at each simulator. */
function allRegistrations(sims) {
  return {
    nukiBridge: sims.nukiBridge.callbacks.length,
    nukiWeb: sims.nukiWeb.webhooks.length,
    tedeeBridge: sims.tedeeBridge.callbacks.length,
    loqedBridge: sims.loqedBridge.webhooks.length,
    unifi: sims.unifi.webhooks.length,
  };
}

const counts = (registrations) => Object.fromEntries(Object.entries(registrations).map(([k, v]) => [k, v.length]));

/** Every inbound route of the flow: `{ vendor, secret key, channel }`. */
function routes(secrets) {
  return [
    ["nuki", secrets.nukiRoute, "bridge"],
    ["nuki", secrets.nukiRoute, "web"],
    ["tedee", secrets.tedeeRoute, "bridge"],
    ["loqed", secrets.loqedRoute, "bridge"],
    ["loqed", secrets.loqedRoute, "cloud"],
    ["unifi-access", secrets.unifiRoute, "webhook"],
  ];
}

const colons = (hex) => hex.match(/.{2}/g).join(":");

/**
 * The all-vendor flow. `creds` are the credential values to put into the flow (real values or `${ENV}`
 * references); `secrets` the real route secrets (for URLs). Per vendor: config, listener → /events/<vendor>,
 * `POST /test/act/<vendor>` → action → http response, Catch → /catch/<vendor> and the response (500).
 * Also: door-state behind `POST /test/door`, `GET /test/handles` (open handles of the Node-RED process, through
 * the builtin module `process` loaded by a function node), and optionally a Status node for every node of the flow
 * but its own pipeline (→ /status) and a Catch for all of them (→ /catch/all).
 */
function buildFlows({ sims, red, collectorUrl, creds, statusAll = false, confirmTimeout = 10, tedeeSetting = {} }) {
  const z = "allv";
  const post = (id, path) => ({ id, type: "http request", z, method: "POST", ret: "txt", paytoqs: "ignore", url: `${collectorUrl}${path}`, wires: [[]] });
  const nodes = [
    { id: z, type: "tab", label: "all vendors" },
    {
      id: "nuki-cfg", type: "nuki-config", name: "nuki sim", host: "127.0.0.1", port: Number(sims.nukiBridge.url.split(":").pop()), auth: "encrypted", callbackUrl: "",
      webApiUrl: sims.nukiWeb.url, webhookUrl: red.url,
      credentials: { token: creds.nukiToken, webToken: creds.nukiWebToken, routeSecret: creds.nukiRoute },
    },
    {
      id: "tedee-cfg", type: "tedee-config", name: "tedee sim", host: "127.0.0.1", port: Number(sims.tedeeBridge.url.split(":").pop()), auth: "encrypted", callbackUrl: "",
      cloudUrl: sims.tedeeCloud.url, credentials: { token: creds.tedeeToken, cloudKey: creds.tedeeCloudKey, routeSecret: creds.tedeeRoute }, ...tedeeSetting,
    },
    {
      id: "loqed-cfg", type: "loqed-config", name: "loqed sim", host: "127.0.0.1", port: sims.loqedBridge.port, keyId: 1, lockId: "", callbackUrl: "",
      cloudUrl: sims.loqedCloud.url, keyNames: "1=Node-RED", timestampWindow: 20, allowMissingTimestamp: false,
      credentials: { bridgeKey: creds.loqedBridgeKey, keySecret: creds.loqedKeySecret, cloudToken: creds.loqedCloudToken, routeSecret: creds.loqedRoute },
    },
    {
      id: "unifi-access-cfg", type: "unifi-access-config", name: "unifi sim", host: "127.0.0.1", port: sims.unifi.port, tls: "pin", fingerprint: colons(sims.unifi.fingerprint),
      webhooks: true, callbackUrl: red.url, unknownEvents: false, actorName: "e2e",
      credentials: { token: creds.unifiToken, routeSecret: creds.unifiRoute },
    },
    { id: "door-in", type: "http in", z, url: "/test/door", method: "post", wires: [["door-query"]] },
    { id: "door-query", type: "door-state", z, name: "", device: "", emitOnChange: false, wires: [["resp"]] },
    { id: "handles-in", type: "http in", z, url: "/test/handles", method: "get", wires: [["handles-fn"]] },
    {
      id: "handles-fn", type: "function", z, outputs: 1, libs: [{ var: "proc", module: "process" }],
      func: "msg.payload = { handles: proc._getActiveHandles().map((h) => (h && h.constructor && h.constructor.name) || typeof h), requests: proc._getActiveRequests().length, resources: proc.getActiveResourcesInfo() };\nmsg.headers = { connection: 'close' };\nreturn msg;",
      wires: [["resp"]],
    },
    { id: "resp", type: "http response", z, statusCode: "", headers: {}, wires: [] },
  ];
  for (const vendor of VENDORS) {
    nodes.push(
      { id: `${vendor}-ev`, type: `${vendor}-events`, z, config: `${vendor}-cfg`, devices: [], events: [], wires: [[`${vendor}-ev-post`]] },
      post(`${vendor}-ev-post`, `/events/${vendor}`),
      { id: `${vendor}-in`, type: "http in", z, url: `/test/act/${vendor}`, method: "post", wires: [[`${vendor}-act`]] },
      { id: `${vendor}-act`, type: `${vendor}-action`, z, config: `${vendor}-cfg`, device: "", action: "", confirm: true, timeout: confirmTimeout, wires: [[`${vendor}-act-copy`]] },
      // The action's output goes to the caller and, untouched, to the collector (everything a flow could see).
      { id: `${vendor}-act-copy`, type: "function", z, outputs: 2, func: "const copy = RED.util.cloneMessage(msg); delete copy.req; delete copy.res;\nreturn [msg, { payload: copy }];", wires: [["resp"], [`${vendor}-out-post`]] },
      post(`${vendor}-out-post`, `/out/${vendor}`),
      { id: `${vendor}-catch`, type: "catch", z, scope: [`${vendor}-act`], uncaught: false, wires: [[`${vendor}-catch-fn`]] },
      {
        id: `${vendor}-catch-fn`, type: "function", z, outputs: 2,
        func: "const copy = RED.util.cloneMessage(msg); delete copy.req; delete copy.res;\nconst answer = { ...msg, payload: { code: msg.error.code, message: msg.error.message }, statusCode: 500 };\nreturn [answer, { payload: copy }];",
        wires: [["resp"], [`${vendor}-catch-post`]],
      },
      post(`${vendor}-catch-post`, `/catch/${vendor}`),
    );
  }
  if (statusAll) {
    nodes.push(
      { id: "status-all", type: "status", z, scope: [], wires: [["status-fn"]] },
      { id: "status-fn", type: "function", z, outputs: 1, func: "msg.payload = { status: msg.status, source: msg.status && msg.status.source };\nreturn msg;", wires: [["status-post"]] },
      post("status-post", "/status"),
      { id: "catch-all", type: "catch", z, scope: [], uncaught: false, wires: [["catch-all-fn"]] },
      { id: "catch-all-fn", type: "function", z, outputs: 1, func: "const copy = RED.util.cloneMessage(msg); delete copy.req; delete copy.res;\nreturn { payload: copy };", wires: [["catch-all-post"]] },
      post("catch-all-post", "/catch/all"),
    );
  }
  // Nodes in a tab need a position: without x/y Node-RED takes them for config nodes.
  let y = 0;
  for (const n of nodes) if (n.z) Object.assign(n, { x: 200, y: (y += 40) });
  if (statusAll) {
    // "All nodes" but the collectors' own pipelines: a Status node that watches the http request node posting its
    // output would report that node's "requesting" status for every post it makes, forever.
    const pipeline = new Set(["status-all", "status-fn", "status-post", "catch-all", "catch-all-fn", "catch-all-post"]);
    const watched = nodes.filter((n) => n.z && !pipeline.has(n.id)).map((n) => n.id);
    nodes.find((n) => n.id === "status-all").scope = watched;
    nodes.find((n) => n.id === "catch-all").scope = watched;
  }
  return nodes;
}

/** One HTTP request with its own connection (no keep-alive socket left open in Node-RED afterwards). */
function request(url, { method = "GET", body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = http.request(url, { method, agent: false, headers: { connection: "close", ...(data !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json = text;
        try {
          json = JSON.parse(text);
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode, body: json, text });
      });
    });
    req.on("error", reject);
    req.end(data);
  });
}

async function waitUntil(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Identical LOQED webhook bodies signed within one second are one delivery: start a new second. */
const nextSecond = () => sleep(1020 - (Date.now() % 1000));

module.exports = {
  NUKI, TEDEE, TEDEE_STATE, LOQED, UNIFI, VENDORS,
  defaultSecrets, startSimulators, ours, allRegistrations, counts, routes, buildFlows, request, waitUntil, sleep, nextSecond, colons,
};
