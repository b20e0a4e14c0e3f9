"use strict";
// The editor in a real browser: playwright-core driving Debian's Chromium against a real Node-RED with the
// packed package. Skips (with a message) where /usr/bin/chromium or playwright-core is missing; .ci/run
// installs Chromium. Screenshots go to test-results/screenshots/ (docs/screenshots/ holds the README's).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { packPackage, createUserDir, startNodeRed, repoRoot } = require("./harness");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = path.join(repoRoot, "test-results", "screenshots");
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));

let chromium = null;
try {
  ({ chromium } = require("playwright-core"));
} catch {
  chromium = null;
}

/** Node types registered by each node set's editor html, with whether they are config nodes. */
function editorTypes() {
  const types = [];
  for (const file of Object.values(pkg["node-red"].nodes)) {
    const html = fs.readFileSync(path.join(repoRoot, file.replace(/\.js$/, ".html")), "utf8");
    const re = /RED\.nodes\.registerType\(\s*["']([^"']+)["']\s*,\s*\{\s*category:\s*["']([^"']+)["']/g;
    for (let m = re.exec(html); m; m = re.exec(html)) types.push({ type: m[1], config: m[2] === "config" });
  }
  return types;
}

describe("editor in a real browser", function () {
  this.timeout(180000);
  let browser;
  let page;
  let red;
  let sim;
  const consoleErrors = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM) || !chromium) {
      console.log(`    (skipped: ${!chromium ? "playwright-core is not installed" : `${CHROMIUM} not found; apt-get install -y chromium`})`);
      this.skip();
    }
    sim = new NukiBridgeSimulator({ token: "editor-token", busyMs: 5, actionMs: 50 });
    await sim.start();
    red = await startNodeRed({ userDir: await createUserDir(await packPackage()) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (err) => consoleErrors.push(String(err)));
    await page.goto(red.adminUrl);
    await page.waitForSelector(".red-ui-palette-node[data-palette-type='inject']", { timeout: 60000 });
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  after(async function () {
    if (browser) await browser.close();
    if (red) await red.stop();
    if (sim) await sim.stop();
  });

  it("shows every non-config contract type in the 'smart locks' palette category", async function () {
    const wanted = editorTypes().filter((t) => !t.config).map((t) => t.type).sort();
    assert.ok(wanted.length >= 3);
    const shown = await page.$$eval("#red-ui-palette-container-smart_locks .red-ui-palette-node", (els) =>
      els.map((el) => el.getAttribute("data-palette-type")).sort(),
    );
    assert.deepEqual(shown, wanted);
    await page.locator("#red-ui-palette-container-smart_locks").screenshot({ path: path.join(SHOTS, "palette.png") });
  });

  it("opens every edit dialog, config dialogs included, without console errors", async function () {
    const before = consoleErrors.length;
    for (const { type, config } of editorTypes()) {
      const id = await page.evaluate(({ type, config }) => {
        const node = { id: RED.nodes.id(), type, _def: RED.nodes.getType(type), changed: true };
        for (const [key, value] of Object.entries(node._def.defaults || {})) node[key] = JSON.parse(JSON.stringify(value.value));
        if (config) {
          node.users = [];
          RED.nodes.add(node);
          RED.editor.editConfig("", type, node.id);
        } else {
          node.x = 300;
          node.y = 200;
          node.z = RED.workspaces.active();
          RED.nodes.add(node);
          RED.editor.edit(node);
        }
        return node.id;
      }, { type, config });
      const ok = config ? "#node-config-dialog-cancel" : "#node-dialog-cancel";
      await page.waitForSelector(ok, { state: "visible", timeout: 10000 });
      await page.waitForTimeout(150);
      if (type === "nuki-config" || type === "nuki-events") {
        await page.screenshot({ path: path.join(SHOTS, `${type}-dialog.png`) });
      }
      await page.click(ok);
      await page.waitForSelector(ok, { state: "hidden", timeout: 10000 });
      await page.evaluate((id) => {
        const n = RED.nodes.node(id);
        if (n) RED.nodes.remove(id);
      }, id);
    }
    assert.deepEqual(consoleErrors.slice(before), []);
  });

  it("imports every example of the package and deploys it without errors", async function () {
    const examples = fs.readdirSync(path.join(repoRoot, "examples"), { recursive: true }).filter((f) => f.endsWith(".json"));
    assert.ok(examples.length >= 1);
    for (const file of examples) {
      const flow = JSON.parse(fs.readFileSync(path.join(repoRoot, "examples", file), "utf8"));
      await page.evaluate((flow) => RED.view.importNodes(flow, { generateIds: true, addFlow: true }), flow);
    }
    await page.evaluate(() => RED.nodes.dirty(true));
    const deployed = page.waitForResponse((r) => r.url().endsWith("/flows") && r.request().method() === "POST", { timeout: 20000 });
    await page.click("#red-ui-header-button-deploy");
    const res = await deployed;
    assert.equal(res.status(), 200);
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(SHOTS, "examples.png") });
    const flows = await red.getFlows();
    for (const file of examples) {
      const types = new Set(JSON.parse(fs.readFileSync(path.join(repoRoot, "examples", file), "utf8")).map((n) => n.type));
      for (const t of types) assert.ok(flows.some((n) => n.type === t), `${file}: ${t} deployed`);
    }
    assert.ok(!red.logs.some((l) => /\[error\].*(smartlocks|nuki|loqed|tedee|unifi|door-state)/i.test(l) && !/unreachable|ECONN|EHOSTUNREACH|timeout/i.test(l)), red.logs.join("\n"));
  });

  it("shows a green 'listening' status for a deployed Nuki listener", async function () {
    const port = Number(sim.url.split(":").pop());
    await page.evaluate(({ port }) => {
      const cfg = { id: RED.nodes.id(), type: "nuki-config", name: "simulated bridge", host: "127.0.0.1", port, auth: "encrypted", callbackUrl: "", webApiUrl: "https://api.nuki.io", webhookUrl: "" };
      const flow = [
        cfg,
        { id: RED.nodes.id(), type: "nuki-events", name: "front door events", config: cfg.id, devices: [], events: [], x: 200, y: 120, wires: [[]] },
      ];
      RED.view.importNodes(flow, { addFlow: true });
      let imported = null;
      RED.nodes.eachConfig((n) => {
        if (n.type === "nuki-config" && n.name === "simulated bridge") imported = n;
      });
      // What the config dialog does when a token is typed in: credentials go with the next deploy only.
      imported.credentials = { token: "editor-token" };
      imported.changed = true;
      RED.nodes.dirty(true);
    }, { port });
    const deployed = page.waitForResponse((r) => r.url().endsWith("/flows") && r.request().method() === "POST", { timeout: 20000 });
    await page.click("#red-ui-header-button-deploy");
    await deployed;
    await page.waitForFunction(
      () => [...document.querySelectorAll(".red-ui-flow-node-status-label")].some((el) => el.textContent === "listening"),
      null,
      { timeout: 20000 },
    );
    const fill = await page.evaluate(() => {
      const label = [...document.querySelectorAll(".red-ui-flow-node-status-label")].find((el) => el.textContent === "listening");
      return label.parentNode.querySelector(".red-ui-flow-node-status").getAttribute("class");
    });
    assert.match(fill, /green/);
    await page.screenshot({ path: path.join(SHOTS, "nuki-listening.png") });
    assert.ok(sim.callbacks.some((c) => c.url.includes("/smartlocks/nuki/")), "callback registered from the editor-made config");
  });

  it("fills the Nuki action's device picker from the simulated bridge and picks a device", async function () {
    const before = consoleErrors.length;
    await page.evaluate(() => {
      let cfg = null;
      RED.nodes.eachConfig((n) => {
        if (n.type === "nuki-config" && n.name === "simulated bridge") cfg = n;
      });
      const def = RED.nodes.getType("nuki-action");
      const node = { id: RED.nodes.id(), type: "nuki-action", _def: def, z: RED.workspaces.active(), x: 400, y: 300, changed: true };
      for (const [key, value] of Object.entries(def.defaults)) node[key] = JSON.parse(JSON.stringify(value.value));
      node.config = cfg.id;
      RED.nodes.add(node);
      RED.editor.edit(node);
    });
    await page.waitForSelector("#node-input-nuki-pick", { state: "visible", timeout: 10000 });
    await page.click("#node-input-nuki-pick");
    const row = page.locator("#node-input-nuki-pick-result div", { hasText: "3E63C84D" }).first();
    await row.waitFor({ timeout: 15000 });
    assert.equal(await page.locator("#node-input-nuki-devices option").count(), 2, "both simulated devices listed");
    await page.screenshot({ path: path.join(SHOTS, "nuki-device-picker.png") });
    await row.click();
    assert.equal(await page.inputValue("#node-input-device"), "3E63C84D");
    await page.click("#node-dialog-cancel");
    assert.deepEqual(consoleErrors.slice(before), []);
  });
});
