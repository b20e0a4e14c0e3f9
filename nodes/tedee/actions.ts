/**
 * Tedee actions: names users send -> Bridge/cloud operations and unlock modes (research/loqed-tedee.md 2.1.2,
 * 2.3.4, 2.3.7), and the lock states that confirm each one. The bridge reports transitional states in its
 * callbacks, so a pull is confirmed by pulling/pulled; a normal unlock may pull the spring on its own
 * (the lock's auto pull-spring setting), so that counts as done too.
 */
import type { LockState } from "../core/door-event";

export type Operation = "lock" | "unlock" | "pull";

/** Unlock modes: 0 normal (absent), 2 force, 3 without pulling the spring, 4 unlock or pull. */
export const UNLOCK_MODE = { NORMAL: 0, FORCE: 2, WITHOUT_PULL: 3, UNLOCK_OR_PULL: 4 } as const;

export interface TedeeActionSpec {
  operation: Operation;
  /** Unlock mode to send; undefined = none (normal). */
  mode?: number;
  confirms: readonly LockState[];
}

export const ACTIONS = ["lock", "unlock", "unlatch", "open", "unlock_force"] as const;

export interface ActionOptions {
  /** The action node's "unlock without pulling the spring" option: unlock uses mode 3. */
  unlockWithoutPull?: boolean;
}

/** The spec of an action, or null when Tedee has no such action. */
export function actionSpec(action: string, options: ActionOptions = {}): TedeeActionSpec | null {
  switch (action) {
    case "lock":
      return { operation: "lock", confirms: ["locked"] };
    case "unlock":
      return options.unlockWithoutPull
        ? { operation: "unlock", mode: UNLOCK_MODE.WITHOUT_PULL, confirms: ["unlocked"] }
        : { operation: "unlock", confirms: ["unlocked", "unlatching", "unlatched"] };
    case "unlatch":
    case "open":
      return { operation: "pull", confirms: ["unlatching", "unlatched"] };
    case "unlock_force":
      // Emergency: move until the lock hits resistance (meant for a lock in the unknown state).
      return { operation: "unlock", mode: UNLOCK_MODE.FORCE, confirms: ["unlocked", "unlatching", "unlatched"] };
    default:
      return null;
  }
}
