"use strict";
// UniFi Access protocol: signature vectors (research §7.4), fingerprints, CODE_* mapping, and every normalizer
// mapping with the research vectors (§7.1 WebSocket, §7.2 webhooks).
const assert = require("node:assert/strict");
const { computeSignature, parseSignatureHeader, verifySignature } = require("../../dist/nodes/unifi-access/signature.js");
const { normalizeFingerprint, formatFingerprint, isCertificateError, PinMismatchError } = require("../../dist/nodes/unifi-access/tls.js");
const { errorCodeFor } = require("../../dist/nodes/unifi-access/client.js");
const { DoorIndex } = require("../../dist/nodes/unifi-access/door-index.js");
const n = require("../../dist/nodes/unifi-access/normalize.js");
const { UnifiAccessConnection } = require("../../dist/nodes/unifi-access/connection.js");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema.js");

const SECRET = "6601f1243d2ff70f";
const BODY = '{"event":"access.device.dps_status","event_object_id":"229899f2-ba52-461a-a3af-e011fb5078d1","data":{"object":{"event_type":"dps_change","status":"close"}}}';
const V1 = "e4b49c370e3f4d5ddf8323d054fd6b1a310c836e429034ed2c3e068a6bf3690f";
const T = 1722912625;

describe("unifi-access signature (research §7.4 vectors)", () => {
  it("computes the worked example and the edge vectors", () => {
    assert.equal(Buffer.byteLength(BODY), 156);
    assert.equal(computeSignature(SECRET, T, BODY), V1);
    assert.equal(computeSignature(SECRET, T, BODY + "\n"), "5029718da32de7b6cfddc0bd3be7d65ed7219a365b753e06a19070116a080c8a");
    assert.equal(computeSignature(SECRET, T, JSON.stringify(JSON.parse(BODY), null, 2)), "356cef47828ea5bbf723d5a711dd5153fc63bdc74120ab671f6d4cbd949fa69c");
    assert.equal(computeSignature(SECRET, 1695902233, ""), "1591d55695020466254f03b0c2035cfb5486a04c500988e125ade277ab725d83");
    assert.equal(computeSignature(SECRET, 1695902233, "{}"), "c67184b53bb8326bf80666c1f0a4457e9b4a609ab6ec47014444d68719237e17");
  });

  it("verifies with 300 s tolerance, trims pairs, accepts any v1", () => {
    const body = Buffer.from(BODY);
    assert.equal(verifySignature(body, `t=${T},v1=${V1}`, SECRET, { nowS: T + 300 }), null);
    assert.equal(verifySignature(body, `t=${T},v1=${V1}`, SECRET, { nowS: T - 300 }), null);
    assert.equal(verifySignature(body, `t=${T},v1=${V1}`, SECRET, { nowS: T + 301 }), "stale");
    assert.equal(verifySignature(body, `t=${T}, v1=${V1}`, SECRET, { nowS: T }), null);
    assert.equal(verifySignature(body, `t=${T},v1=${"0".repeat(64)},v1=${V1}`, SECRET, { nowS: T }), null);
    assert.equal(verifySignature(Buffer.from(BODY + "\n"), `t=${T},v1=${V1}`, SECRET, { nowS: T }), "no_valid_signature");
    assert.equal(verifySignature(body, `t=${T},v1=0423f0dc4ccb4d9acc2637ea2266b809c93acdce9391a65f38488da362b12706`, SECRET, { nowS: T }), "no_valid_signature", "hex-decoded key is wrong");
    assert.equal(verifySignature(body, `t=${T},v1=${V1}`, "", { nowS: T }), "no_secret");
    assert.equal(verifySignature(body, undefined, SECRET), "not_signed");
  });

  it("parses headers like the official Go code", () => {
    assert.equal(parseSignatureHeader(""), "not_signed");
    assert.equal(parseSignatureHeader("t=abc,v1=00"), "invalid_header");
    assert.equal(parseSignatureHeader("t=1,v1"), "invalid_header");
    assert.equal(parseSignatureHeader("t=1,v1=zz"), "no_valid_signature");
    const parsed = parseSignatureHeader("t=1695902233,v1=a7ea8840af212767d7795481bed914a9f2ea7241d35212b597bec13aa4bfa06b");
    assert.equal(parsed.t, 1695902233);
    assert.equal(parsed.signatures.length, 1);
  });
});

describe("unifi-access TLS and error helpers", () => {
  it("normalizes SHA-256 fingerprints: colons optional, any case", () => {
    const hex = "38:82:bb:96:C3:E7:C1:2D:C0:56:DB:69:6E:01:53:F0:41:5C:7D:CA:1B:2C:C0:13:93:58:D4:F9:41:5B:C4:D8";
    assert.equal(normalizeFingerprint(hex), "3882BB96C3E7C12DC056DB696E0153F0415C7DCA1B2CC0139358D4F9415BC4D8");
    assert.equal(normalizeFingerprint(hex.replace(/:/g, "")), normalizeFingerprint(hex));
    assert.equal(normalizeFingerprint("0f:12:f5"), null, "SHA-1 / short values are refused");
    assert.equal(normalizeFingerprint(42), null);
    assert.equal(formatFingerprint("ABCD"), "AB:CD");
    assert.ok(isCertificateError(new PinMismatchError("A".repeat(64), "B".repeat(64))));
    assert.ok(isCertificateError(Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" })));
    assert.ok(!isCertificateError(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })));
  });

  it("maps CODE_* to the contract's codes", () => {
    assert.equal(errorCodeFor("CODE_PARAMS_INVALID"), "bad_request");
    assert.equal(errorCodeFor("CODE_RESOURCE_NOT_FOUND"), "not_found");
    assert.equal(errorCodeFor("CODE_DEVICE_DEVICE_OFFLINE"), "offline");
    assert.equal(errorCodeFor("CODE_DEVICE_DEVICE_BUSY"), "busy");
    assert.equal(errorCodeFor("CODE_ACCESS_TOKEN_INVALID"), "unauthorized");
    assert.equal(errorCodeFor("CODE_DEVICE_API_NOT_SUPPORTED"), "unsupported");
    assert.equal(errorCodeFor("CODE_OPERATION_FORBIDDEN"), "rejected");
    assert.equal(errorCodeFor("CODE_SOMETHING_NEW"), "rejected");
    assert.equal(errorCodeFor(undefined, 403), "unauthorized");
    assert.equal(errorCodeFor(undefined, 500), undefined);
  });
});

// Doors and devices as in the research vectors: door 236b behind hub e4388384236b and reader e4388386be1d.
const DOOR_236B = "5d600936-8618-4f2d-a1b7-d786865b70ba";
const HUB_MINI_DOOR = "ce884336-81c8-4f6a-8725-60c8ca76d91f";
const VASKEROM = "e7b86183-7004-4caf-9808-4112185f45ae";
const DOOR_3855 = "d2b87427-7efa-43c1-aa52-b00d40d99ecf";
function index() {
  const i = new DoorIndex();
  i.load(
    [
      { id: DOOR_236B, name: "Door 236b" },
      { id: HUB_MINI_DOOR, name: "Hub Mini" },
      { id: VASKEROM, name: "Vaskerom" },
      { id: DOOR_3855, name: "Door 3855" },
    ],
    [
      { id: "e4388384236b", location_id: DOOR_236B, capabilities: ["is_hub"] },
      { id: "e4388386be1d", connected_uah_id: "e4388384236b" },
      { id: "942a6f5ebe5b", location_id: VASKEROM },
      { id: "7483c2773855", location_id: DOOR_3855 },
      { id: "0418d6a2bb7a", location_id: DOOR_3855, connected_uah_id: "7483c2773855" },
    ],
  );
  return i;
}

const REMOTE_VIEW = { event: "access.remote_view", receiver_id: "", event_object_id: "535b6125-860c-489a-b0a1-0ba01906afa9", save_to_history: false, data: { channel: "4513899f-0370-4116-9731-63a6b0feea23", token: "6dff120f-2688-497d-856f-0ca08b383d1d", device_id: "e4388386be1d", device_type: "UA-G2-PRO", device_name: "UA-G2-PRO-BE1D", door_name: "Door 236b", controller_id: "68d79a1f494f", floor_name: "1F", request_id: "J0FeDJc8ZNzHjxr1SUIP6GLQDjAkdZFp", clear_request_id: "", in_or_out: "in", create_time: 1694771479, reason_code: 0, door_guard_ids: [], connected_uah_id: "e4388384236b", room_id: "WR-e4388386be1d-3YSCjtuV5VuyfLT46mUXnnY2q5KQfKxX", host_device_mac: "68D79A1F494B" } };
const REMOTE_VIEW_CHANGE = { event: "access.remote_view.change", receiver_id: "", event_object_id: "450a6c0f-28f7-47ca-99c3-5a35475fece4", save_to_history: false, data: { reason_code: 108, remote_call_request_id: "J0FeDJc8ZNzHjxr1SUIP6GLQDjAkdZFp" } };
const REMOTE_UNLOCK = { event: "access.data.device.remote_unlock", receiver_id: "", event_object_id: "e4388384236b", save_to_history: false, data: { unique_id: DOOR_236B, name: "Door 236b", up_id: "913a35bc-66c9-4293-a617-846dd2e285ed", timezone: "", location_type: "door", extra_type: "", full_name: "UDR-ML - 1F - Door 236b", level: 0, work_time: "[]", work_time_id: "", extras: { "uah-input_state_dps": "off", "uah-wiring_state_dps-neg": "off", "uah-wiring_state_dps-pos": "off" } } };
const LOCATION_UPDATE = JSON.parse('{"event":"access.data.v2.location.update","receiver_id":"","event_object_id":"9f485e3a-b4a2-46b1-bd14-5780539f0aee","save_to_history":false,"data":{"id":"ce884336-81c8-4f6a-8725-60c8ca76d91f","location_type":"door","name":"Hub Mini","up_id":"7dd4125f-4f38-4645-9739-7f279c1cdaf7","extras":null,"device_ids":["245a4c4ece14","1c0b8beec87e","672e0e8103aadb03e40003ff"],"state":{"lock":"locked","dps":"none","dps_connected":false,"emergency":{"software":"none","hardware":"none"},"is_unavailable":false},"thumbnail":{"type":"thumbnail","url":"/preview/camera_x.png","door_thumbnail_last_update":1756391020},"last_activity":1756394054},"meta":{"object_type":"location","target_field":null,"all_field":true,"id":"ce884336-81c8-4f6a-8725-60c8ca76d91f","source":""}}');
const LOGS_ADD = { event: "access.logs.add", data: { _id: "", "@timestamp": "", _source: { actor: { id: "c3d83c56-c41b-429c-babd-adf039fa0e67", type: "user", display_name: "Kari" }, event: { type: "access.door.unlock", display_message: "Access Granted (Remote)", result: "ACCESS", published: 1738013917000, log_key: "" }, authentication: { credential_provider: "REMOTE_THROUGH_UAH" }, target: [{ type: "UA-Hub-Door-Mini", id: "942a6f5ebe5b", display_name: "UA-Hub-Door-Mini be5b" }, { type: "device_config", id: "door_entry_method", display_name: "entry" }, { type: "door", id: VASKEROM, display_name: "Vaskerom" }, { type: "floor", id: "37c031e6", display_name: "1F" }] }, tag: "access" } };

const one = (outcomes) => {
  assert.equal(outcomes.length, 1);
  return outcomes[0];
};

describe("unifi-access WebSocket normalizer (research §7.1 vectors)", () => {
  it("access.remote_view -> doorbell.rang at the door of its reader (no door id in the message)", () => {
    const o = one(n.normalizeWs(REMOTE_VIEW, index()));
    assert.equal(o.kind, "happening");
    assert.equal(o.event, "doorbell.rang");
    assert.deepEqual(o.device, { id: DOOR_236B, name: "Door 236b", type: "door" });
    assert.equal(o.vendorId, "J0FeDJc8ZNzHjxr1SUIP6GLQDjAkdZFp");
    assert.equal(o.at, new Date(1694771479000).toISOString());
    const byName = new DoorIndex();
    byName.load([{ id: DOOR_236B, name: "Door 236b" }], []);
    assert.equal(one(n.normalizeWs(REMOTE_VIEW, byName)).device.id, DOOR_236B, "falls back to the door name");
  });

  it("access.remote_view.change -> unifi-access.doorbell.ended with the reason, at the call's door", () => {
    const i = index();
    i.rememberCall("J0FeDJc8ZNzHjxr1SUIP6GLQDjAkdZFp", DOOR_236B);
    const o = one(n.normalizeWs(REMOTE_VIEW_CHANGE, i));
    assert.equal(o.event, "unifi-access.doorbell.ended");
    assert.equal(o.device.id, DOOR_236B);
    assert.deepEqual([o.detail.reason, o.detail.reasonCode], ["cancelled", 108]);
    for (const [code, reason] of [[105, "timed_out"], [106, "declined"], [107, "unlocked"], [400, "answered_elsewhere"], [999, "unknown"]]) {
      assert.equal(one(n.normalizeWs({ event: "access.remote_view.change", data: { reason_code: code, remote_call_request_id: "x" } }, i)).detail.reason, reason);
    }
  });

  it("access.data.device.remote_unlock -> lock unlocked for the door (unique_id)", () => {
    const o = one(n.normalizeWs(REMOTE_UNLOCK, index()));
    assert.equal(o.kind, "report");
    assert.deepEqual([o.report.device.id, o.report.lock], [DOOR_236B, "unlocked"]);
  });

  it("access.data.v2.location.update -> lock and door position (dps none = no sensor)", () => {
    const o = one(n.normalizeWs(LOCATION_UPDATE, index()));
    assert.deepEqual([o.report.device.id, o.report.lock, o.report.door], [HUB_MINI_DOOR, "locked", null]);
    const open = one(n.normalizeWs({ event: "access.data.v2.location.update", data: { id: DOOR_236B, location_type: "door", state: { lock: "unlocked", dps: "open" } } }, index()));
    assert.deepEqual([open.report.lock, open.report.door], ["unlocked", "open"]);
    const weird = one(n.normalizeWs({ event: "access.data.v2.location.update", data: { id: DOOR_236B, state: { lock: "exploded", dps: "ajar" } } }, index()));
    assert.deepEqual([weird.report.lock, weird.report.door], ["unknown", "unknown"]);
    assert.equal(one(n.normalizeWs({ event: "access.data.v2.location.update", data: { id: DOOR_236B, thumbnail: {} } }, index())).kind, "ignored");
    assert.equal(one(n.normalizeWs({ event: "access.data.v2.location.update", data: { state: {} } }, index())).kind, "invalid");
  });

  it("access.data.device.update configs: DPS on = closed, relay off = locked", () => {
    const msg = (configs) => ({ event: "access.data.device.update", data: { unique_id: "942a6f5ebe5b", device_type: "UA-Hub-Door-Mini", location_id: VASKEROM, configs } });
    const closed = one(n.normalizeWs(msg([{ key: "input_d1_dps", value: "on" }, { key: "output_d1_lock_relay", value: "off" }]), index()));
    assert.deepEqual([closed.report.device.id, closed.report.door, closed.report.lock], [VASKEROM, "closed", "locked"]);
    const open = one(n.normalizeWs(msg([{ key: "input_state_dps", value: "off" }]), index()));
    assert.deepEqual([open.report.door, open.report.lock], ["open", undefined]);
    assert.equal(one(n.normalizeWs(msg([{ key: "something_else", value: "on" }]), index())).kind, "ignored");
  });

  it("access.hw.door_bell -> doorbell.rang", () => {
    const o = one(n.normalizeWs({ event: "access.hw.door_bell", data: { door_id: DOOR_3855, door_name: "Door 3855", request_id: "r1", device_id: "7483c2773855" } }, index()));
    assert.deepEqual([o.event, o.device.id, o.vendorId, o.detail.source], ["doorbell.rang", DOOR_3855, "r1", "hw_doorbell"]);
  });

  it("access.logs.add -> access.granted with actor, method and direction", () => {
    const o = one(n.normalizeWs(LOGS_ADD, index()));
    assert.equal(o.event, "access.granted");
    assert.equal(o.device.id, VASKEROM);
    assert.deepEqual(o.actor, { type: "remote", id: "c3d83c56-c41b-429c-babd-adf039fa0e67", name: "Kari" });
    assert.equal(o.at, new Date(1738013917000).toISOString());
    assert.equal(o.detail.direction, "entry");
    // The Access 3.4.31 bug: the door id is the hub id.
    const buggy = structuredClone(LOGS_ADD);
    buggy.data._source.target[2].id = "942a6f5ebe5b";
    assert.equal(one(n.normalizeWs(buggy, index())).device.id, VASKEROM);
    const denied = structuredClone(LOGS_ADD);
    Object.assign(denied.data._source.event, { result: "BLOCKED" });
    denied.data._source.actor.display_name = "N/A";
    denied.data._source.authentication.credential_provider = "NFC";
    const d = one(n.normalizeWs(denied, index()));
    assert.deepEqual([d.event, d.actor.type, d.actor.name], ["access.denied", "nfc", null]);
  });

  it("access.logs.insights.add -> access.granted (metadata entries as object or array)", () => {
    const data = { id: "ins-1", event_type: "access.door.unlock", result: "ACCESS", published: 1738013917040, message: "Access Granted (Face)", metadata: { actor: { id: "u1", type: "user", display_name: "Kari" }, authentication: { display_name: "FACE" }, door: [{ id: VASKEROM, display_name: "Vaskerom" }], opened_direction: [{ display_name: "exit" }] } };
    const o = one(n.normalizeWs({ event: "access.logs.insights.add", data }, index()));
    assert.deepEqual([o.event, o.device.id, o.actor.type, o.actor.name, o.detail.direction], ["access.granted", VASKEROM, "face", "Kari", "exit"]);
    data.metadata.door = { id: VASKEROM };
    assert.equal(one(n.normalizeWs({ event: "access.logs.insights.add", data }, index())).device.id, VASKEROM);
  });

  it("access.data.setting.update -> controller emergency flags", () => {
    const o = one(n.normalizeWs({ event: "access.data.setting.update", data: { evacuation: false, lockdown: true } }, index()));
    assert.deepEqual(o.report.flags, { "emergency.lockdown": true, "emergency.evacuation": false });
    assert.equal(o.report.device.id, "controller");
  });

  it("unknown events become unknown outcomes with a valid event name; heartbeats are recognised", () => {
    const o = one(n.normalizeWs({ event: "access.some.NEW-thing!", data: null }, index()));
    assert.equal(o.kind, "unknown");
    assert.equal(n.unknownEventName("access.some.NEW-thing!"), "unifi-access.access.some.new-thing_");
    assert.equal(n.parseFrame('"Hello"').kind, "heartbeat");
    assert.equal(n.parseFrame('"Hello"\n').kind, "heartbeat");
    assert.equal(n.parseFrame("Hello").kind, "heartbeat");
    assert.equal(n.parseFrame("{broken").kind, "garbage");
  });

  it("maps actor types", () => {
    const cases = { NFC: "nfc", PIN_CODE: "pin", FACE: "face", MOBILE_TAP: "mobile", MOBILE_BUTTON: "mobile", TOUCH_PASS: "mobile", REMOTE_THROUGH_UAH: "remote", CALL: "remote", REX: "button", LICENSEPLATE: "unknown" };
    for (const [method, type] of Object.entries(cases)) assert.equal(n.actorTypeFor(method), type, method);
    assert.equal(n.actorTypeFor("", "open-api"), "remote");
    assert.equal(n.actorTypeFor(undefined, "user"), "user");
  });
});

const LOCATION = { id: DOOR_3855, location_type: "door", name: "Door 3855", up_id: "62ff3aa1", extras: { "uah-input_state_dps": "on" }, device_ids: null };
const HUB = { name: "UA-HUB-3855", alias: "Door 3855", id: "7483c2773855", device_type: "UAH", connected_hub_id: "", location_id: DOOR_3855 };
const READER = { name: "UA G2 Pro bb7a", id: "0418d6a2bb7a", device_type: "UA-G2-PRO", connected_hub_id: "7483c2773855", location_id: DOOR_3855 };

describe("unifi-access webhook normalizer (research §7.2 vectors)", () => {
  it("access.door.unlock -> unlock actor with the authentication type", () => {
    const o = one(n.normalizeWebhook({ event: "access.door.unlock", event_object_id: "4a98adf6-dbb8-4312-9b8b-593f6eba8c8e", data: { location: LOCATION, device: HUB, actor: { id: "d62e92fd-91aa-44c2-9b36-6d674a4b74d0", name: "Hon***", type: "user" }, object: { authentication_type: "CALL", authentication_value: "", policy_id: "", policy_name: "", reader_id: "", result: "Access Granted" } } }, index()));
    assert.equal(o.kind, "unlock-actor");
    assert.equal(o.granted, true);
    assert.deepEqual(o.actor, { type: "remote", id: "d62e92fd-91aa-44c2-9b36-6d674a4b74d0", name: "Hon***" });
    assert.equal(o.device.id, DOOR_3855);
    const nfc = one(n.normalizeWebhook({ event: "access.door.unlock", data: { location: LOCATION, actor: { id: "u", name: "A", type: "user" }, object: { authentication_type: "NFC", result: "Access Denied" } } }, index()));
    assert.deepEqual([nfc.actor.type, nfc.granted], ["nfc", false]);
  });

  it("access.device.dps_status -> door position", () => {
    const o = one(n.normalizeWebhook({ event: "access.device.dps_status", data: { location: LOCATION, device: HUB, actor: null, object: { event_type: "dps_change", status: "close" } } }, index()));
    assert.deepEqual([o.report.device.id, o.report.door], [DOOR_3855, "closed"]);
  });

  it("doorbell incoming / completed / REN", () => {
    const ring = one(n.normalizeWebhook({ event: "access.doorbell.incoming", data: { location: LOCATION, device: READER, actor: null, object: { request_id: "Ed8XSsi4fLm6St7JOLLa26UcmzAZlGzn" } } }, index()));
    assert.deepEqual([ring.event, ring.device.id, ring.onceKey], ["doorbell.rang", DOOR_3855, "ring:Ed8XSsi4fLm6St7JOLLa26UcmzAZlGzn"]);
    const done = one(n.normalizeWebhook({ event: "access.doorbell.completed", data: { location: LOCATION, device: READER, actor: null, object: { host_device_mac: "", reason_code: 400, request_id: "Ed8XSsi4fLm6St7JOLLa26UcmzAZlGzn" } } }, index()));
    assert.deepEqual([done.event, done.device.id, done.detail.reason], ["unifi-access.doorbell.ended", DOOR_3855, "answered_elsewhere"]);
    const ren = one(n.normalizeWebhook({ event: "access.doorbell.incoming.REN", data: { location: { ...LOCATION, extras: { "uah-input_state_dps": "off" } }, device: null, actor: null, object: { host_device_mac: "74ACB95E28D5", reason_code: 0, request_id: "65d22fd2-29d7-43a8-b0f5-30a6722fcf1e" } } }, index()));
    assert.deepEqual([ren.event, ren.device.id, ren.detail.source], ["doorbell.rang", DOOR_3855, "ren"]);
  });

  it("access.device.emergency_status -> controller flag", () => {
    const o = one(n.normalizeWebhook({ event: "access.device.emergency_status", data: { device: { name: "UA Hub Gate", id: "f4e2c61fd2cf", device_type: "UGT" }, object: { glocal: false, mode: "lockdown", value: true } } }, index()));
    assert.deepEqual(o.report.flags, { "emergency.lockdown": true });
    assert.equal(one(n.normalizeWebhook({ event: "access.device.emergency_status", data: { object: { mode: "party", value: true } } }, index())).kind, "invalid");
  });

  it("schedules, temporary unlock and visitor status; unknown webhook events", () => {
    const names = {
      "access.unlock_schedule.activate": "unifi-access.unlock_schedule.activated",
      "access.unlock_schedule.deactivate": "unifi-access.unlock_schedule.deactivated",
      "access.temporary_unlock.start": "unifi-access.temporary_unlock.started",
      "access.temporary_unlock.end": "unifi-access.temporary_unlock.ended",
      "access.visitor.status.changed": "unifi-access.visitor.status_changed",
    };
    for (const [event, name] of Object.entries(names)) {
      const o = one(n.normalizeWebhook({ event, data: { location: LOCATION, object: {} } }, index()));
      assert.deepEqual([o.event, o.device.id], [name, DOOR_3855], event);
    }
    assert.equal(one(n.normalizeWebhook({ event: "access.visitor.status.changed", data: { actor: { name: "Bob", type: "visitor" }, object: { status: 3 } } }, index())).device.id, "controller");
    assert.equal(one(n.normalizeWebhook({ event: "access.future.thing", data: {} }, index())).kind, "unknown");
  });
});

describe("unifi-access connection merging (deterministic order)", () => {
  function connection() {
    const c = new UnifiAccessConnection({ host: "127.0.0.1", port: 1, token: "t", tls: "insecure", fingerprint: null, webhooks: true, webhookUrl: async () => null, ownsWebhook: () => false, unknownEvents: false, actorName: "Node-RED", warn: () => undefined });
    c.index.load([{ id: DOOR_3855, name: "Door 3855" }], [HUB, READER]);
    c["webhook"] = { id: "w", secret: SECRET, url: "http://x" };
    const out = [];
    c.on("event", (e) => out.push(e));
    return { c, out };
  }
  const signed = (body) => {
    const t = Math.floor(Date.now() / 1000);
    return { signature: `t=${t},v1=${computeSignature(SECRET, t, body)}` };
  };
  const tick = () => new Promise((r) => setImmediate(r));

  it("a webhook after the WebSocket unlock is a follow-up with the same id and the actor", async () => {
    const { c, out } = connection();
    c["onFrame"](JSON.stringify({ event: "access.data.v2.location.update", data: { id: DOOR_3855, location_type: "door", state: { lock: "locked", dps: "close" } } }));
    c["onFrame"](JSON.stringify({ event: "access.data.v2.location.update", data: { id: DOOR_3855, location_type: "door", state: { lock: "unlocked", dps: "close" } } }));
    const body = JSON.stringify({ event: "access.door.unlock", event_object_id: "e1", data: { location: LOCATION, device: HUB, actor: { id: "u9", name: "Kari", type: "user" }, object: { authentication_type: "FACE", result: "Access Granted" } } });
    assert.equal(c.handleWebhook(Buffer.from(body), signed(body)).status, 200);
    await tick();
    const unlocked = out.filter((e) => e.event === "lock.unlocked");
    assert.equal(unlocked.length, 2);
    assert.equal(unlocked[1].update, true);
    assert.equal(unlocked[1].id, unlocked[0].id);
    assert.deepEqual(unlocked[1].actor, { type: "face", id: "u9", name: "Kari" });
    for (const e of out) doorEventSchema.parse(e);
    // Re-delivered webhook: nothing new.
    c.handleWebhook(Buffer.from(body), signed(body));
    await tick();
    assert.equal(out.filter((e) => e.event === "lock.unlocked").length, 2);
    await c.close();
  });

  it("logs.add + logs.insights.add of one happening are reported once", async () => {
    const { c, out } = connection();
    const logs = structuredClone(LOGS_ADD);
    logs.data._source.target = [{ type: "door", id: DOOR_3855, display_name: "Door 3855" }];
    logs.data._id = "log-1";
    c["onFrame"](JSON.stringify(logs));
    c["onFrame"](JSON.stringify({ event: "access.logs.insights.add", data: { id: "ins-1", event_type: "access.door.unlock", result: "ACCESS", published: 1738013917100, metadata: { door: { id: DOOR_3855 }, actor: { id: "u1", display_name: "Kari" }, authentication: { display_name: "REMOTE_THROUGH_UAH" } } } }));
    assert.equal(out.filter((e) => e.event === "access.granted").length, 1);
    await c.close();
  });
});
