"use strict";
// The Tedee simulators enforce the real limits, so the plugin's tests can fail: these check that they do.
const assert = require("node:assert/strict");
const http = require("node:http");
const { TedeeBridgeSimulator } = require("../simulators/tedee-bridge");
const { TedeeCloudSimulator } = require("../simulators/tedee-cloud");
const { TedeeCloudClient } = require("../../dist/nodes/tedee/cloud-client.js");

function call(base, method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const req = http.request(`${base}${path}`, { method, headers: { ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode, body: json, headers: res.headers });
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}

describe("tedee bridge simulator", function () {
  this.timeout(10000);
  let sim;
  afterEach(() => sim?.stop());

  it("accepts each encrypted key once, only with increasing timestamps", async () => {
    sim = new TedeeBridgeSimulator({ busyMs: 1 });
    await sim.start();
    const base = `${sim.url}/v1.0`;
    const now = Date.now();
    assert.equal((await call(base, "GET", "/lock", { headers: { api_token: sim.apiKey(now) } })).status, 200);
    const reused = await call(base, "GET", "/lock", { headers: { api_token: sim.apiKey(now) } });
    assert.deepEqual([reused.status, reused.body], [401, { "error-description": "Invalid token" }]);
    assert.equal((await call(base, "GET", "/lock", { headers: { api_token: sim.apiKey(now - 5) } })).status, 401, "older timestamp");
    assert.equal((await call(base, "GET", "/lock", { headers: { api_token: sim.apiKey(now + 1) } })).status, 200);
    assert.equal((await call(base, "GET", `/lock?api_token=${sim.apiKey(now + 2)}`)).status, 200, "query form");
    assert.equal((await call(base, "GET", "/lock", { headers: { api_token: sim.token } })).status, 401, "plain refused in encrypted mode");
    assert.equal((await call(base, "GET", "/lock", { headers: { api_token: sim.apiKey(now + 600_000) } })).status, 401, "outside the clock window");
    assert.equal(sim.stats.replayRejected, 2);
    assert.deepEqual(sim.requests.map((r) => r.authError).filter(Boolean), ["key reused", "timestamp not increasing", "not an encrypted key", "timestamp outside the clock window"]);
  });

  it("handles one request at a time and validates callbacks", async () => {
    sim = new TedeeBridgeSimulator({ busyMs: 100, encrypted: false });
    await sim.start();
    const base = `${sim.url}/v1.0`;
    const auth = { api_token: sim.token };
    const [a, b] = await Promise.all([call(base, "GET", "/bridge", { headers: auth }), call(base, "GET", "/lock", { headers: auth })]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409]);
    assert.equal(sim.stats.busyRejected, 1);
    assert.equal((await call(base, "POST", "/callback", { headers: auth, body: { url: "https://x.example/cb", method: "POST", headers: [] } })).status, 400, "https refused");
    assert.equal((await call(base, "POST", "/callback", { headers: auth, body: { url: `http://10.0.0.1/${"x".repeat(200)}`, headers: [] } })).status, 400, "too long");
    assert.equal((await call(base, "POST", "/callback", { headers: auth, body: { url: "http://10.0.0.1/cb", headers: [{ a: "1", b: "2" }] } })).status, 400, "one key per header object");
    const added = await call(base, "POST", "/callback", { headers: auth, body: { url: "http://10.0.0.1/cb", headers: [{ authz: "1" }] } });
    assert.deepEqual([added.status, added.body], [200, { id: 1 }]);
    assert.equal(sim.callbacks[0].method, "POST");
    assert.equal((await call(base, "DELETE", "/callback/7", { headers: auth })).status, 404);
    assert.equal((await call(base, "DELETE", "/callback/1", { headers: auth })).status, 204);
  });

  it("delivers every event type with the callback's headers, in POST and GET forms", async () => {
    const got = [];
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        got.push({ method: req.method, url: req.url, header: req.headers["x-key"], body: Buffer.concat(chunks).toString() });
        res.end();
      });
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const target = `http://127.0.0.1:${server.address().port}`;
    sim = new TedeeBridgeSimulator({ busyMs: 1, actionMs: 5, encrypted: false });
    await sim.start();
    const auth = { api_token: sim.token };
    await call(`${sim.url}/v1.0`, "POST", "/callback", { headers: auth, body: { url: `${target}/post`, method: "POST", headers: [{ "X-Key": "k1" }] } });
    await call(`${sim.url}/v1.0`, "POST", "/callback", { headers: auth, body: { url: `${target}/get`, method: "GET", headers: [{ "X-Key": "k2" }] } });
    await call(`${sim.url}/v1.0`, "POST", "/callback", { headers: auth, body: { url: `${target}/path`, method: "GET+NO_PARAMS", headers: [] } });
    await sim.setState(33819, { state: 6 });
    await sim.setConnected(33819, false);
    await sim.setBattery(33819, 50);
    await sim.startCharging(33819);
    await sim.stopCharging(33819);
    await sim.fullyCharged(33819);
    await sim.changeSettings(33819, {});
    await sim.setBackendConnected(false);
    const events = sim.deliveries.filter((d) => d.method === "POST").map((d) => d.body.event);
    assert.deepEqual(events, ["lock-status-changed", "device-connection-changed", "device-battery-level-changed", "device-battery-start-charging", "device-battery-stop-charging", "device-battery-fully-charged", "device-settings-changed", "backend-connection-changed"]);
    const post = got.find((g) => g.url === "/post");
    assert.equal(post.header, "k1");
    assert.deepEqual(JSON.parse(post.body).data, { deviceType: 2, deviceId: 33819, serialNumber: "19420103-000006", state: 6, jammed: 0 });
    assert.match(got.find((g) => g.url.startsWith("/get?")).url, /event=lock-status-changed&timestamp=.*&deviceId=33819&serialNumber=19420103-000006&state=6&jammed=0/);
    assert.equal(got.find((g) => g.url.startsWith("/get?")).header, "k2");
    assert.match(got.find((g) => g.url.startsWith("/path/")).url, /^\/path\/event=lock-status-changed\/timestamp=[^/]+\/deviceType=2\/deviceId=33819\//);
    await new Promise((r) => server.close(r));
  });

  it("answers 204 for an operation, then moves; 403 for an invalid mode, 405 offline", async () => {
    sim = new TedeeBridgeSimulator({ busyMs: 1, actionMs: 5, encrypted: false });
    await sim.start();
    const base = `${sim.url}/v1.0`;
    const auth = { api_token: sim.token };
    assert.equal((await call(base, "POST", "/lock/33819/unlock?mode=7", { headers: auth })).status, 403);
    assert.equal((await call(base, "POST", "/lock/33819/unlock", { headers: { ...auth, mode: "3" } })).status, 204);
    await sim.settled();
    assert.equal(sim.getDevice(33819).state, 2);
    assert.equal(sim.operations[0].mode, 3);
    await sim.setConnected(33819, false);
    const offline = await call(base, "POST", "/lock/33819/lock", { headers: auth });
    assert.deepEqual([offline.status, offline.body], [405, { "error-description": "Device is disconnected" }]);
  });
});

describe("tedee cloud simulator and client", function () {
  this.timeout(10000);
  let cloud;
  afterEach(() => cloud?.stop());

  it("refuses a wrong key and sends 429 with Retry-After over the rate limit", async () => {
    cloud = new TedeeCloudSimulator({ key: "k", limit: 3 });
    await cloud.start();
    assert.equal((await call(cloud.url, "GET", "/api/v1.36/my/lock", { headers: { authorization: "PersonalKey nope" } })).status, 401);
    for (let i = 0; i < 3; i++) assert.equal((await call(cloud.url, "GET", "/api/v1.36/my/lock", { headers: { authorization: "PersonalKey k" } })).status, 200);
    const limited = await call(cloud.url, "GET", "/api/v1.36/my/lock", { headers: { authorization: "PersonalKey k" } });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers["retry-after"]) > 3000);
  });

  it("client: a short Retry-After is retried even when the wait's timer fires before the wall clock says it is due", async () => {
    cloud = new TedeeCloudSimulator({ key: "k", limit: 1, windowMs: 1500 });
    await cloud.start();
    // From 100 ms after the 429, the clock reads 5 ms behind the timers (as Date.now can against setTimeout).
    let limitedAt = 0;
    const now = () => {
      if (cloud.stats.rateLimited > 0 && !limitedAt) limitedAt = Date.now();
      return Date.now() - (limitedAt && Date.now() - limitedAt > 100 ? 5 : 0);
    };
    const client = new TedeeCloudClient({ key: "k", cloudUrl: cloud.url, spacingMs: 0, maxWaitMs: 3000, now });
    await client.locks();
    await client.locks(); // 429 with Retry-After 1-2 s: waited for, then sent
    assert.equal(cloud.stats.rateLimited, 1);
    client.close();
  });

  it("client: short Retry-After is waited for once, a long one blocks locally", async () => {
    cloud = new TedeeCloudSimulator({ key: "k", limit: 1, windowMs: 1500 });
    await cloud.start();
    const client = new TedeeCloudClient({ key: "k", cloudUrl: cloud.url, spacingMs: 0, maxWaitMs: 3000 });
    await client.locks();
    const started = Date.now();
    await client.locks(); // 429 with Retry-After 1-2 s: waited for
    assert.ok(Date.now() - started >= 900);
    client.close();
    const strict = new TedeeCloudClient({ key: "k", cloudUrl: cloud.url, spacingMs: 0, maxWaitMs: 0 });
    cloud.exhaustRateLimit();
    await assert.rejects(strict.locks(), { code: "busy" });
    const count = cloud.stats.requests;
    await assert.rejects(strict.lock(33819), (err) => err.code === "busy" && /next request allowed/.test(err.message));
    assert.equal(cloud.stats.requests, count, "blocked without asking");
    strict.close();
  });
});
