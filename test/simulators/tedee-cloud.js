"use strict";

// A Tedee cloud API simulator (research/loqed-tedee.md §2.3, §6.5): the parts the plugin uses, with the cloud's
// limits enforced so that a careless client fails:
//   - `Authorization: PersonalKey <key>` (401 otherwise), any `/api/v<version>` prefix;
//   - a rate limit per account (default 700 requests per hour); over it, 429 with Retry-After (seconds until the
//     window ends) and every request in the meantime refused too;
//   - lock operations (`POST /my/lock/{id}/operation/lock|unlock|pull[?mode=]`) answering 202 with an operationId,
//     PENDING until the movement is done, then COMPLETED; `GET /my/device/operation/{id}`;
//   - `GET /my/lock`, `/my/lock/{id}` with `deviceState`, and the activity log `GET /my/deviceactivity` (newest
//     first, dates without a zone as the cloud writes them), filled by operations and by addActivity().
// Runnable as a demo: `node test/simulators/tedee-cloud.js --port 8082 --key demo-key`.

const { EventEmitter } = require("node:events");
const http = require("node:http");

const STATE = { UNLOCKED: 2, LOCKED: 6, PULLED: 7 };
const EVENT = { LockedRemote: 32, UnlockedRemote: 33, PulledRemote: 51, LockForceUnlocked: 67 };

function envelope(status, result, errorMessages = []) {
  return { status, body: JSON.stringify({ result, success: status < 400, errorMessages, statusCode: status }) };
}

/** The cloud writes activity dates without a zone designator. */
function cloudDate(ms) {
  return new Date(ms).toISOString().replace(/Z$/, "");
}

class TedeeCloudSimulator extends EventEmitter {
  /**
   * @param {object} [options]
   * @param {string} [options.key] personal access key
   * @param {number} [options.limit] requests per window (700)
   * @param {number} [options.windowMs] (1 hour)
   * @param {number} [options.actionMs] how long an operation stays PENDING
   * @param {{ id: number, name: string, state: number, batteryLevel?: number, doorState?: number }[]} [options.devices]
   * @param {{ id: number, name: string }} [options.user] the key's owner, written into the activity log
   */
  constructor(options = {}) {
    super();
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 0;
    this.key = options.key ?? "tedee-personal-key";
    this.limit = options.limit ?? 700;
    this.windowMs = options.windowMs ?? 3_600_000;
    this.actionMs = options.actionMs ?? 100;
    this.user = options.user ?? { id: 3, name: "Test" };
    this._devices = new Map(
      (options.devices ?? [
        { id: 33819, name: "Front door", state: STATE.LOCKED, batteryLevel: 90, doorState: 3 },
        { id: 10, name: "Back door", state: STATE.UNLOCKED, batteryLevel: 55 },
      ]).map((d) => [d.id, { isConnected: true, batteryLevel: 100, isCharging: false, ...d }]),
    );
    this._activity = [];
    this._nextActivityId = 1;
    this._operations = new Map();
    this._nextOperation = Date.now();
    this._windowStart = 0;
    this._windowCount = 0;
    this._stats = { requests: 0, rateLimited: 0, authFailures: 0, byRoute: {} };
    this._requests = [];
    this._timers = new Set();
    this._server = null;
    this.url = null;
  }

  async start() {
    const server = http.createServer((req, res) => {
      this._onRequest(req, res).catch((e) => this._write(res, envelope(500, null, [e.message])));
    });
    this._server = server;
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, this.host, () => resolve());
    });
    this.url = `http://${this.host}:${server.address().port}`;
    return { url: this.url };
  }

  async stop() {
    for (const t of this._timers) clearTimeout(t);
    this._timers.clear();
    if (!this._server) return;
    await new Promise((resolve) => {
      this._server.close(() => resolve());
      this._server.closeAllConnections();
    });
  }

  get stats() {
    return { ...this._stats, byRoute: { ...this._stats.byRoute } };
  }

  get requests() {
    return this._requests.slice();
  }

  get activity() {
    return this._activity.slice();
  }

  getDevice(id) {
    return { ...this._devices.get(Number(id)) };
  }

  /** Writes an activity entry as the cloud would after a lock used a PIN, a button, the app, ... */
  addActivity({ deviceId, event, userId = null, username = null, source = 0, at = Date.now() }) {
    const entry = { id: this._nextActivityId++, deviceId, userId, username, event, source, date: cloudDate(at) };
    this._activity.unshift(entry);
    return entry;
  }

  /** Changes a lock's state in the cloud's view (e.g. to follow the bridge simulator). */
  setState(id, patch) {
    Object.assign(this._devices.get(Number(id)), patch);
  }

  /** Uses up the rate budget, so the next request is answered 429. */
  exhaustRateLimit() {
    this._count(Date.now());
    this._windowCount = this.limit;
  }

  async _onRequest(req, res) {
    const url = new URL(req.url, "http://cloud.invalid");
    await drain(req);
    const path = url.pathname.replace(/^\/api\/v[\d.]+/, "");
    const route = `${req.method} ${path.replace(/\/\d+(?=\/|$)/g, "/{id}")}`;
    const entry = { method: req.method, path: url.pathname, route, query: Object.fromEntries(url.searchParams), status: 0, at: new Date().toISOString() };
    this._stats.requests++;
    this._stats.byRoute[route] = (this._stats.byRoute[route] ?? 0) + 1;
    const answer = this._handle(req, url, path, res);
    entry.status = answer.status;
    this._requests.push(entry);
    this.emit("request", entry);
    this._write(res, answer);
  }

  _handle(req, url, path, res) {
    if (!/^\/api\/v[\d.]+\//.test(url.pathname)) return envelope(404, null, ["Not found"]);
    if (req.headers.authorization !== `PersonalKey ${this.key}`) {
      this._stats.authFailures++;
      return envelope(401, null, ["Unauthorized"]);
    }
    const now = Date.now();
    if (!this._count(now)) {
      this._stats.rateLimited++;
      res.setHeader("Retry-After", String(Math.max(1, Math.ceil((this._windowStart + this.windowMs - now) / 1000))));
      return envelope(429, null, ["Too many requests"]);
    }
    let m;
    if (path === "/my/lock" && req.method === "GET") return envelope(200, [...this._devices.values()].map((d) => this._lock(d)));
    if ((m = /^\/my\/lock\/(\d+)$/.exec(path)) && req.method === "GET") {
      const d = this._devices.get(Number(m[1]));
      return d ? envelope(200, this._lock(d)) : envelope(404, null, ["Device not found"]);
    }
    if ((m = /^\/my\/lock\/(\d+)\/operation\/(lock|unlock|pull)$/.exec(path)) && req.method === "POST") {
      return this._operate(Number(m[1]), m[2], url.searchParams.get("mode"));
    }
    if ((m = /^\/my\/device\/operation\/([\w-]+)$/.exec(path)) && req.method === "GET") {
      const op = this._operations.get(m[1]);
      return op ? envelope(200, { ...op }) : envelope(404, null, ["Operation not found"]);
    }
    if (path === "/my/deviceactivity" && req.method === "GET") {
      const deviceId = Number(url.searchParams.get("deviceId"));
      const elements = Math.min(200, Number(url.searchParams.get("elements") ?? 200) || 200);
      return envelope(200, this._activity.filter((a) => a.deviceId === deviceId).slice(0, elements));
    }
    return envelope(404, null, ["Not found"]);
  }

  /** Fixed windows: false when the budget of the current window is used up. */
  _count(now) {
    if (now >= this._windowStart + this.windowMs) {
      this._windowStart = now;
      this._windowCount = 0;
    }
    if (this._windowCount >= this.limit) return false;
    this._windowCount++;
    return true;
  }

  _operate(id, operation, modeText) {
    const d = this._devices.get(id);
    if (!d) return envelope(404, null, ["Device not found"]);
    const mode = modeText === null ? 0 : Number(modeText);
    if (![0, 2, 3, 4].includes(mode)) return envelope(400, null, ["Invalid mode"]);
    const operationId = String(this._nextOperation++);
    const type = { lock: 0, unlock: 1, pull: 2 }[operation];
    const op = { deviceId: id, operationId, result: null, status: "PENDING", type, mode };
    this._operations.set(operationId, op);
    const t = setTimeout(() => {
      this._timers.delete(t);
      d.state = operation === "lock" ? STATE.LOCKED : STATE.UNLOCKED;
      d.lastStateChangedDate = new Date().toISOString();
      op.status = "COMPLETED";
      op.result = d.isConnected ? 0 : 1;
      const event = operation === "lock" ? EVENT.LockedRemote : operation === "pull" ? EVENT.PulledRemote : mode === 2 ? EVENT.LockForceUnlocked : EVENT.UnlockedRemote;
      this.addActivity({ deviceId: id, event, userId: this.user.id, username: this.user.name, source: 1 });
    }, this.actionMs);
    this._timers.add(t);
    return envelope(202, { operationId, lastStateChangedDate: d.lastStateChangedDate ?? new Date().toISOString() });
  }

  _lock(d) {
    return {
      id: d.id,
      name: d.name,
      type: 2,
      isConnected: d.isConnected,
      deviceState: d.isConnected
        ? { state: d.state, doorState: d.doorState ?? 0, isCharging: d.isCharging, batteryLevel: d.batteryLevel, stateChangeResult: 0, lastStateChangedDate: d.lastStateChangedDate ?? null }
        : null,
    };
  }

  _write(res, answer) {
    if (res.headersSent) return;
    res.writeHead(answer.status, { "Content-Type": "application/json" });
    res.end(answer.body);
  }
}

function drain(req) {
  return new Promise((resolve) => {
    req.resume();
    req.on("end", resolve);
    req.on("error", resolve);
  });
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const get = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
  };
  const sim = new TedeeCloudSimulator({ port: Number(get("--port", 8082)), key: get("--key", "tedee-personal-key") });
  sim.start().then(({ url }) => {
    console.log(`Tedee cloud simulator on ${url}/api/v1.36 (key "${sim.key}", ${sim.limit} requests per hour)`);
    sim.on("request", (e) => console.log(`${e.method} ${e.path} -> ${e.status}`));
  });
  process.once("SIGINT", () => sim.stop().then(() => process.exit(0)));
}

module.exports = { TedeeCloudSimulator, EVENT, STATE, cloudDate };
