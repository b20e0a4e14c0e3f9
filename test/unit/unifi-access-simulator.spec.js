"use strict";
// The UniFi Access controller simulator itself: the tests of the plugin are only as good as the limits it
// enforces. REST envelopes, tokens and permission keys, webhook endpoint rules, "Hello" heartbeats, signed
// webhook deliveries (checked with an HMAC computed here, not with the simulator's own helper) and fault injection.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const http = require("node:http");
const https = require("node:https");
const WebSocket = require("ws");
const { UnifiAccessSimulator, WEBHOOK_EVENTS, API, WS_PATH } = require("../simulators/unifi-access");

const FRONT = "5785e97b-6123-4596-ba49-b6e51164db9b";
const GARAGE = "0ed545f8-2fcd-4839-9021-b39e707f6aa9";

function waitUntil(check, timeoutMs = 5000, what = "condition") {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      const value = check();
      if (value) return resolve(value);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe("UniFi Access simulator", function () {
  this.timeout(15000);
  let sim;
  const sockets = [];

  beforeEach(async () => {
    sim = new UnifiAccessSimulator({ token: "sim-token", heartbeatMs: 100, relockMs: 200 });
    await sim.start();
  });
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await sim.stop();
  });

  // Trusts exactly the simulator's certificate (its name never matches 127.0.0.1, like a real controller's).
  const tlsOptions = () => ({ ca: sim.cert, checkServerIdentity: () => undefined });

  function call(method, path, { body, token = "sim-token" } = {}) {
    return new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
      const req = https.request(
        `${sim.url}${path.startsWith("/_sim") ? "" : API}${path}`,
        { method, ...tlsOptions(), headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(text ? { "content-type": "application/json" } : {}) } },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) }));
        },
      );
      req.on("error", reject);
      req.end(text);
    });
  }

  function openWs(token = "sim-token") {
    const ws = new WebSocket(`wss://127.0.0.1:${sim.port}${WS_PATH}`, { headers: { authorization: `Bearer ${token}` }, ...tlsOptions() });
    sockets.push(ws);
    const frames = [];
    ws.on("message", (data) => frames.push(data.toString("utf8")));
    ws.on("error", () => undefined);
    return { ws, frames };
  }

  describe("REST", () => {
    it("presents the certificate whose fingerprint it reports", async () => {
      const fingerprint = await new Promise((resolve, reject) => {
        const socket = require("node:tls").connect({ host: "127.0.0.1", port: sim.port, rejectUnauthorized: false }, () => {
          resolve(crypto.createHash("sha256").update(socket.getPeerCertificate().raw).digest("hex").toUpperCase());
          socket.destroy();
        });
        socket.on("error", reject);
      });
      assert.equal(fingerprint, sim.fingerprint);
    });

    it("answers in {code, data, msg} envelopes, doors and devices grouped per door", async () => {
      const doors = await call("GET", "/doors");
      assert.equal(doors.status, 200);
      assert.equal(doors.body.code, "SUCCESS");
      assert.deepEqual(doors.body.data.map((d) => [d.id, d.name, d.door_lock_relay_status, d.door_position_status]), [
        [FRONT, "Front Door", "lock", "close"],
        [GARAGE, "Garage", "lock", "close"],
      ]);
      const devices = await call("GET", "/devices");
      assert.ok(Array.isArray(devices.body.data[0]), "an array of arrays");
      assert.deepEqual(devices.body.data[0].map((d) => [d.id, d.location_id]), [["7483c2773855", FRONT], ["0418d6a2bb7a", FRONT]]);
      assert.deepEqual((await call("GET", "/doors/settings/emergency")).body.data, { lockdown: false, evacuation: false });
      assert.equal((await call("GET", `/doors/${FRONT}`)).body.data.name, "Front Door");
      assert.equal((await call("GET", "/doors/00000000-0000-0000-0000-000000000000")).body.code, "CODE_RESOURCE_NOT_FOUND");
      assert.deepEqual(sim.stats.byRoute["GET /doors/:id"], 2);
    });

    it("refuses a wrong or missing token with 401 and a missing permission key with 403", async () => {
      const wrong = await call("GET", "/doors", { token: "protect-key" });
      assert.deepEqual([wrong.status, wrong.body.code], [401, "CODE_ACCESS_TOKEN_INVALID"]);
      assert.equal((await call("GET", "/doors", { token: null })).status, 401);
      sim.scopes.delete("edit:space");
      const forbidden = await call("PUT", `/doors/${FRONT}/unlock`, { body: {} });
      assert.deepEqual([forbidden.status, forbidden.body.code], [403, "CODE_UNAUTHORIZED"]);
      assert.equal(sim.door(FRONT).lock, "lock", "nothing happened");
      assert.deepEqual([sim.stats.unauthorized, sim.stats.forbidden], [2, 1]);
    });

    it("unlocks with actor_id and actor_name both or neither, and refuses during a lockdown", async () => {
      assert.equal((await call("PUT", `/doors/${FRONT}/unlock`, { body: { actor_id: "x" } })).body.code, "CODE_PARAMS_INVALID");
      assert.equal((await call("PUT", `/doors/${FRONT}/unlock`, { body: "{broken" })).status, 400);
      const ok = await call("PUT", `/doors/${FRONT}/unlock`, { body: { actor_id: "x", actor_name: "Bot" } });
      assert.deepEqual([ok.status, ok.body.code], [200, "SUCCESS"]);
      assert.equal(sim.door(FRONT).lock, "unlock");
      await waitUntil(() => sim.door(FRONT).lock === "lock", 3000, "relock after relockMs");
      assert.equal((await call("PUT", "/doors/settings/emergency", { body: { lockdown: true, evacuation: false } })).body.code, "SUCCESS");
      const refused = await call("PUT", `/doors/${FRONT}/unlock`, { body: {} });
      assert.deepEqual([refused.status, refused.body.code], [400, "CODE_OPERATION_FORBIDDEN"]);
      assert.equal((await call("PUT", "/doors/settings/emergency", { body: { lockdown: "yes" } })).body.code, "CODE_PARAMS_INVALID");
    });

    it("lock rules: validated types, custom needs an interval, hubs without rules answer 404", async () => {
      assert.equal((await call("PUT", `/doors/${FRONT}/lock_rule`, { body: { type: "keep_unlock" } })).body.code, "SUCCESS");
      assert.deepEqual((await call("GET", `/doors/${FRONT}/lock_rule`)).body.data.type, "keep_unlock");
      assert.equal(sim.door(FRONT).lock, "unlock");
      assert.equal((await call("PUT", `/doors/${FRONT}/lock_rule`, { body: { type: "custom" } })).body.code, "CODE_PARAMS_INVALID");
      assert.equal((await call("PUT", `/doors/${FRONT}/lock_rule`, { body: { type: "open_sesame" } })).body.code, "CODE_PARAMS_INVALID");
      const mini = await call("GET", `/doors/${GARAGE}/lock_rule`);
      assert.deepEqual([mini.status, mini.body.code], [404, "CODE_DEVICE_API_NOT_SUPPORTED"]);
    });

    it("webhook endpoints: case-sensitive event names, duplicates refused, a secret per endpoint, update and delete", async () => {
      const endpoint = { name: "t", endpoint: "http://127.0.0.1:9/hook", events: ["access.door.unlock"] };
      assert.equal((await call("POST", "/webhooks/endpoints", { body: { ...endpoint, events: ["access.doorbell.incoming.ren"] } })).body.code, "CODE_PARAMS_INVALID");
      assert.equal((await call("POST", "/webhooks/endpoints", { body: { ...endpoint, endpoint: "ftp://x/y" } })).body.code, "CODE_PARAMS_INVALID");
      const created = await call("POST", "/webhooks/endpoints", { body: { ...endpoint, events: ["access.doorbell.incoming.REN"] } });
      assert.equal(created.body.code, "SUCCESS");
      assert.match(created.body.data.secret, /^[0-9a-f]{16}$/);
      assert.equal((await call("POST", "/webhooks/endpoints", { body: endpoint })).body.code, "CODE_DEVICE_WEBHOOK_ENDPOINT_DUPLICATED");
      const id = created.body.data.id;
      assert.equal((await call("PUT", `/webhooks/endpoints/${id}`, { body: { ...endpoint, events: [...WEBHOOK_EVENTS] } })).body.code, "SUCCESS");
      const listed = (await call("GET", "/webhooks/endpoints")).body.data;
      assert.deepEqual([listed.length, listed[0].events.length, listed[0].secret], [1, WEBHOOK_EVENTS.length, created.body.data.secret]);
      assert.equal((await call("DELETE", `/webhooks/endpoints/${id}`)).body.code, "SUCCESS");
      assert.equal((await call("DELETE", `/webhooks/endpoints/${id}`)).status, 404);
      assert.deepEqual((await call("GET", "/webhooks/endpoints")).body.data, []);
    });
  });

  describe("WebSocket", () => {
    it("sends \"Hello\" heartbeats and JSON notifications; refuses a wrong token and a token without view:device", async () => {
      const { ws, frames } = openWs();
      await new Promise((r) => ws.once("open", r));
      await waitUntil(() => frames.filter((f) => f === '"Hello"').length >= 2, 2000, "two heartbeats");
      sim.setDoorPosition(FRONT, "open");
      const update = await waitUntil(() => frames.map((f) => (f.startsWith("{") ? JSON.parse(f) : null)).find((m) => m && m.event === "access.data.v2.location.update"));
      assert.deepEqual([update.data.id, update.data.state.dps, update.data.state.lock], [FRONT, "open", "locked"]);
      const status = (token) =>
        new Promise((resolve) => {
          const { ws: other } = openWs(token);
          other.once("unexpected-response", (_req, res) => resolve(res.statusCode));
          other.once("open", () => resolve(101));
        });
      assert.equal(await status("wrong"), 401);
      sim.scopes.delete("view:device");
      assert.equal(await status("sim-token"), 403);
      assert.equal(sim.stats.wsRejected, 2);
    });
  });

  describe("webhook deliveries", () => {
    let receiver;
    let received;
    beforeEach(async () => {
      received = [];
      receiver = http.createServer((req, res) => {
        const chunks = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", () => {
          received.push({ headers: req.headers, body: Buffer.concat(chunks) });
          res.writeHead(200).end("OK");
        });
      });
      await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    });
    afterEach(() => new Promise((r) => receiver.close(r)));

    const register = async (events) =>
      (await call("POST", "/webhooks/endpoints", { body: { name: "t", endpoint: `http://127.0.0.1:${receiver.address().port}/hook`, events, headers: { "x-extra": "kept" } } })).body.data;

    // Computed here from the documented format (HMAC-SHA256 over "<t>." + raw body, hex), not with sim.signature().
    function verify(header, body, secret) {
      const parts = Object.fromEntries(header.split(",").map((p) => p.split("=")));
      const expected = crypto.createHmac("sha256", secret).update(Buffer.concat([Buffer.from(`${parts.t}.`), body])).digest("hex");
      return { t: Number(parts.t), valid: crypto.timingSafeEqual(Buffer.from(parts.v1, "hex"), Buffer.from(expected, "hex")) };
    }

    it("signs each delivery with the endpoint's secret and sends only subscribed events, with custom headers", async () => {
      const endpoint = await register(["access.device.dps_status"]);
      sim.setDoorPosition(FRONT, "open");
      sim.credential(FRONT); // access.door.unlock: not subscribed
      await waitUntil(() => sim.deliveries.length === 1 && sim.deliveries[0].status === 200, 3000, "delivery");
      assert.equal(received.length, 1);
      const { headers, body } = received[0];
      assert.equal(headers["x-extra"], "kept");
      const check = verify(headers.signature, body, endpoint.secret);
      assert.equal(check.valid, true, "independent HMAC matches");
      assert.ok(Math.abs(check.t - Date.now() / 1000) <= 2, "timestamp is now");
      assert.equal(verify(headers.signature, body, "0000000000000000").valid, false, "another secret does not verify");
      const json = JSON.parse(body.toString("utf8"));
      assert.deepEqual([json.event, json.data.location.id, json.data.object.status], ["access.device.dps_status", FRONT, "open"]);
    });

    it("shifts the signed timestamp by clockOffsetS (stale deliveries)", async () => {
      const endpoint = await register(["access.doorbell.incoming"]);
      sim.clockOffsetS = -600;
      sim.ring(GARAGE);
      await waitUntil(() => received.length === 1, 3000, "delivery");
      const check = verify(received[0].headers.signature, received[0].body, endpoint.secret);
      assert.equal(check.valid, true);
      assert.ok(Date.now() / 1000 - check.t >= 598, "ten minutes old");
    });
  });

  describe("fault injection", () => {
    it("dropAllSockets ends every WebSocket; refuseConnections resets new connections for a while", async () => {
      const { ws } = openWs();
      await new Promise((r) => ws.once("open", r));
      const closed = new Promise((r) => ws.once("close", r));
      sim.dropAllSockets();
      await closed;
      sim.refuseConnections(0.4);
      await assert.rejects(call("GET", "/doors"), (err) => /ECONNRESET|socket hang up|disconnected/i.test(err.message));
      assert.ok(sim.stats.refused >= 1);
      await waitUntil(() => Date.now() >= sim.refuseUntil, 2000, "end of refusal");
      assert.equal((await call("GET", "/doors")).status, 200);
    });

    it("silentChange changes a door without any notification", async () => {
      const { ws, frames } = openWs();
      await new Promise((r) => ws.once("open", r));
      const before = sim.sent.length;
      sim.silentChange(GARAGE, { dps: "open", lock: "unlock" });
      const door = (await call("GET", "/doors")).body.data.find((d) => d.id === GARAGE);
      assert.deepEqual([door.door_position_status, door.door_lock_relay_status], ["open", "unlock"]);
      assert.equal(sim.sent.length, before, "no notification sent");
      assert.ok(!frames.some((f) => f.includes(GARAGE)));
    });

    it("the loopback control API drives doors and faults (the command-line demo)", async () => {
      assert.equal((await call("POST", `/_sim/doors/${FRONT}/open`, { token: null })).body.code, "SUCCESS");
      assert.equal(sim.door(FRONT).dps, "open");
      assert.equal((await call("POST", `/_sim/doors/${FRONT}/explode`, { token: null })).status, 404);
      assert.equal((await call("GET", "/_sim/drop", { token: null })).status, 404, "POST only");
    });
  });
});
