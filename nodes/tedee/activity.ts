/**
 * The cloud activity log (research/loqed-tedee.md 2.3.6): who operated a lock. The local bridge never says who,
 * so with a cloud key the plugin looks the happening up here and sends the actor as a follow-up of the event
 * it already emitted (same id, `update: true`). Event codes that carry no "who" (power, firmware, battery,
 * door sensor) are not mapped.
 */
import type { Actor, ActorType } from "../core/door-event";
import type { Activity } from "./schemas";

export interface ActivityMeaning {
  /** The listener events this log entry can describe, best match first. */
  events: readonly string[];
  actor: ActorType;
}

const LOCKED = ["lock.locked", "lock.locking"] as const;
const UNLOCKED = ["lock.unlocked", "lock.unlocking"] as const;
const PULLED = ["lock.unlatched", "lock.unlatching", "lock.unlocked"] as const;
const SEMI = ["tedee.lock.semi_locked"] as const;

const CODES: Record<number, ActivityMeaning> = {
  32: { events: LOCKED, actor: "app" }, // LockedRemote
  33: { events: UNLOCKED, actor: "app" }, // UnlockedRemote
  34: { events: LOCKED, actor: "button" },
  35: { events: UNLOCKED, actor: "button" },
  36: { events: LOCKED, actor: "auto" },
  37: { events: UNLOCKED, actor: "auto" },
  38: { events: LOCKED, actor: "manual" },
  39: { events: UNLOCKED, actor: "manual" },
  47: { events: SEMI, actor: "manual" },
  48: { events: SEMI, actor: "button" },
  49: { events: SEMI, actor: "auto" },
  51: { events: PULLED, actor: "app" }, // PulledRemote
  52: { events: PULLED, actor: "auto" },
  53: { events: PULLED, actor: "manual" },
  54: { events: SEMI, actor: "app" },
  55: { events: PULLED, actor: "app" },
  56: { events: LOCKED, actor: "button" }, // PostponedLock
  57: { events: UNLOCKED, actor: "accessory" }, // HomeKit
  58: { events: SEMI, actor: "accessory" },
  59: { events: LOCKED, actor: "accessory" },
  60: { events: PULLED, actor: "accessory" },
  61: { events: UNLOCKED, actor: "pin" }, // UnlockByPin
  63: { events: PULLED, actor: "pin" },
  64: { events: SEMI, actor: "pin" },
  65: { events: LOCKED, actor: "pin" },
  66: { events: LOCKED, actor: "keypad" }, // keypad button without PIN
  67: { events: UNLOCKED, actor: "app" }, // force unlock
  68: { events: UNLOCKED, actor: "pin" },
  76: { events: PULLED, actor: "pin" },
  77: { events: UNLOCKED, actor: "fingerprint" },
  78: { events: UNLOCKED, actor: "fingerprint" },
  79: { events: SEMI, actor: "fingerprint" },
  80: { events: PULLED, actor: "fingerprint" },
  81: { events: PULLED, actor: "fingerprint" },
  87: { events: PULLED, actor: "auto" },
  88: { events: UNLOCKED, actor: "accessory" }, // Matter
  89: { events: SEMI, actor: "accessory" },
  90: { events: LOCKED, actor: "accessory" },
  91: { events: PULLED, actor: "accessory" },
  92: { events: PULLED, actor: "accessory" },
  93: { events: UNLOCKED, actor: "accessory" },
  226: { events: LOCKED, actor: "web" }, // access link
  227: { events: LOCKED, actor: "remote" }, // bridge API (this plugin or another integration)
  228: { events: UNLOCKED, actor: "web" },
  229: { events: UNLOCKED, actor: "remote" },
  230: { events: PULLED, actor: "web" },
  231: { events: PULLED, actor: "remote" },
  232: { events: SEMI, actor: "web" },
  233: { events: SEMI, actor: "remote" },
  234: { events: PULLED, actor: "web" },
  235: { events: PULLED, actor: "remote" },
};

export function activityMeaning(code: number): ActivityMeaning | null {
  return CODES[code] ?? null;
}

/** The cloud writes dates without a zone ("2020-11-20T13:59:26.212"); they are UTC. */
export function activityTime(date: string): number {
  const withZone = /[zZ]$|[+-]\d\d:?\d\d$/.test(date) ? date : `${date}Z`;
  return Date.parse(withZone);
}

export function activityActor(entry: Activity, type: ActorType): Actor {
  const name = entry.username ?? entry.userName ?? null;
  return {
    type,
    id: entry.userId === undefined || entry.userId === null ? null : String(entry.userId),
    name: name && name.trim() ? name.trim() : null,
  };
}
