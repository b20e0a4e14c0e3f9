"use strict";
const assert = require("node:assert/strict");
const { toList, eventMatches, deviceMatches, matches } = require("../../dist/nodes/core/event-filter.js");

describe("core/event-filter", () => {
  it("reads lists from arrays and typed strings", () => {
    assert.deepEqual(toList(["a", " b ", ""]), ["a", "b"]);
    assert.deepEqual(toList("door., lock.unlatched  battery"), ["door.", "lock.unlatched", "battery"]);
    assert.deepEqual(toList(undefined), []);
  });
  it("matches names, prefixes and families", () => {
    assert.ok(eventMatches([], "door.opened"));
    assert.ok(eventMatches(["door."], "door.opened"));
    assert.ok(eventMatches(["door"], "door.closed"));
    assert.ok(!eventMatches(["door"], "doorbell.rang"));
    assert.ok(eventMatches(["lock.unlatched"], "lock.unlatched"));
    assert.ok(!eventMatches(["lock.unlatched"], "lock.unlocked"));
    assert.ok(eventMatches(["*"], "nuki.ring_to_open.on"));
  });
  it("matches device ids case-insensitively", () => {
    assert.ok(deviceMatches(["3e63c84d"], "3E63C84D"));
    assert.ok(!deviceMatches(["1A2B3C4D"], "3E63C84D"));
    assert.ok(matches({ devices: [], events: ["door."] }, { event: "door.opened", device: { id: "X" } }));
  });
});
