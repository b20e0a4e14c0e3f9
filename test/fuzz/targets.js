"use strict";
// The vendor table of the route fuzzing: one entry per inbound route (see the top of fuzz-helpers.js for the
// fields and for how to add Tedee, LOQED and UniFi Access). Each entry's spec calls describeRouteFuzz(entry).
const path = require("node:path");
const fc = require("fast-check");
const { tagBody } = require("./fuzz-helpers");


// ---- Nuki Bridge (http callbacks, unsigned: the route secret is the only credential) --------------------

/** Device ids of the simulator's own devices (3E63C84D, 1A2B3C4D) and its bridge: never used by fuzz bodies. */
const NUKI_SIMULATOR_IDS = new Set([1046726733, 439041101, 123456789]);
/** A small pool, so generated bodies keep hitting the same devices and their states really change. */
const NUKI_FUZZ_IDS = [1, 2, 0, 0xffffffff, 0x0abcdef0, 0x7fffffff, 305419896, 987654322];

/** An integer as the bridge sends it, sometimes as a decimal string (accepted by the schema). */
const nukiInt = (arb, stringWeight = 1) =>
  fc.tuple(arb, fc.integer({ min: 0, max: 9 })).map(([n, r]) => (r < stringWeight ? String(n) : n));
const nukiBool = () => fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom(0, 1) });

/** Bridge time format, e.g. 2024-10-24T18:05:12+00:00, at `offsetMs` from the moment the body is generated. */
const bridgeTime = (offsetMs) => new Date(Date.now() + offsetMs).toISOString().slice(0, 19) + "+00:00";

/**
 * Callback bodies as a bridge sends them (research/nuki.md 1.4): Smart Locks (types 0, 3, 4, 5) and the Opener
 * (type 2), known and unknown enum values, optional fields present or not, strings for numbers, extra fields.
 * (Levels outside 0–100 are covered by their own property in nuki.fuzz.spec.js: they become null.)
 */
const nukiValidBody = fc.record(
  {
    nukiId: nukiInt(
      fc.oneof(
        { weight: 9, arbitrary: fc.constantFrom(...NUKI_FUZZ_IDS) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }).filter((n) => !NUKI_SIMULATOR_IDS.has(n)) },
      ),
    ),
    deviceType: nukiInt(fc.constantFrom(0, 2, 2, 3, 4, 4, 5, 99)),
    mode: nukiInt(fc.constantFrom(2, 3, 0, 4, 99)),
    state: nukiInt(
      fc.oneof(
        { weight: 10, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 254, 255, 1, 3, 1, 3, 5) },
        { weight: 1, arbitrary: fc.constantFrom(253, 8, 99, -1, 1000, 2 ** 31) },
      ),
    ),
    stateName: fc.oneof(fc.constantFrom("locked", "unlocked", "motor blocked", "rto active", ""), fc.string({ maxLength: 100 }), fc.string({ unit: "binary", maxLength: 30 })),
    batteryCritical: nukiBool(),
    batteryCharging: nukiBool(),
    batteryChargeState: nukiInt(fc.oneof(fc.constantFrom(0, 1, 20, 50, 100), fc.integer({ min: 0, max: 100 }))),
    keypadBatteryCritical: nukiBool(),
    doorsensorState: nukiInt(fc.constantFrom(1, 2, 3, 2, 3, 4, 5, 16, 240, 255, 99)),
    doorsensorStateName: fc.string({ maxLength: 100 }),
    // rings: just now, long ago, in the future (never near the tracker's 60 s freshness window), or junk
    ringactionTimestamp: fc.oneof(
      fc.integer({ min: -5000, max: 0 }).map(bridgeTime),
      fc.integer({ min: 1, max: 10 ** 6 }).map((s) => bridgeTime(-86_400_000 - s * 1000)),
      fc.constant("2024-10-24T18:05:12+00:00"),
      fc.constant(null),
      fc.string({ maxLength: 64 }),
    ),
    ringactionState: nukiBool(),
    timestamp: fc.oneof(fc.integer({ min: -1e9, max: 1e9 }).map(bridgeTime), fc.string({ maxLength: 64 })),
    extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  },
  { requiredKeys: ["nukiId", "deviceType", "state"] },
).map(({ extra, ...body }) => ({ ...(extra ?? {}), ...body }));

/** The route refuses (400) bodies nested deeper than this (core/json-depth.ts): cloning them could overflow the stack. */
const { MAX_JSON_DEPTH: MAX_SAFE_DEPTH, jsonTooDeep } = require("../../dist/nodes/core/json-depth");

/** The Nuki bridge route's oracle: the schema the route uses, and a mirror tracker fed the accepted bodies. */
function nukiModel() {
  const { callbackBodySchema } = require("../../dist/nodes/nuki/schemas").bridgeSchemas();
  const { bridgeReport } = require("../../dist/nodes/nuki/normalize");
  const { nukiIdToHex } = require("../../dist/nodes/nuki/ids");
  const { StateTracker } = require("../../dist/nodes/core/state-tracker");
  const mirror = new StateTracker("nuki");
  const parsedOf = new WeakMap();
  // what the route does: UTF-8 text of the raw bytes, JSON.parse, callbackBodySchema (memoized per body)
  const parse = (bytes) => {
    if (parsedOf.has(bytes)) return parsedOf.get(bytes);
    let result = null;
    if (jsonTooDeep(bytes)) {
      parsedOf.set(bytes, result);
      return result;
    }
    try {
      const json = JSON.parse(bytes.toString("utf8"));
      const parsed = callbackBodySchema.safeParse(json);
      if (parsed.success) result = { json, body: parsed.data };
    } catch {
      // malformed JSON
    }
    parsedOf.set(bytes, result);
    return result;
  };
  return {
    accept(bytes) {
      const parsed = parse(bytes);
      return parsed ? { ok: true, key: nukiIdToHex(parsed.body.nukiId) } : { ok: false };
    },
    predict(bytes, receivedAt) {
      const { json, body } = parse(bytes);
      const report = bridgeReport({ nukiId: body.nukiId, deviceType: body.deviceType, name: null }, body);
      return mirror.update(report, { channel: "bridge", raw: json, receivedAt }).map((event) => event.event);
    },
    /** The config node's tracker ends in the mirror's state for every fuzzed device. */
    compare(configNode) {
      const assert = require("node:assert/strict");
      for (const expected of mirror.devices()) {
        const actual = configNode.bridge.tracker.get(expected.device.id);
        assert.ok(actual, `device ${expected.device.id} unknown to the config node`);
        const pick = (s) => ({ device: s.device, lock: s.lock, door: s.door, battery: s.battery, online: s.online, flags: s.flags, doorbell: s.doorbell });
        assert.deepEqual(pick(actual), pick(expected), `end state of ${expected.device.id}`);
      }
    },
  };
}

const nuki = {
  vendor: "nuki",
  channel: "bridge",
  nodes: () => require("../../dist/nodes/nuki.js"),
  listenerType: "nuki-events",
  async simulator() {
    const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");
    const sim = new NukiBridgeSimulator({ busyMs: 1, actionMs: 20 });
    const { port } = await sim.start();
    sim.port = port;
    return sim;
  },
  config: ({ simPort, callbackBase }) => ({
    node: { type: "nuki-config", host: "127.0.0.1", port: simPort, auth: "encrypted", callbackUrl: callbackBase },
    credentials: { token: "123456" },
  }),
  // started: callback registered and the device.state snapshot of both simulator devices sent
  ready: ({ sim, messages }) => sim.callbacks.length === 1 && messages.filter((m) => m.payload.event === "device.state").length >= 2,
  headers: null, // the bridge cannot sign its callbacks
  model: nukiModel,
  valid: nukiValidBody,
  corpusDir: path.join(__dirname, "corpus", "nuki"),
};

// ---- shared bits of the vendors below ---------------------------------------------------------------------

/** A JSON.parse that never throws (null for malformed) and the route's depth limit: what every vendor does first. */
function parseBody(bytes) {
  if (jsonTooDeep(bytes)) return { ok: false };
  try {
    return { ok: true, json: JSON.parse(bytes.toString("utf8")) };
  } catch {
    return { ok: false };
  }
}

/** Memoizes per Buffer (the suite asks accept() and predict() about the same body). */
function memo(fn) {
  const cache = new WeakMap();
  return (bytes) => {
    if (!cache.has(bytes)) cache.set(bytes, fn(bytes));
    return cache.get(bytes);
  };
}

/** Runs `work` with setImmediate calling back at once, so a mirror connection's deferred work is done on return. */
function synchronously(work) {
  const original = global.setImmediate;
  global.setImmediate = (fn, ...args) => {
    fn(...args);
    return { ref() {}, unref() {}, hasRef: () => false };
  };
  try {
    return work();
  } finally {
    global.setImmediate = original;
  }
}

/**
 * Starts a mirror's tracker from the config node's: device states and the ring of recently emitted event ids
 * (happenings are de-duplicated by id against that bounded ring, so the mirror must evict in step).
 */
function copyTracker(from, to) {
  if (!from) return;
  to.states = new Map([...from.states].map(([id, state]) => [id, structuredClone(state)]));
  to.recentIds = [...from.recentIds];
  to.recentIdSet = new Set(from.recentIdSet);
  to.recentNext = from.recentNext;
}

/** An integer, sometimes as a decimal string (both vendors' schemas accept that). */
const intOrString = (arb, stringWeight = 1) => fc.tuple(arb, fc.integer({ min: 0, max: 9 })).map(([n, r]) => (r < stringWeight ? String(n) : n));
/** ISO time like the devices send (also with an offset or odd precision), junk, or nothing. */
const isoTime = () =>
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: -1e9, max: 1e9 }).map((dt) => new Date(Date.now() + dt).toISOString()) },
    { weight: 1, arbitrary: fc.constantFrom("2023-07-25T14:41:48.825Z", "2024-12-13T07:36:36.9049417+00:00", "2022-11-09T14:15:30.244Z") },
    { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
  );
const extraFields = () => fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== "__proto__"), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 });

// ---- Tedee Bridge (http callbacks, unsigned: route secret + the X-Smartlocks-Key header) --------------------

const TEDEE_TOKEN = "fuzz-tedee-token-0123";
/** The simulator's locks (33819, 10): never used by fuzz bodies, so its re-reads never meet a fuzzed device. */
const TEDEE_SIMULATOR_IDS = new Set([33819, 10]);
/** Devices of the state callbacks; settings callbacks use their own pool (see tedeeModel). */
const TEDEE_FUZZ_IDS = [1, 2, 3, 0, 2 ** 53 - 1, 123456];
const TEDEE_SETTINGS_IDS = [7001, 7002];
const TEDEE_EVENTS = [
  "lock-status-changed",
  "lock-status-changed",
  "lock-status-changed",
  "device-connection-changed",
  "device-battery-level-changed",
  "device-battery-start-charging",
  "device-battery-stop-charging",
  "device-battery-fully-charged",
  "backend-connection-changed",
  "device-settings-changed",
];

const tedeeFlag = () => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0, 1) }, { weight: 1, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom("0", "1", "true", "false") });

/**
 * Bridge callbacks as research/loqed-tedee.md 2.2 and 6.5 show them: `{event, timestamp, data}`, every documented
 * event with its data, states 0-9, 18 and undocumented ones (255), battery 0-100 and 255, unknown event names
 * (passed through as tedee.<name>), numbers as strings, extra fields.
 */
const tedeeValidBody = fc
  .record(
    {
      event: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...TEDEE_EVENTS) }, { weight: 1, arbitrary: fc.constantFrom("bell-button-pressed", "device-firmware-updated", "x") }),
      timestamp: isoTime(),
      deviceId: intOrString(fc.constantFrom(...TEDEE_FUZZ_IDS)),
      settingsId: intOrString(fc.constantFrom(...TEDEE_SETTINGS_IDS)),
      deviceType: intOrString(fc.constantFrom(2, 4, 99)),
      serialNumber: fc.constantFrom("19420103-000006", "22510401-000050", ""),
      state: intOrString(fc.oneof({ weight: 10, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 18, 2, 6, 6, 2) }, { weight: 1, arbitrary: fc.constantFrom(255, -1, 10, 2 ** 31) })),
      jammed: tedeeFlag(),
      doorState: intOrString(fc.constantFrom(0, 1, 2, 3, 4, 2, 3, 99)),
      batteryLevel: intOrString(fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 100 }) }, { weight: 1, arbitrary: fc.constantFrom(255, -1, 101) })),
      isConnected: tedeeFlag(),
      extra: extraFields(),
      dataExtra: extraFields(),
      omit: fc.subarray(["timestamp", "deviceType", "serialNumber", "jammed", "doorState"]),
    },
    { requiredKeys: ["event", "timestamp", "deviceId", "settingsId", "deviceType", "serialNumber", "state", "jammed", "doorState", "batteryLevel", "isConnected", "omit"] },
  )
  .map((r) => {
    const device = { deviceType: r.deviceType, deviceId: r.event === "device-settings-changed" ? r.settingsId : r.deviceId, serialNumber: r.serialNumber };
    const byEvent = {
      "backend-connection-changed": { isConnected: r.isConnected },
      "device-connection-changed": { ...device, isConnected: r.isConnected },
      "lock-status-changed": { ...device, state: r.state, jammed: r.jammed, doorState: r.doorState },
      "device-battery-level-changed": { ...device, batteryLevel: r.batteryLevel },
    };
    const data = { ...(r.dataExtra ?? {}), ...(byEvent[r.event] ?? device) };
    for (const key of r.omit) delete data[key];
    const body = { ...(r.extra ?? {}), event: r.event, timestamp: r.timestamp, data };
    if (r.omit.includes("timestamp")) delete body.timestamp;
    return body;
  });

/**
 * The Tedee route's oracle: the envelope and per-event data schemas as TedeeConnection.handleCallback applies
 * them (dist/nodes/tedee/schemas), and a mirror TedeeConnection (no bridge, no cloud) whose handleCallback is fed
 * the accepted bodies with its deferred work run at once. Settings callbacks re-read the lock at the bridge
 * asynchronously before they report; their devices (TEDEE_SETTINGS_IDS) see no other callback, so the mirror can
 * predict their tedee.settings.changed from its tracker at once.
 */
function tedeeModel({ config } = {}) {
  const { isBridgeEventName, tedeeSchemas } = require("../../dist/nodes/tedee/schemas");
  const { callbackEnvelopeSchema, eventDataSchemas } = tedeeSchemas();
  const { TedeeConnection } = require("../../dist/nodes/tedee/connection");
  const { callbackHeaderValue, CALLBACK_HEADER } = require("../../dist/nodes/tedee/callback-auth");
  const { deviceIdOf } = require("../../dist/nodes/tedee/normalize");
  const header = { name: CALLBACK_HEADER, value: callbackHeaderValue(TEDEE_TOKEN, "mirror") };
  const mirror = new TedeeConnection({ bridge: null, cloud: null, callbackUrl: async () => null, ownsCallback: () => false, callbackHeader: header, warn: () => undefined });
  copyTracker(config && config.connection && config.connection.tracker, mirror.tracker);
  // The tracker de-duplicates happenings (battery full, settings changed, ...) by id against a ring of the last 1000
  // ids, shared by all devices. The real connection and the mirror see the bodies of different devices in slightly
  // different orders (concurrent requests; the settings change is reported after a re-read), so a happening that
  // repeats one whose id is near the ring's edge may be dropped by one and sent by the other: such a body is not
  // predicted.
  const RECENT_IDS = 1000; // core/state-tracker.ts
  let remembered = 0;
  let nearEdge = false;
  const enteredAt = new Map();
  const remember = mirror.tracker.remember.bind(mirror.tracker);
  mirror.tracker.remember = (id) => {
    const last = enteredAt.get(id);
    if (last !== undefined && Math.abs(remembered - last - RECENT_IDS) < 100) nearEdge = true;
    const fresh = remember(id);
    if (fresh) enteredAt.set(id, ++remembered);
    return fresh;
  };
  const emitted = [];
  mirror.on("event", (event) => emitted.push(event));
  const parse = memo((bytes) => {
    const body = parseBody(bytes);
    if (!body.ok) return null;
    const envelope = callbackEnvelopeSchema.safeParse(body.json);
    if (!envelope.success) return null;
    const { event } = envelope.data;
    const data = envelope.data.data ?? {};
    if (isBridgeEventName(event)) {
      const parsed = eventDataSchemas[event].safeParse(data);
      if (!parsed.success) return null;
      return { json: body.json, event, timestamp: envelope.data.timestamp, deviceId: event === "backend-connection-changed" ? null : parsed.data.deviceId };
    }
    return { json: body.json, event, timestamp: envelope.data.timestamp, deviceId: null };
  });
  return {
    accept(bytes) {
      const parsed = parse(bytes);
      // one key per device; bridge-level callbacks all on the bridge
      return parsed ? { ok: true, key: parsed.deviceId === null ? "bridge" : `lock:${parsed.deviceId}` } : { ok: false };
    },
    predict(bytes, receivedAt) {
      const parsed = parse(bytes);
      emitted.length = 0;
      nearEdge = false;
      const answer = synchronously(() => mirror.handleCallback(bytes, { [CALLBACK_HEADER.toLowerCase()]: header.value }, receivedAt));
      if (answer.status !== 204) throw new Error(`the mirror answered ${answer.status} to a body the schema accepts`);
      const names = emitted.map((event) => event.event);
      if (parsed.event === "device-settings-changed") {
        const at = parsed.timestamp && Number.isFinite(Date.parse(parsed.timestamp)) ? new Date(Date.parse(parsed.timestamp)).toISOString() : null;
        const id = deviceIdOf(parsed.deviceId);
        const vendorId = `device-settings-changed:${id}:${at}`;
        const changed = mirror.tracker.happening({ id, name: null, type: "lock" }, { event: "tedee.settings.changed", at, vendorId }, { channel: "bridge", raw: parsed.json, receivedAt });
        if (changed) names.push(changed.event);
      }
      return nearEdge ? null : names;
    },
  };
}

const tedeeTamper = [
  () => ({}),
  (value) => ({ "X-Smartlocks-Key": value.slice(0, -1) + (value.endsWith("A") ? "B" : "A") }),
  () => ({ "X-Smartlocks-Key": "" }),
  (value) => ({ "X-Smartlocks-Key": value.slice(1) }),
  (value, secret) => ({ "X-Smartlocks-Key": require("../../dist/nodes/tedee/callback-auth").callbackHeaderValue("other-token", secret) }),
  (value) => ({ "X-Smartlocks-Key-2": value }),
];

const tedee = {
  vendor: "tedee",
  channel: "bridge",
  nodes: () => require("../../dist/nodes/tedee.js"),
  listenerType: "tedee-events",
  // The bridge client spaces its requests 1 s apart by default; each settings callback re-reads its lock, so 10 000
  // bodies would queue minutes of re-reads (see tedeeModel). The simulator needs no spacing.
  settings: { tedeeConfigTiming: { spacingMs: 0 } },
  async simulator() {
    const { TedeeBridgeSimulator } = require("../simulators/tedee-bridge");
    const sim = new TedeeBridgeSimulator({ token: TEDEE_TOKEN, busyMs: 1, actionMs: 20 });
    await sim.start();
    sim.port = Number(sim.url.split(":").pop());
    return sim;
  },
  config: ({ simPort, callbackBase }) => ({
    node: { type: "tedee-config", host: "127.0.0.1", port: simPort, auth: "encrypted", callbackUrl: callbackBase },
    credentials: { token: TEDEE_TOKEN },
  }),
  // started: callback registered and both simulator locks snapshotted
  ready: ({ sim, messages }) => sim.callbacks.length === 1 && messages.filter((m) => m.payload.event === "device.state").length >= 2,
  /** The header the config node registers at the bridge (callback-auth.ts); tampered: missing, wrong, another token's. */
  headers: (bytes, { secret, tamper, index = 0 }) => {
    const { callbackHeaderValue, CALLBACK_HEADER } = require("../../dist/nodes/tedee/callback-auth");
    const value = callbackHeaderValue(TEDEE_TOKEN, secret);
    return tamper ? tedeeTamper[index % tedeeTamper.length](value, secret) : { [CALLBACK_HEADER]: value };
  },
  model: tedeeModel,
  valid: tedeeValidBody,
  corpusDir: path.join(__dirname, "corpus", "tedee"),
};

// ---- LOQED bridge (signed webhooks: TIMESTAMP + HASH) and cloud (unsigned) ----------------------------------

const LOQED_BRIDGE_KEY = "Ym9uam91ciBtb25kZQ==";
const LOQED_LOCK_ID = "fuzz-loqed-lock";
const BOLTS = ["OPEN", "DAY_LOCK", "LATCH", "NIGHT_LOCK", "UNKNOWN", "open", "night_lock"];
const BOLT_NUMERIC = { OPEN: 1, DAY_LOCK: 2, LATCH: 2, NIGHT_LOCK: 3, UNKNOWN: 0, open: 1, night_lock: 3 };
const loqedNum = (arb) => fc.tuple(arb, fc.integer({ min: 0, max: 4 })).map(([n, r]) => (r === 0 ? String(n) : n));

/**
 * Bridge webhooks as research/loqed-tedee.md 1.3.5 and 6.4 show them (STATE_CHANGED_*, GO_TO_STATE_*, MOTOR_STALL,
 * status pushes with battery and signal, unknown event types), and the cloud's fields (lock_id, online, key names).
 */
const loqedValidBody = fc
  .record({
    kind: fc.constantFrom("reached", "reached", "goto", "goto", "stall", "status", "status", "unknown", "cloud"),
    bolt: fc.constantFrom(...BOLTS),
    suffix: fc.constantFrom("", "_REMOTE", "_BLE", ""),
    gotoType: fc.constantFrom("GO_TO_STATE_INSTANTOPEN_OPEN", "GO_TO_STATE_MANUAL_LOCK_REMOTE_LATCH", "GO_TO_STATE_MANUAL_LOCK_REMOTE_NIGHT_LOCK", "GO_TO_STATE_MANUAL_UNLOCK_REMOTE_OPEN", "GO_TO_STATE_TOUCH_TO_LOCK", "GO_TO_STATE_TWIST_ASSIST_LATCH", "GO_TO_STATE_MANUAL_UNLOCK_BLE_OPEN", "GO_TO_STATE_X"),
    key: fc.oneof(fc.constantFrom(255, 1, 3, 0, 250, "", null, "2", 251), fc.integer({ min: 0, max: 300 })),
    battery: loqedNum(fc.oneof(fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 100, noNaN: true }))),
    wifi: loqedNum(fc.integer({ min: -100, max: 100 })),
    ble: loqedNum(fc.constantFrom(-1, 0, 20, 55)),
    online: fc.constantFrom(true, false, 0, 1, "0", "1", "true"),
    names: fc.record({ key_name_user: fc.constantFrom("Jane", null, ""), key_account_name: fc.constantFrom("Jane Doe", null), key_account_email: fc.constantFrom("jane@example.com", null) }, { requiredKeys: [] }),
    extra: extraFields(),
    unknownType: fc.constantFrom("BATTERY_LOW", "FUTURE_EVENT", "state_changed", "X"),
    withNumeric: fc.boolean(),
  })
  .map((r) => {
    const macs = { mac_wifi: "aabbccddeeff", mac_ble: "aabbccddeeaa" };
    let body;
    switch (r.kind) {
      case "reached":
        body = { requested_state: r.bolt.toUpperCase(), event_type: `STATE_CHANGED_${r.bolt.toUpperCase()}${r.suffix}`, key_local_id: r.key, ...macs };
        if (r.withNumeric) body.requested_state_numeric = BOLT_NUMERIC[r.bolt];
        break;
      case "goto":
        body = { go_to_state: r.bolt.toUpperCase(), event_type: r.gotoType, key_local_id: r.key, ...macs };
        if (r.withNumeric) body.go_to_state_numeric = BOLT_NUMERIC[r.bolt];
        break;
      case "stall":
        body = { event_type: "MOTOR_STALL", key_local_id: r.key, ...macs };
        break;
      case "status":
        body = { battery_percentage: r.battery, battery_type: "NICKEL_METAL_HYDRIDE", wifi_strength: r.wifi, ble_strength: r.ble, ...macs };
        break;
      case "unknown":
        body = { event_type: r.unknownType, key_local_id: r.key, ...macs };
        break;
      default:
        body = { lock_id: "Yq1gK4oeE9KWe0ByxjX2", online: r.online, battery_percentage: r.battery, ...r.names };
    }
    if (r.kind !== "cloud" && r.kind !== "status" && Object.keys(r.names).length && r.withNumeric) Object.assign(body, r.names);
    return { ...(r.extra ?? {}), ...body };
  });

/** Whitespace that spells `seq` in binary: appended to bodies tagBody cannot tag, so no two bodies are alike. */
function uniqueTail(seq) {
  return Buffer.from("\n" + seq.toString(2).replace(/0/g, " ").replace(/1/g, "\t"));
}

/**
 * The LOQED bridge signs each delivery and a repeated signature (same bytes in the same second) is a replay,
 * acknowledged with 200 and not reported; the cloud de-duplicates identical content. So every fuzz body is made
 * unique: tagged objects are, other bodies get trailing whitespace (which JSON.parse ignores).
 */
function loqedTag(bytes, seq) {
  const tagged = tagBody(bytes, seq);
  return tagged === bytes ? Buffer.concat([bytes, uniqueTail(seq)]) : tagged;
}

/**
 * The LOQED oracle: the webhook schema plus the "one known field" rule of LoqedConnection.parse
 * (dist/nodes/loqed/schemas), and a mirror LoqedConnection (no bridge client) started from the config node's
 * initial tracker state (the bridge's /status snapshot), fed each accepted body signed with its own clock, its
 * deferred emits run at once.
 */
function loqedModel(channel) {
  return ({ config } = {}) => {
    const { webhookBodySchema } = require("../../dist/nodes/loqed/schemas").loqedSchemas();
    const { LoqedConnection } = require("../../dist/nodes/loqed/connection");
    const { webhookHash, decodeKey } = require("../../dist/nodes/loqed/crypto");
    const { StateTracker } = require("../../dist/nodes/core/state-tracker");
    const tracker = new StateTracker("loqed");
    copyTracker(config && config.connection && config.connection.tracker, tracker);
    const key = decodeKey(LOQED_BRIDGE_KEY, "bridge key");
    const mirror = new LoqedConnection({
      host: "", port: 80, bridgeKey: key, keySecret: null, keyId: null, lockId: LOQED_LOCK_ID, deviceName: null, cloudToken: "", cloudUrl: "http://127.0.0.1:9",
      keyNames: new Map(), timestampWindowSeconds: 20, allowMissingTimestamp: false, callbackUrl: async () => null, ownsWebhook: () => false, warn: () => undefined, tracker,
    });
    const emitted = [];
    mirror.on("event", (event) => emitted.push(event));
    const known = ["event_type", "battery_percentage", "wifi_strength", "ble_strength", "online", "lock_id", "mac_wifi"];
    const parse = memo((bytes) => {
      const body = parseBody(bytes);
      if (!body.ok) return null;
      const parsed = webhookBodySchema.safeParse(body.json);
      if (!parsed.success || !known.some((field) => field in parsed.data)) return null;
      return parsed.data;
    });
    return {
      accept: (bytes) => (parse(bytes) ? { ok: true, key: LOQED_LOCK_ID } : { ok: false }),
      predict(bytes, receivedAt) {
        emitted.length = 0;
        const t = Math.floor(receivedAt / 1000);
        const headers = { timestamp: String(t), hash: webhookHash(bytes, t, key).toString("hex") };
        const request = { rawBody: bytes, headers, remoteAddress: "127.0.0.1", channel, receivedAt };
        const answer = synchronously(() => (channel === "bridge" ? mirror.handleBridge(request) : mirror.handleCloud(request)));
        if (answer.status !== 200) throw new Error(`the mirror answered ${answer.status} to a body the schema accepts`);
        return emitted.map((event) => event.event);
      },
    };
  };
}

/** TIMESTAMP + HASH as the bridge computes them (crypto.ts webhookHash); tampered in one of several ways. */
function loqedHeaders(bytes, { now, tamper, index = 0 }) {
  const { webhookHash, decodeKey } = require("../../dist/nodes/loqed/crypto");
  const key = decodeKey(LOQED_BRIDGE_KEY, "bridge key");
  const t = Math.floor(now / 1000);
  const sign = (ts, k = key, body = bytes) => webhookHash(body, ts, k).toString("hex");
  if (!tamper) return { TIMESTAMP: String(t), HASH: sign(t) };
  switch (index % 8) {
    case 0:
      return { TIMESTAMP: String(t), HASH: sign(t).replace(/^./, (c) => (c === "0" ? "1" : "0")) };
    case 1:
      return { TIMESTAMP: String(t - 3600), HASH: sign(t - 3600) }; // stale, correctly signed
    case 2:
      return { TIMESTAMP: String(t + 120), HASH: sign(t + 120) }; // from the future
    case 3:
      return { HASH: sign(t) }; // no TIMESTAMP
    case 4:
      return { TIMESTAMP: String(t) }; // no HASH
    case 5:
      return { TIMESTAMP: String(t), HASH: sign(t, Buffer.from("another key")) };
    case 6:
      return { TIMESTAMP: `${t}.5`, HASH: sign(t) };
    default:
      return { TIMESTAMP: String(t + 1), HASH: sign(t) }; // hash of another second
  }
}

const loqed = {
  vendor: "loqed",
  channel: "bridge",
  nodes: () => require("../../dist/nodes/loqed.js"),
  listenerType: "loqed-events",
  async simulator() {
    const { LoqedBridgeSimulator } = require("../simulators/loqed-bridge");
    const sim = new LoqedBridgeSimulator({ bridgeKey: LOQED_BRIDGE_KEY });
    await sim.start();
    return sim;
  },
  config: ({ simPort, callbackBase }) => ({
    node: { type: "loqed-config", name: "Fuzz door", host: "127.0.0.1", port: simPort, keyId: "", lockId: LOQED_LOCK_ID, callbackUrl: callbackBase, keyNames: "" },
    credentials: { bridgeKey: LOQED_BRIDGE_KEY },
  }),
  // started: webhook registered at the bridge and the /status snapshot out
  ready: ({ sim, messages }) => sim.webhooks.length === 1 && messages.some((m) => m.payload.event === "device.state"),
  alsoServes: ["cloud"], // the cloud route is always there
  headers: loqedHeaders,
  model: loqedModel("bridge"),
  valid: loqedValidBody,
  tag: loqedTag,
  corpusDir: path.join(__dirname, "corpus", "loqed"),
};

/** The unsigned cloud route of a cloud-only config node (no bridge: the route secret is the only credential). */
const loqedCloud = {
  vendor: "loqed",
  channel: "cloud",
  nodes: () => require("../../dist/nodes/loqed.js"),
  listenerType: "loqed-events",
  config: ({ callbackBase }) => ({
    node: { type: "loqed-config", name: "Fuzz door", host: "", lockId: LOQED_LOCK_ID, keyId: "", callbackUrl: callbackBase, keyNames: "" },
    credentials: {},
  }),
  headers: null,
  model: loqedModel("cloud"),
  valid: loqedValidBody,
  tag: loqedTag,
  corpusDir: path.join(__dirname, "corpus", "loqed-cloud"),
};

// ---- UniFi Access (signed webhooks: Signature: t=..,v1=..) ---------------------------------------------------

/** Doors and devices no simulator door has: the WebSocket never reports them, so every event of theirs is a webhook's. */
const UNIFI_DOORS = ["f0000000-0000-4000-8000-000000000001", "f0000000-0000-4000-8000-000000000002", "f0000000-0000-4000-8000-000000000003"];
const UNIFI_DEVICES = ["d0000000-0000-4000-8000-00000000000a", "d0000000-0000-4000-8000-00000000000b"];
const UNIFI_EVENTS = [
  "access.door.unlock",
  "access.door.unlock",
  "access.device.dps_status",
  "access.device.dps_status",
  "access.doorbell.incoming",
  "access.doorbell.completed",
  "access.doorbell.incoming.REN",
  "access.device.emergency_status",
  "access.unlock_schedule.activate",
  "access.unlock_schedule.deactivate",
  "access.temporary_unlock.start",
  "access.temporary_unlock.end",
  "access.visitor.status.changed",
  "access.future.event",
];

/** Webhook bodies in the shapes of research/unifi-access.md §4.3/§7.2 and the simulator's deliveries. */
const unifiValidBody = fc
  .record({
    event: fc.constantFrom(...UNIFI_EVENTS),
    id: fc.uuid(),
    door: fc.constantFrom(...UNIFI_DOORS),
    device: fc.constantFrom(...UNIFI_DEVICES),
    locationType: fc.constantFrom("door", "door", "floor", undefined),
    withLocation: fc.boolean(),
    withDevice: fc.boolean(),
    actor: fc.oneof(fc.constant(null), fc.record({ id: fc.constantFrom("u-1", "", null), name: fc.constantFrom("Alice", "", null, "N/A"), type: fc.constantFrom("user", "visitor", "open-api", null) }, { requiredKeys: [] })),
    method: fc.constantFrom("NFC", "PIN_CODE", "FACE", "MOBILE_TAP", "REMOTE_THROUGH_UAH", "X"),
    result: fc.constantFrom("Access Granted", "Access Denied", "ACCESS", "BLOCKED", undefined),
    dps: fc.constantFrom("open", "close", "closed", "none", "", "x"),
    requestId: fc.oneof(fc.constantFrom("req-1", "req-2"), fc.string({ minLength: 1, maxLength: 32 })),
    reason: fc.constantFrom(105, 106, 107, 108, 400, "108", 0),
    mode: fc.constantFrom("lockdown", "evacuation", "other"),
    value: fc.constantFrom(true, false, "true"),
    extra: extraFields(),
  })
  .map((r) => {
    const location = { id: r.door, location_type: r.locationType, name: "Fuzz Door", up_id: "x", extras: { door_thumbnail: "" } };
    if (r.locationType === undefined) delete location.location_type;
    const device = { id: r.device, name: "UA Hub", alias: "Fuzz Door", device_type: "UAH", location_id: r.door, connected_hub_id: "" };
    const objects = {
      "access.door.unlock": { authentication_type: r.method, authentication_value: "", policy_id: "", policy_name: "", reader_id: r.device, result: r.result },
      "access.device.dps_status": { event_type: "dps_change", status: r.dps },
      "access.doorbell.incoming": { request_id: r.requestId },
      "access.doorbell.incoming.REN": { host_device_mac: "74ACB95E28D5", reason_code: 0, request_id: r.requestId },
      "access.doorbell.completed": { host_device_mac: "", reason_code: r.reason, request_id: r.requestId },
      "access.device.emergency_status": { mode: r.mode, value: r.value },
      "access.visitor.status.changed": { status: 3 },
    };
    const data = { location: r.withLocation ? location : null, device: r.withDevice || !r.withLocation ? device : null, actor: r.actor, object: objects[r.event] ?? { schedule_name: "Office hours" } };
    return { ...(r.extra ?? {}), event: r.event, event_object_id: r.id, data };
  });

/**
 * The UniFi oracle decides accept/reject with the route's own steps and dist/nodes/unifi-access/schemas
 * (webhookBodySchema). It does not predict the events: the connection merges webhooks with the WebSocket stream
 * (the actor merger, once-keys across sources, the door index learned from the controller), which a mirror
 * cannot replay faithfully. So `predict` returns null: the suite checks that accepted bodies get 2xx, that every
 * event belongs to an accepted body and validates, and that rejected ones emit nothing.
 */
function unifiModel() {
  const { webhookBodySchema } = require("../../dist/nodes/unifi-access/schemas").unifiSchemas();
  const parse = memo((bytes) => {
    const body = parseBody(bytes);
    return body.ok && webhookBodySchema.safeParse(body.json).success;
  });
  return { accept: (bytes) => (parse(bytes) ? { ok: true, key: "all" } : { ok: false }), predict: () => null };
}

let unifiSim = null;
/** The endpoint secret the config node got when it registered its webhook at the simulator. */
function unifiEndpointSecret(routeSecret) {
  const ours = unifiSim && unifiSim.webhooks.find((w) => w.endpoint.includes(`/smartlocks/unifi-access/${routeSecret}/`));
  if (!ours) throw new Error("no webhook endpoint registered at the simulator yet");
  return ours.secret;
}

function unifiHeaders(bytes, { now, secret, tamper, index = 0 }) {
  const { computeSignature } = require("../../dist/nodes/unifi-access/signature");
  const endpointSecret = unifiEndpointSecret(secret);
  const t = Math.floor(now / 1000);
  if (!tamper) return { Signature: `t=${t},v1=${computeSignature(endpointSecret, t, bytes)}` };
  switch (index % 7) {
    case 0:
      return { Signature: `t=${t},v1=${computeSignature(endpointSecret + "x", t, bytes)}` };
    case 1:
      return { Signature: `t=${t - 3600},v1=${computeSignature(endpointSecret, t - 3600, bytes)}` }; // stale
    case 2:
      return {};
    case 3:
      return { Signature: `v1=${computeSignature(endpointSecret, t, bytes)}` }; // no t
    case 4:
      return { Signature: `t=${t},v1=${computeSignature(endpointSecret, t + 1, bytes)}` };
    case 5:
      return { Signature: `t=${t},v0=${computeSignature(endpointSecret, t, bytes)}` };
    default:
      return { Signature: `t=${t},v1=${computeSignature(endpointSecret, t, Buffer.concat([bytes, Buffer.from(" ")]))}` };
  }
}

const unifiAccess = {
  vendor: "unifi-access",
  channel: "webhook",
  nodes: () => require("../../dist/nodes/unifi-access.js"),
  listenerType: "unifi-access-events",
  async simulator() {
    const { UnifiAccessSimulator } = require("../simulators/unifi-access");
    const sim = new UnifiAccessSimulator({ heartbeatMs: 1000, relockMs: 400 });
    await sim.start();
    unifiSim = sim;
    return sim;
  },
  config: ({ simPort, callbackBase }) => ({
    node: { type: "unifi-access-config", host: "127.0.0.1", port: simPort, tls: "pin", fingerprint: "", webhooks: true, callbackUrl: callbackBase },
    credentials: { token: unifiSim.token },
  }),
  // started: webhook endpoint registered (so its secret is known) and the three simulator doors snapshotted
  ready: ({ sim, messages }) => sim.webhooks.length === 1 && messages.filter((m) => m.payload.event === "device.state").length >= 3,
  headers: unifiHeaders,
  model: unifiModel,
  valid: unifiValidBody,
  corpusDir: path.join(__dirname, "corpus", "unifi-access"),
};

module.exports = {
  TARGETS: { nuki, tedee, loqed, loqedCloud, "unifi-access": unifiAccess },
  nukiValidBody,
  nukiModel,
  NUKI_FUZZ_IDS,
  NUKI_SIMULATOR_IDS,
  MAX_SAFE_DEPTH,
  tedeeValidBody,
  TEDEE_TOKEN,
  TEDEE_FUZZ_IDS,
  TEDEE_SIMULATOR_IDS,
  loqedValidBody,
  LOQED_BRIDGE_KEY,
  LOQED_LOCK_ID,
  unifiValidBody,
  UNIFI_DOORS,
  parseBody,
  synchronously,
};
