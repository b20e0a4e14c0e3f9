"use strict";
// "Test connection" of the Nuki config dialog, against the bridge simulator.
const assert = require("node:assert/strict");
const http = require("node:http");
const { probeBridge, probeNuki } = require("../../dist/nodes/nuki/probe.js");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");

describe("nuki/probe (test connection)", function () {
  this.timeout(20000);
  let sim;
  let receiver;
  beforeEach(async () => {
    sim = new NukiBridgeSimulator({ token: "probe-token", busyMs: 5 });
    await sim.start();
    receiver = http.createServer((req, res) => res.writeHead(405).end());
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  });
  afterEach(async () => {
    await sim.stop();
    await new Promise((r) => receiver.close(r));
  });

  const input = (over = {}) => ({
    host: "127.0.0.1",
    port: Number(sim.url.split(":").pop()),
    token: "probe-token",
    auth: "encrypted",
    callbackUrl: `http://127.0.0.1:${receiver.address().port}/smartlocks/nuki/SECRETSECRETSECRETSECRET/bridge`,
    ownsCallback: (url) => url.includes("/smartlocks/nuki/SECRETSECRETSECRETSECRET/"),
    ...over,
  });

  it("lists the devices, the slot table and a self-test of the callback URL, without the secret", async () => {
    const other = "http://192.168.1.9/other";
    await fetch(`${sim.url}/callback/add?url=${encodeURIComponent(other)}&token=probe-token`);
    const result = await probeBridge(input());
    assert.equal(result.ok, true);
    assert.deepEqual(result.devices.map((d) => [d.id, d.type, d.lock]), [["3E63C84D", "lock", "locked"], ["1A2B3C4D", "opener", "locked"]]);
    assert.equal(result.bridge.type, "hardware bridge");
    assert.ok(Math.abs(result.bridge.clockOffsetSeconds) <= 2);
    assert.deepEqual(result.callbacks, [{ id: 0, url: other, ours: false }]);
    assert.deepEqual(result.callback, {
      url: result.callback.url, registered: false, plainHttp: true, shortEnough: true, notLoopback: true, reachable: true, freeSlot: true,
    });
    assert.ok(!JSON.stringify(result).includes("SECRETSECRETSECRETSECRET"));
    assert.ok(!JSON.stringify(result).includes("probe-token"));
    assert.equal(sim.stats.busyRejected, 0);
  });

  it("reports a full slot table, an unreachable URL and a refused token", async () => {
    for (const u of ["http://10.0.0.1/a", "http://10.0.0.2/b", "http://10.0.0.3/c"]) {
      await fetch(`${sim.url}/callback/add?url=${encodeURIComponent(u)}&token=probe-token`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const full = await probeBridge(input({ callbackUrl: "http://127.0.0.1:1/smartlocks/nuki/SECRETSECRETSECRETSECRET/bridge" }));
    assert.equal(full.callback.freeSlot, false);
    assert.equal(full.callback.reachable, false);
    await assert.rejects(probeBridge(input({ token: "wrong" })), (err) => err.code === "unauthorized" && /clock/.test(err.message));
  });
  it("probeNuki warns about a bridge clock more than 30 s off with encrypted or hashed tokens, not with plain ones", async () => {
    sim.clockSkewMs = 45_000; // inside the bridge's 60 s window: still accepted, but close to being refused
    const encrypted = await probeNuki({ bridge: input(), web: null });
    assert.ok(encrypted.details.bridge.clockOffsetSeconds >= 43, String(encrypted.details.bridge.clockOffsetSeconds));
    assert.equal(encrypted.details.bridge.clockWarning, true);
    assert.equal(encrypted.details.maxCallbacks, 3);
    assert.deepEqual(encrypted.devices.map((d) => d.channels), [["bridge"], ["bridge"]]);
    const plain = await probeNuki({ bridge: input({ auth: "plain" }), web: null });
    assert.equal(plain.details.bridge.clockWarning, false);
    sim.clockSkewMs = 0;
    const fine = await probeNuki({ bridge: input(), web: null });
    assert.equal(fine.details.bridge.clockWarning, false);
  });
});
