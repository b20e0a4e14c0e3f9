"use strict";

// A Nuki Web API simulator (research/nuki.md §2, §6.3): Bearer token, smartlock list and actions (204, applied
// later, as the real cloud does), authorizations, decentral webhook registration (https only, unique features,
// a secret returned once) and signed webhook delivery (X-Nuki-Signature-SHA256 = hex HMAC-SHA256 of the exact
// bytes sent). Tests drive "physical" happenings (keypad, fingerprint, door, ring) that produce the
// DEVICE_STATUS / DEVICE_LOGS / DEVICE_AUTHS webhooks a real account would. Where Nuki's behaviour is not
// documented the stricter reading is taken and marked "simulator choice". Runnable as a demo: see main().

const { EventEmitter } = require("node:events");
const crypto = require("node:crypto");
const http = require("node:http");
const https = require("node:https");

const FEATURES = ["DEVICE_STATUS", "DEVICE_MASTERDATA", "DEVICE_CONFIG", "DEVICE_LOGS", "DEVICE_AUTHS", "ACCOUNT_USER"];
const OPENER = 2;
/** Web action codes per device type (research §2.2): the Opener's continuous mode is 6/7. */
const LOCK_ACTIONS = { 1: 3, 2: 1, 3: 5, 4: 1, 5: 5 }; // action -> end state (lock 'n' go ends locked, see _apply)
const OPENER_ACTIONS = { 1: 3, 2: 1, 3: 5, 6: "cm-on", 7: "cm-off" };
const MAX_WEBHOOKS = 10; // simulator choice: the real limit is undocumented
const HISTORY_LIMIT = 10_000;

function hex8(nukiId) {
  return nukiId.toString(16).toUpperCase().padStart(8, "0");
}

/** smartlockId = device type digit followed by the 8 hex digits of the Nuki ID (research §1.8). */
function smartlockIdOf(deviceType, nukiId) {
  return parseInt(`${deviceType.toString(16)}${hex8(nukiId)}`, 16);
}

function sign(body, secret) {
  return crypto.createHmac("sha256", secret).update(body).digest("hex");
}

/** The account a simulator has when none is given: the bridge simulator's lock and Opener, plus a Wi-Fi lock. */
function defaultDevices() {
  return [
    { nukiId: 1046726733, type: 4, name: "Front door", state: { mode: 2, state: 1, batteryCritical: false, batteryCharging: false, batteryCharge: 80, keypadBatteryCritical: false, doorsensorBatteryCritical: false, doorState: 2, nightMode: false } },
    { nukiId: 439041101, type: 2, name: "Building entrance", state: { mode: 2, state: 1, batteryCritical: false, ringToOpenTimer: 0, nightMode: false } },
    { nukiId: 1544552161, type: 4, name: "Back door", state: { mode: 2, state: 1, batteryCritical: false, batteryCharging: false, batteryCharge: 64, keypadBatteryCritical: false, doorsensorBatteryCritical: false, doorState: 2, nightMode: false } }, // 5C0FFEE1
  ];
}

function defaultAuths(devices) {
  const lock = devices[0];
  const back = devices[2] ?? devices[0];
  return [
    { id: "65219648fe57075d71a6cb01", smartlockId: lock.smartlockId, authId: 54321, type: 13, name: "Anna", code: 123456, enabled: true },
    { id: "65219648fe57075d71a6cb02", smartlockId: lock.smartlockId, authId: 54322, type: 0, name: "Ben's phone", enabled: true },
    { id: "65219648fe57075d71a6cb03", smartlockId: back.smartlockId, authId: 195249, type: 0, name: "Carla", enabled: true },
  ];
}

class NukiWebSimulator extends EventEmitter {
  /**
   * @param {object} [options]
   * @param {string} [options.host] default 127.0.0.1
   * @param {number} [options.port] 0 = any free port
   * @param {string} [options.token] API token expected as Bearer
   * @param {object[]} [options.devices] { nukiId, type, name, state }
   * @param {object[]} [options.auths] SmartlockAuth objects
   * @param {boolean} [options.advancedApi] decentral webhooks allowed for this token (else 403), default true
   * @param {boolean} [options.allowHttpWebhooks] accept http:// webhook URLs (tests on loopback); Nuki itself requires https
   * @param {number} [options.actionMs] delay between an accepted action and the state change
   * @param {number} [options.logDelayMs] delay between DEVICE_STATUS and the matching DEVICE_LOGS
   * @param {boolean} [options.insecureTls] deliver to https URLs with self-signed certificates (tests)
   */
  constructor(options = {}) {
    super();
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 0;
    this.token = options.token ?? "web-api-token";
    this.advancedApi = options.advancedApi ?? true;
    this.allowHttpWebhooks = options.allowHttpWebhooks ?? false;
    this.actionMs = options.actionMs ?? 100;
    this.logDelayMs = options.logDelayMs ?? 50;
    this.insecureTls = options.insecureTls ?? false;
    this._devices = new Map();
    for (const spec of options.devices ?? defaultDevices()) {
      const smartlockId = smartlockIdOf(spec.type, spec.nukiId);
      this._devices.set(smartlockId, { smartlockId, nukiId: spec.nukiId, type: spec.type, name: spec.name, state: { ...spec.state } });
    }
    this._auths = (options.auths ?? defaultAuths([...this._devices.values()])).map((a) => ({ ...a }));
    this._webhooks = [];
    this._nextWebhookId = 1000 + crypto.randomInt(1_000_000); // ids are unique across accounts, not per simulator
    this._deliveries = [];
    this._requests = [];
    this._logSeq = 0;
    this._queue = Promise.resolve();
    this._timers = new Set();
    this._stats = { requests: 0, unauthorized: 0, actions: 0, byRoute: {} };
    this._server = null;
    this._stopped = false;
    this.url = null;
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  async start() {
    if (this._server) throw new Error("simulator already started");
    this._server = http.createServer((req, res) => {
      this._onRequest(req, res).catch((err) => this._send(res, 500, { detailMessage: err.message }));
    });
    await new Promise((resolve, reject) => {
      this._server.once("error", reject);
      this._server.listen(this.port, this.host, resolve);
    });
    this.url = `http://${this.host}:${this._server.address().port}`;
    return { url: this.url, port: this._server.address().port };
  }

  async stop() {
    this._stopped = true;
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    if (!this._server) return;
    const server = this._server;
    this._server = null;
    await new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await this._queue.catch(() => undefined);
  }

  // ---- inspection ------------------------------------------------------------------------------------------

  get stats() {
    return JSON.parse(JSON.stringify(this._stats));
  }
  /** Registered webhooks, secrets included (what a test needs to sign its own deliveries). */
  get webhooks() {
    return this._webhooks.map((w) => ({ ...w, webhookFeatures: [...w.webhookFeatures] }));
  }
  get deliveries() {
    return [...this._deliveries];
  }
  get requests() {
    return [...this._requests];
  }
  device(ref) {
    const device = this._device(ref);
    return device && JSON.parse(JSON.stringify(device));
  }
  smartlockIdOf(ref) {
    return this._device(ref)?.smartlockId;
  }

  /** Registers a webhook as another application would (tests: ours must leave it alone). */
  addForeignWebhook(url, features = ["DEVICE_STATUS"]) {
    const hook = { id: this._nextWebhookId++, webhookUrl: url, webhookFeatures: [...features], secret: crypto.randomBytes(20).toString("hex") };
    this._webhooks.push(hook);
    return hook;
  }

  // ---- physical happenings (what a real account would report) -----------------------------------------------

  /** A state change reported by the cloud (DEVICE_STATUS), e.g. after a bridge-side action. */
  setState(ref, patch, { notify = true } = {}) {
    const device = this._require(ref);
    Object.assign(device.state, patch);
    if (notify) return this._deliverStatus(device);
    return Promise.resolve();
  }

  /** An action done at the lock (keypad, fingerprint, app, button...): state change, then its log entry. */
  async happen(ref, { action, trigger = 0, source = 0, authId = null, name = null, state = 0, autoUnlock = false, statusFirst = true, status = true }) {
    const device = this._require(ref);
    const end = this._endState(device, action);
    const auth = authId ? this._auths.find((a) => a.id === authId || a.authId === authId) : null;
    const log = this._log(device, { action, trigger, source, state, autoUnlock, authId: auth ? auth.id : null, name: name ?? auth?.name ?? "" });
    const changes = state === 0 && end !== null && status;
    if (changes) this._applyEnd(device, end);
    if (changes && statusFirst) await this._deliverStatus(device);
    await this._delay(this.logDelayMs);
    await this._deliver("DEVICE_LOGS", { feature: "DEVICE_LOGS", smartlockLog: log });
    if (changes && !statusFirst) await this._deliverStatus(device);
    return log;
  }

  keypadUnlock(ref, authId, { action = 1, ...rest } = {}) {
    return this.happen(ref, { action, trigger: 255, source: 1, authId, ...rest });
  }

  /** A wrong keypad code (log state 224) or an unknown finger (225): no state change. */
  failedAttempt(ref, { fingerprint = false } = {}) {
    return this.happen(ref, { action: 3, trigger: 255, source: fingerprint ? 2 : 1, state: fingerprint ? 225 : 224, name: "" });
  }

  async door(ref, open) {
    const device = this._require(ref);
    device.state.doorState = open ? 3 : 2;
    await this._deliverStatus(device);
    await this._delay(this.logDelayMs);
    await this._deliver("DEVICE_LOGS", { feature: "DEVICE_LOGS", smartlockLog: this._log(device, { action: open ? 240 : 241, trigger: 0, state: 0, name: "" }) });
  }

  /** Opener doorbell recognition (log action 224, research §6.3). */
  ring(ref) {
    const device = this._require(ref);
    const log = this._log(device, { action: 224, trigger: 0, state: 0, name: "" });
    log.openerLog = { activeCm: false, activeRto: device.state.state === 3, source: 0, flagGeoFence: false, flagForce: false, flagDoorbellSuppression: false };
    return this._deliver("DEVICE_LOGS", { feature: "DEVICE_LOGS", smartlockLog: log });
  }

  /** An authorization renamed in the app (DEVICE_AUTHS). */
  renameAuth(authId, name) {
    const auth = this._auths.find((a) => a.id === authId || a.authId === authId);
    if (!auth) throw new Error(`no auth ${authId}`);
    auth.name = name;
    return this._deliver("DEVICE_AUTHS", { feature: "DEVICE_AUTHS", deleted: false, smartlockAuth: { ...auth } });
  }

  /** Sends a body to every webhook with that feature, signed unless `signature` overrides the header. */
  deliver(feature, body, options) {
    return this._deliver(feature, body, options);
  }

  // ---- HTTP API ---------------------------------------------------------------------------------------------

  async _onRequest(req, res) {
    const url = new URL(req.url, "http://sim");
    const body = await readBody(req);
    const entry = { method: req.method, path: url.pathname, at: Date.now() };
    pushCapped(this._requests, entry);
    this._stats.requests++;
    const auth = req.headers.authorization ?? "";
    if (!safeEqual(auth, `Bearer ${this.token}`)) {
      this._stats.unauthorized++;
      entry.status = 401;
      return this._send(res, 401, { detailMessage: "Your access token is not authorized", errorCode: 401 });
    }
    const answer = this._route(req.method, url.pathname, body);
    entry.status = answer.status;
    if (req.method !== "GET" && body) entry.body = safeJson(body);
    const key = `${req.method} ${url.pathname.replace(/\/\d+/g, "/:id")}`;
    this._stats.byRoute[key] = (this._stats.byRoute[key] ?? 0) + 1;
    this.emit("request", entry);
    return this._send(res, answer.status, answer.body);
  }

  _route(method, path, text) {
    let json;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        return { status: 400, body: { detailMessage: "malformed JSON" } };
      }
    }
    let m;
    if (path === "/smartlock" && method === "GET") return { status: 200, body: [...this._devices.values()].map((d) => this._smartlockJson(d)) };
    if (path === "/smartlock/auth" && method === "GET") return { status: 200, body: this._auths.map((a) => ({ ...a })) };
    if ((m = /^\/smartlock\/(\d+)$/.exec(path)) && method === "GET") {
      const device = this._devices.get(Number(m[1]));
      return device ? { status: 200, body: this._smartlockJson(device) } : { status: 404, body: { detailMessage: "not found" } };
    }
    if ((m = /^\/smartlock\/(\d+)\/action$/.exec(path)) && method === "POST") return this._action(Number(m[1]), json);
    if (path === "/api/decentralWebhook") {
      if (!this.advancedApi) return { status: 403, body: { detailMessage: "Forbidden" } };
      if (method === "GET") return { status: 200, body: this._webhooks.map(({ secret, ...rest }) => ({ ...rest, webhookFeatures: [...rest.webhookFeatures] })) };
      if (method === "PUT") return this._register(json);
      return { status: 405, body: { detailMessage: "method not allowed" } };
    }
    if ((m = /^\/api\/decentralWebhook\/(\d+)$/.exec(path)) && method === "DELETE") {
      if (!this.advancedApi) return { status: 403, body: { detailMessage: "Forbidden" } };
      const index = this._webhooks.findIndex((w) => w.id === Number(m[1]));
      if (index < 0) return { status: 404, body: { detailMessage: "not found" } };
      this._webhooks.splice(index, 1);
      return { status: 204 };
    }
    return { status: 404, body: { detailMessage: "not found" } };
  }

  _action(smartlockId, json) {
    const device = this._devices.get(smartlockId);
    if (!device) return { status: 404, body: { detailMessage: "not found" } };
    const table = device.type === OPENER ? OPENER_ACTIONS : LOCK_ACTIONS;
    if (!json || !Number.isInteger(json.action) || !(json.action in table)) {
      return { status: 400, body: { detailMessage: `invalid action for device type ${device.type}` } };
    }
    this._stats.actions++;
    // 204 = accepted; the cloud reaches the device afterwards (research §2.1).
    this._timer(() => {
      this._applyEnd(device, this._endState(device, json.action));
      void this._deliverStatus(device).then(() =>
        this._deliver("DEVICE_LOGS", { feature: "DEVICE_LOGS", smartlockLog: this._log(device, { action: json.action, trigger: 4, state: 0, name: "Nuki Web" }) }),
      );
    }, this.actionMs);
    return { status: 204 };
  }

  _register(json) {
    if (!json || typeof json.webhookUrl !== "string" || !Array.isArray(json.webhookFeatures)) {
      return { status: 400, body: { detailMessage: "webhookUrl and webhookFeatures are required" } };
    }
    let url;
    try {
      url = new URL(json.webhookUrl);
    } catch {
      return { status: 400, body: { detailMessage: "webhookUrl is not a URL" } };
    }
    if (url.protocol !== "https:" && !(this.allowHttpWebhooks && url.protocol === "http:")) {
      return { status: 400, body: { detailMessage: "webhookUrl needs to be https" } };
    }
    const features = json.webhookFeatures;
    if (features.length === 0 || new Set(features).size !== features.length || features.some((f) => !FEATURES.includes(f))) {
      return { status: 400, body: { detailMessage: "webhookFeatures must be unique known features" } };
    }
    if (this._webhooks.length >= MAX_WEBHOOKS) return { status: 400, body: { detailMessage: "too many webhooks" } };
    const hook = { id: this._nextWebhookId++, webhookUrl: json.webhookUrl, webhookFeatures: [...features], secret: crypto.randomBytes(20).toString("hex") };
    this._webhooks.push(hook);
    return { status: 200, body: { ...hook, webhookFeatures: [...features] } };
  }

  _send(res, status, body) {
    if (res.headersSent) return;
    if (body === undefined) {
      res.writeHead(status, { "Content-Length": "0" });
      return res.end();
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  }

  // ---- device model ---------------------------------------------------------------------------------------

  _device(ref) {
    if (typeof ref === "number" && this._devices.has(ref)) return this._devices.get(ref);
    const hex = typeof ref === "string" ? ref.toUpperCase() : typeof ref === "number" ? hex8(ref) : "";
    return [...this._devices.values()].find((d) => hex8(d.nukiId) === hex);
  }

  _require(ref) {
    const device = this._device(ref);
    if (!device) throw new Error(`no device ${ref}`);
    return device;
  }

  _endState(device, action) {
    const table = device.type === OPENER ? OPENER_ACTIONS : LOCK_ACTIONS;
    return action in table ? table[action] : null;
  }

  _applyEnd(device, end) {
    if (end === "cm-on") device.state.mode = 3;
    else if (end === "cm-off") device.state.mode = 2;
    else if (end === 5 && device.type !== OPENER) device.state.state = 3; // unlatched, then back to unlocked
    else if (end === 5) device.state.state = device.state.mode === 3 ? 3 : 1; // the buzzer opens, the Opener stays put
    else if (end !== null) device.state.state = end;
  }

  _smartlockJson(device) {
    return { smartlockId: device.smartlockId, accountId: 1, type: device.type, authId: 1, name: device.name, favorite: false, state: { ...device.state }, serverState: 0, adminPinState: 0 };
  }

  _log(device, fields) {
    this._logSeq++;
    return {
      id: crypto.createHash("sha1").update(`${device.smartlockId}:${this._logSeq}:${Date.now()}`).digest("hex").slice(0, 24),
      smartlockId: device.smartlockId,
      deviceType: device.type,
      autoUnlock: false,
      date: new Date().toISOString().replace(/\.\d{3}Z$/, ".000Z"),
      ...fields,
    };
  }

  _deliverStatus(device) {
    return this._deliver("DEVICE_STATUS", { feature: "DEVICE_STATUS", smartlockId: device.smartlockId, state: { ...device.state }, serverState: 0, adminPinState: 0 });
  }

  /** Deliveries go out one after another, in order (simulator choice: Nuki's ordering is undocumented). */
  _deliver(feature, body, { signature } = {}) {
    const text = JSON.stringify(body);
    const run = async () => {
      for (const hook of this._webhooks.filter((w) => w.webhookFeatures.includes(feature))) {
        const header = signature === undefined ? sign(text, hook.secret) : signature;
        const record = { url: hook.webhookUrl, feature, body, status: null, error: null };
        try {
          record.status = await this._post(hook.webhookUrl, text, header);
        } catch (err) {
          record.error = err.message;
        }
        pushCapped(this._deliveries, record);
        this.emit("delivery", record);
      }
    };
    this._queue = this._queue.then(run, run);
    return this._queue;
  }

  _post(url, text, signature) {
    if (this._stopped) return Promise.reject(new Error("simulator stopped"));
    const target = new URL(url);
    const client = target.protocol === "https:" ? https : http;
    const headers = { "Content-Type": "application/json; charset=UTF-8", "Content-Length": Buffer.byteLength(text) };
    if (signature !== null) headers["X-Nuki-Signature-SHA256"] = signature;
    return new Promise((resolve, reject) => {
      const req = client.request(target, { method: "POST", headers, timeout: 5000, ...(this.insecureTls ? { rejectUnauthorized: false } : {}) }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end(text);
    });
  }

  _timer(fn, ms) {
    const timer = setTimeout(() => {
      this._timers.delete(timer);
      if (!this._stopped) fn();
    }, ms);
    this._timers.add(timer);
  }

  _delay(ms) {
    return new Promise((resolve) => this._timer(resolve, ms));
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > 1024 * 1024) req.destroy(new Error("body too large"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function pushCapped(list, item) {
  list.push(item);
  if (list.length > HISTORY_LIMIT) list.shift();
}

/** `node test/simulators/nuki-web.js [--port 8081] [--token T] [--allow-http]`: a demo Nuki Web account. */
async function main(argv) {
  const options = { port: 8081, allowHttpWebhooks: argv.includes("--allow-http") };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--port") options.port = Number(argv[++i]);
    if (argv[i] === "--token") options.token = argv[++i];
  }
  const sim = new NukiWebSimulator(options);
  const { url } = await sim.start();
  console.log(`Nuki Web API simulator listening on ${url} (token: ${sim.token})`);
  for (const d of sim._devices.values()) console.log(`  ${hex8(d.nukiId)} smartlockId ${d.smartlockId} type ${d.type} "${d.name}"`);
  sim.on("request", (e) => console.log(`${e.method} ${e.path} -> ${e.status}`));
  sim.on("delivery", (d) => console.log(`webhook ${d.feature} -> ${d.status ?? d.error}`));
  const shutdown = () => sim.stop().then(() => process.exit(0));
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}

module.exports = { NukiWebSimulator, smartlockIdOf, sign, defaultDevices, FEATURES };
