#!/usr/bin/env node
// Summarises a V8 sampling heap profile (.heapprofile, BENCH_PROFILE=heap): bytes allocated by area (this package,
// zod, Node-RED, express, node:), the functions that allocated most themselves, and this package's functions with
// what they and their callees allocated. With `perRequest` the figures are also given per request.
//
//   node bench/lib/heapprofile-top.mjs <file.heapprofile> [--top 30] [--requests N]
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { areaOf, shortUrl } from "./cpuprofile-top.mjs";

export function summariseHeap(profile, { top = 30, filter = "node-red-smartlocks" } = {}) {
  const self = new Map();
  const total = new Map();
  const areas = new Map();
  let sum = 0;
  const key = (f) => `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
  const add = (map, k, v) => map.set(k, (map.get(k) ?? 0) + v);
  // walk the tree; `ours` is the set of this package's frames on the stack (each counted once per path)
  const walk = (node, ours) => {
    const f = node.callFrame;
    const k = key(f);
    let stack = ours;
    if (f.url.includes(filter) && !f.url.includes("/zod/") && !ours.includes(k)) stack = [...ours, k];
    if (node.selfSize) {
      sum += node.selfSize;
      add(self, k, node.selfSize);
      add(areas, areaOf(f.url, f.functionName), node.selfSize);
      for (const o of stack) add(total, o, node.selfSize);
    }
    for (const child of node.children ?? []) walk(child, stack);
  };
  walk(profile.head, []);
  const rows = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => ({ name, bytes, pct: (100 * bytes) / sum }));
  return { totalBytes: sum, self: rows(self), ours: rows(total), areas: rows(areas) };
}

export function formatHeapSummary(s, { requests } = {}) {
  const size = (b) => (requests ? `${(b / requests).toFixed(0).padStart(7)} B/req` : `${(b / 1048576).toFixed(1).padStart(8)} MB`);
  const lines = [`total sampled ${(s.totalBytes / 1048576).toFixed(1)} MB${requests ? ` over ${requests} requests (${(s.totalBytes / requests / 1024).toFixed(1)} KB each)` : ""}`, "", "allocated by area:"];
  for (const r of s.areas) lines.push(`  ${r.pct.toFixed(1).padStart(5)}%  ${size(r.bytes)}  ${r.name}`);
  lines.push("", "top allocating functions (self):");
  for (const r of s.self) lines.push(`  ${r.pct.toFixed(1).padStart(5)}%  ${size(r.bytes)}  ${r.name}`);
  lines.push("", "this package, with callees:");
  for (const r of s.ours) lines.push(`  ${r.pct.toFixed(1).padStart(5)}%  ${size(r.bytes)}  ${r.name}`);
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const args = process.argv.slice(2);
  const file = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
  if (!file) {
    console.error("usage: node bench/lib/heapprofile-top.mjs <file.heapprofile> [--top N] [--requests N]");
    process.exit(2);
  }
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
  const summary = summariseHeap(JSON.parse(readFileSync(file, "utf8")), { top: Number(opt("--top", 30)) });
  const requests = Number(opt("--requests", 0)) || undefined;
  console.log(formatHeapSummary(summary, { requests }));
}
