/**
 * LOQED actions -> bolt states: lock = night lock, unlock = day lock, unlatch/open = open. The bridge command
 * byte and the cloud `bolt_state` path segment for each.
 */
import { LOQED_ACTION, type LoqedActionCode } from "./crypto";
import type { Bolt } from "./normalize";

export interface LoqedActionSpec {
  bolt: Exclude<Bolt, "unknown">;
  code: LoqedActionCode;
}

const ACTIONS: Record<string, LoqedActionSpec> = {
  lock: { bolt: "night_lock", code: LOQED_ACTION.NIGHT_LOCK },
  unlock: { bolt: "day_lock", code: LOQED_ACTION.DAY_LOCK },
  unlatch: { bolt: "open", code: LOQED_ACTION.OPEN },
  open: { bolt: "open", code: LOQED_ACTION.OPEN },
};

export const SUPPORTED_ACTIONS = Object.keys(ACTIONS);

export function actionSpec(action: string): LoqedActionSpec | null {
  return Object.prototype.hasOwnProperty.call(ACTIONS, action) ? ACTIONS[action]! : null;
}
