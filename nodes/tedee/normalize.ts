/**
 * Tedee state -> DeviceReport for the core state tracker (research/loqed-tedee.md 2.2.3, 3.6, 5).
 * The lock states the contract has no word for (calibrating, semi-locked, updating, unknown, and values no
 * document lists such as 255) are lock "unknown" plus a vendor event `tedee.lock.<name>` so a flow still
 * sees them; the raw number is always in `raw`. `jammed` wins over the state.
 */
import type { DeviceReport } from "../core/state-tracker";
import type { DoorState, LockState } from "../core/door-event";
import type { CloudLock, LockDetails } from "./schemas";

export interface TedeeState {
  /** Our name of the Tedee state (local API wording differs from the cloud's, see research 2.2.3). */
  name: string;
  lock: LockState;
  /** Vendor event for states the contract's lock states cannot express. */
  vendorEvent?: string;
}

const STATES: Record<number, TedeeState> = {
  0: { name: "uncalibrated", lock: "uncalibrated" },
  1: { name: "calibrating", lock: "unknown", vendorEvent: "tedee.lock.calibrating" },
  2: { name: "unlocked", lock: "unlocked" },
  // Half turned: neither locked nor unlocked, so not safe to report as either.
  3: { name: "semi_locked", lock: "unknown", vendorEvent: "tedee.lock.semi_locked" },
  4: { name: "unlocking", lock: "unlocking" },
  5: { name: "locking", lock: "locking" },
  6: { name: "locked", lock: "locked" },
  7: { name: "pulled", lock: "unlatched" },
  8: { name: "pulling", lock: "unlatching" },
  9: { name: "unknown", lock: "unknown", vendorEvent: "tedee.lock.unknown" },
  // Seen in callbacks while the lock updates its firmware (not in the local spec).
  18: { name: "updating", lock: "unknown", vendorEvent: "tedee.lock.updating" },
};
const UNKNOWN: TedeeState = { name: "unknown", lock: "unknown", vendorEvent: "tedee.lock.unknown" };
const JAMMED: TedeeState = { name: "jammed", lock: "jammed" };

/** Battery level at or below which `battery.critical` is true (Tedee reports a percentage only). */
export const LOW_BATTERY_PERCENT = 15;

/** 255 (and anything outside 0-100) means "unknown" (HA #169379 showed 255 %). */
export function batteryLevel(value: number | null | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || !Number.isInteger(value) || value < 0 || value > 100) return null;
  return value;
}

export function batteryCritical(level: number | null | undefined): boolean | undefined {
  if (level === undefined) return undefined;
  return level === null ? undefined : level <= LOW_BATTERY_PERCENT;
}

export function tedeeState(state: number | undefined, jammed?: boolean): TedeeState {
  if (jammed) return JAMMED;
  if (state === undefined) return UNKNOWN;
  return STATES[state] ?? UNKNOWN;
}

/** Cloud door state: 2 opened, 3 closed; 0 not paired, 1 disconnected, 4 uncalibrated and others unknown. */
export function doorState(value: number | null | undefined): DoorState | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === 0) return undefined; // no door sensor paired: the lock does not tell
  if (value === 2) return "open";
  if (value === 3) return "closed";
  return "unknown";
}

export function deviceIdOf(id: number): string {
  return String(id);
}

function battery(level: number | null | undefined, charging: boolean | undefined): DeviceReport["battery"] {
  const normalized = batteryLevel(level);
  const out: NonNullable<DeviceReport["battery"]> = {};
  if (normalized !== undefined) out.level = normalized;
  const critical = batteryCritical(normalized);
  if (critical !== undefined) out.critical = critical;
  if (charging !== undefined) out.charging = charging;
  return out;
}

/** A lock as `GET /lock` describes it. */
export function lockDetailsReport(lock: LockDetails): { report: DeviceReport; state: TedeeState } {
  const state = tedeeState(lock.state, lock.jammed);
  const report: DeviceReport = {
    device: { id: deviceIdOf(lock.id), name: lock.name?.trim() || null, type: "lock" },
    lock: state.lock,
    battery: battery(lock.batteryLevel, lock.isCharging),
  };
  if (lock.isConnected !== undefined) report.online = lock.isConnected;
  const door = doorState(lock.doorState);
  if (door !== undefined) report.door = door;
  return { report, state };
}

/** A lock as the cloud's `GET /my/lock` describes it (no state while it is disconnected). */
export function cloudLockReport(lock: CloudLock): { report: DeviceReport; state: TedeeState | null } {
  const deviceState = lock.deviceState ?? lock.lockProperties ?? null;
  const report: DeviceReport = { device: { id: deviceIdOf(lock.id), name: lock.name?.trim() || null, type: "lock" } };
  if (lock.isConnected !== undefined) report.online = lock.isConnected;
  if (!deviceState) return { report, state: null };
  const state = tedeeState(deviceState.state);
  report.lock = state.lock;
  report.battery = battery(deviceState.batteryLevel, deviceState.isCharging);
  const door = doorState(deviceState.doorState);
  if (door !== undefined) report.door = door;
  return { report, state };
}

/** Accepts the numeric device id as a number or a decimal string (as shown in the Tedee portal); null otherwise. */
export function parseDeviceId(value: unknown): number | null {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== "string") return null;
  const text = value.trim();
  return /^\d{1,15}$/.test(text) ? Number(text) : null;
}
