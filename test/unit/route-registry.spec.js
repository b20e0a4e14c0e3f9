"use strict";

const assert = require("node:assert/strict");
const http = require("node:http");
const crypto = require("node:crypto");
const express = require("express");
const request = require("supertest");
const { RouteRegistry, routePath, normaliseRoot, DEFAULT_READ_TIMEOUT_MS } = require("../../dist/nodes/core/route-registry");

const SECRET = "k3Y_-abcdefghijklmnopqrs";
const OTHER_SECRET = "Zz9_-abcdefghijklmnopqrs";

/** Node-RED's layout (red.js): httpAdmin with app-level body parsers mounted before httpNode on one root app. */
function nodeRedLayout(httpNodeRoot) {
  const root = express();
  const admin = express();
  admin.use(express.json());
  admin.use(express.urlencoded({ extended: true }));
  root.use("/", admin);
  const node = express();
  root.use(httpNodeRoot, node);
  return { root, admin, node };
}

function ok(status = 200, body) {
  return () => (body === undefined ? { status } : { status, body });
}

function routerStack(app) {
  return app._router.stack;
}

describe("RouteRegistry", function () {
  describe("unmounted app (test helper, embedding apps)", function () {
    let app;
    let registry;

    beforeEach(function () {
      app = express();
      registry = RouteRegistry.for(app, "nuki");
    });

    it("hands the exact raw bytes, headers, peer and channel to the handler", async function () {
      let seen;
      registry.register(SECRET, "bridge", (req) => {
        seen = req;
        return { status: 204 };
      });
      const raw = '{ "nukiId" :1,\t"state": 1 }';
      const before = Date.now();
      await request(app)
        .post(`/smartlocks/nuki/${SECRET}/bridge`)
        .set("content-type", "application/json")
        .set("x-nuki-signature-sha256", "abc")
        .send(raw)
        .expect(204);
      assert.ok(Buffer.isBuffer(seen.rawBody));
      assert.equal(seen.rawBody.toString("utf8"), raw);
      assert.equal(seen.headers["x-nuki-signature-sha256"], "abc");
      assert.equal(seen.channel, "bridge");
      assert.match(seen.remoteAddress, /127\.0\.0\.1/);
      assert.ok(seen.receivedAt >= before && seen.receivedAt <= Date.now());
    });

    it("passes the handler's status and body through, also from async handlers", async function () {
      registry.register(SECRET, "bridge", ok(202, { accepted: true }));
      registry.register(SECRET, "web", async () => ({ status: 401, body: "bad signature" }));
      const json = await request(app).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(202);
      assert.deepEqual(json.body, { accepted: true });
      assert.match(json.headers["content-type"], /^application\/json/);
      const text = await request(app).post(`/smartlocks/nuki/${SECRET}/web`).send("{}").expect(401);
      assert.equal(text.text, "bad signature");
    });

    it("answers 404 with the same body for an unknown secret and for an unknown channel", async function () {
      registry.register(SECRET, "bridge", ok());
      const wrongSecret = await request(app).post(`/smartlocks/nuki/${OTHER_SECRET}/bridge`).send("{}").expect(404);
      const wrongChannel = await request(app).post(`/smartlocks/nuki/${SECRET}/web`).send("{}").expect(404);
      const prefix = await request(app).post(`/smartlocks/nuki/${SECRET.slice(0, 10)}/bridge`).send("{}").expect(404);
      const tooDeep = await request(app).post(`/smartlocks/nuki/${SECRET}/bridge/x`).send("{}").expect(404);
      for (const res of [wrongChannel, prefix, tooDeep]) {
        assert.equal(res.text, wrongSecret.text);
        assert.equal(res.headers["content-type"], wrongSecret.headers["content-type"]);
        assert.equal(res.headers["content-length"], wrongSecret.headers["content-length"]);
      }
    });

    it("answers 405 for other methods on a known route and 404 on an unknown one", async function () {
      let called = false;
      registry.register(SECRET, "bridge", () => {
        called = true;
        return { status: 200 };
      });
      const res = await request(app).get(`/smartlocks/nuki/${SECRET}/bridge`).expect(405);
      assert.equal(res.headers.allow, "POST");
      await request(app).put(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(405);
      await request(app).get(`/smartlocks/nuki/${OTHER_SECRET}/bridge`).expect(404);
      assert.equal(called, false);
    });

    it("answers 413 for a 300 KiB body and never calls the handler", async function () {
      let called = false;
      registry.register(SECRET, "bridge", () => {
        called = true;
        return { status: 200 };
      });
      await request(app)
        .post(`/smartlocks/nuki/${SECRET}/bridge`)
        .set("content-type", "application/json")
        .send(JSON.stringify({ pad: "x".repeat(300 * 1024) }))
        .expect(413);
      assert.equal(called, false);
    });

    it("answers 413 for a chunked body that grows over the cap while streaming", async function () {
      let called = false;
      registry.register(SECRET, "bridge", () => {
        called = true;
        return { status: 200 };
      });
      const status = await postChunked(app, `/smartlocks/nuki/${SECRET}/bridge`, 300 * 1024);
      assert.equal(status, 413);
      assert.equal(called, false);
    });

    it("answers 408 and closes the connection when the body trickles in slower than readTimeoutMs", async function () {
      const slow = express();
      let called = false;
      const reg = RouteRegistry.for(slow, "nuki", { readTimeoutMs: 300 });
      assert.equal(reg.readTimeoutMs, 300);
      reg.register(SECRET, "bridge", () => {
        called = true;
        return { status: 200 };
      });
      const started = Date.now();
      const { status, closed } = await postTrickle(slow, `/smartlocks/nuki/${SECRET}/bridge`, { intervalMs: 50, bytes: 1000 });
      const elapsed = Date.now() - started;
      assert.equal(status, 408);
      assert.ok(closed, "the server closes the connection");
      assert.ok(elapsed >= 250 && elapsed < 3000, `answered after ${elapsed} ms`);
      assert.equal(called, false);
      // a body that arrives in time is still fine, and the registry keeps serving
      await request(slow).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(200);
    });

    it("reads bodies for 10 s by default; readTimeoutMs 0 turns the limit off", async function () {
      assert.equal(DEFAULT_READ_TIMEOUT_MS, 10000);
      assert.equal(registry.readTimeoutMs, 10000);
      const unlimited = express();
      RouteRegistry.for(unlimited, "nuki", { readTimeoutMs: 0 }).register(SECRET, "bridge", ok(200));
      const { status } = await postTrickle(unlimited, `/smartlocks/nuki/${SECRET}/bridge`, { intervalMs: 20, bytes: 10 });
      assert.equal(status, 200);
    });

    it("matches secrets and channels that routePath percent-encoded; a malformed escape is a 404", async function () {
      for (const secret of ["a b/c", "ä€😀", "x%y", "?#&="]) {
        registry.register(secret, "bridge", ok(204));
        await request(app).post(routePath("/", "nuki", secret, "bridge")).send("{}").expect(204);
      }
      registry.register(SECRET, "we b", ok(202));
      await request(app).post(routePath("/", "nuki", SECRET, "we b")).send("{}").expect(202);
      // percent-encoding an unreserved character names the same URL
      await request(app).post(`/smartlocks/nuki/%6B${SECRET.slice(1)}/we%20b`).send("{}").expect(202);
      for (const path of ["/smartlocks/nuki/%E0%A4%A/bridge", `/smartlocks/nuki/${SECRET}/%`, "/smartlocks/nuki/%00/bridge"]) {
        await request(app).post(path).send("{}").expect(404);
      }
    });

    it("answers 500 with a generic body when a handler throws, rejects or answers no valid status (at once or later), and keeps serving", async function () {
      const errors = [];
      registry.register(
        SECRET,
        "bridge",
        () => {
          throw new Error("boom: secret detail");
        },
        { onError: (error, context) => errors.push([error.message, context]) },
      );
      registry.register(SECRET, "web", async () => Promise.reject(new Error("async boom")), {
        onError: (error) => errors.push([error.message]),
      });
      registry.register(SECRET, "cloud", () => undefined, { onError: (error) => errors.push([error.message]) });
      registry.register(SECRET, "mqtt", async () => ({ status: 99 }), { onError: (error) => errors.push([error.message]) });
      const sync = await request(app).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(500);
      const async_ = await request(app).post(`/smartlocks/nuki/${SECRET}/web`).send("{}").expect(500);
      await request(app).post(`/smartlocks/nuki/${SECRET}/cloud`).send("{}").expect(500);
      await request(app).post(`/smartlocks/nuki/${SECRET}/mqtt`).send("{}").expect(500);
      assert.equal(sync.text, "Internal Server Error");
      assert.equal(async_.text, "Internal Server Error");
      assert.deepEqual(errors[0], ["boom: secret detail", { vendor: "nuki", channel: "bridge" }]);
      assert.deepEqual(errors[1], ["async boom"]);
      assert.match(errors[2][0], /no valid HTTP status/);
      assert.match(errors[3][0], /no valid HTTP status/);
      registry.register(SECRET, "bridge", ok(200));
      await request(app).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(200);
    });

    it("falls back to the registry-wide onError", async function () {
      const other = express();
      const errors = [];
      const reg = RouteRegistry.for(other, "tedee", { onError: (error, context) => errors.push(context) });
      reg.register(SECRET, "bridge", () => {
        throw new Error("x");
      });
      await request(other).post(`/smartlocks/tedee/${SECRET}/bridge`).send("{}").expect(500);
      assert.deepEqual(errors, [{ vendor: "tedee", channel: "bridge" }]);
    });

    it("unregister removes the route; re-registering replaces the handler", async function () {
      const unregisterFirst = registry.register(SECRET, "bridge", ok(201));
      await request(app).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(201);
      registry.register(SECRET, "bridge", ok(202));
      await request(app).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(202);
      // the replaced registration's late unregister (old node closing after the new one started) is a no-op
      unregisterFirst();
      await request(app).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(202);
      const unregister = registry.register(SECRET, "bridge", ok(203));
      unregister();
      await request(app).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(404);
      assert.equal(registry.size, 0);
    });

    it("keeps vendors apart on one app", async function () {
      const loqed = RouteRegistry.for(app, "loqed");
      loqed.register(SECRET, "bridge", ok(200));
      await request(app).post(`/smartlocks/loqed/${SECRET}/bridge`).send("{}").expect(200);
      await request(app).post(`/smartlocks/nuki/${SECRET}/bridge`).send("{}").expect(404);
    });

    it("installs one middleware per (app, vendor), however often it is asked for and used", async function () {
      const fresh = express();
      const first = RouteRegistry.for(fresh, "nuki");
      const layers = routerStack(fresh).length;
      for (let i = 0; i < 50; i++) {
        const again = RouteRegistry.for(fresh, "nuki", { maxBytes: 10 });
        assert.equal(again, first);
        const unregister = again.register(SECRET, `c${i % 3}`, ok());
        if (i % 2 === 0) unregister();
      }
      assert.equal(routerStack(fresh).length, layers);
      assert.equal(first.maxBytes, 262144, "options only apply when the registry is created");
      RouteRegistry.for(fresh, "tedee");
      assert.equal(routerStack(fresh).length, layers + 1);
    });
  });

  for (const httpNodeRoot of ["/", "/api"]) {
    describe(`Node-RED layout: admin parsers first, httpNode at "${httpNodeRoot}"`, function () {
      let layout;
      let registry;
      const url = (secret = SECRET, channel = "bridge") => routePath(httpNodeRoot, "loqed", secret, channel);

      beforeEach(function () {
        layout = nodeRedLayout(httpNodeRoot);
        registry = RouteRegistry.for(layout.node, "loqed", { httpNodeRoot });
      });

      it("really parses bodies before httpNode without the capture (control)", async function () {
        layout.node.post("/control", (req, res) => res.json({ parsed: req._body === true, body: req.body }));
        const res = await request(layout.root)
          .post(`${normaliseRoot(httpNodeRoot)}control`)
          .set("content-type", "application/json")
          .send('{ "a" : 1 }')
          .expect(200);
        assert.deepEqual(res.body, { parsed: true, body: { a: 1 } });
      });

      for (const [type, raw] of [
        ["application/json", '{"event_type" :  "STATE_CHANGED_OPEN",\n "lock_id":1 ,"x":[ 1,2 ]}'],
        ["application/x-www-form-urlencoded", "a=1&b=%20two&&c"],
      ]) {
        it(`gives the handler the exact raw bytes of a ${type} body, so an HMAC over them matches`, async function () {
          const key = crypto.randomBytes(32);
          let received;
          registry.register(SECRET, "bridge", (req) => {
            received = req.rawBody;
            const expected = crypto.createHmac("sha256", key).update(req.rawBody).digest("hex");
            return { status: req.headers.hash === expected ? 200 : 401 };
          });
          const signature = crypto.createHmac("sha256", key).update(raw).digest("hex");
          await request(layout.root).post(url()).set("content-type", type).set("hash", signature).send(raw).expect(200);
          assert.equal(received.toString("utf8"), raw);
        });
      }

      it("answers 404, 405 and 413 through the root app", async function () {
        registry.register(SECRET, "bridge", ok(200));
        const a = await request(layout.root).post(url(OTHER_SECRET)).send({ a: 1 }).expect(404);
        const b = await request(layout.root).post(url(SECRET, "cloud")).send({ a: 1 }).expect(404);
        assert.equal(a.text, b.text);
        await request(layout.root).get(url()).expect(405);
        await request(layout.root)
          .post(url())
          .set("content-type", "application/json")
          .send(JSON.stringify({ pad: "x".repeat(300 * 1024) }))
          .expect(413);
        assert.equal(await postChunked(layout.root, url(), 300 * 1024), 413);
        await request(layout.root).post(url()).send({ a: 1 }).expect(200);
      });

      it("answers 408 when the captured body trickles in too slowly", async function () {
        const slowLayout = nodeRedLayout(httpNodeRoot);
        RouteRegistry.for(slowLayout.node, "loqed", { httpNodeRoot, readTimeoutMs: 300 }).register(SECRET, "bridge", ok(200));
        const { status, closed } = await postTrickle(slowLayout.root, url(), { intervalMs: 50, bytes: 1000 });
        assert.equal(status, 408);
        assert.ok(closed);
        await request(slowLayout.root).post(url()).send({ a: 1 }).expect(200);
      });

      it("puts one capture middleware at the top of the root stack and never a second one", function () {
        const rootLayers = routerStack(layout.root).length;
        const nodeLayers = routerStack(layout.node).length;
        for (let i = 0; i < 20; i++) {
          RouteRegistry.for(layout.node, "loqed", { httpNodeRoot }).register(SECRET, "bridge", ok())();
        }
        assert.equal(routerStack(layout.root).length, rootLayers);
        assert.equal(routerStack(layout.node).length, nodeLayers);
        assert.equal(routerStack(layout.root)[0].name, "capture");
      });

      it("leaves other paths to the admin parsers", async function () {
        layout.admin.post("/elsewhere", (req, res) => res.json(req.body));
        const res = await request(layout.root).post("/elsewhere").send({ a: 1 }).expect(200);
        assert.deepEqual(res.body, { a: 1 });
      });
    });
  }

  describe("when the raw body cannot be had", function () {
    it("answers 400 instead of trusting a body that was already parsed", async function () {
      const layout = nodeRedLayout("/api");
      // a wrong httpNodeRoot makes the capture watch the wrong paths, so admin's parser drains the stream
      const registry = RouteRegistry.for(layout.node, "nuki", { httpNodeRoot: "/elsewhere" });
      let called = false;
      registry.register(SECRET, "bridge", () => {
        called = true;
        return { status: 200 };
      });
      await request(layout.root).post(`/api/smartlocks/nuki/${SECRET}/bridge`).send({ a: 1 }).expect(400);
      assert.equal(called, false);
    });

    it("captures when the app is mounted after the registry was created", async function () {
      const node = express();
      const registry = RouteRegistry.for(node, "nuki");
      let received;
      registry.register(SECRET, "bridge", (req) => {
        received = req.rawBody.toString();
        return { status: 200 };
      });
      const root = express();
      const admin = express();
      admin.use(express.json());
      root.use("/", admin);
      root.use("/api/", node);
      await request(root).post(`/api/smartlocks/nuki/${SECRET}/bridge`).set("content-type", "application/json").send('{"a" : 1}').expect(200);
      assert.equal(received, '{"a" : 1}');
    });
  });

  describe("routePath", function () {
    it("builds the contract path for any httpNodeRoot spelling", function () {
      assert.equal(routePath("/", "nuki", SECRET, "bridge"), `/smartlocks/nuki/${SECRET}/bridge`);
      assert.equal(routePath("/api", "unifi-access", SECRET, "webhook"), `/api/smartlocks/unifi-access/${SECRET}/webhook`);
      assert.equal(routePath("/api/", "tedee", SECRET, "cloud"), `/api/smartlocks/tedee/${SECRET}/cloud`);
      assert.equal(routePath("", "loqed", SECRET, "bridge"), `/smartlocks/loqed/${SECRET}/bridge`);
    });
  });
});

/** POSTs `size` bytes with chunked encoding (no Content-Length) and resolves with the status. */
function postChunked(app, path, size) {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, "127.0.0.1", () => {
      const req = http.request({ host: "127.0.0.1", port: server.address().port, path, method: "POST" }, (res) => {
        res.resume();
        res.on("end", () => server.close(() => resolve(res.statusCode)));
      });
      // the server may close the connection while the rest of the body is still being written
      req.on("error", (error) => {
        if (error.code !== "EPIPE" && error.code !== "ECONNRESET") {
          server.close();
          reject(error);
        }
      });
      req.setHeader("content-type", "application/json");
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      for (let sent = 0; sent < size; sent += chunk.length) req.write(chunk);
      req.end();
    });
  });
}

/**
 * POSTs `bytes` bytes one at a time every `intervalMs` (declared Content-Length), resolving with the status and
 * whether the server closed the connection.
 */
function postTrickle(app, path, { intervalMs, bytes }) {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, "127.0.0.1", () => {
      let timer = null;
      let status = null;
      const req = http.request({
        host: "127.0.0.1",
        port: server.address().port,
        path,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": String(bytes) },
      });
      const done = (closed) => {
        clearInterval(timer);
        server.close(() => resolve({ status, closed }));
        server.closeAllConnections?.();
      };
      req.on("response", (res) => {
        status = res.statusCode;
        res.resume();
        res.on("end", () => {
          const socket = res.socket;
          if (!socket || socket.destroyed) return done(true);
          socket.once("close", () => done(true));
          setTimeout(() => done(false), 1000).unref();
        });
      });
      req.on("error", (error) => {
        if (error.code === "EPIPE" || error.code === "ECONNRESET") return;
        clearInterval(timer);
        server.close();
        reject(error);
      });
      let sent = 0;
      timer = setInterval(() => {
        if (sent >= bytes) return clearInterval(timer);
        req.write(" ");
        sent++;
        if (sent === bytes) req.end();
      }, intervalMs);
    });
  });
}
