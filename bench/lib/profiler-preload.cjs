"use strict";
// Preloaded into the bench's Node-RED (NODE_OPTIONS=--require …) when BENCH_PROFILE=1, because Node 20 refuses
// --cpu-prof in NODE_OPTIONS. A "smartlocks:profile" process event (emitted by the bench flow's
// POST /bench/profile; Node-RED itself exits on SIGUSR2) starts the V8 CPU profiler, the next one stops it and
// writes <SMARTLOCKS_PROFILE_DIR>/<pid>-<n>.cpuprofile, so that only the measured window is profiled.
const fs = require("node:fs");
const inspector = require("node:inspector");
const path = require("node:path");

const dir = process.env.SMARTLOCKS_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  let running = false;
  let n = 0;
  process.on("smartlocks:profile", () => {
    if (!running) {
      running = true;
      session.post("Profiler.enable", () => session.post("Profiler.setSamplingInterval", { interval: 200 }, () => session.post("Profiler.start")));
      return;
    }
    running = false;
    session.post("Profiler.stop", (err, result) => {
      const file = path.join(dir, `${process.pid}-${++n}.cpuprofile`);
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(err ? { error: String(err) } : result.profile));
      fs.renameSync(tmp, file);
    });
  });
}
