"use strict";
// Node-RED requires every node set at start-up; zod (~90 ms plus ~50 ms of schema building) and tweetnacl (~9 ms)
// are only needed for the first payload, API answer or encrypted Nuki token (see nodes/core/lazy-zod.ts).
// Each check runs in a child process: this mocha process has zod in its require cache already.
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const DIST = path.join(__dirname, "../../dist/nodes");
const NODE_SETS = ["nuki", "tedee", "loqed", "unifi-access", "door-state"];

/** Runs `body` in a fresh node with `loaded()` (the packages of zod/tweetnacl in the require cache); returns its JSON. */
function inFreshProcess(body) {
  const script = `
    const path = require("node:path");
    const dist = process.env.DIST;
    const loaded = () => [...new Set(Object.keys(require.cache)
      .map((file) => /[\\\\/]node_modules[\\\\/](zod|tweetnacl)[\\\\/]/.exec(file)?.[1])
      .filter(Boolean))].sort();
    const out = (() => { ${body} })();
    process.stdout.write(JSON.stringify(out));
  `;
  return JSON.parse(execFileSync(process.execPath, ["-e", script], { env: { ...process.env, DIST: DIST }, encoding: "utf8" }));
}

/** Every compiled module under dist/nodes, relative to it. */
function distModules(dir = DIST) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return distModules(file);
    return entry.name.endsWith(".js") ? [path.relative(DIST, file)] : [];
  });
}

describe("lazy loading of zod and tweetnacl", function () {
  this.timeout(20000);

  it("loading the five node sets loads neither zod nor tweetnacl", () => {
    const result = inFreshProcess(`
      const exported = ${JSON.stringify(NODE_SETS)}.map((set) => typeof require(path.join(dist, set + ".js")));
      return { exported, loaded: loaded() };
    `);
    assert.deepEqual(result.exported, NODE_SETS.map(() => "function"));
    assert.deepEqual(result.loaded, []);
  });

  it("loads zod with the first validated payload and tweetnacl with the first encrypted token, not before", () => {
    const result = inFreshProcess(`
      for (const set of ${JSON.stringify(NODE_SETS)}) require(path.join(dist, set + ".js"));
      const { bridgeSchemas } = require(path.join(dist, "nuki/schemas.js"));
      const { BridgeAuth } = require(path.join(dist, "nuki/auth.js"));
      const steps = { start: loaded() };
      steps.valid = bridgeSchemas().callbackBodySchema.safeParse({ nukiId: 11, deviceType: 0, state: 1 }).success;
      steps.invalid = bridgeSchemas().callbackBodySchema.safeParse({ nukiId: 11, deviceType: 0, state: "locked" }).success;
      steps.afterParse = loaded();
      steps.hashed = Object.keys(new BridgeAuth("hashed", "secret").params()).sort();
      steps.afterHashed = loaded();
      steps.encrypted = Object.keys(new BridgeAuth("encrypted", "secret").params()).sort();
      steps.afterEncrypted = loaded();
      return steps;
    `);
    assert.deepEqual(result.start, []);
    assert.equal(result.valid, true);
    assert.equal(result.invalid, false);
    assert.deepEqual(result.afterParse, ["zod"]);
    assert.deepEqual(result.hashed, ["hash", "rnr", "ts"]);
    assert.deepEqual(result.afterHashed, ["zod"]);
    assert.deepEqual(result.encrypted, ["ctoken", "nonce"]);
    assert.deepEqual(result.afterEncrypted, ["tweetnacl", "zod"]);
  });

  it("no module under dist/nodes but core/door-event-schema loads zod when required", () => {
    const modules = distModules();
    assert.ok(modules.includes(path.join("nuki", "schemas.js")), "dist/nodes is built");
    const schemaModule = path.join("core", "door-event-schema.js");
    const result = inFreshProcess(`
      const eager = [];
      for (const file of ${JSON.stringify(modules.filter((m) => m !== schemaModule))}) {
        require(path.join(dist, file));
        if (loaded().length > 0) { eager.push(file); break; }
      }
      require(path.join(dist, ${JSON.stringify(schemaModule)}));
      return { eager, afterSchema: loaded() };
    `);
    assert.deepEqual(result.eager, []);
    assert.deepEqual(result.afterSchema, ["zod"]);
  });
});
