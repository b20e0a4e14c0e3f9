"use strict";

// The Nuki Bridge simulator is the yardstick for the plugin's end-to-end tests, so it is tested against the
// research reference (research/nuki.md §1, §6): auth vectors, the bridge's limits and the payload shapes.
// Everything talks real HTTP on 127.0.0.1. Waits are "until the outcome is visible" with a generous upper
// bound; no assertion depends on how long something took.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const http = require("node:http");
const path = require("node:path");
const { spawn } = require("node:child_process");
const nacl = require("tweetnacl");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");

const LOCK = 1046726733; // 3E63C84D, Smart Lock 3.0 Pro (deviceType 4) of the default set
const OPENER = 439041101; // 1A2B3C4D, Opener (deviceType 2)
const TOKEN = "123456";
const VECTOR_TS = "2019-03-05T01:06:53Z";
const VECTOR_HASH = "f52eb5ce382e356c4239f8fb4d0a87402bb95b7b3124f0762b806ad7d0d01cb6";
const VECTOR_NONCE = "119c38fb6d7d707b8a45f14e688b74b8c4c1acf33643c71a";
const VECTOR_CTOKEN = "a7f6b4df6758b92445bd5470b755b43ba41cf50af8b3f6e19368348ddfb1686291555dfd90b31f9333";
const BRIDGE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$/;
const LOCK_KEYS = ["nukiId", "deviceType", "mode", "state", "stateName", "batteryCritical", "batteryCharging", "batteryChargeState"];
const LOCK_FULL_KEYS = [...LOCK_KEYS, "keypadBatteryCritical", "doorsensorState", "doorsensorStateName"];
const OPENER_KEYS = ["nukiId", "deviceType", "mode", "state", "stateName", "batteryCritical", "ringactionTimestamp", "ringactionState"];

// ---- auth helper (independent of nodes/: this is the client side as research §1.2 describes it) -------------

const tsOf = (ms) => new Date(ms).toISOString().slice(0, 19) + "Z";
const sha256 = (value) => crypto.createHash("sha256").update(value, "utf8");
let rnrCounter = 0;
const nextRnr = () => rnrCounter++ % 65536;

function hashedAuth(token, ts, rnr = nextRnr()) {
  return { ts, rnr: String(rnr), hash: sha256(`${ts},${rnr},${token}`).digest("hex") };
}

function encryptedAuth(token, ts, rnr = nextRnr(), nonce = crypto.randomBytes(24).toString("hex")) {
  const box = nacl.secretbox(Buffer.from(`${ts},${rnr}`, "utf8"), Buffer.from(nonce, "hex"), sha256(token).digest());
  return { ctoken: Buffer.from(box).toString("hex"), nonce };
}

/** ts in the bridge's clock (the test knows the simulator's skew), shifted by offsetMs. */
const bridgeTs = (sim, offsetMs = 0) => tsOf(Date.now() + sim.clockSkewMs + offsetMs);

// ---- HTTP helpers ------------------------------------------------------------------------------------------

function request(url, { method = "GET", body } = {}) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { "Content-Type": "application/json" };
    const req = http.request(url, { method, agent: false, headers }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode, type: res.headers["content-type"], text, json: () => JSON.parse(text) });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

function get(sim, pathname, query = {}) {
  const qs = new URLSearchParams(query).toString();
  return request(`${sim.url}${pathname}${qs ? `?${qs}` : ""}`);
}

const plain = (extra = {}) => ({ ...extra, token: TOKEN });

async function waitUntil(predicate, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// ---- fixtures ------------------------------------------------------------------------------------------------

const running = [];
const receivers = [];

async function startSim(options = {}) {
  const sim = new NukiBridgeSimulator({ busyMs: 5, actionMs: 20, ...options });
  running.push(sim);
  await sim.start();
  return sim;
}

/** An http server that records callback POSTs; `respond` decides the answer (default 200 at once). */
async function startReceiver(respond = (req, res) => res.end()) {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const item = { method: req.method, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
      received.push(item);
      respond(req, res, item);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const receiver = {
    url: `http://127.0.0.1:${server.address().port}/nuki/callback`,
    received,
    bodies: () => received.map((item) => item.body),
    waitFor: (count) => waitUntil(() => received.length >= count, `${count} callbacks at ${receiver.url}`),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  receivers.push(receiver);
  return receiver;
}

async function addCallback(sim, url) {
  const answer = await get(sim, "/callback/add", plain({ url }));
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(answer.json(), { success: true });
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.stop()));
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

// ---- tests ---------------------------------------------------------------------------------------------------

describe("Nuki Bridge simulator", function () {
  describe("authentication", function () {
    const atVectorTime = () => ({ clockSkewMs: Date.parse(VECTOR_TS) - Date.now() });

    it("accepts the hashed research vector when its clock is at the vector time", async function () {
      assert.equal(hashedAuth(TOKEN, VECTOR_TS, 4711).hash, VECTOR_HASH, "test helper reproduces the vector");
      const sim = await startSim(atVectorTime());
      const answer = await get(sim, "/info", { ts: VECTOR_TS, rnr: "4711", hash: VECTOR_HASH });
      assert.equal(answer.status, 200, answer.text);
      const info = answer.json();
      assert.equal(info.bridgeType, 1);
      assert.match(info.currentTime, BRIDGE_TIME);
      assert.ok(info.currentTime.startsWith("2019-03-05T01:0"), `currentTime follows the bridge clock: ${info.currentTime}`);
    });

    it("accepts the encrypted research vector (ctoken a7f6b4df…, plaintext ts,rnr)", async function () {
      const opened = nacl.secretbox.open(Buffer.from(VECTOR_CTOKEN, "hex"), Buffer.from(VECTOR_NONCE, "hex"), sha256(TOKEN).digest());
      assert.equal(Buffer.from(opened).toString("utf8"), `${VECTOR_TS},4711`);
      assert.equal(encryptedAuth(TOKEN, VECTOR_TS, 4711, VECTOR_NONCE).ctoken, VECTOR_CTOKEN, "test helper reproduces the vector");
      const sim = await startSim(atVectorTime());
      const answer = await get(sim, "/info", { ctoken: VECTOR_CTOKEN, nonce: VECTOR_NONCE });
      assert.equal(answer.status, 200, answer.text);
    });

    it("refuses a replayed (ts, rnr) pair, also when it comes back with another method", async function () {
      const sim = await startSim(atVectorTime());
      assert.equal((await get(sim, "/list", { ts: VECTOR_TS, rnr: "4711", hash: VECTOR_HASH })).status, 200);
      const replay = await get(sim, "/list", { ts: VECTOR_TS, rnr: "4711", hash: VECTOR_HASH });
      assert.equal(replay.status, 401);
      assert.equal(replay.text, "HTTP 401 Unauthorized");
      assert.equal((await get(sim, "/list", { ctoken: VECTOR_CTOKEN, nonce: VECTOR_NONCE })).status, 401);
      assert.equal(sim.stats.authFailures, 2);
      assert.deepEqual(
        sim.requests.map((entry) => entry.status),
        [200, 401, 401],
      );
      assert.match(sim.requests[1].authError, /replay/);
    });

    it("refuses a reused nonce even with a fresh ts,rnr", async function () {
      const sim = await startSim();
      const nonce = crypto.randomBytes(24).toString("hex");
      assert.equal((await get(sim, "/info", encryptedAuth(TOKEN, bridgeTs(sim), nextRnr(), nonce))).status, 200);
      const reused = await get(sim, "/info", encryptedAuth(TOKEN, bridgeTs(sim), nextRnr(), nonce));
      assert.equal(reused.status, 401);
      assert.match(sim.requests[1].authError, /nonce/);
    });

    it("refuses ts outside the 60 s window of the bridge clock, in both directions", async function () {
      const sim = await startSim(atVectorTime());
      const base = Date.parse(VECTOR_TS);
      assert.equal((await get(sim, "/info", hashedAuth(TOKEN, tsOf(base - 90_000)))).status, 401);
      assert.equal((await get(sim, "/info", hashedAuth(TOKEN, tsOf(base + 90_000)))).status, 401);
      assert.equal((await get(sim, "/info", encryptedAuth(TOKEN, tsOf(base + 90_000)))).status, 401);
      assert.equal((await get(sim, "/info", hashedAuth(TOKEN, tsOf(base - 30_000)))).status, 200);
      assert.equal((await get(sim, "/info", encryptedAuth(TOKEN, tsOf(base + 30_000)))).status, 200);
      assert.equal(sim.stats.authFailures, 3);
    });

    it("judges ts by the bridge clock (clockSkewMs), which /info.currentTime shows", async function () {
      const sim = await startSim({ clockSkewMs: -2 * 3600_000 });
      assert.equal((await get(sim, "/info", hashedAuth(TOKEN, tsOf(Date.now())))).status, 401, "client clock is 2 h ahead");
      const { currentTime } = (await get(sim, "/info", plain())).json();
      const bridgeNow = Date.parse(currentTime);
      assert.ok(Math.abs(bridgeNow - (Date.now() - 2 * 3600_000)) < 60_000, currentTime);
      assert.equal((await get(sim, "/info", hashedAuth(TOKEN, tsOf(bridgeNow)))).status, 200);
    });

    it("software bridge: refuses the encrypted token, accepts hashed and plain", async function () {
      const sim = await startSim({ bridgeType: 2 });
      const info = await get(sim, "/info", plain());
      assert.equal(info.json().bridgeType, 2);
      assert.ok("appVersion" in info.json().versions);
      assert.equal((await get(sim, "/info", encryptedAuth(TOKEN, bridgeTs(sim)))).status, 401);
      assert.match(sim.requests[1].authError, /software bridge/);
      assert.equal((await get(sim, "/info", hashedAuth(TOKEN, bridgeTs(sim)))).status, 200);
    });

    it("refuses wrong tokens, wrong or upper-case hashes, missing and mixed parameters", async function () {
      const sim = await startSim();
      const hashed = hashedAuth(TOKEN, bridgeTs(sim));
      const attempts = [
        {},
        { token: "654321" },
        hashedAuth("654321", bridgeTs(sim)),
        { ...hashed, hash: hashed.hash.toUpperCase() },
        { ts: bridgeTs(sim), rnr: "1" },
        { ...hashedAuth(TOKEN, bridgeTs(sim)), rnr: "65536" },
        encryptedAuth("654321", bridgeTs(sim)),
        { ...encryptedAuth(TOKEN, bridgeTs(sim)), nonce: "abcd" },
        { ...hashedAuth(TOKEN, bridgeTs(sim)), token: TOKEN },
      ];
      for (const query of attempts) {
        assert.equal((await get(sim, "/list", query)).status, 401, JSON.stringify(query));
      }
      assert.equal(sim.stats.authFailures, attempts.length);
      assert.equal((await get(sim, "/list", hashed)).status, 200, "the untouched hashed token still works");
    });

    it("allowAuth switches methods off", async function () {
      const sim = await startSim({ allowAuth: ["encrypted"] });
      assert.equal((await get(sim, "/info", plain())).status, 401);
      assert.equal((await get(sim, "/info", hashedAuth(TOKEN, bridgeTs(sim)))).status, 401);
      assert.equal((await get(sim, "/info", encryptedAuth(TOKEN, bridgeTs(sim)))).status, 200);
    });

    it("logs parameter names but never auth values", async function () {
      const secret = "sEcReT-token-987";
      const sim = await startSim({ token: secret });
      const hashed = hashedAuth(secret, bridgeTs(sim));
      await get(sim, "/list", { token: secret });
      await get(sim, "/list", hashed);
      await get(sim, "/list", { token: "wrong-guess" });
      const log = JSON.stringify(sim.requests);
      for (const value of [secret, hashed.hash, hashed.ts, "wrong-guess"]) assert.ok(!log.includes(value), `log leaks ${value}`);
      assert.deepEqual(sim.requests[0].query, ["token"]);
      assert.deepEqual(sim.requests[1].query, ["ts", "rnr", "hash"]);
    });
  });

  describe("one request at a time", function () {
    it("answers a request that arrives while another is processed with 503 at once, and counts it", async function () {
      const sim = await startSim({ busyMs: 300 });
      const first = get(sim, "/list", plain());
      await waitUntil(() => sim.stats.requests === 1, "the first request to arrive");
      const second = await get(sim, "/info", plain());
      assert.equal(second.status, 503);
      assert.equal(second.text, "HTTP 503 Unavailable");
      assert.equal((await first).status, 200);
      assert.equal((await get(sim, "/info", plain())).status, 200, "free again afterwards");
      assert.equal(sim.stats.busyRejected, 1);
      assert.equal(sim.stats.requests, 3);
      assert.equal(sim.requests.find((entry) => entry.busy).path, "/info");
    });

    it("keeps the bridge busy during a blocking lockAction (nowait=0)", async function () {
      const sim = await startSim({ actionMs: 300 });
      const action = get(sim, "/lockAction", plain({ nukiId: LOCK, deviceType: 4, action: 1 }));
      await waitUntil(() => sim.stats.requests === 1, "the lockAction to arrive");
      assert.equal((await get(sim, "/list", plain())).status, 503);
      const answer = await action;
      assert.deepEqual(answer.json(), { success: true, batteryCritical: false });
      const list = (await get(sim, "/list", plain())).json();
      assert.equal(list.find((d) => d.nukiId === LOCK).lastKnownState.state, 3, "movement finished before the answer");
    });

    it("refuses further commands for a device whose background (nowait=1) movement is running", async function () {
      const sim = await startSim({ actionMs: 60_000 }); // stop() cuts the movement short
      const started = await get(sim, "/lockAction", plain({ nukiId: LOCK, deviceType: 4, action: 1, nowait: 1 }));
      assert.deepEqual(started.json(), { success: true, batteryCritical: false });
      assert.equal((await get(sim, "/lockAction", plain({ nukiId: LOCK, deviceType: 4, action: 2 }))).status, 503);
      assert.equal((await get(sim, "/lockState", plain({ nukiId: LOCK, deviceType: 4 }))).status, 503);
      assert.equal(sim.stats.busyRejected, 2);
      const list = (await get(sim, "/list", plain())).json();
      assert.equal(list.find((d) => d.nukiId === LOCK).lastKnownState.stateName, "unlocking");
      const other = await get(sim, "/lockAction", plain({ nukiId: OPENER, deviceType: 2, action: 1, nowait: 1 }));
      assert.equal(other.status, 200, "other devices are not affected");
    });
  });

  describe("callback registry", function () {
    it("holds three callbacks (duplicates included); the fourth gets 'too many callbacks registered'", async function () {
      const sim = await startSim();
      await addCallback(sim, "http://192.168.0.20:8000/nuki");
      await addCallback(sim, "http://192.168.0.20:8000/nuki");
      await addCallback(sim, "http://192.168.0.21/test");
      const fourth = await get(sim, "/callback/add", plain({ url: "http://192.168.0.22/x" }));
      assert.equal(fourth.status, 200);
      assert.deepEqual(fourth.json(), { success: false, message: "too many callbacks registered" });
      assert.deepEqual((await get(sim, "/callback/list", plain())).json(), {
        callbacks: [
          { id: 0, url: "http://192.168.0.20:8000/nuki" },
          { id: 1, url: "http://192.168.0.20:8000/nuki" },
          { id: 2, url: "http://192.168.0.21/test" },
        ],
      });
    });

    it("refuses https, missing and over-long URLs with 400; 254 characters are fine", async function () {
      const sim = await startSim();
      const prefix = "http://192.168.0.20:8000/";
      const url254 = prefix + "a".repeat(254 - prefix.length);
      for (const url of ["https://192.168.0.20/nuki", url254 + "a", "not a url", ""]) {
        const answer = await get(sim, "/callback/add", plain({ url }));
        assert.equal(answer.status, 400, url);
        assert.equal(answer.json().success, false);
        assert.equal(typeof answer.json().message, "string");
      }
      await addCallback(sim, url254);
      assert.deepEqual(sim.callbacks, [{ id: 0, url: url254 }]);
    });

    it("URL-decodes the url parameter", async function () {
      const sim = await startSim();
      const url = "http://192.168.0.20:8000/smartlocks/nuki/abc?x=1&y=2";
      const answer = await request(`${sim.url}/callback/add?url=${encodeURIComponent(url)}&token=${TOKEN}`);
      assert.equal(answer.status, 200);
      assert.deepEqual((await get(sim, "/callback/list", plain())).json().callbacks, [{ id: 0, url }]);
    });

    it("renumbers the remaining callbacks after a removal; unknown ids get 400", async function () {
      const sim = await startSim();
      for (const name of ["a", "b", "c"]) await addCallback(sim, `http://10.0.0.1/${name}`);
      const removed = await get(sim, "/callback/remove", plain({ id: 0 }));
      assert.deepEqual(removed.json(), { success: true });
      assert.deepEqual((await get(sim, "/callback/list", plain())).json().callbacks, [
        { id: 0, url: "http://10.0.0.1/b" },
        { id: 1, url: "http://10.0.0.1/c" },
      ]);
      for (const id of ["2", "x", ""]) {
        const answer = await get(sim, "/callback/remove", plain({ id }));
        assert.equal(answer.status, 400, `id ${id}`);
        assert.equal(answer.json().success, false);
      }
      assert.equal(sim.callbacks.length, 2);
    });
  });

  describe("callback deliveries", function () {
    it("POSTs the full lock state as JSON without timestamp, in order of the changes", async function () {
      const sim = await startSim();
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      sim.openDoor(LOCK);
      await sim.closeDoor(LOCK);
      assert.equal(receiver.received.length, 2, "closeDoor resolves after its delivery");
      const [opened, closed] = receiver.received;
      assert.equal(opened.method, "POST");
      assert.equal(opened.headers["content-type"], "application/json");
      assert.deepEqual(Object.keys(opened.body), LOCK_FULL_KEYS);
      assert.deepEqual(opened.body, {
        nukiId: LOCK,
        deviceType: 4,
        mode: 2,
        state: 1,
        stateName: "locked",
        batteryCritical: false,
        batteryCharging: false,
        batteryChargeState: 80,
        keypadBatteryCritical: false,
        doorsensorState: 3,
        doorsensorStateName: "door opened",
      });
      assert.equal(closed.body.doorsensorState, 2);
      assert.equal(closed.body.doorsensorStateName, "door closed");
      assert.deepEqual(
        sim.deliveries.map((d) => [d.url, d.status, d.body.doorsensorState]),
        [
          [receiver.url, 200, 3],
          [receiver.url, 200, 2],
        ],
      );
    });

    it("POSTs the Opener shape with a bridge-clock ringactionTimestamp", async function () {
      const sim = await startSim({ clockSkewMs: Date.parse(VECTOR_TS) - Date.now() });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await sim.ring(OPENER);
      const [body] = receiver.bodies();
      assert.deepEqual(Object.keys(body), OPENER_KEYS);
      assert.equal(body.ringactionState, true);
      assert.match(body.ringactionTimestamp, BRIDGE_TIME);
      assert.ok(body.ringactionTimestamp.startsWith("2019-03-05T01:0"), body.ringactionTimestamp);
    });

    it("omits door sensor and keypad fields for a lock without them", async function () {
      const sim = await startSim({ devices: [{ nukiId: 11, deviceType: 0, name: "Home" }] });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await sim.setBattery(11, { critical: true, level: 9 });
      const [body] = receiver.bodies();
      assert.deepEqual(Object.keys(body), LOCK_KEYS);
      assert.equal(body.batteryCritical, true);
      assert.equal(body.batteryChargeState, 9);
      await assert.rejects(sim.setState(11, { doorsensorState: 3 }), /no field doorsensorState/);
    });

    it("delivers to one URL after the other; a failing receiver does not stop the others", async function () {
      const sim = await startSim();
      const dead = await startReceiver();
      await dead.close(); // its port now refuses connections
      let laterSeenWhileFirstPending = null;
      const later = await startReceiver();
      const failing = await startReceiver((req, res) => {
        laterSeenWhileFirstPending = later.received.length;
        res.statusCode = 500;
        res.end();
      });
      for (const url of [dead.url, failing.url, later.url]) await addCallback(sim, url);
      const events = [];
      sim.on("delivery", (record) => events.push(record.url));
      await sim.setState(LOCK, { state: 3 });
      assert.equal(laterSeenWhileFirstPending, 0, "the second receiver waits for the first one's answer");
      assert.equal(later.received[0].body.state, 3);
      const [first, second, third] = sim.deliveries;
      assert.equal(first.error, "ECONNREFUSED");
      assert.equal(second.status, 500);
      assert.equal(third.status, 200);
      assert.deepEqual(events, [dead.url, failing.url, later.url]);
    });

    it("gives up on a receiver after callbackTimeoutMs and goes on to the next", async function () {
      const sim = await startSim({ callbackTimeoutMs: 200 });
      const silent = await startReceiver(() => {}); // never answers
      const next = await startReceiver();
      await addCallback(sim, silent.url);
      await addCallback(sim, next.url);
      await sim.setState(LOCK, { batteryCharging: true });
      assert.equal(sim.deliveries[0].error, "timeout");
      assert.equal(next.received[0].body.batteryCharging, true);
    });
  });

  describe("lock actions", function () {
    const lockAction = (sim, action, extra = {}) => get(sim, "/lockAction", plain({ nukiId: LOCK, deviceType: 4, action, ...extra }));

    it("unlock with nowait=1 answers at once, then a callback reports state 3 (final state only)", async function () {
      const sim = await startSim();
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      const answer = await lockAction(sim, 1, { nowait: 1 });
      assert.equal(answer.status, 200);
      assert.equal(answer.type, "application/json");
      assert.deepEqual(answer.json(), { success: true, batteryCritical: false });
      await receiver.waitFor(1);
      assert.deepEqual(
        receiver.bodies().map((b) => [b.state, b.stateName]),
        [[3, "unlocked"]],
      );
    });

    it("reports transitional states when reportTransitions is on", async function () {
      const sim = await startSim({ reportTransitions: true });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await lockAction(sim, 1);
      await lockAction(sim, 2);
      await receiver.waitFor(4);
      assert.deepEqual(
        receiver.bodies().map((b) => b.stateName),
        ["unlocking", "unlocked", "locking", "locked"],
      );
    });

    it("unlatch reports a final callback even though the lock ends where it started", async function () {
      const sim = await startSim();
      await sim.setState(LOCK, { state: 3 });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      assert.equal((await lockAction(sim, 3)).json().success, true);
      await receiver.waitFor(1);
      assert.deepEqual(
        receiver.bodies().map((b) => b.state),
        [3],
      );
    });

    it("lock 'n' go (with unlatch) goes through the documented states when transitions are reported", async function () {
      const sim = await startSim({ reportTransitions: true });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await lockAction(sim, 4);
      await receiver.waitFor(4);
      assert.deepEqual(
        receiver.bodies().map((b) => b.state),
        [2, 6, 4, 1],
      );
      assert.equal(receiver.received[1].body.stateName, "unlocked (lock ‘n’ go)");
      await lockAction(sim, 5);
      await receiver.waitFor(9);
      assert.deepEqual(
        receiver.bodies().slice(4).map((b) => b.state),
        [7, 5, 6, 4, 1],
      );
    });

    it("validates parameters: 400 bad action or nukiId, 404 unknown device or deviceType, 503 offline", async function () {
      const sim = await startSim();
      for (const action of ["0", "6", "abc", ""]) assert.equal((await lockAction(sim, action)).status, 400, `action ${action}`);
      assert.equal((await get(sim, "/lockAction", plain({ nukiId: LOCK, deviceType: 4 }))).status, 400, "missing action");
      assert.equal((await lockAction(sim, 1, { nowait: "yes" })).status, 400);
      assert.equal((await get(sim, "/lockAction", plain({ nukiId: "3E63C84D", deviceType: 4, action: 1 }))).status, 400, "hex id");
      assert.equal((await get(sim, "/lockAction", plain({ nukiId: 42, deviceType: 4, action: 1 }))).status, 404);
      assert.equal((await get(sim, "/lockAction", plain({ nukiId: LOCK, deviceType: 2, action: 1 }))).status, 404);
      const noType = await get(sim, "/lockAction", plain({ nukiId: LOCK, action: 1 }));
      assert.equal(noType.status, 404, "deviceType defaults to 0");
      sim.setOffline(LOCK, true);
      const offline = await lockAction(sim, 1);
      assert.equal(offline.status, 503);
      assert.equal(offline.text, "given Nuki device is offline");
      assert.equal((await get(sim, "/lockState", plain({ nukiId: LOCK, deviceType: 4 }))).status, 503);
      const list = (await get(sim, "/list", plain())).json();
      assert.ok(list.some((d) => d.nukiId === LOCK), "offline devices stay in /list");
      const { scanResults } = (await get(sim, "/info", plain())).json();
      assert.deepEqual(
        scanResults.map((s) => s.nukiId),
        [OPENER],
      );
      sim.setOffline(LOCK, false);
      assert.equal((await lockAction(sim, 1)).status, 200);
      assert.equal(sim.stats.busyRejected, 0, "offline is not counted as busy");
    });

    it("/lock and /unlock map to lock and unlock (Opener: off and open)", async function () {
      const sim = await startSim({ reportTransitions: true });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      const unlock = await get(sim, "/unlock", plain({ nukiId: LOCK, deviceType: 4 }));
      assert.deepEqual(unlock.json(), { success: true, batteryCritical: false });
      assert.equal(sim.getDevice(LOCK).lastKnownState.state, 3);
      await get(sim, "/lock", plain({ nukiId: LOCK, deviceType: 4 }));
      assert.equal(sim.getDevice(LOCK).lastKnownState.state, 1);
      await get(sim, "/lockAction", plain({ nukiId: OPENER, deviceType: 2, action: 4 }));
      assert.equal(sim.getDevice(OPENER).lastKnownState.mode, 3);
      await get(sim, "/lock", plain({ nukiId: OPENER, deviceType: 2 }));
      assert.deepEqual(
        [sim.getDevice(OPENER).lastKnownState.mode, sim.getDevice(OPENER).lastKnownState.state],
        [2, 1],
      );
      await receiver.waitFor(6); // lock: 2 unlocking 3 unlocked 4 locking 1 locked; Opener: continuous mode on, off
      await get(sim, "/unlock", plain({ nukiId: OPENER, deviceType: 2 }));
      await receiver.waitFor(9);
      assert.deepEqual(
        receiver.bodies().slice(6).map((b) => b.stateName),
        ["opening", "open", "online"],
      );
    });

    it("jam stops a running movement; the waiting lockAction answers success:false", async function () {
      const sim = await startSim({ actionMs: 60_000 });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      const pending = lockAction(sim, 2);
      await waitUntil(() => sim.getDevice(LOCK).lastKnownState.state === 4, "the lock to start locking");
      await sim.jam(LOCK);
      const answer = await pending;
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json(), { success: false, batteryCritical: false });
      assert.deepEqual(
        receiver.bodies().map((b) => [b.state, b.stateName]),
        [[254, "motor blocked"]],
      );
    });

    it("manual lock/unlock (knob) report only the final state by default", async function () {
      const sim = await startSim();
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await sim.unlock(LOCK);
      await sim.lock(LOCK);
      assert.deepEqual(
        receiver.bodies().map((b) => b.state),
        [3, 1],
      );
    });
  });

  describe("Opener", function () {
    const openerAction = (sim, action) => get(sim, "/lockAction", plain({ nukiId: OPENER, deviceType: 2, action }));
    const openerState = (sim) => {
      const { mode, state, stateName } = sim.getDevice(OPENER).lastKnownState;
      return { mode, state, stateName };
    };

    it("ring with ring to open active opens the door and uses up ring to open", async function () {
      const sim = await startSim({ reportTransitions: true });
      assert.deepEqual((await openerAction(sim, 1)).json(), { success: true, batteryCritical: false });
      assert.deepEqual(openerState(sim), { mode: 2, state: 3, stateName: "rto active" });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      const before = sim.getDevice(OPENER).lastKnownState.ringactionTimestamp;
      await sim.ring(OPENER);
      const bodies = receiver.bodies();
      assert.deepEqual(
        bodies.map((b) => [b.state, b.stateName]),
        [
          [3, "rto active"],
          [7, "opening"],
          [5, "open"],
          [1, "online"],
        ],
      );
      assert.ok(bodies.every((b) => b.ringactionState === true));
      assert.equal(new Set(bodies.map((b) => b.ringactionTimestamp)).size, 1);
      assert.notEqual(bodies[0].ringactionTimestamp, before);
      assert.deepEqual(openerState(sim), { mode: 2, state: 1, stateName: "online" });
    });

    it("without reportTransitions a ring to open shows as the ring and the final state", async function () {
      const sim = await startSim();
      await openerAction(sim, 1);
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await sim.ring(OPENER);
      assert.deepEqual(
        receiver.bodies().map((b) => b.state),
        [3, 1],
      );
    });

    it("continuous mode opens on every ring and stays on", async function () {
      const sim = await startSim({ reportTransitions: true });
      await openerAction(sim, 4);
      assert.deepEqual(openerState(sim), { mode: 3, state: 3, stateName: "rto active" });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await sim.ring(OPENER);
      await sim.ring(OPENER);
      assert.deepEqual(
        receiver.bodies().map((b) => b.state),
        [3, 7, 5, 3, 3, 7, 5, 3],
      );
      assert.deepEqual(openerState(sim), { mode: 3, state: 3, stateName: "rto active" });
    });

    it("a ring without ring to open is reported; ringactionState falls back later without a callback", async function () {
      const sim = await startSim({ ringactionResetMs: 50 });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await sim.ring(OPENER);
      assert.deepEqual(
        receiver.bodies().map((b) => [b.state, b.ringactionState]),
        [[1, true]],
      );
      await waitUntil(() => sim.getDevice(OPENER).lastKnownState.ringactionState === false, "ringactionState reset");
      assert.equal(receiver.received.length, 1);
      assert.equal(sim.deliveries.length, 1);
    });

    it("implements the Opener action codes 1..5", async function () {
      const sim = await startSim();
      await openerAction(sim, 1);
      assert.equal(openerState(sim).state, 3);
      await openerAction(sim, 2);
      assert.deepEqual(openerState(sim), { mode: 2, state: 1, stateName: "online" });
      await openerAction(sim, 4);
      await openerAction(sim, 2);
      assert.deepEqual(openerState(sim), { mode: 3, state: 3, stateName: "rto active" }, "continuous mode keeps rto");
      await openerAction(sim, 5);
      assert.deepEqual(openerState(sim), { mode: 2, state: 1, stateName: "online" });
      const receiver = await startReceiver();
      await addCallback(sim, receiver.url);
      await openerAction(sim, 3);
      await receiver.waitFor(1);
      assert.deepEqual(
        receiver.bodies().map((b) => b.state),
        [1],
      );
    });
  });

  describe("read endpoints", function () {
    it("/lockState answers the device state and counts every call; /list does not", async function () {
      const sim = await startSim();
      const answer = await get(sim, "/lockState", plain({ nukiId: LOCK, deviceType: 4 }));
      assert.equal(answer.status, 200);
      assert.deepEqual(Object.keys(answer.json()), [...LOCK_FULL_KEYS.slice(2), "success"]);
      const opener = (await get(sim, "/lockState", plain({ nukiId: OPENER, deviceType: 2 }))).json();
      assert.deepEqual(Object.keys(opener), [...OPENER_KEYS.slice(2), "success"]);
      await get(sim, "/list", plain());
      await get(sim, "/lockState", plain({ nukiId: LOCK }));
      assert.equal(sim.stats.lockStateCalls, 3, "a 404 /lockState call is counted too");
      assert.deepEqual(sim.stats.byPath, { "/lockState": 3, "/list": 1 });
    });

    it("/list and /info have the documented shape", async function () {
      const sim = await startSim();
      const list = (await get(sim, "/list", plain())).json();
      assert.deepEqual(
        list.map((d) => [d.nukiId, d.deviceType, d.name, d.firmwareVersion]),
        [
          [LOCK, 4, "Front door", "4.5.6"],
          [OPENER, 2, "Building entrance", "1.8.1"],
        ],
      );
      assert.deepEqual(Object.keys(list[0].lastKnownState), [...LOCK_FULL_KEYS.slice(2), "timestamp"]);
      assert.deepEqual(Object.keys(list[1].lastKnownState), [...OPENER_KEYS.slice(2), "timestamp"]);
      assert.match(list[0].lastKnownState.timestamp, BRIDGE_TIME);
      assert.equal(list[0].lastKnownState.batteryChargeState, 80);
      const info = (await get(sim, "/info", plain())).json();
      assert.deepEqual(Object.keys(info), ["bridgeType", "ids", "versions", "uptime", "currentTime", "wlanConnected", "serverConnected", "scanResults"]);
      assert.deepEqual(info.ids, { hardwareId: 123456789, serverId: 987654321 });
      assert.deepEqual(Object.keys(info.versions), ["firmwareVersion", "wifiFirmwareVersion"]);
      assert.deepEqual(info.scanResults[0], { deviceType: 4, nukiId: LOCK, name: "Nuki_3E63C84D", rssi: -55, paired: true });
    });

    it("unknown paths are 404, other methods than GET 405, and the control API is off by default", async function () {
      const sim = await startSim();
      assert.equal((await get(sim, "/nope", plain())).status, 404);
      assert.equal((await request(`${sim.url}/list?token=${TOKEN}`, { method: "POST", body: "{}" })).status, 405);
      assert.equal((await request(`${sim.url}/_sim/stats`)).status, 404);
      assert.equal(sim.stats.requests, 2, "the /_sim/ request is not a bridge request");
    });

    it("failNext answers the next request to that path with the given status, once", async function () {
      const sim = await startSim();
      sim.failNext("/list", 503);
      sim.failNext("/callback/add", 400, { success: false, message: "forced" });
      const failed = await get(sim, "/list", plain());
      assert.equal(failed.status, 503);
      assert.equal((await get(sim, "/list", plain())).status, 200);
      const forced = await get(sim, "/callback/add", plain({ url: "http://10.0.0.1/x" }));
      assert.deepEqual([forced.status, forced.json()], [400, { success: false, message: "forced" }]);
      assert.equal(sim.callbacks.length, 0);
    });

    it("emits a request event per bridge request", async function () {
      const sim = await startSim();
      const seen = [];
      sim.on("request", (entry) => seen.push([entry.path, entry.status]));
      await get(sim, "/info", plain());
      await get(sim, "/info", { token: "x" });
      assert.deepEqual(seen, [
        ["/info", 200],
        ["/info", 401],
      ]);
    });
  });

  describe("standalone demo device", function () {
    const script = path.join(__dirname, "..", "simulators", "nuki-bridge.js");

    /** Starts the CLI and resolves with the child and the URL it prints. */
    function startCli(args) {
      const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      return new Promise((resolve, reject) => {
        const early = (code) => reject(new Error(`CLI exited early with ${code}: ${output}`));
        child.once("exit", early);
        child.stderr.on("data", (chunk) => (output += chunk));
        const onData = (chunk) => {
          output += chunk;
          const match = /listening on (http:\/\/\S+)/.exec(output);
          if (match && /token: \S+/.test(output)) {
            child.off("exit", early);
            child.stdout.off("data", onData);
            child.stdout.on("data", (more) => (output += more));
            resolve({ child, url: match[1], output: () => output });
          }
        };
        child.stdout.on("data", onData);
      });
    }

    it("runs from the command line with a loopback control API that is not a bridge request", async function () {
      const { child, url, output } = await startCli(["--port", "0", "--token", "demo-token"]);
      const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
      try {
        assert.match(output(), /token: demo-token/);
        const unlocked = await request(`${url}/_sim/devices/${LOCK}/unlock`, { method: "POST" });
        assert.equal(unlocked.status, 200);
        assert.equal(unlocked.json().lastKnownState.state, 3);
        const patched = await request(`${url}/_sim/devices/${LOCK}/state`, { method: "POST", body: JSON.stringify({ batteryCritical: true }) });
        assert.equal(patched.json().lastKnownState.batteryCritical, true);
        assert.equal((await request(`${url}/_sim/devices/${LOCK}/state`, { method: "POST", body: "{oops" })).status, 400);
        assert.equal((await request(`${url}/_sim/devices/42/ring`, { method: "POST" })).status, 404);
        assert.equal((await request(`${url}/_sim/devices/${OPENER}/ring`, { method: "POST" })).status, 200);
        const list = (await request(`${url}/list?token=demo-token`)).json();
        assert.equal(list[0].lastKnownState.state, 3);
        assert.equal(list[1].lastKnownState.ringactionState, true);
        const { stats } = (await request(`${url}/_sim/stats`)).json();
        assert.equal(stats.requests, 1, "only /list counts");
      } finally {
        child.kill("SIGTERM");
      }
      assert.deepEqual(await exited, { code: 0, signal: null });
    });

    it("stop() lets the process exit despite timers, movements, deliveries and open connections", async function () {
      const program = `
        const http = require("node:http");
        const { NukiBridgeSimulator } = require(${JSON.stringify(script)});
        (async () => {
          const receiver = http.createServer(() => {}); // never answers
          await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
          const sim = new NukiBridgeSimulator({ actionMs: 60000, callbackTimeoutMs: 60000 });
          const { url } = await sim.start();
          const agent = new http.Agent({ keepAlive: true });
          const call = (p) => new Promise((resolve, reject) => http.get(url + p, { agent }, (res) => { res.resume(); res.on("end", () => resolve(res.statusCode)); }).on("error", reject));
          await call("/callback/add?token=123456&url=" + encodeURIComponent("http://127.0.0.1:" + receiver.address().port + "/cb"));
          await call("/lockAction?token=123456&nukiId=1046726733&deviceType=4&action=1&nowait=1");
          sim.ring(439041101);
          await new Promise((r) => receiver.once("request", r));
          receiver.close();
          await sim.stop();
          console.log("stopped");
        })();
      `;
      const child = spawn(process.execPath, ["-e", program], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (chunk) => (output += chunk));
      child.stderr.on("data", (chunk) => (output += chunk));
      const result = await new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          resolve({ code: "still running after 10 s", output });
        }, 10_000);
        child.on("exit", (code) => {
          clearTimeout(timer);
          resolve({ code, output });
        });
      });
      assert.deepEqual(result, { code: 0, output: "stopped\n" });
    });
  });
});
