"use strict";
// Node tests of the Nuki editor features: POST /smartlocks/nuki/probe (test connection, device pickers) on
// RED.httpAdmin against the bridge and Web simulators, and the config option callbackSource ("bridge": callbacks
// only from the bridge's address).
const assert = require("node:assert/strict");
const http = require("node:http");
const helper = require("node-red-node-test-helper");
const { initTestHelper } = require("../helpers/node-red-path");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");
const { NukiWebSimulator } = require("../simulators/nuki-web");
const nukiNodes = require("../../dist/nodes/nuki.js");

initTestHelper(helper);

const LOCK = "3E63C84D";
const OPENER = "1A2B3C4D";
const BACK = "5C0FFEE1"; // Wi-Fi lock: only in the Web account
const TOKEN = "123456";
const WEB_TOKEN = "web-api-token";
const SECRET = "Eq0dV2bK9xY3mN8pL5rS7wZ1";

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

describe("nuki editor features (test helper + simulators)", function () {
  this.timeout(20000);
  let sim;
  let web;
  let httpServer;
  let nodeBase;

  afterEach(async () => {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    if (httpServer) await new Promise((resolve) => httpServer.close(resolve));
    httpServer = null;
    if (web) await web.stop();
    web = null;
    await sim.stop();
  });

  async function start(simOptions = {}) {
    sim = new NukiBridgeSimulator({ busyMs: 5, actionMs: 50, ...simOptions });
    await sim.start();
    await new Promise((resolve) => helper.startServer(resolve));
  }

  /** Loads a flow with config node "cfg" and serves RED.httpNode on a loopback port (the callback base). */
  async function load(flow, configExtra = {}, credentials = {}) {
    httpServer = http.createServer((req, res) => RED.httpNode(req, res));
    await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    nodeBase = `http://127.0.0.1:${httpServer.address().port}`;
    const config = { id: "cfg", type: "nuki-config", host: sim.host, port: sim.url.split(":").pop(), auth: "encrypted", callbackUrl: nodeBase, ...configExtra };
    await helper.load(wrapped, [config, ...flow], { cfg: { token: TOKEN, routeSecret: SECRET, ...credentials } });
  }

  const listenerFlow = () => [
    { id: "ev", type: "nuki-events", config: "cfg", wires: [["out"]] },
    { id: "out", type: "helper" },
  ];

  function collect(id = "out") {
    const messages = [];
    helper.getNode(id).on("input", (msg) => messages.push(msg));
    return messages;
  }

  describe("POST /smartlocks/nuki/probe", () => {
    const probe = (body) => helper.request().post("/smartlocks/nuki/probe").send(body);
    const typed = (extra = {}) => ({ host: "127.0.0.1", port: sim.url.split(":").pop(), auth: "encrypted", callbackUrl: nodeBase, ...extra });
    const noSecrets = (body, secrets) => {
      const text = JSON.stringify(body);
      for (const secret of secrets) assert.ok(!text.includes(secret), `answer contains ${secret}`);
    };

    it("probes the typed values read-only: bridge, devices, clock, callback self-test, slot table", async () => {
      await start();
      await load([]);
      const other = "http://192.168.1.9:8123/api/nuki";
      await fetch(`${sim.url}/callback/add?url=${encodeURIComponent(other)}&token=${TOKEN}`);
      const before = sim.stats.requests;
      const { body } = await probe(typed({ token: TOKEN, routeSecret: SECRET })).expect(200);
      assert.equal(body.ok, true, JSON.stringify(body));
      assert.deepEqual(body.devices.map((d) => [d.id, d.type, d.lock, d.channels]), [[LOCK, "lock", "locked", ["bridge"]], [OPENER, "opener", "locked", ["bridge"]]]);
      assert.match(body.summary, /hardware bridge.*2 devices/);
      assert.equal(body.details.bridge.type, "hardware bridge");
      assert.equal(body.details.bridge.clockWarning, false);
      assert.ok(Math.abs(body.details.bridge.clockOffsetSeconds) <= 2);
      assert.equal(body.callback.url, `${nodeBase}/smartlocks/nuki/***/bridge`);
      assert.deepEqual(
        [body.callback.registered, body.callback.reachable, body.callback.plainHttp, body.callback.shortEnough, body.callback.notLoopback, body.callback.freeSlot],
        [false, true, true, true, true, true],
      );
      assert.deepEqual(body.details.callbacks, [{ id: 0, url: other, ours: false }], "others' URLs as they are");
      assert.equal(body.details.maxCallbacks, 3);
      assert.equal(body.details.web, undefined);
      noSecrets(body, [TOKEN, SECRET]);
      assert.equal(sim.stats.requests - before, 3, "GET /info, /list, /callback/list");
      assert.deepEqual(sim.callbacks.map((c) => c.url), [other], "nothing registered");
    });

    it("falls back to the deployed node's stored credentials with id, through its own client", async () => {
      await start();
      await load(listenerFlow());
      await waitUntil(() => sim.callbacks.length === 1, 5000, "registration");
      const { body } = await probe(typed({ id: "cfg", token: "__PWRD__", routeSecret: "__PWRD__" })).expect(200);
      assert.equal(body.ok, true, JSON.stringify(body));
      assert.equal(body.callback.registered, true, "the deployed node's own callback");
      assert.deepEqual(body.details.callbacks, [{ id: 0, url: `${nodeBase}/smartlocks/nuki/***/bridge`, ours: true }]);
      const empty = await probe(typed({ id: "cfg", token: "", routeSecret: "" })).expect(200);
      assert.equal(empty.body.ok, true, "an empty password field is the stored one too");
      assert.equal(empty.body.callback.registered, true);
      assert.equal(sim.stats.busyRejected, 0, "queued behind the running connection");
      noSecrets(body, [TOKEN, SECRET]);
      noSecrets(empty.body, [TOKEN, SECRET]);
    });

    it("answers ok:false unauthorized for a wrong token and bad_request without a channel, echoing no secret", async () => {
      await start();
      await load([]);
      const wrong = await probe(typed({ token: "wrong-token-999", routeSecret: SECRET })).expect(200);
      assert.deepEqual([wrong.body.ok, wrong.body.code], [false, "unauthorized"], JSON.stringify(wrong.body));
      noSecrets(wrong.body, ["wrong-token-999", SECRET]);
      const nothing = await probe({ host: "" }).expect(400);
      assert.deepEqual([nothing.body.ok, nothing.body.code], [false, "bad_request"]);
      const noToken = await probe(typed({ id: "unknown-node" })).expect(400);
      assert.match(noToken.body.message, /token/i);
    });

    it("with a web token also lists the Web API smartlocks read-only; a refused web token does not hide the bridge", async () => {
      await start();
      web = new NukiWebSimulator({ token: WEB_TOKEN });
      await web.start();
      await load([]);
      const { body } = await probe(typed({ token: TOKEN, routeSecret: SECRET, webToken: WEB_TOKEN, webApiUrl: web.url })).expect(200);
      assert.equal(body.ok, true, JSON.stringify(body));
      const channels = Object.fromEntries(body.devices.map((d) => [d.id, d.channels]));
      assert.deepEqual(channels, { [LOCK]: ["bridge", "web"], [OPENER]: ["bridge", "web"], [BACK]: ["web"] });
      assert.equal(body.devices.find((d) => d.id === BACK).name, "Back door");
      assert.deepEqual(body.details.web, { ok: true, devices: 3 });
      assert.match(body.summary, /Nuki Web: 3 smartlocks/);
      assert.deepEqual(web.stats.byRoute, { "GET /smartlock": 1 }, "one read, no webhook, no action");
      noSecrets(body, [TOKEN, SECRET, WEB_TOKEN]);

      const webOnly = await probe({ host: "", webToken: WEB_TOKEN, webApiUrl: web.url }).expect(200);
      assert.equal(webOnly.body.ok, true, JSON.stringify(webOnly.body));
      assert.equal(webOnly.body.ok, true);
      assert.equal(webOnly.body.callback, undefined);
      assert.deepEqual(webOnly.body.devices.map((d) => d.id).sort(), [BACK, OPENER, LOCK].sort());

      const refused = await probe(typed({ token: TOKEN, routeSecret: SECRET, webToken: "bad-web-token", webApiUrl: web.url })).expect(200);
      assert.equal(refused.body.ok, true);
      assert.deepEqual([refused.body.details.web.ok, refused.body.details.web.code], [false, "unauthorized"]);
      const refusedOnly = await probe({ host: "", webToken: "bad-web-token", webApiUrl: web.url }).expect(200);
      assert.deepEqual([refusedOnly.body.ok, refusedOnly.body.code], [false, "unauthorized"]);
      noSecrets(refused.body, ["bad-web-token"]);
      noSecrets(refusedOnly.body, ["bad-web-token"]);
    });
  });

  describe("callbackSource", () => {
    it('"bridge": a callback from the bridge\'s address (127.0.0.1) is accepted', async () => {
      await start();
      await load(listenerFlow(), { callbackSource: "bridge" });
      const messages = collect();
      await waitUntil(() => messages.filter((m) => m.payload.event === "device.state").length === 2, 5000, "snapshot");
      await waitUntil(() => sim.callbacks.length === 1, 5000, "callback registration");
      await sim.unlock(1046726733);
      await waitUntil(() => messages.find((m) => m.payload.event === "lock.unlocked"), 5000, "unlocked event ");
      assert.ok(sim.deliveries.every((d) => d.status === 200), JSON.stringify(sim.deliveries));
    });

    it('"bridge": a callback from another address gets 401, a throttled warning and no event', async () => {
      // The bridge is 127.0.0.2; its callbacks to 127.0.0.1 leave from 127.0.0.1, i.e. not from the bridge.
      await start({ host: "127.0.0.2" });
      await load(listenerFlow(), { callbackSource: "bridge" });
      const messages = collect();
      await waitUntil(() => messages.filter((m) => m.payload.event === "device.state").length === 2, 5000, "snapshot");
      await waitUntil(() => sim.callbacks.length === 1, 5000, "callback registration");
      await sim.unlock(1046726733);
      await sim.lock(1046726733);
      await waitUntil(() => sim.deliveries.length >= 2, 5000, "deliveries");
      assert.deepEqual(sim.deliveries.map((d) => d.status), [401, 401]);
      const cfg = helper.getNode("cfg");
      // The helper loads no catalog: RED._ answers the key (the text names the peer and the bridge host).
      const warnings = cfg.warn.args.map((a) => String(a[0])).filter((w) => /callback-source|refused/.test(w));
      assert.equal(warnings.length, 1, "one warning for two refusals");
      assert.ok(!warnings[0].includes(SECRET));
      assert.equal(messages.filter((m) => m.payload.event !== "device.state").length, 0, "nothing emitted");
    });

    it('"any" (default): the same callback from another address is accepted', async () => {
      await start({ host: "127.0.0.2" });
      await load(listenerFlow());
      const messages = collect();
      await waitUntil(() => messages.filter((m) => m.payload.event === "device.state").length === 2, 5000, "snapshot");
      await waitUntil(() => sim.callbacks.length === 1, 5000, "callback registration");
      await sim.unlock(1046726733);
      await waitUntil(() => messages.find((m) => m.payload.event === "lock.unlocked"), 5000, "unlocked event ");
    });
  });
});
