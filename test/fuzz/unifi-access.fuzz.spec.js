"use strict";
// Fuzzing of the UniFi Access webhook path: (a) property tests of the webhook schema, the signature check and
// normalizeWebhook, (b) the real unifi-access-config webhook route (Signature: t=..,v1=.. with the endpoint secret
// the config node got from the simulator when it registered its endpoint; every 17th body tampered → 401) in
// node-red-node-test-helper with the controller simulator, >= 10 000 generated bodies, (c) corpus/unifi-access/.
// The route model does not predict exact events (see unifiModel in targets.js): it checks status, attribution and
// that rejected bodies emit nothing. Seed: FUZZ_SEED=<n> reproduces a run.
const assert = require("node:assert/strict");
const fc = require("fast-check");
const { webhookBodySchema } = require("../../dist/nodes/unifi-access/schemas").unifiSchemas();
const { normalizeWebhook } = require("../../dist/nodes/unifi-access/normalize");
const { DoorIndex } = require("../../dist/nodes/unifi-access/door-index");
const { verifySignature, computeSignature, parseSignatureHeader } = require("../../dist/nodes/unifi-access/signature");
const { LOCK_STATES, DOOR_STATES } = require("../../dist/nodes/core/door-event");
const { jsonTooDeep } = require("../../dist/nodes/core/json-depth");
const { describeRouteFuzz, bodyCase, hostileBodies, oddString } = require("./fuzz-helpers");
const { TARGETS, unifiValidBody, parseBody } = require("./targets");

const SEED = Number(process.env.FUZZ_SEED) || 0x0acce55;
const anyBody = fc.oneof(bodyCase(unifiValidBody), hostileBodies(unifiValidBody));
const KINDS = ["report", "happening", "unlock-actor", "unknown", "invalid", "ignored"];

describe("UniFi Access webhooks: properties of schema, signature check and normalizer", function () {
  this.timeout(60000);

  it("10 000 bodies: the schema never throws; normalizeWebhook of accepted ones is total and within the contract's enums", function () {
    let accepted = 0;
    let outcomes = 0;
    const index = new DoorIndex();
    fc.assert(
      fc.property(anyBody, (c) => {
        if (jsonTooDeep(c.bytes)) return;
        const body = parseBody(c.bytes);
        if (!body.ok) return;
        const parsed = webhookBodySchema.safeParse(body.json);
        if (!parsed.success) return;
        accepted++;
        for (const outcome of normalizeWebhook(parsed.data, index)) {
          outcomes++;
          assert.ok(KINDS.includes(outcome.kind), outcome.kind);
          if (outcome.kind === "report") {
            const r = outcome.report;
            assert.ok(r.lock === undefined || LOCK_STATES.includes(r.lock), `lock ${r.lock}`);
            assert.ok(r.door === undefined || DOOR_STATES.includes(r.door), `door ${r.door}`);
          }
          if (outcome.device) assert.equal(typeof outcome.device.id, "string");
          if (outcome.kind === "happening") assert.match(outcome.event, /^[a-z][a-z0-9_.-]*$/);
        }
      }),
      { numRuns: 10000, seed: SEED },
    );
    assert.ok(accepted > 3000, `only ${accepted} accepted`);
    this.test.title += ` [${accepted} accepted, ${outcomes} outcomes]`;
  });

  it("the signature check: never a throw on any header; only a v1 of this secret over t.body within 300 s passes", function () {
    const now = 1_800_000_000;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.oneof(oddString(), fc.constant(undefined), fc.constant("right"), fc.constant("stale")), fc.string({ minLength: 1, maxLength: 20 }), (raw, header, secret) => {
        const body = Buffer.from(raw);
        const value = header === "right" ? `t=${now}, v1=${computeSignature(secret, now, body)}` : header === "stale" ? `t=${now - 301},v1=${computeSignature(secret, now - 301, body)}` : header;
        parseSignatureHeader(value);
        const problem = verifySignature(body, value, secret, { nowS: now });
        assert.equal(problem === null, header === "right", JSON.stringify({ value, problem }));
      }),
      { numRuns: 10000, seed: SEED + 1 },
    );
  });
});

describeRouteFuzz(TARGETS["unifi-access"], { seed: SEED });
