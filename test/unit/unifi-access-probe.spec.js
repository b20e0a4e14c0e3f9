"use strict";
// "Test connection" of the UniFi Access config dialog, against the controller simulator: certificate (pin, first
// use, mismatch), doors as devices, webhook endpoint table and the self-test of the webhook URL.
const assert = require("node:assert/strict");
const http = require("node:http");
const { probeUnifiAccess } = require("../../dist/nodes/unifi-access/probe.js");
const { UnifiAccessSimulator } = require("../simulators/unifi-access");

const SECRET = "Pr0beSecretPr0beSecret42";
const FRONT = "5785e97b-6123-4596-ba49-b6e51164db9b";
const GARAGE = "0ed545f8-2fcd-4839-9021-b39e707f6aa9";
const colons = (hex) => hex.match(/.{2}/g).join(":");

describe("unifi-access/probe (test connection)", function () {
  this.timeout(20000);
  let sim;
  let receiver;
  beforeEach(async () => {
    sim = new UnifiAccessSimulator({ heartbeatMs: 60000 });
    await sim.start();
    receiver = http.createServer((req, res) => res.writeHead(405).end());
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  });
  afterEach(async () => {
    await sim.stop();
    await new Promise((r) => receiver.close(r));
  });

  const ourUrl = () => `http://127.0.0.1:${receiver.address().port}/smartlocks/unifi-access/${SECRET}/webhook`;
  const input = (over = {}) => ({
    host: "127.0.0.1",
    port: sim.port,
    token: sim.token,
    tls: "pin",
    fingerprint: "",
    webhooks: true,
    webhookUrl: async () => ourUrl(),
    ownsWebhook: (url) => url.includes(`/smartlocks/unifi-access/${SECRET}/`),
    ...over,
  });

  it("first use: reports the fingerprint to adopt, lists doors with their hardware and the webhook table", async () => {
    sim.webhooks.push({ id: "other", endpoint: "http://192.168.1.9:9000/hook?key=theirs", name: "other app", secret: "1111111111111111", events: ["access.door.unlock"], headers: { authorization: "their-key" } });
    sim.webhooks.push({ id: "mine", endpoint: ourUrl(), name: "Node-RED smartlocks", secret: "2222222222222222", events: ["access.door.unlock"], headers: {} });
    const result = await probeUnifiAccess(input());
    assert.equal(result.ok, true);
    assert.deepEqual(result.details.certificate, { fingerprint: colons(sim.fingerprint), pinned: null, matches: null, matchesLearned: null, mode: "pin" });
    assert.match(result.summary, /2 doors.*first use/);
    assert.deepEqual(result.devices.map((d) => [d.id, d.name, d.type, d.lock, d.door]), [
      [FRONT, "Front Door", "door", "locked", "closed"],
      [GARAGE, "Garage", "door", "locked", "closed"],
    ]);
    assert.deepEqual(result.devices[0].hardware.map((h) => h.id), ["7483c2773855", "0418d6a2bb7a"]);
    assert.deepEqual(result.details.webhooks, [
      { id: "other", name: "other app", url: "http://192.168.1.9:9000/hook?…", events: 1, ours: false },
      { id: "mine", name: "Node-RED smartlocks", url: `http://127.0.0.1:${receiver.address().port}/smartlocks/unifi-access/***/webhook`, events: 1, ours: true },
    ]);
    assert.deepEqual(result.callback, {
      url: `http://127.0.0.1:${receiver.address().port}/smartlocks/unifi-access/***/webhook`,
      registered: true,
      eventsComplete: false,
      plainHttp: true,
      shortEnough: true,
      notLoopback: true, // the controller is on this host too
      reachable: true,
    });
    const text = JSON.stringify(result);
    for (const secret of [SECRET, sim.token, "1111111111111111", "2222222222222222", "their-key", "theirs"]) assert.ok(!text.includes(secret), secret);
    assert.equal(sim.webhooks.length, 2, "nothing registered");
    assert.deepEqual(Object.keys(sim.stats.byRoute).sort(), ["GET /devices", "GET /doors", "GET /webhooks/endpoints"]);
  });

  it("a matching pin (any case, colons) is confirmed; a learned one is compared too", async () => {
    const result = await probeUnifiAccess(input({ fingerprint: colons(sim.fingerprint.toLowerCase()), learnedFingerprint: sim.fingerprint }));
    assert.equal(result.details.certificate.matches, true);
    assert.equal(result.details.certificate.matchesLearned, true);
    assert.match(result.summary, /matches the pin/);
  });

  it("a wrong pin: not ok, the presented fingerprint to adopt, and the token never sent", async () => {
    const wrong = "AB".repeat(32);
    const result = await probeUnifiAccess(input({ fingerprint: wrong }));
    assert.equal(result.ok, false);
    assert.equal(result.code, "rejected");
    assert.deepEqual(result.details.certificate, { fingerprint: colons(sim.fingerprint), pinned: colons(wrong), matches: false, matchesLearned: null, mode: "pin" });
    assert.match(result.message, /token was not sent/);
    assert.equal(sim.stats.authorizationSeen, 0);
  });

  it("a wrong token: unauthorized with where the right token comes from", async () => {
    await assert.rejects(probeUnifiAccess(input({ token: "protect-key" })), (err) => err.code === "unauthorized" && /API Token/.test(err.message) && /Protect/.test(err.message) && !err.message.includes("protect-key"));
  });

  it("a missing view:device / view:webhook key is reported, not fatal; an unreachable URL is reported", async () => {
    sim.scopes.delete("view:device");
    sim.scopes.delete("view:webhook");
    const result = await probeUnifiAccess(input({ webhookUrl: async () => `http://127.0.0.1:1/smartlocks/unifi-access/${SECRET}/webhook`, tls: "insecure" }));
    assert.equal(result.ok, true);
    assert.equal(result.details.devicesError.code, "unauthorized");
    assert.equal(result.details.webhooksError.code, "unauthorized");
    assert.equal(result.details.certificate.matches, null, "insecure: no pin compared");
    assert.equal(result.callback.reachable, false);
    assert.equal(result.callback.registered, false);
  });

  it("reports why no webhook URL can be built, and skips webhooks when they are off", async () => {
    const broken = await probeUnifiAccess(input({ webhookUrl: async () => { throw new Error("no route to the controller"); } }));
    assert.equal(broken.callback.url, null);
    assert.match(broken.callback.error, /no route/);
    const off = await probeUnifiAccess(input({ webhooks: false }));
    assert.equal(off.callback, undefined);
    assert.equal(off.details.webhooks, undefined);
  });

  it("refuses missing values and a malformed pin before connecting", async () => {
    await assert.rejects(probeUnifiAccess(input({ host: "" })), (err) => err.code === "bad_request");
    await assert.rejects(probeUnifiAccess(input({ token: "" })), (err) => err.code === "bad_request");
    await assert.rejects(probeUnifiAccess(input({ fingerprint: "12:34" })), (err) => err.code === "bad_request" && /64 hex/.test(err.message));
    await assert.rejects(probeUnifiAccess(input({ port: 1 })), (err) => err.code === "unreachable");
  });
});
