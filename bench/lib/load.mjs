// Load generators: autocannon (closed loop, keep-alive, as many requests as the server takes) and a paced
// open-loop sender for latency at a fixed rate.
import http from "node:http";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import gcRecorder from "./gc-recorder.cjs";
import { percentile } from "./stats.mjs";

const require = createRequire(import.meta.url);
const autocannon = require("autocannon");

/**
 * POSTs callback bodies with autocannon: `amount` requests in total (autocannon's `duration` would stop with
 * requests in flight whose answers are never counted, so delivered events could not be checked exactly).
 * Every connection owns `devicesPerConnection` devices of `pool` and rotates over them; each body follows
 * the previous answer (pipelining 1), so one device's bodies arrive in order, and a device only moves on to
 * its next state once a body was answered.
 * Latency percentiles are computed from every response time (ms, sub-ms resolution), 2xx only; req/s is
 * 2xx answers over the time from the start to the last answer.
 */
export async function hammer({ url, pool, mode, connections, devicesPerConnection, amount, overallRate }) {
  let clientIndex = 0;
  const latencies = [];
  const statuses = {};
  const options = {
    url,
    method: "POST",
    headers: { "content-type": "application/json" },
    connections,
    pipelining: 1,
    timeout: 10,
    amount,
    setupClient(client) {
      const devices = pool.forConnection(clientIndex++, devicesPerConnection);
      let i = 0;
      let current = devices[0];
      client.setBody(current.peek(mode));
      // Emitted before the client sends its next request, so that request carries the next body.
      client.on("response", (status) => {
        if (status >= 200 && status < 300) current.commit();
        current = devices[++i % devices.length];
        client.setBody(current.peek(mode));
      });
    },
  };
  if (overallRate !== undefined) options.overallRate = overallRate;
  let lastAnswer = 0;
  const began = performance.now();
  const instance = autocannon(options);
  instance.on("response", (_client, status, _bytes, ms) => {
    lastAnswer = performance.now();
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const ok = result["2xx"];
  const seconds = ((lastAnswer || performance.now()) - began) / 1000;
  return {
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    seconds,
    rps: ok / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.length ? latencies[latencies.length - 1] : NaN,
    // autocannon's own (integer ms) figures, for comparison with its CLI output
    autocannon: { p50: result.latency.p50, p99: result.latency.p99, rpsAverage: result.requests.average },
  };
}

/**
 * Sends `rate` requests per second for `seconds`, evenly spaced (open loop: a slow answer does not delay the
 * next request), over keep-alive sockets. Bodies rotate over all devices of `pool`, so that a device's next
 * body is sent long after its previous one was answered (requests on different sockets may overtake).
 * Latency is measured from the moment the request is written (`p99`) and from the moment it was due
 * (`p99Due`, which also counts the sender's own timer lateness). `timeline` holds every 2xx answer as
 * [wall-clock ms when the request was written, latency ms], to line slow answers up with the receiver's GC pauses.
 */
export function paced({ url, pool, mode, rate, seconds }) {
  const target = new URL(url);
  // Free sockets are closed after 2 s idle, before the server's keep-alive timeout (Node's default 5 s) closes
  // them: a request written into a socket the server is closing fails with ECONNRESET (a sender's artefact).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64, timeout: 2000 });
  // The sender's own GC pauses delay its timers and answer handling: recorded to tell them from the receiver's.
  const recorder = gcRecorder.startGcRecording();
  const total = Math.max(1, Math.round(rate * seconds));
  const interval = 1000 / rate;
  const latencies = [];
  const dueLatencies = [];
  const timeline = [];
  const statuses = {};
  let errors = 0;
  let sent = 0;
  let finished = 0;
  let deviceIndex = 0;
  return new Promise((resolve) => {
    const start = performance.now();
    const done = async () => {
      const end = performance.now();
      agent.destroy();
      const sender = await recorder.stop(); // never rejects
      latencies.sort((a, b) => a - b);
      dueLatencies.sort((a, b) => a - b);
      const elapsed = (end - start) / 1000;
      const ok = latencies.length;
      resolve({
        ok,
        non2xx: total - ok - errors,
        errors,
        timeouts: 0,
        statuses,
        seconds: elapsed,
        sentRate: total / (seconds || 1),
        rps: ok / elapsed,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.length ? latencies[latencies.length - 1] : NaN,
        p99Due: percentile(dueLatencies, 99),
        timeline,
        senderPauses: sender.pauses,
        senderStallMs: sender.loop.max,
      });
    };
    const send = (due) => {
      const body = pool.devices[deviceIndex++ % pool.devices.length].next(mode);
      const began = performance.now();
      const req = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": body.length },
        },
        (res) => {
          res.resume();
          res.on("end", () => {
            const end = performance.now();
            statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
            if (res.statusCode >= 200 && res.statusCode < 300) {
              latencies.push(end - began);
              dueLatencies.push(end - due);
              timeline.push([performance.timeOrigin + began, end - began]);
            }
            if (++finished === total) void done();
          });
        },
      );
      req.on("error", () => {
        errors++;
        if (++finished === total) void done();
      });
      req.end(body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) send(start + sent++ * interval);
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
}
