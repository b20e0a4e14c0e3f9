/**
 * Nuki Web API -> the core state tracker and events (research/nuki.md 2.3, 2.4, 5.1). `DEVICE_STATUS` (and the
 * state of `GET /smartlock`) is a state report like a bridge callback and goes through the same tracker, so a
 * transition seen on both channels is one event. A `DEVICE_LOGS` entry is a happening with an actor; what it
 * means depends on the log `action`.
 */
import type { DeviceType, LockState } from "../core/door-event";
import type { DeviceReport } from "../core/state-tracker";
import { deviceIdFromSmartlockId } from "./ids";
import { doorState, isOpener, lockState } from "./normalize";
import type { SmartlockLog, WebState } from "./web-schemas";

/** Web `type` / log `deviceType`: 0 Smart Lock 1/2, 1 Box, 2 Opener, 3 Smart Door, 4 Smart Lock 3/4, 5 Smart Lock 5. */
export function webDeviceKind(type: number): DeviceType {
  return isOpener(type) ? "opener" : "lock";
}

/** The device type digit in front of the 8 hex digits of a smartlockId (research 1.8). */
export function deviceTypeOfSmartlockId(smartlockId: number): number {
  return Math.floor(smartlockId / 0x100000000);
}

export interface WebDevice {
  smartlockId: number;
  type: number;
  name: string | null;
}

/** Web doorState: 0 = no door sensor paired (says nothing), then the bridge's table. */
function webDoor(value: number | undefined): ReturnType<typeof doorState> {
  if (value === undefined || value === 0) return undefined;
  return doorState(value);
}

export function webStateReport(device: WebDevice, state: WebState, serverState?: number): DeviceReport {
  const report: DeviceReport = {
    device: { id: deviceIdFromSmartlockId(device.smartlockId), name: device.name, type: webDeviceKind(device.type) },
    battery: {},
    flags: {},
  };
  if (state.state !== undefined) report.lock = lockState(device.type, state.state);
  const door = webDoor(state.doorState);
  if (door !== undefined) report.door = door;
  if (state.batteryCritical !== undefined) report.battery!.critical = state.batteryCritical;
  if (state.batteryCharge != null) report.battery!.level = state.batteryCharge;
  if (state.batteryCharging != null) report.battery!.charging = state.batteryCharging;
  if (state.keypadBatteryCritical != null) report.flags!.keypad_battery_low = state.keypadBatteryCritical;
  if (state.doorsensorBatteryCritical != null) report.flags!.door_sensor_battery_low = state.doorsensorBatteryCritical;
  if (isOpener(device.type)) {
    if (state.state === 1 || state.state === 3) report.flags!.ring_to_open = state.state === 3;
    if (state.mode === 2 || state.mode === 3) report.flags!.continuous_mode = state.mode === 3;
  }
  // serverState 0 = ok, 4 = offline (research 2.3); the others are account problems, not connectivity.
  if (serverState === 0) report.online = true;
  else if (serverState === 4) report.online = false;
  return report;
}

/** What one activity log entry means. */
export type LogMeaning =
  /** A lock action with an actor: `event` when nothing else reported it; `candidates` are the events of other channels it may describe. */
  | { kind: "lock"; event: string; candidates: readonly string[]; steady: LockState | null }
  | { kind: "door"; door: "open" | "closed" }
  | { kind: "ring" }
  | { kind: "happening"; event: string }
  | { kind: "ignore" };

const UNLATCH = ["lock.unlatched", "lock.unlatching", "lock.unlocked"] as const;

const LOCK_ACTIONS: Record<number, LogMeaning> = {
  1: { kind: "lock", event: "lock.unlocked", candidates: ["lock.unlocked", "lock.unlocking"], steady: "unlocked" },
  2: { kind: "lock", event: "lock.locked", candidates: ["lock.locked", "lock.locking"], steady: "locked" },
  3: { kind: "lock", event: "lock.unlatched", candidates: UNLATCH, steady: null },
  // Lock 'n' go unlocks, waits and locks again: the unlock is what someone did.
  4: { kind: "lock", event: "lock.unlocked", candidates: ["lock.unlocked", "lock.unlocking"], steady: null },
  5: { kind: "lock", event: "lock.unlatched", candidates: UNLATCH, steady: null },
};

const OPENER_ACTIONS: Record<number, LogMeaning> = {
  1: { kind: "lock", event: "lock.unlocked", candidates: ["lock.unlocked"], steady: "unlocked" }, // ring to open on
  2: { kind: "lock", event: "lock.locked", candidates: ["lock.locked"], steady: "locked" }, // ring to open off
  3: { kind: "lock", event: "lock.unlatched", candidates: ["lock.unlatched", "lock.unlatching"], steady: null }, // buzzer
};

/** Door and device log actions (research 2.4), the same for every device type. */
const DEVICE_ACTIONS: Record<number, LogMeaning> = {
  208: { kind: "happening", event: "nuki.door.ajar" },
  209: { kind: "happening", event: "nuki.door.status_mismatch" },
  224: { kind: "ring" },
  240: { kind: "door", door: "open" },
  241: { kind: "door", door: "closed" },
  242: { kind: "happening", event: "nuki.door_sensor.jammed" },
};

export function logMeaning(deviceType: number, log: SmartlockLog): LogMeaning {
  const device = DEVICE_ACTIONS[log.action];
  if (device) return device.kind === "ring" && !isOpener(deviceType) ? { kind: "ignore" } : device;
  const table = isOpener(deviceType) ? OPENER_ACTIONS : LOCK_ACTIONS;
  return table[log.action] ?? { kind: "ignore" };
}

/** Log completion state 0 = success (research 2.4); a missing state is read as success (older logs omit it). */
export function logSucceeded(log: SmartlockLog): boolean {
  return log.state === undefined || log.state === 0;
}
