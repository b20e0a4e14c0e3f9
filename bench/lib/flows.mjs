// The flows deployed into the bench's Node-RED: our listener, the hand-built equivalent users wire today,
// counters behind both, and small http endpoints the bench reads counters and memory from.
import { fileURLToPath } from "node:url";

export const USER_PATH = "/bench/user/nuki";
const TAB = "bench-tab";

/** A function node that counts the messages reaching it under flow context key `count_${name}`. */
function counter(id, name) {
  return {
    id,
    type: "function",
    z: TAB,
    name: `count ${name}`,
    func: `flow.set("count_${name}", (flow.get("count_${name}") || 0) + 1);\nreturn null;`,
    outputs: 1,
    wires: [[]],
  };
}

// What a user writes in a function node behind `http in` for Nuki Bridge callbacks: check the body, map
// the numbers, compare with the device's last state (node context) and send one message per change on
// output 2; output 1 answers the bridge.
const USER_FUNCTION = `
const b = msg.payload;
if (!b || typeof b !== "object" || typeof b.nukiId !== "number" || typeof b.state !== "number") {
    msg.statusCode = 400;
    msg.payload = "unexpected body";
    return [msg, null];
}
const LOCK = { 0: "uncalibrated", 1: "locked", 2: "unlocking", 3: "unlocked", 4: "locking", 5: "unlatched", 6: "unlocked", 7: "unlatching", 254: "jammed" };
const id = b.nukiId.toString(16).toUpperCase().padStart(8, "0");
const now = {
    lock: LOCK[b.state] || "unknown",
    door: b.doorsensorState === 2 ? "closed" : b.doorsensorState === 3 ? "open" : "unknown",
    critical: b.batteryCritical === true,
    charging: b.batteryCharging === true,
    level: b.batteryChargeState,
    keypad: b.keypadBatteryCritical === true,
};
const states = context.get("states") || {};
const prev = states[id];
states[id] = now;
context.set("states", states);
const events = [];
const emit = (event) => events.push({
    topic: "nuki/" + id + "/" + event,
    payload: { event, device: id, lock: now.lock, door: now.door, previous: prev ? { lock: prev.lock, door: prev.door } : null, receivedAt: new Date().toISOString(), raw: b },
});
if (prev) {
    if (prev.lock !== now.lock) emit("lock." + now.lock);
    if (prev.door !== now.door) emit(now.door === "open" ? "door.opened" : "door.closed");
    if (prev.critical !== now.critical) emit(now.critical ? "battery.low" : "battery.ok");
    if (prev.charging !== now.charging) emit(now.charging ? "battery.charging" : "battery.charging_stopped");
    if (prev.level !== now.level) emit("battery.level");
    if (prev.keypad !== now.keypad) emit(now.keypad ? "keypad_battery_low.on" : "keypad_battery_low.off");
}
msg.statusCode = 200;
msg.payload = "";
return [msg, events];
`;

const COUNTS_FUNCTION = `
msg.payload = {
    nuki: flow.get("count_nuki") || 0,
    user: flow.get("count_user") || 0,
    unifi: flow.get("count_unifi") || 0,
    ws: flow.get("count_ws") || 0,
};
return msg;
`;

const RESET_FUNCTION = `
for (const name of ["nuki", "user", "unifi", "ws"]) flow.set("count_" + name, 0);
msg.payload = { ok: true };
return msg;
`;

// Forces garbage collection when Node-RED runs with --expose-gc (or turns the flag on), then reports
// heap and RSS as the process sees them.
const MEM_FUNCTION = `
let gc = vm.runInThisContext("typeof gc === 'function' ? gc : null");
if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("typeof gc === 'function' ? gc : null");
}
if (gc) { gc(); gc(); }
const usage = vm.runInThisContext("process.memoryUsage()");
msg.payload = { gc: !!gc, heapUsed: usage.heapUsed, rss: usage.rss, external: usage.external, arrayBuffers: usage.arrayBuffers };
return msg;
`;

function endpoint(idPrefix, method, url, func, libs) {
  return [
    { id: `${idPrefix}-in`, type: "http in", z: TAB, url, method, wires: [[`${idPrefix}-fn`]] },
    { id: `${idPrefix}-fn`, type: "function", z: TAB, func, outputs: 1, ...(libs ? { libs } : {}), wires: [[`${idPrefix}-out`]] },
    { id: `${idPrefix}-out`, type: "http response", z: TAB, statusCode: "", wires: [] },
  ];
}

// Toggles the CPU profiler of bench/lib/profiler-preload.cjs (a no-op when it is not preloaded).
const PROFILE_FUNCTION = `
vm.runInThisContext("process").emit("smartlocks:profile");
msg.payload = { ok: true };
return msg;
`;

// POST /bench/gc {"action":"start"} starts recording Node-RED's GC pauses and event-loop stalls with the bench's
// recorder (bench/lib/gc-recorder.cjs, required by its path), {"action":"stop"} ends the recording and answers what
// was seen. Observing costs next to nothing: V8 reports its pauses anyway.
const GC_RECORDER = fileURLToPath(new URL("./gc-recorder.cjs", import.meta.url));
const GC_FUNCTION = `
const old = context.get("recording");
context.set("recording", undefined);
const recording = msg.payload && msg.payload.action === "start" ? nodeModule.createRequire(${JSON.stringify(GC_RECORDER)})(${JSON.stringify(GC_RECORDER)}).startGcRecording() : null;
if (recording) context.set("recording", recording);
(old ? old.stop() : Promise.resolve({ pauses: [], loop: null })).then((out) => {
    msg.payload = recording ? { ok: true } : out;
    node.send(msg);
});
return null;
`;

/**
 * @param {object} o
 * @param {number} o.simPort Nuki Bridge simulator port
 * @param {string} o.token   bridge token
 * @param {string} o.secret  route secret of the nuki-config
 * @param {object[]} [o.extra] more nodes (e.g. the UniFi Access comparison)
 */
export function benchFlows({ simPort, token, secret, extra = [] }) {
  return [
    { id: TAB, type: "tab", label: "smartlocks bench" },
    {
      id: "bench-nuki-cfg",
      type: "nuki-config",
      name: "bench bridge",
      host: "127.0.0.1",
      port: simPort,
      auth: "plain",
      callbackUrl: "",
      credentials: { token, routeSecret: secret },
    },
    { id: "bench-nuki-ev", type: "nuki-events", z: TAB, config: "bench-nuki-cfg", devices: [], events: [], wires: [["bench-count-nuki"]] },
    counter("bench-count-nuki", "nuki"),

    { id: "bench-user-in", type: "http in", z: TAB, url: USER_PATH, method: "post", wires: [["bench-user-fn"]] },
    { id: "bench-user-fn", type: "function", z: TAB, name: "user: compare state", func: USER_FUNCTION, outputs: 2, wires: [["bench-user-out"], ["bench-count-user"]] },
    { id: "bench-user-out", type: "http response", z: TAB, statusCode: "", wires: [] },
    counter("bench-count-user", "user"),

    ...endpoint("bench-counts", "get", "/bench/counts", COUNTS_FUNCTION),
    ...endpoint("bench-reset", "post", "/bench/reset", RESET_FUNCTION),
    ...endpoint("bench-mem", "get", "/bench/mem", MEM_FUNCTION, [
      { var: "v8", module: "v8" },
      { var: "vm", module: "vm" },
    ]),
    ...endpoint("bench-gc", "post", "/bench/gc", GC_FUNCTION, [{ var: "nodeModule", module: "module" }]),
    ...endpoint("bench-profile", "post", "/bench/profile", PROFILE_FUNCTION, [{ var: "vm", module: "vm" }]),
    ...extra.map((node) => ({ z: TAB, ...node })),
  ];
}

export { counter, TAB };
