"use strict";
// Nuki protocol units against the research vectors (../shared/research/nuki.md 6.1, 6.2).
const assert = require("node:assert/strict");
const nacl = require("tweetnacl");
const { createHash } = require("node:crypto");
const { hashedParams, encryptedParams, bridgeTimestamp, BridgeAuth } = require("../../dist/nodes/nuki/auth.js");
const { nukiIdToHex, parseDeviceId, smartlockIdFor, deviceIdFromSmartlockId } = require("../../dist/nodes/nuki/ids.js");
const { bridgeReport, lockState, doorState } = require("../../dist/nodes/nuki/normalize.js");
const { callbackBodySchema, listSchema, infoSchema, callbackListSchema } = require("../../dist/nodes/nuki/schemas.js").bridgeSchemas();
const { actionSpec } = require("../../dist/nodes/nuki/actions.js");
const { StateTracker } = require("../../dist/nodes/core/state-tracker.js");

describe("nuki/auth", () => {
  it("hashed token matches Nuki's example", () => {
    assert.deepEqual(hashedParams("123456", "2019-03-05T01:06:53Z", 4711), {
      ts: "2019-03-05T01:06:53Z",
      rnr: "4711",
      hash: "f52eb5ce382e356c4239f8fb4d0a87402bb95b7b3124f0762b806ad7d0d01cb6",
    });
  });

  it("encrypted token matches Nuki's ctoken example", () => {
    const nonce = Buffer.from("119c38fb6d7d707b8a45f14e688b74b8c4c1acf33643c71a", "hex");
    const p = encryptedParams("123456", "2019-03-05T01:06:53Z", 4711, nonce);
    assert.equal(p.ctoken, "a7f6b4df6758b92445bd5470b755b43ba41cf50af8b3f6e19368348ddfb1686291555dfd90b31f9333");
    assert.equal(p.nonce, "119c38fb6d7d707b8a45f14e688b74b8c4c1acf33643c71a");
  });

  it("formats the bridge timestamp without milliseconds, in UTC", () => {
    assert.equal(bridgeTimestamp(Date.parse("2019-03-05T01:06:53.987Z")), "2019-03-05T01:06:53Z");
  });

  it("never repeats (ts, rnr) within a second, and every encrypted token decrypts to ts,rnr", () => {
    const now = () => Date.parse("2026-12-02T10:00:00.500Z");
    const auth = new BridgeAuth("encrypted", "secret-token", now);
    const key = createHash("sha256").update("secret-token").digest();
    const seen = new Set();
    for (let i = 0; i < 500; i++) {
      const { ctoken, nonce } = auth.params();
      const plain = nacl.secretbox.open(Buffer.from(ctoken, "hex"), Buffer.from(nonce, "hex"), key);
      const text = Buffer.from(plain).toString("utf8");
      assert.match(text, /^2026-12-02T10:00:00Z,\d{1,5}$/);
      assert.ok(!seen.has(text), `reused ${text}`);
      seen.add(text);
    }
    assert.deepEqual(new BridgeAuth("plain", "tok").params(), { token: "tok" });
  });

  it("follows the bridge clock through clockOffsetMs", () => {
    const auth = new BridgeAuth("hashed", "123456", () => Date.parse("2026-12-02T10:00:00Z"));
    auth.clockOffsetMs = -120_000;
    assert.equal(auth.params().ts, "2026-12-02T09:58:00Z");
  });
});

describe("nuki/ids", () => {
  it("maps nukiId, hex Nuki ID and Web smartlockId onto one device id", () => {
    assert.equal(nukiIdToHex(1046726733), "3E63C84D");
    assert.equal(nukiIdToHex(1), "00000001");
    assert.equal(parseDeviceId("3e63c84d"), 1046726733);
    assert.equal(parseDeviceId("0x3E63C84D"), 1046726733);
    assert.equal(parseDeviceId("1046726733"), 1046726733);
    assert.equal(parseDeviceId(1046726733), 1046726733);
    assert.equal(parseDeviceId("front door"), null);
    assert.equal(parseDeviceId(-1), null);
    // research/nuki.md 1.8: SL3 0x3E63C84D -> 0x43E63C84D = 18226595917
    assert.equal(smartlockIdFor(4, 0x3e63c84d), 18226595917);
    assert.equal(deviceIdFromSmartlockId(18226595917), "3E63C84D");
  });
});

describe("nuki/normalize", () => {
  it("maps every documented smart lock and opener state, unknown values to unknown", () => {
    const lockExpect = { 0: "uncalibrated", 1: "locked", 2: "unlocking", 3: "unlocked", 4: "locking", 5: "unlatched", 6: "unlocked", 7: "unlatching", 254: "jammed", 255: "unknown", 42: "unknown" };
    for (const [s, want] of Object.entries(lockExpect)) assert.equal(lockState(4, Number(s)), want, `lock ${s}`);
    for (const t of [0, 3, 5]) assert.equal(lockState(t, 1), "locked");
    const openerExpect = { 0: "uncalibrated", 1: "locked", 3: "unlocked", 5: "unlatched", 7: "unlatching", 253: "unknown", 255: "unknown", 2: "unknown" };
    for (const [s, want] of Object.entries(openerExpect)) assert.equal(lockState(2, Number(s)), want, `opener ${s}`);
  });

  it("maps door sensor states: 2 closed, 3 open, others unknown, missing = not told", () => {
    assert.equal(doorState(2), "closed");
    assert.equal(doorState(3), "open");
    for (const s of [1, 4, 5, 16, 240, 255, 99]) assert.equal(doorState(s), "unknown");
    assert.equal(doorState(undefined), undefined);
  });

  it("turns the observed 4th-gen door callbacks into door.opened then door.closed", () => {
    const opened = {"deviceType":4,"nukiId":1046726733,"mode":2,"state":3,"stateName":"unlocked","batteryCritical":false,"batteryCharging":false,"batteryChargeState":100,"keypadBatteryCritical":false,"doorsensorState":3,"doorsensorStateName":"door opened"};
    const closed = {...opened, doorsensorState: 2, doorsensorStateName: "door closed"};
    const t = new StateTracker("nuki");
    const body = callbackBodySchema.parse(opened);
    t.update(bridgeReport({ nukiId: body.nukiId, deviceType: body.deviceType, name: "Front door" }, { ...body, doorsensorState: 2 }), { channel: "bridge", raw: {}, snapshot: true });
    const e1 = t.update(bridgeReport(body, body), { channel: "bridge", raw: opened });
    assert.deepEqual(e1.map((e) => e.event), ["door.opened"]);
    assert.equal(e1[0].device.id, "3E63C84D");
    assert.equal(e1[0].device.name, "Front door");
    assert.deepEqual(e1[0].battery, { critical: false, level: 100, charging: false });
    assert.deepEqual(e1[0].raw, opened);
    const c = callbackBodySchema.parse(closed);
    assert.deepEqual(t.update(bridgeReport(c, c), { channel: "bridge", raw: closed }).map((e) => e.event), ["door.closed"]);
  });

  it("reads the doc's callback bodies, with and without a door sensor, and the Opener's", () => {
    const bodies = [
      {"nukiId": 11, "deviceType": 0, "mode": 2, "state": 1, "stateName": "locked", "batteryCritical": false, "batteryCharging": false, "batteryChargeState": 85, "keypadBatteryCritical": false},
      {"nukiId": 11, "deviceType": 0, "mode": 2, "state": 1, "stateName": "locked", "batteryCritical": false, "batteryCharging": false, "batteryChargeState": 85, "doorsensorState": 2, "doorsensorStateName": "door closed"},
      {"nukiId": 11, "deviceType": 2, "mode": 3, "state": 3, "stateName": "rto active", "batteryCritical": false, "ringactionTimestamp": "2020-04-27T16:13:00+00:00", "ringactionState": false},
    ];
    const [a, b, c] = bodies.map((x) => callbackBodySchema.parse(x));
    assert.equal(bridgeReport(a, a).door, undefined);
    assert.equal(bridgeReport(b, b).door, "closed");
    const opener = bridgeReport(c, c);
    assert.equal(opener.device.type, "opener");
    assert.equal(opener.lock, "unlocked");
    assert.deepEqual(opener.flags, { ring_to_open: true, continuous_mode: true });
    assert.equal(opener.doorbell, "2020-04-27T16:13:00+00:00");
    assert.equal(bridgeReport(a, a).flags.keypad_battery_low, false);
  });

  it("emits doorbell.rang for a new ringactionTimestamp, and ring-to-open changes", () => {
    const t = new StateTracker("nuki");
    const base = {"nukiId": 439041101, "deviceType": 2, "mode": 2, "state": 1, "stateName": "online", "batteryCritical": false, "ringactionTimestamp": "2020-04-27T16:13:00+00:00", "ringactionState": false};
    const apply = (x, snapshot) => t.update(bridgeReport(x, callbackBodySchema.parse(x)), { channel: "bridge", raw: x, snapshot });
    apply(base, true);
    assert.deepEqual(apply({ ...base, state: 3, stateName: "rto active" }).map((e) => e.event), ["lock.unlocked", "nuki.ring_to_open.on"]);
    const ring = apply({ ...base, state: 3, ringactionTimestamp: "2026-12-02T10:00:00+00:00", ringactionState: true });
    assert.deepEqual(ring.map((e) => e.event), ["doorbell.rang"]);
    assert.equal(ring[0].device.id, "1A2B3C4D");
    assert.deepEqual(apply({ ...base, state: 7, ringactionTimestamp: "2026-12-02T10:00:00+00:00" }).map((e) => e.event), ["lock.unlatching"]);
    assert.deepEqual(apply({ ...base, state: 1, mode: 3, ringactionTimestamp: "2026-12-02T10:00:00+00:00" }).map((e) => e.event), ["lock.locked", "nuki.ring_to_open.off", "nuki.continuous_mode.on"]);
  });

  it("accepts numbers sent as strings and rejects bodies without the required fields", () => {
    const parsed = callbackBodySchema.parse({ nukiId: "11", deviceType: "0", state: "3" });
    assert.equal(parsed.nukiId, 11);
    assert.equal(parsed.state, 3);
    assert.equal(callbackBodySchema.safeParse({ deviceType: 0, state: 1 }).success, false);
    assert.equal(callbackBodySchema.safeParse({ nukiId: 11, deviceType: 0, state: "locked" }).success, false);
    assert.equal(callbackBodySchema.safeParse({ nukiId: -5, deviceType: 0, state: 1 }).success, false);
  });

  it("parses the doc and observed /list, /info and /callback/list answers", () => {
    const list = listSchema.parse([{"nukiId": 1, "deviceType": 0, "name": "Home", "lastKnownState": {"mode": 2, "state": 1, "stateName": "unlocked", "batteryCritical": false, "batteryCharging": false, "batteryChargeState": 85, "keypadBatteryCritical": false, "doorsensorState": 2, "doorsensorStateName": "door closed", "timestamp": "2018-10-03T06:49:00+00:00"}},
      {"nukiId": 2, "deviceType": 2, "name": "Community door", "lastKnownState": {"mode": 3, "state": 3, "stateName": "rto active", "batteryCritical": false, "ringactionTimestamp": "2020-04-27T16:13:00+00:00", "ringactionState": false, "timestamp": "2018-10-03T06:49:00+00:00"}}]);
    assert.equal(list.length, 2);
    // The doc's own example says state 1 with stateName "unlocked": the number wins.
    assert.equal(lockState(list[0].deviceType, list[0].lastKnownState.state), "locked");
    const info = infoSchema.parse({"bridgeType":1,"ids":{"hardwareId":234189529,"serverId":291317518},"versions":{"firmwareVersion":"1.12.6","wifiFirmwareVersion":"1.2.0"},"uptime":75492,"currentTime":"2019-05-09T08:09:20+00:00","serverConnected":true,"scanResults":[]});
    assert.equal(info.ids.hardwareId, 234189529);
    const cbs = callbackListSchema.parse({"callbacks": [{"id": 0, "url": "http://192.168.0.20:8000/nuki"}, {"id": 1, "url": "http://192.168.0.21/test"}]});
    assert.equal(cbs.callbacks[1].url, "http://192.168.0.21/test");
  });
});

describe("nuki/actions", () => {
  it("uses the bridge codes per device type", () => {
    assert.equal(actionSpec(4, "unlock").code, 1);
    assert.equal(actionSpec(4, "lock").code, 2);
    assert.equal(actionSpec(4, "unlatch").code, 3);
    assert.equal(actionSpec(4, "open").code, 3);
    assert.equal(actionSpec(0, "lock_n_go").code, 4);
    assert.equal(actionSpec(0, "lock_n_go_unlatch").code, 5);
    assert.equal(actionSpec(2, "ring_to_open_on").code, 1);
    assert.equal(actionSpec(2, "ring_to_open_off").code, 2);
    assert.equal(actionSpec(2, "open").code, 3);
    assert.equal(actionSpec(2, "continuous_mode_on").code, 4);
    assert.equal(actionSpec(2, "continuous_mode_off").code, 5);
    assert.equal(actionSpec(4, "continuous_mode_on"), null);
    assert.equal(actionSpec(2, "lock_n_go"), null);
    assert.equal(actionSpec(4, "toString"), null);
  });
});
