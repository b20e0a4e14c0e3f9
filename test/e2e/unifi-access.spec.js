"use strict";
// End-to-end: the packed package in a real Node-RED process against the UniFi Access simulator (HTTPS with a
// certificate generated at start, WebSocket, signed webhooks). One Node-RED start, several scenarios: trust on first
// use, mappings over WebSocket and webhook, bad/stale signatures, reconnect with resync, every action, wrong and
// right pins across redeploys without webhook leaks.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { packPackage, createUserDir, startNodeRed, startCollector } = require("./harness");
const { UnifiAccessSimulator, WEBHOOK_EVENTS } = require("../simulators/unifi-access");

const SECRET = "E2eUaV2bK9xY3mN8pL5rS7wZ";
const FRONT = "5785e97b-6123-4596-ba49-b6e51164db9b";
const GARAGE = "0ed545f8-2fcd-4839-9021-b39e707f6aa9";
const colons = (hex) => hex.match(/.{2}/g).join(":");

describe("UniFi Access end to end (real Node-RED, packed package, simulator)", function () {
  this.timeout(90000);
  let sim;
  let red;
  let collector;

  before(async function () {
    sim = new UnifiAccessSimulator({ heartbeatMs: 1000, relockMs: 500 });
    await sim.start();
    collector = await startCollector();
    red = await startNodeRed({ userDir: await createUserDir(await packPackage()) });
  });

  after(async function () {
    if (red) await red.stop();
    if (collector) await collector.close();
    if (sim) await sim.stop();
  });

  const ours = () => sim.webhooks.filter((w) => w.endpoint.includes(`/smartlocks/unifi-access/${SECRET}/`));
  const eventsOf = (name) => collector.received.filter((r) => r.path === "/events" && r.body.event === name);
  const waitEvent = (predicate, timeoutMs = 10000) => collector.waitFor((r) => r.path === "/events" && predicate(r.body), timeoutMs).then((r) => r.body);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function flows(configExtra = {}) {
    return [
      { id: "tab1", type: "tab", label: "unifi access" },
      {
        id: "cfg",
        type: "unifi-access-config",
        name: "sim",
        host: "127.0.0.1",
        port: sim.port,
        tls: "pin",
        fingerprint: "",
        webhooks: true,
        callbackUrl: red.url,
        unknownEvents: true,
        actorName: "e2e",
        credentials: { token: sim.token, routeSecret: SECRET },
        ...configExtra,
      },
      { id: "ev", type: "unifi-access-events", z: "tab1", config: "cfg", devices: [], events: [], wires: [["post-ev"]] },
      { id: "post-ev", type: "http request", z: "tab1", method: "POST", ret: "txt", paytoqs: "ignore", url: `${collector.url}/events`, wires: [[]] },
      { id: "st", type: "status", z: "tab1", scope: ["ev"], wires: [["st-fn"]] },
      { id: "st-fn", type: "function", z: "tab1", func: "msg.payload = msg.status; return msg;", outputs: 1, wires: [["post-st"]] },
      { id: "post-st", type: "http request", z: "tab1", method: "POST", ret: "txt", paytoqs: "ignore", url: `${collector.url}/status`, wires: [[]] },
      { id: "ua-in", type: "http in", z: "tab1", url: "/ua-act", method: "post", upload: false, wires: [["act"]] },
      { id: "act", type: "unifi-access-action", z: "tab1", config: "cfg", device: "", action: "", confirm: true, timeout: 5, wires: [["ua-out"]] },
      { id: "ua-out", type: "http response", z: "tab1", statusCode: "", headers: {}, wires: [] },
      { id: "ua-catch", type: "catch", z: "tab1", scope: ["act"], uncaught: false, wires: [["err-fn"]] },
      { id: "err-fn", type: "function", z: "tab1", func: "msg.payload = { code: msg.error.code, message: msg.error.message }; msg.statusCode = 500; return msg;", outputs: 1, wires: [["ua-out"]] },
    ];
  }

  async function act(payload) {
    const body = typeof payload === "string" ? { action: payload } : payload;
    const res = await fetch(`${red.nodeUrl}ua-act`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  }

  it("trusts on first use, snapshots, registers its webhook and maps WebSocket and webhook events", async function () {
    await red.deployFlows(flows());
    await collector.waitFor((r) => r.path === "/events" && r.body.event === "device.state" && r.body.device.id === GARAGE);
    const line = await red.waitForLog(/trusted the controller's certificate on first use/);
    assert.ok(line.includes(colons(sim.fingerprint)), "the log shows the fingerprint to copy");
    assert.ok(!red.logs.some((l) => l.includes(sim.token) || l.includes(SECRET)), "no token or route secret in logs");
    await collector.waitFor((r) => r.path === "/status" && r.body.fill === "green" && r.body.text.includes(sim.fingerprint.slice(0, 8)));
    const deadline = Date.now() + 5000;
    while (ours().length !== 1 && Date.now() < deadline) await sleep(50);
    assert.equal(ours()[0].endpoint, `${red.url}/smartlocks/unifi-access/${SECRET}/webhook`);
    assert.deepEqual([...ours()[0].events].sort(), [...WEBHOOK_EVENTS].sort());

    sim.setDoorPosition(FRONT, "open");
    const opened = await waitEvent((e) => e.event === "door.opened");
    assert.equal(opened.device.id, FRONT);
    sim.credential(FRONT, { method: "FACE", user: { id: "u-7", name: "Kari" } });
    const granted = await waitEvent((e) => e.event === "access.granted");
    assert.deepEqual(granted.actor, { type: "face", id: "u-7", name: "Kari" });
    const withActor = await waitEvent((e) => e.event === "lock.unlocked" && e.actor);
    assert.equal(withActor.actor.type, "face");
    await waitEvent((e) => e.event === "lock.locked");
    sim.ring(GARAGE);
    assert.equal((await waitEvent((e) => e.event === "doorbell.rang")).device.id, GARAGE);
    sim.endCall(GARAGE, 105);
    assert.equal((await waitEvent((e) => e.event === "unifi-access.doorbell.ended")).detail.reason, "timed_out");
    sim.hardwareDoorbell(FRONT);
    sim.requestToEnter(FRONT);
    sim.unlockSchedule(FRONT, true);
    sim.visitorStatus(2);
    sim.broadcast("access.totally.new", { x: 1 });
    await waitEvent((e) => e.event === "unifi-access.unlock_schedule.activated");
    await waitEvent((e) => e.event === "unifi-access.visitor.status_changed");
    await waitEvent((e) => e.event === "unifi-access.access.totally.new");
    await collector.waitFor(() => eventsOf("doorbell.rang").length === 3);
    await sleep(300);
    assert.equal(eventsOf("doorbell.rang").length, 3, "each ring once although WS and webhook both report it");
    assert.equal(eventsOf("access.granted").length, 1);
    sim.unlockSchedule(FRONT, false);
    await waitEvent((e) => e.event === "unifi-access.unlock_schedule.deactivated");
  });

  it("answers bad signatures and stale timestamps with 401 and emits nothing", async function () {
    const secret = ours()[0].secret;
    const url = `${red.nodeUrl}smartlocks/unifi-access/${SECRET}/webhook`;
    const body = JSON.stringify({ event: "access.device.dps_status", event_object_id: "e2e", data: { location: { id: GARAGE, location_type: "door" }, object: { status: "open" } } });
    const sign = (t, key) => `t=${t},v1=${crypto.createHmac("sha256", key).update(`${t}.`).update(body).digest("hex")}`;
    const now = Math.floor(Date.now() / 1000);
    const post = (signature) => fetch(url, { method: "POST", headers: { "content-type": "application/json", ...(signature ? { signature } : {}) }, body });
    const before = collector.received.length;
    assert.equal((await post(sign(now, "0123456789abcdef"))).status, 401);
    assert.equal((await post(sign(now - 400, secret))).status, 401);
    assert.equal((await post(null)).status, 401);
    assert.equal((await fetch(url.replace(SECRET, "x".repeat(24)), { method: "POST", body })).status, 404);
    await sleep(300);
    assert.equal(collector.received.filter((r) => r.path === "/events").length, collector.received.slice(0, before).filter((r) => r.path === "/events").length);
    assert.ok(red.logs.some((l) => /webhook with a timestamp outside/.test(l)));
    assert.equal((await post(sign(now, secret))).status, 200);
    const opened = await waitEvent((e) => e.event === "door.opened" && e.device.id === GARAGE);
    assert.equal(opened.channel, "webhook");
  });

  it("reconnects after the controller refused connections and reports what changed meanwhile", async function () {
    const from = collector.received.length;
    const after = (r) => collector.received.indexOf(r) >= from && r.path === "/status";
    sim.refuseConnections(1.5);
    sim.silentChange(FRONT, { dps: "close" });
    await collector.waitFor((r) => after(r) && r.body.fill === "yellow" && /reconnecting/.test(r.body.text));
    const closed = await waitEvent((e) => e.event === "door.closed" && e.device.id === FRONT && e.channel === "poll", 15000);
    assert.equal(closed.door, "closed");
    await collector.waitFor((r) => after(r) && r.body.fill === "green");
    assert.ok(sim.stats.wsConnections >= 2, "a new WebSocket after the gap");
  });

  it("performs every action through a flow and reports errors to Catch with contract codes", async function () {
    const ok = async (payload, lock) => {
      const res = await act(payload);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.ok, true);
      assert.equal(res.body.confirmed, true, JSON.stringify(payload));
      if (lock !== undefined) assert.equal(res.body.lock, lock, JSON.stringify(payload));
      return res.body;
    };
    await ok({ action: "unlock", device: FRONT }, "unlocked");
    await sleep(700);
    await ok({ action: "unlatch", device: FRONT }, "unlocked");
    await sleep(700);
    await ok({ action: "open", device: FRONT }, "unlocked");
    await ok({ action: "keep_unlocked", device: FRONT }, "unlocked");
    await ok({ action: "lock", device: FRONT }, "locked");
    assert.equal(sim.door(FRONT).rule, null);
    await ok({ action: "unlock_for", device: FRONT, minutes: 5 }, "unlocked");
    await ok({ action: "reset_lock_rule", device: FRONT });
    await ok({ action: "keep_locked", device: FRONT }, "locked");
    await ok({ action: "reset_lock_rule", device: FRONT });
    assert.equal((await ok("lockdown")).device, "controller");
    await waitEvent((e) => e.event === "unifi-access.emergency.lockdown.on");
    const refused = await act({ action: "unlock", device: FRONT });
    assert.deepEqual([refused.status, refused.body.code], [500, "rejected"]);
    assert.match(refused.body.message, /CODE_OPERATION_FORBIDDEN|not allowed/);
    await ok("evacuation");
    await ok("emergency_clear");
    assert.deepEqual(sim.emergency, { lockdown: false, evacuation: false });
    const unsupported = await act({ action: "keep_locked", device: GARAGE });
    assert.deepEqual([unsupported.status, unsupported.body.code], [500, "unsupported"]);
    const missing = await act({ action: "unlock", device: "00000000-0000-0000-0000-000000000000" });
    assert.equal(missing.body.code, "not_found");
    assert.equal((await act({ action: "unlock_for", device: FRONT })).body.code, "bad_request");
  });

  it("refuses a wrong pin before sending the token, accepts the right one, and leaks no webhook across redeploys", async function () {
    const wrong = "ab".repeat(32);
    await red.deployFlows(flows({ fingerprint: wrong }));
    assert.equal(ours().length, 0, "the old listener deleted its endpoint on redeploy");
    const seen = sim.stats.authorizationSeen;
    const red1 = await collector.waitFor((r) => r.path === "/status" && r.body.fill === "red" && r.body.text.includes("ABABABAB"));
    assert.ok(red1.body.text.includes(sim.fingerprint.slice(0, 8)), "the status names both fingerprints");
    await red.waitForLog(new RegExp(colons(sim.fingerprint)));
    await sleep(300);
    assert.equal(sim.stats.authorizationSeen, seen, "the token was never sent");
    assert.equal(ours().length, 0);

    for (let i = 0; i < 2; i++) {
      const from = collector.received.length;
      await red.deployFlows(flows({ fingerprint: colons(sim.fingerprint).toLowerCase(), name: `sim ${i}` }));
      await collector.waitFor((r) => collector.received.indexOf(r) >= from && r.path === "/events" && r.body.event === "device.state");
      const deadline = Date.now() + 5000;
      while (ours().length !== 1 && Date.now() < deadline) await sleep(50);
      assert.equal(ours().length, 1, `one endpoint after redeploy ${i}`);
    }
    await red.deployFlows([{ id: "tab1", type: "tab", label: "empty" }]);
    assert.equal(ours().length, 0, "removed with the listener");
    assert.equal(sim.webhooks.length, 0);
  });
});
