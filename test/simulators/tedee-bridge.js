"use strict";

// A Tedee Bridge API v1.0 simulator (research/loqed-tedee.md §2.1, §2.2, §6.3, §6.5). Tests run the real plugin
// against it and it doubles as a demo device (`node test/simulators/tedee-bridge.js`), so it enforces the limits
// of a real bridge rather than being lenient:
//   - `api_token` header (or query): plain token, or sha256(token + ms) + ms in encrypted mode, each encrypted key
//     accepted once and its timestamp strictly greater than the last accepted one;
//   - one request at a time (a second concurrent one is refused with 409, counted in stats.busyRejected) and a
//     count of requests closer together than minIntervalMs (stats.tooFast; Tedee: "1 request per second max");
//   - callback management (GET/POST/PUT /callback, PUT/DELETE /callback/{id}) with custom headers, plain http
//     URLs of limited length (long/https URLs crashed real firmware), and deliveries of every event type in the
//     POST, GET and GET+NO_PARAMS forms, one request per callback and device;
//   - lock operations that answer 204 at once and then move through the transitional states, 405 for an offline
//     lock, 406 for a refused one, 403 for an invalid unlock mode.
// Where the real bridge's behaviour is not documented the choice is marked "simulator choice" and leans strict.

const { EventEmitter } = require("node:events");
const crypto = require("node:crypto");
const http = require("node:http");

const STATE = { UNCALIBRATED: 0, CALIBRATING: 1, UNLOCKED: 2, SEMI_LOCKED: 3, UNLOCKING: 4, LOCKING: 5, LOCKED: 6, PULLED: 7, PULLING: 8, UNKNOWN: 9, UPDATING: 18, UNPULLING: 255 };
const VALID_MODES = [0, 2, 3, 4];
const DEFAULT_AUTH_WINDOW_MS = 5 * 60_000; // undocumented; simulator choice
const HISTORY_LIMIT = 10_000;

function defaultDevices() {
  return [
    {
      id: 33819,
      name: "Front door",
      type: 2,
      serialNumber: "19420103-000006",
      state: STATE.LOCKED,
      batteryLevel: 90,
      isCharging: 0,
      deviceSettings: { autoLockEnabled: 0, autoLockDelay: 60, pullSpringEnabled: 1, pullSpringDuration: 2, autoPullSpringEnabled: 1, postponedLockEnabled: 1, postponedLockDelay: 5, buttonLockEnabled: 1, buttonUnlockEnabled: 1 },
    },
    {
      id: 10,
      name: "Back door",
      type: 4,
      serialNumber: "22510401-000050",
      state: STATE.UNLOCKED,
      batteryLevel: 55,
      isCharging: 0,
      deviceSettings: { autoLockEnabled: 0, autoLockDelay: 60, pullSpringEnabled: 0, pullSpringDuration: 2, autoPullSpringEnabled: 0, postponedLockEnabled: 0, postponedLockDelay: 5, buttonLockEnabled: 1, buttonUnlockEnabled: 1 },
    },
  ];
}

function normalizeDevice(spec) {
  if (!Number.isInteger(spec.id) || spec.id < 1) throw new Error(`invalid device id ${spec.id}`);
  return {
    id: spec.id,
    name: spec.name ?? `Lock-${spec.id}`,
    type: spec.type ?? 2,
    serialNumber: spec.serialNumber ?? `19420103-${String(spec.id).padStart(6, "0")}`,
    isConnected: spec.isConnected ?? 1,
    rssi: -50,
    deviceRevision: 18,
    version: "2.3.12345",
    state: spec.state ?? STATE.LOCKED,
    jammed: spec.jammed ?? 0,
    batteryLevel: spec.batteryLevel ?? 100,
    isCharging: spec.isCharging ?? 0,
    deviceSettings: { ...(spec.deviceSettings ?? { autoPullSpringEnabled: 0, pullSpringEnabled: 1 }) },
    doorState: spec.doorState, // not in the local spec; only sent when set (aiotedee fixtures have it)
    motion: null,
  };
}

function json(status, body) {
  return { status, body: body === undefined ? "" : JSON.stringify(body) };
}
const err = (status, description, code) => json(status, code === undefined ? { "error-description": description } : { "error-code": code, "error-description": description });

function isLoopback(address) {
  return /^(::ffff:)?127\./.test(address ?? "") || address === "::1";
}

class TedeeBridgeSimulator extends EventEmitter {
  /**
   * @param {object} [options]
   * @param {string} [options.host] default 127.0.0.1
   * @param {number} [options.port] 0 = any free port
   * @param {string} [options.token] the API token shown in the Tedee app
   * @param {boolean} [options.encrypted] "Encrypted token" switch in the app (default true): only encrypted keys then
   * @param {number} [options.clockSkewMs] bridge clock minus real time
   * @param {number} [options.authWindowMs] how far an encrypted key's timestamp may be from the bridge clock
   * @param {number} [options.busyMs] how long every request occupies the bridge
   * @param {number} [options.actionMs] duration of one movement step
   * @param {number} [options.minIntervalMs] requests starting closer than this after the previous one count as tooFast
   * @param {"either"|"header"|"query"} [options.modeFrom] where this firmware reads the unlock mode (undocumented which)
   * @param {boolean} [options.legacyCallbackAdd] POST /callback answers 204 without an id (firmware before 2024-01)
   * @param {number} [options.maxCallbacks] undocumented; simulator choice 10
   * @param {number} [options.maxUrlLength] undocumented; simulator choice 120 (long URLs crashed firmware)
   * @param {object[]} [options.devices]
   * @param {boolean} [options.controlApi] serve the loopback-only /_sim/ control API (the CLI turns it on)
   */
  constructor(options = {}) {
    super();
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 0;
    this.token = options.token ?? "BE9xnPnGfVUS";
    this.encrypted = options.encrypted ?? true;
    this.clockSkewMs = options.clockSkewMs ?? 0;
    this.authWindowMs = options.authWindowMs ?? DEFAULT_AUTH_WINDOW_MS;
    this.busyMs = options.busyMs ?? 20;
    this.actionMs = options.actionMs ?? 100;
    this.minIntervalMs = options.minIntervalMs ?? 0;
    this.modeFrom = options.modeFrom ?? "either";
    this.legacyCallbackAdd = options.legacyCallbackAdd ?? false;
    this.maxCallbacks = options.maxCallbacks ?? 10;
    this.maxUrlLength = options.maxUrlLength ?? 120;
    this.controlApi = options.controlApi ?? false;
    this.bridgeConnected = 1;
    this.serialNumber = "10230707-000123";
    this._devices = new Map();
    for (const spec of options.devices ?? defaultDevices()) {
      const d = normalizeDevice(spec);
      if (this._devices.has(d.id)) throw new Error(`duplicate device id ${d.id}`);
      this._devices.set(d.id, d);
    }
    this._callbacks = [];
    this._nextCallbackId = 1;
    this._lastTs = 0;
    this._stats = { requests: 0, busyRejected: 0, authFailures: 0, replayRejected: 0, tooFast: 0, longUrlRejected: 0, byRoute: {} };
    this._requests = [];
    this._deliveries = [];
    this._operations = [];
    this._failures = new Map();
    this._busy = false;
    this._lastStartAt = 0;
    this._timers = new Set();
    this._inflight = new Set();
    this._queue = Promise.resolve();
    this._agent = new http.Agent({ keepAlive: false });
    this._server = null;
    this._stopped = false;
    this.url = null;
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------

  async start() {
    if (this._server) throw new Error("simulator already started");
    const server = http.createServer((req, res) => {
      this._onRequest(req, res).catch((e) => {
        if (!res.headersSent) this._write(res, err(500, e.message));
      });
    });
    this._server = server;
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, this.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const { port } = server.address();
    this.url = `http://${this.host.includes(":") ? `[${this.host}]` : this.host}:${port}`;
    return { port, url: this.url };
  }

  async stop() {
    this._stopped = true;
    for (const t of this._timers) clearTimeout(t);
    this._timers.clear();
    for (const req of this._inflight) req.destroy(new Error("simulator stopped"));
    this._agent.destroy();
    const server = this._server;
    if (!server) return;
    await new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  // ---- introspection ------------------------------------------------------------------------------------

  get stats() {
    return { ...this._stats, byRoute: { ...this._stats.byRoute } };
  }

  /** Registered callbacks as the bridge lists them. */
  get callbacks() {
    return this._callbacks.map((c) => ({ ...c, headers: c.headers.map((h) => ({ ...h })) }));
  }

  /** `{ callbackId, url, method, body, headers, status | error }` per delivery, oldest first. */
  get deliveries() {
    return this._deliveries.slice();
  }

  /** `{ method, route, status, at, authError?, busy? }` per request, oldest first. */
  get requests() {
    return this._requests.slice();
  }

  /** `{ deviceId, operation, mode, modeHeader, modeQuery, at }` per accepted lock operation. */
  get operations() {
    return this._operations.slice();
  }

  getDevice(id) {
    return this._details(this._device(id));
  }

  get devices() {
    return [...this._devices.values()].map((d) => this._details(d));
  }

  /** The encrypted api_token the bridge expects for a timestamp (for clients under test and demos). */
  apiKey(timestampMs = Date.now()) {
    const ts = String(timestampMs);
    return crypto.createHash("sha256").update(this.token + ts, "utf8").digest("hex") + ts;
  }

  // ---- test-side controls (physical happenings) --------------------------------------------------------
  // Each returns a promise that settles once the resulting callbacks have been delivered.

  /** Sets lock fields (state, jammed, doorState, ...) and reports lock-status-changed. */
  setState(id, patch) {
    return this._physical(id, (d) => {
      this._cancelMotion(d);
      Object.assign(d, patch);
      this._notify("lock-status-changed", d);
    });
  }

  /** Turning the knob by hand. */
  lock(id) {
    return this._physical(id, (d) => this._move(d, [STATE.LOCKING, STATE.LOCKED]));
  }

  unlock(id) {
    return this._physical(id, (d) => this._move(d, [STATE.UNLOCKING, STATE.UNLOCKED]));
  }

  jam(id) {
    return this._physical(id, (d) => {
      this._cancelMotion(d);
      d.jammed = 1;
      this._notify("lock-status-changed", d);
    });
  }

  setConnected(id, connected) {
    return this._physical(id, (d) => {
      d.isConnected = connected ? 1 : 0;
      this._notify("device-connection-changed", d);
    });
  }

  setBattery(id, level) {
    return this._physical(id, (d) => {
      d.batteryLevel = level;
      this._notify("device-battery-level-changed", d);
    });
  }

  startCharging(id) {
    return this._physical(id, (d) => {
      d.isCharging = 1;
      this._notify("device-battery-start-charging", d);
    });
  }

  stopCharging(id) {
    return this._physical(id, (d) => {
      d.isCharging = 0;
      this._notify("device-battery-stop-charging", d);
    });
  }

  fullyCharged(id) {
    return this._physical(id, (d) => {
      d.batteryLevel = 100;
      d.isCharging = 0;
      this._notify("device-battery-fully-charged", d);
    });
  }

  changeSettings(id, patch = {}) {
    return this._physical(id, (d) => {
      if (typeof patch.name === "string") d.name = patch.name;
      Object.assign(d.deviceSettings, patch.deviceSettings ?? {});
      this._notify("device-settings-changed", d);
    });
  }

  /** The bridge's own link to the Tedee cloud. */
  setBackendConnected(connected) {
    this.bridgeConnected = connected ? 1 : 0;
    this._deliverAll("backend-connection-changed", { isConnected: this.bridgeConnected });
    return this.settled();
  }

  /** Delivers an arbitrary event (e.g. one a newer firmware might send) to every callback. */
  emitEvent(event, data) {
    this._deliverAll(event, data);
    return this.settled();
  }

  /** Resolves when every queued delivery is done. */
  settled() {
    return this._queue;
  }

  /** The next request to `route` (e.g. "POST /callback") answers `status` with an `error-description`. */
  failNext(route, status, description = "Busy", code) {
    const list = this._failures.get(route) ?? [];
    list.push(err(status, description, code));
    this._failures.set(route, list);
  }

  /** Removes every callback (what a bridge reboot might do; persistence is undocumented). */
  clearCallbacks() {
    this._callbacks = [];
  }

  // ---- HTTP: bridge API ---------------------------------------------------------------------------------

  async _onRequest(req, res) {
    const url = new URL(req.url, "http://bridge.invalid");
    if (url.pathname.startsWith("/_sim/")) return this._onControl(req, res, url);
    const body = await readBody(req);
    const route = routeOf(req.method, url.pathname);
    const entry = { method: req.method, path: url.pathname, route, status: 0, at: new Date().toISOString() };
    this._stats.requests++;
    this._stats.byRoute[route] = (this._stats.byRoute[route] ?? 0) + 1;
    const startedAt = Date.now();
    if (this.minIntervalMs > 0 && this._lastStartAt > 0 && startedAt - this._lastStartAt < this.minIntervalMs) this._stats.tooFast++;
    this._lastStartAt = startedAt;
    // One request at a time: a request arriving while another is processed is refused (simulator choice: 409).
    if (this._busy) {
      this._stats.busyRejected++;
      entry.busy = true;
      return this._finish(res, entry, err(409, "Busy"));
    }
    this._busy = true;
    let answer;
    try {
      [answer] = await Promise.all([this._handle(req, url, body, entry), this._delay(this.busyMs)]);
    } catch (e) {
      answer = err(500, e.message);
    }
    this._busy = false;
    this._finish(res, entry, answer);
  }

  _finish(res, entry, answer) {
    entry.status = answer.status;
    pushCapped(this._requests, entry);
    this.emit("request", entry);
    this._write(res, answer);
  }

  _write(res, answer) {
    if (res.headersSent) return;
    const headers = { Server: "Tedee" };
    if (answer.body !== "") headers["Content-Type"] = "application/json";
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  }

  async _handle(req, url, body, entry) {
    const forced = this._failures.get(entry.route);
    if (forced && forced.length > 0) {
      entry.forced = true;
      return forced.shift();
    }
    const m = /^\/v1\.0(\/.*)$/.exec(url.pathname);
    if (!m) return err(404, "Not found");
    const auth = this._verify(req.headers.api_token ?? url.searchParams.get("api_token"));
    if (!auth.ok) {
      this._stats.authFailures++;
      entry.authError = auth.reason;
      return err(401, "Invalid token");
    }
    const path = m[1];
    const method = req.method;
    let match;
    if (path === "/bridge" && method === "GET") {
      return json(200, { name: "Bridge-8C14", currentTime: new Date(this._now()).toISOString(), serialNumber: this.serialNumber, ssid: "TedeeWiFi", isConnected: this.bridgeConnected, version: "2.2.18086", wifiVersion: "35.2.2.4" });
    }
    if (path === "/lock" && method === "GET") return json(200, this.devices);
    if ((match = /^\/lock\/(\d+)$/.exec(path)) && method === "GET") {
      const d = this._devices.get(Number(match[1]));
      return d ? json(200, this._details(d)) : err(404, "Device not found");
    }
    if ((match = /^\/lock\/(\d+)\/(lock|unlock|pull)$/.exec(path)) && method === "POST") {
      return this._operate(Number(match[1]), match[2], req, url);
    }
    if (path === "/callback") {
      if (method === "GET") return json(200, this.callbacks);
      if (method === "POST") return this._addCallback(body);
      if (method === "PUT") return this._replaceCallbacks(body);
    }
    if ((match = /^\/callback\/(\d+)$/.exec(path))) {
      const id = Number(match[1]);
      const index = this._callbacks.findIndex((c) => c.id === id);
      if (method === "DELETE") {
        if (index < 0) return err(404, "Callback not found");
        this._callbacks.splice(index, 1);
        return json(204);
      }
      if (method === "PUT") {
        if (index < 0) return err(404, "Callback not found");
        const parsed = this._parseCallback(body);
        if (parsed.error) return parsed.error;
        this._callbacks[index] = { id, ...parsed.value };
        return json(204);
      }
    }
    return err(404, "Not found");
  }

  /** Encrypted: 64 hex + 13 digit ms; the timestamp must be new (greater than the last accepted) and near our clock. */
  _verify(value) {
    if (typeof value !== "string" || value === "") return { ok: false, reason: "missing api_token" };
    if (!this.encrypted) return value === this.token ? { ok: true } : { ok: false, reason: "wrong plain token" };
    const m = /^([0-9a-f]{64})(\d{13})$/.exec(value);
    if (!m) return { ok: false, reason: "not an encrypted key" };
    const ts = Number(m[2]);
    const want = crypto.createHash("sha256").update(this.token + m[2], "utf8").digest();
    const got = Buffer.from(m[1], "hex");
    if (!crypto.timingSafeEqual(want, got)) return { ok: false, reason: "wrong hash" };
    if (ts <= this._lastTs) {
      this._stats.replayRejected++;
      return { ok: false, reason: ts === this._lastTs ? "key reused" : "timestamp not increasing" };
    }
    if (Math.abs(this._now() - ts) > this.authWindowMs) return { ok: false, reason: "timestamp outside the clock window" };
    this._lastTs = ts;
    return { ok: true };
  }

  _parseCallback(body) {
    let value;
    try {
      value = JSON.parse(body.toString("utf8"));
    } catch {
      return { error: err(400, "Invalid body") };
    }
    if (!value || typeof value !== "object" || typeof value.url !== "string") return { error: err(400, "Invalid body") };
    const method = value.method ?? "POST"; // default when omitted: undocumented, POST in practice
    if (!["POST", "GET", "GET+NO_PARAMS"].includes(method)) return { error: err(400, "Invalid method") };
    if (!/^http:\/\/[^\s/]+/i.test(value.url)) return { error: err(400, "Invalid url") };
    if (value.url.length > this.maxUrlLength) {
      this._stats.longUrlRejected++;
      return { error: err(400, "Url too long") };
    }
    const headers = value.headers ?? [];
    if (!Array.isArray(headers) || !headers.every((h) => h && typeof h === "object" && Object.keys(h).length === 1 && typeof Object.values(h)[0] === "string")) {
      return { error: err(400, "Invalid headers") };
    }
    return { value: { url: value.url, method, headers: headers.map((h) => ({ ...h })) } };
  }

  _addCallback(body) {
    const parsed = this._parseCallback(body);
    if (parsed.error) return parsed.error;
    if (this._callbacks.length >= this.maxCallbacks) return err(400, "Too many callbacks");
    const id = this._nextCallbackId++;
    this._callbacks.push({ id, ...parsed.value });
    return this.legacyCallbackAdd ? json(204) : json(200, { id });
  }

  _replaceCallbacks(body) {
    let list;
    try {
      list = JSON.parse(body.toString("utf8"));
    } catch {
      return err(400, "Invalid body");
    }
    if (!Array.isArray(list) || list.length > this.maxCallbacks) return err(400, "Invalid body");
    const next = [];
    for (const item of list) {
      const parsed = this._parseCallback(Buffer.from(JSON.stringify(item)));
      if (parsed.error) return parsed.error;
      next.push({ id: this._nextCallbackId++, ...parsed.value });
    }
    this._callbacks = next;
    return json(200, next.map((c) => c.id));
  }

  _operate(id, operation, req, url) {
    const d = this._devices.get(id);
    if (!d) return err(404, "Device not found");
    const header = req.headers.mode;
    const query = url.searchParams.get("mode");
    let raw;
    if (this.modeFrom === "header") raw = header;
    else if (this.modeFrom === "query") raw = query ?? undefined;
    else raw = header ?? query ?? undefined;
    const mode = raw === undefined || raw === "" ? 0 : Number(raw);
    if (operation === "unlock" && !VALID_MODES.includes(mode)) return err(403, "Invalid param");
    if (!d.isConnected) return err(405, "Device is disconnected");
    if (d.state === STATE.UNCALIBRATED || (operation === "pull" && !d.deviceSettings.pullSpringEnabled)) return err(406, "BLE API error", 2);
    this._operations.push({ deviceId: id, operation, mode: operation === "unlock" ? mode : undefined, modeHeader: header, modeQuery: query ?? undefined, at: Date.now() });
    const closed = [STATE.LOCKED, STATE.SEMI_LOCKED, STATE.LOCKING].includes(d.state) || d.jammed;
    const pull = [STATE.PULLING, STATE.PULLED, STATE.UNLOCKED];
    let steps = [];
    if (operation === "lock") {
      if (d.state !== STATE.LOCKED || d.jammed) steps = [STATE.LOCKING, STATE.LOCKED];
    } else if (operation === "pull") {
      steps = closed ? [STATE.UNLOCKING, STATE.UNLOCKED, ...pull] : pull;
    } else if (mode === 2) {
      steps = [STATE.UNLOCKING, STATE.UNLOCKED];
    } else if (closed) {
      steps = [STATE.UNLOCKING, STATE.UNLOCKED];
      if (mode !== 3 && d.deviceSettings.autoPullSpringEnabled) steps.push(...pull);
    } else if (mode === 4) {
      steps = pull;
    }
    // 204 when the operation has started; the movement and its callbacks follow.
    this._queue = this._queue.then(() => this._run(d, steps));
    return json(204);
  }

  // ---- movement and callbacks ----------------------------------------------------------------------------

  _move(d, steps) {
    this._cancelMotion(d);
    return this._run(d, steps);
  }

  async _run(d, steps) {
    const motion = { cancelled: false };
    d.motion = motion;
    if (steps.length > 0 && d.jammed) d.jammed = 0;
    for (const state of steps) {
      await this._delay(this.actionMs);
      if (motion.cancelled || this._stopped) return;
      d.state = state;
      await this._deliverNow("lock-status-changed", this._eventData("lock-status-changed", d));
    }
    if (d.motion === motion) d.motion = null;
  }

  _cancelMotion(d) {
    if (d.motion) d.motion.cancelled = true;
    d.motion = null;
  }

  _physical(id, change) {
    const d = this._device(id);
    const run = this._queue.then(() => change(d));
    this._queue = run.catch(() => undefined);
    return run.then(() => this._queue);
  }

  _notify(event, d) {
    this._deliverAll(event, this._eventData(event, d));
  }

  _eventData(event, d) {
    const base = { deviceType: d.type, deviceId: d.id, serialNumber: d.serialNumber };
    switch (event) {
      case "lock-status-changed": {
        const data = { ...base, state: d.state, jammed: d.jammed };
        if (d.doorState !== undefined) data.doorState = d.doorState;
        return data;
      }
      case "device-connection-changed":
        return { ...base, isConnected: d.isConnected };
      case "device-battery-level-changed":
        return { ...base, batteryLevel: d.batteryLevel };
      default:
        return base;
    }
  }

  _deliverAll(event, data) {
    this._queue = this._queue.then(() => this._deliverNow(event, data));
  }

  /** One request per callback, one after another (the bridge sends them separately). */
  async _deliverNow(event, data) {
    const timestamp = new Date(this._now()).toISOString();
    for (const cb of this._callbacks.slice()) {
      if (this._stopped) return;
      await this._deliver(cb, { event, timestamp, data });
    }
  }

  _deliver(cb, envelope) {
    const headers = {};
    for (const h of cb.headers) Object.assign(headers, h);
    let target = cb.url;
    let payload;
    const fields = { event: envelope.event, timestamp: envelope.timestamp, ...envelope.data };
    if (cb.method === "GET") {
      target += (target.includes("?") ? "&" : "?") + new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString();
    } else if (cb.method === "GET+NO_PARAMS") {
      target = target.replace(/\/$/, "") + Object.entries(fields).map(([k, v]) => `/${k}=${encodeURIComponent(String(v))}`).join("");
    } else {
      payload = Buffer.from(JSON.stringify(envelope));
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    const record = { callbackId: cb.id, url: cb.url, method: cb.method, body: envelope, headers: { ...headers }, at: new Date().toISOString() };
    return new Promise((resolve) => {
      let req;
      const finish = (result) => {
        Object.assign(record, result);
        pushCapped(this._deliveries, record);
        this.emit("delivery", record);
        this._inflight.delete(req);
        resolve();
      };
      try {
        req = http.request(target, { method: cb.method === "POST" ? "POST" : "GET", headers, agent: this._agent, timeout: 3000 });
      } catch (e) {
        finish({ error: e.message });
        return;
      }
      this._inflight.add(req);
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => finish({ status: res.statusCode }));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => finish({ error: e.code ?? e.message }));
      req.end(payload);
    });
  }

  _details(d) {
    const out = {
      id: d.id,
      name: d.name,
      type: d.type,
      serialNumber: d.serialNumber,
      isConnected: d.isConnected,
      rssi: d.rssi,
      deviceRevision: d.deviceRevision,
      version: d.version,
      state: d.state,
      jammed: d.jammed,
      batteryLevel: d.batteryLevel,
      isCharging: d.isCharging,
      deviceSettings: { ...d.deviceSettings },
    };
    if (d.doorState !== undefined) out.doorState = d.doorState;
    return out;
  }

  _device(id) {
    const d = this._devices.get(Number(id));
    if (!d) throw new Error(`no device ${id}`);
    return d;
  }

  // ---- HTTP: control API (loopback-only demos, no auth; bypasses the busy flag and counters) -----------------

  async _onControl(req, res, url) {
    if (!this.controlApi) return this._write(res, err(404, "Not found"));
    if (!isLoopback(req.socket.remoteAddress)) return this._write(res, err(403, "control API is loopback only"));
    if (url.pathname === "/_sim/stats" && req.method === "GET") {
      return this._write(res, json(200, { stats: this.stats, callbacks: this.callbacks, devices: this.devices }));
    }
    const m = /^\/_sim\/devices\/(\d+)\/(lock|unlock|jam|state|battery|charging|charged|online|offline|settings)$/.exec(url.pathname);
    if (!m || req.method !== "POST") return this._write(res, err(404, "Not found"));
    const id = Number(m[1]);
    if (!this._devices.has(id)) return this._write(res, err(404, "Device not found"));
    try {
      const body = (await readBody(req)).toString("utf8");
      const arg = body ? JSON.parse(body) : {};
      const run = {
        lock: () => this.lock(id),
        unlock: () => this.unlock(id),
        jam: () => this.jam(id),
        state: () => this.setState(id, arg),
        battery: () => this.setBattery(id, Number(arg.level)),
        charging: () => (arg.on === false ? this.stopCharging(id) : this.startCharging(id)),
        charged: () => this.fullyCharged(id),
        online: () => this.setConnected(id, true),
        offline: () => this.setConnected(id, false),
        settings: () => this.changeSettings(id, arg),
      }[m[2]];
      await run();
      this._write(res, json(200, this.getDevice(id)));
    } catch (e) {
      this._write(res, err(400, e.message));
    }
  }

  // ---- timers -------------------------------------------------------------------------------------------------

  _delay(ms) {
    return new Promise((resolve) => {
      if (this._stopped) return;
      const t = setTimeout(() => {
        this._timers.delete(t);
        resolve();
      }, ms);
      this._timers.add(t);
    });
  }

  _now() {
    return Date.now() + this.clockSkewMs;
  }
}

function routeOf(method, pathname) {
  const path = pathname.replace(/^\/v1\.0/, "").replace(/\/\d+(?=\/|$)/g, "/{id}");
  return `${method} ${path}`;
}

function pushCapped(list, item) {
  list.push(item);
  if (list.length > HISTORY_LIMIT) list.shift();
}

function readBody(req, max = 65536) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > max) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

// ---- standalone demo device -------------------------------------------------------------------------------------

const USAGE = "usage: node test/simulators/tedee-bridge.js [--host 127.0.0.1] [--port 8081] [--token BE9xnPnGfVUS] [--plain] [--mode-from either|header|query]";

function parseArgs(argv) {
  const options = { port: 8081, controlApi: true, minIntervalMs: 900 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--host") options.host = value();
    else if (arg === "--port") options.port = Number(value());
    else if (arg === "--token") options.token = value();
    else if (arg === "--plain") options.encrypted = false;
    else if (arg === "--mode-from") options.modeFrom = value();
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error("invalid --port");
  return options;
}

async function main(argv) {
  let options;
  try {
    options = parseArgs(argv);
  } catch (e) {
    console.error(`${e.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const sim = new TedeeBridgeSimulator(options);
  const { url } = await sim.start();
  console.log(`Tedee Bridge simulator listening on ${url}/v1.0 (${sim.encrypted ? "encrypted" : "plain"} token: ${sim.token})`);
  for (const d of sim.devices) console.log(`  lock ${d.id} "${d.name}" type ${d.type} state ${d.state}`);
  console.log(`control API (loopback only): POST ${url}/_sim/devices/<id>/{lock,unlock,jam,state,battery,charging,charged,online,offline,settings}, GET ${url}/_sim/stats`);
  sim.on("request", (e) => console.log(`${e.method} ${e.path} -> ${e.status}${e.authError ? ` (${e.authError})` : ""}`));
  sim.on("delivery", (d) => console.log(`callback #${d.callbackId} ${d.body.event} -> ${d.status ?? d.error}`));
  const shutdown = () => sim.stop().then(() => process.exit(0));
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}

module.exports = { TedeeBridgeSimulator, defaultDevices, STATE };
