"use strict";
// End to end: a real Node-RED process with the packed package, one start for the whole file. The config node
// uses all three Nuki channels at once: the bridge simulator (callbacks), the Nuki Web simulator (decentral
// webhook, signed deliveries to Node-RED's own HTTP server, Web API actions) and an aedes broker with a
// simulated Smart Lock 4th generation behind a core mqtt-broker node. Events are collected through core
// `http request` nodes; actions go through `http in` -> nuki-action -> `http response` with a Catch node.
// Nuki's cloud only calls https URLs; the simulator is told to accept the loopback http base for the test.
const assert = require("node:assert/strict");
const { packPackage, createUserDir, startNodeRed, startCollector } = require("./harness");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");
const { NukiWebSimulator, sign, defaultDevices } = require("../simulators/nuki-web");
const { NukiMqttSimulator } = require("../simulators/nuki-mqtt");

const LOCK = "3E63C84D"; // bridge + web
const LOCK_ID = 1046726733;
const BACK = "5C0FFEE1"; // Wi-Fi lock: MQTT + web
const GARAGE = "6A6A6A6A"; // web only
const SECRET = "e2eWebRouteSecret_0123456789";
const TOKEN = "e2e-bridge-token";
const WEB_TOKEN = "e2e-web-api-token";
const ANNA = "65219648fe57075d71a6cb01";

function flows({ bridgePort, webUrl, mqttPort, nodeBase, collectorUrl }) {
  const post = (id, path) => [
    { id: `${id}-wrap`, type: "function", z: "tab1", func: "msg.payload = { topic: msg.topic, event: msg.payload };\nreturn msg;", outputs: 1, wires: [[`${id}-post`]] },
    { id: `${id}-post`, type: "http request", z: "tab1", method: "POST", ret: "txt", paytoqs: "ignore", url: `${collectorUrl}/${path}`, wires: [[]] },
  ];
  return [
    { id: "tab1", type: "tab", label: "nuki web + mqtt e2e" },
    { id: "broker", type: "mqtt-broker", name: "test broker", broker: "127.0.0.1", port: String(mqttPort), clientid: "", autoConnect: true, usetls: false, protocolVersion: "4", keepalive: "60", cleansession: true },
    {
      id: "cfg", type: "nuki-config", name: "all channels", host: "127.0.0.1", port: bridgePort, auth: "encrypted", callbackUrl: "",
      webApiUrl: webUrl, webhookUrl: nodeBase, mqttBroker: "broker", mqttTopic: "nuki",
      credentials: { token: TOKEN, webToken: WEB_TOKEN, routeSecret: SECRET },
    },
    { id: "fast", type: "nuki-events", z: "tab1", config: "cfg", devices: [], events: [], actorWait: 0, wires: [["fast-wrap"]] },
    ...post("fast", "events"),
    { id: "held", type: "nuki-events", z: "tab1", config: "cfg", devices: [], events: ["lock."], actorWait: 3000, wires: [["held-wrap"]] },
    ...post("held", "held"),
    { id: "in", type: "http in", z: "tab1", url: "/test/action", method: "post", wires: [["act"]] },
    { id: "act", type: "nuki-action", z: "tab1", config: "cfg", device: "", action: "", confirm: true, timeout: 8, wires: [["out"]] },
    { id: "out", type: "http response", z: "tab1", statusCode: "", wires: [] },
    { id: "catcher", type: "catch", z: "tab1", scope: ["act"], uncaught: false, wires: [["err"]] },
    { id: "err", type: "change", z: "tab1", rules: [
      { t: "set", p: "payload", pt: "msg", to: "error", tot: "msg" },
      { t: "set", p: "statusCode", pt: "msg", to: "500", tot: "num" },
    ], wires: [["out"]] },
  ];
}

async function waitUntil(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("Nuki Web and MQTT end to end (bridge + web + mqtt on one config node)", function () {
  this.timeout(120000);
  let bridge;
  let web;
  let broker;
  let red;
  let collector;
  let foreign;
  let options;
  const at = (path) => collector.received.filter((r) => r.path === `/${path}`).map((r) => r.body.event);
  const waitEvent = (path, match, what) =>
    collector.waitFor((r) => r.path === `/${path}` && match(r.body.event), 10000).then((r) => r.body.event, (err) => {
      throw new Error(`${what}: ${err.message}`);
    });
  const ours = () => web.webhooks.filter((w) => w.webhookUrl.includes(`/smartlocks/nuki/${SECRET}/`));
  const act = async (payload) => {
    const res = await fetch(`${red.nodeUrl}test/action`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
    return { status: res.status, body: await res.json() };
  };
  const postWebhook = (body, signature) =>
    fetch(`${red.nodeUrl}smartlocks/nuki/${SECRET}/web`, {
      method: "POST",
      headers: { "Content-Type": "application/json; charset=UTF-8", ...(signature ? { "X-Nuki-Signature-SHA256": signature } : {}) },
      body,
    }).then((res) => res.status);

  before(async function () {
    bridge = new NukiBridgeSimulator({ token: TOKEN, busyMs: 20, actionMs: 100 });
    await bridge.start();
    web = new NukiWebSimulator({
      token: WEB_TOKEN,
      allowHttpWebhooks: true,
      actionMs: 80,
      logDelayMs: 40,
      devices: [...defaultDevices(), { nukiId: 0x6a6a6a6a, type: 4, name: "Garage", state: { mode: 2, state: 1, batteryCritical: false, batteryCharge: 90, doorState: 2 } }],
    });
    await web.start();
    foreign = web.addForeignWebhook("https://another-app.example.com/nuki", ["DEVICE_LOGS"]);
    broker = new NukiMqttSimulator({ actionMs: 80 });
    await broker.start();
    collector = await startCollector();
    red = await startNodeRed({ userDir: await createUserDir(await packPackage()) });
    options = { bridgePort: bridge.url.split(":").pop(), webUrl: web.url, mqttPort: broker.port, nodeBase: red.url, collectorUrl: collector.url };
    await red.deployFlows(flows(options));
  });

  after(async function () {
    if (red) await red.stop();
    if (collector) await collector.close();
    for (const sim of [bridge, web, broker]) if (sim) await sim.stop();
  });

  it("registers exactly one bridge callback and one decentral webhook, leaving another application's alone", async function () {
    await waitUntil(() => bridge.callbacks.length === 1 && ours().length === 1 && broker.clients >= 1, 15000, "registrations");
    assert.equal(ours()[0].webhookUrl, `${red.url}/smartlocks/nuki/${SECRET}/web`);
    assert.deepEqual(ours()[0].webhookFeatures, ["DEVICE_STATUS", "DEVICE_LOGS", "DEVICE_AUTHS"]);
    assert.ok(web.webhooks.some((w) => w.id === foreign.id));
    for (const id of [LOCK, BACK, GARAGE]) await waitEvent("events", (e) => e.event === "device.state" && e.device.id === id, `snapshot of ${id}`);
  });

  it("answers 401 to missing and wrong signatures and emits nothing for them; a signed delivery is an event", async function () {
    const body = JSON.stringify({ feature: "DEVICE_STATUS", smartlockId: web.smartlockIdOf(GARAGE), state: { state: 254 }, serverState: 0 });
    assert.equal(await postWebhook(body, null), 401);
    assert.equal(await postWebhook(body, sign(body, "not-the-secret")), 401);
    const good = sign(body, ours()[0].secret);
    assert.equal(await postWebhook(body, good.slice(0, -1) + (good.endsWith("0") ? "1" : "0")), 401, "one hex digit off");
    assert.equal(await postWebhook("{not json", sign("{not json", ours()[0].secret)), 400);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(at("events").filter((e) => e.event === "lock.jammed").length, 0, "nothing emitted");
    assert.equal(await postWebhook(body, sign(body, ours()[0].secret)), 200);
    const jam = await waitEvent("events", (e) => e.event === "lock.jammed", "signed delivery");
    assert.equal(jam.device.id, GARAGE);
    assert.equal(jam.channel, "web");
  });

  it("one device id across channels, one event for an unlock seen twice, a follow-up with the actor, actorWait sends it once", async function () {
    await bridge.unlock(LOCK_ID);
    const first = await waitEvent("events", (e) => e.event === "lock.unlocked" && e.device.id === LOCK, "bridge unlock");
    assert.equal(first.channel, "bridge");
    assert.equal(first.actor, null);
    await web.keypadUnlock(LOCK, ANNA); // DEVICE_STATUS (unlocked) then DEVICE_LOGS (Anna, keypad)
    const follow = await waitEvent("events", (e) => e.update === true && e.device.id === LOCK, "follow-up");
    assert.equal(follow.id, first.id);
    assert.equal(follow.event, "lock.unlocked");
    assert.deepEqual(follow.actor, { type: "keypad", id: ANNA, name: "Anna" });
    const held = await waitEvent("held", (e) => e.event === "lock.unlocked" && e.device.id === LOCK, "held event");
    assert.equal(held.id, first.id);
    assert.equal(held.actor.name, "Anna");
    assert.equal(held.update, undefined);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(at("events").filter((e) => e.event === "lock.unlocked" && e.device.id === LOCK && !e.update).length, 1, "one event for the transition");
    assert.equal(at("held").filter((e) => e.event === "lock.unlocked" && e.device.id === LOCK).length, 1, "held: sent once");
  });

  it("runs a Web API action for a device without bridge or MQTT, confirmed by the webhook", async function () {
    const unlock = await act({ action: "unlock", device: GARAGE });
    assert.equal(unlock.status, 200);
    assert.deepEqual(unlock.body, { ok: true, vendor: "nuki", device: GARAGE, action: "unlock", confirmed: true, lock: "unlocked", door: "closed" });
    const posted = web.requests.filter((r) => r.method === "POST" && r.path === `/smartlock/${web.smartlockIdOf(GARAGE)}/action`);
    assert.deepEqual(posted.map((r) => r.body), [{ action: 1 }]);
    const missing = await act({ action: "unlock", device: "00ABCDEF" });
    assert.equal(missing.status, 500);
    assert.equal(missing.body.code, "not_found");
  });

  it("MQTT: events with actors named through the Web API, and an action over lockAction confirmed by the lock", async function () {
    await broker.keypad(BACK, { action: 3, authId: 195249, codeId: 8193, fingerprint: true });
    const unlatching = await waitEvent("events", (e) => e.event === "lock.unlatching" && e.device.id === BACK, "mqtt unlatching");
    assert.equal(unlatching.channel, "mqtt");
    assert.deepEqual(unlatching.actor, { type: "fingerprint", id: "195249", name: "Carla" });
    await broker.door(BACK, true);
    await waitEvent("events", (e) => e.event === "door.opened" && e.device.id === BACK, "mqtt door");
    const lock = await act({ action: "lock", device: BACK });
    assert.deepEqual(lock.body, { ok: true, vendor: "nuki", device: BACK, action: "lock", confirmed: true, lock: "locked", door: "open" });
    assert.deepEqual(broker.published.filter((p) => p.topic.endsWith("/lockAction")).map((p) => [p.topic, p.payload, p.retain]), [[`nuki/${BACK}/lockAction`, "2", false]]);
    assert.equal(web.requests.filter((r) => r.path === `/smartlock/${web.smartlockIdOf(BACK)}/action`).length, 0, "not through the cloud");
  });

  it("keeps tokens and secrets out of the flows and the log", async function () {
    const text = JSON.stringify(await red.getFlows());
    const webhookSecret = ours()[0].secret;
    for (const secret of [TOKEN, WEB_TOKEN, SECRET, webhookSecret]) {
      assert.ok(!text.includes(secret), "not in the flows");
      assert.ok(!red.logs.some((line) => line.includes(secret)), "not in the log");
    }
  });

  it("leaks no callback or webhook across redeploys and removes its own when the nodes are deleted", async function () {
    await red.deployFlows(flows(options));
    await red.deployFlows(flows(options));
    await waitUntil(() => bridge.callbacks.length === 1 && ours().length === 1, 15000, "one of each after redeploys");
    await new Promise((r) => setTimeout(r, 1500)); // past the post-deploy webhook check
    assert.equal(ours().length, 1);
    const before = collector.received.length;
    await web.door(GARAGE, true);
    await collector.waitFor((r) => collector.received.indexOf(r) >= before && r.body.event && r.body.event.event === "door.opened" && r.body.event.device.id === GARAGE, 10000);
    await red.deployFlows([{ id: "tab1", type: "tab", label: "empty" }]);
    await waitUntil(() => bridge.callbacks.length === 0 && ours().length === 0, 15000, "removal");
    assert.ok(web.webhooks.some((w) => w.id === foreign.id), "the other application's webhook stays");
    const res = await fetch(`${red.nodeUrl}smartlocks/nuki/${SECRET}/web`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.equal(res.status, 404);
  });
});
