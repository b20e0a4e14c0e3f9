"use strict";
// Node tests of the Nuki Web and MQTT channels in node-red-node-test-helper: the Nuki Web simulator over real
// HTTP (webhooks delivered to RED.httpNode on a loopback port), the bridge simulator for the cross-channel
// cases, and an aedes broker with a simulated Smart Lock 4th generation behind Node-RED's own mqtt-broker node.
const assert = require("node:assert/strict");
const http = require("node:http");
const helper = require("node-red-node-test-helper");
const request = require("supertest");
const { initTestHelper, requireNodeRed } = require("../helpers/node-red-path");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");
const { NukiWebSimulator, sign } = require("../simulators/nuki-web");
const { NukiMqttSimulator } = require("../simulators/nuki-mqtt");
const nukiNodes = require("../../dist/nodes/nuki.js");

const mqttNodes = requireNodeRed("@node-red/nodes/core/network/10-mqtt.js");
initTestHelper(helper);

const LOCK = "3E63C84D"; // bridge + web
const LOCK_ID = 1046726733;
const BACK = "5C0FFEE1"; // Wi-Fi lock: web + MQTT, no bridge
const OPENER = "1A2B3C4D";
const SECRET = "Wq0dV2bK9xY3mN8pL5rS7wZ1";
const WEB_TOKEN = "web-api-token";
const ANNA = "65219648fe57075d71a6cb01";

let RED;
const wrapped = function (red) {
  RED = red;
  return nukiNodes(red);
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

const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

describe("nuki nodes: Nuki Web and MQTT channels", function () {
  this.timeout(30000);
  let web;
  let bridge;
  let broker;
  let httpServer;
  let nodeBase;

  beforeEach(async () => {
    web = new NukiWebSimulator({ token: WEB_TOKEN, allowHttpWebhooks: true, actionMs: 50, logDelayMs: 30 });
    await web.start();
    await new Promise((resolve) => helper.startServer(resolve));
  });

  afterEach(async () => {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    if (httpServer) await new Promise((resolve) => httpServer.close(resolve));
    httpServer = null;
    await web.stop();
    if (bridge) await bridge.stop();
    bridge = null;
    if (broker) await broker.stop();
    broker = null;
  });

  /** Serves RED.httpNode on a loopback port (RED is known after the first load; 503 until then). */
  async function serveHttpNodeFirst() {
    if (httpServer) return;
    httpServer = http.createServer((req, res) => (RED ? RED.httpNode(req, res) : res.writeHead(503).end()));
    await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    nodeBase = `http://127.0.0.1:${httpServer.address().port}`;
  }

  /** Loads config + flow; `channels` picks bridge / web (with or without webhooks) / mqtt. */
  async function load(flow, { withBridge = false, webhooks = true, mqtt = false, configExtra = {} } = {}) {
    const nodes = [wrapped, mqttNodes];
    const config = { id: "cfg", type: "nuki-config", webApiUrl: web.url, webhookUrl: "", ...configExtra };
    const credentials = { cfg: { webToken: WEB_TOKEN, routeSecret: SECRET } };
    const extra = [];
    if (withBridge) {
      bridge = new NukiBridgeSimulator({ busyMs: 5, actionMs: 50 });
      await bridge.start();
      Object.assign(config, { host: "127.0.0.1", port: bridge.url.split(":").pop(), auth: "plain" });
      credentials.cfg.token = bridge.token;
    }
    if (mqtt) {
      broker = new NukiMqttSimulator({ actionMs: 50 });
      await broker.start();
      config.mqttBroker = "broker";
      extra.push({ id: "broker", type: "mqtt-broker", broker: "127.0.0.1", port: String(broker.port), clientid: "", autoConnect: true, usetls: false, protocolVersion: "4", keepalive: "60", cleansession: true });
    }
    // The webhook base must be known before the flow starts.
    await serveHttpNodeFirst();
    if (webhooks) config.webhookUrl = nodeBase;
    if (withBridge) config.callbackUrl = nodeBase;
    await helper.load(nodes, [config, ...extra, ...flow], credentials);
  }

  const listener = (id, extra = {}) => [
    { id, type: "nuki-events", config: "cfg", wires: [[`${id}-out`]], ...extra },
    { id: `${id}-out`, type: "helper" },
  ];

  function collect(id) {
    const messages = [];
    helper.getNode(id).on("input", (msg) => messages.push(msg));
    return messages;
  }

  const ours = () => web.webhooks.filter((w) => w.webhookUrl.includes(`/smartlocks/nuki/${SECRET}/`));

  it("registers one decentral webhook for status, logs and auths, keeps others', and removes its own with the listener", async () => {
    const foreign = web.addForeignWebhook("https://other.example.com/hook", ["DEVICE_STATUS"]);
    const staleOfOurs = web.addForeignWebhook(`https://old.example.com/smartlocks/nuki/${SECRET}/web`, ["DEVICE_STATUS"]);
    await load(listener("ev"));
    const messages = collect("ev-out");
    await waitUntil(() => ours().length === 1 && ours()[0].webhookUrl.startsWith(nodeBase), 5000, "registration");
    assert.equal(ours()[0].webhookUrl, `${nodeBase}/smartlocks/nuki/${SECRET}/web`);
    assert.deepEqual(ours()[0].webhookFeatures, ["DEVICE_STATUS", "DEVICE_LOGS", "DEVICE_AUTHS"]);
    assert.ok(!web.webhooks.some((w) => w.id === staleOfOurs.id), "stale webhook of ours deleted");
    assert.ok(web.webhooks.some((w) => w.id === foreign.id), "foreign webhook kept");
    await waitUntil(() => messages.filter((m) => m.payload.event === "device.state").length === 3, 5000, "snapshots");
    const back = messages.find((m) => m.payload.device.id === BACK);
    assert.equal(back.payload.channel, "web");
    assert.equal(back.payload.device.name, "Back door");
    assert.equal(back.payload.lock, "locked");
    assert.equal(messages.find((m) => m.payload.device.id === OPENER).payload.device.type, "opener");
    const warnings = helper.getNode("cfg").warn.args.map((a) => String(a[0]));
    assert.ok(!warnings.some((w) => w.includes(web.webhooks.find((h) => h.webhookUrl.includes(SECRET)).secret)), "secret never logged");

    await helper.setFlows([{ id: "cfg", type: "nuki-config", webApiUrl: web.url, webhookUrl: nodeBase }], "full", { cfg: { webToken: WEB_TOKEN, routeSecret: SECRET } });
    await waitUntil(() => ours().length === 0, 5000, "webhook removed with the listener");
    assert.ok(web.webhooks.some((w) => w.id === foreign.id));
  });

  it("keeps its webhook across a redeploy (sealed secret carried over) and never stacks registrations", async () => {
    await load(listener("ev"));
    await waitUntil(() => ours().length === 1, 5000, "registration");
    const first = ours()[0].id;
    const flow = [{ id: "cfg", type: "nuki-config", webApiUrl: web.url, webhookUrl: nodeBase }, ...listener("ev")];
    await helper.setFlows(flow, "full", { cfg: { webToken: WEB_TOKEN, routeSecret: SECRET } });
    await helper.setFlows(flow, "full", { cfg: { webToken: WEB_TOKEN, routeSecret: SECRET } });
    await settle(500);
    assert.deepEqual(ours().map((w) => w.id), [first], "the same webhook, reused");
    assert.equal(web.stats.byRoute["PUT /api/decentralWebhook"], 1, "registered once");
    const messages = collect("ev-out");
    await web.door(BACK, true);
    await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"), 5000, "delivery verified with the kept secret");
  });

  it("answers 401 to missing and wrong signatures and 400 to malformed bodies, emitting nothing", async () => {
    await load(listener("ev"));
    const messages = collect("ev-out");
    await waitUntil(() => ours().length === 1 && messages.length === 3, 5000, "ready");
    const route = `/smartlocks/nuki/${SECRET}/web`;
    const secret = ours()[0].secret;
    const body = JSON.stringify({ feature: "DEVICE_STATUS", smartlockId: web.smartlockIdOf(BACK), state: { state: 3 }, serverState: 0 });
    await request(RED.httpNode).post(route).set("content-type", "application/json").send(body).expect(401);
    await request(RED.httpNode).post(route).set("content-type", "application/json").set("X-Nuki-Signature-SHA256", sign(body, "wrong")).send(body).expect(401);
    await request(RED.httpNode).post(route).set("content-type", "application/json").set("X-Nuki-Signature-SHA256", sign(body + " ", secret)).send(body).expect(401);
    await request(RED.httpNode).post(route).set("content-type", "application/json").set("X-Nuki-Signature-SHA256", sign("{nope", secret)).send("{nope").expect(400);
    const odd = JSON.stringify({ feature: "DEVICE_STATUS", smartlockId: "x" });
    await request(RED.httpNode).post(route).set("content-type", "application/json").set("X-Nuki-Signature-SHA256", sign(odd, secret)).send(odd).expect(400);
    await request(RED.httpNode).post(`/smartlocks/nuki/${SECRET.replace(/^./, "X")}/web`).send(body).expect(404);
    await settle();
    assert.equal(messages.length, 3, "nothing from rejected webhooks");
    await request(RED.httpNode).post(route).set("content-type", "application/json").set("X-Nuki-Signature-SHA256", sign(body, secret)).send(body).expect(200);
    const unlocked = await waitUntil(() => messages.find((m) => m.payload.event === "lock.unlocked"));
    assert.equal(unlocked.payload.device.id, BACK);
    assert.equal(unlocked.payload.channel, "web");
    await request(RED.httpNode).post(route).set("content-type", "application/json").set("X-Nuki-Signature-SHA256", sign(body, secret)).send(body).expect(200);
    await settle();
    assert.equal(messages.filter((m) => m.payload.event === "lock.unlocked").length, 1, "repeated delivery, one event");
  });

  it("turns logs into actors: keypad follow-up, access.denied, door, current names from DEVICE_AUTHS", async () => {
    await load(listener("ev"));
    const messages = collect("ev-out");
    await waitUntil(() => ours().length === 1 && messages.length === 3, 5000, "ready");
    await web.keypadUnlock(LOCK, ANNA);
    const follow = await waitUntil(() => messages.find((m) => m.payload.update));
    const first = messages.find((m) => m.payload.event === "lock.unlocked" && !m.payload.update);
    assert.equal(first.payload.actor, null, "the status webhook came first, without actor");
    assert.equal(follow.payload.id, first.payload.id);
    assert.equal(follow.payload.event, "lock.unlocked");
    assert.deepEqual(follow.payload.actor, { type: "keypad", id: ANNA, name: "Anna" });
    assert.equal(follow.topic, `nuki/${LOCK}/lock.unlocked`);

    await web.failedAttempt(LOCK, { fingerprint: true });
    const denied = await waitUntil(() => messages.find((m) => m.payload.event === "access.denied"));
    assert.equal(denied.payload.actor.type, "fingerprint");

    await web.renameAuth(ANNA, "Anna B.");
    await web.happen(LOCK, { action: 2, trigger: 0, authId: ANNA, statusFirst: false });
    const locked = await waitUntil(() => messages.find((m) => m.payload.event === "lock.locked"));
    assert.deepEqual(locked.payload.actor, { type: "keypad", id: ANNA, name: "Anna B." }, "log first: the event itself carries the actor");
    await settle();
    assert.equal(messages.filter((m) => m.payload.event === "lock.locked").length, 1, "the later status adds nothing");

    await web.door(LOCK, true);
    await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"));
    await settle();
    assert.equal(messages.filter((m) => m.payload.event === "door.opened").length, 1, "status and door log: one event");
    await web.ring(OPENER);
    const rang = await waitUntil(() => messages.find((m) => m.payload.event === "doorbell.rang"));
    assert.equal(rang.payload.device.id, OPENER);
  });

  it("bridge + web: one device id, one event for a transition seen twice, a follow-up, and actorWait holding it", async () => {
    await load([...listener("fast"), ...listener("held", { actorWait: 3000 })], { withBridge: true });
    const fast = collect("fast-out");
    const held = collect("held-out");
    await waitUntil(() => bridge.callbacks.length === 1 && ours().length === 1, 5000, "both registrations");
    await waitUntil(() => fast.filter((m) => m.payload.event === "device.state").length >= 3, 5000, "snapshots");
    await bridge.unlock(LOCK_ID);
    await waitUntil(() => fast.find((m) => m.payload.event === "lock.unlocked"), 5000, "bridge event");
    // The cloud reports the same unlock (status, then the log with the actor).
    await web.keypadUnlock(LOCK, ANNA);
    const follow = await waitUntil(() => fast.find((m) => m.payload.update), 5000, "follow-up");
    const unlocked = fast.filter((m) => m.payload.event === "lock.unlocked");
    assert.equal(unlocked.length, 2, "the event and its follow-up");
    assert.equal(unlocked[0].payload.channel, "bridge");
    assert.equal(unlocked[0].payload.device.id, LOCK);
    assert.equal(follow.payload.id, unlocked[0].payload.id);
    assert.equal(follow.payload.actor.name, "Anna");
    const heldUnlock = await waitUntil(() => held.find((m) => m.payload.event === "lock.unlocked"), 5000, "held event");
    assert.equal(heldUnlock.payload.actor.name, "Anna", "held until the actor came");
    assert.equal(heldUnlock.payload.update, undefined);
    assert.equal(heldUnlock.payload.id, unlocked[0].payload.id);
    await settle(300);
    assert.equal(held.filter((m) => m.payload.event === "lock.unlocked").length, 1, "sent once");
    // A happening no actor comes for is released at the deadline.
    await bridge.lock(LOCK_ID);
    await waitUntil(() => held.find((m) => m.payload.event === "lock.locked"), 6000, "released without actor");
  });

  it("runs actions through the Web API for devices without a bridge, confirmed by the webhook", async () => {
    const flow = [
      { id: "tab", type: "tab" },
      { id: "ev", type: "nuki-events", z: "tab", config: "cfg", wires: [[]] },
      { id: "act", type: "nuki-action", z: "tab", config: "cfg", timeout: 3, wires: [["res"]] },
      { id: "res", type: "helper", z: "tab" },
      { id: "catcher", type: "catch", z: "tab", scope: ["act"], uncaught: false, wires: [["err"]] },
      { id: "err", type: "helper", z: "tab" },
    ];
    await load(flow);
    await waitUntil(() => ours().length === 1, 5000, "registration");
    const results = collect("res");
    const errors = collect("err");
    const act = helper.getNode("act");
    act.receive({ payload: { action: "unlock", device: BACK } });
    await waitUntil(() => results.length === 1, 5000, "unlock");
    assert.deepEqual(results[0].payload, { ok: true, vendor: "nuki", device: BACK, action: "unlock", confirmed: true, lock: "unlocked", door: "closed" });
    act.receive({ payload: { action: "continuous_mode_on", device: OPENER } });
    await waitUntil(() => results.length === 2, 5000, "continuous mode");
    assert.equal(results[1].payload.confirmed, true);
    const actions = web.requests.filter((r) => r.method === "POST" && r.path.endsWith("/action"));
    assert.deepEqual(actions.map((r) => [r.path, r.body.action]), [
      [`/smartlock/${web.smartlockIdOf(BACK)}/action`, 1],
      [`/smartlock/${web.smartlockIdOf(OPENER)}/action`, 6],
    ], "the Web API's Opener continuous-mode code is 6");
    act.receive({ payload: { action: "lock_n_go", device: OPENER } });
    act.receive({ payload: { action: "unlock", device: "00ABCDEF" } });
    await waitUntil(() => errors.length === 2, 5000, "errors");
    assert.deepEqual(errors.map((m) => m.error.code).sort(), ["not_found", "unsupported"]);
  });

  for (const webhooks of [false, true]) {
  it(`without webhooks (${webhooks ? "no listener" : "no webhook URL"}) confirms an action by reading the lock once`, async () => {
    const flow = [
      { id: "act", type: "nuki-action", config: "cfg", timeout: 1, wires: [["res"]] },
      { id: "res", type: "helper" },
    ];
    await load(flow, { webhooks });
    const results = collect("res");
    helper.getNode("act").receive({ payload: { action: "unlock", device: BACK } });
    await waitUntil(() => results.length === 1, 5000, "result");
    assert.equal(results[0].payload.confirmed, true);
    assert.equal(results[0].payload.lock, "unlocked");
    assert.equal(web.webhooks.length, 0, "no webhook registered");
    assert.equal(web.stats.byRoute["GET /smartlock/:id"], 1, "read once");
  });
  }

  it("replaces a webhook at our URL whose secret it does not know (e.g. after a restart without persistent context)", async () => {
    await serveHttpNodeFirst();
    const unknown = web.addForeignWebhook(`${nodeBase}/smartlocks/nuki/${SECRET}/web`, ["DEVICE_STATUS", "DEVICE_LOGS", "DEVICE_AUTHS"]);
    await load(listener("ev"));
    await waitUntil(() => ours().length === 1 && ours()[0].id !== unknown.id, 5000, "re-registration");
    const messages = collect("ev-out");
    await web.door(BACK, true);
    await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"), 5000, "verified with the new secret");
  });

  it("refused webhooks (no Advanced API) give a red status and a warning, actions still work", async () => {
    await web.stop();
    web = new NukiWebSimulator({ token: WEB_TOKEN, advancedApi: false, actionMs: 50 });
    await web.start();
    await load([...listener("ev"), { id: "act", type: "nuki-action", config: "cfg", timeout: 1, wires: [["res"]] }, { id: "res", type: "helper" }]);
    const ev = helper.getNode("ev");
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "red" && /webhooks refused/.test(a[0].text)), 5000, "red status");
    assert.ok(helper.getNode("cfg").warn.args.some((a) => /Advanced API/.test(String(a[0]))));
    const results = collect("res");
    helper.getNode("act").receive({ payload: { action: "unlock", device: BACK } });
    await waitUntil(() => results.length === 1, 5000, "result");
    assert.equal(results[0].payload.confirmed, true, "confirmed by reading the lock");
  });

  it("MQTT: events from the lock's topics with actors named through the Web API, and actions over lockAction", async () => {
    const flow = [
      ...listener("ev"),
      { id: "act", type: "nuki-action", config: "cfg", timeout: 5, wires: [["res"]] },
      { id: "res", type: "helper" },
    ];
    await load(flow, { mqtt: true, webhooks: false });
    const messages = collect("ev-out");
    const results = collect("res");
    await waitUntil(() => broker.clients >= 1, 5000, "mqtt-broker node connected");
    await waitUntil(() => messages.some((m) => m.payload.device.id === BACK && m.payload.event === "device.state"), 5000, "snapshot");
    // Names come from the Web API's authorizations (read at start).
    await settle(300);
    await broker.keypad(BACK, { authId: 195249, codeId: 8193, fingerprint: true, action: 3 });
    const unlatching = await waitUntil(() => messages.find((m) => m.payload.event === "lock.unlatching"), 5000, "unlatching");
    assert.equal(unlatching.payload.channel, "mqtt");
    assert.equal(unlatching.payload.device.id, BACK);
    assert.deepEqual(unlatching.payload.actor, { type: "fingerprint", id: "195249", name: "Carla" });
    await waitUntil(() => messages.find((m) => m.payload.event === "lock.unlocked"), 5000, "unlocked");
    await broker.door(BACK, true);
    await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"), 5000, "door");

    helper.getNode("act").receive({ payload: { action: "lock", device: BACK } });
    await waitUntil(() => results.length === 1, 5000, "action result");
    assert.deepEqual(results[0].payload, { ok: true, vendor: "nuki", device: BACK, action: "lock", confirmed: true, lock: "locked", door: "open" });
    assert.deepEqual(broker.published.filter((p) => p.topic.endsWith("/lockAction")).map((p) => [p.topic, p.payload, p.qos, p.retain]), [[`nuki/${BACK}/lockAction`, "2", 2, false]]);
    assert.equal(web.requests.filter((r) => r.path.endsWith("/action")).length, 0, "MQTT, not the cloud");
    const locked = messages.find((m) => m.payload.event === "lock.locked");
    assert.equal(locked.payload.actor.type, "remote");
  });
});
