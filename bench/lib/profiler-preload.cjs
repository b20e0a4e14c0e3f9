"use strict";
// Preloaded into the bench's Node-RED (NODE_OPTIONS=--require …) when BENCH_PROFILE is set, because Node 20 refuses
// --cpu-prof in NODE_OPTIONS. A "smartlocks:profile" process event (emitted by the bench flow's
// POST /bench/profile; Node-RED itself exits on SIGUSR2) starts a profiler, the next one stops it and writes
// <SMARTLOCKS_PROFILE_DIR>/<pid>-<n>.cpuprofile (SMARTLOCKS_PROFILE_KIND=cpu, the default) or .heapprofile
// (SMARTLOCKS_PROFILE_KIND=heap: sampled allocations, including objects already collected, so that the profile
// shows everything allocated in the window, not what survived it), so that only the measured window is profiled.
const fs = require("node:fs");
const inspector = require("node:inspector");
const path = require("node:path");

const dir = process.env.SMARTLOCKS_PROFILE_DIR;
const heap = process.env.SMARTLOCKS_PROFILE_KIND === "heap";
if (dir) {
  const session = new inspector.Session();
  session.connect();
  let running = false;
  let n = 0;
  const write = (ext, data) => {
    const file = path.join(dir, `${process.pid}-${++n}.${ext}`);
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(data));
    fs.renameSync(tmp, file);
  };
  process.on("smartlocks:profile", () => {
    if (!running) {
      running = true;
      if (heap) {
        session.post("HeapProfiler.enable", () =>
          session.post("HeapProfiler.startSampling", { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }),
        );
      } else {
        session.post("Profiler.enable", () => session.post("Profiler.setSamplingInterval", { interval: 200 }, () => session.post("Profiler.start")));
      }
      return;
    }
    running = false;
    if (heap) session.post("HeapProfiler.stopSampling", (err, result) => write("heapprofile", err ? { error: String(err) } : result.profile));
    else session.post("Profiler.stop", (err, result) => write("cpuprofile", err ? { error: String(err) } : result.profile));
  });
}
