"use strict";
// Checks the e2e harness itself with core nodes only, so a failing vendor e2e spec points at the vendor
// code and not at the harness: deploy with inline credentials, the flow runs, the collector sees it.
require("should");
const fs = require("node:fs");
const path = require("node:path");
const { packPackage, createUserDir, startNodeRed, startCollector } = require("./harness");

describe("e2e harness (core nodes only)", function () {
  this.timeout(180000);
  let red;
  let collector;

  before(async function () {
    collector = await startCollector();
    red = await startNodeRed({ userDir: await createUserDir(await packPackage()), httpNodeRoot: "/api" });
  });

  after(async function () {
    if (red) await red.stop();
    if (collector) await collector.close();
  });

  it("answers on the admin and node roots it was given", async function () {
    red.adminUrl.should.equal(`${red.url}/`);
    red.nodeUrl.should.equal(`${red.url}/api/`);
    const settings = await (await fetch(`${red.adminUrl}settings`)).json();
    settings.httpNodeRoot.should.equal("/api/");
  });

  it("deploys a flow whose inline credentials reach the node, and collects what it POSTs", async function () {
    const flows = [
      { id: "h-tab", type: "tab", label: "harness" },
      {
        id: "h-inject", type: "inject", z: "h-tab", once: true, onceDelay: 0.1, repeat: "",
        props: [{ p: "payload" }], payload: '{"hello":"world"}', payloadType: "json", wires: [["h-http"]],
      },
      {
        id: "h-http", type: "http request", z: "h-tab", method: "POST", ret: "txt", paytoqs: "ignore",
        url: `${collector.url}/harness`, authType: "basic", senderr: false, headers: [], wires: [[]],
        credentials: { user: "alice", password: "s3cret" },
      },
    ];
    await red.deployFlows(flows);
    const hit = await collector.waitFor((r) => r.path === "/harness", 10000);
    hit.body.should.eql({ hello: "world" });
    hit.headers.authorization.should.equal(`Basic ${Buffer.from("alice:s3cret").toString("base64")}`);

    // Credentials are stored apart from the flow and never come back with it.
    const saved = await red.getFlows();
    saved.map((n) => n.id).should.containDeep(["h-tab", "h-inject", "h-http"]);
    saved.find((n) => n.id === "h-http").should.not.have.property("credentials");
    // The fixed credentialSecret is in use: the credentials file is encrypted ({"$": ciphertext}).
    const credFile = JSON.parse(fs.readFileSync(path.join(red.userDir, "flows_cred.json"), "utf8"));
    Object.keys(credFile).should.eql(["$"]);
  });
});
