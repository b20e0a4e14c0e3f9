"use strict";
const assert = require("node:assert/strict");
const { DoorRegistry, doorRegistry } = require("../../dist/nodes/core/door-registry.js");

const ev = (over = {}) => ({
  event: "lock.unlocked", vendor: "nuki", channel: "bridge", device: { id: "3E63C84D", name: "Front door", type: "lock" },
  lock: "unlocked", door: "closed", battery: { critical: false, level: 80, charging: false }, actor: null,
  previous: { lock: "locked", door: "closed" }, at: "2026-12-02T10:00:00.000Z", receivedAt: "2026-12-02T10:00:00.010Z", id: "a", raw: {}, ...over,
});

describe("core/door-registry", () => {
  it("keeps the last state per vendor/device, and the last actor when later events have none", () => {
    const r = new DoorRegistry();
    r.record(ev({ actor: { type: "keypad", id: "1", name: "Anna" } }));
    r.record(ev({ id: "b", event: "door.opened", door: "open", at: "2026-12-02T10:00:05.000Z" }));
    const rec = r.find("nuki/3E63C84D");
    assert.equal(rec.lock, "unlocked");
    assert.equal(rec.door, "open");
    assert.equal(rec.event, "door.opened");
    assert.equal(rec.at, "2026-12-02T10:00:05.000Z");
    assert.deepEqual(rec.actor, { type: "keypad", id: "1", name: "Anna" });
  });

  it("finds by vendor/id, id or name (case-insensitive); ambiguous or unknown is null", () => {
    const r = new DoorRegistry();
    r.record(ev());
    r.record(ev({ vendor: "tedee", device: { id: "12345", name: "Back door", type: "lock" }, id: "t" }));
    assert.equal(r.find("3e63c84d").vendor, "nuki");
    assert.equal(r.find("back DOOR").vendor, "tedee");
    assert.equal(r.find("tedee/12345").device.id, "12345");
    assert.equal(r.find("nope"), null);
    r.record(ev({ vendor: "loqed", id: "l" }));
    assert.equal(r.find("3E63C84D"), null, "two vendors with that id");
    assert.equal(r.find("loqed/3E63C84D").vendor, "loqed");
    assert.deepEqual(r.all().map((x) => `${x.vendor}/${x.device.id}`), ["loqed/3E63C84D", "nuki/3E63C84D", "tedee/12345"]);
  });

  it("a follow-up only adds the actor; observers are told, and a failing observer breaks nothing", () => {
    const r = new DoorRegistry();
    const seen = [];
    r.subscribe(() => {
      throw new Error("observer bug");
    });
    const off = r.subscribe((record, event) => seen.push([record.event, event.update === true]));
    r.record(ev());
    r.record(ev({ actor: { type: "app", id: null, name: "Bob" }, update: true, at: "2026-12-02T10:00:09.000Z" }));
    assert.deepEqual(r.find("nuki/3E63C84D").actor, { type: "app", id: null, name: "Bob" });
    assert.equal(r.find("nuki/3E63C84D").at, "2026-12-02T10:00:00.000Z");
    off();
    r.record(ev({ id: "c", event: "lock.locked", lock: "locked" }));
    assert.deepEqual(seen, [["lock.unlocked", false], ["lock.unlocked", true]]);
  });

  it("is one instance per process", () => {
    assert.equal(doorRegistry(), doorRegistry());
  });
});
