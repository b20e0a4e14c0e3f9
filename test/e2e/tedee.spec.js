"use strict";
// End to end: a real Node-RED process with the packed package, talking to the Tedee Bridge and cloud simulators
// over real HTTP on 127.0.0.1, with the callback URL auto-detected. One Node-RED start, several scenarios.
const assert = require("node:assert/strict");
const { packPackage, createUserDir, startNodeRed, startCollector } = require("./harness");
const { TedeeBridgeSimulator, STATE } = require("../simulators/tedee-bridge");
const { TedeeCloudSimulator } = require("../simulators/tedee-cloud");

const FRONT = 33819;
const BACK = 10;
const TOKEN = "e2eTedeeToken";
const CLOUD_KEY = "e2e-personal-access-key";
const SECRET = "e2eTedeeRouteSecret_0123456789";

function flows(simPort, cloudUrl, collectorUrl) {
  return [
    { id: "tab1", type: "tab", label: "tedee e2e" },
    { id: "cfg", type: "tedee-config", name: "sim bridge", host: "127.0.0.1", port: simPort, auth: "encrypted", callbackUrl: "", cloudUrl, credentials: { token: TOKEN, cloudKey: CLOUD_KEY, routeSecret: SECRET } },
    { id: "ev", type: "tedee-events", z: "tab1", config: "cfg", devices: [], events: [], wires: [["wrap"]] },
    { id: "wrap", type: "function", z: "tab1", func: "msg.payload = { topic: msg.topic, event: msg.payload };\nreturn msg;", outputs: 1, wires: [["post"]] },
    { id: "post", type: "http request", z: "tab1", method: "POST", ret: "txt", paytoqs: "ignore", url: `${collectorUrl}/events`, wires: [[]] },
    { id: "in", type: "http in", z: "tab1", url: "/test/action", method: "post", wires: [["act"]] },
    { id: "act", type: "tedee-action", z: "tab1", config: "cfg", device: "", action: "", confirm: true, timeout: 10, wires: [["out"]] },
    { id: "in2", type: "http in", z: "tab1", url: "/test/unlock-no-pull", method: "post", wires: [["act2"]] },
    { id: "act2", type: "tedee-action", z: "tab1", config: "cfg", device: String(FRONT), action: "unlock", unlockWithoutPull: true, confirm: true, timeout: 10, wires: [["out"]] },
    { id: "out", type: "http response", z: "tab1", statusCode: "", wires: [] },
    { id: "catcher", type: "catch", z: "tab1", scope: ["act", "act2"], uncaught: false, wires: [["err"]] },
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

describe("Tedee Bridge and cloud end to end", function () {
  this.timeout(120000);
  let sim;
  let cloud;
  let red;
  let collector;
  const received = () => collector.received.filter((r) => r.path === "/events");
  const events = (name) => received().filter((r) => r.body.event.event === name);
  const eventOf = (name, device, from = 0) =>
    collector.waitFor((r) => r.path === "/events" && r.body.event.event === name && (!device || r.body.event.device.id === String(device)) && collector.received.indexOf(r) >= from, 10000);
  const post = async (path, payload) => {
    const res = await fetch(`${red.nodeUrl}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
    return { status: res.status, body: await res.json() };
  };
  const deploy = () => red.deployFlows(flows(sim.url.split(":").pop(), cloud.url, collector.url));

  before(async function () {
    sim = new TedeeBridgeSimulator({ token: TOKEN, busyMs: 10, actionMs: 60, modeFrom: "header" });
    await sim.start();
    cloud = new TedeeCloudSimulator({ key: CLOUD_KEY });
    await cloud.start();
    collector = await startCollector();
    red = await startNodeRed({
      userDir: await createUserDir(await packPackage()),
      settings: { tedeeConfigTiming: { spacingMs: 30, cloudSpacingMs: 10, retryMs: 200, confirmPollMs: 200, actorDelaysMs: [200, 600, 1500] } },
    });
    await deploy();
  });

  after(async function () {
    if (red) await red.stop();
    if (collector) await collector.close();
    if (sim) await sim.stop();
    if (cloud) await cloud.stop();
  });

  it("registers one short plain-http callback with the secret header and reports each lock's state", async function () {
    await waitUntil(() => sim.callbacks.length === 1, 15000, "callback registration");
    const [cb] = sim.callbacks;
    assert.equal(cb.url, `http://127.0.0.1:${red.port}/smartlocks/tedee/${SECRET}/bridge`);
    assert.equal(cb.method, "POST");
    assert.equal(cb.headers.length, 1);
    assert.deepEqual(Object.keys(cb.headers[0]), ["X-Smartlocks-Key"]);
    const front = await eventOf("device.state", FRONT);
    assert.equal(front.body.topic, `tedee/${FRONT}/device.state`);
    assert.equal(front.body.event.lock, "locked");
    await eventOf("device.state", BACK);
  });

  it("maps every callback event and lock state, 18, 255 and an unknown value included", async function () {
    const start = collector.received.length;
    const steps = [
      [STATE.UNLOCKING, "lock.unlocking", "unlocking"],
      [STATE.UNLOCKED, "lock.unlocked", "unlocked"],
      [STATE.SEMI_LOCKED, "tedee.lock.semi_locked", "unknown"],
      [STATE.LOCKING, "lock.locking", "locking"],
      [STATE.LOCKED, "lock.locked", "locked"],
      [STATE.PULLING, "lock.unlatching", "unlatching"],
      [STATE.PULLED, "lock.unlatched", "unlatched"],
      [STATE.CALIBRATING, "tedee.lock.calibrating", "unknown"],
      [STATE.UNCALIBRATED, "tedee.lock.uncalibrated", "uncalibrated"],
      [STATE.UPDATING, "tedee.lock.updating", "unknown"],
      [STATE.UNKNOWN, "tedee.lock.unknown", "unknown"],
      [STATE.LOCKED, "lock.locked", "locked"],
      [255, "tedee.lock.unknown", "unknown"],
      [STATE.UNLOCKED, "lock.unlocked", "unlocked"],
      [77, "tedee.lock.unknown", "unknown"],
    ];
    for (const [state, name, lock] of steps) {
      const from = collector.received.length;
      await sim.setState(BACK, { state });
      const got = await eventOf(name, BACK, from);
      assert.equal(got.body.event.lock, lock, `state ${state}`);
      assert.equal(got.body.event.raw.data.state, state);
    }
    await sim.setState(BACK, { state: STATE.LOCKED, doorState: 2 });
    await eventOf("door.opened", BACK, start);
    await sim.jam(BACK);
    await eventOf("lock.jammed", BACK, start);
    await sim.setConnected(BACK, false);
    await eventOf("device.offline", BACK, start);
    await sim.setConnected(BACK, true);
    await eventOf("device.online", BACK, start);
    await sim.setBattery(BACK, 9);
    const low = await eventOf("battery.low", BACK, start);
    assert.equal(low.body.event.battery.level, 9);
    await sim.startCharging(BACK);
    await eventOf("tedee.battery.charging", BACK, start);
    await sim.stopCharging(BACK);
    await eventOf("tedee.battery.charging_stopped", BACK, start);
    await sim.fullyCharged(BACK);
    await eventOf("tedee.battery.full", BACK, start);
    await sim.changeSettings(BACK, { name: "Garden door" });
    const changed = await eventOf("tedee.settings.changed", BACK, start);
    assert.equal(changed.body.event.device.name, "Garden door");
    const checks = sim.stats.byRoute["GET /callback"];
    await sim.setBackendConnected(true);
    await eventOf("tedee.bridge.cloud_connected", null, start);
    await waitUntil(() => sim.stats.byRoute["GET /callback"] > checks, 10000, "callback re-check after backend-connection-changed");
  });

  it("answers 401 to a callback without or with a wrong secret header and emits nothing", async function () {
    const route = `${red.nodeUrl}smartlocks/tedee/${SECRET}/bridge`;
    const body = JSON.stringify({ event: "lock-status-changed", timestamp: new Date().toISOString(), data: { deviceType: 2, deviceId: BACK, state: 9, jammed: 0 } });
    const before = received().length;
    const missing = await fetch(route, { method: "POST", headers: { "Content-Type": "application/json" }, body });
    assert.equal(missing.status, 401);
    const wrong = await fetch(route, { method: "POST", headers: { "Content-Type": "application/json", "X-Smartlocks-Key": "guess" }, body });
    assert.equal(wrong.status, 401);
    const realHeader = sim.callbacks[0].headers[0]["X-Smartlocks-Key"];
    const badSecret = await fetch(`${red.nodeUrl}smartlocks/tedee/not-the-secret-0123456789/bridge`, { method: "POST", headers: { "Content-Type": "application/json", "X-Smartlocks-Key": realHeader }, body });
    assert.equal(badSecret.status, 404);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received().length, before, "nothing emitted");
  });

  it("runs actions confirmed from callbacks, sends unlock modes as firmware reads them, and reports failures", async function () {
    await sim.setState(FRONT, { state: STATE.LOCKED });
    const unlock = await post("test/unlock-no-pull", {});
    assert.equal(unlock.status, 200);
    assert.deepEqual(unlock.body, { ok: true, vendor: "tedee", device: String(FRONT), action: "unlock", confirmed: true, lock: "unlocked", door: null });
    await sim.settled();
    assert.equal(sim.getDevice(FRONT).state, STATE.UNLOCKED, "mode 3 read from the header: no pull");
    const pull = await post("test/action", { action: "unlatch", device: FRONT });
    assert.equal(pull.body.confirmed, true);
    const lock = await post("test/action", { action: "lock", device: String(FRONT) });
    assert.deepEqual([lock.body.confirmed, lock.body.lock], [true, "locked"]);
    const force = await post("test/action", { action: "unlock_force", device: FRONT });
    assert.equal(force.body.confirmed, true);
    assert.deepEqual(sim.operations.map((o) => [o.operation, o.modeHeader]), [["unlock", "3"], ["pull", undefined], ["lock", undefined], ["unlock", "2"]]);

    const missing = await post("test/action", { action: "unlock", device: "424242" });
    assert.deepEqual([missing.status, missing.body.code], [500, "not_found"]);
    const unsupported = await post("test/action", { action: "lock_n_go", device: FRONT });
    assert.equal(unsupported.body.code, "unsupported");
    const refused = await post("test/action", { action: "unlatch", device: BACK }); // pull spring disabled on BACK: 406
    assert.equal(refused.body.code, "rejected");
    assert.match(refused.body.message, /BLE API error/);
    await sim.setConnected(FRONT, false);
    const offline = await post("test/action", { action: "lock", device: FRONT });
    assert.equal(offline.body.code, "offline");
    assert.match(offline.body.message, /Device is disconnected/);
    await sim.setConnected(FRONT, true);
  });

  it("adds the actor from the cloud activity log as a follow-up with the same id", async function () {
    const from = collector.received.length;
    await sim.setState(FRONT, { state: STATE.LOCKED });
    await eventOf("lock.locked", FRONT, from);
    await sim.unlock(FRONT);
    cloud.addActivity({ deviceId: FRONT, event: 61, userId: 42, username: "Keypad Kim" });
    const original = await eventOf("lock.unlocked", FRONT, from);
    const followUp = await collector.waitFor((r) => r.path === "/events" && r.body.event.update === true && r.body.event.id === original.body.event.id, 10000);
    assert.equal(followUp.body.event.event, "lock.unlocked");
    assert.deepEqual(followUp.body.event.actor, { type: "pin", id: "42", name: "Keypad Kim" });
    assert.equal(original.body.event.actor, null);
  });

  it("answers the editor's test connection on the admin API, with httpAdminRoot and httpNodeRoot both /", async function () {
    // The callback route's body capture sits in front of admin's json parser for /smartlocks/tedee/...: the probe
    // must still see the JSON the editor sent.
    const res = await fetch(`${red.adminUrl}smartlocks/tedee/probe`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id: "cfg", host: "127.0.0.1", port: sim.url.split(":").pop(), auth: "encrypted", callbackUrl: "", cloudUrl: cloud.url, token: "__PWRD__", cloudKey: "__PWRD__", routeSecret: "__PWRD__" }),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.ok, true, JSON.stringify(body));
    assert.deepEqual(body.devices.map((d) => d.id), [String(FRONT), String(BACK)]);
    assert.equal(body.callback.url, `http://127.0.0.1:${red.port}/smartlocks/tedee/***/bridge`);
    assert.deepEqual([body.callback.registered, body.callback.reachable, body.callback.plainHttp, body.callback.shortEnough, body.callback.notLoopback], [true, true, true, true, true]);
    assert.deepEqual(body.details.cloud, { ok: true, devices: 2 });
    for (const secret of [TOKEN, CLOUD_KEY, SECRET]) assert.ok(!JSON.stringify(body).includes(secret));
  });

  it("keeps credentials out of the flows the editor sees and out of the log", async function () {
    const text = JSON.stringify(await red.getFlows());
    const header = sim.callbacks[0].headers[0]["X-Smartlocks-Key"];
    for (const secret of [TOKEN, SECRET, CLOUD_KEY, header]) {
      assert.ok(!text.includes(secret), "flows");
      assert.ok(!red.logs.some((line) => line.includes(secret)), "log");
    }
  });

  it("leaks no callback across redeploys and removes its own when the nodes are deleted", async function () {
    const other = { url: "http://192.168.1.77:9000/other", method: "POST", headers: [{ authz: "x" }] };
    sim._callbacks.push({ id: 900, ...other }); // another application's callback, added behind our back
    await deploy();
    await deploy();
    await waitUntil(() => sim.callbacks.filter((c) => c.url.includes("/smartlocks/tedee/")).length === 1, 15000, "one callback after redeploys");
    const from = collector.received.length;
    await sim.setState(BACK, { state: STATE.UNLOCKED, jammed: 0 });
    await sim.setState(BACK, { state: STATE.LOCKED });
    await eventOf("lock.locked", BACK, from);
    await red.deployFlows([{ id: "tab1", type: "tab", label: "empty" }]);
    await waitUntil(() => !sim.callbacks.some((c) => c.url.includes("/smartlocks/tedee/")), 15000, "callback removal");
    assert.deepEqual(sim.callbacks.map((c) => c.url), [other.url], "the other application's callback is untouched");
    const res = await fetch(`${red.nodeUrl}smartlocks/tedee/${SECRET}/bridge`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.equal(res.status, 404);
  });

  it("never sent two requests at once, never reused a key, stayed within the cloud budget", function () {
    assert.equal(sim.stats.busyRejected, 0);
    assert.equal(sim.stats.replayRejected, 0);
    assert.equal(sim.stats.authFailures, 0);
    assert.equal(cloud.stats.rateLimited, 0);
    assert.ok(cloud.stats.requests < 40, `${cloud.stats.requests} cloud requests`);
  });
});
