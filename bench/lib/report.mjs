// Turns the bench figures into the console table and bench/RESULTS.md.
import { existsSync, readFileSync } from "node:fs";

const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : "n/a");
const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : "n/a");
const f0 = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "n/a");
const mb = (bytes) => (Number.isFinite(bytes) ? (bytes / 1048576).toFixed(1) : "n/a");

/** [{ id, what, value, target, pass: true|false|null (skipped), note }] */
export function targetRows(r) {
  const rows = [];
  const ingest = r.ingest;
  if (ingest?.nuki && ingest.user) {
    const ratio12 = ingest.nuki.rps / ingest.user.rps;
    const a = r.admin?.ingest;
    const alt = a?.nuki && a.user ? `${f2(a.nuki.rps / a.user.rps)} (${f0(a.nuki.rps)} / ${f0(a.user.rps)})` : "";
    rows.push({ id: "1/2", what: "webhook ingest: nuki-events route vs http in → function → http response (req/s)", value: `${f2(ratio12)} (${f0(ingest.nuki.rps)} / ${f0(ingest.user.rps)})`, target: "≥ 2.5", pass: ratio12 >= 2.5, alt });
  }
  if (ingest?.nuki && ingest.plain) {
    const ratio13 = ingest.nuki.rps / ingest.plain.rps;
    const a = r.admin?.ingest;
    const alt = a?.nuki ? `${f2(a.nuki.rps / ingest.plain.rps)} (${f0(a.nuki.rps)} / ${f0(ingest.plain.rps)})` : "";
    rows.push({ id: "1/3", what: "webhook ingest: nuki-events route vs plain Node http server (req/s)", value: `${f2(ratio13)} (${f0(ingest.nuki.rps)} / ${f0(ingest.plain.rps)})`, target: "≥ 0.25", pass: ratio13 >= 0.25, alt });
  }
  if (r.fixed?.nuki) {
    const alt = r.admin?.fixed?.nuki ? `${f2(r.admin.fixed.nuki.p99)} ms` : "";
    const x = r.fixed.nuki;
    const rounds = x.rounds ?? [x];
    const detail = rounds.length > 1 ? ` (median of ${rounds.length} rounds: ${rounds.map((q) => f2(q.p99)).join(", ")}; all rounds together ${f2(x.p99All)} ms)` : "";
    rows.push({ id: "7", what: `p99 latency of the nuki-events route at a fixed ${f0(r.fixed.rate)} req/s`, value: `${f2(x.p99)} ms${detail}`, target: "< 5 ms", pass: x.p99 < 5, alt });
  }
  if (r.memory) {
    const growth = r.memory.after.rss - r.memory.before.rss;
    rows.push({ id: "5", what: `RSS growth over ${f0(r.memory.events)} events through a listener (after GC)`, value: `${mb(growth)} MB (${mb(r.memory.before.rss)} → ${mb(r.memory.after.rss)} MB)`, target: "< 10 MB", pass: growth < 10 * 1048576 });
  }
  if (r.startup) {
    const added = r.startup.with.median - r.startup.without.median;
    rows.push({ id: "6", what: `Node-RED start time added by the package (median of ${r.startup.with.samples.length})`, value: `${f0(added)} ms (${f0(r.startup.with.median)} vs ${f0(r.startup.without.median)} ms)`, target: "< 150 ms", pass: added < 150 });
  }
  if (r.unifi) {
    if (r.unifi.skipped) rows.push({ id: "4", what: "UniFi Access notifications/s: unifi-access-events vs core websocket in → function", value: `skipped: ${r.unifi.skipped}`, target: "≥ 1.0", pass: null });
    else {
      const ratio = r.unifi.ours.rate / r.unifi.core.rate;
      rows.push({ id: "4", what: "UniFi Access notifications/s: unifi-access-events vs core websocket in → function", value: `${f2(ratio)} (${f0(r.unifi.ours.rate)} / ${f0(r.unifi.core.rate)})`, target: "≥ 1.0", pass: ratio >= 1 });
    }
  }
  return rows;
}

const verdict = (pass) => (pass === null ? "SKIP" : pass ? "PASS" : "MISS");

export function consoleTable(r) {
  const rows = targetRows(r);
  const lines = [];
  if (r.ingest) {
    lines.push("ingest (median of rounds)        req/s      p50 ms   p99 ms   CPU µs/req  events ok");
    for (const [name, label] of [["nuki", "1 nuki-events route"], ["user", "2 http in → function"], ["plain", "3 plain node http"]]) {
      const x = r.ingest[name];
      if (!x) continue;
      lines.push(`  ${label.padEnd(30)} ${f0(x.rps).padStart(8)}  ${f2(x.p50).padStart(8)} ${f2(x.p99).padStart(8)}  ${f0(x.cpuUserUs + x.cpuSystemUs).padStart(10)}  ${x.verified ? "yes" : "NO"}`);
    }
  }
  if (r.fixed) {
    lines.push(`fixed ${f0(r.fixed.rate)} req/s                    p50 ms   p99 ms  p99 from due`);
    for (const name of ["nuki", "user", "plain"]) {
      const x = r.fixed[name];
      if (x) lines.push(`  ${name.padEnd(38)} ${f2(x.p50).padStart(8)} ${f2(x.p99).padStart(8)} ${f2(x.p99Due).padStart(8)}`);
    }
  }
  if (r.admin?.ingest) {
    lines.push(`httpAdminRoot "/admin" (information)  req/s      p50 ms   p99 ms   CPU µs/req`);
    for (const [name, label] of [["nuki", "1 nuki-events route"], ["user", "2 http in → function"]]) {
      const x = r.admin.ingest[name];
      if (x) lines.push(`  ${label.padEnd(30)} ${f0(x.rps).padStart(8)}  ${f2(x.p50).padStart(8)} ${f2(x.p99).padStart(8)}  ${f0(x.cpuUserUs + x.cpuSystemUs).padStart(10)}`);
    }
    if (r.admin.fixed?.nuki) lines.push(`  fixed ${f0(r.admin.fixed.rate)} req/s nuki: p50 ${f2(r.admin.fixed.nuki.p50)} ms, p99 ${f2(r.admin.fixed.nuki.p99)} ms`);
  }
  lines.push("");
  lines.push("target  result  value");
  for (const row of rows) lines.push(`  ${row.id.padEnd(5)} ${verdict(row.pass).padEnd(6)}  ${row.value}   (target ${row.target}: ${row.what})`);
  for (const problem of r.problems) lines.push(`PROBLEM: ${problem}`);
  return lines.join("\n");
}

const FIXED_RECEIVERS = [["nuki", "1 nuki-events route"], ["user", "2 http in → function → http response"], ["plain", "3 plain Node http server"]];

function fixedTable(fixed) {
  const lines = [
    "| receiver | achieved req/s | p50 ms | p99 ms (median round) | p99 ms of each round | p99 ms over all rounds | p99 from due time ms | max ms | receiver CPU µs/request | events delivered |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [name, label] of FIXED_RECEIVERS) {
    const x = fixed[name];
    if (!x) continue;
    const rounds = x.rounds ?? [x];
    const verified = rounds.every((r) => r.verified);
    const delivered = rounds.reduce((n, r) => n + r.delivered, 0);
    const expected = rounds.reduce((n, r) => n + r.expected, 0);
    const max = Math.max(...rounds.map((r) => r.max));
    lines.push(
      `| ${label} | ${f0(x.rps)} | ${f2(x.p50)} | ${f2(x.p99)} | ${rounds.map((r) => f2(r.p99)).join(", ")} | ${f2(x.p99All ?? x.p99)} | ${f2(x.p99Due)} | ${f1(max)} | ${f0(x.cpuUserUs + x.cpuSystemUs)} | ${f0(delivered)} ${verified ? "✓" : "**≠ " + f0(expected) + "**"} |`,
    );
  }
  return lines.join("\n");
}

const pauseText = (pauses) =>
  Object.entries(pauses ?? {})
    .map(([kind, k]) => `${k.count} ${kind} (p50 ${f1(k.p50Ms)}, max ${f1(k.maxMs)} ms, ${f0(k.totalMs)} ms in all)`)
    .join("; ") || "none";

/** Per round: how many answers were slow, how many of those overlapped a GC pause, the pauses, loop delay, steal. */
function tailTable(fixed) {
  const lines = [
    `| receiver | round | p99 ms | answers > ${fixed.slowMs ?? 5} ms | of them during a GC pause of the receiver | receiver GC pauses | receiver's longest event-loop stall ms | of them during a GC pause of the sender | sender's longest event-loop stall ms | CPU stolen by the host ms/s |`,
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [name, label] of FIXED_RECEIVERS) {
    const x = fixed[name];
    if (!x?.rounds?.[0]?.tail) continue;
    x.rounds.forEach((r, i) => {
      const t = r.tail;
      const inGc = `${f0(t.slowInGc)}${t.slowInGc ? ` (${Object.entries(t.slowByKind).map(([k, n]) => `${n} ${k}`).join(", ")})` : ""}`;
      const sender = r.senderTail;
      lines.push(
        `| ${label} | ${i + 1} | ${f2(r.p99)} | ${f0(t.slow)} (${f2((100 * t.slow) / t.answers)} %) | ${inGc} | ${pauseText(t.pauses)} | ${r.loop ? f1(r.loop.max) : "n/a"} | ${sender ? f0(sender.slowInGc) : "n/a"} | ${f1(r.senderStallMs)} | ${f1(r.stealMsPerSecond)} |`,
      );
    });
  }
  return lines.join("\n");
}

export function markdown(r, { notesFile } = {}) {
  const m = r.machine;
  const p = r.params;
  const out = [];
  out.push("# Benchmarks");
  out.push("");
  out.push(`Written by \`npm run bench\` (scripts/bench.mjs)${r.smoke ? " in **smoke mode** (tiny load, figures meaningless)" : ""}. All figures come from one run on one machine.`);
  out.push("");
  out.push("## Machine and run");
  out.push("");
  out.push("| | |");
  out.push("|---|---|");
  out.push(`| date | ${r.date} |`);
  out.push(`| CPU | ${m.cpus} × ${m.cpuModel}${m.cpuMHz ? ` (${m.cpuMHz} MHz)` : ""} |`);
  out.push(`| memory | ${mb(m.totalMem)} MB |`);
  out.push(`| OS | ${m.os} |`);
  out.push(`| load average at start / end | ${m.loadStart} / ${m.loadEnd} |`);
  out.push(`| Node.js | ${m.node} |`);
  out.push(`| Node-RED | ${m.nodeRed} (${m.nodeRedDir}) |`);
  out.push(`| package | ${m.package}${m.git ? `, git ${m.git}` : ""} (packed with npm pack, installed into a fresh userDir) |`);
  out.push(`| duration of the run | ${f0(r.elapsedSeconds)} s |`);
  out.push("");
  out.push("## Results against the targets");
  out.push("");
  const rows = targetRows(r);
  const withAlt = rows.some((row) => row.alt);
  out.push(`| # | measurement | value | target | result |${withAlt ? ' for information: httpAdminRoot "/admin" |' : ""}`);
  out.push(`|---|---|---|---|---|${withAlt ? "---|" : ""}`);
  for (const row of rows) out.push(`| ${row.id} | ${row.what} | ${row.value} | ${row.target} | **${verdict(row.pass)}** |${withAlt ? ` ${row.alt ?? ""} |` : ""}`);
  if (r.problems.length) {
    out.push("");
    for (const problem of r.problems) out.push(`- **Problem:** ${problem}`);
  }
  out.push("");
  out.push("## Load parameters");
  out.push("");
  out.push(`- Load generator: autocannon ${p.autocannon} as a library, in the bench process, ${p.connections} keep-alive connections, pipelining 1, request timeout 10 s.`);
  out.push(`- Body: a Nuki Bridge callback (full Smart Lock 3.0 Pro state with door sensor and keypad, ${p.bodyBytes} bytes, \`Content-Type: application/json\`). Each connection owns ${p.devicesPerConnection} devices and rotates over them; each request flips the door sensor of its device (2 ↔ 3), so **every** request yields exactly one event at the receiver.`);
  out.push(`- Ingest runs: ${p.warmup} warm-up per receiver (also teaches every receiver every device), then ${p.rounds} round(s) of ${p.round} per receiver, interleaved (1, 2, 3, 1, 2, 3, …), each round of (1) and (2) after Node-RED's heap was collected (gc() twice and a 0.5 s pause: the two share a process, and one receiver's garbage should not be collected during the other's round); the table shows the round with the median req/s. Latency is the time from writing a request to its complete answer, 2xx only, percentiles over every response.`);
  out.push(`- Fixed rate: ${p.fixed}. Our own paced open-loop sender (node:http, keep-alive agent), because autocannon's \`overallRate\` sends each connection's quota as fast as it can at the start of every second and then waits, which measures a burst, not a steady rate; autocannon's figure is shown too.`);
  out.push(`- Memory: ${p.memory}.`);
  out.push(`- Start time: ${p.startup}.`);
  out.push(`- UniFi Access: ${p.unifi}.`);
  if (p.admin && r.admin) out.push(`- For information: ${p.admin}.`);
  out.push(`- Receivers: (1) \`nuki-config\` + \`nuki-events\` (bridge: the Nuki Bridge simulator, auth plain) → one function node counting into flow context; (2) \`http in\` (POST) → function (checks the body, maps lock/door, compares with the device's last state in node context, one message per change on output 2) → \`http response\`, output 2 → the same kind of counting function node; (3) a plain Node.js http server in its own process: read body, JSON.parse, compare with the last state, count. (1) and (2) run in the same Node-RED process, one at a time; delivered events are read from the counters over http after each run and must equal the 2xx answers times events per request.`);
  out.push("");
  if (r.ingest) {
    out.push("## 1–3 Webhook ingest");
    out.push("");
    out.push("| receiver | req/s (median round) | all rounds req/s | p50 ms | p99 ms | max ms | receiver CPU µs/request (user + system) | 2xx | non-2xx / errors | events delivered |");
    out.push("|---|---|---|---|---|---|---|---|---|---|");
    for (const [name, label] of [["nuki", "1 nuki-events route"], ["user", "2 http in → function → http response"], ["plain", "3 plain Node http server"]]) {
      const x = r.ingest[name];
      if (!x) continue;
      out.push(`| ${label} | ${f0(x.rps)} | ${x.rounds.map((v) => f0(v)).join(", ")} | ${f2(x.p50)} | ${f2(x.p99)} | ${f1(x.max)} | ${f0(x.cpuUserUs + x.cpuSystemUs)} (${f0(x.cpuUserUs)} + ${f0(x.cpuSystemUs)}) | ${f0(x.ok)} | ${x.non2xx} / ${x.errors + x.timeouts} | ${f0(x.delivered)} ${x.verified ? "(= 2xx ✓)" : "(**≠ expected " + f0(x.expected) + "**)"} |`);
    }
    const cpu = (x) => (x ? x.cpuUserUs + x.cpuSystemUs : NaN);
    const { nuki, user, plain } = r.ingest;
    if (nuki && (user || plain)) {
      out.push("");
      out.push(
        `The same ratios from the receivers' CPU per request (the load generator shares the machine, so req/s of a fast receiver is bounded by autocannon's own core): ` +
          [user && `1/2 = ${f2(cpu(user) / cpu(nuki))}`, plain && `1/3 = ${f2(cpu(plain) / cpu(nuki))}`].filter(Boolean).join(", ") +
          ".",
      );
    }
    out.push("");
  }
  if (r.fixed) {
    out.push(`## 7 Latency at a fixed ${f0(r.fixed.rate)} req/s`);
    out.push("");
    out.push(fixedTable(r.fixed));
    out.push("");
    out.push(`What the slow answers coincided with (GC pauses from the receiving process's perf_hooks "gc" entries, and the sender's own, lined up with each answer's wall-clock interval; minor = scavenge of the young generation, major = mark-compact, incremental = a step of incremental marking):`);
    out.push("");
    out.push(tailTable(r.fixed));
    if (r.fixed.autocannon) {
      const a = r.fixed.autocannon;
      out.push("");
      out.push(`autocannon \`overallRate: ${f0(r.fixed.rate)}\` against (1), ${p.connections} connections (per-second bursts): ${f0(a.rps)} req/s, p50 ${f2(a.p50)} ms, p99 ${f2(a.p99)} ms, max ${f1(a.max)} ms.`);
    }
    out.push("");
  }
  if (r.admin) {
    out.push("## For information: the same Node-RED with httpAdminRoot \"/admin\"");
    out.push("");
    out.push("Node-RED mounts its editor/admin app on the same root as httpNode by default, so every node route (ours and `http in`) also walks the admin app; with `httpAdminRoot` elsewhere nothing but httpNode is mounted on the callback path (see NOTES below). Targets are judged on the default layout above.");
    out.push("");
    out.push("| receiver | req/s (median round) | all rounds req/s | p50 ms | p99 ms | receiver CPU µs/request (user + system) | events delivered |");
    out.push("|---|---|---|---|---|---|---|");
    for (const [name, label] of [["nuki", "1 nuki-events route"], ["user", "2 http in → function → http response"]]) {
      const x = r.admin.ingest?.[name];
      if (!x) continue;
      out.push(`| ${label} | ${f0(x.rps)} | ${x.rounds.map((v) => f0(v)).join(", ")} | ${f2(x.p50)} | ${f2(x.p99)} | ${f0(x.cpuUserUs + x.cpuSystemUs)} (${f0(x.cpuUserUs)} + ${f0(x.cpuSystemUs)}) | ${f0(x.delivered)} ${x.verified ? "✓" : "**≠ " + f0(x.expected) + "**"} |`);
    }
    if (r.admin.ingest?.nuki && r.admin.ingest?.user) {
      const plain = r.ingest?.plain;
      out.push("");
      out.push(`Ratios in this layout: 1/2 = ${f2(r.admin.ingest.nuki.rps / r.admin.ingest.user.rps)}${plain ? `, 1/3 = ${f2(r.admin.ingest.nuki.rps / plain.rps)} (3 from the main run)` : ""}.`);
    }
    if (r.admin.fixed) {
      out.push("");
      out.push(`At a fixed ${f0(r.admin.fixed.rate)} req/s:`);
      out.push("");
      out.push(fixedTable(r.admin.fixed));
      out.push("");
      out.push(tailTable(r.admin.fixed));
    }
    out.push("");
  }
  if (r.memory) {
    const x = r.memory;
    out.push("## 5 Resident memory");
    out.push("");
    out.push("| | RSS MB (/proc VmRSS) | heap used MB |");
    out.push("|---|---|---|");
    out.push(`| before (after warm-up, GC) | ${mb(x.before.rss)} | ${mb(x.before.heapUsed)} |`);
    out.push(`| peak during the run | ${mb(x.peakRss)} | |`);
    out.push(`| after (GC) | ${mb(x.after.rss)} | ${mb(x.after.heapUsed)} |`);
    out.push("");
    out.push(`${f0(x.delivered)} events delivered (${f0(x.requests)} requests × 6, ${x.verified ? "= expected ✓" : "**≠ expected " + f0(x.expected) + "**"}) in ${f1(x.seconds)} s (${f0(x.delivered / x.seconds)} events/s); GC ${x.gc ? "forced (--expose-gc)" : "not available, sampled after a pause"}.`);
    out.push("");
  }
  if (r.startup) {
    out.push("## 6 Start time");
    out.push("");
    out.push("| userDir | median ms | samples ms | CPU ms used by then (median) | CPU samples ms |");
    out.push("|---|---|---|---|---|");
    for (const [label, x] of [["with the package", r.startup.with], ["without", r.startup.without]]) {
      out.push(`| ${label} | ${f0(x.median)} | ${x.samples.map(f0).join(", ")} | ${f0(x.cpuMedian)} | ${(x.cpuSamples ?? []).map(f0).join(", ")} |`);
    }
    if (Number.isFinite(r.startup.with.cpuMedian)) {
      out.push("");
      out.push(`CPU time added by the package (median): ${f0(r.startup.with.cpuMedian - r.startup.without.cpuMedian)} ms (less sensitive to a busy machine than the wall time the target is judged on).`);
    }
    out.push("");
  }
  if (r.unifi) {
    out.push("## 4 UniFi Access notifications");
    out.push("");
    if (r.unifi.skipped) out.push(`skipped: ${r.unifi.skipped}`);
    else {
      out.push("| receiver | notifications | seconds | per second (median round) | all rounds per second | Node-RED CPU µs/notification | delivered |");
      out.push("|---|---|---|---|---|---|---|");
      for (const [label, x] of [["unifi-access-events", r.unifi.ours], ["websocket in → function", r.unifi.core]]) {
        out.push(`| ${label} | ${f0(x.frames)} | ${f2(x.seconds)} | ${f0(x.rate)} | ${(x.rounds ?? [x.rate]).map((v) => f0(v)).join(", ")} | ${f0(x.cpuUs)} | ${f0(x.delivered)} |`);
      }
      out.push("", `By Node-RED CPU per notification: ${f2(r.unifi.core.cpuUs / r.unifi.ours.cpuUs)} (core / ours).`);
      if (r.unifi.note) out.push("", r.unifi.note);
    }
    out.push("");
  }
  if (r.profile) {
    out.push("## Profile of this run");
    out.push("");
    out.push("```");
    out.push(r.profile);
    out.push("```");
    out.push("");
  }
  if (notesFile && existsSync(notesFile)) {
    out.push(readFileSync(notesFile, "utf8").trim());
    out.push("");
  }
  return out.join("\n");
}
