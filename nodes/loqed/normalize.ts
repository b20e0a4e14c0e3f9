/**
 * LOQED payloads -> what the core state tracker needs (research/loqed-tedee.md 1.3.5, 3.6, 5).
 *
 * Lock states: night lock = locked, day lock ("latch") = unlocked, open = unlatched (the lock returns to day
 * lock by itself within seconds), MOTOR_STALL = jammed. The reached state is read from the event type, not
 * from `requested_state` (a real fixture pairs STATE_CHANGED_LATCH with requested_state NIGHT_LOCK).
 * Who acted: only a key slot number (`key_local_id`, 0-250; 255, "", null = no key) plus what the event type
 * says about the way (twist assist, touch to lock, outside module PIN, BLE, remote).
 */
import type { Actor, ActorType, LockState } from "../core/door-event";
import type { BridgeStatusBody, WebhookBody } from "./schemas";

export type Bolt = "open" | "day_lock" | "night_lock" | "unknown";

/** Below this battery percentage the battery counts as critical (LOQED sends no flag of its own). */
export const LOW_BATTERY_PERCENT = 20;
export const MAX_KEY_ID = 250;

const BOLT_BY_NAME: Record<string, Bolt> = {
  OPEN: "open",
  DAY_LOCK: "day_lock",
  LATCH: "day_lock",
  NIGHT_LOCK: "night_lock",
  UNKNOWN: "unknown",
};
const BOLT_BY_NUMBER: Record<number, Bolt> = { 0: "unknown", 1: "open", 2: "day_lock", 3: "night_lock" };

export function boltLockState(bolt: Bolt): LockState {
  switch (bolt) {
    case "open":
      return "unlatched";
    case "day_lock":
      return "unlocked";
    case "night_lock":
      return "locked";
    default:
      return "unknown";
  }
}

/** A bolt state given as name (any case) or number; unknown values are "unknown". */
export function parseBolt(value: unknown): Bolt {
  if (typeof value === "number") return BOLT_BY_NUMBER[value] ?? "unknown";
  if (typeof value === "string") {
    const name = value.trim().toUpperCase();
    if (/^\d+$/.test(name)) return BOLT_BY_NUMBER[Number(name)] ?? "unknown";
    return BOLT_BY_NAME[name] ?? "unknown";
  }
  return "unknown";
}

/** The key slot of a payload, or null for 255, "", null, absent, non-numeric and out of range. */
export function keySlot(value: unknown): number | null {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^\s*\d+\s*$/.test(value)) n = Number(value);
  else return null;
  return Number.isInteger(n) && n >= 0 && n <= MAX_KEY_ID ? n : null;
}

/**
 * The user's slot -> name table: lines or commas of `slot=name` (also `slot: name`), or an object. Invalid
 * entries are skipped; the caller may report them.
 */
export function parseKeyNames(value: unknown): { names: Map<number, string>; invalid: string[] } {
  const names = new Map<number, string>();
  const invalid: string[] = [];
  const add = (slot: unknown, name: unknown): void => {
    const id = keySlot(typeof slot === "string" ? slot.trim() : slot);
    const label = typeof name === "string" ? name.trim() : "";
    if (id === null || label === "") invalid.push(`${String(slot)}=${String(name)}`);
    else names.set(id, label.slice(0, 100));
  };
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [slot, name] of Object.entries(value as Record<string, unknown>)) add(slot, name);
  } else if (typeof value === "string") {
    for (const part of value.split(/[\n,;]+/)) {
      if (part.trim() === "") continue;
      const match = /^\s*([^=:]+?)\s*[=:]\s*(.*)$/.exec(part);
      if (match) add(match[1], match[2]);
      else invalid.push(part.trim());
    }
  }
  return { names, invalid };
}

/** Actor type from the event type (how the lock was moved), null when the event type does not tell. */
export function actorTypeOf(eventType: string | undefined): ActorType | null {
  if (!eventType) return null;
  const t = eventType.toUpperCase();
  if (t.includes("TWIST_ASSIST")) return "manual";
  if (t.includes("TOUCH_TO_LOCK")) return "button";
  if (t.includes("OUTSIDE_MODULE_PIN")) return "keypad";
  if (t.includes("OUTSIDE_MODULE_BUTTON")) return "button";
  if (t.includes("_BLE_") || t.endsWith("_BLE")) return "app";
  if (t.includes("INSTANTOPEN")) return "mobile";
  if (t.endsWith("_REMOTE") || t.includes("_REMOTE_")) return "remote";
  return null;
}

/** Target of a GO_TO_STATE_* event: the go_to_state field when given, else the event type's suffix. */
export function gotoTarget(body: WebhookBody): Bolt {
  const fromField = parseBolt(body.go_to_state ?? body.go_to_state_numeric ?? undefined);
  if (fromField !== "unknown") return fromField;
  const t = (body.event_type ?? "").toUpperCase();
  if (t.endsWith("_OPEN")) return "open";
  if (t.endsWith("_LATCH")) return "day_lock";
  if (t.endsWith("_NIGHT_LOCK") || t.endsWith("_LOCK")) return "night_lock";
  if (t.includes("OUTSIDE_MODULE")) return "open";
  return "unknown";
}

/** Reached state of a STATE_CHANGED_* event from its event type; the requested_state field as fallback. */
export function reachedBolt(body: WebhookBody): Bolt {
  const t = (body.event_type ?? "").toUpperCase().replace(/_REMOTE$/, "");
  const suffix = t.slice("STATE_CHANGED_".length);
  const fromType = BOLT_BY_NAME[suffix];
  if (fromType) return fromType;
  return parseBolt(body.requested_state ?? body.requested_state_numeric ?? undefined);
}

export type Classified =
  | { kind: "goto"; eventType: string; target: Bolt; key: number | null; actorType: ActorType | null }
  | { kind: "reached"; eventType: string; bolt: Bolt; key: number | null; actorType: ActorType | null }
  | { kind: "jammed"; eventType: string; key: number | null }
  | { kind: "status"; battery?: number; wifi?: number; ble?: number; online?: boolean }
  | { kind: "unknown"; eventType: string | null; key: number | null };

/** The four families in the order go-loqed classifies them; anything else is "unknown" (kept in raw). */
export function classify(body: WebhookBody): Classified {
  const eventType = body.event_type?.trim();
  const key = keySlot(body.key_local_id);
  if (eventType) {
    const upper = eventType.toUpperCase();
    if (upper.startsWith("GO_TO_STATE_")) {
      return { kind: "goto", eventType, target: gotoTarget(body), key, actorType: actorTypeOf(upper) };
    }
    if (upper === "MOTOR_STALL") return { kind: "jammed", eventType, key };
    if (upper.startsWith("STATE_CHANGED_")) {
      return { kind: "reached", eventType, bolt: reachedBolt(body), key, actorType: actorTypeOf(upper) };
    }
    return { kind: "unknown", eventType, key };
  }
  const status: Extract<Classified, { kind: "status" }> = { kind: "status" };
  if (body.battery_percentage !== undefined) status.battery = body.battery_percentage;
  if (body.wifi_strength !== undefined) status.wifi = body.wifi_strength;
  if (body.ble_strength !== undefined) {
    status.ble = body.ble_strength;
    // ble_strength -1 means the lock is not connected to the bridge.
    status.online = body.ble_strength >= 0;
  }
  if (body.online !== undefined) status.online = body.online;
  if (Object.keys(status).length === 1) return { kind: "unknown", eventType: null, key };
  return status;
}

/** The transitional state a GO_TO_STATE_* implies, or null when none (a command for the current state moves nothing). */
export function gotoLockState(target: Bolt, current: LockState | null): LockState | null {
  switch (target) {
    case "open":
      return current === "unlatched" ? null : "unlatching";
    case "night_lock":
      return current === "locked" ? null : "locking";
    case "day_lock":
      // From open the lock returns to day lock by itself; "unlocking" only describes leaving night lock.
      return current === "unlocked" || current === "unlatched" || current === "unlatching" ? null : "unlocking";
    default:
      return null;
  }
}

export function batteryOf(level: number): { level: number; critical: boolean } {
  const rounded = Math.round(level);
  return { level: rounded, critical: rounded < LOW_BATTERY_PERCENT };
}

/** The account e-mail of a cloud webhook, under either spelling (documented `key_account_e-mail`, real `key_account_email`). */
export function accountEmail(body: WebhookBody): string | null {
  const value = body.key_account_email ?? body["key_account_e-mail"] ?? null;
  return typeof value === "string" && value.trim() !== "" ? value.trim() : null;
}

/**
 * Who acted: key slot, name (cloud `key_name_user`, else the user's slot table, else the cloud account name or
 * e-mail), and the way from the event type. Without a key the cloud's account fields describe the lock's
 * owner rather than who acted (the cloud fills them for knob turns too), so they are not used.
 */
export function actorOf(
  type: ActorType | null,
  key: number | null,
  names: ReadonlyMap<number, string>,
  body?: WebhookBody,
): Actor | null {
  if (type === null && key === null) return null;
  if (key === null) return { type: type ?? "unknown", id: null, name: null };
  const cloud = (value: unknown): string | undefined =>
    typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
  const name =
    cloud(body?.key_name_user) ?? names.get(key) ?? cloud(body?.key_account_name) ?? (body ? accountEmail(body) : null) ?? null;
  return { type: type ?? "user", id: String(key), name };
}

/** 12 lower-case hex digits, or null when the value is not a MAC. */
export function normaliseMac(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const hex = value.replace(/[:\-.\s]/g, "").toLowerCase();
  return /^[0-9a-f]{12}$/.test(hex) ? hex : null;
}

/** What `GET /status` says, in tracker terms. */
export function statusParts(body: BridgeStatusBody): {
  lock: LockState | undefined;
  battery: { level: number; critical: boolean } | undefined;
  online: boolean | undefined;
  mac: string | null;
} {
  const boltValue = body.bolt_state ?? body.bolt_state_numeric;
  const online = body.lock_online ?? (body.ble_strength === undefined ? undefined : body.ble_strength >= 0);
  return {
    lock: boltValue === undefined ? undefined : boltLockState(parseBolt(boltValue)),
    battery: body.battery_percentage === undefined ? undefined : batteryOf(body.battery_percentage),
    online,
    mac: normaliseMac(body.bridge_mac_wifi),
  };
}
