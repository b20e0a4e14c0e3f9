"use strict";
// "Test connection" of the Tedee config dialog, against the bridge and cloud simulators.
const assert = require("node:assert/strict");
const http = require("node:http");
const os = require("node:os");
const { probeTedee } = require("../../dist/nodes/tedee/probe.js");
const { TedeeBridgeClient } = require("../../dist/nodes/tedee/bridge-client.js");
const { TedeeBridgeSimulator } = require("../simulators/tedee-bridge");
const { TedeeCloudSimulator } = require("../simulators/tedee-cloud");

const TOKEN = "probe-token";
const SECRET = "SECRETSECRETSECRETSECRET";
const HEADER = { name: "X-Smartlocks-Key", value: "header-value-of-this-config" };

describe("tedee/probe (test connection)", function () {
  this.timeout(20000);
  let sim;
  let cloud;
  let receiver;
  beforeEach(async () => {
    sim = new TedeeBridgeSimulator({ token: TOKEN, busyMs: 5, minIntervalMs: 10 });
    await sim.start();
    cloud = null;
    receiver = http.createServer((req, res) => res.writeHead(405).end());
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  });
  afterEach(async () => {
    await sim.stop();
    if (cloud) await cloud.stop();
    await new Promise((r) => receiver.close(r));
  });

  const ourUrl = () => `http://127.0.0.1:${receiver.address().port}/smartlocks/tedee/${SECRET}/bridge`;
  const input = (over = {}) => ({
    bridge: { host: "127.0.0.1", port: Number(sim.url.split(":").pop()), token: TOKEN, auth: "encrypted" },
    cloud: null,
    callbackUrl: async () => ourUrl(),
    ownsCallback: (url) => url.includes(`/smartlocks/tedee/${SECRET}/`),
    callbackHeader: HEADER,
    spacingMs: 15,
    ...over,
  });
  async function addCallback(body) {
    await new Promise((resolve, reject) => {
      const req = http.request(`${sim.url}/v1.0/callback`, { method: "POST", headers: { api_token: sim.apiKey(Date.now()), "content-type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.end(JSON.stringify(body));
    });
    await new Promise((r) => setTimeout(r, 20));
  }

  it("reads the bridge, its locks and callbacks read-only, and self-tests the callback URL without the secret", async () => {
    await addCallback({ url: "http://192.168.1.99:8000/other-app?key=theirs", method: "POST", headers: [{ authz: "12345" }] });
    const before = { ...sim.stats.byRoute };
    const result = await probeTedee(input());
    assert.equal(result.ok, true);
    assert.deepEqual(
      result.devices.map((d) => [d.id, d.name, d.type, d.deviceType, d.lock, d.battery]),
      [["33819", "Front door", "lock", 2, "locked", 90], ["10", "Back door", "lock", 4, "unlocked", 55]],
    );
    assert.equal(result.details.channel, "bridge");
    assert.equal(result.details.bridge.serialNumber, "10230707-000123");
    assert.equal(result.details.bridge.firmware, "2.2.18086");
    assert.equal(result.details.bridge.cloudConnected, true);
    assert.ok(Math.abs(result.details.bridge.clockOffsetSeconds) <= 2);
    assert.match(result.summary, /Bridge-8C14, firmware 2\.2\.18086: 2 locks/);
    assert.deepEqual(result.details.callbacks, [{ id: 1, url: "http://192.168.1.99:8000/other-app?…", ours: false }], "others' query strings hidden");
    assert.deepEqual(result.callback, {
      url: `http://127.0.0.1:${receiver.address().port}/smartlocks/tedee/***/bridge`,
      registered: false,
      listedWithOtherHeader: false,
      plainHttp: true,
      shortEnough: true,
      maxLength: 120,
      notLoopback: true,
      reachable: true,
    });
    const text = JSON.stringify(result);
    for (const secret of [SECRET, TOKEN, HEADER.value, "12345"]) assert.ok(!text.includes(secret), secret);
    // Read-only: GET /bridge, /lock and /callback, nothing registered.
    const made = Object.entries(sim.stats.byRoute).filter(([route, n]) => n !== (before[route] ?? 0)).map(([route, n]) => `${route} x${n - (before[route] ?? 0)}`);
    assert.deepEqual(made.sort(), ["GET /bridge x1", "GET /callback x1", "GET /lock x1"]);
    assert.equal(sim.callbacks.length, 1);
    assert.equal(sim.stats.busyRejected, 0);
    assert.equal(sim.stats.tooFast, 0);
    assert.equal(sim.stats.replayRejected, 0);
  });

  it("sees our registration with the right header, and one whose header the config node would fix", async () => {
    await addCallback({ url: ourUrl(), method: "POST", headers: [{ [HEADER.name]: HEADER.value }] });
    const ok = await probeTedee(input());
    assert.equal(ok.callback.registered, true);
    assert.deepEqual(ok.details.callbacks, [{ id: 1, url: `http://127.0.0.1:${receiver.address().port}/smartlocks/tedee/***/bridge`, ours: true }]);
    const stale = await probeTedee(input({ callbackHeader: { name: HEADER.name, value: "another-value" } }));
    assert.deepEqual([stale.callback.registered, stale.callback.listedWithOtherHeader], [false, true]);
  });

  it("flags a long, https, loopback or unreachable callback URL, and explains one that cannot be built", async () => {
    const lan = input({ bridge: { ...input().bridge } });
    const long = await probeTedee({ ...lan, callbackUrl: async () => `http://127.0.0.1:1/${"x".repeat(130)}` });
    assert.deepEqual([long.callback.shortEnough, long.callback.reachable, long.callback.plainHttp], [false, false, true]);
    const https = await probeTedee({ ...lan, callbackUrl: async () => "https://nodered.example.invalid/smartlocks/tedee/x/bridge" });
    assert.equal(https.callback.plainHttp, false);
    const loop = await probeTedee({ ...lan, bridge: { ...lan.bridge, host: "localhost" }, callbackUrl: async () => "http://127.0.0.1:1/smartlocks/tedee/x/bridge" });
    assert.equal(loop.callback.notLoopback, true, "a bridge on loopback (a simulator) can call a loopback URL");
    const failing = await probeTedee({ ...lan, callbackUrl: async () => Promise.reject(new Error("only a loopback route to the bridge")) });
    assert.deepEqual([failing.callback.url, failing.callback.reachable, failing.callback.registered], [null, null, false]);
    assert.match(failing.callback.error, /loopback route/);
    const off = await probeTedee({ ...lan, callbackUrl: async () => null });
    assert.match(off.callback.error, /httpNodeRoot/);
  });

  it("flags a loopback callback URL for a bridge on the LAN", async function () {
    const lanAddress = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    if (!lanAddress) this.skip(); // no LAN interface on this machine: the bridge cannot be reached other than via loopback
    const lanSim = new TedeeBridgeSimulator({ token: TOKEN, busyMs: 5, host: "0.0.0.0" });
    await lanSim.start();
    try {
      const port = Number(lanSim.url.split(":").pop());
      const bridge = { host: lanAddress, port, token: TOKEN, auth: "encrypted" };
      const loop = await probeTedee(input({ bridge, callbackUrl: async () => `http://127.0.0.1:${receiver.address().port}/smartlocks/tedee/${SECRET}/bridge` }));
      assert.deepEqual([loop.callback.notLoopback, loop.callback.reachable], [false, true]);
      const fine = await probeTedee(input({ bridge, callbackUrl: async () => `http://${lanAddress}:1/smartlocks/tedee/${SECRET}/bridge` }));
      assert.equal(fine.callback.notLoopback, true);
    } finally {
      await lanSim.stop();
    }
  });

  it("reports a refused token as unauthorized with the hint, never the token", async () => {
    await assert.rejects(probeTedee(input({ bridge: { ...input().bridge, token: "wrong-token" } })), (err) => {
      assert.equal(err.code, "unauthorized");
      assert.match(err.message, /clock/);
      assert.ok(!err.message.includes("wrong-token"));
      return true;
    });
    await assert.rejects(probeTedee(input({ bridge: null })), (err) => err.code === "bad_request");
  });

  it("queues behind a running client for the same bridge instead of racing it", async () => {
    const running = new TedeeBridgeClient({ host: "127.0.0.1", port: Number(sim.url.split(":").pop()), token: TOKEN, auth: "encrypted", spacingMs: 15 });
    try {
      const [result] = await Promise.all([probeTedee(input({ bridgeClient: running })), running.locks(), running.callbacks()]);
      assert.equal(result.devices.length, 2);
      assert.equal(sim.stats.busyRejected, 0);
      assert.equal(sim.stats.replayRejected, 0);
      assert.equal(running.stats.requests, 5, "the probe's three requests went through the running client");
      await running.bridge();
    } finally {
      running.close();
    }
  });

  it("cloud only: lists the locks with one request; with a bridge, checks the key without failing the probe", async () => {
    cloud = new TedeeCloudSimulator({ key: "pak" });
    await cloud.start();
    const onlyCloud = await probeTedee(input({ bridge: null, cloud: { key: "pak", cloudUrl: cloud.url } }));
    assert.equal(onlyCloud.details.channel, "cloud");
    assert.equal(onlyCloud.callback, undefined, "no bridge, no callback");
    assert.deepEqual(onlyCloud.devices.map((d) => [d.id, d.name, d.lock]), [["33819", "Front door", "locked"], ["10", "Back door", "unlocked"]]);
    assert.match(onlyCloud.summary, /Tedee cloud: 2 locks/);
    assert.equal(cloud.stats.requests, 1);
    await assert.rejects(probeTedee(input({ bridge: null, cloud: { key: "wrong", cloudUrl: cloud.url } })), (err) => err.code === "unauthorized" && !err.message.includes("wrong"));

    const both = await probeTedee(input({ cloud: { key: "pak", cloudUrl: cloud.url } }));
    assert.deepEqual(both.details.cloud, { ok: true, devices: 2 });
    const badKey = await probeTedee(input({ cloud: { key: "wrong", cloudUrl: cloud.url } }));
    assert.equal(badKey.ok, true);
    assert.equal(badKey.details.cloud.ok, false);
    assert.equal(badKey.details.cloud.code, "unauthorized");
    cloud.exhaustRateLimit();
    const limited = await probeTedee(input({ cloud: { key: "pak", cloudUrl: cloud.url } }));
    assert.equal(limited.details.cloud.code, "busy", "a rate limit is reported at once, not sat out");
  });
});
