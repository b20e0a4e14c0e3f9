// What the slow answers of a fixed-rate run coincided with: the receiver's GC pauses (from perf_hooks, recorded
// by the bench flow's /bench/gc endpoint) and CPU time stolen from this VM by its host (/proc/stat).
import { readFileSync } from "node:fs";
import { percentile } from "./stats.mjs";

/**
 * @param {Array<[number, number]>} timeline [wall-clock ms a request was written, its latency ms] per answer
 * @param {Array<[number, number, string]>} pauses [wall-clock ms a GC pause began, its duration ms, its kind]
 * @param {number} slowMs answers slower than this count as slow (the target)
 */
export function tailAttribution(timeline, pauses, slowMs) {
  const sorted = [...pauses].sort((a, b) => a[0] - b[0]);
  const starts = sorted.map((p) => p[0]);
  // the longest pause, so that a search from (request start − longest) finds every pause that may overlap
  const longest = sorted.reduce((m, p) => Math.max(m, p[1]), 0);
  let slow = 0;
  let slowInGc = 0;
  const slowByKind = {};
  for (const [began, ms] of timeline) {
    if (ms <= slowMs) continue;
    slow++;
    const end = began + ms;
    let kind = null;
    // clocks of two processes: allow 1 ms of skew
    for (let i = lowerBound(starts, began - longest - 1); i < sorted.length && sorted[i][0] <= end + 1; i++) {
      const [start, duration, k] = sorted[i];
      if (start + duration >= began - 1) {
        kind = k;
        if (k === "major") break;
      }
    }
    if (kind) {
      slowInGc++;
      slowByKind[kind] = (slowByKind[kind] ?? 0) + 1;
    }
  }
  const byKind = {};
  for (const [, duration, kind] of sorted) {
    const k = (byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0, durations: [] });
    k.count++;
    k.totalMs += duration;
    k.maxMs = Math.max(k.maxMs, duration);
    k.durations.push(duration);
  }
  for (const k of Object.values(byKind)) {
    k.durations.sort((a, b) => a - b);
    k.p50Ms = percentile(k.durations, 50);
    delete k.durations;
  }
  return { slowMs, answers: timeline.length, slow, slowInGc, slowByKind, pauses: byKind };
}

function lowerBound(values, x) {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** CPU time stolen from this VM's CPUs by the hypervisor so far, in ms (the "steal" column of /proc/stat). */
export function stealMs() {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/);
    return Number(fields[8] ?? NaN) * 10; // USER_HZ 100
  } catch {
    return NaN;
  }
}
