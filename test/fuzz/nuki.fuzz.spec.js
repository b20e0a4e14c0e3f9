"use strict";
// Fuzzing of the Nuki Bridge callback path: (a) property tests of the schema, normalizer and tracker, (b) the
// real nuki-config callback route in node-red-node-test-helper with the bridge simulator, >= 10 000 generated
// bodies, (c) the hand-written bad-input corpus in corpus/nuki/ plus Nuki-specific checks of what it emits.
// Seed: FUZZ_SEED=<n> (printed by fast-check on failure) reproduces a run.
const assert = require("node:assert/strict");
const fc = require("fast-check");
const { callbackBodySchema } = require("../../dist/nodes/nuki/schemas").bridgeSchemas();
const { bridgeReport, lockState, doorState, deviceKind } = require("../../dist/nodes/nuki/normalize");
const { nukiIdToHex, parseDeviceId } = require("../../dist/nodes/nuki/ids");
const { NukiBridgeConnection } = require("../../dist/nodes/nuki/bridge-connection");
const { StateTracker } = require("../../dist/nodes/core/state-tracker");
const { LOCK_STATES, DOOR_STATES } = require("../../dist/nodes/core/door-event");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema");
const { describeRouteFuzz, bodyCase, hostileBodies, jsonDepth, nested, post, settled } = require("./fuzz-helpers");
const { TARGETS, nukiValidBody, MAX_SAFE_DEPTH } = require("./targets");

const SEED = Number(process.env.FUZZ_SEED) || 0x5eed;
const T0 = Date.parse("2026-12-02T10:00:00.000Z");

/** What the route does with the bytes: UTF-8 text, JSON.parse, the schema. null = the route answers 400. */
function parseLikeTheRoute(bytes) {
  let json;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    return null;
  }
  const parsed = callbackBodySchema.safeParse(json);
  return parsed.success ? { json, body: parsed.data } : null;
}

/** Bodies the route refuses (400) before the bridge connection sees them: nested deeper than core's limit. */
function refusedByRoute(parsed) {
  return jsonDepth(parsed.json) > MAX_SAFE_DEPTH;
}

/** Bodies for the properties: half as the bridge sends them (any content type), half hostile. */
const anyBody = fc.oneof(bodyCase(nukiValidBody), hostileBodies(nukiValidBody));

function assertEvent(event, json) {
  const parsed = doorEventSchema.safeParse(event);
  assert.ok(parsed.success, `${event.event}: ${parsed.error && JSON.stringify(parsed.error.issues)}`);
  assert.equal(event.vendor, "nuki");
  assert.ok(LOCK_STATES.includes(event.lock) || event.lock === null, `lock ${event.lock}`);
  assert.ok(DOOR_STATES.includes(event.door) || event.door === null, `door ${event.door}`);
  assert.match(event.device.id, /^[0-9A-F]{8}$/);
  if (json !== undefined) assert.equal(event.raw, json, "raw is the payload as received");
}

describe("Nuki Bridge callbacks: properties of schema, normalizer and tracker", function () {
  this.timeout(60000);

  it("10 000 bodies: the schema never throws; accepted ones normalize to the contract's enums and schema-valid events", function () {
    let accepted = 0;
    let events = 0;
    let left = 0;
    fc.assert(
      fc.property(anyBody, fc.integer({ min: 0, max: 10 ** 6 }), (c, dt) => {
        const parsed = parseLikeTheRoute(c.bytes);
        if (!parsed) return;
        if (refusedByRoute(parsed)) return void left++;
        accepted++;
        const { json, body } = parsed;
        const device = { nukiId: body.nukiId, deviceType: body.deviceType, name: null };
        const report = bridgeReport(device, body);
        assert.ok(LOCK_STATES.includes(report.lock), `lock ${report.lock}`);
        assert.ok(report.door === undefined || DOOR_STATES.includes(report.door), `door ${report.door}`);
        assert.equal(report.device.id, nukiIdToHex(body.nukiId));
        assert.equal(report.device.type, deviceKind(body.deviceType));
        // a snapshot, the first report of an unknown device, then the same body again
        const tracker = new StateTracker("nuki", { now: () => T0 + dt });
        const snapshot = tracker.update(report, { channel: "bridge", raw: json, snapshot: true });
        assert.equal(snapshot.length, 1);
        const fresh = new StateTracker("nuki", { now: () => T0 + dt });
        const first = fresh.update(report, { channel: "bridge", raw: json });
        const again = fresh.update(bridgeReport(device, body), { channel: "bridge", raw: json, receivedAt: T0 + dt + 1000 });
        assert.deepEqual(again, [], "a repeated delivery yields nothing");
        for (const event of [...snapshot, ...first]) assertEvent(event, json);
        for (const event of first) assert.equal(event.previous, null, "the device was unknown before");
        events += snapshot.length + first.length;
      }),
      { numRuns: 10000, seed: SEED },
    );
    assert.ok(accepted > 3000, `only ${accepted} of 10000 bodies passed the schema`);
    this.test.title += ` [${accepted} accepted, ${events} events, ${left} left out (refused by the route: too deep)]`;
  });

  it("sequences of callbacks through NukiBridgeConnection.handleCallback: 200 iff the schema accepts, never a throw, valid events", async function () {
    let bodies = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(anyBody, { minLength: 1, maxLength: 25 }), async (cases) => {
        const connection = new NukiBridgeConnection({ host: "127.0.0.1", port: 9, token: "x", auth: "plain", callbackUrl: async () => null, ownsCallback: () => false, warn: () => undefined });
        const emitted = [];
        connection.on("event", (event) => emitted.push(event));
        const mirror = new StateTracker("nuki");
        const expected = [];
        let t = T0;
        for (const c of cases) {
          bodies++;
          const parsed = parseLikeTheRoute(c.bytes);
          if (parsed && refusedByRoute(parsed)) continue;
          t += 1000;
          const answer = connection.handleCallback(c.bytes, t);
          assert.equal(answer.status, parsed ? 200 : 400, `status for ${c.bytes.toString("utf8").slice(0, 120)}`);
          if (!parsed) continue;
          const report = bridgeReport({ nukiId: parsed.body.nukiId, deviceType: parsed.body.deviceType, name: null }, parsed.body);
          expected.push(...mirror.update(report, { channel: "bridge", raw: parsed.json, receivedAt: t }));
        }
        await new Promise((resolve) => setImmediate(resolve));
        await connection.close();
        assert.deepEqual(emitted.map((e) => [e.id, e.event]), expected.map((e) => [e.id, e.event]));
        for (const event of emitted) assertEvent(event);
      }),
      { numRuns: 600, seed: SEED + 1 },
    );
    this.test.title += ` [${bodies} bodies]`;
  });

  it("lockState, doorState and device ids are total: any number maps into the enums, ids round-trip", function () {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Infinity, -Infinity, NaN, -0, 2 ** 64)), fc.oneof(fc.integer(), fc.double()), (deviceType, state) => {
        assert.ok(LOCK_STATES.includes(lockState(deviceType, state)));
        const door = doorState(state);
        assert.ok(DOOR_STATES.includes(door));
        assert.ok(["lock", "opener"].includes(deviceKind(deviceType)));
      }),
      { numRuns: 2000, seed: SEED + 2 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (nukiId) => {
        const hex = nukiIdToHex(nukiId);
        assert.match(hex, /^[0-9A-F]{8}$/);
        assert.equal(parseDeviceId(hex), nukiId);
        assert.equal(parseDeviceId(hex.toLowerCase()), nukiId);
        assert.equal(parseDeviceId(nukiId), nukiId);
      }),
      { numRuns: 2000, seed: SEED + 3 },
    );
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const id = parseDeviceId(value);
        assert.ok(id === null || (Number.isInteger(id) && id >= 0 && id <= 0xffffffff));
      }),
      { numRuns: 2000, seed: SEED + 4 },
    );
  });

  // Found by the properties above: the core tracker now turns a level outside 0..100 (or not finite) into null,
  // keeping the rest of the callback and the raw value.
  it("a batteryChargeState outside 0–100 (e.g. -1, 101, 255, or a digit string too big for a number) still yields schema-valid events", function () {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -1000, max: -1 }), fc.integer({ min: 101, max: 100000 }), fc.constant("9".repeat(400))),
        (level) => {
          const json = { nukiId: 77, deviceType: 4, state: 1, batteryChargeState: level };
          const parsed = callbackBodySchema.safeParse(json);
          if (!parsed.success) return; // rejecting it (400) would be a fix too
          const tracker = new StateTracker("nuki", { now: () => T0 });
          for (const event of tracker.update(bridgeReport({ nukiId: 77, deviceType: 4 }, parsed.data), { channel: "bridge", raw: json })) assertEvent(event, json);
        },
      ),
      { numRuns: 200, seed: SEED },
    );
  });
});

const CORPUS_DEVICE = (nukiId) => nukiIdToHex(nukiId);

describeRouteFuzz(TARGETS.nuki, {
  seed: SEED,
  extra(context) {
    const corpus = (name) => {
      const entry = context.corpus && context.corpus[name];
      assert.ok(entry, `corpus body ${name} was not sent (does the corpus test run first?)`);
      return entry;
    };
    const only = (name, device) => corpus(name).events.filter((e) => e.device.id === CORPUS_DEVICE(device));

    it("corpus: what the accepted Nuki bodies emit (unknown enums → unknown with raw kept, last duplicate key wins, no pollution)", function () {
      const names = (name, device) => only(name, device).map((e) => e.event).sort();
      for (const entry of Object.values(context.corpus)) for (const event of entry.events) assertEvent(event);

      const valid = only("valid-lock", 1001);
      assert.deepEqual(valid.map((e) => e.event).sort(), ["door.closed", "lock.locked"]);
      assert.deepEqual(valid[0].battery, { critical: false, level: 85, charging: false });
      assert.equal(valid[0].channel, "bridge");
      assert.equal(valid[0].actor, null);
      // the bridge may send no or another content type: the raw bytes are parsed whatever it says
      assert.deepEqual(names("valid-sent-as-text-plain", 1002), ["door.closed", "lock.locked"]);
      assert.deepEqual(names("valid-without-content-type", 1003), ["door.closed", "lock.locked"]);

      const [unknownState] = only("unknown-state-99", 1004);
      assert.equal(unknownState.event, "door.opened");
      assert.equal(unknownState.lock, "unknown");
      assert.equal(unknownState.raw.state, 99, "raw keeps the vendor value");
      const [unknownType] = only("unknown-device-type-99", 1005);
      assert.equal(unknownType.event, "lock.locked");
      assert.equal(unknownType.device.type, "lock");
      assert.deepEqual(names("unknown-door-sensor-state-240", 1006), ["lock.unlocked"]);
      assert.equal(only("unknown-door-sensor-state-240", 1006)[0].door, "unknown");

      const [strings] = only("numbers-as-strings", 1007);
      assert.equal(strings.event, "lock.unlatched");
      assert.equal(strings.battery.level, 50);
      assert.deepEqual(names("duplicate-keys-last-wins", 1008), ["lock.unlocked"]);
      assert.deepEqual(names("duplicate-keys-invalid-then-valid", 1009), ["lock.locked"]);

      const [extraFields] = only("extra-fields-and-proto-key", 1010);
      assert.deepEqual(extraFields.raw.futureField, { a: [1, 2, { b: null }] });
      assert.equal({}.polluted, undefined, "no prototype pollution");
      assert.equal(Object.prototype.polluted, undefined);

      assert.match(only("odd-unicode-escapes", 1011)[0].raw.stateName, /\ud800 lone \udfff \u0000 nul/);
      assert.match(only("lone-surrogate-as-bytes", 1012)[0].raw.stateName, /^\ufffd+ and \ufffd+ and \ufffd$/, "invalid UTF-8 becomes U+FFFD");
      assert.deepEqual(names("whitespace-around", 1013), ["lock.locked"]);
      assert.deepEqual(names("negative-zero-state", 1014), ["nuki.lock.uncalibrated"]);
      assert.deepEqual(names("integral-floats-and-exponents", 1015), ["lock.locked"]);
      assert.equal(only("integral-floats-and-exponents", 1015)[0].battery.level, 50);
      const [huge] = only("state-as-huge-digit-string", 1016);
      assert.equal(huge.event, "door.opened");
      assert.equal(huge.lock, "unknown");
      const opener = only("opener-old-ring", 1017);
      assert.deepEqual(opener.map((e) => e.event), ["lock.locked"], "a ring long ago is no doorbell.rang");
      assert.equal(opener[0].device.type, "opener");
      assert.deepEqual(names("null-ring-timestamp", 1018), ["lock.unlocked"]);
      assert.deepEqual(names("empty-strings", 1019), ["lock.locked"]);
      for (const name of ["max-nuki-id", "nuki-id-zero"]) assert.equal(corpus(name).status, 200, name);
    });

    it("a 20 000-deep array body is a 400, and a 100 000-deep one a 400 or 413; nothing escapes", async function () {
      for (const [depth, kind] of [[20000, "array"], [100000, "array"], [40000, "object"], [30000, "mixed"]]) {
        const bytes = Buffer.from(nested(depth, kind));
        const answer = await post({ port: context.port, agent: false, path: context.path, bytes, contentType: "application/json" });
        assert.ok(answer.status === 400 || (answer.status === 413 && bytes.length > 262144), `${depth} ${kind}: ${answer.status}`);
      }
    });

    // Found by the route fuzzing with two wires on the listener. A valid callback that carries one field nested a
    // few thousand levels deep (10 KB is enough) is accepted; the event keeps it in `raw`, and when the listener has
    // more than one wire Node-RED's cloneMessage (lodash.cloneDeep) overflows the stack inside the bridge
    // connection's setImmediate: an uncaught RangeError, which makes Node-RED exit (red.js uncaughtException
    // handler). Anyone who can reach the callback URL can stop Node-RED. Fix: refuse bodies nested deeper than a
    // small limit (e.g. 32–64) with 400 in NukiBridgeConnection.handleCallback (nodes/nuki/bridge-connection.ts),
    // and/or isolate subscribers in nodes/nuki.ts (try/catch around node.send → node.error).
    // Fixed: the route refuses bodies nested deeper than core's limit (json-depth.ts) with 400, and a send that
    // throws outside an input handler is a warning (glue/listener-output.ts).
    it("a valid callback with a 5 000-deep extra field is refused (400) instead of crashing Node-RED", async function () {
      const escaped = [];
      const mochaListeners = process.rawListeners("uncaughtException");
      process.removeAllListeners("uncaughtException");
      process.on("uncaughtException", (error) => escaped.push(error));
      let answer;
      const before = context.messages.length;
      try {
        const bytes = Buffer.from(`{"nukiId":1201,"deviceType":4,"state":3,"deep":${nested(5000, "array")}}`);
        answer = await post({ port: context.port, agent: false, path: context.path, bytes, contentType: "application/json" });
        await settled(() => context.messages, 100);
      } finally {
        process.removeAllListeners("uncaughtException");
        for (const listener of mochaListeners) process.on("uncaughtException", listener);
      }
      assert.deepEqual(escaped.map((e) => e.message), [], "no exception escapes");
      assert.equal(answer.status, 400, `refused (400); got ${answer.status}`);
      assert.equal(context.messages.length, before, "nothing emitted");
    });
  },
});
