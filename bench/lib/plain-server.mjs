// The ceiling: a plain Node.js http server (its own process, like Node-RED) that does the least a receiver
// must do with a Nuki Bridge callback: read the body, JSON.parse it, compare the state with the device's
// last one and count the changes. GET /counts answers { events }, POST /reset zeroes it.
// Started by scripts/bench.mjs with fork(); sends { port } over IPC once it listens.
import http from "node:http";
import gcRecorder from "./gc-recorder.cjs";

const states = new Map();
let recording = null;

/** POST /gc/start begins recording GC pauses and loop stalls, POST /gc/stop answers them (bench/lib/tail.mjs). */
async function recordGc(start) {
  const previous = recording;
  recording = start ? gcRecorder.startGcRecording() : null;
  const out = previous ? await previous.stop() : { pauses: [], loop: null };
  return start ? { ok: true } : out;
}
let events = 0;

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/counts") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ events }));
    return;
  }
  if (req.method === "POST" && (req.url === "/gc/start" || req.url === "/gc/stop")) {
    recordGc(req.url === "/gc/start").then((out) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(out));
    });
    return;
  }
  if (req.method === "POST" && req.url === "/reset") {
    events = 0;
    res.end();
    return;
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.statusCode = 400;
      res.end("malformed JSON");
      return;
    }
    if (body === null || typeof body !== "object" || typeof body.nukiId !== "number") {
      res.statusCode = 400;
      res.end("unexpected body");
      return;
    }
    const prev = states.get(body.nukiId);
    const next = {
      state: body.state,
      door: body.doorsensorState,
      critical: body.batteryCritical,
      charging: body.batteryCharging,
      level: body.batteryChargeState,
      keypad: body.keypadBatteryCritical,
    };
    states.set(body.nukiId, next);
    if (prev) for (const key of Object.keys(next)) if (prev[key] !== next[key]) events++;
    res.statusCode = 200;
    res.setHeader("content-length", "0");
    res.end();
  });
});

server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => process.send?.({ port: server.address().port }));
process.on("disconnect", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
