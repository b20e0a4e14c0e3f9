"use strict";
// Node tests: loqed-config / loqed-events / loqed-action in node-red-node-test-helper against the LOQED bridge
// and cloud simulators over real HTTP. RED.httpNode is served on a loopback port so the simulator can deliver.
const assert = require("node:assert/strict");
const http = require("node:http");
const helper = require("node-red-node-test-helper");
const request = require("supertest");
const { initTestHelper } = require("../helpers/node-red-path");
const { LoqedBridgeSimulator, LoqedCloudSimulator } = require("../simulators/loqed-bridge");
const loqedNodes = require("../../dist/nodes/loqed.js");

initTestHelper(helper);

const SECRET = "Lq0dV2bK9xY3mN8pL5rS7wZ1";
const BRIDGE_KEY = "Ym9uam91ciBtb25kZQ==";
const KEY_SECRET = "SGFsbG8gd2VyZWxk";
const MAC = "aabbccddeeff";

let RED;
const wrapped = function (red) {
  RED = red;
  return loqedNodes(red);
};

function waitUntil(check, timeoutMs = 5000, what = "condition") {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      let value;
      try {
        value = check();
      } catch (err) {
        return reject(err);
      }
      if (value) return resolve(value);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

describe("loqed nodes (test helper + bridge simulator)", function () {
  this.timeout(20000);
  let sim;
  let httpServer;
  let nodeBase;

  beforeEach(async () => {
    sim = new LoqedBridgeSimulator({ bridgeKey: BRIDGE_KEY, keys: { 1: KEY_SECRET } });
    await sim.start();
    await new Promise((resolve) => helper.startServer(resolve));
  });

  afterEach(async () => {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    if (httpServer) await new Promise((resolve) => httpServer.close(resolve));
    httpServer = null;
    await sim.stop();
  });

  async function load(flow, credentials = {}, configExtra = {}) {
    httpServer = http.createServer((req, res) => RED.httpNode(req, res));
    await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    nodeBase = `http://127.0.0.1:${httpServer.address().port}`;
    const config = { id: "cfg", type: "loqed-config", name: "Front door", host: "127.0.0.1", port: sim.port, keyId: 1, lockId: "", callbackUrl: nodeBase, keyNames: "1=Node-RED\n3=Jane", ...configExtra };
    await helper.load(wrapped, [config, ...flow], { cfg: { bridgeKey: BRIDGE_KEY, keySecret: KEY_SECRET, routeSecret: SECRET, ...credentials } });
  }

  const listenerFlow = (extra = {}) => [
    { id: "ev", type: "loqed-events", config: "cfg", wires: [["out"]], ...extra },
    { id: "out", type: "helper" },
  ];
  const ours = () => `${nodeBase}/smartlocks/loqed/${SECRET}/bridge`;

  function collect(id = "out") {
    const messages = [];
    helper.getNode(id).on("input", (msg) => messages.push(msg));
    return messages;
  }
  const find = (messages, name) => waitUntil(() => messages.find((m) => m.payload.event === name), 5000, name);

  it("registers one webhook with all triggers, snapshots /status once, and maps every event family", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => sim.webhooks.length === 1, 5000, "webhook registration");
    assert.equal(sim.webhooks[0].url, ours());
    assert.ok(["trigger_state_changed_open", "trigger_state_goto_night_lock", "trigger_battery", "trigger_online_status"].every((t) => sim.webhooks[0][t] === 1));
    const state = await find(messages, "device.state");
    assert.equal(state.topic, `loqed/${MAC}/device.state`);
    assert.equal(state.payload.lock, "locked");
    assert.equal(state.payload.device.name, "Front door");
    assert.deepEqual(state.payload.battery, { critical: false, level: 78, charging: null });

    sim.twistAssist("day_lock");
    const unlocking = await find(messages, "lock.unlocking");
    assert.deepEqual(unlocking.payload.actor, { type: "manual", id: null, name: null });
    const unlocked = await find(messages, "lock.unlocked");
    assert.deepEqual(unlocked.payload.previous, { lock: "unlocking", door: null });
    // The return to day lock below has the same body as the STATE_CHANGED_LATCH above; signed in the same
    // second it would be the same delivery (same TIMESTAMP and HASH), dropped as a replay.
    await new Promise((r) => setTimeout(r, 1020 - (Date.now() % 1000)));
    sim.keypadOpen(3);
    const opened = await find(messages, "lock.unlatched");
    assert.deepEqual(opened.payload.actor, { type: "keypad", id: "3", name: "Jane" });
    await waitUntil(() => messages.filter((m) => m.payload.event === "lock.unlocked").length === 2, 5000, "return to day lock");
    sim.touchToLock();
    const locked = await find(messages, "lock.locked");
    assert.equal(locked.payload.actor.type, "button");
    await sim.motorStall();
    assert.equal((await find(messages, "lock.jammed")).payload.lock, "jammed");
    await sim.setBattery(12);
    assert.equal((await find(messages, "battery.low")).payload.battery.level, 12);
    await sim.setLockOnline(false);
    await find(messages, "device.offline");
    await sim.setLockOnline(true);
    await find(messages, "device.online");
    assert.ok(messages.some((m) => m.payload.event === "loqed.signal"));
    assert.equal(sim.stats.statusCalls, 1, "GET /status only at start");
    assert.ok(sim.deliveries.every((d) => d.status === 200), "every delivery accepted");
  });

  it("removes stale copies of its own webhook, keeps others', and removes its own on close", async () => {
    const other = "http://192.168.1.99:8000/other-app";
    const stale = `http://10.9.9.9:1880/smartlocks/loqed/${SECRET}/bridge`;
    sim.webhooks.push({ id: 90, url: other }, { id: 91, url: stale }, { id: 92, url: stale });
    await load(listenerFlow());
    await waitUntil(() => sim.webhooks.some((w) => w.url === ours()), 5000, "registration");
    assert.deepEqual(sim.webhooks.map((w) => w.url).sort(), [other, ours()].sort());
    await helper.unload();
    assert.deepEqual(sim.webhooks.map((w) => w.url), [other]);
    assert.equal(sim.stats.mgmtRejected, 0, "every management request signed correctly");
  });

  it("refuses bad hashes, stale timestamps and missing TIMESTAMP with 401, warns, and emits nothing", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => sim.webhooks.length === 1);
    await find(messages, "device.state");
    const cfg = helper.getNode("cfg");
    const ev = helper.getNode("ev");
    const body = { requested_state: "DAY_LOCK", event_type: "STATE_CHANGED_LATCH", key_local_id: 255, mac_wifi: MAC };
    assert.equal((await sim.send(body, { badHash: true }))[0].status, 401);
    assert.equal((await sim.send(body, { clockSkewS: -40 }))[0].status, 401);
    const [missing] = await sim.send(body, { omitTimestamp: true });
    assert.equal(missing.status, 401);
    assert.match(missing.text, /TIMESTAMP header missing/);
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "red" && /TIMESTAMP/.test(a[0].text)), 5000, "red status");
    const warnings = cfg.warn.args.map((a) => String(a[0]));
    assert.ok(warnings.some((w) => /HASH does not match/.test(w)));
    assert.ok(warnings.some((w) => /outside the allowed window of 20 s/.test(w)));
    assert.ok(warnings.some((w) => /TIMESTAMP header missing.*enable/.test(w)));
    assert.ok(warnings.every((w) => !w.includes(SECRET) && !w.includes(BRIDGE_KEY)));
    const route = `/smartlocks/loqed/${SECRET}/bridge`;
    await request(RED.httpNode).post(route).send(body).expect(401);
    await request(RED.httpNode).post(`/smartlocks/loqed/${SECRET.replace(/^./, "X")}/bridge`).send(body).expect(404);
    await request(RED.httpNode).post(route).send({ big: "x".repeat(300 * 1024) }).expect(413);
    const [bad] = await sim.send({}, { raw: "{not json" });
    assert.equal(bad.status, 400);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(messages.map((m) => m.payload.event), ["device.state"]);
    // A valid delivery is accepted again and clears the red status.
    assert.equal((await sim.send(body))[0].status, 200);
    await find(messages, "lock.unlocked");
    await waitUntil(() => ev.status.lastCall.args[0].fill === "green", 5000, "green again");
  });

  it("with the opt-in, accepts webhooks without TIMESTAMP only from the bridge's address, and a wider window", async () => {
    await load(listenerFlow(), {}, { allowMissingTimestamp: true, timestampWindow: 60 });
    const messages = collect();
    await waitUntil(() => sim.webhooks.length === 1);
    await find(messages, "device.state");
    const body = { requested_state: "DAY_LOCK", event_type: "STATE_CHANGED_LATCH", key_local_id: 255, mac_wifi: MAC };
    assert.equal((await sim.send(body, { omitTimestamp: true, localAddress: "127.0.0.2" }))[0].status, 401);
    assert.equal((await sim.send(body, { omitTimestamp: true }))[0].status, 200);
    await find(messages, "lock.unlocked");
    assert.equal((await sim.send({ ...body, event_type: "STATE_CHANGED_NIGHT_LOCK" }, { clockSkewS: -40 }))[0].status, 200);
    await find(messages, "lock.locked");
  });

  const actionFlow = (extra = {}) => [
    { id: "tab", type: "tab" },
    { id: "act", type: "loqed-action", z: "tab", config: "cfg", timeout: 3, wires: [["res"]], ...extra },
    { id: "res", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: ["act"], uncaught: false, wires: [["err"]] },
    { id: "err", type: "helper", z: "tab" },
  ];

  it("sends signed commands, confirms from webhooks carrying our key, and sends an identical in-flight action once", async () => {
    await load(actionFlow());
    await waitUntil(() => sim.webhooks.length === 1);
    const results = collect("res");
    const errors = collect("err");
    const act = helper.getNode("act");
    act.receive({ payload: "unlock", keep: 1 });
    act.receive({ payload: { action: "unlock", device: MAC }, keep: 2 });
    await waitUntil(() => results.length === 2, 8000, "two results");
    for (const msg of results) assert.deepEqual(msg.payload, { ok: true, vendor: "loqed", device: MAC, action: "unlock", confirmed: true, lock: "unlocked", door: null });
    assert.equal(sim.commands.length, 1, "sent once");
    assert.deepEqual({ ...sim.commands[0].decoded, hmac: undefined, timestamp: undefined }, { messageId: 0n, protocol: 2, commandType: 7, hmac: undefined, timestamp: undefined, keyId: 1, deviceId: 1, action: 2 });
    act.receive({ payload: "open" });
    await waitUntil(() => results.length === 3, 8000, "open");
    assert.equal(results[2].payload.confirmed, true);
    assert.equal(sim.commands[1].decoded.action, 1);
    act.receive({ payload: "lock" });
    await waitUntil(() => results.length === 4, 8000, "lock");
    assert.equal(results[3].payload.lock, "locked");
    // A command for the current state: GO_TO_STATE only, still confirmed. Started in a new second: an identical
    // body signed in the same second has the same TIMESTAMP and HASH and is dropped as a replay.
    await new Promise((r) => setTimeout(r, 1020 - (Date.now() % 1000)));
    act.receive({ payload: "lock" });
    await waitUntil(() => results.length === 5 || errors.length > 0, 8000, "lock again");
    assert.deepEqual(errors.map((m) => m.error.message), []);
    assert.equal(results[4].payload.confirmed, true);
    assert.ok(sim.commands.every((c) => c.valid), sim.commands.map((c) => c.reason).join());
  });

  it("reports failures to Catch with contract codes, and a timeout (never a resend) when no webhook confirms", async () => {
    await load(actionFlow(), { keySecret: "V3Jvbmcgc2VjcmV0" });
    await waitUntil(() => sim.webhooks.length === 1);
    const errors = collect("err");
    const act = helper.getNode("act");
    act.receive({ payload: { action: "unlock", device: "001122334455" } });
    act.receive({ payload: "lock_n_go" });
    act.receive({ payload: {} });
    await waitUntil(() => errors.length === 3, 8000, "three errors");
    assert.deepEqual(errors.map((m) => m.error.code).sort(), ["bad_request", "not_found", "unsupported"]);
    act.receive({ payload: "open" });
    await waitUntil(() => errors.length === 4, 8000, "timeout");
    assert.equal(errors[3].error.code, "timeout");
    assert.match(errors[3].error.message, /not sent again/);
    assert.ok(!errors[3].error.message.includes("V3Jvbmcgc2VjcmV0"));
    assert.equal(sim.commands.length, 1, "open sent exactly once");
    assert.equal(sim.commands[0].reason, "HMAC mismatch");
  });

  describe("actor names from the cloud", () => {
    let cloud;
    let stopFollowing;
    const cloudRoute = () => `${nodeBase}/smartlocks/loqed/${SECRET}/cloud`;
    async function withCloud(listenerExtra = {}, credentials = {}) {
      await load(listenerFlow(listenerExtra), credentials, { keyNames: "" });
      cloud = new LoqedCloudSimulator({ token: "pat-token" });
      await cloud.start();
      cloud.webhookUrls = [cloudRoute()];
      // The cloud copy of each bridge webhook arrives after it here (the order this feature is for).
      stopFollowing = cloud.follow(sim, { delayMs: 60, names: { 4: "Anna" } });
      const messages = collect();
      await waitUntil(() => sim.webhooks.length === 1, 5000, "registration");
      await find(messages, "device.state");
      return messages;
    }
    afterEach(async () => {
      stopFollowing?.();
      stopFollowing = null;
      if (cloud) await cloud.stop();
      cloud = null;
    });

    it("actorWait 0: a later named cloud copy is a follow-up of the bridge event (same id, update: true), once", async () => {
      const messages = await withCloud();
      sim.bleAction("day_lock", 4);
      const followUps = () => messages.filter((m) => m.payload.update === true);
      await waitUntil(() => followUps().length === 2, 5000, "two follow-ups");
      await sim.idle();
      await new Promise((r) => setTimeout(r, 200)); // the cloud's second copies (30 ms later) have arrived by now
      // Each event once, each follow-up once (the cloud delivers every webhook twice); a follow-up may come
      // before the next bridge event.
      assert.deepEqual(messages.filter((m) => !m.payload.update).map((m) => m.payload.event), ["device.state", "lock.unlocking", "lock.unlocked"]);
      assert.deepEqual(followUps().map((m) => m.payload.event), ["lock.unlocking", "lock.unlocked"]);
      for (const name of ["lock.unlocking", "lock.unlocked"]) {
        const [first, follow] = messages.filter((m) => m.payload.event === name);
        assert.deepEqual(first.payload.actor, { type: "app", id: "4", name: null });
        assert.equal(first.payload.channel, "bridge");
        assert.equal(follow.payload.id, first.payload.id);
        assert.equal(follow.topic, first.topic);
        assert.deepEqual(follow.payload.actor, { type: "app", id: "4", name: "Anna" }, "type from the event type, name from the cloud");
        assert.equal(follow.payload.raw.key_name_user, "Anna");
      }
      // A named cloud webhook that no bridge event matches is an event of its own, as before.
      await request(RED.httpNode)
        .post(`/smartlocks/loqed/${SECRET}/cloud`)
        .send({ event_type: "STATE_CHANGED_NIGHT_LOCK", requested_state: "NIGHT_LOCK", lock_id: 6148, key_local_id: "5", key_name_user: "Bob" })
        .expect(200);
      const locked = await find(messages, "lock.locked");
      assert.equal(locked.payload.channel, "cloud");
      assert.equal(locked.payload.update, undefined);
      assert.deepEqual(locked.payload.actor, { type: "user", id: "5", name: "Bob" });
    });

    it("actorWait > 0: holds events the cloud can still name and sends each once with the name; the rest at the deadline", async () => {
      const messages = await withCloud({ actorWait: 1500 }, { cloudToken: "pat-token" });
      sim.bleAction("day_lock", 4);
      await waitUntil(() => messages.filter((m) => m.payload.event.startsWith("lock.")).length === 2, 5000, "two lock events");
      await sim.idle();
      await new Promise((r) => setTimeout(r, 200));
      const lockMessages = messages.filter((m) => m.payload.event.startsWith("lock."));
      assert.deepEqual(lockMessages.map((m) => m.payload.event), ["lock.unlocking", "lock.unlocked"]);
      for (const m of lockMessages) {
        assert.deepEqual(m.payload.actor, { type: "app", id: "4", name: "Anna" });
        assert.equal(m.payload.update, undefined, "sent once, not as an update");
      }
      // Key 6 has no name in the cloud: held until actorWait, then sent with the bridge's own actor.
      sim.bleAction("night_lock", 6);
      const locked = await find(messages, "lock.locked");
      assert.deepEqual(locked.payload.actor, { type: "app", id: "6", name: null });
      assert.equal(messages.filter((m) => m.payload.event === "lock.locking").length, 1);
      assert.ok(messages.every((m) => m.payload.update === undefined));
    });
  });

  describe("probe endpoint (test connection, device pickers)", () => {
    const probe = (body) => helper.request().post("/smartlocks/loqed/probe").send(body).expect("Content-Type", /json/);
    const typed = () => ({ host: "127.0.0.1", port: sim.port, bridgeKey: BRIDGE_KEY, lockId: "", name: "Front door", callbackUrl: nodeBase, routeSecret: SECRET });

    it("reads /status and the webhook table with typed values, marks ours redacted, and changes nothing", async () => {
      const other = "http://192.168.1.99:8000/other-app";
      sim.webhooks.push({ id: 90, url: other });
      await load(listenerFlow());
      await waitUntil(() => sim.webhooks.length === 2, 5000, "registration");
      const before = JSON.stringify(sim.webhooks);
      const { body } = await probe(typed()).expect(200);
      assert.equal(body.ok, true);
      assert.match(body.summary, /aabbccddeeff: lock locked, 2 webhook\(s\), 1 of this config node/);
      assert.deepEqual(body.devices, [{ id: MAC, name: "Front door", type: "lock", lock: "locked" }]);
      assert.deepEqual(body.details.webhooks, [
        { id: 90, url: other, ours: false },
        { id: sim.webhooks[1].id, url: `${nodeBase}/smartlocks/loqed/***/bridge`, ours: true },
      ]);
      assert.deepEqual(body.callback, { url: `${nodeBase}/smartlocks/loqed/***/bridge`, problem: null, registered: true, plainHttp: true, shortEnough: true, notLoopback: true, reachable: true });
      assert.equal(body.details.bridge.mac, MAC);
      const text = JSON.stringify(body);
      assert.ok(!text.includes(SECRET) && !text.includes(BRIDGE_KEY) && !text.includes(KEY_SECRET));
      assert.equal(JSON.stringify(sim.webhooks), before, "nothing registered or removed");
      assert.equal(sim.commands.length, 0);
    });

    it("falls back to the stored credentials with id, and answers ok:false unauthorized for a wrong bridge key", async () => {
      await load(listenerFlow());
      await waitUntil(() => sim.webhooks.length === 1, 5000, "registration");
      const stored = await probe({ ...typed(), bridgeKey: "__PWRD__", routeSecret: "__PWRD__", id: "cfg" }).expect(200);
      assert.equal(stored.body.ok, true);
      assert.equal(stored.body.callback.registered, true, "the stored route secret gives the registered URL");
      assert.equal(stored.body.details.webhooks.length, 1);
      const rejectedBefore = sim.stats.mgmtRejected;
      const wrong = await probe({ ...typed(), bridgeKey: "V3JvbmcgYnJpZGdlIGtleQ==" }).expect(200);
      assert.equal(wrong.body.ok, false);
      assert.equal(wrong.body.code, "unauthorized");
      assert.match(wrong.body.message, /bridge key/);
      assert.ok(!JSON.stringify(wrong.body).includes("V3JvbmcgYnJpZGdlIGtleQ=="));
      assert.equal(sim.stats.mgmtRejected, rejectedBefore + 1, "one signed read, no retry storm");
      const bad = await probe({ ...typed(), bridgeKey: "not base64!" }).expect(400);
      assert.deepEqual({ ok: bad.body.ok, code: bad.body.code }, { ok: false, code: "bad_request" });
      const down = await probe({ ...typed(), port: 1 }).expect(200);
      assert.equal(down.body.ok, false);
      assert.equal(down.body.code, "unreachable");
    });
  });

  it("removes the routes on redeploy", async () => {
    await load(listenerFlow());
    await waitUntil(() => sim.webhooks.length === 1);
    await request(RED.httpNode).post(`/smartlocks/loqed/${SECRET}/cloud`).send({ lock_id: 6148, online: 1 }).expect(200);
    await helper.setFlows([{ id: "x", type: "helper" }], "full");
    await request(RED.httpNode).post(`/smartlocks/loqed/${SECRET}/bridge`).send({}).expect(404);
    await request(RED.httpNode).post(`/smartlocks/loqed/${SECRET}/cloud`).send({}).expect(404);
    await waitUntil(() => sim.webhooks.length === 0, 5000, "webhook removed");
  });
});

describe("loqed nodes, cloud only (test helper + cloud simulator)", function () {
  this.timeout(20000);
  let cloud;
  let httpServer;

  beforeEach(async () => {
    cloud = new LoqedCloudSimulator({ token: "pat-token", lockId: "Yq1gK4oeE9KWe0ByxjX2", tokenKeyId: 2 });
    await cloud.start();
    await new Promise((resolve) => helper.startServer(resolve));
    httpServer = http.createServer((req, res) => RED.httpNode(req, res));
    await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    cloud.webhookUrls = [`http://127.0.0.1:${httpServer.address().port}/smartlocks/loqed/${SECRET}/cloud`];
  });

  afterEach(async () => {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    await new Promise((resolve) => httpServer.close(resolve));
    await cloud.stop();
  });

  it("receives cloud webhooks once each and acts through the Integrations API", async () => {
    const flow = [
      { id: "tab", type: "tab" },
      { id: "cfg", type: "loqed-config", lockId: "Yq1gK4oeE9KWe0ByxjX2", keyId: "", cloudUrl: cloud.url, callbackUrl: "" },
      { id: "ev", type: "loqed-events", z: "tab", config: "cfg", wires: [["out"]] },
      { id: "out", type: "helper", z: "tab" },
      { id: "act", type: "loqed-action", z: "tab", config: "cfg", timeout: 3, wires: [["res"]] },
      { id: "res", type: "helper", z: "tab" },
    ];
    await helper.load(wrapped, flow, { cfg: { cloudToken: "pat-token", routeSecret: SECRET } });
    const messages = [];
    helper.getNode("out").on("input", (m) => messages.push(m));
    const results = [];
    helper.getNode("res").on("input", (m) => results.push(m));
    await waitUntil(() => helper.getNode("ev").status.args.some((a) => a[0].fill === "green"), 5000, "green");
    await cloud.webhook({ event_type: "STATE_CHANGED_LATCH", requested_state: "DAY_LOCK", lock_id: 6148, key_local_id: "3", key_name_user: "Jane's phone", "key_account_e-mail": "jane@example.com" });
    await waitUntil(() => messages.length >= 1);
    helper.getNode("act").receive({ payload: "lock" });
    await waitUntil(() => results.length === 1, 8000, "cloud action");
    assert.deepEqual(results[0].payload, { ok: true, vendor: "loqed", device: "Yq1gK4oeE9KWe0ByxjX2", action: "lock", confirmed: true, lock: "locked", door: null });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(messages.map((m) => m.payload.event), ["lock.unlocked", "lock.locking", "lock.locked"], "duplicates reported once");
    assert.deepEqual(messages[0].payload.actor, { type: "user", id: "3", name: "Jane's phone" });
    assert.equal(messages[0].payload.channel, "cloud");
    assert.deepEqual(messages[2].payload.actor, { type: "remote", id: "2", name: "Node-RED token" });
    assert.equal(cloud.statusCalls, 0, "never reads the rate-limited cloud status");
  });
});
