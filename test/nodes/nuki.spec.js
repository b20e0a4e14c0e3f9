"use strict";
// Node tests: nuki-config / nuki-events / nuki-action in node-red-node-test-helper against the Nuki Bridge
// simulator over real HTTP. RED.httpNode is served on a loopback port so the simulator can deliver callbacks.
const assert = require("node:assert/strict");
const http = require("node:http");
const helper = require("node-red-node-test-helper");
const request = require("supertest");
const { initTestHelper } = require("../helpers/node-red-path");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");
const nukiNodes = require("../../dist/nodes/nuki.js");

initTestHelper(helper);

const LOCK = "3E63C84D";
const OPENER = "1A2B3C4D";
const SECRET = "Tq0dV2bK9xY3mN8pL5rS7wZ1";

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

describe("nuki nodes (test helper + bridge simulator)", function () {
  this.timeout(20000);
  let sim;
  let httpServer;
  let nodeBase;

  beforeEach(async () => {
    sim = new NukiBridgeSimulator({ busyMs: 5, actionMs: 50 });
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

  /** Loads a flow and serves RED.httpNode on a loopback port, which becomes the config's callback base. */
  async function load(flow, credentials, configExtra = {}) {
    // The callback base must be known before the flow starts: reserve the port first.
    httpServer = http.createServer((req, res) => RED.httpNode(req, res));
    await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    nodeBase = `http://127.0.0.1:${httpServer.address().port}`;
    const config = {
      id: "cfg",
      type: "nuki-config",
      host: "127.0.0.1",
      port: sim.url.split(":").pop(),
      auth: "encrypted",
      callbackUrl: nodeBase,
      ...configExtra,
    };
    await helper.load(wrapped, [config, ...flow], { cfg: { token: "123456", routeSecret: SECRET, ...credentials } });
  }

  const listenerFlow = (extra = {}) => [
    { id: "ev", type: "nuki-events", config: "cfg", wires: [["out"]], ...extra },
    { id: "out", type: "helper" },
  ];

  function collect(id = "out") {
    const messages = [];
    helper.getNode(id).on("input", (msg) => messages.push(msg));
    return messages;
  }

  it("registers one callback, emits a device.state per device, then real door and lock events", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => sim.callbacks.length === 1, 5000, "callback registration");
    assert.equal(sim.callbacks[0].url, `${nodeBase}/smartlocks/nuki/${SECRET}/bridge`);
    await waitUntil(() => messages.filter((m) => m.payload.event === "device.state").length === 2);
    const lockState = messages.find((m) => m.payload.device.id === LOCK);
    assert.equal(lockState.topic, `nuki/${LOCK}/device.state`);
    assert.equal(lockState.payload.lock, "locked");
    assert.equal(lockState.payload.device.name, "Front door");

    await sim.openDoor(1046726733);
    const opened = await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"));
    assert.equal(opened.topic, `nuki/${LOCK}/door.opened`);
    assert.deepEqual(opened.payload.previous, { lock: "locked", door: "closed" });
    assert.equal(opened.payload.channel, "bridge");
    assert.equal(opened.payload.actor, null);
    assert.equal(opened.payload.raw.doorsensorState, 3);

    await sim.unlock(1046726733);
    await waitUntil(() => messages.find((m) => m.payload.event === "lock.unlocked"));
    await sim.ring(439041101);
    const rang = await waitUntil(() => messages.find((m) => m.payload.event === "doorbell.rang"));
    assert.equal(rang.payload.device.id, OPENER);
    assert.equal(rang.payload.device.type, "opener");

    assert.equal(sim.stats.lockStateCalls, 0, "never polls /lockState");
    assert.equal(sim.stats.busyRejected, 0, "never sends two requests at once");
  });

  it("filters by event prefix and device", async () => {
    await load(listenerFlow({ events: ["door."], devices: [LOCK] }));
    const messages = collect();
    await waitUntil(() => sim.callbacks.length === 1);
    await sim.unlock(1046726733);
    await sim.openDoor(1046726733);
    await sim.ring(439041101);
    await waitUntil(() => messages.length >= 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(messages.map((m) => m.payload.event), ["door.opened"]);
  });

  it("answers the callback route per the contract and emits nothing for bad input", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => messages.length === 2);
    const route = `/smartlocks/nuki/${SECRET}/bridge`;
    await request(RED.httpNode).post(route).set("content-type", "application/json").send("{not json").expect(400);
    await request(RED.httpNode).post(route).send({ nukiId: 1, state: "locked" }).expect(400);
    await request(RED.httpNode).post(`/smartlocks/nuki/${SECRET.replace(/^./, "X")}/bridge`).send({}).expect(404);
    await request(RED.httpNode).post(`/smartlocks/nuki/${SECRET}/web`).send({}).expect(404);
    await request(RED.httpNode).post(route).send({ big: "x".repeat(300 * 1024) }).expect(413);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(messages.length, 2, "no event from rejected bodies");
    const body = { nukiId: 1046726733, deviceType: 4, mode: 2, state: 254, stateName: "motor blocked", batteryCritical: false };
    await request(RED.httpNode).post(route).send(body).expect(200);
    const jam = await waitUntil(() => messages.find((m) => m.payload.event === "lock.jammed"));
    assert.equal(jam.payload.lock, "jammed");
    await request(RED.httpNode).post(route).send(body).expect(200);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(messages.filter((m) => m.payload.event === "lock.jammed").length, 1, "repeated delivery, one event");
  });

  it("reuses its own callback, removes stale copies of its own, keeps others, and removes its own on close", async () => {
    const other = "http://192.168.1.99:8000/other-app";
    const stale = `http://10.9.9.9:1880/smartlocks/nuki/${SECRET}/bridge`;
    await addCallback(other);
    await addCallback(stale);
    await load(listenerFlow());
    await waitUntil(() => sim.callbacks.some((c) => c.url.startsWith(nodeBase)));
    await waitUntil(() => !sim.callbacks.some((c) => c.url === stale), 5000, "stale removal");
    assert.deepEqual(sim.callbacks.map((c) => c.url).sort(), [other, `${nodeBase}/smartlocks/nuki/${SECRET}/bridge`].sort());
    await helper.unload();
    assert.deepEqual(sim.callbacks.map((c) => c.url), [other]);
  });

  it("says so when all three slots are held by others, and never removes them", async () => {
    const others = ["http://192.168.1.2/a", "http://192.168.1.3/b", "http://192.168.1.4/c"];
    for (const url of others) await addCallback(url);
    await load(listenerFlow());
    const ev = helper.getNode("ev");
    const cfg = helper.getNode("cfg");
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "red" && /callback slot/.test(a[0].text)), 5000, "red status");
    const warning = cfg.warn.args.map((a) => String(a[0])).find((w) => /callback slots/.test(w));
    assert.ok(warning, "a warning lists the slots");
    for (const url of others) assert.ok(warning.includes(url), url);
    assert.ok(!warning.includes(SECRET));
    await helper.unload();
    assert.deepEqual(sim.callbacks.map((c) => c.url), others);
  });

  async function addCallback(url) {
    const token = `token=${sim.token}`;
    await new Promise((resolve, reject) => {
      http.get(`${sim.url}/callback/add?url=${encodeURIComponent(url)}&${token}`, (res) => {
        res.resume();
        res.on("end", resolve);
      }).on("error", reject);
    });
    await new Promise((r) => setTimeout(r, 40));
  }

  const actionFlow = (extra = {}) => [
    { id: "tab", type: "tab" },
    { id: "act", type: "nuki-action", z: "tab", config: "cfg", timeout: 5, wires: [["res"]], ...extra },
    { id: "res", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: ["act"], uncaught: false, wires: [["err"]] },
    { id: "err", type: "helper", z: "tab" },
  ];

  it("unlocks, confirms from the callback stream, and sends an identical in-flight action once", async () => {
    await load(actionFlow());
    await waitUntil(() => sim.callbacks.length === 1);
    const results = collect("res");
    const act = helper.getNode("act");
    act.receive({ payload: { action: "unlock", device: LOCK }, keep: 1 });
    act.receive({ payload: { action: "unlock", device: LOCK }, keep: 2 });
    await waitUntil(() => results.length === 2, 8000, "two results");
    for (const msg of results) {
      assert.deepEqual(msg.payload, { ok: true, vendor: "nuki", device: LOCK, action: "unlock", confirmed: true, lock: "unlocked", door: "closed" });
    }
    assert.deepEqual(results.map((m) => m.keep).sort(), [1, 2], "the input messages are passed through");
    assert.equal(sim.stats.byPath["/lockAction"], 1, "sent once");
    assert.equal(sim.getDevice(1046726733).lastKnownState.state, 3);
  });

  it("unlatches a lock and handles the Opener's actions", async () => {
    await load(actionFlow());
    await waitUntil(() => sim.callbacks.length === 1);
    const results = collect("res");
    const act = helper.getNode("act");
    act.receive({ payload: { action: "open", device: LOCK } });
    await waitUntil(() => results.length === 1, 8000);
    assert.equal(results[0].payload.confirmed, true);
    assert.equal(results[0].payload.action, "open");
    for (const action of ["ring_to_open_on", "continuous_mode_on", "continuous_mode_off", "ring_to_open_off", "open"]) {
      act.receive({ payload: { action, device: OPENER } });
      await waitUntil(() => results.some((m) => m.payload.action === action && m.payload.device === OPENER), 8000, action);
    }
    for (const m of results) assert.equal(m.payload.confirmed, true, m.payload.action);
  });

  it("reports failures to Catch with the contract's codes", async () => {
    await load(actionFlow());
    await waitUntil(() => sim.callbacks.length === 1);
    const errors = collect("err");
    const act = helper.getNode("act");
    act.receive({ payload: { action: "unlock", device: "00ABCDEF" } });
    act.receive({ payload: { action: "continuous_mode_on", device: LOCK } });
    act.receive({ payload: { device: LOCK } });
    act.receive({ payload: "unlock" });
    await waitUntil(() => errors.length === 4, 8000, "four errors");
    const codes = errors.map((m) => m.error.code).sort();
    assert.deepEqual(codes, ["bad_request", "bad_request", "not_found", "unsupported"]);
    for (const m of errors) assert.equal(m.error.source.id, "act");
    sim.setOffline(1046726733, true);
    act.receive({ payload: { action: "lock", device: LOCK } });
    await waitUntil(() => errors.length === 5, 15000, "offline error");
    assert.equal(errors[4].error.code, "offline");
  });

  it("explains a 401 with a time-based token, mentioning clocks, without leaking the token", async () => {
    await load(listenerFlow(), { token: "wrong-token" });
    const cfg = helper.getNode("cfg");
    const ev = helper.getNode("ev");
    await waitUntil(() => cfg.warn.args.some((a) => /401/.test(String(a[0]))), 5000, "401 warning");
    const warning = cfg.warn.args.map((a) => String(a[0])).find((w) => /401/.test(w));
    assert.match(warning, /clock/);
    assert.ok(!warning.includes("wrong-token"));
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "red"));
  });

  it("removes the route on redeploy", async () => {
    await load(listenerFlow());
    await waitUntil(() => sim.callbacks.length === 1);
    await request(RED.httpNode).post(`/smartlocks/nuki/${SECRET}/bridge`).send({ nukiId: 1046726733, deviceType: 4, state: 1 }).expect(200);
    await helper.setFlows([{ id: "x", type: "helper" }], "full");
    await request(RED.httpNode).post(`/smartlocks/nuki/${SECRET}/bridge`).send({ nukiId: 1046726733, deviceType: 4, state: 1 }).expect(404);
    await waitUntil(() => sim.callbacks.length === 0, 5000, "callback removed");
  });
});
