/**
 * Nuki Bridge state -> DeviceReport for the core state tracker (research/nuki.md 1.3 enumerations, 5.2 A).
 * Smart Locks are device types 0, 3 and 4 (5 is treated as a lock too: newer firmware, same table).
 * The Opener (type 2) maps onto lock states as the contract says: locked = ring-to-open off,
 * unlocked = ring-to-open on, unlatched/unlatching = buzzer opened/opening.
 */
import type { DeviceType, DoorState, LockState } from "../core/door-event";
import type { DeviceReport } from "../core/state-tracker";
import { nukiIdToHex } from "./ids";
import type { BridgeDeviceState } from "./schemas";

export const DEVICE_TYPE_OPENER = 2;

const SMARTLOCK_STATES: Record<number, LockState> = {
  0: "uncalibrated",
  1: "locked",
  2: "unlocking",
  3: "unlocked",
  4: "locking",
  5: "unlatched",
  6: "unlocked", // unlocked (lock 'n' go): unlocked, about to lock again
  7: "unlatching",
  254: "jammed", // motor blocked
  255: "unknown",
};

const OPENER_STATES: Record<number, LockState> = {
  0: "uncalibrated", // untrained
  1: "locked", // online: ring-to-open off
  3: "unlocked", // ring-to-open active
  5: "unlatched", // open
  7: "unlatching", // opening
  253: "unknown", // boot run
  255: "unknown",
};

/** Door sensor: 2 closed, 3 opened; everything else (deactivated, calibrating, removed, ...) is unknown. */
export function doorState(doorsensorState: number | undefined): DoorState | undefined {
  if (doorsensorState === undefined) return undefined;
  if (doorsensorState === 2) return "closed";
  if (doorsensorState === 3) return "open";
  return "unknown";
}

export function isOpener(deviceType: number): boolean {
  return deviceType === DEVICE_TYPE_OPENER;
}

export function deviceKind(deviceType: number): DeviceType {
  return isOpener(deviceType) ? "opener" : "lock";
}

export function lockState(deviceType: number, state: number): LockState {
  const table = isOpener(deviceType) ? OPENER_STATES : SMARTLOCK_STATES;
  return table[state] ?? "unknown";
}

export interface BridgeDevice {
  nukiId: number;
  deviceType: number;
  name?: string | null;
}

export function bridgeReport(device: BridgeDevice, state: BridgeDeviceState): DeviceReport {
  const opener = isOpener(device.deviceType);
  const report: DeviceReport = {
    device: { id: nukiIdToHex(device.nukiId), name: device.name ?? null, type: deviceKind(device.deviceType) },
    lock: lockState(device.deviceType, state.state),
    battery: {
      critical: state.batteryCritical,
      level: state.batteryChargeState,
      charging: state.batteryCharging,
    },
    flags: {},
  };
  const door = doorState(state.doorsensorState);
  if (door !== undefined) report.door = door;
  if (state.keypadBatteryCritical !== undefined) report.flags!.keypad_battery_low = state.keypadBatteryCritical;
  if (opener) {
    // State 3 (rto active) is ring-to-open on; states 5/7 (opening) say nothing about it.
    if (state.state === 1 || state.state === 3) report.flags!.ring_to_open = state.state === 3;
    if (state.mode === 2 || state.mode === 3) report.flags!.continuous_mode = state.mode === 3;
    if (state.ringactionTimestamp !== undefined) {
      report.doorbell = state.ringactionTimestamp;
      report.doorbellAt = state.ringactionTimestamp;
    }
  }
  return report;
}
