"use strict";
// LOQED payload mapping: every event type of research/loqed-tedee.md 1.3.5, the verbatim payloads of 6.4,
// string-typed numbers, key slots, actors, cloud fields; then the connection's intake (events, dedupe).
const assert = require("node:assert/strict");
const n = require("../../dist/nodes/loqed/normalize.js");
const { webhookBodySchema, statusSchema } = require("../../dist/nodes/loqed/schemas.js").loqedSchemas();
const { LoqedConnection, canonicalJson } = require("../../dist/nodes/loqed/connection.js");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema.js");
const crypto = require("../../dist/nodes/loqed/crypto.js");

const parse = (body) => webhookBodySchema.parse(body);

describe("loqed/normalize: event families and states", () => {
  const gotoTable = [
    ["GO_TO_STATE_TOUCH_TO_LOCK", "night_lock", "button"],
    ["GO_TO_STATE_INSTANTOPEN_OPEN", "open", "mobile"],
    ["GO_TO_STATE_INSTANTOPEN_LATCH", "day_lock", "mobile"],
    ["GO_TO_STATE_MANUAL_UNLOCK_BLE_OPEN", "open", "app"],
    ["GO_TO_STATE_MANUAL_LOCK_BLE_LATCH", "day_lock", "app"],
    ["GO_TO_STATE_MANUAL_LOCK_BLE_NIGHT_LOCK", "night_lock", "app"],
    ["GO_TO_STATE_TWIST_ASSIST_OPEN", "open", "manual"],
    ["GO_TO_STATE_TWIST_ASSIST_LATCH", "day_lock", "manual"],
    ["GO_TO_STATE_TWIST_ASSIST_LOCK", "night_lock", "manual"],
    ["GO_TO_STATE_MANUAL_UNLOCK_VIA_OUTSIDE_MODULE_PIN", "open", "keypad"],
    ["GO_TO_STATE_MANUAL_UNLOCK_VIA_OUTSIDE_MODULE_BUTTON", "open", "button"],
    ["GO_TO_STATE_MANUAL_UNLOCK_REMOTE_OPEN", "open", "remote"],
    ["GO_TO_STATE_MANUAL_LOCK_REMOTE_LATCH", "day_lock", "remote"],
    ["GO_TO_STATE_MANUAL_LOCK_REMOTE_NIGHT_LOCK", "night_lock", "remote"],
  ];
  for (const [eventType, target, actorType] of gotoTable) {
    it(`${eventType}: going to ${target}, actor ${actorType} (target from the event type when go_to_state is missing)`, () => {
      const c = n.classify(parse({ event_type: eventType, key_local_id: 255 }));
      assert.deepEqual(c, { kind: "goto", eventType, target, key: null, actorType });
    });
  }

  it("go_to_state and go_to_state_numeric win over the event type suffix", () => {
    assert.equal(n.classify(parse({ event_type: "GO_TO_STATE_TWIST_ASSIST_LATCH", go_to_state: "NIGHT_LOCK" })).target, "night_lock");
    assert.equal(n.classify(parse({ event_type: "GO_TO_STATE_X", go_to_state_numeric: "1" })).target, "open");
    assert.equal(n.classify(parse({ event_type: "GO_TO_STATE_SOMETHING_NEW" })).target, "unknown");
  });

  const reachedTable = [
    ["STATE_CHANGED_OPEN", "open", "unlatched", null],
    ["STATE_CHANGED_LATCH", "day_lock", "unlocked", null],
    ["STATE_CHANGED_NIGHT_LOCK", "night_lock", "locked", null],
    ["STATE_CHANGED_UNKNOWN", "unknown", "unknown", null],
    ["STATE_CHANGED_OPEN_REMOTE", "open", "unlatched", "remote"],
    ["STATE_CHANGED_LATCH_REMOTE", "day_lock", "unlocked", "remote"],
    ["STATE_CHANGED_NIGHT_LOCK_REMOTE", "night_lock", "locked", "remote"],
  ];
  for (const [eventType, bolt, lock, actorType] of reachedTable) {
    it(`${eventType}: reached ${bolt} = ${lock}`, () => {
      const c = n.classify(parse({ event_type: eventType, requested_state: "UNKNOWN", key_local_id: "3" }));
      assert.deepEqual(c, { kind: "reached", eventType, bolt, key: 3, actorType });
      assert.equal(n.boltLockState(c.bolt), lock);
    });
  }

  it("reads the reached state from the event type, not requested_state (HA nightlock_reached fixture)", () => {
    const c = n.classify(parse({ requested_state: "NIGHT_LOCK", requested_state_numeric: 3, mac_wifi: "**REDACTED**", mac_ble: "**REDACTED**", event_type: "STATE_CHANGED_LATCH", key_local_id: 255 }));
    assert.equal(c.bolt, "day_lock");
    assert.equal(n.classify(parse({ event_type: "STATE_CHANGED_SOMETHING", requested_state: "OPEN" })).bolt, "open");
  });

  it("MOTOR_STALL is a jam", () => {
    assert.deepEqual(n.classify(parse({ requested_state: "UNKNOWN", requested_state_numeric: 0, event_type: "MOTOR_STALL", key_local_id: 1 })), { kind: "jammed", eventType: "MOTOR_STALL", key: 1 });
  });

  it("battery and online/signal families, numbers as strings", () => {
    assert.deepEqual(n.classify(parse({ battery_type: "NICKEL_METAL_HYDRIDE", battery_percentage: 88, mac_wifi: "a", mac_ble: "b" })), { kind: "status", battery: 88 });
    assert.deepEqual(n.classify(parse({ battery_type: "1", battery_percentage: "88", mac_wifi: "a", mac_ble: "b" })), { kind: "status", battery: 88 });
    assert.deepEqual(n.classify(parse({ wifi_strength: "-60", ble_strength: -1, mac_wifi: "a", mac_ble: "b" })), { kind: "status", wifi: -60, ble: -1, online: false });
    assert.deepEqual(n.classify(parse({ wifi_strength: -24, ble_strength: -59 })).online, false);
    assert.deepEqual(n.classify(parse({ ble_strength: 88, lock_id: 6148, wifi_strength: 39 })), { kind: "status", wifi: 39, ble: 88, online: true });
    assert.deepEqual(n.classify(parse({ lock_id: 6148, online: 0 })), { kind: "status", online: false });
    assert.deepEqual(n.classify(parse({ ble_strength: 42, wifi_strength: 73, battery_percentage: 88, lock_id: "Yq1g" })), { kind: "status", battery: 88, wifi: 73, ble: 42, online: true });
    assert.deepEqual(n.batteryOf(19), { level: 19, critical: true });
    assert.deepEqual(n.batteryOf(20), { level: 20, critical: false });
    assert.equal(webhookBodySchema.safeParse({ battery_percentage: "lots" }).success, false);
    assert.equal(webhookBodySchema.safeParse({ battery_percentage: 101 }).success, false);
  });

  it("unknown event types are classified unknown (raw kept by the caller), never thrown", () => {
    assert.deepEqual(n.classify(parse({ event_type: "PARTY_MODE_ON", key_local_id: 7 })), { kind: "unknown", eventType: "PARTY_MODE_ON", key: 7 });
    assert.equal(n.classify(parse({ mac_wifi: "a" })).kind, "unknown");
  });

  it("key slots: 0-250 as number or string; 255, empty, null, absent, negative, fractions and garbage are none", () => {
    for (const [value, want] of [[0, 0], ["3", 3], [" 250 ", 250], [250, 250], [255, null], ["255", null], ["", null], [null, null], [undefined, null], [-1, null], [1.5, null], ["abc", null], [251, null]]) {
      assert.equal(n.keySlot(value), want, JSON.stringify(value));
    }
  });

  it("transitional states: never a moving state for a command to the current state", () => {
    assert.equal(n.gotoLockState("night_lock", "unlocked"), "locking");
    assert.equal(n.gotoLockState("night_lock", "locked"), null);
    assert.equal(n.gotoLockState("day_lock", "locked"), "unlocking");
    assert.equal(n.gotoLockState("day_lock", null), "unlocking");
    assert.equal(n.gotoLockState("day_lock", "unlocked"), null);
    assert.equal(n.gotoLockState("day_lock", "unlatched"), null);
    assert.equal(n.gotoLockState("open", "unlocked"), "unlatching");
    assert.equal(n.gotoLockState("open", "unlatched"), null);
    assert.equal(n.gotoLockState("unknown", "locked"), null);
  });
});

describe("loqed/normalize: actors, names, cloud fields, status", () => {
  const names = n.parseKeyNames("1=Jane's phone\n3: Keypad\n\nbad line\n300=Too high").names;

  it("parses the slot -> name table and reports bad entries", () => {
    const parsed = n.parseKeyNames("1=Jane's phone\n3: Keypad, 4=Bob;bad line\n300=Too high\n5=");
    assert.deepEqual([...parsed.names], [[1, "Jane's phone"], [3, "Keypad"], [4, "Bob"]]);
    assert.deepEqual(parsed.invalid, ["bad line", "300=Too high", "5="]);
    assert.deepEqual([...n.parseKeyNames({ 2: "Anna" }).names], [[2, "Anna"]]);
  });

  it("actor from key slot and event type", () => {
    assert.deepEqual(n.actorOf("app", 1, names), { type: "app", id: "1", name: "Jane's phone" });
    assert.deepEqual(n.actorOf(null, 3, names), { type: "user", id: "3", name: "Keypad" });
    assert.deepEqual(n.actorOf("manual", null, names), { type: "manual", id: null, name: null });
    assert.equal(n.actorOf(null, null, names), null);
    assert.deepEqual(n.actorOf("remote", 9, names), { type: "remote", id: "9", name: null });
  });

  it("cloud names: key_name_user first, then the slot table, then the account name or e-mail under both spellings", () => {
    const body = (extra) => parse({ event_type: "STATE_CHANGED_LATCH", key_local_id: "1", ...extra });
    assert.equal(n.actorOf(null, 1, names, body({ key_name_user: "Front door key" })).name, "Front door key");
    assert.equal(n.actorOf(null, 1, names, body({ key_name_user: "" })).name, "Jane's phone");
    assert.equal(n.actorOf(null, 2, names, body({ key_account_name: "Jane Doe" })).name, "Jane Doe");
    assert.equal(n.actorOf(null, 2, names, body({ key_account_email: "jane@example.com" })).name, "jane@example.com");
    assert.equal(n.actorOf(null, 2, names, body({ "key_account_e-mail": "jane@example.org" })).name, "jane@example.org");
    assert.equal(n.accountEmail(body({ "key_account_e-mail": "a@b.c" })), "a@b.c");
    assert.equal(n.accountEmail(body({ key_account_email: "d@e.f" })), "d@e.f");
    // A knob turn ("" key) carries the owner's account in the cloud: not the actor.
    assert.equal(n.actorOf(null, n.keySlot(""), names, body({ key_account_name: "Jane Doe" })), null);
  });

  it("maps the HA status fixture (text/html body) and MACs", () => {
    const status = statusSchema.parse({ battery_percentage: 78, battery_type: "NICKEL_METAL_HYDRIDE", battery_type_numeric: 1, battery_voltage: 10.37, bolt_state: "day_lock", bolt_state_numeric: 2, bridge_mac_wifi: "aabbccddeeff", bridge_mac_ble: "aabbccddeeaa", lock_online: 1, webhooks_number: 1, ip_address: "192.168.42.12", up_timestamp: 1653041994, wifi_strength: 73, ble_strength: 20 });
    assert.deepEqual(n.statusParts(status), { lock: "unlocked", battery: { level: 78, critical: false }, online: true, mac: "aabbccddeeff" });
    assert.equal(n.statusParts(statusSchema.parse({ bolt_state_numeric: 3 })).lock, "locked");
    assert.equal(n.statusParts(statusSchema.parse({ bolt_state: "open" })).lock, "unlatched");
    assert.equal(n.statusParts(statusSchema.parse({ bolt_state: "weird" })).lock, "unknown");
    assert.equal(n.normaliseMac("AA:BB:CC:DD:EE:FF"), "aabbccddeeff");
    assert.equal(n.normaliseMac("0123456789"), null);
  });
});

describe("loqed/connection intake (no network)", () => {
  const BRIDGE_KEY = crypto.decodeKey("Ym9uam91ciBtb25kZQ==", "b");
  let conn;
  let events;
  const make = (extra = {}) => {
    conn = new LoqedConnection({
      host: "", port: 80, bridgeKey: BRIDGE_KEY, keySecret: null, keyId: 1, lockId: "", deviceName: "Front",
      cloudToken: "", cloudUrl: "", keyNames: new Map([[1, "Jane"]]), timestampWindowSeconds: 20,
      allowMissingTimestamp: false, callbackUrl: async () => null, ownsWebhook: () => false, warn: () => undefined, ...extra,
    });
    events = [];
    conn.on("event", (e) => events.push(e));
  };
  afterEach(() => conn.close());
  const tick = () => new Promise((r) => setImmediate(r));
  const signed = (body, ts = Math.floor(Date.now() / 1000)) => {
    const raw = Buffer.from(JSON.stringify(body));
    return { rawBody: raw, headers: { timestamp: String(ts), hash: crypto.webhookHash(raw, ts, BRIDGE_KEY).toString("hex") }, remoteAddress: "127.0.0.1", channel: "bridge", receivedAt: Date.now() };
  };
  const cloud = (body) => ({ rawBody: Buffer.from(JSON.stringify(body)), headers: {}, remoteAddress: "1.2.3.4", channel: "cloud", receivedAt: Date.now() });

  it("a remote lock: locking then locked, actor remote with the slot name, device id from the bridge MAC", async () => {
    make();
    const mac = "aabbccddeeff";
    assert.equal(conn.handleBridge(signed({ go_to_state: "NIGHT_LOCK", event_type: "GO_TO_STATE_MANUAL_LOCK_REMOTE_NIGHT_LOCK", mac_wifi: mac, mac_ble: "x", key_local_id: 1 })).status, 200);
    assert.equal(conn.handleBridge(signed({ requested_state: "NIGHT_LOCK", requested_state_numeric: 3, mac_wifi: mac, event_type: "STATE_CHANGED_NIGHT_LOCK", key_local_id: 1 })).status, 200);
    await tick();
    assert.deepEqual(events.map((e) => e.event), ["lock.locking", "lock.locked"]);
    for (const e of events) {
      doorEventSchema.parse(e);
      assert.equal(e.device.id, mac);
      assert.equal(e.device.name, "Front");
      assert.deepEqual(e.actor, { type: "remote", id: "1", name: "Jane" });
      assert.equal(e.channel, "bridge");
    }
    assert.equal(events[1].raw.event_type, "STATE_CHANGED_NIGHT_LOCK");
    assert.deepEqual(events[1].previous, { lock: "locking", door: null });
  });

  it("open then the automatic return to day lock; twist assist is manual; MOTOR_STALL is lock.jammed", async () => {
    make({ lockId: "Yq1gK4oeE9KWe0ByxjX2" });
    conn.handleBridge(signed({ event_type: "GO_TO_STATE_TWIST_ASSIST_OPEN", key_local_id: 255, mac_wifi: "a" }));
    conn.handleBridge(signed({ event_type: "STATE_CHANGED_OPEN", requested_state: "OPEN", key_local_id: 255, mac_wifi: "a" }));
    conn.handleBridge(signed({ event_type: "STATE_CHANGED_LATCH", requested_state: "DAY_LOCK", key_local_id: 255, mac_wifi: "a" }));
    conn.handleBridge(signed({ event_type: "MOTOR_STALL", requested_state: "UNKNOWN", key_local_id: "", mac_wifi: "a" }));
    await tick();
    assert.deepEqual(events.map((e) => [e.event, e.actor && e.actor.type]), [["lock.unlatching", "manual"], ["lock.unlatched", "manual"], ["lock.unlocked", "auto"], ["lock.jammed", null]]);
    assert.equal(events[0].device.id, "Yq1gK4oeE9KWe0ByxjX2", "lockId from the config wins");
  });

  it("battery, online and signal; unknown event types become loqed.event with raw", async () => {
    make();
    conn.handleBridge(signed({ battery_type: "1", battery_percentage: "88", mac_wifi: "aabbccddeeff" }));
    conn.handleBridge(signed({ battery_type: "1", battery_percentage: "15", mac_wifi: "aabbccddeeff" }));
    conn.handleBridge(signed({ wifi_strength: "-60", ble_strength: -1, mac_wifi: "aabbccddeeff" }));
    conn.handleBridge(signed({ wifi_strength: 40, ble_strength: 80, mac_wifi: "aabbccddeeff" }));
    conn.handleBridge(signed({ event_type: "SOMETHING_NEW", key_local_id: "1", mac_wifi: "aabbccddeeff" }));
    await tick();
    assert.deepEqual(events.map((e) => e.event), ["battery.low", "loqed.battery.level", "device.offline", "loqed.signal", "device.online", "loqed.signal", "loqed.event"]);
    assert.deepEqual(events[0].battery, { critical: true, level: 15, charging: null });
    assert.equal(events[6].raw.event_type, "SOMETHING_NEW");
    assert.deepEqual(events[6].actor, { type: "user", id: "1", name: "Jane" });
  });

  it("answers 401 to bad hashes, stale and missing timestamps, 400 to bad bodies, and emits nothing", async () => {
    const warnings = [];
    make({ warn: (w) => warnings.push(w) });
    const good = signed({ event_type: "STATE_CHANGED_LATCH", key_local_id: 255 });
    assert.equal(conn.handleBridge({ ...good, headers: { ...good.headers, hash: "0".repeat(64) } }).status, 401);
    assert.equal(conn.handleBridge(signed({ event_type: "STATE_CHANGED_LATCH" }, Math.floor(Date.now() / 1000) - 60)).status, 401);
    const noTs = conn.handleBridge({ ...good, headers: { hash: good.headers.hash } });
    assert.equal(noTs.status, 401);
    assert.match(noTs.body, /TIMESTAMP header missing/);
    assert.equal(conn.status.state, "rejecting");
    const raw = Buffer.from("{not json");
    const ts = Math.floor(Date.now() / 1000);
    assert.equal(conn.handleBridge({ ...good, rawBody: raw, headers: { timestamp: String(ts), hash: crypto.webhookHash(raw, ts, BRIDGE_KEY).toString("hex") } }).status, 400);
    await tick();
    assert.equal(events.length, 0);
    assert.equal(warnings.length, 4);
    assert.ok(warnings.some((w) => /TIMESTAMP header missing/.test(w)));
    // A valid delivery replayed within its window is acknowledged once.
    assert.equal(conn.handleBridge(good).status, 200);
    assert.equal(conn.handleBridge(good).status, 200);
    await tick();
    assert.equal(events.length, 1);
  });

  it("cloud webhooks: numeric lock id, string key, names from key_name_user, duplicates reported once", async () => {
    make({ bridgeKey: null });
    const body = { event_type: "STATE_CHANGED_NIGHT_LOCK", requested_state: "NIGHT_LOCK", lock_id: 6148, key_local_id: "1", key_name_user: "Gateway", key_name_admin: "Jane Doe", key_account_email: "jane@example.com", key_account_name: "Jane Doe", value1: "STATE_CHANGED_NIGHT_LOCK" };
    assert.equal(conn.handleCloud(cloud(body)).status, 200);
    assert.equal(conn.handleCloud(cloud(body)).status, 200);
    // Same content, other key order: still a duplicate.
    assert.equal(conn.handleCloud({ ...cloud(body), rawBody: Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(body).reverse()))) }).status, 200);
    conn.handleCloud(cloud({ event_type: "STATE_CHANGED_LATCH", requested_state: "DAY_LOCK", lock_id: 6148, key_local_id: "", key_name_user: "", key_account_name: "Jane Doe" }));
    conn.handleCloud(cloud({ battery_percentage: 100, lock_id: 6148 }));
    conn.handleCloud(cloud({ lock_id: 6148, online: 0 }));
    assert.equal(conn.handleCloud(cloud({ hello: 1 })).status, 400);
    await tick();
    assert.deepEqual(events.map((e) => e.event), ["lock.locked", "lock.unlocked", "device.offline"]);
    assert.equal(events[0].device.id, "6148");
    assert.equal(events[0].channel, "cloud");
    assert.deepEqual(events[0].actor, { type: "user", id: "1", name: "Gateway" });
    assert.equal(events[1].actor, null);
    assert.equal(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] }), '{"a":[2,{"c":2,"d":1}],"b":1}');
  });

  it("without the opt-in nothing without TIMESTAMP passes; with it only from the bridge address", async () => {
    make({ host: "127.0.0.1", allowMissingTimestamp: true });
    const raw = Buffer.from(JSON.stringify({ event_type: "STATE_CHANGED_NIGHT_LOCK", key_local_id: 255, mac_wifi: "aabbccddeeff" }));
    assert.equal(conn.handleBridge({ rawBody: raw, headers: {}, remoteAddress: "127.0.0.2", channel: "bridge", receivedAt: Date.now() }).status, 401);
    assert.equal(conn.handleBridge({ rawBody: raw, headers: {}, remoteAddress: "::ffff:127.0.0.1", channel: "bridge", receivedAt: Date.now() }).status, 200);
    await tick();
    assert.deepEqual(events.map((e) => e.event), ["lock.locked"]);
  });
});
