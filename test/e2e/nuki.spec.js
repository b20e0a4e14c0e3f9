"use strict";
// End to end: a real Node-RED process with the packed package, talking to the Nuki Bridge simulator over
// real HTTP on 127.0.0.1. Runs once with httpNodeRoot "/" (admin body parsers mounted first on the same
// root) and once with "/api", with the callback URL auto-detected.
const assert = require("node:assert/strict");
const { packPackage, createUserDir, startNodeRed, startCollector } = require("./harness");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");

const LOCK = "3E63C84D";
const LOCK_ID = 1046726733;
const OPENER = "1A2B3C4D";
const OPENER_ID = 439041101;
const SECRET = "e2eRouteSecret_0123456789ab";
const TOKEN = "e2e-bridge-token";

function flows(simPort, collectorUrl, auth) {
  return [
    { id: "tab1", type: "tab", label: "nuki e2e" },
    { id: "cfg", type: "nuki-config", name: "sim bridge", host: "127.0.0.1", port: simPort, auth, callbackUrl: "", credentials: { token: TOKEN, routeSecret: SECRET } },
    { id: "ev", type: "nuki-events", z: "tab1", config: "cfg", devices: [], events: [], wires: [["wrap"]] },
    { id: "wrap", type: "function", z: "tab1", func: "msg.payload = { topic: msg.topic, event: msg.payload };\nreturn msg;", outputs: 1, wires: [["post"]] },
    { id: "post", type: "http request", z: "tab1", method: "POST", ret: "txt", paytoqs: "ignore", url: `${collectorUrl}/events`, wires: [[]] },
    { id: "in", type: "http in", z: "tab1", url: "/test/action", method: "post", wires: [["act"]] },
    { id: "act", type: "nuki-action", z: "tab1", config: "cfg", device: "", action: "", confirm: true, timeout: 10, wires: [["out"]] },
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

for (const [httpNodeRoot, auth] of [["/", "encrypted"], ["/api", "hashed"]]) {
  describe(`Nuki Bridge end to end (httpNodeRoot ${httpNodeRoot}, ${auth} token)`, function () {
    this.timeout(120000);
    let sim;
    let red;
    let collector;
    const events = (name) => collector.received.filter((r) => r.path === "/events" && r.body.event.event === name);
    const eventOf = (name, device) => collector.waitFor((r) => r.path === "/events" && r.body.event.event === name && (!device || r.body.event.device.id === device), 10000);
    const act = async (payload) => {
      const res = await fetch(`${red.nodeUrl}test/action`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
      return { status: res.status, body: await res.json() };
    };

    before(async function () {
      sim = new NukiBridgeSimulator({ token: TOKEN, busyMs: 20, actionMs: 100 });
      await sim.start();
      collector = await startCollector();
      red = await startNodeRed({ userDir: await createUserDir(await packPackage()), httpNodeRoot });
      await red.deployFlows(flows(sim.url.split(":").pop(), collector.url, auth));
    });

    after(async function () {
      if (red) await red.stop();
      if (collector) await collector.close();
      if (sim) await sim.stop();
    });

    it("registers exactly one auto-detected http callback under httpNodeRoot and reports each device's state", async function () {
      await waitUntil(() => sim.callbacks.length === 1, 15000, "callback registration");
      const root = httpNodeRoot.endsWith("/") ? httpNodeRoot : `${httpNodeRoot}/`;
      assert.equal(sim.callbacks[0].url, `http://127.0.0.1:${red.port}${root}smartlocks/nuki/${SECRET}/bridge`);
      const lock = await eventOf("device.state", LOCK);
      assert.equal(lock.body.topic, `nuki/${LOCK}/device.state`);
      assert.equal(lock.body.event.lock, "locked");
      assert.equal(lock.body.event.door, "closed");
      await eventOf("device.state", OPENER);
    });

    it("turns real bridge callbacks into door, lock, doorbell, battery and jam events", async function () {
      await sim.openDoor(LOCK_ID);
      const opened = await eventOf("door.opened", LOCK);
      assert.deepEqual(opened.body.event.previous, { lock: "locked", door: "closed" });
      assert.equal(opened.body.event.channel, "bridge");
      await sim.closeDoor(LOCK_ID);
      await eventOf("door.closed", LOCK);
      await sim.ring(OPENER_ID);
      const rang = await eventOf("doorbell.rang", OPENER);
      assert.equal(rang.body.event.device.type, "opener");
      await sim.setBattery(LOCK_ID, { critical: true, level: 12 });
      await eventOf("battery.low", LOCK);
      await sim.jam(LOCK_ID);
      await eventOf("lock.jammed", LOCK);
      await sim.setState(LOCK_ID, { state: 1 });
      await eventOf("lock.locked", LOCK);
      assert.equal(events("door.opened").length, 1, "one event per happening");
    });

    it("runs actions with confirmation and reports failures with contract codes", async function () {
      const unlock = await act({ action: "unlock", device: LOCK });
      assert.equal(unlock.status, 200);
      assert.deepEqual(unlock.body, { ok: true, vendor: "nuki", device: LOCK, action: "unlock", confirmed: true, lock: "unlocked", door: "closed" });
      await eventOf("lock.unlocked", LOCK);
      const rto = await act({ action: "ring_to_open_on", device: OPENER });
      assert.equal(rto.body.confirmed, true);
      assert.equal(rto.body.lock, "unlocked");
      const missing = await act({ action: "unlock", device: "00ABCDEF" });
      assert.equal(missing.status, 500);
      assert.equal(missing.body.code, "not_found");
      const unsupported = await act({ action: "lock_n_go", device: OPENER });
      assert.equal(unsupported.body.code, "unsupported");
    });

    it("keeps credentials out of the flows the editor sees", async function () {
      const text = JSON.stringify(await red.getFlows());
      assert.ok(!text.includes(TOKEN));
      assert.ok(!text.includes(SECRET));
      assert.ok(!red.logs.some((line) => line.includes(TOKEN) || line.includes(SECRET)), "nothing secret in the log");
    });

    it("leaks no callback across redeploys and removes its own when the nodes are deleted", async function () {
      await red.deployFlows(flows(sim.url.split(":").pop(), collector.url, auth));
      await red.deployFlows(flows(sim.url.split(":").pop(), collector.url, auth));
      await waitUntil(() => sim.callbacks.length === 1, 15000, "one callback after redeploys");
      const before = collector.received.length;
      await sim.openDoor(LOCK_ID);
      await collector.waitFor((r, i) => r.body.event && r.body.event.event === "door.opened" && collector.received.indexOf(r) >= before, 10000);
      await red.deployFlows([{ id: "tab1", type: "tab", label: "empty" }]);
      await waitUntil(() => sim.callbacks.length === 0, 15000, "callback removal");
      const res = await fetch(`${red.nodeUrl}smartlocks/nuki/${SECRET}/bridge`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      assert.equal(res.status, 404);
    });

    it("never polled /lockState and never sent two requests at once", function () {
      assert.equal(sim.stats.lockStateCalls, 0);
      assert.equal(sim.stats.busyRejected, 0);
      assert.equal(sim.stats.authFailures, 0);
    });
  });
}
