"use strict";
// Tedee protocol units against the research vectors (../shared/research/loqed-tedee.md 2.2.3, 6.3, 6.5).
const assert = require("node:assert/strict");
const { encryptedApiKey, BridgeAuth, isAuthMode } = require("../../dist/nodes/tedee/auth.js");
const { tedeeState, doorState, batteryLevel, batteryCritical, lockDetailsReport, cloudLockReport, parseDeviceId } = require("../../dist/nodes/tedee/normalize.js");
const { isBridgeEventName, tedeeSchemas } = require("../../dist/nodes/tedee/schemas.js");
const schemas = tedeeSchemas();
const { actionSpec } = require("../../dist/nodes/tedee/actions.js");
const { activityMeaning, activityTime, activityActor } = require("../../dist/nodes/tedee/activity.js");
const { cloudBaseUrl } = require("../../dist/nodes/tedee/cloud-client.js");
const { callbackHeaderValue, hasCallbackHeader, CALLBACK_HEADER } = require("../../dist/nodes/tedee/callback-auth.js");
const { StateTracker } = require("../../dist/nodes/core/state-tracker.js");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema.js");

describe("tedee/auth", () => {
  it("matches Tedee's worked example and the computed vector", () => {
    assert.equal(encryptedApiKey("BE9xnPnGfVUS", 1691058833000), "e59d9763edc6e59f2faccf9a769e5cf170d68439c3fd67afae5e3e72d0463a711691058833000");
    assert.equal(encryptedApiKey("BE9xnPnGfVUS", 1700000000000), "cdebb9220222632129c00a677a5a5470e3563195867736ba5ede4649385c59b01700000000000");
  });

  it("hands out strictly increasing timestamps even when the clock stands still or goes back", () => {
    let now = 1700000000000;
    const auth = new BridgeAuth("encrypted", "BE9xnPnGfVUS", () => now);
    const stamps = [];
    for (let i = 0; i < 50; i++) {
      if (i === 25) now -= 10_000; // clock stepped back
      const key = auth.apiKey();
      assert.match(key, /^[0-9a-f]{64}\d{13}$/);
      stamps.push(Number(key.slice(64)));
    }
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] > stamps[i - 1], `${stamps[i]} > ${stamps[i - 1]}`);
    assert.deepEqual(auth.headers().api_token.length, 77);
    assert.deepEqual(new BridgeAuth("plain", "tok").headers(), { api_token: "tok" });
    assert.ok(isAuthMode("plain") && isAuthMode("encrypted") && !isAuthMode("hashed"));
  });
});

describe("tedee/normalize", () => {
  it("maps every lock state value, 18, 255 and unknown values to unknown with a vendor event", () => {
    const want = {
      0: ["uncalibrated", "uncalibrated", undefined],
      1: ["calibrating", "unknown", "tedee.lock.calibrating"],
      2: ["unlocked", "unlocked", undefined],
      3: ["semi_locked", "unknown", "tedee.lock.semi_locked"],
      4: ["unlocking", "unlocking", undefined],
      5: ["locking", "locking", undefined],
      6: ["locked", "locked", undefined],
      7: ["pulled", "unlatched", undefined],
      8: ["pulling", "unlatching", undefined],
      9: ["unknown", "unknown", "tedee.lock.unknown"],
      18: ["updating", "unknown", "tedee.lock.updating"],
      255: ["unknown", "unknown", "tedee.lock.unknown"],
      42: ["unknown", "unknown", "tedee.lock.unknown"],
    };
    for (const [value, [name, lock, vendorEvent]] of Object.entries(want)) {
      const s = tedeeState(Number(value));
      assert.deepEqual([s.name, s.lock, s.vendorEvent], [name, lock, vendorEvent], `state ${value}`);
    }
    assert.equal(tedeeState(6, true).lock, "jammed", "jammed wins over the state");
    assert.equal(tedeeState(undefined).lock, "unknown");
  });

  it("maps door states, battery 255 and the low-battery threshold", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 9].map(doorState), [undefined, "unknown", "open", "closed", "unknown", "unknown"]);
    assert.equal(doorState(undefined), undefined);
    assert.equal(batteryLevel(255), null);
    assert.equal(batteryLevel(90), 90);
    assert.equal(batteryLevel(undefined), undefined);
    assert.equal(batteryCritical(15), true);
    assert.equal(batteryCritical(16), false);
    assert.equal(batteryCritical(null), undefined);
  });

  it("turns the spec's GET /lock example into a device.state snapshot", () => {
    const example = JSON.parse(
      '[{"id":10,"name":"Lock-9A25","type":4,"serialNumber":"22510401-000050","isConnected":1,"rssi":-45,"deviceRevision":18,"version":"2.0.10724","state":6,"jammed":0,"batteryLevel":90,"isCharging":0,"deviceSettings":{"autoLockEnabled":0,"autoLockDelay":60,"autoLockImplicitEnabled":0,"autoLockImplicitDelay":5,"pullSpringEnabled":0,"pullSpringDuration":2,"autoPullSpringEnabled":0,"postponedLockEnabled":1,"postponedLockDelay":5,"buttonLockEnabled":1,"buttonUnlockEnabled":1}}]',
    );
    const [lock] = schemas.lockListSchema.parse(example);
    assert.equal(lock.isConnected, true);
    const { report } = lockDetailsReport(lock);
    assert.deepEqual(report, {
      device: { id: "10", name: "Lock-9A25", type: "lock" },
      lock: "locked",
      battery: { level: 90, critical: false, charging: false },
      online: true,
    });
    const [event] = new StateTracker("tedee").update(report, { channel: "bridge", raw: example[0], snapshot: true });
    assert.equal(event.event, "device.state");
    doorEventSchema.parse(event);
  });

  it("reads cloud locks with deviceState or the older lockProperties, and disconnected ones", () => {
    const sync = schemas.cloudEnvelopeSchema.parse(
      JSON.parse('{"result": {"id": 123, "isConnected": true, "deviceState": {"state": 6, "doorState": 3, "isCharging": false, "batteryLevel": 54, "stateChangeResult": 0, "lastStateChangedDate": "2021-04-26T06:02:04.197Z"}, "revision": 1}, "success": true, "errorMessages": [], "statusCode": 200}'),
    );
    const { report } = cloudLockReport(schemas.cloudLockSchema.parse(sync.result));
    assert.equal(report.lock, "locked");
    assert.equal(report.door, "closed");
    assert.deepEqual(report.battery, { level: 54, critical: false, charging: false });
    const old = cloudLockReport(schemas.cloudLockSchema.parse({ id: 1, lockProperties: { state: 2, batteryLevel: 255 } }));
    assert.equal(old.report.lock, "unlocked");
    assert.equal(old.report.battery.level, null);
    const off = cloudLockReport(schemas.cloudLockSchema.parse({ id: 1, isConnected: false, deviceState: null }));
    assert.deepEqual(off.report, { device: { id: "1", name: null, type: "lock" }, online: false });
  });

  it("parses device ids as numbers or decimal strings only", () => {
    assert.equal(parseDeviceId("33819"), 33819);
    assert.equal(parseDeviceId(33819), 33819);
    assert.equal(parseDeviceId(" 10 "), 10);
    for (const bad of ["abc", "1.5", -1, 1.5, null, "", "0x10"]) assert.equal(parseDeviceId(bad), null, String(bad));
  });
});

describe("tedee/schemas", () => {
  const vectors = [
    '{"event": "backend-connection-changed", "timestamp": "2023-07-25T14:41:48.825Z", "data": {"isConnected": 1}}',
    '{"event": "device-connection-changed", "timestamp": "2023-07-25T14:41:48.825Z", "data": {"deviceType": 2, "deviceId": 33819, "serialNumber": "19420103-000006", "isConnected": 1}}',
    '{"event": "device-settings-changed", "timestamp": "2023-07-25T14:41:48.825Z", "data": {"deviceType": 2, "deviceId": 33819, "serialNumber": "19420103-000006"}}',
    '{"event": "lock-status-changed", "timestamp": "2023-07-25T14:41:48.825Z", "data": {"deviceType": 2, "deviceId": 33819, "serialNumber": "19420103-000006", "state": 6, "jammed": 0}}',
    '{"event": "device-battery-level-changed", "timestamp": "2023-07-25T14:41:48.825Z", "data": {"deviceType": 2, "deviceId": 33819, "serialNumber": "19420103-000006", "batteryLevel": 90}}',
    '{"event": "device-battery-start-charging", "timestamp": "2023-07-25T14:41:48.825Z", "data": {"deviceType": 2, "deviceId": 33819, "serialNumber": "19420103-000006"}}',
    '{"event": "device-battery-stop-charging", "timestamp": "2023-07-25T14:41:48.825Z", "data": {"deviceType": 2, "deviceId": 33819, "serialNumber": "19420103-000006"}}',
    '{"event": "device-battery-fully-charged", "timestamp": "2023-07-25T14:41:48.825Z", "data": {"deviceType": 2, "deviceId": 33819, "serialNumber": "19420103-000006"}}',
  ];

  it("accepts every documented callback payload", () => {
    for (const text of vectors) {
      const envelope = schemas.callbackEnvelopeSchema.parse(JSON.parse(text));
      assert.ok(isBridgeEventName(envelope.event), envelope.event);
      const data = schemas.eventDataSchemas[envelope.event].parse(envelope.data);
      if ("deviceId" in data) assert.equal(data.deviceId, 33819);
    }
    const lock = schemas.eventDataSchemas["lock-status-changed"].parse({ deviceId: "33819", state: "255", jammed: "1" });
    assert.deepEqual([lock.deviceId, lock.state, lock.jammed], [33819, 255, true], "GET-style text values");
  });

  it("refuses malformed data", () => {
    const lock = schemas.eventDataSchemas["lock-status-changed"];
    assert.equal(lock.safeParse({ deviceId: 1 }).success, false, "state missing");
    assert.equal(lock.safeParse({ deviceId: -1, state: 6 }).success, false);
    assert.equal(lock.safeParse({ deviceId: 1, state: "locked" }).success, false);
    assert.equal(schemas.callbackEnvelopeSchema.safeParse({ event: "Lock Status" }).success, false);
    assert.equal(schemas.callbackEnvelopeSchema.safeParse([]).success, false);
  });

  it("reads callback lists, the POST answer of old and new firmware, operations and activity", () => {
    assert.deepEqual(schemas.callbackListSchema.parse(JSON.parse('[{"id":1,"url":"http://192.168.1.21:8080/events","method":"POST","headers":[{"header_name":"header_value"}]}]'))[0].headers, [{ header_name: "header_value" }]);
    assert.deepEqual(schemas.callbackAddedSchema.parse({ id: 1 }), { id: 1 });
    assert.equal(schemas.callbackAddedSchema.parse(undefined), undefined);
    assert.equal(schemas.operationStartedSchema.parse({ operationId: "1577833200000", lastStateChangedDate: "2021-04-26T05:53:57.423Z" }).operationId, "1577833200000");
    assert.equal(schemas.operationStatusSchema.parse({ deviceId: 123, operationId: "1619078520230", result: 0, status: "COMPLETED", type: 1 }).result, 0);
    const [entry] = schemas.activityListSchema.parse(JSON.parse('[{"id": 3, "deviceId": 2, "userId": 3, "username": "Test", "event": 32, "source": 0, "date": "2020-11-20T13:59:26.212"}]'));
    assert.equal(entry.username, "Test");
  });
});

describe("tedee/actions", () => {
  it("maps actions to operations and unlock modes", () => {
    assert.deepEqual(actionSpec("lock"), { operation: "lock", confirms: ["locked"] });
    assert.equal(actionSpec("unlock").mode, undefined, "normal unlock sends no mode");
    assert.equal(actionSpec("unlock", { unlockWithoutPull: true }).mode, 3);
    assert.deepEqual(actionSpec("unlock", { unlockWithoutPull: true }).confirms, ["unlocked"]);
    assert.equal(actionSpec("unlatch").operation, "pull");
    assert.equal(actionSpec("open").operation, "pull");
    assert.deepEqual([actionSpec("unlock_force").operation, actionSpec("unlock_force").mode], ["unlock", 2]);
    assert.equal(actionSpec("lock_n_go"), null);
  });
});

describe("tedee/activity", () => {
  it("names the actor of lock events and ignores entries without one", () => {
    assert.deepEqual(activityMeaning(61), { events: ["lock.unlocked", "lock.unlocking"], actor: "pin" });
    assert.equal(activityMeaning(32).actor, "app");
    assert.equal(activityMeaning(34).actor, "button");
    assert.equal(activityMeaning(77).actor, "fingerprint");
    assert.equal(activityMeaning(51).events[0], "lock.unlatched");
    assert.equal(activityMeaning(229).actor, "remote");
    for (const code of [41, 42, 46, 83, 224, 9999]) assert.equal(activityMeaning(code), null, String(code));
  });

  it("reads cloud dates without a zone as UTC", () => {
    assert.equal(activityTime("2020-11-20T13:59:26.212"), Date.parse("2020-11-20T13:59:26.212Z"));
    assert.equal(activityTime("2020-11-20T13:59:26.212+01:00"), Date.parse("2020-11-20T12:59:26.212Z"));
    assert.deepEqual(activityActor({ id: 1, deviceId: 2, userId: 3, username: " Anna ", event: 61, date: "" }, "pin"), { type: "pin", id: "3", name: "Anna" });
    assert.deepEqual(activityActor({ id: 1, deviceId: 2, userId: null, userName: null, event: 34, date: "" }, "button"), { type: "button", id: null, name: null });
  });
});

describe("tedee/cloud url and callback header", () => {
  it("adds the API version unless the URL names one", () => {
    assert.equal(cloudBaseUrl(undefined), "https://api.tedee.com/api/v1.36");
    assert.equal(cloudBaseUrl("https://api.tedee.com/"), "https://api.tedee.com/api/v1.36");
    assert.equal(cloudBaseUrl("https://api.tedee.com/api/v1.32"), "https://api.tedee.com/api/v1.32");
    assert.equal(cloudBaseUrl("http://127.0.0.1:9000"), "http://127.0.0.1:9000/api/v1.36");
    assert.throws(() => cloudBaseUrl("not a url"), { code: "bad_request" });
  });

  it("derives a stable header value from token and route secret and checks it in constant time", () => {
    const value = callbackHeaderValue("BE9xnPnGfVUS", "Tq0dV2bK9xY3mN8pL5rS7wZ1");
    assert.equal(value, callbackHeaderValue("BE9xnPnGfVUS", "Tq0dV2bK9xY3mN8pL5rS7wZ1"));
    assert.notEqual(value, callbackHeaderValue("other", "Tq0dV2bK9xY3mN8pL5rS7wZ1"));
    assert.notEqual(value, callbackHeaderValue("BE9xnPnGfVUS", "Tq0dV2bK9xY3mN8pL5rS7wZ2"));
    assert.ok(!value.includes("BE9xnPnGfVUS"));
    const name = CALLBACK_HEADER.toLowerCase();
    assert.equal(hasCallbackHeader({ [name]: value }, CALLBACK_HEADER, value), true);
    assert.equal(hasCallbackHeader({ [name]: value.slice(1) }, CALLBACK_HEADER, value), false);
    assert.equal(hasCallbackHeader({ [name]: [value, value] }, CALLBACK_HEADER, value), false);
    assert.equal(hasCallbackHeader({}, CALLBACK_HEADER, value), false);
  });
});
