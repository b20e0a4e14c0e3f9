"use strict";
// Which Node-RED the tests run against. The devDependency (4.x) by default; CI points
// SMARTLOCKS_NODE_RED_DIR at a Node-RED 5.x installed in another folder to run the same specs there.
// Node tests must go through initTestHelper() (not a bare helper.init()) and load core nodes through
// requireNodeRed(), otherwise they silently keep testing the devDependency.
const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");

const nodeRedDir = path.resolve(
  process.env.SMARTLOCKS_NODE_RED_DIR || path.dirname(require.resolve("node-red/package.json")),
);
const nodeRedPackage = JSON.parse(fs.readFileSync(path.join(nodeRedDir, "package.json"), "utf8"));
if (nodeRedPackage.name !== "node-red") {
  throw new Error(`SMARTLOCKS_NODE_RED_DIR=${nodeRedDir} is not the node-red package`);
}
const nodeRedVersion = nodeRedPackage.version;

// Resolves like code inside that Node-RED package does, so "@node-red/nodes/core/..." gives the core
// nodes of the selected version whether npm hoisted them next to node-red or nested them inside it.
const requireNodeRed = createRequire(path.join(nodeRedDir, "package.json"));

// helper.init() wants the runtime entry file (node-red's "main", lib/red.js), not the package dir:
// it require()s that file and finds @node-red/runtime, registry, editor-api and the core nodes from
// dirname(file) (nested node_modules or the hoisted ../../@node-red). The helper already initialised
// itself with the devDependency when it was required; this call switches it to the selected runtime.
function initTestHelper(helper, userSettings) {
  helper.init(path.join(nodeRedDir, nodeRedPackage.main || "lib/red.js"), userSettings);
  return helper;
}

module.exports = { nodeRedDir, nodeRedVersion, requireNodeRed, initTestHelper };
