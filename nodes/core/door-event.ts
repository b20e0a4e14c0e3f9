/**
 * The normalized door event: what every listener emits as `msg.payload`, whatever the vendor. Its value lists,
 * types and the helpers the listeners use on every event. The zod schema (tests, the shipped JSON Schema) is in
 * ./door-event-schema, kept apart so that loading the node sets does not load zod (see core/lazy-zod).
 */
import type { DoorEvent } from "./door-event-schema";

export const VENDORS = ["nuki", "loqed", "tedee", "unifi-access"] as const;
export const CHANNELS = ["bridge", "web", "mqtt", "websocket", "webhook", "cloud", "poll"] as const;
export const DEVICE_TYPES = ["lock", "opener", "door", "bridge", "keypad"] as const;
export const LOCK_STATES = [
  "locked",
  "unlocked",
  "unlatched",
  "locking",
  "unlocking",
  "unlatching",
  "jammed",
  "uncalibrated",
  "unknown",
] as const;
export const DOOR_STATES = ["open", "closed", "unknown"] as const;
export const ACTOR_TYPES = [
  "user",
  "app",
  "web",
  "remote",
  "keypad",
  "pin",
  "fingerprint",
  "nfc",
  "fob",
  "face",
  "mobile",
  "button",
  "manual",
  "auto",
  "schedule",
  "accessory",
  "system",
  "unknown",
] as const;

/** The event names every vendor maps to wherever its data allows. Others are `{vendor}.{name}`. */
export const CORE_EVENTS = [
  "lock.locked",
  "lock.unlocked",
  "lock.unlatched",
  "lock.locking",
  "lock.unlocking",
  "lock.unlatching",
  "lock.jammed",
  "door.opened",
  "door.closed",
  "doorbell.rang",
  "access.granted",
  "access.denied",
  "battery.low",
  "battery.ok",
  "device.online",
  "device.offline",
  "device.state",
] as const;

// The types follow the zod schema in ./door-event-schema (a type-only import: no zod at run time).
export type {
  Actor,
  ActorType,
  Battery,
  Channel,
  Device,
  DoorEvent,
  DoorState,
  LockState,
  Vendor,
} from "./door-event-schema";

export type DeviceType = (typeof DEVICE_TYPES)[number];

/** The MQTT-like topic of a listener message: `{vendor}/{device.id}/{event}`. */
export function eventTopic(event: Pick<DoorEvent, "vendor" | "device" | "event">): string {
  return `${event.vendor}/${event.device.id}/${event.event}`;
}

let lastIsoMs = NaN;
let lastIso = "";

/** ISO 8601 UTC with milliseconds and `Z`, the only time format events carry. */
export function isoTime(date: Date | number = Date.now()): string {
  if (typeof date !== "number") return new Date(date).toISOString();
  // the events of one report (and reports of one millisecond) share their receive time: format it once
  if (date !== lastIsoMs) {
    lastIso = new Date(date).toISOString();
    lastIsoMs = date;
  }
  return lastIso;
}

/** Parses a vendor time (any ISO form with offset) into the event's UTC form; null when unusable. */
export function vendorTime(value: unknown): string | null {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const ms = typeof value === "number" ? value : Date.parse(value);
  if (!Number.isFinite(ms)) return null;
  return new Date(ms).toISOString();
}
