/**
 * UniFi Access actions (research §2.2-§2.4, §6): names users send -> controller requests, and what confirms them.
 * There is no real "lock" command: `lock` ends temporary unlocks with the `lock_now` lock rule, or `reset`s an
 * active keep-unlocked rule. Emergency modes are controller-wide and need no door.
 */
import type { LockState } from "../core/door-event";
import type { LockRuleType } from "./client";

export type ActionSpec =
  | { kind: "unlock"; confirms: LockState }
  | { kind: "lock" }
  | { kind: "rule"; rule: LockRuleType; confirms: LockState | "any"; minutes?: boolean }
  | { kind: "emergency"; lockdown: boolean; evacuation: boolean };

export const ACTIONS: Record<string, ActionSpec> = {
  unlock: { kind: "unlock", confirms: "unlocked" },
  unlatch: { kind: "unlock", confirms: "unlocked" },
  open: { kind: "unlock", confirms: "unlocked" },
  lock: { kind: "lock" },
  keep_unlocked: { kind: "rule", rule: "keep_unlock", confirms: "unlocked" },
  keep_locked: { kind: "rule", rule: "keep_lock", confirms: "locked" },
  reset_lock_rule: { kind: "rule", rule: "reset", confirms: "any" },
  unlock_for: { kind: "rule", rule: "custom", confirms: "unlocked", minutes: true },
  lockdown: { kind: "emergency", lockdown: true, evacuation: false },
  evacuation: { kind: "emergency", lockdown: false, evacuation: true },
  emergency_clear: { kind: "emergency", lockdown: false, evacuation: false },
};

export const ACTION_NAMES = Object.keys(ACTIONS);

export function actionSpec(action: string): ActionSpec | null {
  return Object.prototype.hasOwnProperty.call(ACTIONS, action) ? (ACTIONS[action] as ActionSpec) : null;
}

/** Controller-wide actions need no door id. */
export function needsDoor(action: string): boolean {
  return actionSpec(action)?.kind !== "emergency";
}

/** `unlock_for` minutes: a whole number from 1 to 1440 (one day); anything else is refused before sending. */
export function parseMinutes(value: unknown): number | null {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 1440) return null;
  return n;
}
