/**
 * The zod schema of the normalized door event, field by field as in ../shared/CONTRACT.md, and the JSON Schema
 * generated from it (dist/schema/door-event.schema.json, written by scripts/build.mjs). Tests validate every
 * emitted event against it; the node sets never load this module at run time, only its types (through
 * ./door-event), so that zod stays unloaded until a vendor schema needs it (see core/lazy-zod).
 */
import { z } from "zod";
import { ACTOR_TYPES, CHANNELS, DEVICE_TYPES, DOOR_STATES, LOCK_STATES, VENDORS } from "./door-event";

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
