"use strict";
// The LOQED bridge simulator is only useful if it is strict: it must refuse what a real bridge refuses.
const assert = require("node:assert/strict");
const http = require("node:http");
const { LoqedBridgeSimulator } = require("../simulators/loqed-bridge");
const crypto = require("../../dist/nodes/loqed/crypto.js");
const { triggerBody } = require("../../dist/nodes/loqed/bridge-client.js");

const BRIDGE_KEY = "Ym9uam91ciBtb25kZQ==";
const KEY = crypto.decodeKey(BRIDGE_KEY, "b");

function call(sim, method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sim.url}${path}`, { method, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, type: res.headers["content-type"], text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("loqed bridge simulator", () => {
  let sim;
  beforeEach(async () => {
    sim = new LoqedBridgeSimulator({ bridgeKey: BRIDGE_KEY, keys: { 1: "SGFsbG8gd2VyZWxk" }, goToMs: 5, moveMs: 5, returnMs: 5 });
    await sim.start();
  });
  afterEach(() => sim.stop());
  const now = () => Math.floor(Date.now() / 1000);

  it("serves /status as text/html", async () => {
    const res = await call(sim, "GET", "/status");
    assert.equal(res.type, "text/html");
    assert.equal(JSON.parse(res.text).bolt_state, "night_lock");
  });

  it("checks management headers: names, freshness, hash, and the flag bitmap against the body", async () => {
    const ts = now();
    const good = crypto.managementHeaders(crypto.managementPrefix.list(), ts, KEY);
    assert.equal((await call(sim, "GET", "/webhooks", good)).status, 200);
    assert.equal((await call(sim, "GET", "/webhooks", { timestamp: good.TIMESTAMP, hash: good.HASH })).status, 401, "lower-case names");
    assert.equal((await call(sim, "GET", "/webhooks", crypto.managementHeaders(crypto.managementPrefix.list(), ts - 120, KEY))).status, 401, "old");
    assert.equal((await call(sim, "GET", "/webhooks", { ...good, HASH: "0".repeat(64) })).status, 401);
    const url = "http://10.0.0.5:1880/x";
    const body = JSON.stringify(triggerBody(url, 511));
    const json = { "Content-Type": "application/json" };
    assert.equal((await call(sim, "POST", "/webhooks", { ...json, ...crypto.managementHeaders(crypto.managementPrefix.create(url, 399), ts, KEY) }, body)).status, 401, "bitmap differs from the body");
    assert.equal((await call(sim, "POST", "/webhooks", { ...json, ...crypto.managementHeaders(crypto.managementPrefix.create(url, 511), ts, KEY) }, JSON.stringify({ ...triggerBody(url, 511), trigger_battery: "1" }))).status, 400, "string flag");
    assert.equal((await call(sim, "POST", "/webhooks", { ...json, ...crypto.managementHeaders(crypto.managementPrefix.create(url, 511), ts, KEY) }, body)).status, 200);
    assert.deepEqual(sim.webhooks.map((w) => [w.id, w.url]), [[1, url]]);
    assert.equal((await call(sim, "DELETE", "/webhooks/1", crypto.managementHeaders(crypto.managementPrefix.remove(2), ts, KEY))).status, 401, "hash of another id");
    assert.equal((await call(sim, "DELETE", "/webhooks/1", crypto.managementHeaders(crypto.managementPrefix.remove(1), ts, KEY))).status, 200);
    assert.equal(sim.webhooks.length, 0);
  });

  it("answers 200 to every command but only moves the lock for a valid one, recording why", async () => {
    const secret = crypto.decodeKey("SGFsbG8gd2VyZWxk", "k");
    const send = (b64) => call(sim, "GET", `/to_lock?command_signed_base64=${encodeURIComponent(b64)}`);
    const cases = [
      [crypto.commandBase64(crypto.decodeKey("V3Jvbmc=", "k"), 1, 2, now()), "HMAC mismatch"],
      [crypto.commandBase64(secret, 1, 2, now() - 120), "timestamp too old"],
      [crypto.commandBase64(secret, 9, 2, now()), "no key in slot 9"],
      [Buffer.alloc(45).toString("base64"), "45 bytes, not 53"],
    ];
    for (const [b64, reason] of cases) {
      const res = await send(b64);
      assert.equal(res.status, 200);
      assert.equal(res.text, "Message resent to the lock");
      assert.equal(sim.commands.at(-1).reason, reason);
    }
    assert.equal(sim.bolt, "night_lock");
    await send(crypto.commandBase64(secret, 1, 2, now()));
    assert.equal(sim.commands.at(-1).valid, true);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sim.bolt, "day_lock");
  });
});
