"use strict";
// End to end, secrets: the all-vendor flow (see all-vendors.js) with distinctive secret values, some of them given
// as `${ENV_VAR}` credentials resolved from the Node-RED process's environment. Events, actions and failing actions
// are driven through every vendor; then no secret (nor a value the plugin derives from one and stores at a device:
// the Tedee callback header, the UniFi and Nuki Web webhook secrets, the LOQED keys in hex) may appear in the log
// (at trace level), in GET /flows, in any emitted message (listener, action and Catch output, msg.error included),
// in any status text (a core Status node for all nodes), in a "test connection" answer, or in clear in the flows
// and credentials files. Every credential of every config node must be a password field in the editor.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const vm = require("node:vm");
const { packPackage, createUserDir, startNodeRed, startCollector, repoRoot, CREDENTIAL_SECRET } = require("./harness");
const A = require("./all-vendors");

const b64 = (text) => Buffer.from(text, "utf8").toString("base64");
/** Distinctive values: each contains a marker no other text in a flow, log or message would. */
const SECRETS = {
  nukiToken: "NukiTok3nS3cr3tQ1",
  nukiWebToken: "NukiW3bTok3nS3cr3tQ2",
  nukiRoute: "NukiR0uteS3cr3tQ3_abcdefgh",
  tedeeToken: "T3deeTok3nS3cr3tQ4",
  tedeeCloudKey: "T3deeCl0udK3yS3cr3tQ5",
  tedeeRoute: "T3deeR0uteS3cr3tQ6_abcdefg",
  loqedBridgeKey: b64("LoqedBridgeKeyS3cr3tQ7!!"),
  loqedKeySecret: b64("LoqedKeySecretS3cr3tQ8!!"),
  loqedCloudToken: "L0qedCl0udTok3nS3cr3tQ9",
  loqedRoute: "L0qedR0uteS3cr3tQ10_abcdef",
  unifiToken: "Un1f1Tok3nS3cr3tQ11",
  unifiRoute: "Un1f1R0uteS3cr3tQ12_abcdef",
};
/** Given to Node-RED as `${ENV}` credentials (the flow and the credentials file hold only the reference). */
const FROM_ENV = { nukiToken: "SL_E2E_NUKI_TOKEN", tedeeRoute: "SL_E2E_TEDEE_ROUTE", loqedKeySecret: "SL_E2E_LOQED_KEY_SECRET", unifiToken: "SL_E2E_UNIFI_TOKEN" };
/** Extra Nuki config nodes whose actions fail: a wrong plain token (401) and a bridge that is not there. */
const WRONG_TOKEN = "NukiWr0ngTok3nS3cr3tQ13";
const GONE_TOKEN = "NukiG0neTok3nS3cr3tQ14";
const TEDEE_TIMING = { spacingMs: 30, cloudSpacingMs: 10, retryMs: 200, confirmPollMs: 200, actorDelaysMs: [200, 600, 1500] };

function closedPort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Node-RED's credential file format: "$" = hex IV (16 bytes) + base64 of aes-256-ctr(JSON), key = sha256(secret). */
function decryptCredentials(file) {
  const { $: blob } = JSON.parse(fs.readFileSync(file, "utf8"));
  const key = crypto.createHash("sha256").update(CREDENTIAL_SECRET).digest();
  const iv = Buffer.from(blob.slice(0, 32), "hex");
  const decipher = crypto.createDecipheriv("aes-256-ctr", key, iv);
  return JSON.parse(decipher.update(blob.slice(32), "base64", "utf8") + decipher.final("utf8"));
}

/** Runs an editor .html's scripts against a stub editor and returns what each registerType call registered. */
function editorDefinitions(file) {
  const html = fs.readFileSync(file, "utf8");
  const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  const registered = {};
  const chain = new Proxy(function () {}, { get: (_t, key) => (key === Symbol.toPrimitive ? () => "" : chain), apply: () => chain });
  const sandbox = {
    RED: { nodes: { registerType: (type, def) => (registered[type] = def) }, _: (k) => k, settings: {}, editor: chain, notify: () => undefined, validators: chain, utils: chain, popover: chain },
    $: chain,
    jQuery: chain,
    window: {},
    document: chain,
    console,
    setTimeout,
  };
  sandbox.window = sandbox;
  vm.createContext(sandbox);
  for (const code of scripts) vm.runInContext(code, sandbox, { filename: file });
  return registered;
}

describe("Secrets stay secret (all vendors in one real Node-RED)", function () {
  this.timeout(120000);
  let sims;
  let red;
  let collector;
  let derived; // secret values the plugin derived and stored at a device
  let allSecrets;
  const probeAnswers = [];
  const failed = {};

  const eventAfter = (vendor, from, match, what) =>
    collector
      .waitFor((r) => collector.received.indexOf(r) >= from && r.path === `/events/${vendor}` && match(r.body), 10000)
      .then((r) => r.body, (err) => {
        throw new Error(`${what}: ${err.message}`);
      });
  const nukiPort = () => Number(sims.nukiBridge.url.split(":").pop());
  const tedeePort = () => Number(sims.tedeeBridge.url.split(":").pop());
  async function probe(vendor, body) {
    const res = await A.request(`${red.adminUrl}smartlocks/${vendor}/probe`, { method: "POST", body });
    probeAnswers.push({ vendor, status: res.status, text: res.text });
    assert.ok(res.status === 200 || res.status === 400, `${vendor} probe: ${res.status} ${res.text}`);
    return res;
  }
  const act = (vendor, body) => A.request(`${red.nodeUrl}test/act/${vendor}`, { method: "POST", body });

  before(async function () {
    sims = await A.startSimulators(SECRETS);
    collector = await startCollector();
    const env = Object.fromEntries(Object.entries(FROM_ENV).map(([key, name]) => [name, SECRETS[key]]));
    red = await startNodeRed({
      userDir: await createUserDir(await packPackage()),
      env,
      settings: { tedeeConfigTiming: TEDEE_TIMING, logging: { console: { level: "trace", metrics: false, audit: true } } },
    });
    sims.loqedCloud.webhookUrls = [`${red.nodeUrl}smartlocks/loqed/${SECRETS.loqedRoute}/cloud`];
    const creds = { ...SECRETS };
    for (const [key, name] of Object.entries(FROM_ENV)) creds[key] = `\${${name}}`;
    const flows = A.buildFlows({ sims, red, collectorUrl: collector.url, creds, statusAll: true, confirmTimeout: 5 });
    const gonePort = await closedPort();
    flows.push(
      { id: "nuki-wrong-cfg", type: "nuki-config", name: "wrong token", host: "127.0.0.1", port: Number(sims.nukiBridge.url.split(":").pop()), auth: "plain", callbackUrl: "", credentials: { token: WRONG_TOKEN, routeSecret: "NukiWr0ngR0ute_abcdefghijk" } },
      { id: "nuki-gone-cfg", type: "nuki-config", name: "gone bridge", host: "127.0.0.1", port: gonePort, auth: "plain", callbackUrl: "", credentials: { token: GONE_TOKEN, routeSecret: "NukiG0neR0ute_abcdefghijkl" } },
      { id: "wrong-in", type: "http in", z: "allv", url: "/test/act/nuki-wrong", method: "post", wires: [["wrong-act"]], x: 600, y: 40 },
      { id: "wrong-act", type: "nuki-action", z: "allv", config: "nuki-wrong-cfg", device: "", action: "", confirm: true, timeout: 5, wires: [["resp"]], x: 600, y: 80 },
      { id: "gone-in", type: "http in", z: "allv", url: "/test/act/nuki-gone", method: "post", wires: [["gone-act"]], x: 600, y: 120 },
      { id: "gone-act", type: "nuki-action", z: "allv", config: "nuki-gone-cfg", device: "", action: "", confirm: true, timeout: 5, wires: [["resp"]], x: 600, y: 160 },
      { id: "extra-catch", type: "catch", z: "allv", scope: ["wrong-act", "gone-act"], uncaught: false, wires: [["nuki-catch-fn"]], x: 600, y: 200 },
    );
    await red.deployFlows(flows);
  });

  after(async function () {
    if (red) await red.stop();
    if (collector) await collector.close();
    if (sims) await sims.stopAll();
  });

  it("works with credentials given as ${ENV_VAR}: every vendor registers and reports its devices", async function () {
    await A.waitUntil(() => Object.values(A.counts(A.ours(sims, SECRETS))).every((n) => n === 1), 15000, `registrations, got ${JSON.stringify(A.counts(A.ours(sims, SECRETS)))}`);
    for (const vendor of A.VENDORS) await eventAfter(vendor, 0, (e) => e.event === "device.state", `${vendor} snapshot`);
    // The env-given Tedee route secret is the one in the registered URL; the env-given tokens were accepted.
    assert.ok(A.ours(sims, SECRETS).tedeeBridge[0].url.includes(`/smartlocks/tedee/${SECRETS.tedeeRoute}/bridge`));
    assert.ok(!sims.nukiBridge.requests.some((r) => r.authError && r.auth !== "plain" && r.query.includes("ctoken")), "the env-given Nuki token was accepted");
    assert.ok(sims.unifi.stats.authorizationSeen > 0);
    assert.equal(sims.unifi.stats.unauthorized, 0);
    const mine = A.ours(sims, SECRETS);
    derived = {
      tedeeHeader: mine.tedeeBridge[0].headers[0]["X-Smartlocks-Key"],
      unifiWebhookSecret: mine.unifi[0].secret,
      nukiWebWebhookSecret: mine.nukiWeb[0].secret,
      loqedBridgeKeyHex: Buffer.from(SECRETS.loqedBridgeKey, "base64").toString("hex"),
      loqedKeySecretHex: Buffer.from(SECRETS.loqedKeySecret, "base64").toString("hex"),
      loqedBridgeKeyRaw: Buffer.from(SECRETS.loqedBridgeKey, "base64").toString("utf8"),
      loqedKeySecretRaw: Buffer.from(SECRETS.loqedKeySecret, "base64").toString("utf8"),
    };
    for (const [name, value] of Object.entries(derived)) assert.ok(typeof value === "string" && value.length >= 16, `${name} known`);
    allSecrets = { ...SECRETS, wrongToken: WRONG_TOKEN, goneToken: GONE_TOKEN, ...derived };
  });

  it("delivers events on every channel (bridge callbacks, signed webhooks, cloud webhooks)", async function () {
    let from = collector.received.length;
    await sims.nukiBridge.openDoor(A.NUKI.LOCK_ID);
    await eventAfter("nuki", from, (e) => e.event === "door.opened" && e.channel === "bridge", "nuki bridge");
    from = collector.received.length;
    await sims.nukiWeb.door(A.NUKI.GARAGE, true);
    await eventAfter("nuki", from, (e) => e.event === "door.opened" && e.channel === "web", "nuki web");
    from = collector.received.length;
    await sims.tedeeBridge.setState(A.TEDEE.BACK, { state: A.TEDEE_STATE.LOCKED });
    await eventAfter("tedee", from, (e) => e.event === "lock.locked", "tedee (route secret from ${ENV})");
    from = collector.received.length;
    sims.loqedBridge.twistAssist("day_lock");
    await eventAfter("loqed", from, (e) => e.event === "lock.unlocked" && e.channel === "bridge", "loqed bridge");
    await sims.loqedBridge.idle();
    await A.nextSecond();
    from = collector.received.length;
    await sims.loqedCloud.webhook({ battery_percentage: 33, lock_id: 6148 });
    await eventAfter("loqed", from, (e) => e.event === "loqed.battery.level" && e.channel === "cloud", "loqed cloud");
    from = collector.received.length;
    sims.unifi.setDoorPosition(A.UNIFI.GARAGE, "open");
    await eventAfter("unifi-access", from, (e) => e.event === "door.opened", "unifi");
    await A.waitUntil(() => sims.unifi.deliveries.at(-1)?.status === 200, 5000, "signed UniFi webhook accepted");
  });

  it("runs actions (env credentials included) and reports failing ones to Catch", async function () {
    const ok = async (vendor, body) => {
      const res = await act(vendor, body);
      assert.equal(res.status, 200, `${vendor} ${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body.ok, true);
      return res.body;
    };
    await ok("nuki", { action: "unlock", device: A.NUKI.LOCK }); // token from ${ENV}
    await ok("tedee", { action: "unlock", device: A.TEDEE.FRONT });
    await ok("loqed", { action: "lock" }); // key secret from ${ENV}
    await ok("unifi-access", { action: "unlock", device: A.UNIFI.FRONT }); // token from ${ENV}

    const fails = async (vendor, body, code) => {
      const res = await act(vendor, body);
      assert.equal(res.status, 500, `${vendor} ${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.body.code, code, `${vendor}: ${res.text}`);
      return res.body;
    };
    await fails("nuki", { action: "unlock", device: "00ABCDEF" }, "not_found");
    await fails("tedee", { action: "unlock", device: "424242" }, "not_found");
    await fails("loqed", { action: "lock", device: "001122334455" }, "not_found");
    await fails("unifi-access", { action: "unlock", device: "00000000-0000-0000-0000-000000000000" }, "not_found");
    // A wrong (plain, i.e. sent in the URL) token and a bridge that is not there: the failure reaches Catch with
    // an error message that could quote the request URL. Their codes are checked in the next (skipped) test.
    for (const vendor of ["nuki-wrong", "nuki-gone"]) {
      const res = await act(vendor, { action: "unlock", device: A.NUKI.LOCK });
      assert.equal(res.status, 500, `${vendor}: ${res.text}`);
      failed[vendor] = res.body;
    }
    await collector.waitFor((r) => r.path === "/catch/nuki" && r.body.error && r.body.error.source && r.body.error.source.id === "gone-act", 5000);
    await collector.waitFor((r) => r.path === "/catch/all" && r.body.error, 5000);
  });

  // Found by this spec: the Nuki action used to report `not_found` when reading the device list failed (wrong
  // token, bridge gone); nodes/nuki/bridge-connection.ts execute() now rethrows that failure.
  it("reports a wrong token as unauthorized and a missing bridge as unreachable, not as not_found", function () {
    assert.equal(failed["nuki-wrong"].code, "unauthorized", JSON.stringify(failed["nuki-wrong"]));
    assert.equal(failed["nuki-gone"].code, "unreachable", JSON.stringify(failed["nuki-gone"]));
  });

  it("answers 'test connection' without any secret", async function () {
    // As the editor sends it: the config node's id, settings, and the password fields the user typed (the env-backed
    // ones here; untouched fields fall back to the stored credentials of that id).
    const nuki = await probe("nuki", { id: "nuki-cfg", host: "127.0.0.1", port: nukiPort(), auth: "encrypted", token: SECRETS.nukiToken });
    assert.equal(nuki.body.ok, true, nuki.text);
    const tedee = await probe("tedee", { id: "tedee-cfg", host: "127.0.0.1", port: tedeePort(), auth: "encrypted", cloudUrl: sims.tedeeCloud.url, routeSecret: SECRETS.tedeeRoute });
    assert.equal(tedee.body.ok, true, tedee.text);
    assert.equal(tedee.body.callback.registered, true, tedee.text);
    const loqed = await probe("loqed", { id: "loqed-cfg", host: "127.0.0.1", port: sims.loqedBridge.port, keyId: 1, cloudUrl: sims.loqedCloud.url, keySecret: SECRETS.loqedKeySecret });
    assert.equal(loqed.body.ok, true, loqed.text);
    const unifi = await probe("unifi-access", { id: "unifi-access-cfg", host: "127.0.0.1", port: sims.unifi.port, tls: "pin", fingerprint: A.colons(sims.unifi.fingerprint), webhooks: false, token: SECRETS.unifiToken });
    assert.equal(unifi.body.ok, true, unifi.text);
  });

  // Found by this spec: the probes used stored `${VAR}` credentials literally; core typedOrStored now resolves them
  // like the runtime does, and admin answers mask every /smartlocks/<vendor>/<secret>/ segment.
  it("'test connection' resolves ${ENV} credentials stored on the config node", async function () {
    const nuki = await probe("nuki", { id: "nuki-cfg", host: "127.0.0.1", port: nukiPort(), auth: "encrypted" });
    assert.equal(nuki.body.ok, true, nuki.text);
    const unifi = await probe("unifi-access", { id: "unifi-access-cfg", host: "127.0.0.1", port: sims.unifi.port, tls: "pin", fingerprint: A.colons(sims.unifi.fingerprint), webhooks: false });
    assert.equal(unifi.body.ok, true, unifi.text);
    const tedee = await probe("tedee", { id: "tedee-cfg", host: "127.0.0.1", port: tedeePort(), auth: "encrypted", cloudUrl: sims.tedeeCloud.url });
    assert.equal(tedee.body.callback.registered, true, tedee.text);
    assert.ok(!tedee.text.includes(SECRETS.tedeeRoute), "no route secret in the probe answer");
  });

  it("shows no secret in the log, GET /flows, any message, any status text or any probe answer", async function () {
    await A.sleep(500);
    const statuses = collector.received.filter((r) => r.path === "/status");
    assert.ok(statuses.length > 0, "the Status node reported");
    assert.ok(collector.received.some((r) => r.path.startsWith("/out/")), "action output collected");
    assert.ok(collector.received.some((r) => r.path.startsWith("/catch/") && r.body.error && r.body.error.message), "msg.error collected");
    const places = {
      log: red.logs.join("\n"),
      "GET /flows": JSON.stringify(await red.getFlows()),
      messages: JSON.stringify(collector.received.filter((r) => r.path !== "/status").map((r) => ({ path: r.path, body: r.body, headers: r.headers }))),
      "status texts": JSON.stringify(statuses.map((r) => r.body)),
      "probe answers": JSON.stringify(probeAnswers),
    };
    const leaks = [];
    for (const [place, text] of Object.entries(places)) {
      for (const [name, value] of Object.entries(allSecrets)) if (text.includes(value)) leaks.push(`${name} in ${place}`);
    }
    assert.deepEqual(leaks, []);
  });

  it("keeps the flows file free of secrets and the credentials file encrypted", async function () {
    const flowsText = fs.readFileSync(path.join(red.userDir, "flows.json"), "utf8");
    const credFile = path.join(red.userDir, "flows_cred.json");
    const credText = fs.readFileSync(credFile, "utf8");
    assert.deepEqual(Object.keys(JSON.parse(credText)), ["$"], "one encrypted blob");
    for (const [name, value] of Object.entries(allSecrets)) {
      assert.ok(!flowsText.includes(value), `${name} in flows.json`);
      assert.ok(!credText.includes(value), `${name} in clear in flows_cred.json`);
    }
    // It is the credential secret's encryption of the real credentials (env ones stay references).
    const creds = decryptCredentials(credFile);
    assert.equal(creds["nuki-cfg"].webToken, SECRETS.nukiWebToken);
    assert.equal(creds["nuki-cfg"].token, `\${${FROM_ENV.nukiToken}}`);
    assert.equal(creds["unifi-access-cfg"].token, `\${${FROM_ENV.unifiToken}}`);
    assert.equal(creds["loqed-cfg"].cloudToken, SECRETS.loqedCloudToken);
    // Nothing the plugin derived is stored with the credentials.
    const decrypted = JSON.stringify(creds);
    for (const name of ["tedeeHeader", "unifiWebhookSecret", "nukiWebWebhookSecret"]) assert.ok(!decrypted.includes(derived[name]), name);
  });

  it("declares every credential of every config node as a password, in the editor and at runtime", async function () {
    const dir = path.join(repoRoot, "dist", "nodes");
    const seen = {};
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".html"))) {
      for (const [type, def] of Object.entries(editorDefinitions(path.join(dir, file)))) {
        if (def.category !== "config") continue;
        assert.ok(def.credentials && Object.keys(def.credentials).length > 0, `${type} has credentials`);
        for (const [key, spec] of Object.entries(def.credentials)) {
          assert.equal(spec.type, "password", `${type}.credentials.${key} is ${spec.type}`);
          (seen[type] ??= []).push(key);
        }
      }
    }
    assert.deepEqual(Object.keys(seen).sort(), ["loqed-config", "nuki-config", "tedee-config", "unifi-access-config"]);
    for (const key of ["token", "webToken", "routeSecret"]) assert.ok(seen["nuki-config"].includes(key), key);
    for (const key of ["bridgeKey", "keySecret", "cloudToken", "routeSecret"]) assert.ok(seen["loqed-config"].includes(key), key);
    for (const key of ["token", "cloudKey", "routeSecret"]) assert.ok(seen["tedee-config"].includes(key), key);
    for (const key of ["token", "routeSecret"]) assert.ok(seen["unifi-access-config"].includes(key), key);
    // The runtime agrees: the editor's credentials endpoint answers has_<key> only, never a value.
    for (const [type, id] of [["nuki-config", "nuki-cfg"], ["tedee-config", "tedee-cfg"], ["loqed-config", "loqed-cfg"], ["unifi-access-config", "unifi-access-cfg"]]) {
      const res = await A.request(`${red.adminUrl}credentials/${type}/${id}`);
      assert.equal(res.status, 200);
      for (const [key, value] of Object.entries(res.body)) {
        assert.match(key, /^has_/, `${type} credentials endpoint shows ${key}`);
        assert.equal(typeof value, "boolean");
      }
      for (const value of Object.values(allSecrets)) assert.ok(!res.text.includes(value));
    }
  });
});
