/**
 * The normalized door event: what every listener emits as `msg.payload`, whatever the vendor.
 * The schema follows ../shared/CONTRACT.md field by field; the JSON Schema shipped in the package
 * (dist/schema/door-event.schema.json) is generated from it by scripts/build.mjs.
 */
import { z } from "zod";

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

export const vendorSchema = z.enum(VENDORS);
export const channelSchema = z.enum(CHANNELS);
export const lockStateSchema = z.enum(LOCK_STATES);
export const doorStateSchema = z.enum(DOOR_STATES);
export const actorTypeSchema = z.enum(ACTOR_TYPES);

export const deviceSchema = z.object({
  id: z.string().min(1),
  name: z.string().nullable(),
  type: z.enum(DEVICE_TYPES),
});

export const batterySchema = z.object({
  critical: z.boolean().nullable(),
  level: z.number().min(0).max(100).nullable(),
  charging: z.boolean().nullable(),
});

export const actorSchema = z.object({
  type: actorTypeSchema,
  id: z.string().nullable(),
  name: z.string().nullable(),
});

const isoUtc = z.iso.datetime({ offset: false });

export const doorEventSchema = z.object({
  event: z.string().regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/),
  vendor: vendorSchema,
  channel: channelSchema,
  device: deviceSchema,
  lock: lockStateSchema.nullable(),
  door: doorStateSchema.nullable(),
  battery: batterySchema.nullable(),
  actor: actorSchema.nullable(),
  previous: z
    .object({ lock: lockStateSchema.nullable(), door: doorStateSchema.nullable() })
    .nullable(),
  at: isoUtc,
  receivedAt: isoUtc,
  id: z.string().min(1),
  raw: z.unknown(),
  /** Present and true on a follow-up that adds the actor to an event already sent with the same id. */
  update: z.literal(true).optional(),
  /** Vendor specifics without a field of their own (e.g. UniFi Access credential method and direction). */
  detail: z.record(z.string(), z.unknown()).optional(),
});

export type Vendor = z.infer<typeof vendorSchema>;
export type Channel = z.infer<typeof channelSchema>;
export type DeviceType = (typeof DEVICE_TYPES)[number];
export type LockState = z.infer<typeof lockStateSchema>;
export type DoorState = z.infer<typeof doorStateSchema>;
export type ActorType = z.infer<typeof actorTypeSchema>;
export type Device = z.infer<typeof deviceSchema>;
export type Battery = z.infer<typeof batterySchema>;
export type Actor = z.infer<typeof actorSchema>;
export type DoorEvent = z.infer<typeof doorEventSchema>;

/** The JSON Schema (draft 2020-12) of the event, as shipped in the package. */
export function doorEventJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(doorEventSchema, { target: "draft-2020-12", unrepresentable: "any" });
  return {
    ...schema,
    $id: "https://github.com/smartlocks/node-red-smartlocks/schema/door-event.schema.json",
    title: "Normalized door event",
    description: "msg.payload of every @smartlocks/node-red-smartlocks listener node.",
  };
}

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
