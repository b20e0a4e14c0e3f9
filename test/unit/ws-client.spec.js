"use strict";

// Exercises ReconnectingWebSocket against real servers on 127.0.0.1. Intervals are tens of ms so the
// suite is quick; assertions wait for events and only check lower bounds of elapsed time, never upper ones.
const assert = require("node:assert/strict");
const http = require("node:http");
const net = require("node:net");
const path = require("node:path");
const { spawn } = require("node:child_process");
const { WebSocketServer } = require("ws");
const { ReconnectingWebSocket } = require("../../dist/nodes/core/ws-client");

/** Resolves with the arguments of the first `event` that passes `filter`; rejects after timeoutMs. */
function waitFor(emitter, event, { filter = () => true, timeoutMs = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out waiting for "${event}"`));
    }, timeoutMs);
    function listener(...args) {
      if (!filter(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args);
    }
    emitter.on(event, listener);
  });
}

/** Resolves with the first argument of the first `count` `event`s. */
function collect(emitter, event, count, timeoutMs = 3000) {
  const seen = [];
  return waitFor(emitter, event, {
    timeoutMs,
    filter: (value) => {
      seen.push(value);
      return seen.length >= count;
    },
  }).then(() => seen);
}

/** Waits `ms`; used only to give a wrongly scheduled reconnect the chance to show up. */
function quietPeriod(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port that refuses connections: bound once, then released. */
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("ReconnectingWebSocket", function () {
  let cleanups = [];

  afterEach(async function () {
    // Clients first, so a server going away does not trigger reconnects during cleanup.
    const pending = cleanups.reverse();
    cleanups = [];
    for (const cleanup of pending) await cleanup();
  });

  function client(options) {
    const instance = new ReconnectingWebSocket(options);
    cleanups.push(() => instance.close());
    return instance;
  }

  async function wsServer(options = {}) {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, ...options });
    await waitFor(wss, "listening");
    const connections = [];
    wss.on("connection", (socket, req) => connections.push({ socket, req }));
    cleanups.unshift(async () => {
      for (const socket of wss.clients) socket.terminate();
      await new Promise((resolve) => wss.close(() => resolve()));
    });
    return { wss, connections, url: `ws://127.0.0.1:${wss.address().port}` };
  }

  /** An HTTP server whose upgrade requests go to `onUpgrade(req, socket, head, wss)`. */
  async function upgradeServer(onUpgrade) {
    const wss = new WebSocketServer({ noServer: true });
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    const sockets = new Set();
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    server.on("upgrade", (req, socket, head) => onUpgrade(req, socket, head, wss));
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.unshift(async () => {
      for (const socket of wss.clients) socket.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    });
    return { url: `ws://127.0.0.1:${server.address().port}` };
  }

  describe("connecting", function () {
    it("opens, receives text messages as strings and sends", async function () {
      const { wss, url } = await wsServer();
      wss.on("connection", (socket) => {
        socket.send("hello");
        socket.on("message", (data) => socket.send(`echo:${data}`));
      });
      const ws = client({ url });
      const states = [];
      ws.on("state", (state) => states.push(state));
      assert.equal(ws.state, "idle");
      assert.equal(ws.send("too early"), false);

      const opened = waitFor(ws, "open");
      const firstMessage = waitFor(ws, "message");
      ws.start();
      const [openEvent] = await opened;
      assert.deepEqual(openEvent, { reconnect: false });
      assert.equal(ws.state, "open");
      assert.deepEqual(await firstMessage, ["hello", false]);

      const echo = waitFor(ws, "message");
      assert.equal(ws.send("ping?"), true);
      assert.deepEqual(await echo, ["echo:ping?", false]);
      assert.deepEqual(states, ["connecting", "open"]);
    });

    it("decodes binary frames as UTF-8 and flags them", async function () {
      const { wss, url } = await wsServer();
      wss.on("connection", (socket) => socket.send(Buffer.from('{"event":"ä"}'), { binary: true }));
      const ws = client({ url });
      const message = waitFor(ws, "message");
      ws.start();
      assert.deepEqual(await message, ['{"event":"ä"}', true]);
    });

    it("start() is idempotent", async function () {
      const { url } = await wsServer();
      let headerCalls = 0;
      const ws = client({ url, headers: () => ({ "x-call": String(++headerCalls) }) });
      ws.start();
      ws.start();
      await waitFor(ws, "open");
      ws.start();
      assert.equal(headerCalls, 1);
    });

    it("evaluates url and headers on every attempt and merges wsOptions.headers", async function () {
      const { wss, connections, url } = await wsServer();
      const deadUrl = `ws://127.0.0.1:${await closedPort()}`;
      let urlCalls = 0;
      let tokenCalls = 0;
      // First attempt goes to a dead port, every later one to the live server.
      const ws = client({
        url: () => (++urlCalls === 1 ? deadUrl : url),
        headers: () => ({ Authorization: `Bearer token-${++tokenCalls}` }),
        wsOptions: { headers: { "X-Client": "smartlocks" } },
        backoff: { initialMs: 20, jitter: 0 },
      });
      ws.on("error", () => {});
      // The server drops the first connection it gets, so one more attempt is made.
      wss.once("connection", (socket) => socket.terminate());
      ws.start();
      await waitFor(ws, "open", { filter: (event) => event.reconnect });

      assert.equal(urlCalls, 3);
      assert.deepEqual(
        connections.map(({ req }) => req.headers.authorization),
        ["Bearer token-2", "Bearer token-3"],
      );
      assert.equal(connections[0].req.headers["x-client"], "smartlocks");
    });
  });

  describe("reconnecting", function () {
    it("reconnects after the server kills the connection", async function () {
      const { wss, connections, url } = await wsServer();
      wss.once("connection", (socket) => socket.terminate());
      const ws = client({ url, backoff: { initialMs: 20, jitter: 0 } });
      const disconnected = waitFor(ws, "disconnected");
      const reconnecting = waitFor(ws, "reconnecting");
      const reopened = waitFor(ws, "open", { filter: (event) => event.reconnect });
      ws.start();

      const [{ code }] = await disconnected;
      assert.equal(code, 1006);
      const [event] = await reconnecting;
      assert.equal(event.attempt, 1);
      assert.equal(event.delayMs, 20);
      assert.match(event.reason, /code 1006/);
      await reopened;
      assert.equal(connections.length, 2);
      assert.equal(ws.attempt, 0);
    });

    it("grows the delay by factor while the server is down and caps it at maxMs", async function () {
      const url = `ws://127.0.0.1:${await closedPort()}`;
      const ws = client({ url, backoff: { initialMs: 20, factor: 2, maxMs: 100, jitter: 0 } });
      const errors = [];
      ws.on("error", (error) => errors.push(error));
      const events = collect(ws, "reconnecting", 5);
      ws.start();

      const seen = await events;
      assert.deepEqual(
        seen.map((event) => event.delayMs),
        [20, 40, 80, 100, 100],
      );
      assert.deepEqual(
        seen.map((event) => event.attempt),
        [1, 2, 3, 4, 5],
      );
      assert.ok(errors.length >= 5);
      assert.ok(errors.every((error) => error.code === "unreachable" && /ECONNREFUSED/.test(error.message)));
      assert.equal(ws.attempt, 5);
    });

    it("resets the backoff after a successful open", async function () {
      let upgrades = 0;
      const { url } = await upgradeServer((req, socket, head, wss) => {
        upgrades += 1;
        if (upgrades <= 3) {
          socket.end("HTTP/1.1 503 Service Unavailable\r\n\r\n");
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          // The first accepted connection is closed by the server, later ones stay open.
          if (upgrades === 4) ws.close(4001, "go away");
        });
      });
      const ws = client({ url, backoff: { initialMs: 20, factor: 2, jitter: 0 } });
      ws.on("error", () => {});
      const delays = [];
      ws.on("reconnecting", (event) => delays.push(event.delayMs));
      const disconnected = waitFor(ws, "disconnected");
      const reopened = waitFor(ws, "open", { filter: (event) => event.reconnect });
      ws.start();

      assert.deepEqual((await disconnected)[0], { code: 4001, reason: "go away" });
      await reopened;
      assert.deepEqual(delays, [20, 40, 80, 20]);
    });

    it("keeps jitter within [1 - jitter, 1 + jitter] using the injected random", async function () {
      const url = `ws://127.0.0.1:${await closedPort()}`;
      const randoms = [0, 0.5, 0.999999, 0.25];
      const ws = client({
        url,
        backoff: { initialMs: 20, factor: 2, maxMs: 1000, jitter: 0.5 },
        random: () => randoms.shift(),
      });
      ws.on("error", () => {});
      const events = collect(ws, "reconnecting", 4);
      ws.start();

      const delays = (await events).map((event) => event.delayMs);
      // Bases 20, 40, 80, 160 spread by factors 0.5, 1.0, ~1.5, 0.75.
      assert.deepEqual(delays, [10, 40, 120, 120]);
      delays.forEach((delay, index) => {
        const base = 20 * 2 ** index;
        assert.ok(delay >= base * 0.5 && delay <= base * 1.5, `delay ${delay} outside jitter bounds of ${base}`);
      });
    });

    it("reports a 401 upgrade rejection with its status and keeps retrying", async function () {
      let upgrades = 0;
      const { url } = await upgradeServer((_req, socket) => {
        upgrades += 1;
        socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
      });
      const ws = client({ url, backoff: { initialMs: 20, jitter: 0 } });
      const errors = [];
      ws.on("error", (error) => errors.push(error));
      const events = collect(ws, "reconnecting", 3);
      ws.start();

      const seen = await events;
      assert.ok(upgrades >= 3);
      assert.equal(errors.length, 3, "one error per rejected attempt");
      for (const error of errors) {
        assert.ok(error instanceof Error);
        assert.equal(error.status, 401);
        assert.equal(error.code, "unauthorized");
      }
      assert.ok(seen.every((event) => /HTTP 401/.test(event.reason)));
      assert.deepEqual(
        seen.map((event) => event.delayMs),
        [20, 40, 80],
      );
    });

    it("gives up a handshake that does not complete within handshakeTimeoutMs", async function () {
      // Accepts TCP connections but never answers the upgrade request.
      const sockets = new Set();
      const server = net.createServer((socket) => sockets.add(socket));
      await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
      cleanups.unshift(async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => server.close(resolve));
      });
      const ws = client({
        url: `ws://127.0.0.1:${server.address().port}`,
        handshakeTimeoutMs: 50,
        backoff: { initialMs: 20, jitter: 0 },
      });
      const error = waitFor(ws, "error");
      const reconnecting = waitFor(ws, "reconnecting");
      const startedAt = Date.now();
      ws.start();

      const [err] = await error;
      assert.ok(Date.now() - startedAt >= 45);
      assert.equal(err.code, "timeout");
      assert.match((await reconnecting)[0].reason, /timed out/);
    });

    it("never throws an unhandled error when nobody listens for errors", async function () {
      // An unhandled "error" emit would throw inside a socket callback and fail this test as uncaught.
      const url = `ws://127.0.0.1:${await closedPort()}`;
      const refused = client({ url, backoff: { initialMs: 10, jitter: 0 } });
      const refusedRetries = collect(refused, "reconnecting", 3);
      refused.start();

      const rejecting = await upgradeServer((_req, socket) => socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n"));
      const rejected = client({ url: rejecting.url, backoff: { initialMs: 10, jitter: 0 } });
      const rejectedRetries = collect(rejected, "reconnecting", 3);
      rejected.start();

      const brokenHeaders = client({
        url,
        headers: () => {
          throw new Error("no token yet");
        },
        backoff: { initialMs: 10, jitter: 0 },
      });
      const brokenRetries = collect(brokenHeaders, "reconnecting", 2);
      brokenHeaders.start();

      await Promise.all([refusedRetries, rejectedRetries, brokenRetries]);
      assert.equal(refused.listenerCount("error"), 0);
      assert.match((await brokenRetries)[0].reason, /no token yet/);
    });
  });

  describe("heartbeat", function () {
    it("terminates and reconnects a connection that stays silent for watchdogMs", async function () {
      // autoPong: false, so not even our pings get an answer: the connection looks half-open.
      const { connections, url } = await wsServer({ autoPong: false });
      const ws = client({
        url,
        heartbeat: { watchdogMs: 100, pingMs: 30 },
        backoff: { initialMs: 20, jitter: 0 },
      });
      const opened = waitFor(ws, "open");
      const disconnected = waitFor(ws, "disconnected");
      const reconnecting = waitFor(ws, "reconnecting");
      const reopened = waitFor(ws, "open", { filter: (event) => event.reconnect });
      ws.start();

      await opened;
      const openedAt = Date.now();
      assert.equal((await disconnected)[0].code, 1006);
      assert.ok(Date.now() - openedAt >= 90, "not before watchdogMs");
      assert.match((await reconnecting)[0].reason, /no frame received for 100 ms/);
      await reopened;
      assert.equal(connections.length, 2);
    });

    it("counts every incoming message as activity", async function () {
      const { wss, url } = await wsServer({ autoPong: false });
      wss.on("connection", (socket) => {
        const timer = setInterval(() => socket.send("tick"), 15);
        socket.on("close", () => clearInterval(timer));
      });
      const ws = client({ url, heartbeat: { watchdogMs: 150, pingMs: 0 } });
      let dropped = false;
      ws.on("disconnected", () => (dropped = true));
      ws.on("reconnecting", () => (dropped = true));
      const messages = collect(ws, "message", 30);
      ws.start();

      // 30 ticks take about three watchdog periods.
      await messages;
      assert.equal(dropped, false);
      assert.equal(ws.state, "open");
    });

    it("counts pings from the server as activity", async function () {
      const { wss, url } = await wsServer();
      const serverSide = waitFor(wss, "connection");
      const ws = client({ url, heartbeat: { watchdogMs: 100, pingMs: 0 } });
      let dropped = false;
      ws.on("disconnected", () => (dropped = true));
      ws.start();

      const [socket] = await serverSide;
      const timer = setInterval(() => socket.ping(), 15);
      socket.on("close", () => clearInterval(timer));
      // The client answers each ping; 20 answers span about three watchdog periods.
      await collect(socket, "pong", 20);
      clearInterval(timer);
      assert.equal(dropped, false);
      assert.equal(ws.state, "open");
    });

    it("pings every pingMs and counts the pongs as activity", async function () {
      const { wss, url } = await wsServer();
      const pingTimes = [];
      const serverSideOpen = waitFor(wss, "connection");
      const ws = client({ url, heartbeat: { watchdogMs: 80, pingMs: 25 } });
      let dropped = false;
      ws.on("disconnected", () => (dropped = true));
      const opened = waitFor(ws, "open");
      ws.start();

      const [socket] = await serverSideOpen;
      await opened;
      const openedAt = Date.now();
      const pings = collect(socket, "ping", 8);
      socket.on("ping", () => pingTimes.push(Date.now()));
      await pings;

      assert.ok(pingTimes[0] - openedAt >= 20, "first ping not before pingMs");
      for (let i = 1; i < pingTimes.length; i += 1) {
        assert.ok(pingTimes[i] - pingTimes[i - 1] >= 15, `pings ${i - 1} and ${i} too close`);
      }
      // 8 pings span about 200 ms, more than twice watchdogMs: only the pongs kept the connection alive.
      assert.equal(dropped, false);
      assert.equal(ws.state, "open");
    });
  });

  describe("close()", function () {
    it("closes with code 1000, emits state closed and never reconnects", async function () {
      const { wss, connections, url } = await wsServer();
      const ws = client({ url, backoff: { initialMs: 10, jitter: 0 } });
      const states = [];
      ws.on("state", (state) => states.push(state));
      let reconnects = 0;
      ws.on("reconnecting", () => (reconnects += 1));
      const serverSideClose = waitFor(wss, "connection").then(([socket]) => waitFor(socket, "close"));
      ws.start();
      await waitFor(ws, "open");

      const disconnected = waitFor(ws, "disconnected");
      await ws.close();
      assert.equal(ws.state, "closed");
      assert.deepEqual(states, ["connecting", "open", "closed"]);
      assert.equal((await disconnected)[0].code, 1000);
      assert.equal((await serverSideClose)[0], 1000);
      assert.equal(ws.send("late"), false);

      ws.start();
      await quietPeriod(100);
      assert.equal(connections.length, 1);
      assert.equal(reconnects, 0);
      assert.equal(ws.state, "closed");
    });

    it("stops a pending reconnect while the server is down", async function () {
      const url = `ws://127.0.0.1:${await closedPort()}`;
      const ws = client({ url, backoff: { initialMs: 30, jitter: 0 } });
      ws.on("error", () => {});
      let attemptsAfterClose = 0;
      const reconnecting = waitFor(ws, "reconnecting");
      ws.start();
      await reconnecting;
      assert.equal(ws.state, "reconnecting");
      ws.on("state", (state) => {
        if (state === "connecting") attemptsAfterClose += 1;
      });

      await ws.close();
      assert.equal(ws.state, "closed");
      await quietPeriod(120);
      assert.equal(attemptsAfterClose, 0);
    });

    it("terminates the socket when the peer does not answer the close handshake", async function () {
      const { wss, url } = await wsServer();
      // The server stops reading, so our close frame is never answered.
      wss.on("connection", (socket) => socket._socket.pause());
      const ws = client({ url, closeTimeoutMs: 100 });
      ws.start();
      await waitFor(ws, "open");

      const disconnected = waitFor(ws, "disconnected");
      const startedAt = Date.now();
      await ws.close();
      assert.ok(Date.now() - startedAt >= 90, "waited for the close handshake first");
      assert.equal((await disconnected)[0].code, 1006);
      assert.equal(ws.state, "closed");
    });

    it("can be called before start() and several times", async function () {
      const ws = client({ url: "ws://127.0.0.1:1" });
      const first = ws.close();
      assert.equal(ws.close(), first);
      await first;
      assert.equal(ws.state, "closed");
      ws.start();
      assert.equal(ws.state, "closed");
    });

    it("leaves no timers or sockets behind, so the process can exit", async function () {
      this.timeout(40000);
      // Default heartbeat intervals (15 s watchdog, 30 s ping) and a 20 s backoff: anything left running would hold
      // the child for at least 15 s, so "well under 15 s" separates a clean exit from a leak even on a loaded machine.
      const script = `
        const { WebSocketServer } = require(${JSON.stringify(require.resolve("ws"))});
        const { ReconnectingWebSocket } = require(${JSON.stringify(
          path.resolve(__dirname, "../../dist/nodes/core/ws-client.js"),
        )});
        const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () => {
          const url = "ws://127.0.0.1:" + wss.address().port;
          const open = new ReconnectingWebSocket({ url });
          open.on("open", async () => {
            await open.close();
            wss.close();
            const down = new ReconnectingWebSocket({ url, backoff: { initialMs: 20000 } });
            down.on("reconnecting", async () => {
              await down.close();
              console.log("closed");
            });
            down.start();
          });
          open.start();
        });
      `;
      const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (chunk) => (output += chunk));
      child.stderr.on("data", (chunk) => (output += chunk));
      const startedAt = Date.now();
      const timer = setTimeout(() => child.kill(), 30000);
      const [code] = await waitFor(child, "exit", { timeoutMs: 35000 });
      clearTimeout(timer);

      assert.equal(output.trim(), "closed");
      assert.equal(code, 0);
      assert.ok(Date.now() - startedAt < 14000, "child exited before any default timer could fire");
    });
  });
});
