"use strict";
const assert = require("node:assert/strict");
const { jsonTooDeep, MAX_JSON_DEPTH } = require("../../dist/nodes/core/json-depth.js");

describe("core/json-depth", () => {
  const nested = (n) => "[".repeat(n) + "]".repeat(n);
  it("accepts vendor-sized nesting and refuses pathological nesting, as bytes or text", () => {
    assert.equal(jsonTooDeep('{"a":{"b":[1,{"c":2}]}}'), false);
    assert.equal(jsonTooDeep(nested(MAX_JSON_DEPTH)), false);
    assert.equal(jsonTooDeep(nested(MAX_JSON_DEPTH + 1)), true);
    assert.equal(jsonTooDeep(Buffer.from(`{"x":${nested(5000)}}`)), true);
  });
  it("does not count brackets inside strings, escaped quotes included", () => {
    assert.equal(jsonTooDeep(JSON.stringify({ s: "[".repeat(500) })), false);
    assert.equal(jsonTooDeep(JSON.stringify({ s: '\\"[[[[' + "{".repeat(200) })), false);
    assert.equal(jsonTooDeep(Buffer.from(JSON.stringify({ s: "ä€😀" + "[".repeat(100) }))), false);
  });
});
