"use strict";

// A LOQED local bridge simulator (research/loqed-tedee.md 1.3, 6.1, 6.2) plus a small LOQED cloud
// (Integrations API bolt_state actions and unsigned cloud webhooks, 1.4). End-to-end tests run the real plugin
// against it and it doubles as a demo device, so it is strict where a real bridge is (or may be) strict:
// management requests need verbatim upper-case TIMESTAMP/HASH headers, a fresh timestamp and a hash whose flag
// bitmap matches the body's trigger values; commands are decoded byte by byte (53 bytes, message id 0,
// protocol 2, type 7, HMAC, device 1, action 1-3, timestamp under a minute old) and, like the real bridge,
// answered 200 "Message resent to the lock" whatever they contain. Webhooks go out one at a time to every
// registered URL in registration order (a slow or dead target delays the others, as on the real bridge), signed
// with HASH = sha256(body || u64be(ts) || bridgeKey), or without TIMESTAMP to mimic newer bridge hardware.
// Undocumented choices are marked "simulator choice".

const { EventEmitter } = require("node:events");
const crypto = require("node:crypto");
const http = require("node:http");

const TRIGGERS = [
  "trigger_state_changed_open",
  "trigger_state_changed_latch",
  "trigger_state_changed_night_lock",
  "trigger_state_changed_unknown",
  "trigger_state_goto_open",
  "trigger_state_goto_latch",
  "trigger_state_goto_night_lock",
  "trigger_battery",
  "trigger_online_status",
];
const BOLT_NUMERIC = { unknown: 0, open: 1, day_lock: 2, night_lock: 3 };
const REQUESTED = { open: "OPEN", day_lock: "DAY_LOCK", night_lock: "NIGHT_LOCK", unknown: "UNKNOWN" };
const CHANGED = { open: "STATE_CHANGED_OPEN", day_lock: "STATE_CHANGED_LATCH", night_lock: "STATE_CHANGED_NIGHT_LOCK", unknown: "STATE_CHANGED_UNKNOWN" };
const ACTION_TARGET = { 1: "open", 2: "day_lock", 3: "night_lock" };
const MGMT_WINDOW_S = 30; // simulator choice: the real tolerance is undocumented
const COMMAND_MAX_AGE_S = 60; // the lock refuses commands about a minute old (research 1.3.2, observed)
const HISTORY_LIMIT = 5000;

const u64be = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};
const u32be = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const sha256hex = (...parts) => crypto.createHash("sha256").update(Buffer.concat(parts)).digest("hex");
const push = (list, item) => {
  list.push(item);
  if (list.length > HISTORY_LIMIT) list.shift();
};

class LoqedBridgeSimulator extends EventEmitter {
  /**
   * @param {object} [o]
   * @param {string} [o.bridgeKey] base64
   * @param {Record<number,string>} [o.keys] key slot -> base64 key secret
   * @param {string} [o.mac] Wi-Fi MAC (12 hex)
   * @param {"open"|"day_lock"|"night_lock"|"unknown"} [o.bolt]
   * @param {boolean} [o.omitTimestamp] send webhooks without TIMESTAMP (newer bridge hardware)
   * @param {number} [o.clockSkewS] bridge clock minus real time, for webhook signatures
   */
  constructor(o = {}) {
    super();
    this.bridgeKeyB64 = o.bridgeKey ?? "Ym9uam91ciBtb25kZQ==";
    this.bridgeKey = Buffer.from(this.bridgeKeyB64, "base64");
    this.keys = new Map(Object.entries(o.keys ?? { 1: "SGFsbG8gd2VyZWxk" }).map(([k, v]) => [Number(k), Buffer.from(v, "base64")]));
    this.mac = o.mac ?? "aabbccddeeff";
    this.macBle = o.macBle ?? "aabbccddeeaa";
    this.bolt = o.bolt ?? "night_lock";
    this.battery = o.battery ?? 78;
    this.lockOnline = true;
    this.omitTimestamp = o.omitTimestamp ?? false;
    this.clockSkewS = o.clockSkewS ?? 0;
    this.badHash = false;
    this.goToMs = o.goToMs ?? 40;
    this.moveMs = o.moveMs ?? 120;
    this.returnMs = o.returnMs ?? 250;
    this.deliveryTimeoutMs = o.deliveryTimeoutMs ?? 3000;
    this.webhooks = [];
    this.nextWebhookId = 1;
    this.commands = [];
    this.deliveries = [];
    this.stats = { statusCalls: 0, byPath: {}, mgmtRejected: 0, requests: 0 };
    this.delivery = Promise.resolve();
    this.timers = new Set();
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start(port = 0, host = "127.0.0.1") {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, resolve);
    });
    this.port = this.server.address().port;
    this.url = `http://${host}:${this.port}`;
    return this;
  }

  async stop() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Settles when every queued webhook delivery is done. */
  idle() {
    return this.delivery;
  }

  now() {
    return Math.floor(Date.now() / 1000);
  }

  // ---- HTTP --------------------------------------------------------------------------------------------

  handle(req, res) {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url, "http://bridge");
      const route = req.method === "DELETE" && /^\/webhooks\/\d+$/.test(url.pathname) ? "/webhooks/:id" : url.pathname;
      this.stats.requests++;
      this.stats.byPath[`${req.method} ${route}`] = (this.stats.byPath[`${req.method} ${route}`] ?? 0) + 1;
      const body = Buffer.concat(chunks);
      // The bridge serves JSON as text/html (research 1.3).
      const reply = (status, text) => {
        res.writeHead(status, { "Content-Type": "text/html" });
        res.end(typeof text === "string" ? text : JSON.stringify(text));
      };
      try {
        if (req.method === "GET" && url.pathname === "/status") return reply(200, this.statusBody());
        if (req.method === "GET" && url.pathname === "/to_lock") return reply(200, this.command(url.searchParams.get("command_signed_base64")));
        if (url.pathname === "/webhooks" || route === "/webhooks/:id") return this.manage(req, url, route, body, reply);
        reply(404, "Not found");
      } catch (err) {
        reply(500, String(err && err.message));
      }
    });
  }

  statusBody() {
    this.stats.statusCalls++;
    return {
      battery_percentage: this.battery,
      battery_type: "NICKEL_METAL_HYDRIDE",
      battery_type_numeric: 1,
      battery_voltage: 10.37,
      bolt_state: this.bolt,
      bolt_state_numeric: BOLT_NUMERIC[this.bolt],
      bridge_mac_wifi: this.mac,
      bridge_mac_ble: this.macBle,
      lock_online: this.lockOnline ? 1 : 0,
      webhooks_number: this.webhooks.length,
      ip_address: "127.0.0.1",
      up_timestamp: this.now() - 3600,
      wifi_strength: 73,
      ble_strength: this.lockOnline ? 20 : -1,
    };
  }

  /** Checks TIMESTAMP/HASH of a management request; false (and 401 sent) when they are wrong. */
  authorised(req, prefix, reply) {
    const raw = req.rawHeaders;
    const header = (name) => {
      const i = raw.indexOf(name);
      return i >= 0 ? raw[i + 1] : undefined;
    };
    // Verbatim header names: go-loqed found the bridge needs them exactly so (research 1.3.3).
    const ts = header("TIMESTAMP");
    const hash = header("HASH");
    let reason = null;
    if (ts === undefined || hash === undefined) reason = "TIMESTAMP and HASH headers required (upper case)";
    else if (!/^\d+$/.test(ts)) reason = "TIMESTAMP malformed";
    else if (Math.abs(this.now() - Number(ts)) > MGMT_WINDOW_S) reason = "TIMESTAMP too old";
    else if (sha256hex(prefix, u64be(Number(ts)), this.bridgeKey) !== hash.toLowerCase()) reason = "HASH mismatch";
    if (reason) {
      this.stats.mgmtRejected++;
      this.emit("rejected", { path: req.url, reason });
      reply(401, `Unauthorized: ${reason}`); // simulator choice: status and text are undocumented
      return false;
    }
    return true;
  }

  manage(req, url, route, body, reply) {
    if (req.method === "GET" && url.pathname === "/webhooks") {
      if (!this.authorised(req, Buffer.alloc(0), reply)) return;
      return reply(200, this.webhooks.map((w) => ({ ...w })));
    }
    if (req.method === "POST" && url.pathname === "/webhooks") {
      let json;
      try {
        json = JSON.parse(body.toString("utf8"));
      } catch {
        return reply(400, "Bad request");
      }
      if (typeof json.url !== "string" || !/^https?:\/\//.test(json.url)) return reply(400, "Bad request: url");
      let flags = 0;
      for (const [bit, name] of TRIGGERS.entries()) {
        // 0/1 integers, not strings or booleans (SymconLoqed: "Ensure post data is numeric").
        if (json[name] !== 0 && json[name] !== 1) return reply(400, `Bad request: ${name} must be 0 or 1`);
        flags |= json[name] << bit;
      }
      // The bitmap in the hash must be the one the body's trigger values give.
      if (!this.authorised(req, Buffer.concat([Buffer.from(json.url, "utf8"), u32be(flags)]), reply)) return;
      const entry = { id: this.nextWebhookId++, url: json.url };
      for (const name of TRIGGERS) entry[name] = json[name];
      this.webhooks.push(entry);
      this.emit("webhooks", this.webhooks);
      return reply(200, "Webhook added");
    }
    if (req.method === "DELETE" && route === "/webhooks/:id") {
      const id = Number(url.pathname.split("/").pop());
      if (!this.authorised(req, u64be(id), reply)) return;
      const before = this.webhooks.length;
      this.webhooks = this.webhooks.filter((w) => w.id !== id);
      if (this.webhooks.length === before) return reply(404, "Webhook not found");
      this.emit("webhooks", this.webhooks);
      return reply(200, "Webhook deleted");
    }
    reply(405, "Method not allowed");
  }

  /** Decodes a command byte by byte; records why it is (in)valid; answers what the real bridge answers. */
  command(value) {
    const entry = { at: Date.now(), valid: false, reason: null, decoded: null };
    push(this.commands, entry);
    const bytes = value ? Buffer.from(value, "base64") : Buffer.alloc(0);
    if (!value || bytes.toString("base64") !== value) entry.reason = "not standard base64";
    else if (bytes.length !== 53) entry.reason = `${bytes.length} bytes, not 53`;
    else {
      const d = {
        messageId: bytes.readBigUInt64BE(0),
        protocol: bytes[8],
        commandType: bytes[9],
        timestamp: Number(bytes.readBigUInt64BE(10)),
        hmac: bytes.subarray(18, 50).toString("hex"),
        keyId: bytes[50],
        deviceId: bytes[51],
        action: bytes[52],
      };
      entry.decoded = d;
      const secret = this.keys.get(d.keyId);
      const expected = secret
        ? crypto.createHmac("sha256", secret).update(Buffer.concat([bytes.subarray(8, 18), bytes.subarray(50, 53)])).digest("hex")
        : null;
      if (d.messageId !== 0n) entry.reason = "message id must be 0";
      else if (d.protocol !== 2) entry.reason = "protocol must be 2";
      else if (d.commandType !== 7) entry.reason = "command type must be 7";
      else if (d.deviceId !== 1) entry.reason = "device id must be 1";
      else if (!ACTION_TARGET[d.action]) entry.reason = `unknown action ${d.action}`;
      else if (!secret) entry.reason = `no key in slot ${d.keyId}`;
      else if (expected !== d.hmac) entry.reason = "HMAC mismatch";
      else if (Math.abs(this.now() - d.timestamp) >= COMMAND_MAX_AGE_S) entry.reason = "timestamp too old";
      else entry.valid = true;
    }
    this.emit("command", entry);
    if (entry.valid) {
      this.move(ACTION_TARGET[entry.decoded.action], entry.decoded.keyId, "remote");
    }
    // The real bridge answers this to every command, even a wrongly signed one.
    return "Message resent to the lock";
  }

  // ---- the lock ------------------------------------------------------------------------------------------

  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /**
   * Moves the bolt the way `how` says (remote, twist, touch, pin, ble, instant): a GO_TO_STATE_* first,
   * then STATE_CHANGED_* (none when already there), and from open back to day lock by itself.
   */
  move(target, key = 255, how = "remote") {
    const goto = gotoEventType(target, how);
    this.later(this.goToMs, () => {
      this.send({ go_to_state: REQUESTED[target], go_to_state_numeric: BOLT_NUMERIC[target], mac_wifi: this.mac, mac_ble: this.macBle, event_type: goto, key_local_id: key });
      if (this.bolt === target) return;
      this.later(this.moveMs, () => {
        this.bolt = target;
        this.sendChanged(target, key);
        if (target === "open") {
          this.later(this.returnMs, () => {
            if (this.bolt !== "open") return; // moved on already
            this.bolt = "day_lock";
            this.sendChanged("day_lock", 255);
          });
        }
      });
    });
  }

  sendChanged(bolt, key) {
    return this.send({ requested_state: REQUESTED[bolt], requested_state_numeric: BOLT_NUMERIC[bolt], mac_wifi: this.mac, mac_ble: this.macBle, event_type: CHANGED[bolt], key_local_id: key });
  }

  twistAssist(target) {
    this.move(target, 255, "twist");
  }
  touchToLock() {
    this.move("night_lock", 255, "touch");
  }
  keypadOpen(key = 255) {
    this.move("open", key, "pin");
  }
  bleAction(target, key) {
    this.move(target, key, "ble");
  }
  motorStall(key = 255) {
    this.bolt = "unknown";
    this.send({ requested_state: "UNKNOWN", requested_state_numeric: 0, mac_wifi: this.mac, mac_ble: this.macBle, event_type: "MOTOR_STALL", key_local_id: key });
    return this.sendChanged("unknown", 255);
  }
  setBattery(percentage) {
    this.battery = percentage;
    return this.send({ battery_type: "NICKEL_METAL_HYDRIDE", battery_percentage: percentage, mac_wifi: this.mac, mac_ble: this.macBle });
  }
  setLockOnline(online) {
    this.lockOnline = online;
    return this.send({ wifi_strength: 35, ble_strength: online ? 90 : -1, mac_wifi: this.mac, mac_ble: this.macBle });
  }

  /**
   * Queues one webhook to every registered URL whose trigger matches, one after another; resolves with the
   * HTTP statuses (or error codes) per URL. `opts` overrides signing for this delivery.
   */
  send(body, opts = {}) {
    if (!opts.raw) this.emit("webhook", body);
    const raw = Buffer.from(opts.raw ?? JSON.stringify(body), "utf8");
    const trigger = triggerOf(body);
    const run = async () => {
      const results = [];
      for (const hook of [...this.webhooks]) {
        if (trigger && hook[trigger] !== 1) continue;
        const result = await this.deliver(hook.url, raw, opts);
        results.push(result);
        push(this.deliveries, result);
      }
      return results;
    };
    const result = this.delivery.then(run, run);
    this.delivery = result.then(() => undefined, () => undefined);
    return result;
  }

  deliver(url, raw, opts) {
    const ts = this.now() + (opts.clockSkewS ?? this.clockSkewS);
    const headers = { "Content-Type": "application/json", "Content-Length": String(raw.length) };
    const omit = opts.omitTimestamp ?? this.omitTimestamp;
    if (!omit) headers.TIMESTAMP = String(ts);
    let hash = sha256hex(raw, u64be(ts), this.bridgeKey);
    if (opts.badHash ?? this.badHash) hash = hash.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    headers.HASH = hash;
    return new Promise((resolve) => {
      const started = Date.now();
      const req = http.request(url, { method: "POST", headers, timeout: this.deliveryTimeoutMs, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ url, status: res.statusCode, text: Buffer.concat(chunks).toString(), ms: Date.now() - started, body: raw.toString() }));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => resolve({ url, status: 0, error: err.code || err.message, ms: Date.now() - started, body: raw.toString() }));
      req.end(raw);
    });
  }
}

function gotoEventType(target, how) {
  const suffix = { open: "OPEN", day_lock: "LATCH", night_lock: "NIGHT_LOCK" }[target];
  switch (how) {
    case "twist":
      return `GO_TO_STATE_TWIST_ASSIST_${target === "night_lock" ? "LOCK" : suffix}`;
    case "touch":
      return "GO_TO_STATE_TOUCH_TO_LOCK";
    case "pin":
      return "GO_TO_STATE_MANUAL_UNLOCK_VIA_OUTSIDE_MODULE_PIN";
    case "instant":
      return `GO_TO_STATE_INSTANTOPEN_${target === "open" ? "OPEN" : "LATCH"}`;
    case "ble":
      return target === "open" ? "GO_TO_STATE_MANUAL_UNLOCK_BLE_OPEN" : `GO_TO_STATE_MANUAL_LOCK_BLE_${suffix}`;
    default:
      return target === "open" ? "GO_TO_STATE_MANUAL_UNLOCK_REMOTE_OPEN" : `GO_TO_STATE_MANUAL_LOCK_REMOTE_${suffix}`;
  }
}

/** Which trigger flag a webhook body needs (simulator choice for MOTOR_STALL: the "unknown" trigger). */
function triggerOf(body) {
  const t = body.event_type;
  if (!t) return "battery_percentage" in body ? "trigger_battery" : "trigger_online_status";
  if (t.startsWith("GO_TO_STATE_")) {
    const target = body.go_to_state === "OPEN" ? "open" : body.go_to_state === "DAY_LOCK" ? "latch" : "night_lock";
    return `trigger_state_goto_${target}`;
  }
  if (/^STATE_CHANGED_OPEN/.test(t)) return "trigger_state_changed_open";
  if (/^STATE_CHANGED_LATCH/.test(t)) return "trigger_state_changed_latch";
  if (/^STATE_CHANGED_NIGHT_LOCK/.test(t)) return "trigger_state_changed_night_lock";
  if (t === "STATE_CHANGED_UNKNOWN" || t === "MOTOR_STALL") return "trigger_state_changed_unknown";
  return null;
}

/**
 * The LOQED cloud: Integrations API `GET /api/locks/{id}/bolt_state/{state}` (Bearer token, 204; no token or a
 * wrong one is redirected to an HTML login page) and unsigned cloud webhooks in the real shape (numeric lock id,
 * string key id, key names, account e-mail, IFTTT-style value1..3), each delivered twice a few ms apart.
 */
class LoqedCloudSimulator {
  constructor(o = {}) {
    this.token = o.token ?? "cloud-token";
    this.lockId = o.lockId ?? "Yq1gK4oeE9KWe0ByxjX2";
    this.numericLockId = o.numericLockId ?? 6148;
    this.tokenKeyId = o.tokenKeyId ?? 2;
    this.bridge = o.bridge ?? null;
    this.webhookUrls = [];
    this.duplicateMs = o.duplicateMs ?? 30;
    this.calls = [];
    this.statusCalls = 0;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start(port = 0, host = "127.0.0.1") {
    await new Promise((resolve) => this.server.listen(port, host, resolve));
    this.url = `http://${host}:${this.server.address().port}`;
    return this;
  }

  async stop() {
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }

  handle(req, res) {
    req.resume();
    const url = new URL(req.url, "http://cloud");
    const call = { method: req.method, path: url.pathname, ok: false };
    this.calls.push(call);
    if (url.pathname === "/api/locks" || url.pathname === "/api/locks/") this.statusCalls++;
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      res.writeHead(302, { Location: "/login", "Content-Type": "text/html" });
      return res.end("<html><body>Redirecting to login</body></html>");
    }
    const m = /^\/api\/locks\/([^/]+)\/bolt_state\/(open|day_lock|night_lock)$/.exec(url.pathname);
    if (req.method !== "GET" || !m) {
      res.writeHead(404, { "Content-Type": "application/json" });
      return res.end('{"message":"Not found"}');
    }
    if (decodeURIComponent(m[1]) !== this.lockId) {
      res.writeHead(404, { "Content-Type": "application/json" });
      return res.end('{"message":"No query results for model [App\\\\Models\\\\Lock]."}');
    }
    call.ok = true;
    res.writeHead(204);
    res.end();
    this.act(m[2]);
  }

  /** The lock moves with the token's key: cloud webhooks (and bridge webhooks, when a bridge is linked). */
  act(target) {
    const key = this.tokenKeyId;
    const goto = gotoEventType(target, "remote");
    setTimeout(() => {
      void this.webhook({ event_type: goto, go_to_state: REQUESTED[target], ...this.keyFields(key) });
      setTimeout(() => {
        void this.webhook({ event_type: CHANGED[target], requested_state: REQUESTED[target], ...this.keyFields(key) });
      }, 80);
    }, 30);
    if (this.bridge) this.bridge.move(target, key, "remote");
  }

  /**
   * Mirrors the bridge's state webhooks as cloud webhooks `delayMs` later (LOQED's cloud reports the same
   * changes, usually a little before the bridge, sometimes after), with the key's name from `names`.
   * Returns a function that stops mirroring.
   */
  follow(bridge, { delayMs = 50, names = {} } = {}) {
    const onWebhook = (body) => {
      if (!body.event_type) return;
      const key = Number(body.key_local_id);
      const { mac_wifi: _mac, mac_ble: _ble, ...rest } = body;
      // A key without a name here is a PIN key not bound to an account: the cloud knows no name for it.
      const unnamed = { key_name_user: "", key_name_admin: null, key_account_email: null, key_account_name: null };
      let fields = { lock_id: this.numericLockId, key_local_id: "", key_name_user: null };
      if (key >= 0 && key <= 250) fields = { ...this.keyFields(key), ...(names[key] ? { key_name_user: names[key] } : unnamed) };
      setTimeout(() => void this.webhook({ ...rest, ...fields }), delayMs);
    };
    bridge.on("webhook", onWebhook);
    return () => bridge.off("webhook", onWebhook);
  }

  keyFields(key) {
    return { lock_id: this.numericLockId, key_local_id: String(key), key_name_user: "Node-RED token", key_name_admin: "Jane Doe", key_account_email: "jane@example.com", key_account_name: "Jane Doe" };
  }

  /** Posts one cloud webhook to every URL, twice (as the real cloud does); resolves with the statuses. */
  async webhook(body, { twice = true } = {}) {
    const full = body.event_type ? { ...body, value1: body.event_type, value2: body.key_name_user ?? "", value3: body.key_account_email ?? "" } : body;
    const raw = JSON.stringify(full);
    const post = (url) =>
      new Promise((resolve) => {
        const req = http.request(url, { method: "POST", headers: { "Content-Type": "application/json", Accept: "*/*", "User-Agent": "Java/1.8.0_292" } }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        });
        req.on("error", () => resolve(0));
        req.end(raw);
      });
    const first = await Promise.all(this.webhookUrls.map(post));
    if (twice) {
      await new Promise((r) => setTimeout(r, this.duplicateMs));
      await Promise.all(this.webhookUrls.map(post));
    }
    return first;
  }
}

// ---- command line: a demo bridge ------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { port: 8080, host: "127.0.0.1", interval: 0 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--port") o.port = Number(value());
    else if (arg === "--host") o.host = value();
    else if (arg === "--bridge-key") o.bridgeKey = value();
    else if (arg === "--key-id") o.keyId = Number(value());
    else if (arg === "--key-secret") o.keySecret = value();
    else if (arg === "--no-timestamp") o.omitTimestamp = true;
    else if (arg === "--demo-interval") o.interval = Number(value());
    else if (arg === "--help" || arg === "-h") o.help = true;
    else throw new Error(`unknown option ${arg}`);
  }
  return o;
}

async function main(argv) {
  const o = parseArgs(argv);
  if (o.help) {
    console.log("usage: node test/simulators/loqed-bridge.js [--port 8080] [--host 127.0.0.1] [--bridge-key B64] [--key-id 1] [--key-secret B64] [--no-timestamp] [--demo-interval SECONDS]");
    return;
  }
  const keyId = Number.isInteger(o.keyId) ? o.keyId : 1;
  const sim = new LoqedBridgeSimulator({
    bridgeKey: o.bridgeKey ?? crypto.randomBytes(16).toString("base64"),
    keys: { [keyId]: o.keySecret ?? crypto.randomBytes(32).toString("base64") },
    omitTimestamp: o.omitTimestamp,
  });
  await sim.start(o.port, o.host);
  console.log(`LOQED bridge simulator on ${sim.url}`);
  console.log("loqed-config: host %s, port %d, local key ID %d", o.host, sim.port, keyId);
  console.log("  bridge key: %s", sim.bridgeKeyB64);
  console.log("  key secret: %s", sim.keys.get(keyId).toString("base64"));
  sim.on("command", (c) => console.log(`command ${c.valid ? "accepted" : `refused (${c.reason})`}${c.decoded ? `: action ${c.decoded.action}, key ${c.decoded.keyId}` : ""}`));
  sim.on("webhooks", (list) => console.log(`webhooks: ${list.map((w) => `#${w.id} ${w.url.replace(/(\/smartlocks\/loqed\/)[^/]+/, "$1***")}`).join(", ") || "none"}`));
  sim.on("rejected", (r) => console.log(`management request refused: ${r.reason}`));
  if (o.interval > 0) {
    const steps = [() => sim.twistAssist("day_lock"), () => sim.touchToLock(), () => sim.keypadOpen(), () => sim.setBattery(Math.max(5, sim.battery - 7))];
    let i = 0;
    setInterval(() => steps[i++ % steps.length](), o.interval * 1000);
  }
  const stop = () => sim.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}

module.exports = { LoqedBridgeSimulator, LoqedCloudSimulator, TRIGGERS };
