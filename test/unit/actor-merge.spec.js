"use strict";
const assert = require("node:assert/strict");
const { ActorMerger, ActorHold } = require("../../dist/nodes/core/actor-merge.js");

function event(id, name, at, extra = {}) {
  return { id, event: name, vendor: "nuki", channel: "bridge", device: { id: "3E63C84D", name: null, type: "lock" }, lock: "unlocked", door: null, battery: null, actor: null, previous: null, at, receivedAt: at, raw: {}, ...extra };
}
const anna = { type: "keypad", id: "7", name: "Anna" };

describe("core/actor-merge", () => {
  it("turns a later actor report into a follow-up with the same id and update: true", () => {
    const m = new ActorMerger({ windowMs: 30_000, now: () => Date.parse("2026-12-02T10:01:00Z") });
    m.remember(event("a", "lock.unlocked", "2026-12-02T10:00:00.000Z"));
    m.remember(event("b", "door.opened", "2026-12-02T10:00:05.000Z"));
    const follow = m.attach("3E63C84D", ["lock.unlocked", "lock.unlatched"], Date.parse("2026-12-02T10:00:03Z"), anna);
    assert.equal(follow.id, "a");
    assert.equal(follow.event, "lock.unlocked");
    assert.equal(follow.update, true);
    assert.deepEqual(follow.actor, anna);
    assert.equal(m.isEnriched("a"), true);
    assert.equal(m.attach("3E63C84D", ["lock.unlocked"], Date.parse("2026-12-02T10:00:03Z"), anna), null, "only once");
  });

  it("does not match outside the window, another device or another event", () => {
    const m = new ActorMerger({ windowMs: 10_000, now: () => Date.parse("2026-12-02T10:00:30Z") });
    m.remember(event("a", "lock.unlocked", "2026-12-02T10:00:00.000Z"));
    assert.equal(m.attach("3E63C84D", ["lock.unlocked"], Date.parse("2026-12-02T10:00:20Z"), anna), null);
    assert.equal(m.attach("00000001", ["lock.unlocked"], Date.parse("2026-12-02T10:00:01Z"), anna), null);
    assert.equal(m.attach("3E63C84D", ["lock.locked"], Date.parse("2026-12-02T10:00:01Z"), anna), null);
    m.remember(event("c", "lock.unlocked", "2026-12-02T10:00:00.000Z", { actor: anna }));
    assert.equal(m.isEnriched("c"), false);
  });

  it("ActorHold with 0 passes everything through, follow-ups included", () => {
    const sent = [];
    const hold = new ActorHold(0, (e) => sent.push(e), () => true);
    hold.push(event("a", "lock.unlocked", "2026-12-02T10:00:00.000Z"));
    hold.push({ ...event("a", "lock.unlocked", "2026-12-02T10:00:00.000Z"), actor: anna, update: true });
    assert.equal(sent.length, 2);
    assert.equal(sent[1].update, true);
  });

  it("ActorHold > 0 merges a follow-up that arrives in time and sends once; releases at the deadline otherwise", async () => {
    const sent = [];
    const hold = new ActorHold(50, (e) => sent.push(e), (e) => e.event.startsWith("lock."));
    hold.push(event("a", "lock.unlocked", "2026-12-02T10:00:00.000Z"));
    hold.push(event("d", "door.opened", "2026-12-02T10:00:00.000Z"));
    assert.deepEqual(sent.map((e) => e.id), ["d"], "door events pass at once");
    hold.push({ ...event("a", "lock.unlocked", "2026-12-02T10:00:00.000Z"), actor: anna, update: true });
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[1].actor, anna);
    assert.equal(sent[1].update, undefined, "sent once, so not an update");
    hold.push(event("b", "lock.locked", "2026-12-02T10:00:10.000Z"));
    await new Promise((r) => setTimeout(r, 90));
    assert.deepEqual(sent.map((e) => e.id), ["d", "a", "b"]);
    hold.push({ ...event("b", "lock.locked", "2026-12-02T10:00:10.000Z"), actor: anna, update: true });
    assert.equal(sent.length, 3, "late follow-up dropped");
    hold.push(event("c", "lock.locked", "2026-12-02T10:00:20.000Z"));
    hold.flush();
    assert.equal(sent.length, 4);
  });
});
