"use strict";
// The packed package, installed the way a user installs it, loaded by a real Node-RED: the node set
// loads without error, and the editor gets its types, icons, help and message catalog (all of which
// Node-RED looks up next to the compiled .js, so they break silently when the build misplaces them).
require("should");
const fs = require("node:fs");
const path = require("node:path");
const { packPackage, createUserDir, startNodeRed, repoRoot } = require("./harness");

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));
const MODULE = pkg.name;
const NUKI_TYPES = ["nuki-config", "nuki-events", "nuki-action"];

describe("Node-RED loads the packed package", function () {
  this.timeout(180000);
  let red;

  before(async function () {
    red = await startNodeRed({ userDir: await createUserDir(await packPackage()) });
  });

  after(async function () {
    if (red) await red.stop();
  });

  const get = async (urlPath, accept) => {
    const res = await fetch(red.adminUrl + urlPath, { headers: { Accept: accept } });
    return { status: res.status, type: res.headers.get("content-type") || "", body: await res.text() };
  };

  it("lists every node set of the module, enabled and without err", async function () {
    const { status, body } = await get("nodes", "application/json");
    status.should.equal(200);
    const sets = JSON.parse(body).filter((s) => s.module === MODULE);
    sets.map((s) => s.name).sort().should.eql(Object.keys(pkg["node-red"].nodes).sort());
    sets.filter((s) => s.err).map((s) => `${s.name}: ${s.err.message || s.err.code || JSON.stringify(s.err)}`).should.eql([]);
    for (const s of sets) {
      s.enabled.should.be.true();
      s.version.should.equal(pkg.version);
    }
  });

  it("counts as a user-installed module (removable from the palette manager)", async function () {
    const info = JSON.parse((await get(`nodes/${MODULE}`, "application/json")).body);
    info.should.match({ name: MODULE, version: pkg.version, local: true, user: true });
  });

  it("registers the Nuki types", async function () {
    const { body } = await get(`nodes/${MODULE}/nuki`, "application/json");
    const set = JSON.parse(body);
    set.should.not.have.property("err");
    set.types.should.containDeep(NUKI_TYPES);
  });

  it("serves the module's icons", async function () {
    const icons = JSON.parse((await get("icons", "application/json")).body);
    icons.should.have.property(MODULE).which.is.an.Array().and.not.empty();
    const icon = await get(`icons/${MODULE}/${icons[MODULE][0]}`, "image/*");
    icon.status.should.equal(200);
    icon.type.should.match(/^image\//);
  });

  it("serves editor HTML with help for every Nuki type", async function () {
    const { status, body } = await get(`nodes/${MODULE}/nuki`, "text/html");
    status.should.equal(200);
    for (const type of NUKI_TYPES) {
      body.should.match(new RegExp(`data-template-name=["']${type}["']`));
      body.should.match(new RegExp(`data-help-name=["']${type}["']`));
    }
  });

  it("serves a non-empty en-US message catalog for the nuki set", async function () {
    const { status, body } = await get(`locales/${MODULE}/nuki?lng=en-US`, "application/json");
    status.should.equal(200);
    Object.keys(JSON.parse(body)).should.not.be.empty();
  });

  it("logged no error while loading the module", function () {
    red.logs.filter((l) => /\[(error|warn)\]/.test(l) && l.includes(MODULE)).should.eql([]);
  });
});
