"use strict";
// Property tests of the vendor-neutral core: the state tracker (random report sequences), listener filters,
// the route registry's secret matching, and redactUrl. Seed: FUZZ_SEED=<n> reproduces a run.
const assert = require("node:assert/strict");
const http = require("node:http");
const express = require("express");
const fc = require("fast-check");
const { StateTracker, lockEventName } = require("../../dist/nodes/core/state-tracker");
const { LOCK_STATES, DOOR_STATES, ACTOR_TYPES } = require("../../dist/nodes/core/door-event");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema");
const { toList, eventMatches, deviceMatches, matches } = require("../../dist/nodes/core/event-filter");
const { RouteRegistry, routePath } = require("../../dist/nodes/core/route-registry");
const { buildCallbackUrl, redactUrl, generateRouteSecret } = require("../../dist/nodes/core/callback-url");
const { serve, post, oddString, encodable } = require("./fuzz-helpers");

const SEED = Number(process.env.FUZZ_SEED) || 0x5eed;
const T0 = Date.parse("2026-12-02T10:00:00.000Z");
const VENDOR = "nuki";

// ---- state tracker ---------------------------------------------------------------------------------------

const DEVICES = [
  { id: "3E63C84D", name: "Front door", type: "lock" },
  { id: "1A2B3C4D", name: null, type: "opener" },
  { id: "00000001", name: "Back door", type: "lock" },
];
const FLAGS = ["ring_to_open", "continuous_mode", "keypad_battery_low"];
const MARKERS = ["2026-12-02T09:59:58+00:00", "2026-12-02T10:00:30+00:00", "2020-01-01T00:00:00+00:00", "x"];
const VENDOR_TIMES = ["2026-12-02T09:00:00.000Z", "2026-12-02T09:30:00.000Z"];

const maybe = (arb, undefinedWeight = 2) => fc.oneof({ weight: undefinedWeight, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: arb });

/** One report; `withAt` adds vendor times from a small pool (then the same happening may repeat on purpose). */
const reportArb = (withAt) =>
  fc
    .record({
      device: fc.constantFrom(...DEVICES),
      lock: maybe(fc.oneof(fc.constantFrom(...LOCK_STATES), fc.constant(null))),
      door: maybe(fc.oneof(fc.constantFrom(...DOOR_STATES), fc.constant(null))),
      battery: maybe(fc.record({ critical: maybe(fc.oneof(fc.boolean(), fc.constant(null)), 1), level: maybe(fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(null)), 1), charging: maybe(fc.oneof(fc.boolean(), fc.constant(null)), 1) })),
      online: maybe(fc.boolean()),
      flags: maybe(fc.dictionary(fc.constantFrom(...FLAGS), maybe(fc.boolean(), 1), { maxKeys: 3 })),
      doorbell: maybe(fc.oneof(fc.constantFrom(...MARKERS), fc.constant(null)), 4),
      actor: maybe(fc.record({ type: fc.constantFrom(...ACTOR_TYPES), id: fc.option(fc.string()), name: fc.option(fc.string()) }), 4),
      at: withAt ? maybe(fc.constantFrom(...VENDOR_TIMES), 1) : fc.constant(undefined),
    })
    .map((report) => {
      for (const key of Object.keys(report)) if (report[key] === undefined) delete report[key];
      if (report.doorbell !== undefined) report.doorbellAt = report.doorbell;
      return report;
    });

/** A step: a report, how many ms after the previous one it arrives, whether it is a snapshot, a re-delivery. */
const stepsArb = (withAt) =>
  fc.array(
    fc.record({
      report: reportArb(withAt),
      dt: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 120000 })),
      snapshot: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      again: fc.boolean(),
    }),
    { minLength: 1, maxLength: 40 },
  );

const copy = (state) => (state === undefined ? undefined : JSON.parse(JSON.stringify(state)));

/** The aspect an event name says changed, and whether it really changed between `prior` and `after`. */
function aspectChanged(name, prior, after) {
  const battery = (key) => (prior?.battery?.[key] ?? null) !== (after.battery?.[key] ?? null);
  if (name.startsWith("lock.") || name === `${VENDOR}.lock.uncalibrated`) return (prior?.lock ?? null) !== after.lock && lockEventName(VENDOR, after.lock) === name;
  if (name === "door.opened") return (prior?.door ?? null) !== "open" && after.door === "open";
  if (name === "door.closed") return (prior?.door ?? null) !== "closed" && after.door === "closed";
  if (name === "battery.low") return battery("critical") && after.battery.critical === true;
  if (name === "battery.ok") return battery("critical") && after.battery.critical === false;
  if (name === `${VENDOR}.battery.charging` || name === `${VENDOR}.battery.charging_stopped`) return battery("charging");
  if (name === `${VENDOR}.battery.level`) return battery("level");
  if (name === "device.online" || name === "device.offline") return (prior?.online ?? null) !== after.online;
  if (name === "doorbell.rang") return prior?.doorbell !== after.doorbell;
  const flag = new RegExp(`^${VENDOR}\\.(.+)\\.(on|off)$`).exec(name);
  if (flag) return prior?.flags?.[flag[1]] !== undefined && prior.flags[flag[1]] !== after.flags[flag[1]] && after.flags[flag[1]] === (flag[2] === "on");
  return false;
}

/** Runs the steps on a fresh tracker; returns every step's events (and checks the per-step properties). */
function run(steps, { check = true } = {}) {
  const tracker = new StateTracker(VENDOR, { now: () => T0 });
  const out = [];
  const seen = new Set();
  let t = T0;
  for (const step of steps) {
    t += step.dt;
    const id = step.report.device.id;
    const prior = copy(tracker.get(id));
    const context = { channel: "bridge", raw: { step: out.length }, receivedAt: t, ...(step.snapshot ? { snapshot: true } : {}) };
    const events = tracker.update(step.report, context);
    out.push(events);
    const after = tracker.get(id);
    if (!check) continue;
    for (const event of events) {
      const parsed = doorEventSchema.safeParse(event);
      assert.ok(parsed.success, `${event.event} breaks the schema: ${parsed.error && JSON.stringify(parsed.error.issues)}`);
      assert.deepEqual(event.previous, prior ? { lock: prior.lock, door: prior.door } : null, "previous is the prior state");
      assert.equal(event.lock, after.lock, "lock is the state after");
      assert.equal(event.door, after.door, "door is the state after");
      assert.equal(event.device.id, id);
      assert.equal(event.raw, context.raw);
      assert.equal(event.receivedAt, new Date(t).toISOString());
      if (step.snapshot) assert.equal(event.event, "device.state");
      else assert.ok(aspectChanged(event.event, prior, after), `${event.event} although that aspect did not change: ${JSON.stringify({ prior, after })}`);
      if (!step.snapshot) {
        assert.ok(!seen.has(event.id), `event id ${event.id} emitted twice`);
        seen.add(event.id);
      }
      if (event.actor !== null) assert.ok(event.event.startsWith("lock.") || event.event === `${VENDOR}.lock.uncalibrated`, "the actor goes with lock events only");
    }
    if (step.snapshot) assert.equal(events.length, 1);
    if (step.again && !step.snapshot) {
      // the same report delivered again (the same body a moment later) changes nothing and says nothing
      assert.deepEqual(tracker.update(step.report, { channel: "bridge", raw: {}, receivedAt: t }), [], "a repeated delivery yields nothing");
      assert.deepEqual(copy(tracker.get(id)).lock, after.lock);
    }
  }
  return out;
}

describe("core properties (fast-check)", function () {
  this.timeout(60000);

  describe("StateTracker on random report sequences", function () {
    it("emits only for changed aspects, previous = the prior state, repeated deliveries yield nothing, valid events", function () {
      fc.assert(fc.property(stepsArb(true), (steps) => void run(steps)), { numRuns: 1500, seed: SEED });
    });

    it("without vendor times every change to an eventful lock or door state yields its event, exactly once", function () {
      fc.assert(
        fc.property(stepsArb(false), (steps) => {
          const tracker = new StateTracker(VENDOR);
          let t = T0;
          for (const step of steps) {
            t += step.dt;
            const prior = copy(tracker.get(step.report.device.id));
            const names = tracker.update(step.report, { channel: "bridge", raw: null, receivedAt: t }).map((e) => e.event);
            const after = tracker.get(step.report.device.id);
            const lockName = after.lock === null ? null : lockEventName(VENDOR, after.lock);
            const lockEvents = names.filter((n) => n.startsWith("lock.") || n === `${VENDOR}.lock.uncalibrated`);
            assert.deepEqual(lockEvents, lockName && (prior?.lock ?? null) !== after.lock ? [lockName] : []);
            const doorEvents = names.filter((n) => n.startsWith("door."));
            const doorChanged = (prior?.door ?? null) !== after.door && (after.door === "open" || after.door === "closed");
            assert.deepEqual(doorEvents, doorChanged ? [after.door === "open" ? "door.opened" : "door.closed"] : []);
          }
        }),
        { numRuns: 1500, seed: SEED + 1 },
      );
    });

    it("ids are deterministic: the same sequence at the same times gives the same events and ids", function () {
      fc.assert(
        fc.property(stepsArb(true), (steps) => {
          const first = run(steps, { check: false });
          const second = run(steps, { check: false });
          assert.deepEqual(second, first);
          const ids = first.flat().map((e) => e.id);
          for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/);
        }),
        { numRuns: 500, seed: SEED + 2 },
      );
    });

    it("a re-delivered happening (same vendorId) yields null, a new one an event", function () {
      fc.assert(
        fc.property(fc.constantFrom(...DEVICES), fc.array(fc.constantFrom("a", "b", "c", "d"), { minLength: 1, maxLength: 30 }), (device, vendorIds) => {
          const tracker = new StateTracker(VENDOR, { now: () => T0 });
          const seen = new Set();
          for (const vendorId of vendorIds) {
            const event = tracker.happening(device, { event: "access.granted", vendorId }, { channel: "web", raw: {} });
            if (seen.has(vendorId)) assert.equal(event, null);
            else {
              assert.ok(doorEventSchema.safeParse(event).success);
              seen.add(vendorId);
            }
          }
        }),
        { numRuns: 500, seed: SEED + 3 },
      );
    });
  });

  describe("listener filters", function () {
    const segment = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
    const eventName = fc.array(segment, { minLength: 2, maxLength: 4 }).map((parts) => parts.join("."));

    it("toList never throws on JSON values and yields trimmed, non-empty strings", function () {
      fc.assert(
        fc.property(fc.oneof(fc.jsonValue(), oddString(), fc.array(oddString())), (value) => {
          const list = toList(value);
          assert.ok(Array.isArray(list));
          for (const item of list) {
            assert.equal(typeof item, "string");
            assert.ok(item.length > 0 && item === item.trim());
            if (typeof value === "string") assert.ok(!/[\s,]/.test(item));
          }
        }),
        { numRuns: 2000, seed: SEED + 4 },
      );
    });

    it("empty and * match everything; a name, its families and prefixes match it; a partial segment never does", function () {
      fc.assert(
        fc.property(eventName, fc.array(fc.oneof(eventName, segment, fc.constant("*")), { maxLength: 4 }), fc.integer({ min: 1, max: 3 }), (name, others, cut) => {
          assert.ok(eventMatches([], name));
          assert.ok(eventMatches(["*"], name));
          assert.ok(eventMatches([name], name));
          const parts = name.split(".");
          const family = parts.slice(0, Math.min(cut, parts.length - 1)).join(".");
          assert.ok(eventMatches([family], name), `family ${family}`);
          assert.ok(eventMatches([`${family}.`], name), `prefix ${family}.`);
          // "door" never matches "doorbell.rang": cutting inside a segment is no prefix
          const last = parts[parts.length - 1];
          if (last.length > 1) assert.ok(!eventMatches([`${parts.slice(0, -1).join(".")}.${last.slice(0, -1)}`], name));
          const partial = parts[0].slice(0, -1);
          if (partial && !others.length) assert.ok(!eventMatches([partial], name));
          // adding filters never removes a match
          if (eventMatches(others, name)) assert.ok(eventMatches([...others, family], name));
          assert.ok(eventMatches([...others, name], name));
        }),
        { numRuns: 2000, seed: SEED + 5 },
      );
    });

    it("device filters compare ids case-insensitively; matches needs both", function () {
      fc.assert(
        fc.property(fc.stringMatching(/^[0-9A-F]{8}$/), fc.array(fc.stringMatching(/^[0-9a-fA-F]{8}$/), { maxLength: 3 }), eventName, (id, devices, name) => {
          assert.ok(deviceMatches([], id));
          assert.ok(deviceMatches([id.toLowerCase()], id));
          assert.equal(deviceMatches(devices, id), devices.length === 0 || devices.some((d) => d.toUpperCase() === id));
          assert.equal(matches({ devices, events: [] }, { event: name, device: { id } }), deviceMatches(devices, id));
        }),
        { numRuns: 2000, seed: SEED + 6 },
      );
    });
  });

  describe("route registry secret matching", function () {
    let app;
    let registry;
    let served;
    let agent;
    before(async function () {
      app = express();
      registry = RouteRegistry.for(app, "tedee");
      served = await serve(app);
      agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    });
    after(async function () {
      agent.destroy();
      await served.close();
    });

    const postTo = (urlPath) => post({ port: served.port, agent, path: urlPath, bytes: Buffer.from("{}"), contentType: "application/json" });
    const secretArb = fc.oneof(
      fc.constant(null).map(() => generateRouteSecret()),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      oddString({ minLength: 1, maxLength: 30 }).filter(encodable),
      fc.string({ minLength: 1, maxLength: 300 }),
    );

    it("only the exact registered secret (as routePath encodes it) matches; near misses of any length are 404, never 5xx", async function () {
      let requests = 0;
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(secretArb, { minLength: 1, maxLength: 4 }), fc.array(secretArb.filter(encodable), { maxLength: 3 }), async (secrets, probes) => {
          const remove = secrets.map((secret, i) => registry.register(secret, "bridge", () => ({ status: 200, body: String(i) })));
          try {
            const nearMisses = secrets.flatMap((s) => [s.slice(0, -1), `${s}x`, s.toUpperCase(), s.toLowerCase(), ` ${s}`, s.replace(/^./u, "_")]);
            for (const probe of [...secrets, ...probes, ...nearMisses]) {
              if (probe === "" || !encodable(probe)) continue;
              const answer = await postTo(routePath("/", "tedee", probe, "bridge"));
              requests++;
              const index = secrets.indexOf(probe);
              if (index >= 0) {
                assert.equal(answer.status, 200, `registered ${JSON.stringify(probe)}`);
                assert.equal(answer.text, String(index), "the handler of that secret");
              } else assert.equal(answer.status, 404, `${JSON.stringify(probe)} is not registered (of ${JSON.stringify(secrets)})`);
            }
            // the right secret on another channel is just as unknown
            assert.equal((await postTo(routePath("/", "tedee", secrets[0], "cloud"))).status, 404);
          } finally {
            for (const r of remove) r();
          }
          assert.equal(registry.size, 0);
        }),
        { numRuns: 150, seed: SEED + 7 },
      );
      this.test.title += ` [${requests} requests]`;
    });

    it("any raw path below the vendor prefix answers 404, never 5xx, and never reaches a handler", async function () {
      let called = 0;
      const secret = generateRouteSecret();
      const remove = registry.register(secret, "bridge", () => {
        called++;
        return { status: 200 };
      });
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              fc.webPath(),
              fc.array(fc.oneof(fc.stringMatching(/^[A-Za-z0-9%._~!$&'()*+,;=:@-]{0,40}$/), fc.constantFrom("%", "%2", "%zz", "%00", "%2F", "..", ".", "%E0%A4%A", "%C0%AF")), { maxLength: 5 }).map((parts) => "/" + parts.join("/")),
            ),
            async (tail) => {
              const urlPath = `/smartlocks/tedee${tail.startsWith("/") ? "" : "/"}${tail}`;
              if (urlPath.includes(secret)) return;
              const answer = await postTo(urlPath);
              assert.equal(answer.status, 404, urlPath);
            },
          ),
          { numRuns: 400, seed: SEED + 8 },
        );
      } finally {
        remove();
      }
      assert.equal(called, 0);
    });
  });

  describe("redactUrl", function () {
    const secretArb = fc.stringMatching(/^[A-Za-z0-9_-]{22,40}$/);
    const vendorArb = fc.oneof(fc.constantFrom("nuki", "loqed", "tedee", "unifi-access"), fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,12}$/));
    const channelArb = fc.oneof(fc.constantFrom("bridge", "web", "cloud", "webhook"), fc.stringMatching(/^[a-z]{1,10}$/));
    const baseArb = fc.webUrl({ validSchemes: ["http", "https"], withQueryParameters: false, withFragments: false });

    async function callbackUrl({ base, secret, vendor, channel, httpNodeRoot = "/" }) {
      try {
        return await buildCallbackUrl({ callbackUrl: base, deviceHost: "192.168.1.20", devicePort: 8080, nodeRedPort: 1880, httpNodeRoot, vendor, secret, channel });
      } catch {
        return null; // a base buildCallbackUrl refuses
      }
    }

    it("never leaves the secret in a callback URL, alone or among other text", async function () {
      let urls = 0;
      await fc.assert(
        fc.asyncProperty(
          baseArb.filter((b) => !/\/smartlocks\//i.test(b)),
          secretArb,
          vendorArb,
          channelArb,
          fc.array(baseArb, { maxLength: 2 }),
          async (base, secret, vendor, channel, others) => {
            const url = await callbackUrl({ base, secret, vendor, channel });
            if (url === null) return;
            if (base.includes(secret)) return;
            urls++;
            const redacted = redactUrl(url);
            assert.ok(!redacted.includes(secret), `${url} → ${redacted}`);
            assert.ok(redacted.endsWith(`/smartlocks/${vendor}/***/${channel}`), redacted);
            const text = [...others, url, `#1 ${url}`, `${url}?x=1`].join(", ");
            assert.ok(!redactUrl(text).includes(secret));
          },
        ),
        { numRuns: 1000, seed: SEED + 9 },
      );
      assert.ok(urls > 500, `only ${urls} URLs were built`);
      this.test.title += ` [${urls} URLs]`;
    });

    // Found by the property above with bases that have "/smartlocks/…" in their path. The regex in
    // nodes/core/callback-url.ts consumes "/smartlocks/{x}/smartlocks" as one match, so the real
    // "/smartlocks/{vendor}/{secret}" after it is left alone. A fix: match with a look-behind so overlapping
    // occurrences are all redacted, e.g. url.replace(/(?<=\/smartlocks\/[^/?#]+\/)[^/?#]+/g, "***").
    it("redactUrl hides the secret also when the callback base path contains /smartlocks/<x>", async function () {
      await fc.assert(
        fc.asyncProperty(secretArb, vendorArb, channelArb, fc.stringMatching(/^[a-z]{1,8}$/), async (secret, vendor, channel, x) => {
          const url = await callbackUrl({ base: `http://192.168.1.5:1880/smartlocks/${x}`, secret, vendor, channel });
          assert.ok(!redactUrl(url).includes(secret), `${url} → ${redactUrl(url)}`);
        }),
        { numRuns: 100, seed: SEED + 10 },
      );
    });
  });
});
