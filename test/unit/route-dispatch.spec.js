"use strict";

// Direct dispatch: a callback answered from the root capture must get exactly the answer express's walk would have
// given, and every layout in which something else could act on the request must take the walk.

const assert = require("node:assert/strict");
const express = require("express");
const cors = require("cors");
const request = require("supertest");
const { RouteRegistry, routePath } = require("../../dist/nodes/core/route-registry");

const SECRET = "k3Y_-abcdefghijklmnopqrs";
const OTHER_SECRET = "Zz9_-abcdefghijklmnopqrs";
const BODY = '{"nukiId":1,"state":3,"doorsensorState":2}';

/**
 * Node-RED's layout (red.js, editor-api): x-powered-by off, the editor-api app (CORS, body parsers, editor routes)
 * mounted before httpNode, both on the root app unless adminRoot says otherwise; the `RED.httpAdmin` that nodes get
 * is the runtime's app, mounted inside the editor-api app (node-red/lib/red.js). `seen` counts requests the admin
 * app saw.
 */
function nodeRedLayout({ nodeRoot = "/", adminRoot = "/", beforeNode, serverOptions = {} } = {}) {
  // Node-RED applies httpServerOptions (default x-powered-by off) to all three apps
  const options = { "x-powered-by": false, ...serverOptions };
  const configure = (app) => {
    for (const [name, value] of Object.entries(options)) app.set(name, value);
    return app;
  };
  const root = configure(express());
  const admin = configure(express());
  const seen = { admin: 0 };
  admin.use((_req, _res, next) => {
    seen.admin += 1;
    next();
  });
  admin.use(cors({ origin: "*", methods: "GET,PUT,POST,DELETE" }));
  admin.use(express.json());
  admin.use(express.urlencoded({ extended: true }));
  for (let i = 0; i < 20; i++) admin.get(`/editor-route-${i}`, (_req, res) => res.end());
  const runtimeAdmin = configure(express());
  admin.use(runtimeAdmin);
  root.use(adminRoot, admin);
  if (beforeNode) beforeNode(root);
  const node = configure(express());
  root.use(nodeRoot, node);
  return { root, admin: runtimeAdmin, editorApi: admin, node, seen };
}

/** The same layout twice: one registry dispatching directly, one always taking express's walk. */
function pair(layoutOptions = {}, registryOptions = {}) {
  const make = (directDispatch) => {
    const layout = nodeRedLayout(layoutOptions);
    const registry = RouteRegistry.for(layout.node, "nuki", {
      httpNodeRoot: layoutOptions.nodeRoot ?? "/",
      bypassApps: [layout.admin],
      directDispatch,
      ...registryOptions,
    });
    return { ...layout, registry };
  };
  return { direct: make(true), walk: make(false) };
}

function url(nodeRoot = "/", secret = SECRET, channel = "bridge") {
  return routePath(nodeRoot, "nuki", secret, channel);
}

/** What a client can see of an answer, minus headers that differ by time. */
function visible(res) {
  const headers = { ...res.headers };
  delete headers.date;
  delete headers.connection;
  delete headers["keep-alive"];
  return { status: res.status, text: res.text, headers };
}

describe("RouteRegistry direct dispatch", function () {
  describe("Node-RED's default layout (httpAdmin and httpNode on /)", function () {
    it("answers a registered callback from the capture, with the walk's status, body and headers minus admin CORS", async function () {
      const { direct, walk } = pair();
      for (const side of [direct, walk]) {
        side.registry.register(SECRET, "bridge", (req) => ({ status: 200, body: { got: JSON.parse(req.rawBody.toString("utf8")) } }));
      }
      const a = await request(direct.root).post(url()).set("content-type", "application/json").send(BODY);
      const b = await request(walk.root).post(url()).set("content-type", "application/json").send(BODY);
      assert.equal(b.headers["access-control-allow-origin"], "*", "control: the walk passes the admin app's CORS");
      const expected = visible(b);
      delete expected.headers["access-control-allow-origin"];
      assert.deepEqual(visible(a), expected);
      assert.deepEqual(JSON.parse(a.text), { got: JSON.parse(BODY) });
      assert.deepEqual(direct.registry.stats, { direct: 1, walked: 0 });
      assert.equal(direct.seen.admin, 0, "the admin app never saw the callback");
      assert.deepEqual(walk.registry.stats, { direct: 0, walked: 1 });
      assert.equal(walk.seen.admin, 1);
    });

    it("gives the same answers as the walk for 404, 405, 413, handler errors and text bodies", async function () {
      const { direct, walk } = pair();
      for (const side of [direct, walk]) {
        side.registry.register(SECRET, "bridge", () => ({ status: 401, body: "Unauthorized: bad signature" }));
        side.registry.register(SECRET, "throws", () => {
          throw new Error("boom");
        });
      }
      const cases = [
        (app) => request(app).post(url()).send(BODY),
        (app) => request(app).post(url("/", OTHER_SECRET)).send(BODY),
        (app) => request(app).post(url("/", SECRET, "other")).send(BODY),
        (app) => request(app).post(url("/", SECRET, "throws")).send(BODY),
        (app) => request(app).post(`${url()}?x=1`).send(BODY),
        (app) => request(app).post(`${url()}/`).send(BODY),
        (app) => request(app).post(url()).set("content-type", "application/json").send(JSON.stringify({ pad: "x".repeat(300 * 1024) })),
      ];
      for (const [index, send] of cases.entries()) {
        const a = visible(await send(direct.root));
        const b = visible(await send(walk.root));
        // only the admin app's CORS header may differ (cases that take the walk on both sides have it on both)
        delete a.headers["access-control-allow-origin"];
        delete b.headers["access-control-allow-origin"];
        assert.deepEqual(a, b, `case ${index}`);
      }
      // only registered routes are dispatched; everything else (404s included) goes express's way
      assert.equal(direct.registry.stats.direct, 5);
    });

    it("keeps GETs and other methods on express's way (405 from the registry)", async function () {
      const { direct } = pair();
      direct.registry.register(SECRET, "bridge", () => ({ status: 200 }));
      await request(direct.root).get(url()).expect(405);
      assert.deepEqual(direct.registry.stats, { direct: 0, walked: 1 });
    });

    it("takes the walk for every app that is not in bypassApps (no bypass given: the admin app sees the callback)", async function () {
      const { direct } = pair({}, { bypassApps: [] });
      direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      const res = await request(direct.root).post(url()).send(BODY).expect(204);
      assert.equal(res.headers["access-control-allow-origin"], "*");
      assert.deepEqual(direct.registry.stats, { direct: 0, walked: 1 });
      assert.equal(direct.seen.admin, 1);
    });

    it("adds X-Powered-By when the apps have it on, like expressInit", async function () {
      const { direct } = pair({ serverOptions: { "x-powered-by": true } });
      direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      const res = await request(direct.root).post(url()).send(BODY).expect(204);
      assert.equal(res.headers["x-powered-by"], "Express");
      assert.equal(direct.registry.stats.direct, 1);
    });
  });

  describe("layouts in which something else may act on the callback take the walk", function () {
    it("httpNodeAuth (root middleware at httpNodeRoot) still answers 401", async function () {
      const basicAuth = (req, res, next) => (req.headers.authorization === "Basic dTpw" ? next() : res.status(401).end("auth"));
      const { direct } = pair({ beforeNode: (root) => root.use("/", basicAuth) });
      direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(direct.root).post(url()).send(BODY).expect(401);
      await request(direct.root).post(url()).set("authorization", "Basic dTpw").send(BODY).expect(204);
      assert.deepEqual(direct.registry.stats, { direct: 0, walked: 1 });
    });

    it("httpNodeAuth at another root leaves the callback path direct", async function () {
      const basicAuth = (_req, res) => res.status(401).end("auth");
      const { direct } = pair({ nodeRoot: "/api", beforeNode: (root) => root.use("/other", basicAuth) });
      direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(direct.root).post(url("/api")).send(BODY).expect(204);
      assert.deepEqual(direct.registry.stats, { direct: 1, walked: 0 });
    });

    it("middleware that a module put on httpNode before the registry runs (walk); one added after it does not matter", async function () {
      const layout = nodeRedLayout();
      let ran = 0;
      layout.node.use((_req, _res, next) => {
        ran += 1;
        next();
      });
      const registry = RouteRegistry.for(layout.node, "nuki", { httpNodeRoot: "/", bypassApps: [layout.admin] });
      registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(layout.root).post(url()).send(BODY).expect(204);
      assert.equal(ran, 1);
      assert.deepEqual(registry.stats, { direct: 0, walked: 1 });

      const later = pair();
      let ranLater = 0;
      later.direct.node.use((_req, _res, next) => {
        ranLater += 1;
        next();
      });
      later.direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(later.direct.root).post(url()).send(BODY).expect(204);
      assert.equal(ranLater, 0, "express would not have reached it either");
      assert.equal(later.direct.registry.stats.direct, 1);
    });

    it("an `http in` route on the same path registered first answers, as it does on express's way", async function () {
      const layout = nodeRedLayout();
      layout.node.post("/smartlocks/nuki/:secret/:channel", (_req, res) => res.status(299).end("http in"));
      const registry = RouteRegistry.for(layout.node, "nuki", { httpNodeRoot: "/", bypassApps: [layout.admin] });
      registry.register(SECRET, "bridge", () => ({ status: 204 }));
      const res = await request(layout.root).post(url()).send(BODY).expect(299);
      assert.equal(res.text, "http in");
      assert.equal(registry.stats.direct, 0);
    });

    it("sees routes and middleware added and removed at any time (no stale decision)", async function () {
      const { direct } = pair();
      direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(direct.root).post(url()).send(BODY).expect(204);
      // a root middleware on the path, as a later deploy or module could add
      const guard = (_req, res) => {
        res.statusCode = 403;
        res.end("guard");
      };
      direct.root.use(guard);
      const stack = direct.root._router.stack;
      stack.splice(1, 0, stack.pop());
      await request(direct.root).post(url()).send(BODY).expect(403);
      stack.splice(stack.findIndex((layer) => layer.handle === guard), 1);
      await request(direct.root).post(url()).send(BODY).expect(204);
      assert.deepEqual(direct.registry.stats, { direct: 2, walked: 0 });
      // a layer replaced in place (same stack length) on httpNode: a module's middleware where express's
      // `query` was, i.e. before the registry
      const nodeStack = direct.node._router.stack;
      const length = nodeStack.length;
      direct.node.use(guard);
      nodeStack.splice(nodeStack.findIndex((layer) => layer.name === "query"), 1, nodeStack.pop());
      assert.equal(nodeStack.length, length);
      await request(direct.root).post(url()).send(BODY).expect(403);
      assert.equal(direct.registry.stats.direct, 2);
    });

    it("another app mounted on the path takes the walk", async function () {
      const other = express();
      other.post("/nuki/:a/:b", (_req, res) => res.status(298).end("other app"));
      const { direct } = pair({ beforeNode: (root) => root.use("/smartlocks", other) });
      direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(direct.root).post(url()).send(BODY).expect(298);
      assert.equal(direct.registry.stats.direct, 0);
    });

    it("case-sensitive routing takes express's decision (walk for a path in other case)", async function () {
      const { direct, walk } = pair({ serverOptions: { "case sensitive routing": true } });
      for (const side of [direct, walk]) side.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      const upper = url().replace("/smartlocks/", "/SmartLocks/");
      const a = await request(direct.root).post(upper).send(BODY);
      const b = await request(walk.root).post(upper).send(BODY);
      assert.equal(b.status, 404, "control: case-sensitive express does not reach the registry");
      assert.equal(a.status, b.status);
      assert.equal(direct.registry.stats.direct, 0);
      await request(direct.root).post(url()).send(BODY).expect(204);
      assert.equal(direct.registry.stats.direct, 1);
    });
  });

  describe("other layouts", function () {
    it("httpAdminRoot elsewhere and httpNodeRoot /api: direct without any bypass", async function () {
      const { direct } = pair({ nodeRoot: "/api", adminRoot: "/admin" }, { bypassApps: [] });
      direct.registry.register(SECRET, "bridge", (req) => ({ status: 200, body: req.rawBody.toString("utf8") }));
      const res = await request(direct.root).post(url("/api")).set("content-type", "application/json").send(BODY).expect(200);
      assert.equal(res.text, BODY);
      assert.deepEqual(direct.registry.stats, { direct: 1, walked: 0 });
    });

    it("bypassApps may also name the app mounted on the root itself", async function () {
      const layout = nodeRedLayout();
      const registry = RouteRegistry.for(layout.node, "nuki", { httpNodeRoot: "/", bypassApps: [layout.editorApi] });
      registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(layout.root).post(url()).send(BODY).expect(204);
      assert.equal(registry.stats.direct, 1);
      assert.equal(layout.seen.admin, 0);
    });

    it("an app in bypassApps that is not mounted under the root changes nothing", async function () {
      const layout = nodeRedLayout();
      const registry = RouteRegistry.for(layout.node, "nuki", { httpNodeRoot: "/", bypassApps: [express()] });
      registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(layout.root).post(url()).send(BODY).expect(204);
      assert.deepEqual(registry.stats, { direct: 0, walked: 1 });
    });

    it("Node-RED's own rawBodyCapture on the root is no reason to walk", async function () {
      const { direct } = pair({
        beforeNode: (root) => {
          root.use(function rawBodyCapture(_req, _res, next) {
            next();
          });
        },
      });
      direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      await request(direct.root).post(url()).send(BODY).expect(204);
      assert.equal(direct.registry.stats.direct, 1);
    });

    it("several vendors on one root dispatch each to their own registry", async function () {
      const layout = nodeRedLayout();
      const nuki = RouteRegistry.for(layout.node, "nuki", { httpNodeRoot: "/", bypassApps: [layout.admin] });
      const loqed = RouteRegistry.for(layout.node, "loqed", { httpNodeRoot: "/", bypassApps: [layout.admin] });
      nuki.register(SECRET, "bridge", () => ({ status: 200, body: "nuki" }));
      loqed.register(SECRET, "bridge", () => ({ status: 200, body: "loqed" }));
      assert.equal((await request(layout.root).post(url()).send(BODY).expect(200)).text, "nuki");
      assert.equal((await request(layout.root).post(routePath("/", "loqed", SECRET, "bridge")).send(BODY).expect(200)).text, "loqed");
      assert.equal(nuki.stats.direct, 1);
      assert.equal(loqed.stats.direct, 1);
      assert.equal(layout.seen.admin, 0);
    });

    it("admin endpoints under the same prefix still reach the admin app with their JSON body", async function () {
      const { direct } = pair();
      direct.registry.register(SECRET, "bridge", () => ({ status: 204 }));
      direct.admin.post("/smartlocks/nuki/probe", (req, res) => res.json({ body: req.body ?? null, raw: Buffer.isBuffer(req.smartlocksRawBody) }));
      const res = await request(direct.root).post("/smartlocks/nuki/probe").send({ host: "h" }).expect(200);
      // the capture read the bytes (core/admin-endpoint parses them); the point here is that the admin app got it
      assert.equal(res.body.raw, true);
      assert.equal(direct.seen.admin, 1);
      assert.equal(direct.registry.stats.direct, 0);
    });
  });
});
