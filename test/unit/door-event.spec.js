"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { eventTopic, vendorTime, CORE_EVENTS } = require("../../dist/nodes/core/door-event.js");
const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema.js");

const sample = {
  event: "door.opened",
  vendor: "nuki",
  channel: "bridge",
  device: { id: "3E63C84D", name: "Front door", type: "lock" },
  lock: "unlocked",
  door: "open",
  battery: { critical: false, level: 100, charging: false },
  actor: null,
  previous: { lock: "unlocked", door: "closed" },
  at: "2026-12-02T10:00:00.000Z",
  receivedAt: "2026-12-02T10:00:00.000Z",
  id: "abc",
  raw: { nukiId: 1046726733 },
};

describe("core/door-event", () => {
  it("accepts a contract event and rejects wrong enums", () => {
    doorEventSchema.parse(sample);
    assert.equal(doorEventSchema.safeParse({ ...sample, lock: "open" }).success, false);
    assert.equal(doorEventSchema.safeParse({ ...sample, vendor: "august" }).success, false);
    assert.equal(doorEventSchema.safeParse({ ...sample, at: "2026-12-02T10:00:00+01:00" }).success, false);
    assert.equal(doorEventSchema.safeParse({ ...sample, update: true }).success, true);
  });

  it("builds topics and normalises vendor times to UTC", () => {
    assert.equal(eventTopic(sample), "nuki/3E63C84D/door.opened");
    assert.equal(vendorTime("2018-10-03T06:49:00+00:00"), "2018-10-03T06:49:00.000Z");
    assert.equal(vendorTime("2018-10-03T08:49:00+02:00"), "2018-10-03T06:49:00.000Z");
    assert.equal(vendorTime("yesterday"), null);
    assert.equal(CORE_EVENTS.length, 17);
  });

  it("ships a JSON Schema generated from the zod schema", () => {
    const file = path.join(__dirname, "../../dist/schema/door-event.schema.json");
    const schema = JSON.parse(fs.readFileSync(file, "utf8"));
    assert.equal(schema.type, "object");
    for (const key of ["event", "vendor", "channel", "device", "lock", "door", "battery", "actor", "previous", "at", "receivedAt", "id", "raw"]) {
      assert.ok(schema.properties[key], key);
      if (key !== "raw") assert.ok(schema.required.includes(key), `${key} required`);
    }
    assert.deepEqual(schema.properties.vendor.enum, ["nuki", "loqed", "tedee", "unifi-access"]);
  });
});
