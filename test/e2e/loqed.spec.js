"use strict";
// End to end: a real Node-RED process with the packed package (one start for the whole file), talking to the
// LOQED bridge and cloud simulators over real HTTP on 127.0.0.1, with the callback URL auto-detected.
const assert = require("node:assert/strict");
const { packPackage, createUserDir, startNodeRed, startCollector } = require("./harness");
const { LoqedBridgeSimulator, LoqedCloudSimulator } = require("../simulators/loqed-bridge");

const SECRET = "e2eLoqedSecret_0123456789ab";
const BRIDGE_KEY = "Ym9uam91ciBtb25kZQ==";
const KEY_SECRET = "SGFsbG8gd2VyZWxk";
const CLOUD_TOKEN = "e2e-cloud-pat-token";
const MAC = "aabbccddeeff";
const OTHER = "http://192.168.1.99:8000/other-app";

function flows(sim, collectorUrl, extra = {}) {
  return [
    { id: "tab1", type: "tab", label: "loqed e2e" },
    {
      id: "cfg", type: "loqed-config", name: "Front door", host: "127.0.0.1", port: sim.port, keyId: 1, lockId: "", callbackUrl: "",
      keyNames: "1=Node-RED\n3=Jane", timestampWindow: 20, allowMissingTimestamp: false,
      credentials: { bridgeKey: BRIDGE_KEY, keySecret: KEY_SECRET, cloudToken: CLOUD_TOKEN, routeSecret: SECRET }, ...extra,
    },
    { id: "ev", type: "loqed-events", z: "tab1", config: "cfg", devices: [], events: [], wires: [["wrap"]] },
    { id: "wrap", type: "function", z: "tab1", func: "msg.payload = { topic: msg.topic, event: msg.payload };\nreturn msg;", outputs: 1, wires: [["post"]] },
    { id: "post", type: "http request", z: "tab1", method: "POST", ret: "txt", paytoqs: "ignore", url: `${collectorUrl}/events`, wires: [[]] },
    { id: "in", type: "http in", z: "tab1", url: "/test/action", method: "post", wires: [["act"]] },
    { id: "act", type: "loqed-action", z: "tab1", config: "cfg", device: "", action: "", confirm: true, timeout: 5, wires: [["out"]] },
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

/** Identical webhook bodies signed within one second are one delivery (same TIMESTAMP and HASH): start a new second. */
const nextSecond = () => new Promise((r) => setTimeout(r, 1020 - (Date.now() % 1000)));

describe("LOQED end to end (real Node-RED, bridge and cloud simulators)", function () {
  this.timeout(90000);
  let sim;
  let cloud;
  let red;
  let collector;
  let mark = 0;
  const since = () => collector.received.slice(mark).filter((r) => r.path === "/events").map((r) => r.body.event);
  const eventOf = (name) => collector.waitFor((r) => collector.received.indexOf(r) >= mark && r.path === "/events" && r.body.event.event === name, 10000).then((r) => r.body.event);
  const act = async (payload) => {
    const res = await fetch(`${red.nodeUrl}test/action`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
    return { status: res.status, body: await res.json() };
  };
  const ours = () => sim.webhooks.filter((w) => w.url.includes(`/smartlocks/loqed/${SECRET}/`));

  before(async function () {
    sim = new LoqedBridgeSimulator({ bridgeKey: BRIDGE_KEY, keys: { 1: KEY_SECRET }, bolt: "night_lock" });
    await sim.start();
    sim.webhooks.push({ id: 77, url: OTHER, trigger_battery: 0 });
    cloud = new LoqedCloudSimulator({ token: CLOUD_TOKEN });
    await cloud.start();
    collector = await startCollector();
    red = await startNodeRed({ userDir: await createUserDir(await packPackage()) });
    cloud.webhookUrls = [`${red.nodeUrl}smartlocks/loqed/${SECRET}/cloud`];
    await red.deployFlows(flows(sim, collector.url));
  });

  after(async function () {
    if (red) await red.stop();
    if (collector) await collector.close();
    if (sim) await sim.stop();
    if (cloud) await cloud.stop();
  });

  it("registers exactly one auto-detected webhook with all triggers and reports the /status snapshot", async function () {
    await waitUntil(() => ours().length === 1, 15000, "webhook registration");
    assert.equal(ours()[0].url, `http://127.0.0.1:${red.port}/smartlocks/loqed/${SECRET}/bridge`);
    assert.ok(sim.webhooks.some((w) => w.url === OTHER), "another application's webhook is kept");
    const state = await eventOf("device.state");
    assert.equal(state.device.id, MAC);
    assert.equal(state.lock, "locked");
    assert.equal(state.battery.level, 78);
  });

  it("maps every webhook family: going to, reached, jam, battery, online/signal, unknown", async function () {
    mark = collector.received.length;
    sim.twistAssist("day_lock");
    assert.deepEqual((await eventOf("lock.unlocking")).actor, { type: "manual", id: null, name: null });
    await eventOf("lock.unlocked");
    await nextSecond();
    sim.keypadOpen(3);
    assert.deepEqual((await eventOf("lock.unlatched")).actor, { type: "keypad", id: "3", name: "Jane" });
    await waitUntil(() => since().filter((e) => e.event === "lock.unlocked").length === 2, 10000, "automatic return");
    assert.equal(since().filter((e) => e.event === "lock.unlocked")[1].actor.type, "auto");
    sim.bleAction("night_lock", 3);
    assert.deepEqual((await eventOf("lock.locked")).actor, { type: "app", id: "3", name: "Jane" });
    await sim.motorStall();
    await eventOf("lock.jammed");
    await sim.setBattery(11);
    assert.deepEqual((await eventOf("battery.low")).battery, { critical: true, level: 11, charging: null });
    await sim.setLockOnline(false);
    await eventOf("device.offline");
    await sim.send({ event_type: "GO_TO_STATE_SOMETHING_NEW", key_local_id: "3", mac_wifi: MAC });
    await sim.send({ event_type: "PARTY_MODE", key_local_id: "", mac_wifi: MAC });
    assert.equal((await eventOf("loqed.event")).raw.event_type, "PARTY_MODE");
    for (const e of since()) assert.equal(e.channel, "bridge");
  });

  it("refuses bad hashes, stale timestamps and a missing TIMESTAMP (default) with 401 and emits nothing", async function () {
    await sim.idle();
    await new Promise((r) => setTimeout(r, 200));
    mark = collector.received.length;
    const body = { requested_state: "NIGHT_LOCK", event_type: "STATE_CHANGED_NIGHT_LOCK", key_local_id: 255, mac_wifi: MAC };
    const ourStatus = (results) => results.find((r) => r.url.includes(SECRET)).status;
    assert.equal(ourStatus(await sim.send(body, { badHash: true })), 401);
    assert.equal(ourStatus(await sim.send(body, { clockSkewS: -45 })), 401);
    const missing = (await sim.send(body, { omitTimestamp: true })).find((r) => r.url.includes(SECRET));
    assert.equal(missing.status, 401);
    assert.match(missing.text, /TIMESTAMP header missing/);
    await red.waitForLog(/TIMESTAMP header missing/, 5000);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(since(), []);
  });

  it("runs actions confirmed by webhooks with our key, and reports failures with contract codes", async function () {
    const unlock = await act({ action: "unlock" });
    assert.equal(unlock.status, 200, JSON.stringify(unlock.body));
    assert.deepEqual(unlock.body, { ok: true, vendor: "loqed", device: MAC, action: "unlock", confirmed: true, lock: "unlocked", door: null });
    const open = await act({ action: "open" });
    assert.equal(open.body.confirmed, true);
    const lock = await act({ action: "lock", device: MAC });
    assert.equal(lock.body.lock, "locked");
    const decoded = sim.commands.map((c) => [c.valid, c.decoded.keyId, c.decoded.action]);
    assert.deepEqual(decoded, [[true, 1, 2], [true, 1, 1], [true, 1, 3]]);
    const unsupported = await act({ action: "lock_n_go" });
    assert.equal(unsupported.status, 500);
    assert.equal(unsupported.body.code, "unsupported");
    const other = await act({ action: "lock", device: "001122334455" });
    assert.equal(other.body.code, "not_found");
  });

  it("takes cloud webhooks on the secret route: both e-mail spellings, numeric lock id, duplicates once", async function () {
    await sim.idle();
    await nextSecond();
    mark = collector.received.length;
    await cloud.webhook({ event_type: "STATE_CHANGED_LATCH", requested_state: "DAY_LOCK", lock_id: 6148, key_local_id: "3", key_name_user: "Jane's phone", "key_account_e-mail": "jane@example.com" });
    const unlocked = await eventOf("lock.unlocked");
    assert.equal(unlocked.channel, "cloud");
    assert.equal(unlocked.device.id, MAC, "one device id whichever channel reported");
    assert.deepEqual(unlocked.actor, { type: "user", id: "3", name: "Jane's phone" });
    await cloud.webhook({ battery_percentage: 64, lock_id: 6148 });
    await eventOf("loqed.battery.level");
    const wrong = await fetch(`${red.nodeUrl}smartlocks/loqed/${SECRET.replace(/^./, "X")}/cloud`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.equal(wrong.status, 404);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(since().map((e) => e.event), ["lock.unlocked", "battery.ok", "loqed.battery.level"], "each duplicated delivery reported once");
    assert.equal(cloud.statusCalls, 0);
  });

  it("with the opt-in accepts webhooks without TIMESTAMP from the bridge; leaks no webhook across redeploys", async function () {
    await red.deployFlows(flows(sim, collector.url, { allowMissingTimestamp: true }));
    await red.deployFlows(flows(sim, collector.url, { allowMissingTimestamp: true }));
    await waitUntil(() => ours().length === 1, 15000, "one webhook after redeploys");
    await new Promise((r) => setTimeout(r, 300));
    mark = collector.received.length;
    const results = await sim.send({ requested_state: "DAY_LOCK", event_type: "STATE_CHANGED_LATCH", key_local_id: 255, mac_wifi: MAC }, { omitTimestamp: true });
    assert.equal(results.find((r) => r.url.includes(SECRET)).status, 200);
    await eventOf("lock.unlocked");
    sim.bolt = "day_lock";
    await nextSecond();
    sim.twistAssist("night_lock");
    await eventOf("lock.locked");
    assert.equal(ours().length, 1);
  });

  it("keeps credentials out of flows and logs, and removes its own webhook (only) when deleted", async function () {
    const text = JSON.stringify(await red.getFlows());
    for (const secret of [SECRET, BRIDGE_KEY, KEY_SECRET, CLOUD_TOKEN]) {
      assert.ok(!text.includes(secret), "no credential in the flows");
      assert.ok(!red.logs.some((line) => line.includes(secret)), "no credential in the log");
    }
    await red.deployFlows([{ id: "tab1", type: "tab", label: "empty" }]);
    await waitUntil(() => ours().length === 0, 15000, "webhook removal");
    assert.deepEqual(sim.webhooks.map((w) => w.url), [OTHER]);
    const res = await fetch(`${red.nodeUrl}smartlocks/loqed/${SECRET}/bridge`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.equal(res.status, 404);
    assert.equal(sim.stats.mgmtRejected, 0, "every management request was signed correctly");
    assert.equal(sim.stats.statusCalls, 3, "GET /status only when a config node started");
  });
});
