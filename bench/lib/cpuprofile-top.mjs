#!/usr/bin/env node
// Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, the functions of this
// package with the most inclusive time, and self time per area (this package, zod, Node-RED, express, node:).
//
//   node bench/lib/cpuprofile-top.mjs <file.cpuprofile> [--top 30] [--filter smartlocks]
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

export function summarise(profile, { top = 30, filter = "node-red-smartlocks" } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n) => {
    const f = n.callFrame;
    return `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
  };
  const self = new Map();
  const total = new Map();
  const areas = new Map();
  let sum = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = (timeDeltas[i + 1] ?? timeDeltas[i] ?? 0) / 1000; // ms; a sample's time is the gap to the next
    sum += dt;
    const leaf = byId.get(samples[i]);
    const k = key(leaf);
    self.set(k, (self.get(k) ?? 0) + dt);
    const area = areaOf(leaf.callFrame.url, leaf.callFrame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + dt);
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (!n.callFrame.url.includes(filter)) continue;
      const kk = key(n);
      if (seen.has(kk)) continue;
      seen.add(kk);
      total.set(kk, (total.get(kk) ?? 0) + dt);
    }
  }
  const rows = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, pct: (100 * ms) / sum }));
  return { totalMs: sum, self: rows(self), ours: rows(total), areas: rows(areas) };
}

export function shortUrl(url) {
  if (!url) return "";
  const m = /node_modules\/(.*)$/.exec(url);
  return (m ? m[1] : url).replace(/^file:\/\//, "");
}

export function areaOf(url, fn) {
  if (!url) return fn === "(garbage collector)" ? "gc" : fn === "(idle)" ? "idle" : fn === "(program)" ? "program (native)" : "native";
  if (url.includes("node-red-smartlocks")) return url.includes("/zod/") ? "zod" : "this package";
  if (url.includes("/zod/")) return "zod";
  if (url.startsWith("node:")) return "node core";
  if (/@node-red\/|node-red\//.test(url)) return "Node-RED";
  if (/\/(express|body-parser|raw-body|router|finalhandler|send|on-finished|qs|type-is|content-type)\//.test(url)) return "express & co";
  return "other modules";
}

export function formatSummary(s) {
  const lines = [`total sampled ${s.totalMs.toFixed(0)} ms`, "", "self time by area:"];
  for (const r of s.areas) lines.push(`  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`);
  lines.push("", "top self time:");
  for (const r of s.self) lines.push(`  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`);
  lines.push("", "this package, inclusive time:");
  for (const r of s.ours) lines.push(`  ${r.pct.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.name}`);
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith("--"));
  if (!file) {
    console.error("usage: node bench/lib/cpuprofile-top.mjs <file.cpuprofile> [--top N] [--filter text]");
    process.exit(2);
  }
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const summary = summarise(JSON.parse(readFileSync(file, "utf8")), { top: Number(opt("--top", 30)), filter: opt("--filter", "node-red-smartlocks") });
  console.log(formatSummary(summary));
}
