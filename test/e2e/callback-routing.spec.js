"use strict";
// End to end, how callbacks travel through a real Node-RED (the packed package, Node-RED 4 or 5, whichever the
// suite runs on): in Node-RED's default layout (httpAdmin and httpNode both on "/") a Nuki Bridge callback is
// answered directly from the registry's capture, without passing the editor app (no admin CORS header on the
// answer), and still yields its event; with httpNodeAuth it must still be refused without credentials; with
// httpAdminMiddleware (the user's own code) it still passes through that middleware. Same answers otherwise.
const assert = require("node:assert/strict");
const bcrypt = require("bcryptjs");
const { packPackage, createUserDir, startNodeRed, startCollector } = require("./harness");
const { NukiBridgeSimulator } = require("../simulators/nuki-bridge");

const LOCK_ID = 1046726733;
const SECRET = "routingRouteSecret_0123456789";
const TOKEN = "routing-bridge-token";

function flows(simPort, collectorUrl) {
  return [
    { id: "tab1", type: "tab", label: "routing e2e" },
    { id: "cfg", type: "nuki-config", name: "sim bridge", host: "127.0.0.1", port: simPort, auth: "plain", callbackUrl: "", credentials: { token: TOKEN, routeSecret: SECRET } },
    { id: "ev", type: "nuki-events", z: "tab1", config: "cfg", devices: [], events: ["door.opened", "door.closed"], wires: [["post"]] },
    { id: "post", type: "http request", z: "tab1", method: "POST", ret: "txt", paytoqs: "ignore", url: `${collectorUrl}/events`, wires: [[]] },
  ];
}

/** A Smart Lock state as the bridge POSTs it, with the door sensor `door` (2 closed, 3 opened). */
function callbackBody(door) {
  return JSON.stringify({
    nukiId: LOCK_ID,
    deviceType: 4,
    mode: 2,
    state: 1,
    stateName: "locked",
    batteryCritical: false,
    batteryCharging: false,
    batteryChargeState: 80,
    doorsensorState: door,
    doorsensorStateName: door === 3 ? "door opened" : "door closed",
  });
}

const layouts = [
  {
    name: "Node-RED's defaults (httpAdmin and httpNode on /)",
    options: {},
    check(res) {
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("access-control-allow-origin"), null, "answered without the editor app's CORS");
    },
  },
  {
    name: "httpNodeAuth",
    options: { settings: { httpNodeAuth: { user: "device", pass: bcrypt.hashSync("door-pass", 8) } } },
    auth: `Basic ${Buffer.from("device:door-pass").toString("base64")}`,
    async check(res, post) {
      assert.equal(res.status, 200, "with credentials");
      const refused = await post({ auth: false });
      assert.equal(refused.status, 401, "httpNodeAuth still applies to callbacks");
    },
  },
  {
    name: "httpAdminMiddleware",
    options: { settingsSource: '{ httpAdminMiddleware: (req, res, next) => { res.setHeader("X-Admin-Middleware", "ran"); next(); } }' },
    check(res) {
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-admin-middleware"), "ran", "the user's admin middleware still sees callbacks");
    },
  },
];

describe("Callback routing in a real Node-RED", function () {
  this.timeout(120000);
  let sim;
  let collector;
  let tarball;

  before(async function () {
    sim = new NukiBridgeSimulator({ token: TOKEN, busyMs: 20, actionMs: 100 });
    await sim.start();
    collector = await startCollector();
    tarball = await packPackage();
  });

  after(async function () {
    if (collector) await collector.close();
    if (sim) await sim.stop();
  });

  for (const layout of layouts) {
    describe(layout.name, function () {
      let red;

      before(async function () {
        red = await startNodeRed({ userDir: await createUserDir(tarball), ...layout.options });
        await red.deployFlows(flows(sim.url.split(":").pop(), collector.url));
      });

      after(async function () {
        if (red) await red.stop();
      });

      it("answers the bridge's callback and delivers its event", async function () {
        const deadline = Date.now() + 20000;
        while (!sim.callbacks.some((c) => c.url.includes(SECRET)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const callback = sim.callbacks.find((c) => c.url.includes(SECRET));
        assert.ok(callback, "the config node registered its callback");
        // the bridge's own state has the door closed, so an opened door is news, and a refused callback is not
        const post = async ({ auth = true, door = 3 } = {}) => {
          const headers = { "Content-Type": "application/json" };
          if (auth && layout.auth) headers.Authorization = layout.auth;
          return fetch(callback.url, { method: "POST", headers, body: callbackBody(door) });
        };
        const before = collector.received.length;
        const res = await post();
        await collector.waitFor((r) => collector.received.indexOf(r) >= before && r.path === "/events" && r.body.event === "door.opened", 10000);
        await layout.check(res, (options) => post({ ...options, door: 2 }));
        await new Promise((r) => setTimeout(r, 300));
        const events = collector.received.slice(before).filter((r) => r.path === "/events").map((r) => r.body.event);
        assert.deepEqual(events, ["door.opened"], "one event for the accepted callback, none for a refused one");
      });
    });
  }
});
