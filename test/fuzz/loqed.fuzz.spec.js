"use strict";
// Fuzzing of the LOQED webhook paths: (a) property tests of the webhook schema, signature check and normalizer,
// (b) the real loqed-config bridge route (signed: TIMESTAMP + HASH as crypto.ts computes them, fresh at send time;
// every 17th body tampered → 401) in node-red-node-test-helper with the bridge simulator, >= 10 000 generated
// bodies, and the unsigned cloud route of a cloud-only config node, (c) the corpus in corpus/loqed/.
// Seed: FUZZ_SEED=<n> reproduces a run.
const assert = require("node:assert/strict");
const fc = require("fast-check");
const { webhookBodySchema, statusSchema } = require("../../dist/nodes/loqed/schemas").loqedSchemas();
const { classify, boltLockState, parseBolt, keySlot, batteryOf, gotoLockState, statusParts } = require("../../dist/nodes/loqed/normalize");
const { verifyBridgeWebhook } = require("../../dist/nodes/loqed/receiver");
const { webhookHash, decodeKey } = require("../../dist/nodes/loqed/crypto");
const { LoqedConnection } = require("../../dist/nodes/loqed/connection");
const { LOCK_STATES } = require("../../dist/nodes/core/door-event");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema");
const { describeRouteFuzz, bodyCase, hostileBodies, oddString, post, settled } = require("./fuzz-helpers");
const { TARGETS, loqedValidBody, LOQED_BRIDGE_KEY, parseBody, synchronously } = require("./targets");

const SEED = Number(process.env.FUZZ_SEED) || 0x10ced;
const T0 = Date.parse("2026-12-02T10:00:00.000Z");
const KEY = decodeKey(LOQED_BRIDGE_KEY, "bridge key");
const anyBody = fc.oneof(bodyCase(loqedValidBody), hostileBodies(loqedValidBody));

function assertEvent(event) {
  const parsed = doorEventSchema.safeParse(event);
  assert.ok(parsed.success, `${event.event}: ${parsed.error && JSON.stringify(parsed.error.issues).slice(0, 400)}`);
  assert.equal(event.vendor, "loqed");
  assert.ok(LOCK_STATES.includes(event.lock) || event.lock === null, `lock ${event.lock}`);
}

describe("LOQED webhooks: properties of schema, signature check, normalizer and connection", function () {
  this.timeout(60000);

  it("10 000 signed bodies through LoqedConnection.handleBridge and handleCloud: never a throw, 200 iff the schema accepts, schema-valid events", function () {
    const connection = new LoqedConnection({
      host: "", port: 80, bridgeKey: KEY, keySecret: null, keyId: null, lockId: "lock", deviceName: null, cloudToken: "", cloudUrl: "http://127.0.0.1:9",
      keyNames: new Map([[1, "Node-RED"]]), timestampWindowSeconds: 20, allowMissingTimestamp: false, callbackUrl: async () => null, ownsWebhook: () => false, warn: () => undefined,
    });
    const emitted = [];
    connection.on("event", (event) => emitted.push(event));
    let accepted = 0;
    let t = T0;
    let n = 0;
    const known = ["event_type", "battery_percentage", "wifi_strength", "ble_strength", "online", "lock_id", "mac_wifi"];
    fc.assert(
      fc.property(anyBody, fc.boolean(), (c, viaCloud) => {
        // the route refuses bodies nested too deeply before the connection sees them (see nuki.fuzz.spec.js)
        if (require("../../dist/nodes/core/json-depth").jsonTooDeep(c.bytes)) return;
        const body = parseBody(c.bytes);
        const schema = body.ok ? webhookBodySchema.safeParse(body.json) : { success: false };
        const ok = schema.success && known.some((f) => f in schema.data);
        t += 1000;
        // unique bytes per delivery: identical bytes would be a replay (bridge) or a copy (cloud), both acknowledged
        const bytes = Buffer.concat([c.bytes, Buffer.from(" ".repeat(n++ % 7))]);
        const ts = Math.floor(t / 1000);
        const headers = { timestamp: String(ts), hash: webhookHash(bytes, ts, KEY).toString("hex") };
        const request = { rawBody: bytes, headers, remoteAddress: "127.0.0.1", channel: viaCloud ? "cloud" : "bridge", receivedAt: t };
        const answer = synchronously(() => (viaCloud ? connection.handleCloud(request) : connection.handleBridge(request)));
        assert.equal(answer.status, ok ? 200 : 400, c.bytes.toString("utf8").slice(0, 200));
        if (ok) {
          accepted++;
          const kind = classify(schema.data).kind;
          assert.ok(["goto", "reached", "jammed", "status", "unknown"].includes(kind));
        }
        if (!viaCloud) {
          const forged = connection.handleBridge({ ...request, headers: { ...headers, hash: webhookHash(bytes, ts, Buffer.from("x")).toString("hex") } });
          assert.equal(forged.status, 401);
        }
      }),
      { numRuns: 10000, seed: SEED },
    );
    for (const event of emitted) assertEvent(event);
    assert.ok(accepted > 3000, `only ${accepted} accepted`);
    assert.ok(emitted.length > 1000, `only ${emitted.length} events`);
    this.test.title += ` [${accepted} accepted, ${emitted.length} events]`;
  });

  it("the signature check: any header values, never a throw; only the exact HASH within the window passes", function () {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.oneof(fc.constant(undefined), oddString(), fc.integer({ min: -100, max: 100 }).map((d) => String(Math.floor(T0 / 1000) + d)), fc.array(fc.string(), { maxLength: 2 })),
        fc.oneof(fc.constant(undefined), oddString(), fc.constant("right"), fc.array(fc.string(), { maxLength: 2 })),
        (raw, timestamp, hash) => {
          const rawBody = Buffer.from(raw);
          const ts = typeof timestamp === "string" && /^\s*\d{1,12}\s*$/.test(timestamp) ? Number(timestamp.trim()) : null;
          const h = hash === "right" && ts !== null ? webhookHash(rawBody, ts, KEY).toString("hex") : hash;
          const verdict = verifyBridgeWebhook({ rawBody, headers: { timestamp, hash: h }, remoteAddress: "10.0.0.1", bridgeKey: KEY, nowMs: T0, windowSeconds: 20, allowMissingTimestamp: false, bridgeAddresses: ["10.0.0.2"] });
          const shouldPass = hash === "right" && ts !== null && Math.abs(T0 / 1000 - ts) <= 20;
          assert.equal(verdict.ok, shouldPass, JSON.stringify({ timestamp, hash, verdict }));
        },
      ),
      { numRuns: 10000, seed: SEED + 1 },
    );
  });

  it("the normalizer is total: bolt states, key slots, batteries and /status bodies map into the contract's enums", function () {
    fc.assert(
      fc.property(fc.anything(), fc.option(fc.constantFrom(...LOCK_STATES), { nil: null }), (value, current) => {
        const bolt = parseBolt(value);
        assert.ok(["open", "day_lock", "night_lock", "unknown"].includes(bolt));
        assert.ok(LOCK_STATES.includes(boltLockState(bolt)));
        const moving = gotoLockState(bolt, current);
        assert.ok(moving === null || LOCK_STATES.includes(moving));
        const slot = keySlot(value);
        assert.ok(slot === null || (Number.isInteger(slot) && slot >= 0 && slot <= 250));
      }),
      { numRuns: 5000, seed: SEED + 2 },
    );
    fc.assert(
      fc.property(fc.double({ min: 0, max: 100, noNaN: true }), (level) => {
        const b = batteryOf(level);
        assert.ok(Number.isInteger(b.level) && b.level >= 0 && b.level <= 100 && typeof b.critical === "boolean");
      }),
      { numRuns: 2000, seed: SEED + 3 },
    );
    let parsedCount = 0;
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("battery_percentage", "bolt_state", "bolt_state_numeric", "lock_online", "ble_strength", "wifi_strength", "bridge_mac_wifi"), fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.integer({ min: -5, max: 120 }), fc.constantFrom("night_lock", "open", "day_lock", "3", "1", 0, 1))), (value) => {
        const parsed = statusSchema.safeParse(value);
        if (!parsed.success) return;
        parsedCount++;
        const parts = statusParts(parsed.data);
        if (parts && parts.lock !== undefined && parts.lock !== null) assert.ok(LOCK_STATES.includes(parts.lock), `lock ${parts.lock}`);
      }),
      { numRuns: 3000, seed: SEED + 4 },
    );
    assert.ok(parsedCount > 300);
  });
});

describeRouteFuzz(TARGETS.loqed, {
  seed: SEED,
  extra(context) {
    // Found by the corpus: handleBridge used to record the signature before parsing, so a second delivery of a signed
    // malformed body got 200 as a "replay". It now parses first.
    it("a signed malformed body sent twice in one second is a 400 both times (not 200 as a replay)", async function () {
      const before = context.messages.length;
      const statuses = [];
      const now = Date.now(); // one TIMESTAMP for both: the same delivery twice
      for (const bytes of [Buffer.from("not json"), Buffer.from("not json")]) {
        const headers = TARGETS.loqed.headers(bytes, { now });
        statuses.push((await post({ port: context.port, agent: false, path: context.path, bytes, contentType: "application/json", headers })).status);
      }
      await settled(() => context.messages, 50);
      assert.equal(context.messages.length, before, "nothing emitted");
      assert.deepEqual(statuses, [400, 400]);
    });
  },
});
describeRouteFuzz(TARGETS.loqedCloud, { seed: SEED + 7, generated: Number(process.env.FUZZ_LOQED_CLOUD_BODIES) || 4000 });
