"use strict";
// The vendor table of the route fuzzing: one entry per inbound route (see the top of fuzz-helpers.js for the
// fields and for how to add Tedee, LOQED and UniFi Access). Each entry's spec calls describeRouteFuzz(entry).
const path = require("node:path");
const fc = require("fast-check");


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
  const { callbackBodySchema } = require("../../dist/nodes/nuki/schemas");
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
module.exports = { TARGETS: { nuki }, nukiValidBody, nukiModel, NUKI_FUZZ_IDS, NUKI_SIMULATOR_IDS, MAX_SAFE_DEPTH };
