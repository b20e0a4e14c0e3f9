"use strict";
// Nuki Web API protocol: webhook signatures (research/nuki.md 6.3 vectors), id mapping across channels,
// DEVICE_STATUS and DEVICE_LOGS normalization, actor mapping, action codes, the sealed webhook secret.
const assert = require("node:assert/strict");
const { signWebhook, verifyWebhookSignature } = require("../../dist/nodes/nuki/signature.js");
const { smartlockIdFor, deviceIdFromSmartlockId, nukiIdToHex } = require("../../dist/nodes/nuki/ids.js");
const { webStateReport, logMeaning, logSucceeded, deviceTypeOfSmartlockId } = require("../../dist/nodes/nuki/web-normalize.js");
const { webLogActor, isDeniedAttempt } = require("../../dist/nodes/nuki/actors.js");
const { actionSpec } = require("../../dist/nodes/nuki/actions.js");
const { deviceStatusSchema, deviceLogsSchema, deviceAuthsSchema, smartlockLogSchema } = require("../../dist/nodes/nuki/web-schemas.js").webSchemas();
const { sealWebhook, openWebhook } = require("../../dist/nodes/nuki/webhook-store.js");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema.js");
const { NukiEventHub } = require("../../dist/nodes/nuki/event-hub.js");

const SECRET = "webhookgeheim";
const LOGS_BODY = '{"feature":"DEVICE_LOGS","smartlockLog":{"smartlockId":111,"action":1,"trigger":255,"state":0,"name":"Keypad Gast"}}';
const STATUS_BODY = '{"feature":"DEVICE_STATUS","smartlockId":111,"serverState":4,"state":{"state":1,"batteryCharge":80}}';

describe("nuki web: webhook signature", () => {
  it("reproduces both HMAC-SHA256 vectors of research 6.3", () => {
    assert.equal(signWebhook(Buffer.from(LOGS_BODY), SECRET), "02c36518b00f8ed20badafa81fc448d15aaf2c5204f0ff27217406c1e5bebd18");
    assert.equal(signWebhook(Buffer.from(STATUS_BODY), SECRET), "6c9973f29e7fd5ac4a3d8c81625efd6d46425adaf67d1182e35228985f028a18");
  });

  it("accepts the right signature (any case, surrounding space) and refuses missing, wrong or malformed ones", () => {
    const raw = Buffer.from(LOGS_BODY);
    const good = "02c36518b00f8ed20badafa81fc448d15aaf2c5204f0ff27217406c1e5bebd18";
    assert.equal(verifyWebhookSignature(raw, good, SECRET), true);
    assert.equal(verifyWebhookSignature(raw, ` ${good.toUpperCase()} `, SECRET), true);
    assert.equal(verifyWebhookSignature(raw, [good], SECRET), true);
    assert.equal(verifyWebhookSignature(raw, undefined, SECRET), false);
    assert.equal(verifyWebhookSignature(raw, "", SECRET), false);
    assert.equal(verifyWebhookSignature(raw, good.slice(0, 63), SECRET), false);
    assert.equal(verifyWebhookSignature(raw, good.replace(/^0/, "1"), SECRET), false);
    assert.equal(verifyWebhookSignature(raw, "zz" + good.slice(2), SECRET), false);
    assert.equal(verifyWebhookSignature(raw, good, "other"), false);
    assert.equal(verifyWebhookSignature(raw, good, ""), false);
    // A re-serialized body (what a proxy parsing JSON would forward) no longer matches.
    assert.equal(verifyWebhookSignature(Buffer.from(JSON.stringify(JSON.parse(LOGS_BODY), null, 1)), good, SECRET), false);
  });
});

describe("nuki web: ids", () => {
  it("maps smartlockId to the bridge's device.id: device type digit + 8 hex digits (research 1.8)", () => {
    assert.equal(smartlockIdFor(4, 0x3e63c84d), 0x43e63c84d);
    assert.equal(smartlockIdFor(4, 0x3e63c84d), 18226595917);
    assert.equal(deviceIdFromSmartlockId(18226595917), "3E63C84D");
    assert.equal(deviceIdFromSmartlockId(smartlockIdFor(2, 439041101)), nukiIdToHex(439041101));
    assert.equal(deviceIdFromSmartlockId(111), "0000006F");
    assert.equal(deviceTypeOfSmartlockId(18226595917), 4);
    assert.equal(deviceTypeOfSmartlockId(smartlockIdFor(2, 1)), 2);
    assert.equal(deviceTypeOfSmartlockId(111), 0);
  });
});

describe("nuki web: DEVICE_STATUS", () => {
  it("turns the docs.nuki.io example into a state report", () => {
    const body = deviceStatusSchema.parse({ feature: "DEVICE_STATUS", smartlockId: 123456789, state: { mode: 2, state: 1, trigger: 6, lastAction: 2, batteryCritical: false, batteryCharging: false, batteryCharge: 90, keypadBatteryCritical: false, doorsensorBatteryCritical: false, doorState: 0, ringToOpenTimer: 0, nightMode: false }, serverState: 0, adminPinState: 0 });
    const report = webStateReport({ smartlockId: body.smartlockId, type: 0, name: "Home" }, body.state, body.serverState);
    assert.equal(report.device.id, "075BCD15");
    assert.equal(report.device.type, "lock");
    assert.equal(report.lock, "locked");
    assert.equal(report.door, undefined, "doorState 0 = no sensor: says nothing");
    assert.deepEqual(report.battery, { critical: false, level: 90, charging: false });
    assert.deepEqual(report.flags, { keypad_battery_low: false, door_sensor_battery_low: false });
    assert.equal(report.online, true);
  });

  it("reads the second vector: partial state, serverState 4 = offline", () => {
    const body = deviceStatusSchema.parse(JSON.parse(STATUS_BODY));
    const report = webStateReport({ smartlockId: 111, type: 0, name: null }, body.state, body.serverState);
    assert.equal(report.lock, "locked");
    assert.deepEqual(report.battery, { level: 80 });
    assert.equal(report.online, false);
  });

  it("maps door states and the Opener's ring to open and continuous mode; unknown states are unknown", () => {
    const lock = { smartlockId: smartlockIdFor(4, 1), type: 4, name: null };
    assert.equal(webStateReport(lock, { state: 3, doorState: 3 }).door, "open");
    assert.equal(webStateReport(lock, { state: 3, doorState: 2 }).door, "closed");
    assert.equal(webStateReport(lock, { state: 3, doorState: 240 }).door, "unknown");
    assert.equal(webStateReport(lock, { state: 254 }).lock, "jammed");
    assert.equal(webStateReport(lock, { state: 99 }).lock, "unknown");
    const opener = { smartlockId: smartlockIdFor(2, 2), type: 2, name: null };
    const rto = webStateReport(opener, { mode: 3, state: 3 });
    assert.equal(rto.device.type, "opener");
    assert.equal(rto.lock, "unlocked");
    assert.deepEqual(rto.flags, { ring_to_open: true, continuous_mode: true });
  });

  it("refuses bodies that are not a DEVICE_STATUS", () => {
    assert.equal(deviceStatusSchema.safeParse({ feature: "DEVICE_STATUS", smartlockId: "x", state: {} }).success, false);
    assert.equal(deviceStatusSchema.safeParse({ feature: "DEVICE_STATUS", smartlockId: 1 }).success, false);
    assert.equal(deviceStatusSchema.safeParse({ feature: "DEVICE_STATUS", smartlockId: 1, state: { batteryCharge: 400 } }).success, false);
  });
});

describe("nuki web: DEVICE_LOGS", () => {
  it("reads the vector log: a keypad unlock by 'Keypad Gast'", () => {
    const { smartlockLog } = deviceLogsSchema.parse(JSON.parse(LOGS_BODY));
    assert.equal(logSucceeded(smartlockLog), true);
    assert.equal(isDeniedAttempt(smartlockLog), false);
    assert.deepEqual(logMeaning(0, smartlockLog), { kind: "lock", event: "lock.unlocked", candidates: ["lock.unlocked", "lock.unlocking"], steady: "unlocked" });
    assert.deepEqual(webLogActor(smartlockLog, undefined), { type: "keypad", id: null, name: "Keypad Gast" });
  });

  it("reads the observed Opener doorbell log (action 224)", () => {
    const log = smartlockLogSchema.parse({ id: "5e0f8a5c1e2a3b4c5d6e7f80", smartlockId: smartlockIdFor(2, 439041101), deviceType: 2, name: "", action: 224, trigger: 0, state: 0, autoUnlock: false, date: "2019-12-22T15:00:36.000Z", openerLog: { activeCm: false, activeRto: false, source: 0, flagGeoFence: false, flagForce: false, flagDoorbellSuppression: false } });
    assert.deepEqual(logMeaning(2, log), { kind: "ring" });
    assert.deepEqual(logMeaning(4, { ...log, deviceType: 4 }), { kind: "ignore" }, "doorbell recognition is an Opener thing");
  });

  it("maps door log actions and other lock actions", () => {
    const log = (action, extra = {}) => smartlockLogSchema.parse({ smartlockId: 1, action, trigger: 0, state: 0, ...extra });
    assert.deepEqual(logMeaning(4, log(240)), { kind: "door", door: "open" });
    assert.deepEqual(logMeaning(4, log(241)), { kind: "door", door: "closed" });
    assert.deepEqual(logMeaning(4, log(208)), { kind: "happening", event: "nuki.door.ajar" });
    assert.deepEqual(logMeaning(4, log(209)), { kind: "happening", event: "nuki.door.status_mismatch" });
    assert.deepEqual(logMeaning(4, log(242)), { kind: "happening", event: "nuki.door_sensor.jammed" });
    assert.equal(logMeaning(4, log(2)).event, "lock.locked");
    assert.equal(logMeaning(4, log(3)).event, "lock.unlatched");
    assert.equal(logMeaning(4, log(3)).steady, null, "an unlatch is not a state the lock stays in");
    assert.ok(logMeaning(4, log(3)).candidates.includes("lock.unlocked"), "the bridge often only sees the unlocked state after an unlatch");
    assert.equal(logMeaning(4, log(4)).event, "lock.unlocked");
    assert.equal(logMeaning(4, log(5)).event, "lock.unlatched");
    assert.equal(logMeaning(2, log(1)).event, "lock.unlocked", "Opener: ring to open on");
    assert.equal(logMeaning(2, log(3)).event, "lock.unlatched", "Opener: buzzer");
    assert.deepEqual(logMeaning(4, log(243)), { kind: "ignore" });
    assert.deepEqual(logMeaning(4, log(77)), { kind: "ignore" });
  });

  it("maps trigger, source, auto unlock and the authorization type to actor types", () => {
    const actor = (fields, auth) => webLogActor(smartlockLogSchema.parse({ smartlockId: 1, action: 1, state: 0, ...fields }), auth).type;
    assert.equal(actor({ trigger: 255 }), "keypad");
    assert.equal(actor({ trigger: 0, source: 1 }), "keypad");
    assert.equal(actor({ trigger: 0, source: 2 }), "fingerprint");
    assert.equal(actor({ trigger: 0, source: 3 }), "mobile");
    assert.equal(actor({ trigger: 0, autoUnlock: true, name: "Anna" }), "auto");
    assert.equal(actor({ trigger: 1 }), "manual");
    assert.equal(actor({ trigger: 2 }), "button");
    assert.equal(actor({ trigger: 3 }), "auto");
    assert.equal(actor({ trigger: 4 }), "web");
    assert.equal(actor({ trigger: 5 }), "app");
    assert.equal(actor({ trigger: 6 }), "auto");
    assert.equal(actor({ trigger: 7 }), "accessory");
    assert.equal(actor({ trigger: 0, name: "Anna" }), "app", "a named Bluetooth command is the app");
    assert.equal(actor({ trigger: 0, name: "" }), "system");
    assert.equal(actor({ trigger: 0, authId: "a1" }, { name: "Fob", type: 2 }), "fob");
    assert.equal(actor({ trigger: 0, authId: "a1" }, { name: "Bridge", type: 1 }), "remote");
    assert.equal(actor({ trigger: 0, authId: "a1" }, { name: "Keypad", type: 13 }), "keypad");
    assert.equal(actor({ trigger: 0, openerLog: { source: 1 } }), "schedule");
    assert.equal(actor({ trigger: 99 }), "unknown");
  });

  it("takes the current name from the authorization table and the id from the log", () => {
    const log = smartlockLogSchema.parse({ smartlockId: 1, action: 1, trigger: 0, state: 0, authId: "65219648fe57075d71a6cb01", name: "Old name" });
    assert.deepEqual(webLogActor(log, { name: "New name", type: 0 }), { type: "app", id: "65219648fe57075d71a6cb01", name: "New name" });
    assert.deepEqual(webLogActor(log, undefined), { type: "app", id: "65219648fe57075d71a6cb01", name: "Old name" });
  });

  it("makes failed keypad and fingerprint attempts access.denied, and other failures nothing", () => {
    const log = (fields) => smartlockLogSchema.parse({ smartlockId: 1, action: 3, ...fields });
    assert.equal(isDeniedAttempt(log({ trigger: 255, source: 1, state: 224 })), true);
    assert.equal(webLogActor(log({ trigger: 255, source: 1, state: 224 })).type, "keypad");
    assert.equal(isDeniedAttempt(log({ trigger: 0, source: 2, state: 225 })), true);
    assert.equal(webLogActor(log({ trigger: 0, source: 2, state: 225 })).type, "fingerprint");
    assert.equal(isDeniedAttempt(log({ trigger: 0, state: 226 })), true);
    assert.equal(isDeniedAttempt(log({ trigger: 253, state: 0 })), true, "keypad error: another state table");
    assert.equal(isDeniedAttempt(log({ trigger: 255, source: 1, state: 10 })), true, "rejected in night mode");
    assert.equal(isDeniedAttempt(log({ trigger: 5, state: 1 })), false, "motor blocked is no credential problem");
    assert.equal(logSucceeded(log({ trigger: 5, state: 1 })), false);
    assert.equal(logSucceeded(log({ trigger: 255, state: 0 })), true);
  });

  it("accepts the DEVICE_AUTHS example and refuses a log without action", () => {
    const body = deviceAuthsSchema.parse({ feature: "DEVICE_AUTHS", deleted: false, smartlockAuth: { id: "65219648fe57075d71a6cb01", smartlockId: 11000009999, authId: 1, code: 982345, type: 13, name: "example" } });
    assert.equal(body.smartlockAuth.name, "example");
    assert.equal(deviceLogsSchema.safeParse({ feature: "DEVICE_LOGS", smartlockLog: { smartlockId: 1 } }).success, false);
  });
});

describe("nuki web: action codes", () => {
  it("uses the Web API's own Opener continuous-mode codes (6/7, the bridge has 4/5)", () => {
    assert.equal(actionSpec(2, "continuous_mode_on").webCode, 6);
    assert.equal(actionSpec(2, "continuous_mode_off").webCode, 7);
    assert.equal(actionSpec(2, "continuous_mode_on").code, 4);
    assert.equal(actionSpec(2, "ring_to_open_on").webCode, 1);
    assert.equal(actionSpec(2, "open").webCode, 3);
    for (const [action, code] of [["unlock", 1], ["lock", 2], ["unlatch", 3], ["open", 3], ["lock_n_go", 4], ["lock_n_go_unlatch", 5]]) {
      assert.equal(actionSpec(4, action).webCode, code, action);
      assert.equal(actionSpec(4, action).code, code, action);
    }
    assert.equal(actionSpec(4, "continuous_mode_on"), null);
  });
});

describe("nuki web: sealed webhook secret", () => {
  it("round-trips with the route secret and opens to null with another one or for junk", () => {
    const value = { id: 12, url: "https://example.com/smartlocks/nuki/abc/web", secret: "s3cr3t" };
    const sealed = sealWebhook(value, "route-secret-aaaaaaaaaaaa");
    assert.ok(!sealed.includes("s3cr3t"));
    assert.deepEqual(openWebhook(sealed, "route-secret-aaaaaaaaaaaa"), value);
    assert.equal(openWebhook(sealed, "route-secret-bbbbbbbbbbbb"), null);
    assert.equal(openWebhook("junk", "route-secret-aaaaaaaaaaaa"), null);
    assert.equal(openWebhook(undefined, "route-secret-aaaaaaaaaaaa"), null);
  });
});

describe("nuki event hub: one happening, two channels", () => {
  const device = { id: "3E63C84D", name: "Front door", type: "lock" };
  const anna = { type: "keypad", id: "a1", name: "Anna" };
  let now;
  let hub;
  let sent;
  beforeEach(() => {
    now = Date.parse("2026-12-02T10:00:00Z");
    hub = new NukiEventHub({ now: () => now });
    sent = [];
    hub.on("event", (e) => sent.push(e));
  });

  it("one state tracker: the same transition reported by bridge and web is one event", () => {
    hub.publish(hub.tracker.update({ device, lock: "locked" }, { channel: "bridge", raw: {}, snapshot: true }));
    hub.publish(hub.tracker.update({ device, lock: "unlocked" }, { channel: "bridge", raw: {} }));
    now += 1500;
    hub.publish(hub.tracker.update({ device, lock: "unlocked" }, { channel: "web", raw: {} }));
    assert.deepEqual(sent.map((e) => e.event), ["device.state", "lock.unlocked"]);
    for (const e of sent) assert.equal(doorEventSchema.safeParse(e).success, true);
  });

  it("a later actor becomes a follow-up with the same id, once", () => {
    hub.publish(hub.tracker.update({ device, lock: "unlocked" }, { channel: "bridge", raw: {} }));
    const first = sent[0];
    assert.equal(hub.attachActor(device.id, ["lock.unlocked"], now + 2000, anna), "merged");
    assert.equal(sent.length, 2);
    assert.equal(sent[1].id, first.id);
    assert.equal(sent[1].event, "lock.unlocked");
    assert.equal(sent[1].update, true);
    assert.deepEqual(sent[1].actor, anna);
    assert.equal(doorEventSchema.safeParse(sent[1]).success, true);
    assert.equal(hub.attachActor(device.id, ["lock.unlocked"], now + 2000, anna), "attributed", "a re-delivered log adds nothing");
    assert.equal(hub.attachActor(device.id, ["lock.locked"], now + 2000, anna), "none");
    assert.equal(hub.attachActor(device.id, ["lock.unlocked"], now + 10 * 60_000, anna), "none", "outside the window");
    assert.equal(sent.length, 2);
  });

  it("an earlier actor (MQTT) is put on the lock events it announced, moving and end state", () => {
    hub.expectActor(device.id, anna, ["unlocking", "unlocked"]);
    hub.publish(hub.tracker.update({ device, lock: "unlocking" }, { channel: "mqtt", raw: {} }));
    hub.publish(hub.tracker.update({ device, lock: "unlocked" }, { channel: "mqtt", raw: {} }));
    hub.publish(hub.tracker.update({ device, lock: "locked" }, { channel: "mqtt", raw: {} }));
    assert.deepEqual(sent.map((e) => [e.event, e.actor && e.actor.name]), [["lock.unlocking", "Anna"], ["lock.unlocked", "Anna"], ["lock.locked", null]]);
  });

  it("an early actor expires and does not go to an unrelated state", () => {
    hub.expectActor(device.id, anna, ["locked"]);
    hub.publish(hub.tracker.update({ device, lock: "unlocked" }, { channel: "bridge", raw: {} }));
    now += 31_000;
    hub.publish(hub.tracker.update({ device, lock: "locked" }, { channel: "bridge", raw: {} }));
    assert.deepEqual(sent.map((e) => e.actor), [null, null]);
  });
});
