"use strict";

// A Nuki Bridge HTTP API simulator (doc V1.13.3, see research/nuki.md §1 and §6). End-to-end tests run the
// real plugin against it and it doubles as a demo device, so it enforces the limits of a real bridge rather
// than being lenient: one request at a time (503), 3 http-only callback slots, 60 s auth window with replay
// protection, no encrypted token on the software bridge, `deviceType` defaulting to 0, and callbacks that
// mostly carry only the final state. Where the real bridge's behaviour is not documented, the choice made
// here is marked "simulator choice" and leans towards the stricter reading, so that a sloppy client fails.

const { EventEmitter } = require("node:events");
const crypto = require("node:crypto");
const http = require("node:http");
const nacl = require("tweetnacl");

const LOCK_STATE_NAMES = {
  0: "uncalibrated",
  1: "locked",
  2: "unlocking",
  3: "unlocked",
  4: "locking",
  5: "unlatched",
  6: "unlocked (lock ‘n’ go)",
  7: "unlatching",
  254: "motor blocked",
  255: "undefined",
};
const OPENER_STATE_NAMES = {
  0: "untrained",
  1: "online",
  3: "rto active",
  5: "open",
  7: "opening",
  253: "boot run",
  255: "undefined",
};
const DOOR_SENSOR_STATE_NAMES = {
  1: "deactivated",
  2: "door closed",
  3: "door opened",
  4: "door state unknown",
  5: "calibrating",
  16: "uncalibrated",
  240: "removed",
  255: "unknown",
};

const OPENER = 2;
const DEVICE_TYPES = [0, 2, 3, 4];
const AUTH_MODES = ["plain", "hashed", "encrypted"];
const AUTH_WINDOW_MS = 60_000; // "Timeframe is 60 seconds atm" (Nuki staff, research §1.2)
const MAX_CALLBACKS = 3;
const MAX_CALLBACK_URL_LENGTH = 254;
const HISTORY_LIMIT = 10_000; // keeps a long-running demo from growing without bound
const DEFAULT_RING_TIMESTAMP = "2024-10-24T18:05:12+00:00";

// Error bodies of real bridges are plain text ("HTTP 401 Unauthorized" and "HTTP 503 Unavailable" are quoted
// in homebridge-nukiio issues #18 and #100); the other texts follow the same pattern (simulator choice).
const TEXT = {
  400: "HTTP 400 Bad Request",
  401: "HTTP 401 Unauthorized",
  404: "HTTP 404 Not Found",
  405: "HTTP 405 Method Not Allowed",
  500: "HTTP 500 Internal Server Error",
  503: "HTTP 503 Unavailable",
};
// The doc's wording for a device endpoint whose device cannot be reached (§7); the real body is undocumented.
const OFFLINE_TEXT = "given Nuki device is offline";

/** Bridge time format of `currentTime`, `timestamp` and `ringactionTimestamp`: 2018-10-03T06:49:00+00:00. */
function formatBridgeTime(ms) {
  return new Date(ms).toISOString().slice(0, 19) + "+00:00";
}

function hex8(nukiId) {
  return nukiId.toString(16).toUpperCase().padStart(8, "0");
}

function stateNameOf(deviceType, state) {
  const names = deviceType === OPENER ? OPENER_STATE_NAMES : LOCK_STATE_NAMES;
  return names[state] ?? "undefined";
}

/** The devices a simulator has when none are given: a Smart Lock 3.0 Pro with door sensor and keypad, and an Opener. */
function defaultDevices() {
  return [
    {
      nukiId: 1046726733, // 3E63C84D
      deviceType: 4,
      name: "Front door",
      firmwareVersion: "4.5.6",
      doorSensor: true,
      keypad: true,
      lastKnownState: { mode: 2, state: 1, batteryCritical: false, batteryCharging: false, batteryChargeState: 80 },
    },
    {
      nukiId: 439041101, // 1A2B3C4D
      deviceType: 2,
      name: "Building entrance",
      firmwareVersion: "1.8.1",
      lastKnownState: { mode: 2, state: 1, batteryCritical: false, ringactionTimestamp: DEFAULT_RING_TIMESTAMP },
    },
  ];
}

/** Ordered state fields a device reports, in the doc's order; devices without sensor/keypad omit those fields. */
function stateKeys(device) {
  if (device.deviceType === OPENER) {
    return ["mode", "state", "stateName", "batteryCritical", "ringactionTimestamp", "ringactionState"];
  }
  const keys = ["mode", "state", "stateName", "batteryCritical", "batteryCharging", "batteryChargeState"];
  if (device.keypad) keys.push("keypadBatteryCritical");
  if (device.doorSensor) keys.push("doorsensorState", "doorsensorStateName");
  return keys;
}

/**
 * Accepts `{ nukiId, deviceType, name?, firmwareVersion?, doorSensor?, keypad?, lastKnownState? }`. Door sensor
 * and keypad default to whether lastKnownState mentions their fields.
 */
function normalizeDevice(spec) {
  const { nukiId, deviceType } = spec;
  if (!Number.isInteger(nukiId) || nukiId < 1 || nukiId > 0xffffffff) throw new Error(`invalid nukiId ${nukiId}`);
  if (!DEVICE_TYPES.includes(deviceType)) throw new Error(`invalid deviceType ${deviceType} for ${nukiId}`);
  const { timestamp, ...given } = spec.lastKnownState ?? {}; // a /list entry may be passed as is
  const isOpener = deviceType === OPENER;
  const device = {
    nukiId,
    deviceType,
    name: spec.name ?? `Nuki_${hex8(nukiId)}`,
    firmwareVersion: spec.firmwareVersion ?? (isOpener ? "1.8.1" : "3.8.6"),
    doorSensor: !isOpener && (spec.doorSensor ?? "doorsensorState" in given),
    keypad: !isOpener && (spec.keypad ?? "keypadBatteryCritical" in given),
    offline: false,
    motion: null,
    ringResetTimer: null,
    timestamp: 0,
    s: isOpener
      ? { mode: 2, state: 1, batteryCritical: false, ringactionTimestamp: DEFAULT_RING_TIMESTAMP, ringactionState: false }
      : { mode: 2, state: 1, batteryCritical: false, batteryCharging: false, batteryChargeState: 100 },
  };
  if (device.keypad) device.s.keypadBatteryCritical = false;
  if (device.doorSensor) device.s.doorsensorState = 2;
  mergeState(device, given);
  return device;
}

/** Merges a patch into a device's state; names follow their numbers unless the patch sets them explicitly. */
function mergeState(device, patch) {
  const allowed = stateKeys(device);
  for (const key of Object.keys(patch)) {
    if (!allowed.includes(key)) throw new Error(`device ${device.nukiId} has no field ${key}`);
  }
  Object.assign(device.s, patch);
  if (!("stateName" in patch)) device.s.stateName = stateNameOf(device.deviceType, device.s.state);
  if (device.doorSensor && !("doorsensorStateName" in patch)) {
    device.s.doorsensorStateName = DOOR_SENSOR_STATE_NAMES[device.s.doorsensorState] ?? "unknown";
  }
}

function stateFields(device) {
  const out = {};
  for (const key of stateKeys(device)) out[key] = device.s[key];
  return out;
}

function isLoopback(address) {
  return address === "::1" || /^(::ffff:)?127\./.test(address ?? "");
}

function text(status, body = TEXT[status] ?? `HTTP ${status} ${http.STATUS_CODES[status] ?? ""}`.trim()) {
  return { status, body, type: "text/plain" };
}

function json(status, body) {
  return { status, body: JSON.stringify(body), type: "application/json" };
}

/**
 * Checks the three auth methods of research §1.2 and remembers used (ts, rnr) pairs and nonces. Memory is
 * pruned once entries fall out of the window; anything older than what was pruned is refused as well, so a
 * bridge clock that is moved backwards cannot re-admit a forgotten pair.
 */
class AuthVerifier {
  constructor({ token, allow, encryptedSupported, now }) {
    this.token = token;
    this.key = crypto.createHash("sha256").update(token, "utf8").digest();
    this.allow = new Set(allow);
    this.encryptedSupported = encryptedSupported;
    this.now = now;
    this.pairs = new Map(); // `${ts},${rnr}` -> ts in ms
    this.nonces = new Map(); // nonce hex -> ts in ms
    this.forgottenBefore = -Infinity;
  }

  /** @returns {{ ok: true, method: string } | { ok: false, reason: string }} */
  verify(params) {
    const present = [
      params.has("token") && "plain",
      (params.has("hash") || params.has("ts") || params.has("rnr")) && "hashed",
      (params.has("ctoken") || params.has("nonce")) && "encrypted",
    ].filter(Boolean);
    if (present.length === 0) return fail("no auth parameters");
    // Simulator choice: the bridge's behaviour for mixed methods is undocumented; sending the plain token
    // along with a hash defeats the hash, so such a request is refused.
    if (present.length > 1) return fail(`mixed auth methods: ${present.join(", ")}`);
    const method = present[0];
    if (!this.allow.has(method)) return fail(`${method} auth is switched off`);
    if (method === "plain") {
      return safeEqual(params.get("token"), this.token) ? ok(method) : fail("wrong token");
    }
    if (method === "hashed") return this.verifyHashed(params);
    return this.verifyEncrypted(params);
  }

  verifyHashed(params) {
    const ts = params.get("ts");
    const rnr = params.get("rnr");
    const hash = params.get("hash");
    if (ts === null || rnr === null || hash === null) return fail("missing hashed token parameter");
    const parsed = parseTsRnr(ts, rnr);
    if (!parsed) return fail("malformed ts or rnr");
    // The bridge compares with its own lower-case hex digest (research §1.2), so upper case does not pass.
    const expected = crypto.createHash("sha256").update(`${ts},${rnr},${this.token}`, "utf8").digest("hex");
    if (!safeEqual(hash, expected)) return fail("hash does not match");
    return this.accept("hashed", parsed, null);
  }

  verifyEncrypted(params) {
    if (!this.encryptedSupported) return fail("encrypted token is not supported by the software bridge");
    const ctoken = params.get("ctoken");
    const nonce = params.get("nonce");
    if (ctoken === null || nonce === null) return fail("missing ctoken or nonce");
    if (!/^[0-9a-fA-F]{48}$/.test(nonce)) return fail("nonce must be 24 bytes of hex");
    if (!/^(?:[0-9a-fA-F]{2}){17,}$/.test(ctoken)) return fail("ctoken must be hex");
    const opened = nacl.secretbox.open(Buffer.from(ctoken, "hex"), Buffer.from(nonce, "hex"), this.key);
    if (!opened) return fail("ctoken does not decrypt with this token");
    const match = /^([^,]*),([^,]*)$/.exec(Buffer.from(opened).toString("utf8"));
    const parsed = match && parseTsRnr(match[1], match[2]);
    if (!parsed) return fail("decrypted ctoken is not ts,rnr");
    return this.accept("encrypted", parsed, nonce.toLowerCase());
  }

  accept(method, { ts, tsMs, rnr }, nonce) {
    const now = this.now();
    this.prune(now);
    if (Math.abs(now - tsMs) > AUTH_WINDOW_MS) return fail(`ts ${ts} is outside the 60 s window of the bridge clock`);
    const pair = `${ts},${rnr}`;
    if (tsMs <= this.forgottenBefore || this.pairs.has(pair)) return fail("replayed ts,rnr");
    if (nonce !== null && this.nonces.has(nonce)) return fail("reused nonce");
    this.pairs.set(pair, tsMs);
    if (nonce !== null) this.nonces.set(nonce, tsMs);
    return ok(method);
  }

  prune(now) {
    const cutoff = now - AUTH_WINDOW_MS - 1000;
    let pruned = false;
    for (const map of [this.pairs, this.nonces]) {
      for (const [key, tsMs] of map) {
        if (tsMs < cutoff) {
          map.delete(key);
          pruned = true;
        }
      }
    }
    if (pruned) this.forgottenBefore = Math.max(this.forgottenBefore, cutoff);
  }
}

function ok(method) {
  return { ok: true, method };
}

function fail(reason) {
  return { ok: false, reason };
}

function safeEqual(a, b) {
  const x = Buffer.from(String(a), "utf8");
  const y = Buffer.from(String(b), "utf8");
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** ts must be YYYY-MM-DDTHH:MM:SSZ (UTC, no millis) and a real date; rnr an integer 0..65535. */
function parseTsRnr(ts, rnr) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(ts)) return null;
  const tsMs = Date.parse(ts);
  if (Number.isNaN(tsMs) || new Date(tsMs).toISOString().slice(0, 19) + "Z" !== ts) return null;
  if (!/^\d{1,5}$/.test(rnr) || Number(rnr) > 65535) return null;
  return { ts, tsMs, rnr: Number(rnr) };
}

class NukiBridgeSimulator extends EventEmitter {
  /**
   * @param {object} [options]
   * @param {string} [options.host] listen address, default 127.0.0.1
   * @param {number} [options.port] 0 = any free port
   * @param {string} [options.token]
   * @param {1|2} [options.bridgeType] 1 hardware, 2 software (no encrypted token)
   * @param {number} [options.hardwareId]
   * @param {number} [options.serverId]
   * @param {string} [options.firmwareVersion] bridge firmware (hardware) or app version (software)
   * @param {object[]} [options.devices] see normalizeDevice
   * @param {number} [options.clockSkewMs] bridge clock minus real time
   * @param {number} [options.busyMs] how long every request occupies the bridge
   * @param {number} [options.actionMs] duration of one motor movement / BLE exchange
   * @param {number} [options.lockNGoMs] pause of lock 'n' go between unlocking and locking (the app default is 20 s)
   * @param {boolean} [options.reportTransitions] also send callbacks for transitional states
   * @param {number} [options.callbackTimeoutMs]
   * @param {number} [options.ringactionResetMs] when ringactionState falls back to false (30 s on real bridges)
   * @param {string[]} [options.allowAuth] subset of plain, hashed, encrypted
   * @param {boolean} [options.controlApi] serve the loopback-only /_sim/ control API (the CLI turns it on)
   */
  constructor(options = {}) {
    super();
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 0;
    this.token = options.token ?? "123456";
    this.bridgeType = options.bridgeType ?? 1;
    if (this.bridgeType !== 1 && this.bridgeType !== 2) throw new Error("bridgeType must be 1 or 2");
    this.hardwareId = options.hardwareId ?? 123456789;
    this.serverId = options.serverId ?? 987654321;
    this.firmwareVersion = options.firmwareVersion ?? (this.bridgeType === 1 ? "2.14.0" : "1.22.3");
    this.clockSkewMs = options.clockSkewMs ?? 0; // public and mutable: tests may move the bridge clock
    this.busyMs = options.busyMs ?? 30;
    this.actionMs = options.actionMs ?? 150;
    this.lockNGoMs = options.lockNGoMs ?? this.actionMs;
    this.reportTransitions = options.reportTransitions ?? false;
    this.callbackTimeoutMs = options.callbackTimeoutMs ?? 3000;
    this.ringactionResetMs = options.ringactionResetMs ?? 30_000;
    this.controlApi = options.controlApi ?? false;
    const allowAuth = options.allowAuth ?? AUTH_MODES;
    for (const mode of allowAuth) if (!AUTH_MODES.includes(mode)) throw new Error(`unknown auth mode ${mode}`);
    if (typeof this.token !== "string" || this.token === "") throw new Error("token must be a non-empty string");

    this._auth = new AuthVerifier({
      token: this.token,
      allow: allowAuth,
      encryptedSupported: this.bridgeType === 1,
      now: () => this._now(),
    });
    this._devices = new Map();
    for (const spec of options.devices ?? defaultDevices()) {
      const device = normalizeDevice(spec);
      if (this._devices.has(device.nukiId)) throw new Error(`duplicate nukiId ${device.nukiId}`);
      device.timestamp = this._now();
      this._devices.set(device.nukiId, device);
    }
    this._callbackUrls = []; // a list: ids are positions, see /callback/remove
    this._stats = { requests: 0, busyRejected: 0, authFailures: 0, lockStateCalls: 0, byPath: {} };
    this._requests = [];
    this._deliveries = [];
    this._failures = new Map(); // path -> queued forced answers (failNext)
    this._busy = false;
    this._timers = new Set();
    this._inflight = new Set();
    this._queue = Promise.resolve(); // callback deliveries, strictly one after another
    this._agent = new http.Agent({ keepAlive: false });
    this._server = null;
    this._stopped = false;
    this._startedAt = Date.now();
    this.url = null;
  }

  // ---- lifecycle ----------------------------------------------------------------------------------------

  /** @returns {Promise<{ port: number, url: string }>} */
  async start() {
    if (this._server) throw new Error("simulator already started");
    const server = http.createServer((req, res) => {
      this._onRequest(req, res).catch((err) => {
        if (!res.headersSent) this._write(res, text(500, `${TEXT[500]}: ${err.message}`));
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
    this._startedAt = Date.now();
    const { port } = server.address();
    this.url = `http://${this.host.includes(":") ? `[${this.host}]` : this.host}:${port}`;
    return { port, url: this.url };
  }

  /** Closes the server, open connections, pending timers and callback deliveries. */
  async stop() {
    this._stopped = true;
    for (const timer of this._timers) clearTimeout(timer);
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

  /** Copy of the counters. `requests` and `byPath` count every bridge API request, including 503-rejected ones. */
  get stats() {
    return { ...this._stats, byPath: { ...this._stats.byPath } };
  }

  get callbacks() {
    return this._callbackUrls.map((url, id) => ({ id, url }));
  }

  /** `{ url, body, status | error, at (real time, ISO), ms }` per callback POST, oldest first. */
  get deliveries() {
    return this._deliveries.slice();
  }

  /** `{ method, path, query (parameter names only), status, at, auth?, authError?, busy?, forced? }`, oldest first. */
  get requests() {
    return this._requests.slice();
  }

  /** What `/list` would say about one device. */
  getDevice(nukiId) {
    return this._listEntry(this._device(nukiId));
  }

  get devices() {
    return [...this._devices.values()].map((device) => this._listEntry(device));
  }

  // ---- test-side controls (physical events) ---------------------------------------------------------------
  // Each returns a promise that settles once the resulting callbacks have been delivered.

  setState(nukiId, patch) {
    return this._physical(nukiId, (device) => this._apply(device, patch, true));
  }

  /** Turning the knob by hand: same movement as the motor; a running motor action is overridden. */
  lock(nukiId) {
    return this._manualMovement(nukiId, 2);
  }

  unlock(nukiId) {
    return this._manualMovement(nukiId, 1);
  }

  openDoor(nukiId) {
    return this._physical(nukiId, (device) => this._apply(device, { doorsensorState: 3 }, true));
  }

  closeDoor(nukiId) {
    return this._physical(nukiId, (device) => this._apply(device, { doorsensorState: 2 }, true));
  }

  /** Motor blocked: stops a running movement (a waiting /lockAction then answers success:false). */
  jam(nukiId) {
    return this._physical(nukiId, (device) => {
      if (device.deviceType === OPENER) throw new Error("an Opener has no motor to jam");
      this._cancelMotion(device);
      this._apply(device, { state: 254 }, true);
    });
  }

  /**
   * Doorbell at the Opener: new ringactionTimestamp and ringactionState true (a callback), reset after
   * ringactionResetMs without a callback (as real bridges do, research §1.5). With ring to open (state 3)
   * or continuous mode (mode 3) the Opener opens; ring to open is used up by that, continuous mode is not.
   */
  ring(nukiId) {
    return this._physical(nukiId, async (device) => {
      if (device.deviceType !== OPENER) throw new Error(`device ${nukiId} is not an Opener`);
      this._apply(device, { ringactionTimestamp: formatBridgeTime(this._now()), ringactionState: true }, true);
      if (device.ringResetTimer) this._clearTimer(device.ringResetTimer);
      device.ringResetTimer = this._timer(() => {
        device.ringResetTimer = null;
        device.s.ringactionState = false;
        device.timestamp = this._now();
      }, this.ringactionResetMs);
      const continuous = device.s.mode === 3;
      if (!device.motion && (continuous || device.s.state === 3)) {
        await this._runMotion(device, this._openPlan(continuous ? 3 : 1));
      }
    });
  }

  setBattery(nukiId, { critical, level, charging } = {}) {
    return this._physical(nukiId, (device) => {
      const patch = {};
      if (critical !== undefined) patch.batteryCritical = critical;
      if (level !== undefined) patch.batteryChargeState = level;
      if (charging !== undefined) patch.batteryCharging = charging;
      this._apply(device, patch, true);
    });
  }

  /** An offline device stays in /list; its device endpoints answer 503. No callback, like a real bridge. */
  setOffline(nukiId, offline = true) {
    this._device(nukiId).offline = Boolean(offline);
  }

  /** The next processed request to `path` answers `status` (with `body`: an object is sent as JSON). */
  failNext(path, status, body) {
    let answer;
    if (body === undefined) answer = text(status);
    else if (typeof body === "string") answer = text(status, body);
    else answer = json(status, body);
    const queue = this._failures.get(path) ?? [];
    queue.push(answer);
    this._failures.set(path, queue);
  }

  // ---- HTTP: bridge API ---------------------------------------------------------------------------------

  async _onRequest(req, res) {
    const url = new URL(req.url, "http://bridge.invalid");
    if (url.pathname.startsWith("/_sim/")) return this._onControl(req, res, url);

    const path = url.pathname;
    const entry = {
      method: req.method,
      path,
      query: [...new Set(url.searchParams.keys())],
      status: 0,
      at: new Date().toISOString(),
    };
    this._stats.requests++;
    this._stats.byPath[path] = (this._stats.byPath[path] ?? 0) + 1;
    if (path === "/lockState") this._stats.lockStateCalls++;

    // One request at a time (research §1.7): a request arriving while another is processed is refused at once.
    if (this._busy) {
      this._stats.busyRejected++;
      entry.busy = true;
      return this._finish(res, entry, text(503));
    }
    this._busy = true;
    let answer;
    try {
      [answer] = await Promise.all([this._handle(req.method, path, url.searchParams, entry), this._delay(this.busyMs)]);
    } catch (err) {
      answer = text(500, `${TEXT[500]}: ${err.message}`);
    }
    this._busy = false;
    this._finish(res, entry, answer);
  }

  async _handle(method, path, params, entry) {
    const forced = this._failures.get(path);
    if (forced && forced.length > 0) {
      entry.forced = true;
      return forced.shift();
    }
    const handler = ROUTES[path];
    if (!handler) return text(404);
    if (method !== "GET") return text(405); // the API is GET only; other methods: simulator choice
    const auth = this._auth.verify(params);
    if (!auth.ok) {
      this._stats.authFailures++;
      entry.authError = auth.reason;
      return text(401);
    }
    entry.auth = auth.method;
    return handler.call(this, params);
  }

  _finish(res, entry, answer) {
    entry.status = answer.status;
    this._write(res, answer);
    pushCapped(this._requests, entry);
    this.emit("request", entry);
  }

  _write(res, { status, body, type }) {
    if (res.destroyed) return;
    res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  }

  _info() {
    const hardware = this.bridgeType === 1;
    return json(200, {
      bridgeType: this.bridgeType,
      ids: { hardwareId: this.hardwareId, serverId: this.serverId },
      versions: hardware ? { firmwareVersion: this.firmwareVersion, wifiFirmwareVersion: "2.3.0" } : { appVersion: this.firmwareVersion },
      uptime: Math.floor((Date.now() - this._startedAt) / 1000),
      currentTime: formatBridgeTime(this._now()),
      ...(hardware ? { wlanConnected: true } : {}),
      serverConnected: true,
      // Offline devices are out of BLE range, so they do not show up in the scan.
      scanResults: [...this._devices.values()]
        .filter((device) => !device.offline)
        .map((device) => ({ deviceType: device.deviceType, nukiId: device.nukiId, name: `Nuki_${hex8(device.nukiId)}`, rssi: -55, paired: true })),
    });
  }

  _list() {
    return json(200, this.devices);
  }

  /** Works, but queries the device over BLE (battery drain on real locks); counted in stats.lockStateCalls. */
  async _lockState(params) {
    const found = this._deviceFromParams(params);
    if (found.answer) return found.answer;
    const device = found.device;
    await this._delay(this.actionMs);
    device.timestamp = this._now();
    return json(200, { ...stateFields(device), success: true });
  }

  async _lockAction(params) {
    const action = params.get("action");
    if (action === null || !/^[1-5]$/.test(action)) return text(400);
    // Only the documented spelling `nowait` counts; `noWait` is ignored, so such a client waits (simulator choice).
    const nowait = params.get("nowait");
    if (nowait !== null && nowait !== "0" && nowait !== "1") return text(400);
    const found = this._deviceFromParams(params);
    if (found.answer) return found.answer;
    const device = found.device;
    const plan = device.deviceType === OPENER ? this._openerPlan(device, Number(action)) : this._lockPlan(Number(action));
    return this._act(device, plan, nowait === "1");
  }

  /** Simple actions (§4.5), here with the "handle" mapping: /unlock unlocks (a knob lock would unlatch). */
  async _simple(params, kind) {
    const found = this._deviceFromParams(params);
    if (found.answer) return found.answer;
    const device = found.device;
    let plan;
    if (device.deviceType === OPENER) {
      plan = kind === "lock" ? { steps: [{ ms: this.actionMs }], final: { mode: 2, state: 1 } } : this._openPlan(device.s.state);
    } else {
      plan = this._lockPlan(kind === "lock" ? 2 : 1);
    }
    return this._act(device, plan, false);
  }

  async _act(device, plan, nowait) {
    const done = this._runMotion(device, plan);
    if (nowait) return json(200, { success: true, batteryCritical: device.s.batteryCritical });
    const completed = await done;
    return json(200, { success: completed, batteryCritical: device.s.batteryCritical });
  }

  _callbackAdd(params) {
    const url = params.get("url"); // URLSearchParams has already URL-decoded it
    if (!url) return json(400, { success: false, message: "url parameter missing" });
    if (url.length > MAX_CALLBACK_URL_LENGTH) {
      return json(400, { success: false, message: `url too long (max ${MAX_CALLBACK_URL_LENGTH} characters)` });
    }
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      return json(400, { success: false, message: "invalid url" });
    }
    if (parsed.protocol !== "http:" || !parsed.hostname) {
      return json(400, { success: false, message: "invalid url: only http callbacks are supported" });
    }
    // Observed on real bridges: status 200 with success:false (homebridge-nb #5, #51).
    if (this._callbackUrls.length >= MAX_CALLBACKS) return json(200, { success: false, message: "too many callbacks registered" });
    // Duplicates are accepted, as real bridges do; clients must check /callback/list themselves.
    this._callbackUrls.push(url);
    return json(200, { success: true });
  }

  _callbackList() {
    return json(200, { callbacks: this.callbacks });
  }

  // Simulator choice: the bridge keeps callbacks in a list and an id is the position in it, so after a
  // removal the remaining callbacks are renumbered 0..n-1. The doc only shows fresh lists (ids 0, 1); this
  // reading punishes clients that remember an id instead of looking it up in /callback/list right before.
  _callbackRemove(params) {
    const id = params.get("id");
    if (id === null || !/^\d+$/.test(id) || Number(id) >= this._callbackUrls.length) {
      return json(400, { success: false, message: "invalid callback id" });
    }
    this._callbackUrls.splice(Number(id), 1);
    return json(200, { success: true });
  }

  /** Resolves nukiId/deviceType (default 0, as on the bridge) to a reachable, idle device or an error answer. */
  _deviceFromParams(params) {
    const nukiId = params.get("nukiId");
    const deviceType = params.get("deviceType") ?? "0";
    if (nukiId === null || !/^\d{1,10}$/.test(nukiId) || !/^\d{1,3}$/.test(deviceType)) return { answer: text(400) };
    const device = this._devices.get(Number(nukiId));
    if (!device || device.deviceType !== Number(deviceType)) return { answer: text(404) };
    if (device.offline) return { answer: text(503, OFFLINE_TEXT) };
    // The bridge runs one BLE command per device at a time; a background (nowait) movement still occupies
    // the device, so another command for it is refused like a concurrent request.
    if (device.motion) {
      this._stats.busyRejected++;
      return { answer: text(503) };
    }
    return { device };
  }

  // ---- motor model ----------------------------------------------------------------------------------------

  /** Smart lock (types 0/3/4) action codes 1..5 as transitional steps and a final state. */
  _lockPlan(action) {
    const t = this.actionMs;
    const unlatch = [
      { state: 7, ms: t },
      { state: 5, ms: t },
    ];
    switch (action) {
      case 1:
        return { steps: [{ state: 2, ms: t }], final: { state: 3 } };
      case 2:
        return { steps: [{ state: 4, ms: t }], final: { state: 1 } };
      case 3:
        return { steps: unlatch, final: { state: 3 } };
      case 4:
        return { steps: [{ state: 2, ms: t }, { state: 6, ms: this.lockNGoMs }, { state: 4, ms: t }], final: { state: 1 } };
      default:
        return { steps: [...unlatch, { state: 6, ms: this.lockNGoMs }, { state: 4, ms: t }], final: { state: 1 } };
    }
  }

  /** Opener action codes 1..5. Ring to open and continuous mode need no motor, only a BLE exchange. */
  _openerPlan(device, action) {
    const exchange = [{ ms: this.actionMs }];
    const continuous = device.s.mode === 3;
    switch (action) {
      case 1:
        return { steps: exchange, final: { state: 3 } };
      case 2: // continuous mode keeps ring to open active
        return { steps: exchange, final: { state: continuous ? 3 : 1 } };
      case 3:
        return this._openPlan(device.s.state);
      case 4:
        return { steps: exchange, final: { mode: 3, state: 3 } };
      default:
        return { steps: exchange, final: { mode: 2, state: 1 } };
    }
  }

  /** Electric strike: opening, open, then back to `after` (1 online or 3 rto active). */
  _openPlan(after) {
    return {
      steps: [
        { state: 7, ms: this.actionMs },
        { state: 5, ms: this.actionMs },
      ],
      final: { state: after },
    };
  }

  /**
   * Runs a plan; resolves true when the final state was reached, false when the movement was cancelled.
   * The final state is always reported, even when it equals the start state: the device did report activity.
   */
  async _runMotion(device, plan) {
    let cancel;
    const cancelled = new Promise((resolve) => (cancel = resolve));
    const motion = { cancel, cancelled: false };
    device.motion = motion;
    for (const step of plan.steps) {
      if (step.state !== undefined) this._apply(device, { state: step.state }, this.reportTransitions);
      await Promise.race([this._delay(step.ms), cancelled]);
      if (motion.cancelled) return false;
    }
    if (device.motion === motion) device.motion = null;
    this._apply(device, plan.final, true);
    return true;
  }

  _cancelMotion(device) {
    if (!device.motion) return;
    device.motion.cancelled = true;
    device.motion.cancel();
    device.motion = null;
  }

  _manualMovement(nukiId, action) {
    return this._physical(nukiId, async (device) => {
      if (device.deviceType === OPENER) throw new Error("an Opener has no knob");
      this._cancelMotion(device);
      await this._runMotion(device, this._lockPlan(action));
    });
  }

  // ---- state and callbacks --------------------------------------------------------------------------------

  async _physical(nukiId, change) {
    await change(this._device(nukiId));
    return this._queue;
  }

  _device(nukiId) {
    const device = this._devices.get(Number(nukiId));
    if (!device) throw new Error(`unknown nukiId ${nukiId}`);
    return device;
  }

  _apply(device, patch, notify) {
    mergeState(device, patch);
    device.timestamp = this._now();
    if (notify) this._enqueue({ nukiId: device.nukiId, deviceType: device.deviceType, ...stateFields(device) });
  }

  _listEntry(device) {
    return {
      nukiId: device.nukiId,
      deviceType: device.deviceType,
      name: device.name,
      firmwareVersion: device.firmwareVersion,
      lastKnownState: { ...stateFields(device), timestamp: formatBridgeTime(device.timestamp) },
    };
  }

  /**
   * Queues one state report for every registered URL. Reports go out strictly in order, and within one
   * report to one URL after the other; a failing or slow receiver delays but does not stop the others.
   */
  _enqueue(body) {
    if (this._stopped) return;
    const payload = JSON.stringify(body); // the state at the moment of the change, not at delivery time
    this._queue = this._queue.then(async () => {
      for (const url of this._callbackUrls.slice()) {
        if (this._stopped) return;
        await this._post(url, payload);
      }
    });
  }

  _post(url, payload) {
    return new Promise((resolve) => {
      const started = Date.now();
      const record = { url, body: JSON.parse(payload), at: new Date(started).toISOString() };
      let settled = false;
      let req = null;
      let timer = null;
      const finish = (outcome) => {
        if (settled) return;
        settled = true;
        if (timer) this._clearTimer(timer);
        if (req) this._inflight.delete(req);
        Object.assign(record, outcome, { ms: Date.now() - started });
        pushCapped(this._deliveries, record);
        this.emit("delivery", record);
        resolve();
      };
      try {
        req = http.request(url, {
          method: "POST",
          agent: this._agent,
          headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) },
        });
      } catch (err) {
        finish({ error: err.code ?? err.message });
        return;
      }
      this._inflight.add(req);
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => finish({ status: res.statusCode }));
        res.on("error", () => finish({ status: res.statusCode }));
      });
      req.on("error", (err) => finish({ error: err.code ?? err.message }));
      timer = this._timer(() => {
        finish({ error: "timeout" });
        req.destroy();
      }, this.callbackTimeoutMs);
      req.end(payload);
    });
  }

  // ---- HTTP: control API ------------------------------------------------------------------------------------
  // For loopback demos only (the CLI enables it): it changes devices without any auth, so requests from
  // other hosts are refused. Control requests bypass the bridge's request counter and busy flag, so they
  // neither occupy the bridge nor show up in stats; the one-request-at-a-time rule of the real API is intact.

  async _onControl(req, res, url) {
    if (!this.controlApi) return this._write(res, text(404));
    if (!isLoopback(req.socket.remoteAddress)) return this._write(res, text(403, "control API is loopback only"));
    if (url.pathname === "/_sim/stats") {
      if (req.method !== "GET") return this._write(res, text(405));
      return this._write(res, json(200, { stats: this.stats, callbacks: this.callbacks, devices: this.devices }));
    }
    const match = /^\/_sim\/devices\/(\d+)\/(lock|unlock|open-door|close-door|ring|jam|state)$/.exec(url.pathname);
    if (!match) return this._write(res, text(404));
    if (req.method !== "POST") return this._write(res, text(405));
    const nukiId = Number(match[1]);
    if (!this._devices.has(nukiId)) return this._write(res, json(404, { success: false, message: "unknown nukiId" }));
    try {
      const patch = match[2] === "state" ? await readJsonObject(req) : null;
      const run = {
        lock: () => this.lock(nukiId),
        unlock: () => this.unlock(nukiId),
        "open-door": () => this.openDoor(nukiId),
        "close-door": () => this.closeDoor(nukiId),
        ring: () => this.ring(nukiId),
        jam: () => this.jam(nukiId),
        state: () => this.setState(nukiId, patch),
      }[match[2]];
      await run();
      this._write(res, json(200, { success: true, ...this.getDevice(nukiId) }));
    } catch (err) {
      this._write(res, json(400, { success: false, message: err.message }));
    }
  }

  // ---- timers -----------------------------------------------------------------------------------------------
  // Every timer is tracked so that stop() can clear it and the process can exit. After stop() no new timer
  // starts; whatever awaited it simply never continues.

  _timer(fn, ms) {
    if (this._stopped) return null;
    const handle = setTimeout(() => {
      this._timers.delete(handle);
      fn();
    }, ms);
    this._timers.add(handle);
    return handle;
  }

  _clearTimer(handle) {
    clearTimeout(handle);
    this._timers.delete(handle);
  }

  _delay(ms) {
    return new Promise((resolve) => this._timer(resolve, ms));
  }

  _now() {
    return Date.now() + this.clockSkewMs;
  }
}

const ROUTES = {
  "/info": NukiBridgeSimulator.prototype._info,
  "/list": NukiBridgeSimulator.prototype._list,
  "/lockState": NukiBridgeSimulator.prototype._lockState,
  "/lockAction": NukiBridgeSimulator.prototype._lockAction,
  "/lock": function (params) {
    return this._simple(params, "lock");
  },
  "/unlock": function (params) {
    return this._simple(params, "unlock");
  },
  "/callback/add": NukiBridgeSimulator.prototype._callbackAdd,
  "/callback/list": NukiBridgeSimulator.prototype._callbackList,
  "/callback/remove": NukiBridgeSimulator.prototype._callbackRemove,
};

function pushCapped(list, item) {
  list.push(item);
  if (list.length > HISTORY_LIMIT) list.shift();
}

function readJsonObject(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > 65536) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        const value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("body must be a JSON object");
        resolve(value);
      } catch (err) {
        reject(err);
      }
    });
    req.on("error", reject);
  });
}

// ---- standalone demo device -----------------------------------------------------------------------------------

const USAGE = `usage: node test/simulators/nuki-bridge.js [--host 127.0.0.1] [--port 8080] [--token 123456]
                                       [--bridge-type 1|2] [--report-transitions]`;

function parseArgs(argv) {
  const options = { port: 8080, controlApi: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--host") options.host = value();
    else if (arg === "--port") options.port = Number(value());
    else if (arg === "--token") options.token = value();
    else if (arg === "--bridge-type") options.bridgeType = Number(value());
    else if (arg === "--report-transitions") options.reportTransitions = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error("invalid --port");
  return options;
}

async function main(argv) {
  let options;
  try {
    options = parseArgs(argv);
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const sim = new NukiBridgeSimulator(options);
  const { url } = await sim.start();
  console.log(`Nuki Bridge simulator (${sim.bridgeType === 1 ? "hardware" : "software"} bridge) listening on ${url}`);
  console.log(`token: ${sim.token}`);
  for (const device of sim.devices) {
    console.log(`  nukiId ${device.nukiId} (${hex8(device.nukiId)}) deviceType ${device.deviceType} "${device.name}"`);
  }
  console.log(`control API (loopback only): POST ${url}/_sim/devices/<nukiId>/{lock,unlock,open-door,close-door,ring,jam,state}, GET ${url}/_sim/stats`);
  sim.on("request", (entry) => console.log(`${entry.method} ${entry.path} -> ${entry.status}${entry.authError ? ` (${entry.authError})` : ""}`));
  sim.on("delivery", (d) => console.log(`callback ${d.url} -> ${d.status ?? d.error} ${JSON.stringify(d.body)}`));
  const shutdown = () => {
    sim.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

module.exports = {
  NukiBridgeSimulator,
  defaultDevices,
  formatBridgeTime,
  LOCK_STATE_NAMES,
  OPENER_STATE_NAMES,
  DOOR_SENSOR_STATE_NAMES,
};
