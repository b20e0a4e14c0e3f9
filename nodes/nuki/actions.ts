/**
 * Nuki actions: names users send -> Bridge `/lockAction` codes (research/nuki.md 1.3 "Lock actions"), Web API
 * action codes (2.2, which differ for the Opener's continuous mode) and MQTT `lockAction` codes (3.2), and the
 * lock states that confirm each one. The bridge rarely reports transitional states, so an unlatch is
 * confirmed by the lock reporting unlatching/unlatched or the unlocked state it returns to.
 */
import type { LockState } from "../core/door-event";
import { isOpener } from "./normalize";

export interface NukiActionSpec {
  /** Bridge /lockAction code for this device type (also the MQTT `lockAction` payload of a Smart Lock). */
  code: number;
  /** Web API `POST /smartlock/{id}/action` code: the same except the Opener's continuous mode (6/7, not 4/5). */
  webCode: number;
  /** Lock states that count as "done" once the device reports them after the command. */
  confirms: readonly LockState[];
  /** For Opener mode toggles: the continuous-mode value that confirms (mode, not state, changes). */
  continuousMode?: boolean;
}

export const SMARTLOCK_ACTIONS = ["lock", "unlock", "unlatch", "open", "lock_n_go", "lock_n_go_unlatch"] as const;
export const OPENER_ACTIONS = [
  "ring_to_open_on",
  "ring_to_open_off",
  "continuous_mode_on",
  "continuous_mode_off",
  "open",
  "unlatch",
  "lock",
  "unlock",
] as const;

const SMARTLOCK: Record<string, NukiActionSpec> = {
  unlock: { code: 1, webCode: 1, confirms: ["unlocked"] },
  lock: { code: 2, webCode: 2, confirms: ["locked"] },
  unlatch: { code: 3, webCode: 3, confirms: ["unlatching", "unlatched", "unlocked"] },
  open: { code: 3, webCode: 3, confirms: ["unlatching", "unlatched", "unlocked"] },
  // Lock 'n' go unlocks, waits, then locks again: done when it is locked again.
  lock_n_go: { code: 4, webCode: 4, confirms: ["locked"] },
  lock_n_go_unlatch: { code: 5, webCode: 5, confirms: ["locked"] },
};

const OPENER: Record<string, NukiActionSpec> = {
  ring_to_open_on: { code: 1, webCode: 1, confirms: ["unlocked"] },
  unlock: { code: 1, webCode: 1, confirms: ["unlocked"] },
  ring_to_open_off: { code: 2, webCode: 2, confirms: ["locked"] },
  lock: { code: 2, webCode: 2, confirms: ["locked"] },
  // Electric strike actuation: the buzzer opens, then the Opener goes back to online / rto active.
  open: { code: 3, webCode: 3, confirms: ["unlatching", "unlatched", "locked", "unlocked"] },
  unlatch: { code: 3, webCode: 3, confirms: ["unlatching", "unlatched", "locked", "unlocked"] },
  continuous_mode_on: { code: 4, webCode: 6, confirms: [], continuousMode: true },
  continuous_mode_off: { code: 5, webCode: 7, confirms: [], continuousMode: false },
};

/** The spec of an action for a device type, or null when that device does not support it. */
export function actionSpec(deviceType: number, action: string): NukiActionSpec | null {
  const table = isOpener(deviceType) ? OPENER : SMARTLOCK;
  return Object.prototype.hasOwnProperty.call(table, action) ? (table[action] as NukiActionSpec) : null;
}

export function supportedActions(deviceType: number): readonly string[] {
  return isOpener(deviceType) ? OPENER_ACTIONS : SMARTLOCK_ACTIONS;
}
