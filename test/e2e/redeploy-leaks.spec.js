"use strict";
// End to end, reliability: one real Node-RED process with the packed package and one flow that uses every vendor
// at once against its simulator (Nuki bridge + Nuki Web on one config node, Tedee bridge + cloud, LOQED bridge +
// cloud, UniFi Access, door-state). The same flow is deployed 100 times in a row (full deploys, each waited for
// only up to its "Started flows" line, so a deploy often closes nodes whose registration is still under way).
// Afterwards every simulator must hold exactly one registration of ours, events must still arrive, and the
// process's open handles must not have grown; an empty flow then removes every registration and route.
// Open handles are read inside Node-RED by a function node that loads the builtin module `process` (settings.js
// is written as JSON by the harness, so `functionGlobalContext` cannot carry the process object).
const assert = require("node:assert/strict");
const { packPackage, createUserDir, startNodeRed, startCollector } = require("./harness");
const A = require("./all-vendors");

const DEPLOYS = 100;
const HANDLE_TOLERANCE = 5;
const TEDEE_TIMING = { spacingMs: 30, cloudSpacingMs: 10, retryMs: 200, confirmPollMs: 200, actorDelaysMs: [200, 600, 1500] };
const FOREIGN = {
  nukiWeb: "https://another-app.example.com/nuki",
  tedee: "http://192.168.1.77:9000/other",
  loqed: "http://192.168.1.99:8000/other-app",
};

describe("Redeploy leaks: 100 full deploys of an all-vendor flow in one Node-RED", function () {
  this.timeout(180000);
  const secrets = A.defaultSecrets();
  let sims;
  let red;
  let collector;
  let flows;
  let baseline;
  const durations = [];

  const events = (vendor) => collector.received.filter((r) => r.path === `/events/${vendor}`).map((r) => r.body);
  const eventAfter = (vendor, from, match, what) =>
    collector
      .waitFor((r) => collector.received.indexOf(r) >= from && r.path === `/events/${vendor}` && match(r.body), 10000)
      .then((r) => r.body, (err) => {
        throw new Error(`${what}: ${err.message}`);
      });
  /** Open handles (constructor names) and active resources of the Node-RED process, after keep-alive sockets closed. */
  async function handles() {
    const res = await A.request(`${red.nodeUrl}test/handles`);
    assert.equal(res.status, 200, res.text);
    return res.body;
  }
  async function settledHandles() {
    await A.sleep(6000); // past the keep-alive timeouts (Node's server 5 s, undici 4 s) of earlier requests
    return handles();
  }
  const registrationsAreOne = () => Object.values(A.counts(A.ours(sims, secrets))).every((n) => n === 1);

  before(async function () {
    sims = await A.startSimulators(secrets, { tedeeCloud: { limit: 100000 } });
    sims.nukiWeb.addForeignWebhook(FOREIGN.nukiWeb, ["DEVICE_LOGS"]);
    sims.tedeeBridge._callbacks.push({ id: 900, url: FOREIGN.tedee, method: "POST", headers: [] }); // another app's
    sims.loqedBridge.webhooks.push({ id: 77, url: FOREIGN.loqed, trigger_battery: 0 });
    collector = await startCollector();
    red = await startNodeRed({ userDir: await createUserDir(await packPackage()), settings: { tedeeConfigTiming: TEDEE_TIMING } });
    sims.loqedCloud.webhookUrls = [`${red.nodeUrl}smartlocks/loqed/${secrets.loqedRoute}/cloud`];
    flows = A.buildFlows({ sims, red, collectorUrl: collector.url, creds: secrets });
    await red.deployFlows(flows);
    await A.waitUntil(registrationsAreOne, 15000, `one registration per simulator, got ${JSON.stringify(A.counts(A.ours(sims, secrets)))}`);
    for (const vendor of A.VENDORS) await eventAfter(vendor, 0, (e) => e.event === "device.state", `${vendor} snapshot`);
    baseline = await settledHandles();
  });

  after(async function () {
    if (red) await red.stop();
    if (collector) await collector.close();
    if (sims) await sims.stopAll();
  });

  it(`survives ${DEPLOYS} full deploys in a row with exactly one registration per simulator`, async function () {
    const started = Date.now();
    const cloudBefore = { tedee: sims.tedeeCloud.stats.requests, nukiWeb: sims.nukiWeb.stats.requests };
    for (let i = 0; i < DEPLOYS; i++) {
      const t = Date.now();
      await red.deployFlows(flows);
      durations.push(Date.now() - t);
    }
    const total = Date.now() - started;
    const sorted = [...durations].sort((a, b) => a - b);
    console.log(`      ${DEPLOYS} full deploys: ${(total / 1000).toFixed(1)} s, median ${sorted[sorted.length >> 1]} ms, max ${sorted[sorted.length - 1]} ms`);
    // Cloud budgets (Tedee: 700 requests per hour per account): what a burst of deploys costs.
    const cloud = { tedee: sims.tedeeCloud.stats.requests - cloudBefore.tedee, nukiWeb: sims.nukiWeb.stats.requests - cloudBefore.nukiWeb };
    console.log(`      cloud requests during the deploys: Tedee ${cloud.tedee}, Nuki Web ${cloud.nukiWeb}`);
    assert.equal(sims.tedeeCloud.stats.rateLimited, 0);
    await A.waitUntil(registrationsAreOne, 15000, `one registration per simulator, got ${JSON.stringify(A.counts(A.ours(sims, secrets)))}`);
    await A.sleep(2500); // a late registration of a closed instance would show up now (UniFi/Nuki Web re-check after a deploy)
    assert.deepEqual(A.counts(A.ours(sims, secrets)), { nukiBridge: 1, nukiWeb: 1, tedeeBridge: 1, loqedBridge: 1, unifi: 1 });
    // Nothing of ours beside the one; other applications' registrations untouched.
    assert.deepEqual(A.allRegistrations(sims), { nukiBridge: 1, nukiWeb: 2, tedeeBridge: 2, loqedBridge: 2, unifi: 1 });
    assert.ok(sims.nukiWeb.webhooks.some((w) => w.webhookUrl === FOREIGN.nukiWeb));
    assert.ok(sims.tedeeBridge.callbacks.some((c) => c.url === FOREIGN.tedee));
    assert.ok(sims.loqedBridge.webhooks.some((w) => w.url === FOREIGN.loqed));
    // The registered URLs are the stable ones (same secret across deploys).
    const mine = A.ours(sims, secrets);
    assert.equal(mine.nukiBridge[0].url, `http://127.0.0.1:${red.port}/smartlocks/nuki/${secrets.nukiRoute}/bridge`);
    assert.equal(mine.nukiWeb[0].webhookUrl, `${red.url}/smartlocks/nuki/${secrets.nukiRoute}/web`);
    assert.equal(mine.tedeeBridge[0].url, `http://127.0.0.1:${red.port}/smartlocks/tedee/${secrets.tedeeRoute}/bridge`);
    assert.equal(mine.loqedBridge[0].url, `http://127.0.0.1:${red.port}/smartlocks/loqed/${secrets.loqedRoute}/bridge`);
    assert.equal(mine.unifi[0].endpoint, `${red.url}/smartlocks/unifi-access/${secrets.unifiRoute}/webhook`);
    assert.equal(sims.nukiBridge.stats.busyRejected, 0, "never two requests at once at the Nuki bridge, even across deploys");
    assert.equal(sims.tedeeBridge.stats.busyRejected, 0, "never two requests at once at the Tedee bridge, even across deploys");
    assert.equal(sims.tedeeBridge.stats.replayRejected, 0, "no Tedee encrypted key reused across config node instances");
    assert.equal(sims.loqedBridge.stats.mgmtRejected, 0);
  });

  it("still delivers a valid event on every vendor route after the deploys", async function () {
    let from = collector.received.length;
    await sims.nukiBridge.openDoor(A.NUKI.LOCK_ID);
    const nukiDoor = await eventAfter("nuki", from, (e) => e.event === "door.opened" && e.device.id === A.NUKI.LOCK, "nuki bridge door.opened");
    assert.equal(nukiDoor.channel, "bridge");
    assert.equal(sims.nukiBridge.deliveries.at(-1).status, 200);

    from = collector.received.length;
    await sims.nukiWeb.door(A.NUKI.GARAGE, true);
    const webDoor = await eventAfter("nuki", from, (e) => e.event === "door.opened" && e.device.id === A.NUKI.GARAGE, "nuki web door.opened");
    assert.equal(webDoor.channel, "web");
    assert.ok(sims.nukiWeb.deliveries.filter((d) => d.url.includes(secrets.nukiRoute)).every((d) => d.status === 200));

    from = collector.received.length;
    await sims.tedeeBridge.setState(A.TEDEE.BACK, { state: A.TEDEE_STATE.LOCKED });
    const tedeeLocked = await eventAfter("tedee", from, (e) => e.event === "lock.locked" && e.device.id === String(A.TEDEE.BACK), "tedee lock.locked");
    assert.equal(tedeeLocked.channel, "bridge");

    from = collector.received.length;
    sims.loqedBridge.twistAssist("day_lock");
    const loqedUnlocked = await eventAfter("loqed", from, (e) => e.event === "lock.unlocked", "loqed lock.unlocked");
    assert.equal(loqedUnlocked.channel, "bridge");
    await sims.loqedBridge.idle();
    assert.ok(sims.loqedBridge.deliveries.filter((d) => d.url.includes(secrets.loqedRoute)).slice(-2).every((d) => d.status === 200));
    await A.nextSecond();
    from = collector.received.length;
    const cloudStatuses = await sims.loqedCloud.webhook({ battery_percentage: 42, lock_id: 6148 });
    assert.deepEqual(cloudStatuses, [200]);
    await eventAfter("loqed", from, (e) => e.event === "loqed.battery.level" && e.channel === "cloud", "loqed cloud battery");

    from = collector.received.length;
    sims.unifi.setDoorPosition(A.UNIFI.GARAGE, "open");
    await eventAfter("unifi-access", from, (e) => e.event === "door.opened" && e.device.id === A.UNIFI.GARAGE, "unifi door.opened");
    await A.waitUntil(() => sims.unifi.deliveries.at(-1)?.status === 200, 5000, "UniFi webhook delivery answered 200");

    // Actions still go through the (single) current config node of each vendor.
    const nuki = await A.request(`${red.nodeUrl}test/act/nuki`, { method: "POST", body: { action: "unlock", device: A.NUKI.LOCK } });
    assert.equal(nuki.status, 200, JSON.stringify(nuki.body));
    assert.equal(nuki.body.confirmed, true);
    const unifi = await A.request(`${red.nodeUrl}test/act/unifi-access`, { method: "POST", body: { action: "unlock", device: A.UNIFI.FRONT } });
    assert.equal(unifi.status, 200, JSON.stringify(unifi.body));
    assert.equal(events("nuki").filter((e) => e.event === "door.opened" && e.device.id === A.NUKI.LOCK).length, 1, "one event per happening: no second (leaked) listener");
  });

  it("answers door-state queries for a door of every vendor after the deploys", async function () {
    const expected = { nuki: ["nuki", A.NUKI.LOCK], tedee: ["tedee", String(A.TEDEE.BACK)], loqed: ["loqed", A.LOQED.MAC], unifi: ["unifi-access", A.UNIFI.GARAGE] };
    for (const [vendor, id] of Object.values(expected)) {
      const res = await A.request(`${red.nodeUrl}test/door`, { method: "POST", body: { device: `${vendor}/${id}` } });
      assert.equal(res.status, 200);
      assert.ok(res.body && res.body.device, `door-state knows ${vendor}/${id}: ${res.text}`);
      assert.equal(res.body.vendor, vendor);
      assert.equal(res.body.device.id, id);
    }
    const nuki = await A.request(`${red.nodeUrl}test/door`, { method: "POST", body: { device: `nuki/${A.NUKI.LOCK}` } });
    assert.equal(nuki.body.door, "open", "the Nuki door was opened after the deploys");
  });

  it(`keeps the open handle count of the Node-RED process stable (at most +${HANDLE_TOLERANCE})`, async function () {
    const now = await settledHandles();
    const summary = (h) => JSON.stringify(h.handles.reduce((acc, name) => ({ ...acc, [name]: (acc[name] ?? 0) + 1 }), {}));
    console.log(`      open handles before ${baseline.handles.length} ${summary(baseline)}, after ${now.handles.length} ${summary(now)}`);
    assert.ok(now.handles.length <= baseline.handles.length + HANDLE_TOLERANCE, `handles grew from ${summary(baseline)} to ${summary(now)}`);
    assert.ok(now.requests <= baseline.requests + HANDLE_TOLERANCE, `active requests grew from ${baseline.requests} to ${now.requests}`);
    // Timers are no handles since Node 11: count them among the active resources (a leaked interval would show).
    const timers = (h) => h.resources.filter((r) => r === "Timeout").length;
    console.log(`      active timers before ${timers(baseline)}, after ${timers(now)}`);
    assert.ok(timers(now) <= timers(baseline) + HANDLE_TOLERANCE, `timers grew from ${timers(baseline)} to ${timers(now)}`);
  });

  it("removes every registration and route when an empty flow is deployed", async function () {
    await red.deployFlows([{ id: "empty", type: "tab", label: "empty" }]);
    await A.waitUntil(() => Object.values(A.counts(A.ours(sims, secrets))).every((n) => n === 0), 15000, `no registration of ours, got ${JSON.stringify(A.counts(A.ours(sims, secrets)))}`);
    await A.sleep(1500);
    assert.deepEqual(A.counts(A.ours(sims, secrets)), { nukiBridge: 0, nukiWeb: 0, tedeeBridge: 0, loqedBridge: 0, unifi: 0 });
    assert.deepEqual(A.allRegistrations(sims), { nukiBridge: 0, nukiWeb: 1, tedeeBridge: 1, loqedBridge: 1, unifi: 0 }, "only other applications' registrations stay");
    for (const [vendor, secret, channel] of A.routes(secrets)) {
      const res = await A.request(`${red.nodeUrl}smartlocks/${vendor}/${secret}/${channel}`, { method: "POST", body: "{}" });
      assert.equal(res.status, 404, `${vendor}/${channel} still routed`);
    }
  });

  it("never logged 'Close timed out' and stops within 10 s with the full flow running", async function () {
    await red.deployFlows(flows);
    await A.waitUntil(registrationsAreOne, 15000, "registrations before the stop");
    assert.deepEqual(red.logs.filter((l) => /Close timed out/i.test(l)), []);
    assert.deepEqual(red.logs.filter((l) => /\[error\]/.test(l)), [], "no error in the log");
    const t = Date.now();
    const exit = await red.stop();
    const ms = Date.now() - t;
    console.log(`      stop took ${ms} ms (${JSON.stringify(exit)})`);
    assert.ok(ms < 10000, `stop took ${ms} ms`);
    assert.notEqual(exit.signal, "SIGKILL");
  });
});
