"use strict";

// A UniFi Access controller simulator (developer API on port 12445, research/unifi-access.md §1-§4, §7). Tests run
// the real plugin against it and it doubles as a demo controller (`node test/simulators/unifi-access.js`). It
// enforces what a real controller enforces: HTTPS with a self-generated certificate (made at start), Bearer tokens
// with permission keys (401/403 with CODE_* bodies), `{code:"SUCCESS"}` envelopes, actor_id/actor_name both-or-
// neither, case-sensitive webhook event names, duplicate endpoint refusal, signed webhook deliveries
// (`Signature: t=..,v1=..` HMAC-SHA256 over "t." + body with the endpoint secret) and a WebSocket that sends "Hello"
// heartbeats. Fault injection: drop all sockets, refuse connections for N seconds, silent state changes (no push).
// Where real behaviour is undocumented, the choice is marked "simulator choice".

const { EventEmitter } = require("node:events");
const crypto = require("node:crypto");
const http = require("node:http");
const https = require("node:https");
const selfsigned = require("selfsigned");
const { WebSocketServer } = require("ws");

const API = "/api/v1/developer";
const WS_PATH = `${API}/devices/notifications`;
const ALL_SCOPES = ["view:space", "edit:space", "view:device", "edit:device", "view:webhook", "edit:webhook"];
const WEBHOOK_EVENTS = [
  "access.doorbell.incoming",
  "access.doorbell.completed",
  "access.doorbell.incoming.REN",
  "access.device.dps_status",
  "access.door.unlock",
  "access.device.emergency_status",
  "access.unlock_schedule.activate",
  "access.unlock_schedule.deactivate",
  "access.temporary_unlock.start",
  "access.temporary_unlock.end",
  "access.visitor.status.changed",
];
const LOCK_RULES = ["keep_lock", "keep_unlock", "custom", "reset", "lock_early", "lock_now"];
const KEEP_UNTIL = 3602128309; // what the controller reports as ended_time of keep_* rules (§2.3)

function defaultDoors() {
  return [
    {
      id: "5785e97b-6123-4596-ba49-b6e51164db9b",
      name: "Front Door",
      floor: "1F",
      lock: "lock",
      dps: "close",
      hub: { id: "7483c2773855", name: "UA-HUB-3855", type: "UAH" },
      reader: { id: "0418d6a2bb7a", name: "UA G2 Pro bb7a", type: "UA-G2-PRO" },
      lockRules: true,
    },
    {
      id: "0ed545f8-2fcd-4839-9021-b39e707f6aa9",
      name: "Garage",
      floor: "1F",
      lock: "lock",
      dps: "close",
      hub: { id: "942a6f5ec94d", name: "UA Hub Door Mini c94d", type: "UA-Hub-Door-Mini" },
      reader: { id: "e4388386be1d", name: "UA-G2-PRO-BE1D", type: "UA-G2-PRO" },
      lockRules: false,
    },
  ];
}

const DPS_CONFIG_KEY = { UAH: "input_state_dps", "UA-Hub-Door-Mini": "input_d1_dps", UGT: "input_gate_dps" };

class UnifiAccessSimulator extends EventEmitter {
  constructor(options = {}) {
    super();
    this.host = options.host ?? "127.0.0.1";
    this.requestedPort = options.port ?? 0;
    this.token = options.token ?? "sim-" + crypto.randomBytes(16).toString("base64url");
    this.scopes = new Set(options.scopes ?? ALL_SCOPES);
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.relockMs = options.relockMs ?? 3000;
    this.tokenName = options.tokenName ?? "simulator token";
    /** Seconds added to the webhook timestamp (clock skew / stale deliveries). */
    this.clockOffsetS = 0;
    this.doors = (options.doors ?? defaultDoors()).map((d) => ({ ...d, rule: null }));
    this.emergency = { lockdown: false, evacuation: false };
    this.webhooks = [];
    this.deliveries = [];
    this.sent = [];
    this.refuseUntil = 0;
    this.stats = { requests: 0, byRoute: {}, unauthorized: 0, forbidden: 0, wsConnections: 0, wsRejected: 0, refused: 0, authorizationSeen: 0 };
    this.timers = new Set();
    this.sockets = new Set();
    this.clients = new Set();
  }

  get url() {
    return `https://${this.host}:${this.port}`;
  }

  async start() {
    await this.generateCertificate();
    this.server = https.createServer({ key: this.key, cert: this.cert }, (req, res) => this.onRequest(req, res));
    // Fault injection works below TLS: a refused controller resets the TCP connection before any handshake.
    this.server.on("connection", (socket) => {
      if (Date.now() < this.refuseUntil) {
        this.stats.refused++;
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    this.server.on("tlsClientError", () => undefined);
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on("upgrade", (req, socket, head) => this.onUpgrade(req, socket, head));
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.requestedPort, this.host, resolve);
    });
    this.port = this.server.address().port;
    this.heartbeat = setInterval(() => this.broadcastRaw('"Hello"'), this.heartbeatMs);
    return { url: this.url, fingerprint: this.fingerprint };
  }

  async stop() {
    clearInterval(this.heartbeat);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const ws of this.clients) ws.terminate();
    if (!this.server) return;
    this.server.closeAllConnections?.();
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(() => resolve()));
    this.server = null;
  }

  /** A new self-signed certificate (EC P-256: fast), as a controller makes one per install. */
  async generateCertificate() {
    const pems = await selfsigned.generate([{ name: "commonName", value: "UniFi Access simulator" }], {
      keyType: "ec",
      algorithm: "sha256",
      notAfterDate: new Date(Date.now() + 30 * 365 * 86400_000),
    });
    this.key = pems.private;
    this.cert = pems.cert;
    this.fingerprint = new crypto.X509Certificate(pems.cert).fingerprint256.replace(/:/g, "");
    if (this.server) this.server.setSecureContext({ key: this.key, cert: this.cert });
    return this.fingerprint;
  }

  // ---- fault injection -----------------------------------------------------------------------------------

  /** Terminates every WebSocket and HTTP connection (controller restart without goodbye). */
  dropAllSockets() {
    for (const ws of this.clients) ws.terminate();
    for (const socket of this.sockets) socket.destroy();
  }

  /** Refuses every new connection for `seconds`, and drops the current ones. */
  refuseConnections(seconds) {
    this.refuseUntil = Date.now() + seconds * 1000;
    this.dropAllSockets();
  }

  /** Changes a door without any notification (what happens during a gap in the WebSocket). */
  silentChange(doorId, change) {
    const door = this.door(doorId);
    if (change.lock) door.lock = change.lock;
    if (change.dps) door.dps = change.dps;
  }

  // ---- what happens at doors -------------------------------------------------------------------------

  door(id) {
    const door = this.doors.find((d) => d.id === id);
    if (!door) throw new Error(`simulator has no door ${id}`);
    return door;
  }

  setDoorPosition(doorId, dps) {
    const door = this.door(doorId);
    door.dps = dps;
    this.pushLocation(door);
    this.pushDeviceConfigs(door);
    this.deliver("access.device.dps_status", {
      location: this.webhookLocation(door),
      device: this.webhookDevice(door.hub, door),
      actor: null,
      object: { event_type: "dps_change", status: dps },
    });
  }

  /** Someone presents a credential at the reader (method: NFC, PIN_CODE, FACE, MOBILE_TAP, ...). */
  credential(doorId, { method = "NFC", user = { id: "c3d83c56-c41b-429c-babd-adf039fa0e67", name: "Alice" }, granted = true } = {}) {
    const door = this.door(doorId);
    const published = Date.now();
    const logId = crypto.randomUUID();
    this.broadcast("access.logs.add", {
      _id: logId,
      "@timestamp": new Date(published).toISOString(),
      _source: {
        actor: { id: user.id, type: "user", display_name: user.name },
        event: { type: "access.door.unlock", display_message: `${granted ? "Access Granted" : "Access Denied"} (${method})`, result: granted ? "ACCESS" : "BLOCKED", published, log_key: "" },
        authentication: { credential_provider: method },
        target: [
          { type: door.hub.type, id: door.hub.id, display_name: door.hub.name },
          { type: "device_config", id: "door_entry_method", display_name: "entry" },
          { type: "door", id: door.id, display_name: door.name },
        ],
      },
      tag: "access",
    });
    this.broadcast("access.logs.insights.add", {
      id: crypto.randomUUID(),
      log_key: granted ? "dashboard.access.door.unlock.success" : "dashboard.access.door.unlock.failed",
      event_type: "access.door.unlock",
      message: `${granted ? "Access Granted" : "Access Denied"} (${method})`,
      published: published + 40,
      result: granted ? "ACCESS" : "BLOCKED",
      metadata: {
        actor: { id: user.id, type: "user", display_name: user.name },
        authentication: { id: "", type: "authentication", display_name: method },
        door: [{ id: door.id, type: "door", display_name: door.name }],
        device: [{ id: door.reader.id, type: door.reader.type, display_name: door.reader.name }],
        opened_direction: [{ id: "", type: "opened_direction", display_name: "entry" }],
      },
    });
    if (granted) this.momentaryUnlock(door);
    this.deliver("access.door.unlock", {
      location: this.webhookLocation(door),
      device: this.webhookDevice(door.hub, door),
      actor: { id: user.id, name: user.name, type: "user" },
      object: { authentication_type: method, authentication_value: "", policy_id: "", policy_name: "", reader_id: door.reader.id, result: granted ? "Access Granted" : "Access Denied" },
    });
  }

  /** A doorbell call from the reader (Intercom / Reader Pro). Returns the call's request id. */
  ring(doorId) {
    const door = this.door(doorId);
    const requestId = crypto.randomBytes(24).toString("base64url").slice(0, 32);
    door.call = requestId;
    this.broadcast("access.remote_view", {
      channel: crypto.randomUUID(),
      token: crypto.randomUUID(),
      device_id: door.reader.id,
      device_type: door.reader.type,
      device_name: door.reader.name,
      door_name: door.name,
      controller_id: "68d79a1f494f",
      floor_name: door.floor,
      request_id: requestId,
      clear_request_id: "",
      in_or_out: "in",
      create_time: Math.floor(Date.now() / 1000),
      reason_code: 0,
      door_guard_ids: [],
      connected_uah_id: door.hub.id,
      room_id: `WR-${door.reader.id}-x`,
      host_device_mac: "68D79A1F494B",
    });
    this.deliver("access.doorbell.incoming", {
      location: this.webhookLocation(door),
      device: this.webhookDevice(door.reader, door),
      actor: null,
      object: { request_id: requestId },
    });
    return requestId;
  }

  /** The call ends: 105 timed out, 106 declined, 107 admin unlocked, 108 visitor cancelled, 400 answered elsewhere. */
  endCall(doorId, reasonCode = 108) {
    const door = this.door(doorId);
    const requestId = door.call;
    door.call = null;
    this.broadcast("access.remote_view.change", { reason_code: reasonCode, remote_call_request_id: requestId });
    this.deliver("access.doorbell.completed", {
      location: this.webhookLocation(door),
      device: this.webhookDevice(door.reader, door),
      actor: null,
      object: { host_device_mac: "", reason_code: reasonCode, request_id: requestId },
    });
  }

  /** The hub's wired doorbell input (WebSocket only; no end event). */
  hardwareDoorbell(doorId) {
    const door = this.door(doorId);
    this.broadcast("access.hw.door_bell", { door_id: door.id, door_name: door.name, request_id: crypto.randomUUID(), device_id: door.hub.id });
  }

  /** A Request-to-Enter button (webhook only). */
  requestToEnter(doorId) {
    const door = this.door(doorId);
    this.deliver("access.doorbell.incoming.REN", {
      location: this.webhookLocation(door),
      device: null,
      actor: null,
      object: { host_device_mac: "74ACB95E28D5", reason_code: 0, request_id: crypto.randomUUID() },
    });
  }

  unlockSchedule(doorId, active) {
    const door = this.door(doorId);
    door.lock = active ? "unlock" : "lock";
    this.pushLocation(door);
    this.deliver(active ? "access.unlock_schedule.activate" : "access.unlock_schedule.deactivate", {
      location: this.webhookLocation(door),
      device: this.webhookDevice(door.hub, door),
      actor: null,
      object: { schedule_name: "Office hours" },
    });
  }

  visitorStatus(status = 3) {
    this.deliver("access.visitor.status.changed", { actor: { id: crypto.randomUUID(), name: "Visitor Bob", type: "visitor" }, object: { status } });
  }

  /** Any notification, e.g. an event name this plugin does not know. */
  broadcast(event, data, extra = {}) {
    const message = { event, receiver_id: "", event_object_id: extra.event_object_id ?? crypto.randomUUID(), save_to_history: false, data, ...extra };
    this.sent.push(message);
    this.broadcastRaw(JSON.stringify(message));
  }

  broadcastRaw(text) {
    for (const ws of this.clients) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  // ---- state pushes -------------------------------------------------------------------------------

  pushLocation(door) {
    this.broadcast(
      "access.data.v2.location.update",
      {
        id: door.id,
        location_type: "door",
        name: door.name,
        up_id: "7dd4125f-4f38-4645-9739-7f279c1cdaf7",
        extras: null,
        device_ids: [door.hub.id, door.reader.id],
        state: {
          lock: door.lock === "unlock" ? "unlocked" : "locked",
          dps: door.dps,
          dps_connected: true,
          emergency: { software: this.emergency.lockdown ? "lockdown" : this.emergency.evacuation ? "evacuation" : "none", hardware: "none" },
          is_unavailable: false,
        },
        last_activity: Math.floor(Date.now() / 1000),
      },
      { meta: { object_type: "location", target_field: null, all_field: true, id: door.id, source: "" } },
    );
  }

  pushDeviceConfigs(door) {
    const key = DPS_CONFIG_KEY[door.hub.type] ?? "input_state_dps";
    this.broadcast(
      "access.data.device.update",
      {
        unique_id: door.hub.id,
        name: door.hub.name,
        device_type: door.hub.type,
        connected_uah_id: door.hub.id,
        location_id: door.id,
        is_online: true,
        location: { unique_id: door.id, name: door.name, location_type: "door" },
        // DPS "on" = contact = closed (research §3.6).
        configs: [{ device_id: door.hub.id, key, value: door.dps === "close" ? "on" : "off", tag: "open_door_input", update_time: Date.now(), create_time: Date.now() }],
      },
      { event_object_id: door.hub.id },
    );
  }

  momentaryUnlock(door) {
    door.lock = "unlock";
    this.pushLocation(door);
    clearTimeout(door.relockTimer);
    this.timers.delete(door.relockTimer);
    door.relockTimer = setTimeout(() => {
      this.timers.delete(door.relockTimer);
      // A keep_unlock / custom rule or an unlock schedule keeps it open.
      if (door.rule && (door.rule.type === "keep_unlock" || door.rule.type === "custom")) return;
      if (this.emergency.evacuation) return;
      door.lock = "lock";
      this.pushLocation(door);
    }, this.relockMs);
    this.timers.add(door.relockTimer);
  }

  webhookLocation(door) {
    return {
      id: door.id,
      location_type: "door",
      name: door.name,
      up_id: "62ff3aa1-ae96-4b6b-8eb5-44aadfd4aabd",
      extras: { "uah-input_state_dps": door.dps === "close" ? "on" : "off", "uah-wiring_state_dps-neg": "on", "uah-wiring_state_dps-pos": "on" },
      device_ids: null,
    };
  }

  webhookDevice(device, door) {
    return { name: device.name, alias: door.name, id: device.id, ip: "192.168.1.132", mac: "", online: true, device_type: device.type, connected_hub_id: device === door.hub ? "" : door.hub.id, location_id: door.id, firmware: "v4.6.1.0", version: "v4.6.129", guid: crypto.randomUUID(), start_time: 1721988528, hw_type: "", revision: "1", cap: null };
  }

  // ---- webhook delivery ---------------------------------------------------------------------------

  signature(secret, t, body) {
    return crypto.createHmac("sha256", Buffer.from(secret, "utf8")).update(`${t}.`).update(body).digest("hex");
  }

  deliver(event, data) {
    const body = JSON.stringify({ event, event_object_id: crypto.randomUUID(), data });
    for (const endpoint of this.webhooks) {
      if (!endpoint.events.includes(event)) continue;
      const t = Math.floor(Date.now() / 1000) + this.clockOffsetS;
      const headers = { "content-type": "application/json", signature: `t=${t},v1=${this.signature(endpoint.secret, t, body)}`, ...endpoint.headers };
      const entry = { endpoint: endpoint.endpoint, event, status: null, error: null, body };
      this.deliveries.push(entry);
      const url = new URL(endpoint.endpoint);
      const lib = url.protocol === "https:" ? https : http;
      // The controller waits 5 s for an answer (§4.3).
      const req = lib.request(url, { method: "POST", headers: { ...headers, "content-length": Buffer.byteLength(body) }, timeout: 5000, rejectUnauthorized: false }, (res) => {
        res.resume();
        entry.status = res.statusCode;
        this.emit("delivery", entry);
      });
      req.on("timeout", () => req.destroy(new Error("timeout after 5 s")));
      req.on("error", (err) => {
        entry.error = err.message;
        this.emit("delivery", entry);
      });
      req.end(body);
    }
  }

  // ---- HTTP ------------------------------------------------------------------------------------------

  checkAuth(req) {
    const header = req.headers.authorization;
    if (header) this.stats.authorizationSeen++;
    return header === `Bearer ${this.token}`;
  }

  onUpgrade(req, socket, head) {
    const path = (req.url ?? "").split("?")[0];
    if (path !== WS_PATH) {
      socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    if (!this.checkAuth(req)) {
      this.stats.wsRejected++;
      socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    if (!this.scopes.has("view:device")) {
      this.stats.wsRejected++;
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.stats.wsConnections++;
      this.clients.add(ws);
      ws.on("close", () => this.clients.delete(ws));
      ws.on("error", () => undefined);
      this.emit("ws-connection", ws);
    });
  }

  onRequest(req, res) {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let status = 200;
      let answer;
      try {
        [status, answer] = this.route(req, Buffer.concat(chunks).toString("utf8"));
      } catch (err) {
        [status, answer] = [500, { code: "CODE_SYSTEM_ERROR", msg: String(err && err.message) }];
      }
      const text = JSON.stringify(answer);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    });
  }

  route(req, text) {
    const url = new URL(req.url ?? "/", "https://sim");
    const method = req.method ?? "GET";
    if (url.pathname.startsWith("/_sim/")) return this.control(req, method, url);
    if (!url.pathname.startsWith(API + "/")) return [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "The requested resource was not found." }];
    const path = url.pathname.slice(API.length);
    const key = `${method} ${path.replace(/\/[0-9a-f-]{36}(?=\/|$)/g, "/:id").replace(/\/webhooks\/endpoints\/[^/]+/, "/webhooks/endpoints/:id")}`;
    this.stats.requests++;
    this.stats.byRoute[key] = (this.stats.byRoute[key] ?? 0) + 1;
    if (!this.checkAuth(req)) {
      this.stats.unauthorized++;
      return [401, { code: "CODE_ACCESS_TOKEN_INVALID", msg: "The provided access token is invalid." }];
    }
    let body = {};
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return [400, { code: "CODE_PARAMS_INVALID", msg: "The provided parameters are invalid." }];
      }
    }
    const need = (scope) => {
      if (this.scopes.has(scope)) return null;
      this.stats.forbidden++;
      return [403, { code: "CODE_UNAUTHORIZED", msg: "You are not allowed to perform this action." }];
    };
    const ok = (data) => [200, { code: "SUCCESS", data, msg: "success" }];
    const invalid = () => [400, { code: "CODE_PARAMS_INVALID", msg: "The provided parameters are invalid." }];
    let m;

    if (method === "GET" && path === "/doors") return need("view:space") ?? ok(this.doors.map((d) => this.doorJson(d)));
    if (method === "GET" && path === "/doors/settings/emergency") return need("view:space") ?? ok({ ...this.emergency });
    if (method === "PUT" && path === "/doors/settings/emergency") {
      const denied = need("edit:space");
      if (denied) return denied;
      if (typeof body.lockdown !== "boolean" || typeof body.evacuation !== "boolean") return invalid();
      this.setEmergencyState(body);
      return ok("success");
    }
    if ((m = /^\/doors\/([^/]+)$/.exec(path)) && method === "GET") {
      const door = this.doors.find((d) => d.id === m[1]);
      return need("view:space") ?? (door ? ok(this.doorJson(door)) : [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "The requested resource was not found." }]);
    }
    if ((m = /^\/doors\/([^/]+)\/unlock$/.exec(path)) && method === "PUT") {
      const denied = need("edit:space");
      if (denied) return denied;
      const door = this.doors.find((d) => d.id === m[1]);
      if (!door) return [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "The requested resource was not found." }];
      if (typeof body !== "object" || body === null || Boolean(body.actor_id) !== Boolean(body.actor_name)) return invalid();
      if (this.emergency.lockdown) return [400, { code: "CODE_OPERATION_FORBIDDEN", msg: "The requested operation is not allowed." }];
      this.momentaryUnlock(door);
      this.broadcast("access.data.device.remote_unlock", { unique_id: door.id, name: door.name, up_id: "913a35bc", timezone: "", location_type: "door", extra_type: "", full_name: `UDR - ${door.floor} - ${door.name}`, level: 0, work_time: "[]", work_time_id: "", extras: this.webhookLocation(door).extras }, { event_object_id: door.hub.id });
      // API unlocks carry the custom actor, else the token's name, with actor type "open-api" (research §2.2).
      this.deliver("access.door.unlock", {
        location: this.webhookLocation(door),
        device: this.webhookDevice(door.hub, door),
        actor: { id: body.actor_id ?? "", name: body.actor_name ?? this.tokenName, type: "open-api" },
        object: { authentication_type: "API", authentication_value: "", policy_id: "", policy_name: "", reader_id: "", result: "Access Granted" },
      });
      return ok("success");
    }
    if ((m = /^\/doors\/([^/]+)\/lock_rule$/.exec(path))) {
      const door = this.doors.find((d) => d.id === m[1]);
      if (!door) return need("view:space") ?? [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "The requested resource was not found." }];
      // Simulator choice: hubs without lock rules answer 404 (Home Assistant reads 404 as "unsupported").
      if (!door.lockRules) return [404, { code: "CODE_DEVICE_API_NOT_SUPPORTED", msg: "The API is currently not available for this device." }];
      if (method === "GET") return need("view:space") ?? ok(door.rule ? { ...door.rule } : { type: "", ended_time: 0 });
      if (method === "PUT") {
        const denied = need("edit:space");
        if (denied) return denied;
        if (!LOCK_RULES.includes(body.type)) return invalid();
        if (body.type === "custom" && !(Number.isInteger(body.interval) && body.interval > 0)) return invalid();
        this.applyLockRule(door, body.type, body.interval);
        return ok("success");
      }
    }
    if (method === "GET" && path === "/devices") {
      const denied = need("view:device");
      if (denied) return denied;
      // Grouped per door: an array of arrays (research §2.5).
      return ok(this.doors.map((d) => [this.deviceJson(d.hub, d, true), this.deviceJson(d.reader, d, false)]));
    }
    if (path === "/webhooks/endpoints" && method === "GET") return need("view:webhook") ?? ok(this.webhooks.map((w) => ({ ...w })));
    if (path === "/webhooks/endpoints" && method === "POST") {
      const denied = need("edit:webhook");
      if (denied) return denied;
      if (!validEndpoint(body)) return invalid();
      if (this.webhooks.some((w) => w.endpoint === body.endpoint)) return [400, { code: "CODE_DEVICE_WEBHOOK_ENDPOINT_DUPLICATED", msg: "The provided endpoint already exists." }];
      const endpoint = { id: crypto.randomUUID(), endpoint: body.endpoint, name: body.name, secret: crypto.randomBytes(8).toString("hex"), events: [...body.events], headers: body.headers ?? {} };
      this.webhooks.push(endpoint);
      return ok({ ...endpoint });
    }
    if ((m = /^\/webhooks\/endpoints\/([^/]+)$/.exec(path))) {
      const index = this.webhooks.findIndex((w) => w.id === decodeURIComponent(m[1]));
      if (method === "PUT") {
        const denied = need("edit:webhook");
        if (denied) return denied;
        if (index < 0) return [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "The requested resource was not found." }];
        if (!validEndpoint(body)) return invalid();
        Object.assign(this.webhooks[index], { endpoint: body.endpoint, name: body.name, events: [...body.events], headers: body.headers ?? this.webhooks[index].headers });
        return ok({ ...this.webhooks[index] });
      }
      if (method === "DELETE") {
        const denied = need("edit:webhook");
        if (denied) return denied;
        if (index < 0) return [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "The requested resource was not found." }];
        this.webhooks.splice(index, 1);
        return ok(null);
      }
    }
    return [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "The requested resource was not found." }];
  }

  applyLockRule(door, type, interval) {
    const now = Math.floor(Date.now() / 1000);
    const before = door.rule;
    if (type === "keep_lock") door.rule = { type, ended_time: KEEP_UNTIL };
    else if (type === "keep_unlock") door.rule = { type, ended_time: KEEP_UNTIL };
    else if (type === "custom") door.rule = { type, ended_time: now + interval * 60 };
    else if (type === "reset" || type === "lock_now" || type === "lock_early") door.rule = null;
    // lock_now ends temporary unlocks but not keep_unlock (the plugin resets that one).
    if (type === "lock_now" && before && before.type === "keep_unlock") door.rule = before;
    door.lock = door.rule && (door.rule.type === "keep_unlock" || door.rule.type === "custom") ? "unlock" : "lock";
    this.pushLocation(door);
    if (type === "custom") this.deliver("access.temporary_unlock.start", { location: this.webhookLocation(door), device: this.webhookDevice(door.hub, door), actor: { id: "", name: this.tokenName, type: "open-api" }, object: { interval } });
    if (before && before.type === "custom" && door.rule?.type !== "custom") this.deliver("access.temporary_unlock.end", { location: this.webhookLocation(door), device: this.webhookDevice(door.hub, door), actor: null, object: {} });
  }

  setEmergencyState(value) {
    const before = { ...this.emergency };
    this.emergency = { lockdown: value.lockdown, evacuation: value.evacuation };
    this.broadcast("access.data.setting.update", { ...this.emergency });
    for (const mode of ["lockdown", "evacuation"]) {
      if (before[mode] === this.emergency[mode]) continue;
      const door = this.doors[0];
      this.deliver("access.device.emergency_status", { device: this.webhookDevice(door.hub, door), object: { glocal: false, mode, value: this.emergency[mode] } });
    }
  }

  doorJson(door) {
    return {
      id: door.id,
      name: door.name,
      full_name: `UDR - ${door.floor} - ${door.name}`,
      floor_id: "7c62b4b3-692f-44ea-8eb8-e212833b4e0f",
      type: "door",
      is_bind_hub: true,
      door_lock_relay_status: door.lock,
      door_position_status: door.dps,
    };
  }

  deviceJson(device, door, isHub) {
    return {
      id: device.id,
      name: device.name,
      alias: door.name,
      type: device.type,
      location_id: door.id,
      connected_uah_id: isHub ? "" : door.hub.id,
      is_adopted: true,
      is_connected: true,
      is_managed: true,
      is_online: true,
      capabilities: isHub ? ["is_hub", "emergency_settings"] : ["is_reader", "nfc", "pin_code", "face", "door_bell"],
    };
  }

  // ---- control API for the command line demo (loopback only) -------------------------------------------

  control(req, method, url) {
    const remote = req.socket.remoteAddress ?? "";
    if (!/^(::ffff:)?127\.|^::1$/.test(remote) || method !== "POST") return [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "not found" }];
    const m = /^\/_sim\/doors\/([^/]+)\/([a-z-]+)$/.exec(url.pathname);
    const seconds = Number(url.searchParams.get("seconds") ?? 10);
    if (url.pathname === "/_sim/drop") this.dropAllSockets();
    else if (url.pathname === "/_sim/refuse") this.refuseConnections(seconds);
    else if (m) {
      const [, id, what] = m;
      const acts = {
        open: () => this.setDoorPosition(id, "open"),
        close: () => this.setDoorPosition(id, "close"),
        ring: () => this.ring(id),
        "end-call": () => this.endCall(id, Number(url.searchParams.get("reason") ?? 108)),
        doorbell: () => this.hardwareDoorbell(id),
        ren: () => this.requestToEnter(id),
        nfc: () => this.credential(id, { method: "NFC" }),
        denied: () => this.credential(id, { method: "PIN_CODE", granted: false }),
      };
      if (!acts[what]) return [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "unknown control" }];
      acts[what]();
    } else return [404, { code: "CODE_RESOURCE_NOT_FOUND", msg: "unknown control" }];
    return [200, { code: "SUCCESS", data: "success", msg: "success" }];
  }
}

function validEndpoint(body) {
  if (!body || typeof body.endpoint !== "string" || typeof body.name !== "string" || !Array.isArray(body.events)) return false;
  try {
    const url = new URL(body.endpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  } catch {
    return false;
  }
  // Event names are case-sensitive (note the upper-case REN).
  return body.events.length > 0 && body.events.every((e) => WEBHOOK_EVENTS.includes(e));
}

const USAGE = "usage: node test/simulators/unifi-access.js [--host 127.0.0.1] [--port 12445] [--token TOKEN]";

async function main(argv) {
  const options = { port: 12445 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[++i];
    if (value === undefined) {
      console.error(`${arg} needs a value\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
    if (arg === "--host") options.host = value;
    else if (arg === "--port") options.port = Number(value);
    else if (arg === "--token") options.token = value;
    else {
      console.error(`unknown argument ${arg}\n${USAGE}`);
      process.exitCode = 2;
      return;
    }
  }
  const sim = new UnifiAccessSimulator(options);
  const { url, fingerprint } = await sim.start();
  console.log(`UniFi Access simulator listening on ${url}`);
  console.log(`token: ${sim.token}`);
  console.log(`certificate SHA-256: ${fingerprint}`);
  for (const door of sim.doors) console.log(`  door ${door.id} "${door.name}" (hub ${door.hub.id}, reader ${door.reader.id})`);
  console.log(`control (loopback): POST ${url}/_sim/doors/<id>/{open,close,ring,end-call,doorbell,ren,nfc,denied}, /_sim/drop, /_sim/refuse?seconds=N`);
  sim.on("delivery", (d) => console.log(`webhook ${d.event} -> ${d.status ?? d.error}`));
  const shutdown = () => sim.stop().then(() => process.exit(0));
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

module.exports = { UnifiAccessSimulator, defaultDoors, WEBHOOK_EVENTS, API, WS_PATH };
