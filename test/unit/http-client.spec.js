"use strict";

const assert = require("node:assert/strict");
const http = require("node:http");
const { HttpClient, parseRetryAfter, defaultErrorCode } = require("../../dist/nodes/core/http-client");
const { SmartlockError } = require("../../dist/nodes/core/errors");

/** A device stand-in on 127.0.0.1; `seen` records every request as it arrives. */
async function startServer(handler) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url, "http://127.0.0.1");
      const entry = { method: req.method, url, rawUrl: req.url, headers: req.headers, body: Buffer.concat(chunks).toString(), at: Date.now() };
      seen.push(entry);
      res.on("finish", () => (entry.finishedAt = Date.now()));
      handler(req, res, entry, seen.length - 1);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function json(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function rejectsWith(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected the request to fail");
}

describe("HttpClient", function () {
  let server;
  let client;

  afterEach(async function () {
    client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  describe("serial queue", function () {
    it("keeps exactly one request in flight even with 10 parallel calls", async function () {
      let active = 0;
      let maxActive = 0;
      server = await startServer((req, res) => {
        active++;
        maxActive = Math.max(maxActive, active);
        setTimeout(() => {
          active--;
          json(res, 200, { ok: true });
        }, 15);
      });
      client = new HttpClient({ baseUrl: server.url });
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => client.request({ path: `/r${i}` })));
      assert.equal(maxActive, 1);
      assert.equal(server.seen.length, 10);
      assert.deepEqual(
        server.seen.map((entry) => entry.url.pathname),
        Array.from({ length: 10 }, (_, i) => `/r${i}`),
      );
      assert.ok(results.every((result) => result.status === 200 && result.body.ok === true));
      assert.equal(client.stats.requests, 10);
    });

    it("leaves at least spacingMs between the end of one request and the start of the next", async function () {
      server = await startServer((req, res) => json(res, 200, {}));
      client = new HttpClient({ baseUrl: server.url, spacingMs: 60 });
      await Promise.all(Array.from({ length: 4 }, () => client.request({ path: "/s" })));
      for (let i = 1; i < server.seen.length; i++) {
        const gap = server.seen[i].at - server.seen[i - 1].finishedAt;
        assert.ok(gap >= 55, `gap ${gap} ms before request ${i}`);
      }
    });

    it("sends queued high-priority requests before normal ones without preempting the one in flight", async function () {
      let release;
      server = await startServer((req, res, entry, index) => {
        if (index === 0) release = () => json(res, 200, {});
        else json(res, 200, {});
      });
      client = new HttpClient({ baseUrl: server.url });
      const first = client.request({ path: "/first" });
      await waitFor(() => server.seen.length === 1);
      const rest = [
        client.request({ path: "/read1" }),
        client.request({ path: "/read2" }),
        client.request({ path: "/action1", priority: "high" }),
        client.request({ path: "/read3" }),
        client.request({ path: "/action2", priority: "high" }),
      ];
      assert.equal(client.pending, 5);
      release();
      await Promise.all([first, ...rest]);
      assert.deepEqual(
        server.seen.map((entry) => entry.url.pathname),
        ["/first", "/action1", "/action2", "/read1", "/read2", "/read3"],
      );
    });
  });

  describe("retries", function () {
    it("retries a 503 and calls authorize() right before every attempt", async function () {
      server = await startServer((req, res, entry, index) => {
        if (index < 2) json(res, 503, { error: "device busy" });
        else json(res, 200, { success: true });
      });
      const attempts = [];
      let nonce = 0;
      client = new HttpClient({
        baseUrl: server.url,
        retry: { backoffMs: 5 },
        authorize: (attempt) => {
          attempts.push(attempt);
          nonce++;
          return { query: { nonce: `n${nonce}` }, headers: { "x-ts": `t${nonce}` } };
        },
      });
      const result = await client.request({ path: "/lockAction", query: { action: 1 } });
      assert.equal(result.status, 200);
      assert.deepEqual(attempts, [0, 1, 2]);
      assert.deepEqual(server.seen.map((entry) => entry.url.searchParams.get("nonce")), ["n1", "n2", "n3"]);
      assert.deepEqual(server.seen.map((entry) => entry.headers["x-ts"]), ["t1", "t2", "t3"]);
      assert.ok(server.seen.every((entry) => entry.url.searchParams.get("action") === "1"));
      assert.deepEqual(client.stats, { requests: 1, retries: 2, failures: 0 });
    });

    it("finishes the retrying request before the queue moves on", async function () {
      server = await startServer((req, res, entry, index) => {
        if (index === 0) json(res, 503, {});
        else json(res, 200, {});
      });
      client = new HttpClient({ baseUrl: server.url, retry: { backoffMs: 20 } });
      await Promise.all([client.request({ path: "/a" }), client.request({ path: "/b", priority: "high" })]);
      assert.deepEqual(server.seen.map((entry) => entry.url.pathname), ["/a", "/a", "/b"]);
    });

    it("waits as long as Retry-After says", async function () {
      server = await startServer((req, res, entry, index) => {
        if (index === 0) json(res, 429, {}, { "retry-after": "1" });
        else json(res, 200, {});
      });
      client = new HttpClient({ baseUrl: server.url, retry: { backoffMs: 1 } });
      await client.request({ path: "/x" });
      const gap = server.seen[1].at - server.seen[0].finishedAt;
      assert.ok(gap >= 950, `retried after ${gap} ms`);
    });

    it("caps Retry-After at maxRetryAfterMs", async function () {
      server = await startServer((req, res, entry, index) => {
        if (index === 0) json(res, 503, {}, { "retry-after": "3600" });
        else json(res, 200, {});
      });
      client = new HttpClient({ baseUrl: server.url, retry: { backoffMs: 1, maxRetryAfterMs: 30 } });
      const started = Date.now();
      await client.request({ path: "/x" });
      assert.equal(server.seen.length, 2);
      assert.ok(Date.now() - started < 5000);
    });

    it("parses Retry-After as seconds or HTTP date", function () {
      const now = Date.parse("2024-05-01T12:00:00Z");
      assert.equal(parseRetryAfter("120", now), 120000);
      assert.equal(parseRetryAfter("Wed, 01 May 2024 12:00:30 GMT", now), 30000);
      assert.equal(parseRetryAfter("Wed, 01 May 2024 11:00:00 GMT", now), 0);
      assert.equal(parseRetryAfter("soon", now), undefined);
      assert.equal(parseRetryAfter(undefined, now), undefined);
    });

    it("makes a single attempt with retry: false", async function () {
      server = await startServer((req, res) => json(res, 503, {}));
      client = new HttpClient({ baseUrl: server.url, retry: { backoffMs: 1 } });
      const error = await rejectsWith(client.request({ path: "/x", retry: false }));
      assert.equal(error.code, "busy");
      assert.equal(server.seen.length, 1);
    });

    it("merges per-request retry options over the client's, field by field", async function () {
      server = await startServer((req, res) => json(res, 500, {}));
      client = new HttpClient({ baseUrl: server.url, retry: { backoffMs: 1, retryOn: (status) => status === 500 } });
      const error = await rejectsWith(client.request({ path: "/x", retry: { attempts: 1 } }));
      assert.equal(error.code, "unreachable");
      assert.equal(server.seen.length, 2);
    });
  });

  describe("errors", function () {
    beforeEach(async function () {
      server = await startServer((req, res, entry) => {
        const path = entry.url.pathname;
        if (path === "/400") json(res, 400, { success: false, message: "invalid action" });
        else if (path === "/401") {
          res.writeHead(401, { "content-type": "text/plain" });
          res.end("invalid token");
        } else if (path === "/404") json(res, 404, { error: "unknown nukiId" });
        else if (path === "/405") json(res, 405, {});
        else if (path === "/503") json(res, 503, { error: "device offline" });
        else if (path === "/echo") json(res, 401, { message: `bad token in ${entry.rawUrl}` });
        else if (path === "/html") {
          res.writeHead(500, { "content-type": "text/html" });
          res.end(`<html>${"x".repeat(500)}</html>`);
        }
      });
      client = new HttpClient({ baseUrl: server.url, label: "Nuki bridge", retry: { backoffMs: 1 } });
    });

    const cases = [
      ["/400", "bad_request", 400, "invalid action"],
      ["/401", "unauthorized", 401, "invalid token"],
      ["/404", "not_found", 404, "unknown nukiId"],
      ["/405", "rejected", 405, undefined],
    ];
    for (const [path, code, status, deviceMessage] of cases) {
      it(`maps HTTP ${status} to ${code}`, async function () {
        const error = await rejectsWith(client.request({ path }));
        assert.ok(error instanceof SmartlockError);
        assert.equal(error.code, code);
        assert.equal(error.status, status);
        assert.match(error.message, new RegExp(`^Nuki bridge: GET ${path} failed with HTTP ${status}`));
        if (deviceMessage) assert.ok(error.message.includes(deviceMessage), error.message);
        assert.equal(server.seen.length, 1, "not retried");
      });
    }

    it("maps a 503 that stays after all retries to busy", async function () {
      const error = await rejectsWith(client.request({ path: "/503" }));
      assert.equal(error.code, "busy");
      assert.equal(error.status, 503);
      assert.ok(error.message.includes("device offline"));
      assert.equal(server.seen.length, 3);
      assert.deepEqual(client.stats, { requests: 1, retries: 2, failures: 1 });
    });

    it("does not quote long HTML error pages and maps other 5xx to unreachable", async function () {
      const error = await rejectsWith(client.request({ path: "/html" }));
      assert.equal(error.code, "unreachable");
      assert.equal(error.message, "Nuki bridge: GET /html failed with HTTP 500");
    });

    it("keeps auth query values and headers out of error messages", async function () {
      const error = await rejectsWith(
        client.request({
          path: "/echo",
          query: { nukiId: 42 },
          authorize: () => ({ query: { token: "s3cr3t-token" }, headers: { authorization: "Bearer hdr-s3cr3t" } }),
        }),
      );
      assert.equal(error.code, "unauthorized");
      assert.ok(error.message.includes("GET /echo failed with HTTP 401: bad token in"), error.message);
      assert.ok(!error.message.includes("s3cr3t"), error.message);
      assert.ok(!error.message.includes("GET /echo?"), error.message);
      assert.equal(server.seen[0].url.searchParams.get("token"), "s3cr3t-token");
      assert.equal(server.seen[0].headers.authorization, "Bearer hdr-s3cr3t");
    });

    it("lets mapError override the default mapping", async function () {
      client.close();
      client = new HttpClient({
        baseUrl: server.url,
        mapError: (status, body) => (status === 404 && body.error === "unknown nukiId" ? "offline" : undefined),
      });
      assert.equal((await rejectsWith(client.request({ path: "/404" }))).code, "offline");
      assert.equal((await rejectsWith(client.request({ path: "/400" }))).code, "bad_request");
    });

    it("has the documented default status mapping", function () {
      const expected = {
        400: "bad_request",
        401: "unauthorized",
        403: "unauthorized",
        404: "not_found",
        405: "rejected",
        406: "rejected",
        409: "busy",
        423: "busy",
        429: "busy",
        503: "busy",
        500: "unreachable",
        502: "unreachable",
        504: "unreachable",
      };
      for (const [status, code] of Object.entries(expected)) assert.equal(defaultErrorCode(Number(status)), code, status);
    });
  });

  describe("network failures", function () {
    it("maps a refused connection to unreachable after retrying it", async function () {
      const closed = await startServer(() => {});
      const { port } = closed;
      await closed.close();
      client = new HttpClient({ baseUrl: `http://127.0.0.1:${port}`, retry: { backoffMs: 1 } });
      const error = await rejectsWith(client.request({ path: "/info", authorize: () => ({ query: { token: "tok-123456" } }) }));
      assert.equal(error.code, "unreachable");
      assert.ok(error.message.includes("ECONNREFUSED"), error.message);
      assert.ok(!error.message.includes("tok-123456"));
      assert.equal(client.stats.retries, 2);
    });

    it("maps a device that never answers to timeout and does not retry it", async function () {
      server = await startServer(() => {});
      client = new HttpClient({ baseUrl: server.url, timeoutMs: 100, retry: { backoffMs: 1 } });
      const error = await rejectsWith(client.request({ path: "/lockAction", query: { token: "abcdef" } }));
      assert.equal(error.code, "timeout");
      assert.equal(error.message, `${server.url.slice("http://".length)}: GET /lockAction timed out after 100 ms`);
      assert.equal(server.seen.length, 1);
    });
  });

  describe("bodies and URLs", function () {
    it("parses JSON whatever the content-type and falls back to text", async function () {
      server = await startServer((req, res, entry) => {
        res.writeHead(200, { "content-type": "text/html" });
        res.end(entry.url.pathname === "/json" ? '{"success":true,"n":[1,2]}' : "OK");
      });
      client = new HttpClient({ baseUrl: server.url });
      const parsed = await client.request({ path: "/json" });
      assert.deepEqual(parsed.body, { success: true, n: [1, 2] });
      assert.equal(parsed.text, '{"success":true,"n":[1,2]}');
      assert.equal(parsed.headers["content-type"], "text/html");
      const text = await client.request({ path: "/text" });
      assert.equal(text.body, "OK");
    });

    it("URL-encodes query values so a callback URL arrives intact", async function () {
      server = await startServer((req, res) => json(res, 200, {}));
      client = new HttpClient({ baseUrl: `${server.url}/api/` });
      const callback = "http://192.168.1.5:1880/smartlocks/nuki/Ab-_9/bridge?x=1&y=a b+c";
      await client.request({ path: "/callback/add", query: { url: callback, skip: undefined, flag: true } });
      const [entry] = server.seen;
      assert.equal(entry.url.pathname, "/api/callback/add");
      assert.equal(entry.url.searchParams.get("url"), callback);
      assert.equal(entry.url.searchParams.get("flag"), "true");
      assert.equal(entry.url.searchParams.has("skip"), false);
      assert.ok(entry.rawUrl.includes("url=http%3A%2F%2F192.168.1.5%3A1880%2Fsmartlocks"), entry.rawUrl);
      assert.ok(entry.rawUrl.includes("a%20b%2Bc"), entry.rawUrl);
    });

    it("JSON-encodes object bodies and sends strings and Buffers as they are", async function () {
      server = await startServer((req, res) => json(res, 200, {}));
      client = new HttpClient({ baseUrl: server.url });
      await client.request({ method: "POST", path: "/o", body: { a: 1 } });
      await client.request({ method: "PUT", path: "/s", body: "a=1", headers: { "content-type": "text/plain" } });
      await client.request({ method: "POST", path: "/b", body: Buffer.from([0x7b, 0x7d]) });
      const [o, s, b] = server.seen;
      assert.equal(o.method, "POST");
      assert.equal(o.body, '{"a":1}');
      assert.equal(o.headers["content-type"], "application/json");
      assert.equal(s.method, "PUT");
      assert.equal(s.body, "a=1");
      assert.equal(s.headers["content-type"], "text/plain");
      assert.equal(b.body, "{}");
    });
  });

  describe("close()", function () {
    it("rejects queued requests and aborts the one in flight", async function () {
      server = await startServer(() => {});
      client = new HttpClient({ baseUrl: server.url });
      const calls = Array.from({ length: 4 }, (_, i) => rejectsWith(client.request({ path: `/q${i}` })));
      await waitFor(() => server.seen.length === 1);
      assert.equal(client.pending, 3);
      client.close();
      const errors = await Promise.all(calls);
      for (const error of errors) {
        assert.ok(error instanceof SmartlockError);
        assert.equal(error.code, "unreachable");
        assert.match(error.message, /client closed/);
      }
      assert.equal(client.pending, 0);
      assert.equal(server.seen.length, 1);
      const late = await rejectsWith(client.request({ path: "/late" }));
      assert.equal(late.code, "unreachable");
    });

    it("stops a retry that is waiting for its backoff", async function () {
      server = await startServer((req, res) => json(res, 503, {}));
      client = new HttpClient({ baseUrl: server.url, retry: { backoffMs: 60000, maxBackoffMs: 60000 } });
      const call = rejectsWith(client.request({ path: "/x" }));
      await waitFor(() => server.seen.length === 1 && server.seen[0].finishedAt !== undefined);
      client.close();
      const error = await call;
      assert.match(error.message, /client closed/);
      assert.equal(server.seen.length, 1);
    });
  });
});

/** Polls a condition; mocha's timeout bounds it. */
async function waitFor(condition) {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
