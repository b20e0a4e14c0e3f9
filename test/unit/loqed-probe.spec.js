"use strict";
// "Test connection" of the LOQED config dialog (nodes/loqed/probe.ts), against the bridge simulator.
const assert = require("node:assert/strict");
const http = require("node:http");
const { probeLoqed, MAX_WEBHOOK_URL_LENGTH } = require("../../dist/nodes/loqed/probe.js");
const { LoqedBridgeSimulator } = require("../simulators/loqed-bridge");

const BRIDGE_KEY = "Ym9uam91ciBtb25kZQ==";
const SECRET = "SECRETSECRETSECRETSECRET";

describe("loqed/probe (test connection)", function () {
  this.timeout(20000);
  let sim;
  let receiver;
  beforeEach(async () => {
    sim = new LoqedBridgeSimulator({ bridgeKey: BRIDGE_KEY, bolt: "day_lock" });
    await sim.start();
    receiver = http.createServer((req, res) => res.writeHead(405).end());
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  });
  afterEach(async () => {
    await sim.stop();
    await new Promise((r) => receiver.close(r));
  });

  const ourUrl = () => `http://127.0.0.1:${receiver.address().port}/smartlocks/loqed/${SECRET}/bridge`;
  const input = (over = {}) => ({
    host: "127.0.0.1",
    port: sim.port,
    bridgeKey: Buffer.from(BRIDGE_KEY, "base64"),
    lockId: "",
    name: "Front door",
    callbackUrl: ourUrl(),
    ownsWebhook: (url) => url.includes(`/smartlocks/loqed/${SECRET}/`),
    ...over,
  });

  it("lists the lock, the webhook table with ours redacted, and a self-test of the webhook URL; reads only", async () => {
    sim.webhooks.push({ id: 7, url: "http://192.168.1.9/other" }, { id: 8, url: ourUrl() });
    const result = await probeLoqed(input());
    assert.equal(result.ok, true);
    assert.deepEqual(result.devices, [{ id: "aabbccddeeff", name: "Front door", type: "lock", lock: "unlocked" }]);
    assert.deepEqual(result.details.webhooks, [
      { id: 7, url: "http://192.168.1.9/other", ours: false },
      { id: 8, url: ourUrl().replace(SECRET, "***"), ours: true },
    ]);
    assert.deepEqual(result.callback, { url: ourUrl().replace(SECRET, "***"), problem: null, registered: true, plainHttp: true, shortEnough: true, notLoopback: true, reachable: true });
    assert.equal(result.details.bridge.battery, 78);
    assert.match(result.summary, /lock unlocked, 2 webhook\(s\), 1 of this config node/);
    assert.ok(!JSON.stringify(result).includes(SECRET));
    assert.deepEqual(Object.keys(sim.stats.byPath).sort(), ["GET /status", "GET /webhooks"], "nothing but two reads");
  });

  it("uses lockId as the device id, flags a long, https or unreachable URL, and works without a bridge key", async () => {
    const long = `https://127.0.0.1:1/${"x".repeat(MAX_WEBHOOK_URL_LENGTH)}/smartlocks/loqed/${SECRET}/bridge`;
    const result = await probeLoqed(input({ bridgeKey: null, lockId: "Yq1gK4oeE9KWe0ByxjX2", callbackUrl: long }));
    assert.equal(result.devices[0].id, "Yq1gK4oeE9KWe0ByxjX2");
    assert.equal(result.details.webhooks, null);
    assert.match(result.summary, /not listed \(no bridge key\)/);
    assert.deepEqual(
      { ...result.callback, url: undefined },
      { url: undefined, problem: null, registered: false, plainHttp: false, shortEnough: false, notLoopback: true, reachable: false },
    );
    const none = await probeLoqed(input({ callbackUrl: null, callbackProblem: "no route secret yet" }));
    assert.deepEqual({ url: none.callback.url, problem: none.callback.problem, reachable: none.callback.reachable }, { url: null, problem: "no route secret yet", reachable: null });
  });

  it("refuses a wrong bridge key as unauthorized, an absent bridge as unreachable, and answers cloud-only setups without a request", async () => {
    await assert.rejects(probeLoqed(input({ bridgeKey: Buffer.from("wrong key") })), (err) => err.code === "unauthorized" && /bridge key/.test(err.message));
    await assert.rejects(probeLoqed(input({ port: 1 })), (err) => err.code === "unreachable");
    const before = sim.stats.requests;
    const cloudOnly = await probeLoqed(input({ host: "", lockId: "Yq1gK4oeE9KWe0ByxjX2" }));
    assert.deepEqual(cloudOnly.devices, [{ id: "Yq1gK4oeE9KWe0ByxjX2", name: "Front door", type: "lock", lock: null }]);
    assert.match(cloudOnly.summary, /cloud only/);
    assert.equal(sim.stats.requests, before);
  });
});
