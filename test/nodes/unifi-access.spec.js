"use strict";
// Node tests: unifi-access-config / -events / -action in node-red-node-test-helper against the UniFi Access
// simulator (HTTPS + WebSocket, self-signed certificate made at start). RED.httpNode is served on a loopback port
// so the simulator can deliver signed webhooks to it.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const http = require("node:http");
const helper = require("node-red-node-test-helper");
const request = require("supertest");
const { initTestHelper } = require("../helpers/node-red-path");
const { UnifiAccessSimulator, WEBHOOK_EVENTS } = require("../simulators/unifi-access");
const unifiNodes = require("../../dist/nodes/unifi-access.js");

initTestHelper(helper);

const SECRET = "Ua0dV2bK9xY3mN8pL5rS7wZ1";
const FRONT = "5785e97b-6123-4596-ba49-b6e51164db9b";
const GARAGE = "0ed545f8-2fcd-4839-9021-b39e707f6aa9";
const ROUTE = `/smartlocks/unifi-access/${SECRET}/webhook`;

let RED;
const wrapped = function (red) {
  RED = red;
  return unifiNodes(red);
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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("unifi-access nodes (test helper + controller simulator)", function () {
  this.timeout(30000);
  let sim;
  let httpServer;
  let nodeBase;

  beforeEach(async () => {
    sim = new UnifiAccessSimulator({ heartbeatMs: 1000, relockMs: 400 });
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

  async function load(flow, credentials = {}, configExtra = {}) {
    if (!httpServer) {
      httpServer = http.createServer((req, res) => RED.httpNode(req, res));
      await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
      nodeBase = `http://127.0.0.1:${httpServer.address().port}`;
    }
    const config = { id: "cfg", type: "unifi-access-config", host: "127.0.0.1", port: sim.port, tls: "pin", fingerprint: "", webhooks: true, callbackUrl: nodeBase, ...configExtra };
    await helper.load(wrapped, [config, ...flow], { cfg: { token: sim.token, routeSecret: SECRET, ...credentials } });
  }

  const listenerFlow = (extra = {}) => [
    { id: "ev", type: "unifi-access-events", config: "cfg", wires: [["out"]], ...extra },
    { id: "out", type: "helper" },
  ];

  function collect(id = "out") {
    const messages = [];
    helper.getNode(id).on("input", (msg) => messages.push(msg));
    return messages;
  }
  const ours = () => sim.webhooks.filter((w) => w.endpoint.includes(`/smartlocks/unifi-access/${SECRET}/`));
  const events = (messages) => messages.map((m) => m.payload.event);

  it("trusts on first use (stored in context, shown to copy), snapshots doors, registers one webhook", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => ours().length === 1, 5000, "webhook registration");
    assert.equal(ours()[0].endpoint, `${nodeBase}${ROUTE}`);
    assert.deepEqual([...ours()[0].events].sort(), [...WEBHOOK_EVENTS].sort());
    await waitUntil(() => messages.filter((m) => m.payload.event === "device.state").length === 3);
    const front = messages.find((m) => m.payload.device.id === FRONT);
    assert.equal(front.topic, `unifi-access/${FRONT}/device.state`);
    assert.deepEqual([front.payload.lock, front.payload.door, front.payload.device.name, front.payload.device.type], ["locked", "closed", "Front Door", "door"]);
    const cfg = helper.getNode("cfg");
    assert.equal(cfg.context().get("fingerprint"), sim.fingerprint);
    const warning = cfg.warn.args.map((a) => String(a[0])).find((w) => /tofu-learned/.test(w));
    assert.ok(warning.includes(sim.fingerprint.match(/.{2}/g).join(":")), "the warning shows the fingerprint to copy");
    const ev = helper.getNode("ev");
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "green" && a[0].text.includes(sim.fingerprint.slice(0, 8))), 3000, "status with fingerprint");
    for (const w of cfg.warn.args.map((a) => String(a[0]))) assert.ok(!w.includes(sim.token) && !w.includes(SECRET));
  });

  it("maps door position, credentials (once, with actor), doorbell calls and the webhook actor follow-up", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => ours().length === 1 && messages.length === 3, 5000, "ready: " + JSON.stringify(events(messages)) + ours().length);
    sim.setDoorPosition(FRONT, "open");
    const opened = await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"));
    assert.equal(opened.payload.channel, "websocket");
    assert.deepEqual(opened.payload.previous, { lock: "locked", door: "closed" });
    await waitUntil(() => sim.deliveries.some((d) => d.event === "access.device.dps_status" && d.status === 200));
    await sleep(100);
    assert.equal(events(messages).filter((e) => e === "door.opened").length, 1, "WS v2 + device.update + webhook = one event");

    sim.credential(FRONT, { method: "NFC", user: { id: "u-1", name: "Alice" } });
    const granted = await waitUntil(() => messages.find((m) => m.payload.event === "access.granted"));
    assert.deepEqual(granted.payload.actor, { type: "nfc", id: "u-1", name: "Alice" });
    const unlocked = await waitUntil(() => messages.find((m) => m.payload.event === "lock.unlocked" && !m.payload.update));
    await waitUntil(() => sim.deliveries.some((d) => d.event === "access.door.unlock" && d.status === 200));
    // The webhook's actor is attached: to the WebSocket's event as a follow-up (same id), or, when the webhook
    // overtook the WebSocket, to the one lock.unlocked itself.
    const withActor = await waitUntil(() => messages.find((m) => m.payload.event === "lock.unlocked" && m.payload.actor));
    if (withActor.payload.update) assert.equal(withActor.payload.id, unlocked.payload.id, "same id as the WebSocket event");
    assert.deepEqual(withActor.payload.actor, { type: "nfc", id: "u-1", name: "Alice" });
    assert.equal(messages.filter((m) => m.payload.event === "lock.unlocked" && !m.payload.update).length, 1);
    await waitUntil(() => messages.find((m) => m.payload.event === "lock.locked"));
    assert.equal(events(messages).filter((e) => e === "access.granted").length, 1, "logs.add + insights.add + webhook = one access.granted");

    sim.credential(GARAGE, { method: "PIN_CODE", granted: false });
    const denied = await waitUntil(() => messages.find((m) => m.payload.event === "access.denied"));
    assert.equal(denied.payload.actor.type, "pin");
    assert.equal(denied.payload.device.id, GARAGE);

    sim.ring(GARAGE);
    const rang = await waitUntil(() => messages.find((m) => m.payload.event === "doorbell.rang"));
    assert.equal(rang.payload.device.id, GARAGE, "remote_view mapped to its door through the reader/hub");
    sim.endCall(GARAGE, 106);
    const ended = await waitUntil(() => messages.find((m) => m.payload.event === "unifi-access.doorbell.ended"));
    assert.deepEqual([ended.payload.device.id, ended.payload.detail.reason, ended.payload.detail.reasonCode], [GARAGE, "declined", 106]);
    sim.hardwareDoorbell(FRONT);
    await waitUntil(() => messages.filter((m) => m.payload.event === "doorbell.rang").length === 2);
    sim.requestToEnter(FRONT);
    await waitUntil(() => messages.filter((m) => m.payload.event === "doorbell.rang").length === 3);
    await waitUntil(() => sim.deliveries.filter((d) => /doorbell/.test(d.event)).every((d) => d.status === 200));
    await sleep(150);
    assert.equal(events(messages).filter((e) => e === "doorbell.rang").length, 3, "WS + webhook of one call = one ring");
    assert.equal(events(messages).filter((e) => e === "unifi-access.doorbell.ended").length, 1);
  });

  it("maps emergency, schedules, temporary unlock, visitors; unknown events only when enabled", async () => {
    await load(listenerFlow(), {}, { unknownEvents: true });
    const messages = collect();
    await waitUntil(() => ours().length === 1 && messages.length === 3);
    sim.setEmergencyState({ lockdown: true, evacuation: false });
    const on = await waitUntil(() => messages.find((m) => m.payload.event === "unifi-access.emergency.lockdown.on"));
    assert.equal(on.payload.device.id, "controller");
    sim.unlockSchedule(FRONT, true);
    await waitUntil(() => messages.find((m) => m.payload.event === "unifi-access.unlock_schedule.activated"));
    sim.applyLockRule(sim.door(FRONT), "custom", 5);
    await waitUntil(() => messages.find((m) => m.payload.event === "unifi-access.temporary_unlock.started"));
    sim.visitorStatus(3);
    await waitUntil(() => messages.find((m) => m.payload.event === "unifi-access.visitor.status_changed"));
    sim.broadcast("access.brand.new_thing", { foo: 1 });
    const unknown = await waitUntil(() => messages.find((m) => m.payload.event === "unifi-access.access.brand.new_thing"));
    assert.equal(unknown.payload.raw.data.foo, 1);
    sim.broadcastRaw("{not json");
    sim.broadcastRaw('"Hello"\n');
    sim.broadcast("access.data.v2.location.update", { id: FRONT, state: { lock: "exploded", dps: 42 } });
    await sleep(150);
    assert.equal(events(messages).filter((e) => e === "unifi-access.emergency.lockdown.on").length, 1, "WS setting.update + webhook = one event");
  });

  it("drops unknown events by default", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => messages.length === 3);
    sim.broadcast("access.brand.new_thing", { foo: 1 });
    sim.setDoorPosition(FRONT, "open");
    await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"));
    assert.ok(!messages.some((m) => m.payload.event.includes("new_thing")));
  });

  it("accepts a configured pin in any case with colons", async () => {
    const pin = sim.fingerprint.toLowerCase().match(/.{2}/g).join(":");
    await load(listenerFlow(), {}, { fingerprint: pin });
    const messages = collect();
    await waitUntil(() => messages.length === 3, 5000, "snapshot");
    assert.equal(helper.getNode("cfg").context().get("fingerprint"), undefined, "nothing learned");
  });

  it("refuses a wrong pin before the token is sent and names both fingerprints", async () => {
    const wrong = "AB".repeat(32);
    await load(listenerFlow(), {}, { fingerprint: wrong });
    const ev = helper.getNode("ev");
    const red = await waitUntil(() => ev.status.args.map((a) => a[0]).find((s) => s.fill === "red"), 5000, "red status");
    assert.match(red.text, new RegExp(`${sim.fingerprint.slice(0, 8)}.*ABABABAB`));
    const warning = helper.getNode("cfg").warn.args.map((a) => String(a[0])).find((w) => /does not match/.test(w));
    assert.ok(warning.includes(sim.fingerprint.match(/.{2}/g).join(":")) && warning.includes(wrong.match(/.{2}/g).join(":")));
    await sleep(200);
    assert.equal(sim.stats.authorizationSeen, 0, "the token never reached the controller");
    assert.equal(sim.stats.wsConnections, 0);
  });

  it("refuses a certificate that changes after pinning, inside the handshake", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => messages.length === 3 && ours().length === 1);
    await sleep(200); // the registration's last requests are answered
    const seen = sim.stats.authorizationSeen;
    const old = sim.fingerprint;
    await sim.generateCertificate();
    sim.dropAllSockets();
    const ev = helper.getNode("ev");
    const red = await waitUntil(() => ev.status.args.map((a) => a[0]).find((s) => s.fill === "red"), 8000, "red status");
    assert.match(red.text, new RegExp(`${sim.fingerprint.slice(0, 8)}.*${old.slice(0, 8)}`));
    assert.equal(sim.stats.authorizationSeen, seen, "no request reached the new certificate's server");
  });

  it("answers webhooks per the contract: 401 for bad signatures and stale timestamps, nothing emitted", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => ours().length === 1 && messages.length === 3);
    const secret = ours()[0].secret;
    const body = JSON.stringify({ event: "access.device.dps_status", event_object_id: "e1", data: { location: { id: FRONT, location_type: "door" }, object: { status: "open" } } });
    const sign = (t, b = body, s = secret) => `t=${t},v1=${crypto.createHmac("sha256", s).update(`${t}.`).update(b).digest("hex")}`;
    const now = Math.floor(Date.now() / 1000);
    const post = (sig, b = body) => request(RED.httpNode).post(ROUTE).set("content-type", "application/json").set("signature", sig).send(b);
    await post(sign(now, body, "0000000000000000")).expect(401);
    await post(sign(now - 301)).expect(401);
    await request(RED.httpNode).post(ROUTE).set("content-type", "application/json").send(body).expect(401);
    await post(sign(now).replace(/.$/, (c) => (c === "0" ? "1" : "0"))).expect(401);
    await post(sign(now, "{nope"), "{nope").expect(400);
    await request(RED.httpNode).post(`/smartlocks/unifi-access/${SECRET.replace(/^./, "X")}/webhook`).send(body).expect(404);
    await sleep(150);
    assert.equal(messages.length, 3, "nothing emitted from refused deliveries");
    await post(sign(now - 299)).expect(200);
    const opened = await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"));
    assert.equal(opened.payload.channel, "webhook");
  });

  it("reconnects with backoff (yellow), resyncs and reports what changed during the gap", async () => {
    await load(listenerFlow());
    const messages = collect();
    await waitUntil(() => messages.length === 3);
    const ev = helper.getNode("ev");
    sim.refuseConnections(1.5);
    sim.silentChange(FRONT, { dps: "open", lock: "unlock" });
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "yellow" && /reconnecting/.test(a[0].text)), 4000, "yellow");
    const opened = await waitUntil(() => messages.find((m) => m.payload.event === "door.opened"), 10000, "resync event");
    assert.equal(opened.payload.channel, "poll");
    assert.ok(messages.find((m) => m.payload.event === "lock.unlocked" && m.payload.channel === "poll"));
    await waitUntil(() => ev.status.args.slice(-1)[0][0].fill === "green", 3000);
    assert.ok(sim.stats.wsConnections >= 2);
  });

  it("keeps other endpoints, reuses/updates its own, leaks none across redeploys and deletes its own on close", async () => {
    sim.webhooks.push({ id: "other", endpoint: "http://192.168.1.99:9000/hook", name: "other app", secret: "1111111111111111", events: ["access.door.unlock"], headers: {} });
    sim.webhooks.push({ id: "stale", endpoint: `http://10.9.9.9:1880/smartlocks/unifi-access/${SECRET}/webhook`, name: "old", secret: "2222222222222222", events: ["access.door.unlock"], headers: {} });
    sim.webhooks.push({ id: "mine", endpoint: `PLACEHOLDER`, name: "Node-RED smartlocks", secret: "3333333333333333", events: ["access.door.unlock"], headers: {} });
    httpServer = http.createServer((req, res) => RED.httpNode(req, res));
    await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    nodeBase = `http://127.0.0.1:${httpServer.address().port}`;
    sim.webhooks[2].endpoint = `${nodeBase}${ROUTE}`;
    await load(listenerFlow());
    await waitUntil(() => ours().length === 1 && ours()[0].events.length === WEBHOOK_EVENTS.length, 5000, "update");
    assert.deepEqual([ours()[0].id, ours()[0].secret], ["mine", "3333333333333333"], "reused with its secret");
    assert.ok(sim.webhooks.some((w) => w.id === "other"));
    for (let i = 0; i < 3; i++) {
      await helper.setFlows([{ id: "cfg", type: "unifi-access-config", host: "127.0.0.1", port: sim.port, tls: "insecure", callbackUrl: nodeBase, webhooks: true }, ...listenerFlow({ name: `v${i}` })], "full", { cfg: { token: sim.token, routeSecret: SECRET } });
      await waitUntil(() => ours().length === 1, 5000, `registration after redeploy ${i}`);
    }
    assert.equal(sim.webhooks.length, 2);
    await helper.unload();
    assert.deepEqual(sim.webhooks.map((w) => w.id), ["other"]);
  });

  it("actorWait 0 sends the WebSocket unlock at once plus a follow-up; actorWait > 0 holds it and sends it once with the actor", async () => {
    await load([
      { id: "fast", type: "unifi-access-events", config: "cfg", wires: [["fast-out"]] },
      { id: "fast-out", type: "helper" },
      { id: "held", type: "unifi-access-events", config: "cfg", actorWait: 1500, wires: [["held-out"]] },
      { id: "held-out", type: "helper" },
    ]);
    const fast = collect("fast-out");
    const held = collect("held-out");
    const cfg = helper.getNode("cfg");
    await waitUntil(() => ours().length === 1 && cfg.connection.webhookSecretKnown && fast.length === 3 && held.length === 3, 5000, "ready");
    // The webhook comes a little after the WebSocket, as it does at a real controller.
    const original = sim.deliver.bind(sim);
    sim.deliver = (event, data) => (event === "access.door.unlock" ? setTimeout(() => original(event, data), 300) : original(event, data));
    sim.credential(FRONT, { method: "NFC", user: { id: "u-7", name: "Grace" } });
    const follow = await waitUntil(() => fast.find((m) => m.payload.event === "lock.unlocked" && m.payload.update), 5000, "follow-up");
    const first = fast.find((m) => m.payload.event === "lock.unlocked" && !m.payload.update);
    assert.equal(first.payload.channel, "websocket");
    assert.equal(first.payload.actor, null, "sent at once, without actor");
    assert.equal(follow.payload.id, first.payload.id);
    assert.deepEqual(follow.payload.actor, { type: "nfc", id: "u-7", name: "Grace" });
    const heldUnlock = await waitUntil(() => held.find((m) => m.payload.event === "lock.unlocked"), 5000, "held unlock");
    assert.equal(heldUnlock.payload.id, first.payload.id, "the same happening");
    assert.deepEqual(heldUnlock.payload.actor, { type: "nfc", id: "u-7", name: "Grace" }, "held until the actor came");
    assert.equal(heldUnlock.payload.update, undefined);
    assert.equal(heldUnlock.payload.detail.method, "NFC", "the webhook's detail comes along");
    // access.granted (WebSocket log with its actor) and the relock are not held.
    assert.ok(held.find((m) => m.payload.event === "access.granted"));
    await waitUntil(() => held.find((m) => m.payload.event === "lock.locked") && fast.find((m) => m.payload.event === "lock.locked"), 5000, "relock");
    assert.equal(held.filter((m) => m.payload.event === "lock.unlocked").length, 1, "sent once");
    // An unlock no webhook actor comes for (a lock rule) is released at the deadline, without actor.
    sim.applyLockRule(sim.door(GARAGE), "keep_unlock");
    await waitUntil(() => fast.find((m) => m.payload.event === "lock.unlocked" && m.payload.device.id === GARAGE), 5000, "fast rule unlock");
    assert.ok(!held.some((m) => m.payload.event === "lock.unlocked" && m.payload.device.id === GARAGE), "still held");
    const released = await waitUntil(() => held.find((m) => m.payload.event === "lock.unlocked" && m.payload.device.id === GARAGE), 5000, "released");
    assert.equal(released.payload.actor, null);
    assert.equal(held.filter((m) => m.payload.event === "lock.unlocked").length, 2);
    assert.equal(fast.filter((m) => m.payload.event === "lock.unlocked").length, 3, "fast: event + follow-up, rule unlock");
  });

  describe("POST /smartlocks/unifi-access/probe (test connection, door pickers)", () => {
    const typed = (over = {}) => ({ host: "127.0.0.1", port: sim.port, tls: "pin", fingerprint: "", webhooks: true, callbackUrl: nodeBase, ...over });
    const probe = (body) => helper.request().post("/smartlocks/unifi-access/probe").send(body).expect("content-type", /json/);

    it("with the right pin: doors as devices, our endpoint marked (redacted), nothing secret", async () => {
      await load(listenerFlow());
      const cfg = helper.getNode("cfg");
      await waitUntil(() => ours().length === 1 && cfg.connection.webhookSecretKnown, 5000, "registration");
      sim.webhooks.push({ id: "other", endpoint: "http://192.168.1.99:9000/hook", name: "other app", secret: "1111111111111111", events: ["access.door.unlock"], headers: {} });
      // Untouched password fields fall back to the stored credentials of config node "cfg".
      const res = await probe({ ...typed({ fingerprint: sim.fingerprint.toLowerCase() }), id: "cfg", token: "__PWRD__", routeSecret: "" }).expect(200);
      const answer = res.body;
      assert.equal(answer.ok, true, JSON.stringify(answer));
      assert.equal(answer.details.certificate.matches, true);
      assert.equal(answer.details.certificate.matchesLearned, true, "compared with the one the node trusted on first use");
      assert.deepEqual(answer.devices.map((d) => [d.id, d.name, d.type]), [[FRONT, "Front Door", "door"], [GARAGE, "Garage", "door"]]);
      const mine = answer.details.webhooks.find((w) => w.ours);
      assert.equal(mine.url, `${nodeBase}/smartlocks/unifi-access/***/webhook`);
      assert.deepEqual(answer.details.webhooks.find((w) => !w.ours), { id: "other", name: "other app", url: "http://192.168.1.99:9000/hook", events: 1, ours: false });
      assert.deepEqual(answer.callback, { url: `${nodeBase}/smartlocks/unifi-access/***/webhook`, registered: true, eventsComplete: true, plainHttp: true, shortEnough: true, notLoopback: true, reachable: true });
      const text = JSON.stringify(answer);
      for (const secret of [SECRET, sim.token, ours()[0].secret, "1111111111111111"]) assert.ok(!text.includes(secret), "no secret in the answer");
      assert.equal(sim.webhooks.length, 2, "the probe registers nothing");
    });

    it("first use: reports the fingerprint to adopt; a wrong pin: not ok, the fingerprint, and the token never sent", async () => {
      await load([]);
      const first = (await probe({ ...typed(), token: sim.token }).expect(200)).body;
      assert.equal(first.ok, true);
      assert.deepEqual(first.details.certificate, { fingerprint: sim.fingerprint.match(/.{2}/g).join(":"), pinned: null, matches: null, matchesLearned: null, mode: "pin" });
      assert.equal(first.callback.registered, false);
      const seen = sim.stats.authorizationSeen;
      const wrong = (await probe({ ...typed({ fingerprint: "AB".repeat(32) }), token: sim.token }).expect(200)).body;
      assert.equal(wrong.ok, false);
      assert.equal(wrong.code, "rejected");
      assert.equal(wrong.details.certificate.fingerprint, sim.fingerprint.match(/.{2}/g).join(":"));
      assert.equal(wrong.details.certificate.matches, false);
      assert.equal(sim.stats.authorizationSeen, seen, "the token did not reach a certificate other than the pinned one");
    });

    it("a wrong token: ok false, code unauthorized and where the right token comes from; bad input: 400", async () => {
      await load([]);
      const res = await probe({ ...typed(), token: "protect-key-123" }).expect(200);
      assert.equal(res.body.ok, false);
      assert.equal(res.body.code, "unauthorized");
      assert.match(res.body.message, /Settings › General › Advanced › API Token/);
      assert.match(res.body.message, /view:space/);
      assert.ok(!JSON.stringify(res.body).includes("protect-key-123"));
      const missing = await probe({ ...typed({ host: "" }), token: sim.token }).expect(400);
      assert.equal(missing.body.code, "bad_request");
      // No stored credentials for an unknown id and nothing typed: the token is asked for.
      const noToken = await probe({ ...typed(), id: "nope", token: "__PWRD__" }).expect(400);
      assert.match(noToken.body.message, /API token/);
    });
  });

  const actionFlow = (extra = {}) => [
    { id: "tab", type: "tab" },
    { id: "act", type: "unifi-access-action", z: "tab", config: "cfg", timeout: 5, wires: [["res"]], ...extra },
    { id: "res", type: "helper", z: "tab" },
    { id: "catcher", type: "catch", z: "tab", scope: ["act"], uncaught: false, wires: [["err"]] },
    { id: "err", type: "helper", z: "tab" },
  ];

  it("performs every action with confirmation from the event stream", async () => {
    await load(actionFlow(), {}, { actorName: "Flow bot" });
    const results = collect("res");
    const act = helper.getNode("act");
    await waitUntil(() => act.status.args.length > 0 || true);
    await sleep(500);
    const run = async (payload) => {
      const before = results.length;
      act.receive({ payload });
      await waitUntil(() => results.length > before, 8000, JSON.stringify(payload));
      return results[results.length - 1].payload;
    };
    const unlocked = await run({ action: "unlock", device: FRONT });
    assert.deepEqual(unlocked, { ok: true, vendor: "unifi-access", device: FRONT, action: "unlock", confirmed: true, lock: "unlocked", door: "closed" });
    assert.equal(sim.deliveries.length, 0, "action node alone registers no webhook");
    await sleep(500);
    for (const action of ["unlatch", "open"]) assert.equal((await run({ action, device: FRONT })).confirmed, true, action);
    assert.deepEqual(await run({ action: "keep_unlocked", device: FRONT }), { ok: true, vendor: "unifi-access", device: FRONT, action: "keep_unlocked", confirmed: true, lock: "unlocked", door: "closed" });
    assert.equal(sim.door(FRONT).rule.type, "keep_unlock");
    const locked = await run({ action: "lock", device: FRONT });
    assert.equal(locked.lock, "locked");
    assert.equal(sim.door(FRONT).rule, null, "lock resets a keep-unlocked rule");
    assert.equal((await run({ action: "unlock_for", device: FRONT, minutes: 15 })).lock, "unlocked");
    assert.equal(sim.door(FRONT).rule.type, "custom");
    assert.equal((await run({ action: "lock", device: FRONT })).lock, "locked");
    assert.equal((await run({ action: "keep_locked", device: FRONT })).lock, "locked");
    assert.equal(sim.door(FRONT).rule.type, "keep_lock");
    assert.equal((await run({ action: "reset_lock_rule", device: FRONT })).confirmed, true);
    assert.equal(sim.door(FRONT).rule, null);
    assert.deepEqual(await run("lockdown"), { ok: true, vendor: "unifi-access", device: "controller", action: "lockdown", confirmed: true, lock: null, door: null });
    assert.equal(sim.emergency.lockdown, true);
    assert.equal((await run("evacuation")).confirmed, true);
    assert.deepEqual(sim.emergency, { lockdown: false, evacuation: true });
    assert.equal((await run("emergency_clear")).confirmed, true);
    assert.deepEqual(sim.emergency, { lockdown: false, evacuation: false });
  });

  it("sends the configured actor name and an identical in-flight action once", async () => {
    await load(actionFlow(), {}, { actorName: "Flow bot" });
    await sleep(500);
    const results = collect("res");
    const act = helper.getNode("act");
    let actor;
    const original = sim.deliver.bind(sim);
    sim.deliver = (event, data) => {
      if (event === "access.door.unlock") actor = data.actor;
      return original(event, data);
    };
    act.receive({ payload: { action: "unlock", device: FRONT }, keep: 1 });
    act.receive({ payload: { action: "unlock", device: FRONT }, keep: 2 });
    await waitUntil(() => results.length === 2, 8000);
    assert.deepEqual(results.map((m) => m.keep).sort(), [1, 2]);
    assert.equal(sim.stats.byRoute["PUT /doors/:id/unlock"], 1, "sent once");
    assert.equal(actor.name, "Flow bot");
  });

  it("reports failures to Catch with the contract's codes and the controller's message", async () => {
    await load(actionFlow());
    await sleep(500);
    const errors = collect("err");
    const act = helper.getNode("act");
    act.receive({ payload: { action: "unlock", device: "00000000-0000-0000-0000-000000000000" } });
    act.receive({ payload: { action: "keep_locked", device: GARAGE } });
    act.receive({ payload: { action: "unlock_for", device: FRONT, minutes: 0 } });
    act.receive({ payload: { action: "unlock_for", device: FRONT } });
    act.receive({ payload: { action: "fly", device: FRONT } });
    act.receive({ payload: "unlock" });
    await waitUntil(() => errors.length === 6, 8000, "six errors");
    assert.deepEqual(errors.map((m) => m.error.code).sort(), ["bad_request", "bad_request", "bad_request", "not_found", "unsupported", "unsupported"]);
    sim.emergency.lockdown = true;
    act.receive({ payload: { action: "unlock", device: FRONT } });
    await waitUntil(() => errors.length === 7, 8000);
    assert.equal(errors[6].error.code, "rejected");
    assert.match(errors[6].error.message, /CODE_OPERATION_FORBIDDEN|not allowed/);
  });

  it("explains 401/403: an Access API token with permission keys, not a UniFi OS or Protect key", async () => {
    await load([...listenerFlow(), ...actionFlow()], { token: "protect-key-123" });
    const cfg = helper.getNode("cfg");
    await waitUntil(() => cfg.warn.args.some((a) => /Protect/.test(String(a[0]))), 5000, "401 warning");
    const ev = helper.getNode("ev");
    await waitUntil(() => ev.status.args.some((a) => a[0].fill === "red"));
    for (const w of cfg.warn.args.map((a) => String(a[0]))) assert.ok(!w.includes("protect-key-123"));
  });

  it("needs view:device for the WebSocket and says which permission keys to add (403)", async () => {
    sim.scopes.delete("view:device");
    await load(listenerFlow());
    const cfg = helper.getNode("cfg");
    await waitUntil(() => cfg.warn.args.some((a) => /403|permission/.test(String(a[0]))), 5000, "403 warning");
  });
});
