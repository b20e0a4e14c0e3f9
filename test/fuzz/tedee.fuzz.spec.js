"use strict";
// Fuzzing of the Tedee Bridge callback path: (a) property tests of the callback schemas and the normalizer,
// (b) the real tedee-config callback route in node-red-node-test-helper with the bridge simulator, >= 10 000
// generated bodies (secret header X-Smartlocks-Key as callback-auth.ts computes it; every 17th one tampered → 401),
// (c) the hand-written bad-input corpus in corpus/tedee/. Seed: FUZZ_SEED=<n> reproduces a run.
const assert = require("node:assert/strict");
const fc = require("fast-check");
const { isBridgeEventName, tedeeSchemas } = require("../../dist/nodes/tedee/schemas");
const { callbackEnvelopeSchema, eventDataSchemas, lockDetailsSchema, cloudLockSchema } = tedeeSchemas();
const { tedeeState, doorState, batteryLevel, batteryCritical, lockDetailsReport, cloudLockReport, parseDeviceId } = require("../../dist/nodes/tedee/normalize");
const { TedeeConnection } = require("../../dist/nodes/tedee/connection");
const { callbackHeaderValue, hasCallbackHeader, CALLBACK_HEADER } = require("../../dist/nodes/tedee/callback-auth");
const { LOCK_STATES, DOOR_STATES } = require("../../dist/nodes/core/door-event");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema");
const { describeRouteFuzz, bodyCase, hostileBodies, oddString } = require("./fuzz-helpers");
const { TARGETS, tedeeValidBody, parseBody, synchronously } = require("./targets");

const SEED = Number(process.env.FUZZ_SEED) || 0x7ed3e;
const T0 = Date.parse("2026-12-02T10:00:00.000Z");
const anyBody = fc.oneof(bodyCase(tedeeValidBody), hostileBodies(tedeeValidBody));

function assertEvent(event) {
  const parsed = doorEventSchema.safeParse(event);
  assert.ok(parsed.success, `${event.event}: ${parsed.error && JSON.stringify(parsed.error.issues).slice(0, 400)}`);
  assert.equal(event.vendor, "tedee");
  assert.ok(LOCK_STATES.includes(event.lock) || event.lock === null, `lock ${event.lock}`);
  assert.ok(DOOR_STATES.includes(event.door) || event.door === null, `door ${event.door}`);
}

describe("Tedee Bridge callbacks: properties of schemas, normalizer and connection", function () {
  this.timeout(60000);

  it("10 000 bodies through TedeeConnection.handleCallback: never a throw, 204 iff the schemas accept, schema-valid events", function () {
    const header = callbackHeaderValue("t", "s");
    const connection = new TedeeConnection({ bridge: null, cloud: null, callbackUrl: async () => null, ownsCallback: () => false, callbackHeader: { name: CALLBACK_HEADER, value: header }, warn: () => undefined });
    const emitted = [];
    connection.on("event", (event) => emitted.push(event));
    let accepted = 0;
    let t = T0;
    fc.assert(
      fc.property(anyBody, (c) => {
        const body = parseBody(c.bytes);
        let ok = false;
        if (body.ok) {
          const envelope = callbackEnvelopeSchema.safeParse(body.json);
          if (envelope.success) {
            const { event } = envelope.data;
            ok = isBridgeEventName(event) ? eventDataSchemas[event].safeParse(envelope.data.data ?? {}).success : true;
          }
        }
        t += 1000;
        const answer = synchronously(() => connection.handleCallback(c.bytes, { [CALLBACK_HEADER.toLowerCase()]: header }, t));
        // bodies too deep for the route never reach the connection; it must still not throw on them
        if (body.ok || !require("../../dist/nodes/core/json-depth").jsonTooDeep(c.bytes)) assert.equal(answer.status, ok ? 204 : 400, c.bytes.toString("utf8").slice(0, 200));
        if (ok) accepted++;
        const wrong = connection.handleCallback(c.bytes, { [CALLBACK_HEADER.toLowerCase()]: header + "x" }, t);
        assert.equal(wrong.status, 401);
      }),
      { numRuns: 10000, seed: SEED },
    );
    for (const event of emitted) assertEvent(event);
    assert.ok(accepted > 3000, `only ${accepted} accepted`);
    assert.ok(emitted.length > 1000, `only ${emitted.length} events`);
    this.test.title += ` [${accepted} accepted, ${emitted.length} events]`;
  });

  it("the normalizer is total: any state, door state, battery level and lock record maps into the contract's enums", function () {
    const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Infinity, -Infinity, NaN, -0, 2 ** 64, 255, 18), fc.constant(undefined), fc.constant(null));
    fc.assert(
      fc.property(anyNumber, fc.option(fc.boolean(), { nil: undefined }), anyNumber, anyNumber, (state, jammed, door, level) => {
        const s = tedeeState(state ?? undefined, jammed);
        assert.ok(LOCK_STATES.includes(s.lock), `lock ${s.lock}`);
        assert.ok(s.vendorEvent === undefined || /^tedee\.lock\.[a-z_]+$/.test(s.vendorEvent));
        const d = doorState(door);
        assert.ok(d === undefined || DOOR_STATES.includes(d), `door ${d}`);
        const l = batteryLevel(level);
        assert.ok(l === undefined || l === null || (Number.isInteger(l) && l >= 0 && l <= 100), `level ${l}`);
        const c = batteryCritical(l);
        assert.ok(c === undefined || typeof c === "boolean");
      }),
      { numRuns: 10000, seed: SEED + 1 },
    );
    const record = fc.dictionary(fc.constantFrom("id", "name", "state", "jammed", "batteryLevel", "isCharging", "isConnected", "doorState", "deviceState", "lockProperties"), fc.oneof(fc.jsonValue({ maxDepth: 2 }), oddString(), fc.record({ state: fc.jsonValue(), batteryLevel: fc.jsonValue(), doorState: fc.jsonValue() })));
    let reports = 0;
    fc.assert(
      fc.property(record, fc.integer({ min: 0, max: 2 ** 40 }), (value, id) => {
        for (const [schema, report] of [[lockDetailsSchema, lockDetailsReport], [cloudLockSchema, cloudLockReport]]) {
          const parsed = schema.safeParse({ ...value, id });
          if (!parsed.success) continue;
          reports++;
          const { report: r } = report(parsed.data);
          assert.equal(r.device.id, String(id));
          assert.ok(r.lock === undefined || LOCK_STATES.includes(r.lock));
          assert.ok(r.door === undefined || DOOR_STATES.includes(r.door));
        }
      }),
      { numRuns: 3000, seed: SEED + 2 },
    );
    assert.ok(reports > 500, `only ${reports} records parsed`);
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const id = parseDeviceId(value);
        assert.ok(id === null || (Number.isSafeInteger(id) && id >= 0));
      }),
      { numRuns: 2000, seed: SEED + 3 },
    );
  });

  it("the secret header check: only the exact value (trimmed), never a throw on any header value", function () {
    const value = callbackHeaderValue("token", "secret");
    assert.ok(hasCallbackHeader({ "x-smartlocks-key": value }, CALLBACK_HEADER, value));
    assert.ok(hasCallbackHeader({ "x-smartlocks-key": ` ${value} ` }, CALLBACK_HEADER, value));
    fc.assert(
      fc.property(fc.oneof(oddString(), fc.array(fc.string()), fc.constant(undefined), fc.string()), (got) => {
        assert.equal(hasCallbackHeader({ "x-smartlocks-key": got }, CALLBACK_HEADER, value), typeof got === "string" && got.trim() === value);
      }),
      { numRuns: 2000, seed: SEED + 4 },
    );
  });
});

describeRouteFuzz(TARGETS.tedee, { seed: SEED });
