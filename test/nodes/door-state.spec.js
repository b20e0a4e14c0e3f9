"use strict";
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const { initTestHelper } = require("../helpers/node-red-path");
const doorState = require("../../dist/nodes/door-state.js");
const { doorRegistry } = require("../../dist/nodes/core/door-registry.js");

initTestHelper(helper);

const event = (over = {}) => ({
  event: "door.opened", vendor: "nuki", channel: "bridge", device: { id: "3E63C84D", name: "Front door", type: "lock" },
  lock: "unlocked", door: "open", battery: null, actor: null, previous: null,
  at: "2026-12-02T10:00:00.000Z", receivedAt: "2026-12-02T10:00:00.000Z", id: `e${Math.random()}`, raw: {}, ...over,
});

function next(node) {
  return new Promise((resolve) => node.once("input", resolve));
}

describe("door-state node", function () {
  beforeEach(() => doorRegistry().clear());
  afterEach(() => helper.unload());

  it("answers one device by id, vendor/id or name, null when unseen, and all devices without a device", async () => {
    await helper.load(doorState, [{ id: "ds", type: "door-state", wires: [["out"]] }, { id: "out", type: "helper" }]);
    doorRegistry().record(event());
    doorRegistry().record(event({ vendor: "tedee", device: { id: "777", name: "Garage", type: "lock" }, lock: "locked", door: "closed" }));
    const ds = helper.getNode("ds");
    const out = helper.getNode("out");
    let got = next(out);
    ds.receive({ payload: { device: "3E63C84D" } });
    let msg = await got;
    assert.equal(msg.found, true);
    assert.equal(msg.topic, "nuki/3E63C84D");
    assert.equal(msg.payload.door, "open");
    got = next(out);
    ds.receive({ payload: "garage" });
    assert.equal((await got).payload.vendor, "tedee");
    got = next(out);
    ds.receive({ payload: { device: "nope" } });
    msg = await got;
    assert.equal(msg.payload, null);
    assert.equal(msg.found, false);
    got = next(out);
    ds.receive({ payload: {} });
    msg = await got;
    assert.deepEqual(msg.payload.map((r) => r.vendor), ["nuki", "tedee"]);
  });

  it("emits on change for its device only, and keeps state across a redeploy", async () => {
    const flow = [{ id: "ds", type: "door-state", device: "3E63C84D", emitOnChange: true, wires: [["out"]] }, { id: "out", type: "helper" }];
    await helper.load(doorState, flow);
    const out = helper.getNode("out");
    const seen = [];
    out.on("input", (m) => seen.push(m));
    doorRegistry().record(event({ vendor: "tedee", device: { id: "777", name: "Garage", type: "lock" } }));
    doorRegistry().record(event());
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(seen.length, 1);
    assert.equal(seen[0].event, "door.opened");
    assert.equal(seen[0].payload.device.id, "3E63C84D");
    await helper.setFlows(flow, "full");
    const out2 = helper.getNode("out");
    const got = next(out2);
    helper.getNode("ds").receive({ payload: null });
    assert.equal((await got).payload.lock, "unlocked", "state survived the redeploy");
  });
});
