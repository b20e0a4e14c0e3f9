// Node-RED start time: from spawn to the admin API answering GET /settings with 200 *and* the "Started flows"
// log line, measured on our own spawn (the harness polls every 100 ms, too coarse for this). The userDir must
// already hold a settings.js (the harness writes one on its first start, which doubles as a cache warm-up).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";

/** User + system CPU ms a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Spawns Node-RED and resolves { ms: wall time until ready, cpuMs: CPU time it used by then }, then stops it. */
export async function timeStart({ nodeRedDir, userDir, port, timeoutMs = 60000 }) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const began = performance.now();
  const child = spawn(process.execPath, [path.join(nodeRedDir, "red.js"), "--settings", path.join(userDir, "settings.js"), "--userDir", userDir], {
    cwd: userDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let flowsAt = null;
  let output = "";
  const onData = (chunk) => {
    output += chunk;
    if (flowsAt === null && /\bStarted flows\b/.test(output)) flowsAt = performance.now();
    if (output.length > 100_000) output = output.slice(-50_000);
  };
  child.stdout.setEncoding("utf8").on("data", onData);
  child.stderr.setEncoding("utf8").on("data", onData);
  let dead = null;
  exited.then((s) => (dead = s));
  let settingsAt = null;
  try {
    while (settingsAt === null || flowsAt === null) {
      if (dead) throw new Error(`Node-RED exited during start (${JSON.stringify(dead)}):\n${output.slice(-3000)}`);
      if (performance.now() - began > timeoutMs) throw new Error(`Node-RED did not start within ${timeoutMs} ms:\n${output.slice(-3000)}`);
      if (settingsAt === null) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/settings`, { headers: { Accept: "application/json" } });
          await res.arrayBuffer();
          if (res.status === 200) settingsAt = performance.now();
        } catch {
          // not listening yet
        }
      }
      if (settingsAt === null || flowsAt === null) await new Promise((r) => setTimeout(r, 5));
    }
    return { ms: Math.max(settingsAt, flowsAt) - began, cpuMs: cpuMs(child.pid) };
  } finally {
    if (!dead) {
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(timer);
    }
  }
}
