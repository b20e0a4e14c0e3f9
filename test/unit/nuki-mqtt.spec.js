"use strict";
// Nuki MQTT protocol: lockActionEvent vectors (research/nuki.md 3.3, 6.4), topic parsing into the shared
// tracker, retained values as a snapshot, actors announced before the state change, actions confirmed by
// commandResponse and state topics. Uses an in-memory transport; the broker round trip is in the node tests.
const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const { parseLockActionEvent, mqttActor } = require("../../dist/nodes/nuki/actors.js");
const { NukiMqttConnection, commandError } = require("../../dist/nodes/nuki/mqtt-connection.js");
const { NukiEventHub } = require("../../dist/nodes/nuki/event-hub.js");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema.js");

/** A transport a test can talk through: deliver() plays the broker, published records what the plugin sent. */
class FakeTransport extends EventEmitter {
  constructor() {
    super();
    this.connected = true;
    this.published = [];
    this.subscriptions = new Map();
  }
  subscribe(topic, onMessage) {
    this.subscriptions.set(topic, onMessage);
  }
  unsubscribe(topic) {
    this.subscriptions.delete(topic);
  }
  async publish(topic, payload, options) {
    this.published.push({ topic, payload, ...options });
    this.emit("published", { topic, payload });
  }
  deliver(topic, payload, retained = false) {
    for (const onMessage of this.subscriptions.values()) onMessage(topic, Buffer.from(payload), retained);
  }
}

const ID = "5C0FFEE1";

describe("nuki mqtt: lockActionEvent", () => {
  it("parses and maps every example of the spec and the fingerprint example", () => {
    const cases = [
      ["3,0,54321,12345,1", { action: 3, trigger: 0, authId: 54321, codeId: 12345, context: 1 }, "keypad", "54321"],
      ["1,0,54322,0,1", { action: 1, trigger: 0, authId: 54322, codeId: 0, context: 1 }, "auto", "54322"],
      ["4,2,0,0,0", { action: 4, trigger: 2, authId: 0, codeId: 0, context: 0 }, "button", null],
      ["90,2,0,0,2", { action: 90, trigger: 2, authId: 0, codeId: 0, context: 2 }, "button", null],
      ["3,3,54322,0,3", { action: 3, trigger: 3, authId: 54322, codeId: 0, context: 3 }, "fob", "54322"],
      ["3,0,195249,8193,2", { action: 3, trigger: 0, authId: 195249, codeId: 8193, context: 2 }, "fingerprint", "195249"],
    ];
    for (const [payload, parsed, type, id] of cases) {
      assert.deepEqual(parseLockActionEvent(payload), parsed, payload);
      assert.deepEqual(mqttActor(parsed, null), { type, id, name: null }, payload);
    }
    assert.equal(mqttActor(parseLockActionEvent("2,172,0,0,0"), null).type, "remote");
    assert.equal(mqttActor(parseLockActionEvent("2,1,0,0,0"), null).type, "manual");
    assert.equal(mqttActor(parseLockActionEvent("2,6,0,0,0"), null).type, "auto");
    assert.equal(mqttActor(parseLockActionEvent("1,0,7,0,0"), "Anna").name, "Anna");
    assert.deepEqual(mqttActor(parseLockActionEvent("3,0,0,77,1"), null), { type: "keypad", id: "code:77", name: null });
    for (const bad of ["", "1,2,3", "a,b,c,d,e", "1,2,3,4,5,6", "1,-2,3,4,5"]) assert.equal(parseLockActionEvent(bad), null, bad);
  });

  it("maps commandResponse codes to the contract's error codes", () => {
    assert.equal(commandError(0x45).code, "busy");
    assert.equal(commandError(0x20).code, "unauthorized");
    assert.equal(commandError(0x26).code, "rejected");
    assert.equal(commandError(0x23).code, "bad_request");
    assert.equal(commandError(0x44).code, "timeout");
    assert.equal(commandError(0x99).code, "rejected");
    assert.match(commandError(0x42).message, /motor blocked/);
  });
});

describe("nuki mqtt: connection", () => {
  let hub;
  let transport;
  let mqtt;
  let events;
  let warnings;

  beforeEach(() => {
    hub = new NukiEventHub();
    transport = new FakeTransport();
    warnings = [];
    mqtt = new NukiMqttConnection({ hub, transport, prefix: "nuki", settleMs: 20, responseTimeoutMs: 500, warn: (w) => warnings.push(w), authName: (id, auth) => (id === ID && auth === 195249 ? "Carla" : null) });
    events = [];
    hub.on("event", (e) => events.push(e));
    mqtt.start();
  });
  afterEach(() => mqtt.close());

  const waitFor = async (check, ms = 2000) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it("subscribes under the prefix and turns retained values into one device.state", async () => {
    assert.deepEqual([...transport.subscriptions.keys()], ["nuki/#"]);
    transport.deliver(`nuki/${ID}/deviceType`, "4", true);
    transport.deliver(`nuki/${ID}/state`, "1", true);
    transport.deliver(`nuki/${ID}/doorsensorState`, "2", true);
    transport.deliver(`nuki/${ID}/batteryChargeState`, "64", true);
    await waitFor(() => events.length === 1);
    assert.equal(events[0].event, "device.state");
    assert.equal(events[0].channel, "mqtt");
    assert.equal(events[0].device.id, ID);
    assert.equal(events[0].lock, "locked");
    assert.equal(events[0].door, "closed");
    assert.equal(events[0].battery.level, 64);
    assert.equal(doorEventSchema.safeParse(events[0]).success, true);
  });

  it("maps live state topics to events and ignores malformed payloads, foreign topics and bad ids", async () => {
    transport.deliver(`nuki/${ID}/state`, "1", true);
    transport.deliver(`nuki/${ID}/doorsensorState`, "2", true);
    await waitFor(() => events.length === 1);
    transport.deliver(`nuki/${ID}/doorsensorState`, "3");
    transport.deliver(`nuki/${ID}/state`, "254");
    transport.deliver(`nuki/${ID}/batteryCritical`, "true");
    transport.deliver(`nuki/${ID}/connected`, "false");
    transport.deliver(`nuki/${ID}/state`, "banana");
    transport.deliver(`nuki/${ID}/batteryChargeState`, "400");
    transport.deliver(`other/${ID}/state`, "3");
    transport.deliver(`nuki/NOT-HEX/state`, "3");
    transport.deliver(`nuki/${ID}/state/extra`, "3");
    transport.deliver(`nuki/${ID}/unknownTopic`, "3");
    assert.deepEqual(events.slice(1).map((e) => e.event), ["door.opened", "lock.jammed", "battery.low", "device.offline"]);
    for (const e of events) assert.equal(e.channel, "mqtt");
  });

  it("puts the lockActionEvent actor, with the auth name from the Web API, on the following state events", async () => {
    transport.deliver(`nuki/${ID}/state`, "1", true);
    await waitFor(() => events.length === 1);
    transport.deliver(`nuki/${ID}/lockActionEvent`, "3,0,195249,8193,2");
    transport.deliver(`nuki/${ID}/state`, "7");
    transport.deliver(`nuki/${ID}/state`, "3");
    const actor = { type: "fingerprint", id: "195249", name: "Carla" };
    assert.deepEqual(events.slice(1).map((e) => [e.event, e.actor]), [["lock.unlatching", actor], ["lock.unlocked", actor]]);
  });

  it("makes a follow-up when another channel already sent the lock event", () => {
    hub.publish(hub.tracker.update({ device: { id: ID, name: null, type: "lock" }, lock: "unlocked" }, { channel: "bridge", raw: {} }));
    transport.deliver(`nuki/${ID}/lockActionEvent`, "1,1,0,0,0");
    assert.equal(events.length, 2);
    assert.equal(events[1].update, true);
    assert.equal(events[1].id, events[0].id);
    assert.deepEqual(events[1].actor, { type: "manual", id: null, name: null });
  });

  it("a hub without correlation (bridge only) remembers nothing to match: no follow-up, no ring seen before", () => {
    const bridgeOnly = new NukiEventHub({ correlate: false });
    const sent = [];
    bridgeOnly.on("event", (e) => sent.push(e));
    const events = bridgeOnly.tracker.update({ device: { id: ID, name: null, type: "lock" }, lock: "unlocked" }, { channel: "bridge", raw: {} });
    bridgeOnly.publish(events);
    assert.equal(sent.length, 1);
    const atMs = Date.parse(sent[0].at);
    assert.equal(bridgeOnly.attachActor(ID, ["lock.unlocked"], atMs, { type: "manual", id: null, name: null }), "none");
    assert.equal(bridgeOnly.sent(ID, "lock.unlocked", atMs), false);
    assert.equal(sent.length, 1);
    // the default hub (another channel configured) does match the same happening
    const correlating = new NukiEventHub();
    correlating.publish(correlating.tracker.update({ device: { id: ID, name: null, type: "lock" }, lock: "unlocked" }, { channel: "bridge", raw: {} }));
    assert.equal(correlating.sent(ID, "lock.unlocked", atMs, 60_000), true);
    assert.equal(correlating.attachActor(ID, ["lock.unlocked"], atMs, { type: "manual", id: null, name: null }), "merged");
  });

  it("reports button and fob presses without a lock action, and warns about malformed events instead of emitting", () => {
    transport.deliver(`nuki/${ID}/lockActionEvent`, "90,2,0,0,2");
    transport.deliver(`nuki/${ID}/lockActionEvent`, "garbage");
    assert.deepEqual(events.map((e) => [e.event, e.actor.type]), [["nuki.button.pressed", "button"]]);
    assert.equal(warnings.length, 1);
  });

  it("sends lockAction with QoS 2, not retained, and confirms by commandResponse and state", async () => {
    transport.deliver(`nuki/${ID}/state`, "1", true);
    transport.on("published", ({ topic, payload }) => {
      assert.equal(topic, `nuki/${ID}/lockAction`);
      setImmediate(() => {
        transport.deliver(`nuki/${ID}/lockActionEvent`, `${payload},172,0,0,0`);
        transport.deliver(`nuki/${ID}/commandResponse`, "0");
        transport.deliver(`nuki/${ID}/state`, "2");
        setTimeout(() => transport.deliver(`nuki/${ID}/state`, "3"), 20);
      });
    });
    const result = await mqtt.perform(ID, "unlock", { confirm: true, timeoutMs: 2000 });
    assert.deepEqual(result, { device: ID, action: "unlock", confirmed: true, lock: "unlocked", door: null });
    assert.deepEqual(transport.published, [{ topic: `nuki/${ID}/lockAction`, payload: "1", qos: 2, retain: false }]);
    assert.equal(events.find((e) => e.event === "lock.unlocked").actor.type, "remote");
  });

  it("fails with the contract's codes: refused command, unknown device, Opener action, broker down, lock offline", async () => {
    transport.deliver(`nuki/${ID}/state`, "1", true);
    transport.once("published", () => setImmediate(() => transport.deliver(`nuki/${ID}/commandResponse`, "38")));
    await assert.rejects(mqtt.perform(ID, "unlock", { confirm: true, timeoutMs: 2000 }), (err) => err.code === "rejected" && /remote access not allowed/.test(err.message));
    await assert.rejects(mqtt.perform("00ABCDEF", "unlock", { confirm: true, timeoutMs: 500 }), { code: "not_found" });
    await assert.rejects(mqtt.perform(ID, "continuous_mode_on", { confirm: true, timeoutMs: 500 }), { code: "unsupported" });
    await assert.rejects(mqtt.perform("nope", "unlock", { confirm: true, timeoutMs: 500 }), { code: "bad_request" });
    transport.deliver(`nuki/${ID}/connected`, "false");
    await assert.rejects(mqtt.perform(ID, "lock", { confirm: true, timeoutMs: 500 }), { code: "offline" });
    transport.connected = false;
    await assert.rejects(mqtt.perform(ID, "lock", { confirm: true, timeoutMs: 500 }), { code: "unreachable" });
  });

  it("is not confirmed when the lock never answers", async () => {
    transport.deliver(`nuki/${ID}/state`, "1", true);
    const result = await mqtt.perform(ID, "unlock", { confirm: true, timeoutMs: 300 });
    assert.equal(result.confirmed, false);
    assert.equal(result.lock, "locked");
  });
});
