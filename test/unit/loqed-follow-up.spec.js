"use strict";
// Cloud names for bridge events (nodes/loqed/follow-up.ts): per key slot follow-ups and the actorWait hold.
const assert = require("node:assert/strict");
const { CloudFollowUps, NamedActorHold, awaitsName } = require("../../dist/nodes/loqed/follow-up.js");

const T0 = Date.parse("2026-12-02T10:00:00Z");
function bridgeEvent(id, name, actor, atMs = T0, extra = {}) {
  const at = new Date(atMs).toISOString();
  return { id, event: name, vendor: "loqed", channel: "bridge", device: { id: "aabbccddeeff", name: null, type: "lock" }, lock: "unlocked", door: null, battery: null, actor, previous: null, at, receivedAt: at, raw: { n: id }, ...extra };
}
const app4 = { type: "app", id: "4", name: null };

describe("loqed/follow-up", () => {
  it("only bridge lock events with a key slot and no name await a name", () => {
    assert.equal(awaitsName(bridgeEvent("a", "lock.unlocked", app4)), true);
    assert.equal(awaitsName(bridgeEvent("a", "lock.unlocked", { ...app4, name: "Anna" })), false);
    assert.equal(awaitsName(bridgeEvent("a", "lock.unlocked", { type: "manual", id: null, name: null })), false);
    assert.equal(awaitsName(bridgeEvent("a", "lock.unlocked", null)), false);
    assert.equal(awaitsName(bridgeEvent("a", "battery.low", app4)), false);
    assert.equal(awaitsName(bridgeEvent("a", "lock.unlocked", app4, T0, { channel: "cloud" })), false);
  });

  it("attaches a cloud name to the bridge event of the same slot and event, once, keeping the bridge's actor type", () => {
    const f = new CloudFollowUps({ now: () => T0 + 5000 });
    f.remember(bridgeEvent("a", "lock.unlocked", app4));
    f.remember(bridgeEvent("b", "lock.unlocked", { type: "keypad", id: "3", name: null }, T0 + 100));
    assert.equal(f.attach("aabbccddeeff", ["lock.unlocked"], "5", "Bob", T0 + 2000), null, "another slot");
    assert.equal(f.attach("aabbccddeeff", ["lock.locked"], "4", "Anna", T0 + 2000), null, "another event");
    const follow = f.attach("aabbccddeeff", ["lock.unlocked"], "4", "Anna", T0 + 2000);
    assert.deepEqual({ id: follow.id, event: follow.event, update: follow.update, actor: follow.actor }, { id: "a", event: "lock.unlocked", update: true, actor: { type: "app", id: "4", name: "Anna" } });
    assert.equal(f.attach("aabbccddeeff", ["lock.unlocked"], "4", "Anna", T0 + 2100), null, "only once");
    assert.equal(f.isCopy(["lock.unlocked"], "4", T0 + 2100), true, "the cloud's second copy");
    assert.equal(f.isCopy(["lock.unlocked"], "3", T0 + 2100), false);
    assert.equal(f.isCopy(["lock.unlocked"], "4", T0 + 20_000), false, "a later change by the same key is news");
    assert.equal(f.attach("aabbccddeeff", ["lock.unlocked"], "3", "Jane", T0 + 60_000), null, "outside the window");
  });

  it("the hold sends a named event once, and an unnamed one at the deadline with its own actor", async () => {
    const sent = [];
    const hold = new NamedActorHold(40, (e) => sent.push(e), awaitsName);
    hold.push(bridgeEvent("a", "lock.unlocked", app4));
    hold.push(bridgeEvent("m", "lock.locked", { type: "manual", id: null, name: null }));
    assert.deepEqual(sent.map((e) => e.id), ["m"], "what cannot get a name passes at once");
    hold.push({ ...bridgeEvent("a", "lock.unlocked", { ...app4, name: "Anna" }), update: true });
    assert.deepEqual(sent[1].actor, { type: "app", id: "4", name: "Anna" });
    assert.equal(sent[1].update, undefined);
    hold.push(bridgeEvent("b", "lock.locking", app4));
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(sent[2].actor, app4, "released with the bridge's own actor");
    hold.push({ ...bridgeEvent("b", "lock.locking", { ...app4, name: "Anna" }), update: true });
    assert.equal(sent.length, 3, "a late follow-up is dropped");
    const direct = [];
    const passthrough = new NamedActorHold(0, (e) => direct.push(e), awaitsName);
    passthrough.push(bridgeEvent("c", "lock.unlocked", app4));
    passthrough.push({ ...bridgeEvent("c", "lock.unlocked", { ...app4, name: "Anna" }), update: true });
    assert.deepEqual(direct.map((e) => [e.actor.name, e.update === true]), [[null, false], ["Anna", true]]);
  });
});
