"use strict";

// deliverDoorEvent's status: every event is sent, but the "last event" status reaches Node-RED at most once per
// EVENT_STATUS_INTERVAL_MS, the newest one of a burst at the end of the interval; connection statuses win and a
// closed listener gets no late status.

const assert = require("node:assert/strict");
const { deliverDoorEvent, setListenerStatus, closeListenerOutput, EVENT_STATUS_INTERVAL_MS } = require("../../dist/nodes/glue/listener-output");

function fakeNode() {
  const node = { sent: [], statuses: [], warnings: [] };
  node.send = (msg) => node.sent.push(msg);
  node.status = (value) => node.statuses.push(value);
  node.warn = (text) => node.warnings.push(text);
  return node;
}

let counter = 0;
function event(name) {
  counter += 1;
  const at = new Date(Date.UTC(2026, 11, 2, 10, 0, counter % 60)).toISOString();
  return {
    event: name,
    vendor: "nuki",
    channel: "bridge",
    device: { id: `LO${counter}`, type: "smartlock", name: null },
    lock: "locked",
    door: "closed",
    battery: null,
    actor: null,
    previous: null,
    at,
    receivedAt: at,
    id: `id-${counter}`,
    raw: {},
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const texts = (node) => node.statuses.map((s) => s.text ?? "");

/** Waits (polling) until the node has `count` statuses; on a busy machine timers fire late, so no fixed sleeps. */
async function statusCount(node, count, timeoutMs = EVENT_STATUS_INTERVAL_MS * 3) {
  const deadline = Date.now() + timeoutMs;
  while (node.statuses.length < count && Date.now() < deadline) await sleep(10);
  return node.statuses.length;
}

describe("listener output", function () {
  this.timeout(EVENT_STATUS_INTERVAL_MS * 8);

  it("sends every event but shows the first of a burst at once and the newest one when the interval ends", async function () {
    const node = fakeNode();
    const began = Date.now();
    deliverDoorEvent(node, event("door.opened"));
    for (let i = 0; i < 50; i++) deliverDoorEvent(node, event(i % 2 ? "door.opened" : "door.closed"));
    deliverDoorEvent(node, event("lock.unlocked"));
    assert.equal(node.sent.length, 52);
    assert.equal(node.statuses.length, 1);
    assert.match(texts(node)[0], /^door\.opened /);
    assert.equal(await statusCount(node, 2), 2);
    const trailingAt = Date.now();
    // not before the interval has passed (timers may fire a millisecond early relative to Date.now())
    assert.ok(trailingAt - began >= EVENT_STATUS_INTERVAL_MS - 5, `trailing status after ${trailingAt - began} ms`);
    assert.match(texts(node)[1], /^lock\.unlocked /);
    assert.equal(node.statuses[1].fill, "green");
    // nothing more is pending: the burst ends with one trailing status
    await sleep(EVENT_STATUS_INTERVAL_MS + 100);
    assert.equal(node.statuses.length, 2);
    // a quiet interval later, the next event shows at once again
    deliverDoorEvent(node, event("door.closed"));
    assert.equal(node.statuses.length, 3);
    assert.match(texts(node)[2], /^door\.closed /);
    closeListenerOutput(node);
  });

  it("lets a connection status win over a last-event status still waiting", async function () {
    const node = fakeNode();
    deliverDoorEvent(node, event("door.opened"));
    deliverDoorEvent(node, event("door.closed"));
    setListenerStatus(node, { fill: "red", shape: "ring", text: "unreachable" });
    // well past the moment the dropped trailing status was due
    await sleep(EVENT_STATUS_INTERVAL_MS * 2);
    assert.deepEqual(texts(node).map((t) => t.split(" ")[0]), ["door.opened", "unreachable"]);
    closeListenerOutput(node);
  });

  it("shows nothing after close", async function () {
    const node = fakeNode();
    deliverDoorEvent(node, event("door.opened"));
    deliverDoorEvent(node, event("door.closed"));
    closeListenerOutput(node);
    await sleep(EVENT_STATUS_INTERVAL_MS + 150);
    assert.equal(node.statuses.length, 1);
  });

  it("keeps listeners apart", function () {
    const a = fakeNode();
    const b = fakeNode();
    deliverDoorEvent(a, event("door.opened"));
    deliverDoorEvent(b, event("door.closed"));
    assert.equal(a.statuses.length, 1);
    assert.equal(b.statuses.length, 1);
    closeListenerOutput(a);
    closeListenerOutput(b);
  });
});
