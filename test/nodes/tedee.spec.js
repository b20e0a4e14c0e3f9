"use strict";
// Node tests: tedee-config / tedee-events / tedee-action in node-red-node-test-helper against the Tedee Bridge and
// cloud simulators over real HTTP. RED.httpNode is served on a loopback port so the bridge can deliver callbacks.
const assert = require("node:assert/strict");
const http = require("node:http");
const helper = require("node-red-node-test-helper");
const request = require("supertest");
const { initTestHelper } = require("../helpers/node-red-path");
const { TedeeBridgeSimulator, STATE } = require("../simulators/tedee-bridge");
const { TedeeCloudSimulator } = require("../simulators/tedee-cloud");
const tedeeNodes = require("../../dist/nodes/tedee.js");
const { callbackHeaderValue, CALLBACK_HEADER } = require("../../dist/nodes/tedee/callback-auth.js");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema.js");

initTestHelper(helper);

const FRONT = 33819;
const BACK = 10;
const TOKEN = "BE9xnPnGfVUS";
const SECRET = "Tq0dV2bK9xY3mN8pL5rS7wZ1";
const HEADER = callbackHeaderValue(TOKEN, SECRET);
const FAST = { spacingMs: 15, cloudSpacingMs: 5, retryMs: 100, confirmPollMs: 100, actorDelaysMs: [150, 400, 900] };

let RED;
const wrapped = function (red) {
  RED = red;
  return tedeeNodes(red);
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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("tedee nodes (test helper + bridge and cloud simulators)", function () {
  this.timeout(30000);
  let sim;
  let cloud;
  let httpServer;
  let nodeBase;

  before(() => helper.settings({ tedeeConfigTiming: FAST }));
  after(() => helper.settings({}));

  beforeEach(async () => {
    sim = new TedeeBridgeSimulator({ token: TOKEN, busyMs: 5, actionMs: 30 });
    await sim.start();
    cloud = null;
    await new Promise((resolve) => helper.startServer(resolve));
  });

  afterEach(async () => {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    if (httpServer) await new Promise((resolve) => httpServer.close(resolve));
    httpServer = null;
    await sim.stop();
    if (cloud) await cloud.stop();
  });

  /** Loads a flow and serves RED.httpNode on a loopback port, which becomes the config's callback base. */
  async function load(flow, credentials = {}, configExtra = {}) {
    httpServer = http.createServer((req, res) => RED.httpNode(req, res));
    await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    nodeBase = `http://127.0.0.1:${httpServer.address().port}`;
    const config = { id: "cfg", type: "tedee-config", host: "127.0.0.1", port: sim.url.split(":").pop(), auth: "encrypted", callbackUrl: nodeBase, ...configExtra };
    await helper.load(wrapped, [config, ...flow], { cfg: { token: TOKEN, routeSecret: SECRET, ...credentials } });
  }

  const route = () => `/smartlocks/tedee/${SECRET}/bridge`;
  const listenerFlow = (extra = {}) => [
    { id: "ev", type: "tedee-events", config: "cfg", wires: [["out"]], ...extra },
    { id: "out", type: "helper" },
  ];

  function collect(id = "out") {
    const messages = [];
    helper.getNode(id).on("input", (msg) => messages.push(msg));
    return messages;
  }
  const named = (messages, event) => messages.filter((m) => m.payload.event === event);

  it("registers one POST callback with the secret header, snapshots every lock, and maps every event type", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => sim.callbacks.length === 1, 5000, "callback registration");
    assert.deepEqual(sim.callbacks[0], { id: 1, url: `${nodeBase}${route()}`, method: "POST", headers: [{ [CALLBACK_HEADER]: HEADER }] });
    await waitUntil(() => named(messages, "device.state").length === 2);
    const front = messages.find((m) => m.payload.device.id === String(FRONT));
    assert.equal(front.topic, `tedee/${FRONT}/device.state`);
    assert.deepEqual([front.payload.lock, front.payload.device.name, front.payload.battery.level], ["locked", "Front door", 90]);

    await sim.unlock(FRONT);
    await waitUntil(() => named(messages, "lock.unlocked").length === 1);
    assert.deepEqual(named(messages, "lock.unlocking").map((m) => m.payload.previous.lock), ["locked"]);
    const unlocked = named(messages, "lock.unlocked")[0].payload;
    assert.equal(unlocked.channel, "bridge");
    assert.equal(unlocked.raw.event, "lock-status-changed");
    assert.equal(unlocked.raw.data.state, 2);
    assert.match(unlocked.at, /Z$/);
    doorEventSchema.parse(unlocked);

    await sim.setState(FRONT, { state: STATE.PULLING });
    await sim.setState(FRONT, { state: STATE.PULLED, doorState: 2 });
    await sim.jam(FRONT);
    await sim.setConnected(FRONT, false);
    await sim.setConnected(FRONT, true);
    await sim.setBattery(FRONT, 12);
    await sim.startCharging(FRONT);
    await sim.stopCharging(FRONT);
    await sim.fullyCharged(FRONT);
    await sim.changeSettings(FRONT, { name: "Main door" });
    await waitUntil(() => named(messages, "tedee.settings.changed").length === 1 && messages.some((m) => m.payload.device.name === "Main door"), 5000, "settings re-read");
    await waitUntil(() => named(messages, "tedee.battery.full").length === 1);
    for (const event of ["lock.unlatching", "lock.unlatched", "door.opened", "lock.jammed", "device.offline", "device.online", "battery.low", "tedee.battery.charging", "tedee.battery.charging_stopped", "battery.ok"]) {
      assert.equal(named(messages, event).length, 1, event);
    }
    assert.equal(named(messages, "battery.low")[0].payload.battery.level, 12);
    assert.deepEqual(named(messages, "tedee.battery.level").map((m) => m.payload.battery.level), [12, 100], "the level, then full");
    assert.equal(named(messages, "lock.jammed")[0].payload.lock, "jammed");
    assert.equal(sim.stats.busyRejected, 0, "never two requests at once");
    assert.equal(sim.stats.replayRejected, 0, "never a reused or older key");
    assert.ok(sim.stats.byRoute["GET /lock/{id}"] >= 1, "re-read the lock after its settings changed");
  });

  it("maps the states the contract has no word for, 18, 255 and unknown values to unknown and keeps raw", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => named(messages, "device.state").length === 2);
    const route_ = route();
    const post = (state) =>
      request(RED.httpNode).post(route_).set(CALLBACK_HEADER, HEADER).send({ event: "lock-status-changed", timestamp: new Date().toISOString(), data: { deviceType: 2, deviceId: FRONT, state, jammed: 0 } }).expect(204);
    for (const state of [3, 1, 18, 255, 6, 42, 0]) await post(state);
    await waitUntil(() => named(messages, "tedee.lock.uncalibrated").length === 1);
    const got = messages.filter((m) => m.payload.event !== "device.state").map((m) => [m.payload.event, m.payload.lock, m.payload.raw.data.state]);
    assert.deepEqual(got, [
      ["tedee.lock.semi_locked", "unknown", 3],
      ["tedee.lock.calibrating", "unknown", 1],
      ["tedee.lock.updating", "unknown", 18],
      ["tedee.lock.unknown", "unknown", 255],
      ["lock.locked", "locked", 6],
      ["tedee.lock.unknown", "unknown", 42],
      ["tedee.lock.uncalibrated", "uncalibrated", 0],
    ]);
  });

  it("answers 401 without or with a wrong secret header and emits nothing; 400/404/413 per the contract", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => named(messages, "device.state").length === 2 && sim.callbacks.length === 1);
    const body = { event: "lock-status-changed", timestamp: new Date().toISOString(), data: { deviceId: FRONT, state: 2, jammed: 0 } };
    await request(RED.httpNode).post(route()).send(body).expect(401);
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, "wrong").send(body).expect(401);
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, callbackHeaderValue("other-token", SECRET)).send(body).expect(401);
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, HEADER).set("content-type", "application/json").send("{not json").expect(400);
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, HEADER).send({ event: "lock-status-changed", data: { deviceId: FRONT } }).expect(400);
    await request(RED.httpNode).post(`/smartlocks/tedee/${SECRET.replace(/^./, "X")}/bridge`).set(CALLBACK_HEADER, HEADER).send(body).expect(404);
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, HEADER).send({ big: "x".repeat(300 * 1024) }).expect(413);
    await sleep(100);
    assert.equal(messages.length, 2, "nothing emitted from rejected requests");
    const cfg = helper.getNode("cfg");
    assert.ok(cfg.warn.args.some((a) => /secret header/.test(String(a[0]))));
    assert.ok(!cfg.warn.args.some((a) => String(a[0]).includes(HEADER) || String(a[0]).includes(SECRET)), "no secret in warnings");
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, HEADER).send(body).expect(204);
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, HEADER).send(body).expect(204);
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, HEADER).send({ event: "keypad-new-thing", timestamp: "2026-01-01T00:00:00.000Z", data: { deviceId: FRONT } }).expect(204);
    await waitUntil(() => named(messages, "tedee.keypad-new-thing").length === 1);
    assert.equal(named(messages, "lock.unlocked").length, 1, "a repeated delivery is one event");
  });

  it("reuses its callback, fixes its header, removes stale copies of its own, keeps others', retries 409, removes its own on close", async () => {
    const other = { url: "http://192.168.1.99:8000/other-app", method: "POST", headers: [{ authz: "12345" }] };
    const stale = { url: `http://10.9.9.9:1880/smartlocks/tedee/${SECRET}/bridge`, method: "POST", headers: [] };
    await addCallback(other);
    await addCallback(stale);
    await load(listenerFlow());
    await waitUntil(() => sim.callbacks.some((c) => c.url.startsWith(nodeBase)) && !sim.callbacks.some((c) => c.url === stale.url), 5000, "registration");
    assert.deepEqual(sim.callbacks.map((c) => c.url).sort(), [other.url, `${nodeBase}${route()}`].sort());
    const ours = sim.callbacks.find((c) => c.url.startsWith(nodeBase));
    await helper.unload();
    assert.deepEqual(sim.callbacks.map((c) => c.url), [other.url], "ours removed, the other kept");

    // Our URL already registered, but with a stale header (the token changed): updated in place, not duplicated.
    await addCallback({ url: ours.url, method: "POST", headers: [{ [CALLBACK_HEADER]: "old" }] });
    sim.failNext("PUT /callback/{id}", 409, "Busy");
    await helper.load(wrapped, [{ id: "cfg", type: "tedee-config", host: "127.0.0.1", port: sim.url.split(":").pop(), callbackUrl: nodeBase }, ...listenerFlow()], { cfg: { token: TOKEN, routeSecret: SECRET } });
    await waitUntil(() => sim.callbacks.some((c) => c.url === ours.url && c.headers[0][CALLBACK_HEADER] === HEADER), 5000, "header fixed");
    assert.equal(sim.callbacks.filter((c) => c.url === ours.url).length, 1);
    assert.equal(sim.stats.byRoute["PUT /callback/{id}"], 2, "409 busy retried");
  });

  it("finds its callback by URL on firmware that answers POST /callback with 204", async () => {
    await sim.stop();
    sim = new TedeeBridgeSimulator({ token: TOKEN, busyMs: 5, actionMs: 30, legacyCallbackAdd: true });
    await sim.start();
    await load(listenerFlow());
    const ev = helper.getNode("ev");
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "green" && a[0].text === "tedee.status.listening"), 5000, "listening");
    assert.equal(sim.callbacks.length, 1);
    assert.equal(sim.stats.byRoute["GET /callback"], 2, "listed again to find it");
  });

  it("refuses a callback URL the bridge might choke on, with a red status and a warning", async () => {
    await load(listenerFlow(), {}, { callbackUrl: `http://nodered.example.com:1880/${"x".repeat(80)}` });
    const ev = helper.getNode("ev");
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "red" && /callback URL/.test(a[0].text)), 5000, "red status");
    assert.equal(sim.callbacks.length, 0);
    assert.equal(sim.stats.longUrlRejected, 0, "never sent to the bridge");
  });

  const actionFlow = (extra = {}) => [
    { id: "tab", type: "tab" },
    { id: "act", type: "tedee-action", z: "tab", config: "cfg", timeout: 5, wires: [["res"]], ...extra },
    { id: "res", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: ["act"], uncaught: false, wires: [["err"]] },
    { id: "err", type: "helper", z: "tab" },
  ];

  it("unlocks, confirms from the callbacks, and sends an identical in-flight action once", async () => {
    await load(actionFlow());
    await waitUntil(() => sim.callbacks.length === 1);
    const results = collect("res");
    const act = helper.getNode("act");
    act.receive({ payload: { action: "unlock", device: String(FRONT) }, keep: 1 });
    act.receive({ payload: { action: "unlock", device: FRONT }, keep: 2 });
    await waitUntil(() => results.length === 2, 8000, "two results");
    for (const msg of results) {
      assert.equal(msg.payload.ok, true);
      assert.equal(msg.payload.confirmed, true);
      assert.equal(msg.payload.vendor, "tedee");
      assert.equal(msg.payload.device, String(FRONT));
    }
    assert.deepEqual(results.map((m) => m.keep).sort(), [1, 2]);
    assert.equal(sim.operations.length, 1, "sent once");
    assert.deepEqual([sim.operations[0].operation, sim.operations[0].modeHeader, sim.operations[0].modeQuery], ["unlock", undefined, undefined], "normal unlock: no mode");
  });

  for (const modeFrom of ["header", "query"]) {
    it(`unlocks without pulling the spring (mode 3) on firmware that reads the mode from the ${modeFrom}`, async () => {
      sim.modeFrom = modeFrom;
      await load(actionFlow({ action: "unlock", device: String(FRONT), unlockWithoutPull: true }));
      await waitUntil(() => sim.callbacks.length === 1);
      const results = collect("res");
      helper.getNode("act").receive({ payload: "go" });
      await waitUntil(() => results.length === 1, 8000);
      assert.equal(results[0].payload.confirmed, true);
      await sleep(200);
      assert.equal(sim.getDevice(FRONT).state, STATE.UNLOCKED, "no pull although auto pull-spring is on");
      assert.deepEqual([sim.operations[0].modeHeader, sim.operations[0].modeQuery], ["3", "3"]);
    });
  }

  it("unlatches, force-unlocks with mode 2, and locks", async () => {
    await load(actionFlow());
    await waitUntil(() => sim.callbacks.length === 1);
    const results = collect("res");
    const act = helper.getNode("act");
    for (const [action, device] of [["open", FRONT], ["unlatch", FRONT], ["unlock_force", FRONT], ["lock", FRONT]]) {
      act.receive({ payload: { action, device } });
      await waitUntil(() => results.some((m) => m.payload.action === action), 8000, action);
    }
    for (const m of results) assert.equal(m.payload.confirmed, true, m.payload.action);
    assert.deepEqual(sim.operations.map((o) => [o.operation, o.mode]), [["pull", undefined], ["pull", undefined], ["unlock", 2], ["lock", undefined]]);
    assert.equal(results.at(-1).payload.lock, "locked");
  });

  it("reports failures to Catch with the contract's codes and the bridge's message", async () => {
    await load(actionFlow());
    await waitUntil(() => sim.callbacks.length === 1);
    const errors = collect("err");
    const act = helper.getNode("act");
    act.receive({ payload: { action: "unlock", device: "424242" } });
    act.receive({ payload: { action: "lock_n_go", device: FRONT } });
    act.receive({ payload: { action: "unlock", device: "front" } });
    act.receive({ payload: "unlock" });
    await waitUntil(() => errors.length === 4, 8000, "four errors");
    assert.deepEqual(errors.map((m) => m.error.code).sort(), ["bad_request", "bad_request", "not_found", "unsupported"]);
    await sim.setConnected(FRONT, false);
    act.receive({ payload: { action: "lock", device: FRONT } });
    await waitUntil(() => errors.length === 5, 8000, "offline error");
    assert.equal(errors[4].error.code, "offline");
    assert.match(errors[4].error.message, /Device is disconnected/);
    // BACK has pullSpringEnabled 0: the lock refuses the pull (406 BLE API error).
    act.receive({ payload: { action: "unlatch", device: BACK } });
    await waitUntil(() => errors.length === 6, 8000, "rejected error");
    assert.equal(errors[5].error.code, "rejected");
    assert.match(errors[5].error.message, /BLE API error/);
    for (const m of errors) assert.ok(!JSON.stringify(m.error).includes(TOKEN));
  });

  it("explains a 401 without leaking the token and shows a red status", async () => {
    await load(listenerFlow(), { token: "wrong-token" });
    const cfg = helper.getNode("cfg");
    const ev = helper.getNode("ev");
    await waitUntil(() => cfg.warn.args.some((a) => /401/.test(String(a[0]))), 5000, "401 warning");
    const warning = cfg.warn.args.map((a) => String(a[0])).find((w) => /401/.test(w));
    assert.match(warning, /clock/);
    assert.ok(!warning.includes("wrong-token"));
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "red"));
  });

  it("removes the route and its callback on redeploy", async () => {
    await load(listenerFlow());
    await waitUntil(() => sim.callbacks.length === 1);
    await helper.setFlows([{ id: "x", type: "helper" }], "full");
    await request(RED.httpNode).post(route()).set(CALLBACK_HEADER, HEADER).send({ event: "backend-connection-changed", data: { isConnected: 1 } }).expect(404);
    await waitUntil(() => sim.callbacks.length === 0, 5000, "callback removed");
  });

  it("without a bridge, acts through the cloud: reads once on deploy and once after each action", async () => {
    cloud = new TedeeCloudSimulator({ key: "pak", actionMs: 50 });
    await cloud.start();
    await load([...listenerFlow(), ...actionFlow()], { token: "", cloudKey: "pak" }, { host: "", cloudUrl: cloud.url });
    const messages = collect();
    const results = collect("res");
    await waitUntil(() => named(messages, "device.state").length === 2, 5000, "cloud snapshot");
    assert.equal(messages[0].payload.channel, "cloud");
    await waitUntil(() => helper.getNode("ev").status.args.some((a) => a[0].fill === "green"));
    helper.getNode("act").receive({ payload: { action: "unlock", device: FRONT } });
    await waitUntil(() => results.length === 1, 8000, "cloud result");
    assert.deepEqual(results[0].payload, { ok: true, vendor: "tedee", device: String(FRONT), action: "unlock", confirmed: true, lock: "unlocked", door: "closed" });
    await waitUntil(() => named(messages, "lock.unlocked").length === 1);
    assert.equal(named(messages, "lock.unlocked")[0].payload.channel, "cloud");
    assert.equal(cloud.stats.byRoute["GET /my/lock"], 1, "one read on deploy");
    assert.equal(cloud.stats.byRoute["GET /my/lock/{id}"], 1, "one read after the action");
    assert.equal(sim.stats.requests, 0, "no bridge configured");
  });

  it("honours the cloud's 429 Retry-After: fails fast with busy until then", async () => {
    cloud = new TedeeCloudSimulator({ key: "pak", actionMs: 50 });
    await cloud.start();
    await load(actionFlow(), { token: "", cloudKey: "pak" }, { host: "", cloudUrl: cloud.url });
    const errors = collect("err");
    await waitUntil(() => cloud.stats.byRoute["GET /my/lock"] === 1);
    cloud.exhaustRateLimit();
    const act = helper.getNode("act");
    act.receive({ payload: { action: "lock", device: FRONT } });
    await waitUntil(() => errors.length === 1, 8000);
    assert.equal(errors[0].error.code, "busy");
    const before = cloud.stats.requests;
    act.receive({ payload: { action: "unlock", device: FRONT } });
    await waitUntil(() => errors.length === 2, 8000);
    assert.equal(errors[1].error.code, "busy");
    assert.match(errors[1].error.message, /rate limit/);
    assert.equal(cloud.stats.requests, before, "no request while blocked");
  });

  it("with bridge and cloud key, sends the actor from the activity log as a follow-up with the same id", async () => {
    cloud = new TedeeCloudSimulator({ key: "pak" });
    await cloud.start();
    await load(listenerFlow(), { cloudKey: "pak" }, { cloudUrl: cloud.url });
    const messages = collect();
    await waitUntil(() => sim.callbacks.length === 1 && named(messages, "device.state").length === 2);
    await sim.unlock(FRONT);
    cloud.addActivity({ deviceId: FRONT, event: 61, userId: 7, username: "Anna" });
    const followUp = await waitUntil(() => messages.find((m) => m.payload.update === true), 5000, "follow-up");
    const original = messages.find((m) => m.payload.event === "lock.unlocked" && !m.payload.update);
    assert.equal(followUp.payload.id, original.payload.id);
    assert.equal(followUp.payload.event, "lock.unlocked");
    assert.deepEqual(followUp.payload.actor, { type: "pin", id: "7", name: "Anna" });
    assert.equal(original.payload.actor, null);
    await sleep(1200);
    assert.equal(messages.filter((m) => m.payload.update).length, 1, "one follow-up");
    assert.ok(cloud.stats.byRoute["GET /my/deviceactivity"] <= 3);
  });

  it("actorWait holds lock events until the actor comes and sends each once; 0 sends at once and follows up", async () => {
    cloud = new TedeeCloudSimulator({ key: "pak" });
    await cloud.start();
    await load(
      [
        { id: "fast", type: "tedee-events", config: "cfg", actorWait: 0, wires: [["fastOut"]] },
        { id: "fastOut", type: "helper" },
        { id: "held", type: "tedee-events", config: "cfg", actorWait: 3000, wires: [["heldOut"]] },
        { id: "heldOut", type: "helper" },
      ],
      { cloudKey: "pak" },
      { cloudUrl: cloud.url },
    );
    const fast = collect("fastOut");
    const held = collect("heldOut");
    await waitUntil(() => sim.callbacks.length === 1 && named(held, "device.state").length === 2, 5000, "snapshot");
    assert.equal(named(fast, "device.state").length, 2, "events that get no actor are not held");
    await sim.unlock(FRONT);
    cloud.addActivity({ deviceId: FRONT, event: 61, userId: 7, username: "Anna" });
    // lock.unlocked gets the actor; lock.unlocking gets none and is released when actorWait ends.
    await waitUntil(() => named(held, "lock.unlocked").length === 1 && named(held, "lock.unlocking").length === 1, 8000, "held events");
    const unlocked = named(held, "lock.unlocked")[0].payload;
    assert.deepEqual(unlocked.actor, { type: "pin", id: "7", name: "Anna" });
    assert.equal(unlocked.update, undefined, "sent once, not as an update");
    assert.equal(named(held, "lock.unlocking")[0].payload.actor, null);
    doorEventSchema.parse(unlocked);

    const followUp = await waitUntil(() => fast.find((m) => m.payload.update === true), 5000, "follow-up");
    const original = named(fast, "lock.unlocked").find((m) => !m.payload.update);
    assert.equal(original.payload.actor, null);
    assert.deepEqual([followUp.payload.id, followUp.payload.event, followUp.payload.actor.name], [unlocked.id, "lock.unlocked", "Anna"]);
    assert.ok(fast.indexOf(original) < fast.indexOf(followUp));
    await sleep(1200);
    assert.equal(held.filter((m) => m.payload.update).length, 0, "a late follow-up is not sent a second time");
    assert.deepEqual(held.filter((m) => m.payload.event !== "device.state").map((m) => m.payload.event).sort(), ["lock.unlocked", "lock.unlocking"]);
  });

  it("actorWait sends lock events at once when no cloud key can name the actor", async () => {
    await load(listenerFlow({ actorWait: 600000 }));
    const messages = collect();
    await waitUntil(() => sim.callbacks.length === 1 && named(messages, "device.state").length === 2, 5000, "snapshot");
    await sim.unlock(FRONT);
    await waitUntil(() => named(messages, "lock.unlocked").length === 1, 5000, "not held without a cloud key");
    assert.equal(named(messages, "lock.unlocked")[0].payload.actor, null);
  });

  describe("POST /smartlocks/tedee/probe (editor: test connection, device pickers)", () => {
    const probe = (body) => helper.request().post("/smartlocks/tedee/probe").send(body);
    const typed = (extra = {}) => ({ host: "127.0.0.1", port: sim.url.split(":").pop(), auth: "encrypted", callbackUrl: nodeBase, ...extra });

    it("probes the typed values read-only and answers devices and the callback self-test without secrets", async () => {
      await load([]);
      const before = sim.stats.requests;
      const { body } = await probe(typed({ token: TOKEN, routeSecret: SECRET })).expect(200);
      assert.equal(body.ok, true, JSON.stringify(body));
      assert.deepEqual(body.devices.map((d) => [d.id, d.name, d.type, d.lock]), [["33819", "Front door", "lock", "locked"], ["10", "Back door", "lock", "unlocked"]]);
      assert.match(body.summary, /2 locks/);
      assert.equal(body.callback.url, `${nodeBase}/smartlocks/tedee/***/bridge`);
      assert.deepEqual(
        [body.callback.registered, body.callback.plainHttp, body.callback.shortEnough, body.callback.notLoopback, body.callback.reachable],
        [false, true, true, true, true],
      );
      const text = JSON.stringify(body);
      for (const secret of [TOKEN, SECRET, HEADER]) assert.ok(!text.includes(secret));
      assert.equal(sim.stats.requests - before, 3, "GET /bridge, /lock, /callback");
      assert.equal(sim.callbacks.length, 0, "nothing registered");
    });

    it("falls back to the deployed node's stored credentials with id, through its own client", async () => {
      await load(listenerFlow());
      // Registered, then the bridge itself is read: the connection's first cycle is done.
      await waitUntil(() => sim.callbacks.length === 1 && sim.stats.byRoute["GET /bridge"] === 1, 5000, "first cycle");
      const running = helper.getNode("cfg").connection.bridge;
      const sent = running.stats.requests;
      const { body } = await probe(typed({ id: "cfg", token: "__PWRD__", routeSecret: "__PWRD__", cloudKey: "" })).expect(200);
      assert.equal(running.stats.requests - sent, 3, "through the deployed node's client");
      assert.equal(body.ok, true, JSON.stringify(body));
      assert.equal(body.callback.registered, true, "the deployed node's callback, with its header");
      assert.deepEqual(body.details.callbacks, [{ id: 1, url: `${nodeBase}/smartlocks/tedee/***/bridge`, ours: true }]);
      const empty = await probe(typed({ id: "cfg", token: "" })).expect(200);
      assert.equal(empty.body.ok, true, "an empty password field is the stored one too");
      assert.equal(sim.stats.busyRejected, 0);
      assert.equal(sim.stats.replayRejected, 0, "queued behind the running connection, one key sequence");
      assert.ok(!JSON.stringify(body).includes(SECRET));
    });

    it("answers ok:false with unauthorized for a wrong token, bad_request without a channel, never echoing secrets", async () => {
      await load([]);
      const wrong = await probe(typed({ token: "wrong-token", routeSecret: SECRET })).expect(200);
      assert.deepEqual([wrong.body.ok, wrong.body.code], [false, "unauthorized"]);
      assert.match(wrong.body.message, /401/);
      assert.ok(!JSON.stringify(wrong.body).includes("wrong-token"));
      const nothing = await probe({ host: "", cloudKey: "" }).expect(400);
      assert.deepEqual([nothing.body.ok, nothing.body.code], [false, "bad_request"]);
      const noToken = await probe(typed({ id: "unknown-node" })).expect(400);
      assert.match(noToken.body.message, /API token/);
    });

    it("cloud only: lists the account's locks with one cloud request", async () => {
      cloud = new TedeeCloudSimulator({ key: "pak" });
      await cloud.start();
      await load([]);
      const { body } = await probe({ host: "", cloudKey: "pak", cloudUrl: cloud.url }).expect(200);
      assert.equal(body.ok, true, JSON.stringify(body));
      assert.equal(body.details.channel, "cloud");
      assert.equal(body.callback, undefined);
      assert.deepEqual(body.devices.map((d) => d.id), ["33819", "10"]);
      assert.equal(cloud.stats.requests, 1);
      assert.ok(!JSON.stringify(body).includes("pak"));
      const refused = await probe({ host: "", cloudKey: "nope", cloudUrl: cloud.url }).expect(200);
      assert.deepEqual([refused.body.ok, refused.body.code], [false, "unauthorized"]);
    });
  });

  async function addCallback(body) {
    const payload = JSON.stringify(body);
    await new Promise((resolve, reject) => {
      const req = http.request(`${sim.url}/v1.0/callback`, { method: "POST", headers: { api_token: sim.apiKey(Date.now() + Math.floor(Math.random() * 1000)), "content-type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end(payload);
    });
    await sleep(20);
  }
});

describe("tedee nodes at the vendor's request rate", function () {
  this.timeout(30000);
  let sim;
  let httpServer;

  afterEach(async () => {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    if (httpServer) await new Promise((resolve) => httpServer.close(resolve));
    await sim.stop();
  });

  it("keeps requests about one second apart by default", async () => {
    sim = new TedeeBridgeSimulator({ token: TOKEN, minIntervalMs: 900 });
    await sim.start();
    await new Promise((resolve) => helper.startServer(resolve));
    httpServer = http.createServer((req, res) => RED.httpNode(req, res));
    await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${httpServer.address().port}`;
    await helper.load(
      wrapped,
      [{ id: "cfg", type: "tedee-config", host: "127.0.0.1", port: sim.url.split(":").pop(), callbackUrl: base }, { id: "ev", type: "tedee-events", config: "cfg", wires: [] }],
      { cfg: { token: TOKEN, routeSecret: SECRET } },
    );
    await waitUntil(() => sim.stats.requests >= 4, 10000, "four requests");
    assert.equal(sim.stats.tooFast, 0);
  });
});
