"use strict";
const assert = require("node:assert/strict");
const { StateTracker, lockEventName } = require("../../dist/nodes/core/state-tracker.js");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema.js");

const lock = { id: "3E63C84D", name: "Front door", type: "lock" };
const ctx = (extra = {}) => ({ channel: "bridge", raw: { r: 1 }, receivedAt: Date.parse("2026-12-02T10:00:00Z"), ...extra });

describe("core/state-tracker", () => {
  it("answers a snapshot with one device.state and no diff events", () => {
    const t = new StateTracker("nuki");
    const events = t.update({ device: lock, lock: "locked", door: "closed", battery: { critical: false, level: 80 } }, ctx({ snapshot: true }));
    assert.deepEqual(events.map((e) => e.event), ["device.state"]);
    assert.equal(events[0].lock, "locked");
    assert.equal(events[0].previous, null);
    doorEventSchema.parse(events[0]);
  });

  it("emits one event per changed aspect, fills previous, and nothing for a repeated delivery", () => {
    const t = new StateTracker("nuki");
    t.update({ device: lock, lock: "locked", door: "closed" }, ctx({ snapshot: true }));
    const events = t.update({ device: lock, lock: "unlocked", door: "open" }, ctx());
    assert.deepEqual(events.map((e) => e.event), ["lock.unlocked", "door.opened"]);
    for (const e of events) {
      assert.deepEqual(e.previous, { lock: "locked", door: "closed" });
      assert.equal(e.lock, "unlocked");
      assert.equal(e.door, "open");
      assert.equal(e.topic, undefined);
      doorEventSchema.parse(e);
    }
    assert.deepEqual(t.update({ device: lock, lock: "unlocked", door: "open" }, ctx()), []);
  });

  it("keeps aspects a partial report does not mention", () => {
    const t = new StateTracker("nuki");
    t.update({ device: lock, lock: "locked", door: "closed", battery: { critical: false, level: 50, charging: false } }, ctx({ snapshot: true }));
    const [e] = t.update({ device: lock, door: "open" }, ctx());
    assert.equal(e.event, "door.opened");
    assert.equal(e.lock, "locked");
    assert.deepEqual(e.battery, { critical: false, level: 50, charging: false });
  });

  it("maps battery critical flips to battery.low / battery.ok and reports level and charging changes", () => {
    const t = new StateTracker("nuki");
    t.update({ device: lock, battery: { critical: false, level: 30, charging: false } }, ctx({ snapshot: true }));
    assert.deepEqual(t.update({ device: lock, battery: { critical: true, level: 20, charging: false } }, ctx()).map((e) => e.event), ["battery.low", "nuki.battery.level"]);
    assert.deepEqual(t.update({ device: lock, battery: { critical: false, level: 20, charging: true } }, ctx()).map((e) => e.event), ["battery.ok", "nuki.battery.charging"]);
    assert.deepEqual(t.update({ device: lock, battery: { charging: false } }, ctx()).map((e) => e.event), ["nuki.battery.charging_stopped"]);
  });

  it("keeps battery levels a device cannot mean (-1, 255, Infinity) out of the event", () => {
    const t = new StateTracker("nuki");
    for (const level of [-1, 101, 255, Infinity, NaN]) {
      const [e] = t.update({ device: lock, battery: { level } }, ctx({ snapshot: true }));
      assert.equal(e.battery.level, null, String(level));
      doorEventSchema.parse(e);
    }
  });

  it("ignores an unknown door state and unknown lock state without events, but keeps them", () => {
    const t = new StateTracker("nuki");
    t.update({ device: lock, lock: "locked", door: "closed" }, ctx({ snapshot: true }));
    assert.deepEqual(t.update({ device: lock, lock: "unknown", door: "unknown" }, ctx()), []);
    assert.equal(t.get(lock.id).door, "unknown");
    assert.deepEqual(t.update({ device: lock, door: "closed", lock: "locked" }, ctx()).map((e) => e.event), ["lock.locked", "door.closed"]);
  });

  it("names non-core lock states per vendor", () => {
    assert.equal(lockEventName("nuki", "jammed"), "lock.jammed");
    assert.equal(lockEventName("tedee", "uncalibrated"), "tedee.lock.uncalibrated");
    assert.equal(lockEventName("nuki", "unknown"), null);
  });

  it("reports flags as {vendor}.{flag}.on/off only after they were known", () => {
    const t = new StateTracker("nuki");
    const opener = { id: "1A2B3C4D", name: null, type: "opener" };
    assert.deepEqual(t.update({ device: opener, flags: { ring_to_open: false } }, ctx({ snapshot: true })).map((e) => e.event), ["device.state"]);
    assert.deepEqual(t.update({ device: opener, flags: { ring_to_open: true } }, ctx()).map((e) => e.event), ["nuki.ring_to_open.on"]);
    assert.deepEqual(t.update({ device: opener, flags: { ring_to_open: true } }, ctx()), []);
    assert.deepEqual(t.update({ device: opener, flags: { continuous_mode: true } }, ctx()), []);
    assert.deepEqual(t.update({ device: opener, flags: { continuous_mode: false } }, ctx()).map((e) => e.event), ["nuki.continuous_mode.off"]);
  });

  it("turns a new doorbell marker into doorbell.rang; an old marker of an unseen device is history", () => {
    const t = new StateTracker("nuki");
    const opener = { id: "1A2B3C4D", name: null, type: "opener" };
    assert.deepEqual(t.update({ device: opener, doorbell: "2020-04-27T16:13:00+00:00", doorbellAt: "2020-04-27T16:13:00+00:00" }, ctx()), []);
    const [rang] = t.update({ device: opener, doorbell: "2026-12-02T09:59:58+00:00" }, ctx());
    assert.equal(rang.event, "doorbell.rang");
    assert.deepEqual(t.update({ device: opener, doorbell: "2026-12-02T09:59:58+00:00" }, ctx()), []);
    const fresh = new StateTracker("nuki");
    const events = fresh.update({ device: opener, doorbell: "2026-12-02T09:59:58+00:00", doorbellAt: "2026-12-02T09:59:58+00:00" }, ctx());
    assert.deepEqual(events.map((e) => e.event), ["doorbell.rang"]);
  });

  it("reports connectivity changes, but not the first 'online'", () => {
    const t = new StateTracker("nuki");
    const bridge = { id: "123", name: "Nuki Bridge", type: "bridge" };
    assert.deepEqual(t.update({ device: bridge, online: true }, ctx()), []);
    assert.deepEqual(t.update({ device: bridge, online: false }, ctx()).map((e) => e.event), ["device.offline"]);
    assert.deepEqual(t.update({ device: bridge, online: true }, ctx()).map((e) => e.event), ["device.online"]);
  });

  it("gives stable ids: same vendor time and transition = same id; explicit happenings are deduplicated", () => {
    const a = new StateTracker("nuki");
    const b = new StateTracker("nuki");
    for (const t of [a, b]) t.update({ device: lock, lock: "locked" }, ctx({ snapshot: true }));
    const [x] = a.update({ device: lock, lock: "unlocked", at: "2026-12-02T09:00:00.000Z" }, ctx());
    const [y] = b.update({ device: lock, lock: "unlocked", at: "2026-12-02T09:00:00.000Z" }, ctx({ receivedAt: Date.now() }));
    assert.equal(x.id, y.id);
    assert.equal(x.at, "2026-12-02T09:00:00.000Z");
    const first = a.happening(lock, { event: "access.granted", vendorId: "log-1", actor: { type: "keypad", id: "7", name: "Anna" } }, ctx());
    assert.equal(first.event, "access.granted");
    assert.equal(first.lock, "unlocked");
    assert.equal(a.happening(lock, { event: "access.granted", vendorId: "log-1" }, ctx()), null);
  });

  it("attaches the report's actor to its lock event only", () => {
    const t = new StateTracker("nuki");
    t.update({ device: lock, lock: "locked", door: "closed" }, ctx({ snapshot: true }));
    const actor = { type: "app", id: null, name: "Anna" };
    const events = t.update({ device: lock, lock: "unlocked", door: "open", actor }, ctx());
    assert.deepEqual(events.find((e) => e.event === "lock.unlocked").actor, actor);
    assert.equal(events.find((e) => e.event === "door.opened").actor, null);
  });
});
