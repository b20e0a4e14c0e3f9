"use strict";
// The zod-free fast path for Nuki Bridge callbacks (nodes/nuki/callback-body.ts) must agree with the zod schema:
// whatever it accepts, zod accepts with the same value; whatever zod rejects or converts, it leaves to zod.
const assert = require("node:assert/strict");
const { canonicalCallbackBody } = require("../../dist/nodes/nuki/callback-body.js");
const { callbackBodySchema } = require("../../dist/nodes/nuki/schemas.js").bridgeSchemas();

// research/nuki.md 1.4: a Smart Lock 3.0 Pro callback with door sensor and keypad
const LOCK = {
  nukiId: 11,
  deviceType: 4,
  mode: 2,
  state: 1,
  stateName: "locked",
  batteryCritical: false,
  batteryCharging: false,
  batteryChargeState: 85,
  keypadBatteryCritical: false,
  doorsensorState: 2,
  doorsensorStateName: "door closed",
  ringactionTimestamp: null,
  ringactionState: false,
};
// research/nuki.md 1.4: an Opener callback after a ring
const OPENER = { nukiId: 0x1a2b3c4d, deviceType: 2, mode: 2, state: 3, stateName: "rto active", batteryCritical: false, ringactionTimestamp: "2020-04-27T12:35:24+00:00", ringactionState: true };

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Values a field may get: canonical ones and everything a firmware or an attacker might send instead.
const ODD = [undefined, null, "", "3", "-1", " 3", "3.5", "x".repeat(65), "x".repeat(101), 0, 1, -1, 2, 3, 255, 1.5, -0, 2 ** 31, 0xffffffff, 0x100000000, 2 ** 53, Number.MAX_VALUE, true, false, [], [1], {}, { a: 1 }];
const FIELDS = {
  nukiId: [11, 0, 0xffffffff, 0x1a2b3c4d],
  deviceType: [0, 2, 3, 4, 5],
  state: [0, 1, 3, 5, 7, 254, 255],
  mode: [2, 3],
  batteryChargeState: [0, 85, 100],
  doorsensorState: [1, 2, 3, 16],
  batteryCritical: [true, false],
  batteryCharging: [true, false],
  keypadBatteryCritical: [true, false],
  ringactionState: [true, false],
  stateName: ["locked", "x".repeat(100)],
  doorsensorStateName: ["door closed"],
  ringactionTimestamp: [null, "2020-04-27T12:35:24+00:00", "y".repeat(64)],
  timestamp: ["2020-04-27T12:35:24+00:00"],
};

function generate(random) {
  const pick = (list) => list[Math.floor(random() * list.length)];
  const body = {};
  for (const [key, good] of Object.entries(FIELDS)) {
    const roll = random();
    const value = roll < 0.92 ? pick(good) : pick(ODD);
    if (value !== undefined || random() < 0.5) body[key] = value;
  }
  if (random() < 0.3) body.extra = pick([1, "a", null, { nested: [1, 2] }]);
  return body;
}

/** Through JSON, as a callback arrives (drops undefined, turns -0 into 0, keeps what JSON can carry). */
const viaJson = (body) => JSON.parse(JSON.stringify(body));

function agree(json) {
  const fast = canonicalCallbackBody(json);
  const slow = callbackBodySchema.safeParse(json);
  if (fast !== undefined) {
    assert.ok(slow.success, `fast path accepted what zod rejects: ${JSON.stringify(json)}`);
    assert.deepEqual(fast, slow.data, `fast path and zod differ for ${JSON.stringify(json)}`);
  }
  return { fast: fast !== undefined, zod: slow.success };
}

describe("nuki/callback-body (zod-free fast path)", () => {
  it("takes the research vectors as they are, the same as zod", () => {
    for (const body of [LOCK, OPENER, { nukiId: 11, deviceType: 0, state: 3 }]) {
      assert.equal(canonicalCallbackBody(body), body);
      assert.deepEqual(callbackBodySchema.parse(body), body);
    }
  });

  it("leaves conversions and refusals to zod: integers as strings, flags as 0/1, missing or wrong fields", () => {
    for (const body of [
      { ...LOCK, nukiId: "11" },
      { ...LOCK, state: "1" },
      { ...LOCK, batteryCritical: 0 },
      { ...LOCK, ringactionState: 1 },
      { ...LOCK, nukiId: -5 },
      { ...LOCK, nukiId: 0x100000000 },
      { ...LOCK, state: 1.5 },
      { ...LOCK, mode: null },
      { ...LOCK, stateName: "x".repeat(101) },
      { ...LOCK, ringactionTimestamp: "y".repeat(65) },
      { deviceType: 0, state: 1 },
      [LOCK],
      null,
      "locked",
    ]) {
      assert.equal(canonicalCallbackBody(body), undefined, JSON.stringify(body));
    }
  });

  it("agrees with zod on 20000 generated bodies, and takes most valid ones itself", () => {
    const random = prng(0x5eed);
    const counts = { fast: 0, zodOnly: 0, rejected: 0 };
    for (let i = 0; i < 20000; i++) {
      const body = generate(random);
      for (const json of [body, viaJson(body)]) {
        const { fast, zod } = agree(json);
        if (fast) counts.fast++;
        else if (zod) counts.zodOnly++;
        else counts.rejected++;
      }
    }
    // every kind of outcome was exercised, so the comparison above had something to compare
    assert.ok(counts.fast > 1000 && counts.zodOnly > 500 && counts.rejected > 1000, JSON.stringify(counts));
  });
});
