"use strict";
// GC pauses (perf_hooks "gc" entries, with wall-clock start times) and event-loop stalls of the calling process,
// for bench/lib/tail.mjs. One recorder for every process of the bench: Node-RED loads it in the bench flow's
// /bench/gc function node (bench/lib/flows.mjs), the plain server and the paced sender import it.
// CommonJS, so that a function node can require it by its path.
const { PerformanceObserver, constants, monitorEventLoopDelay, performance } = require("node:perf_hooks");

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

/** Starts recording; `stop()` resolves { pauses: [[wall ms, duration ms, kind]], loop: { p99, max } } (ms stuck). */
function startGcRecording() {
  const pauses = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([performance.timeOrigin + e.startTime, e.duration, KINDS[e.detail?.kind] ?? "other"]);
  });
  observer.observe({ entryTypes: ["gc"] });
  // a 10 ms probe timer: the time between its ticks beyond 10 ms is how long the loop was stuck
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const stuck = (ns) => Math.max(0, ns / 1e6 - 10);
  return {
    stop: () =>
      new Promise((resolve) =>
        // the observer's callback runs after the entries are queued: give the last ones a moment
        setTimeout(() => {
          observer.disconnect();
          loop.disable();
          resolve({ pauses, loop: { p99: stuck(loop.percentile(99)), max: stuck(loop.max) } });
        }, 100),
      ),
  };
}

module.exports = { startGcRecording };
