/**
 * zod schemas of what the Nuki Bridge sends (research/nuki.md 1.4, 1.5, 6.2). Everything the bridge sends is
 * untrusted: numbers are checked, unknown enum values are kept as numbers (the normalizer maps them to
 * `unknown`), unknown extra fields are allowed and kept in `raw`.
 */
import type { z } from "zod";
import { lazy } from "../core/lazy";
import { zod } from "../core/lazy-zod";

/** Longest state names and times accepted (also read by the zod-free fast path, nuki/callback-body.ts). */
export const NAME_MAX = 100;
export const TIME_MAX = 64;

/** The schemas, built on first use (see core/lazy-zod). */
export const bridgeSchemas = lazy(() => {
  const z = zod();

  /** An integer, also when a firmware sends it as a string. */
  const int = z.union([z.number().int(), z.string().regex(/^-?\d+$/).transform(Number)]);
  const bool = z.union([z.boolean(), z.literal(0).transform(() => false), z.literal(1).transform(() => true)]);

  /** The device state fields shared by callbacks, `/list` lastKnownState and `/lockState`. */
  const deviceStateShape = {
    mode: int.optional(),
    state: int,
    stateName: z.string().max(NAME_MAX).optional(),
    batteryCritical: bool.optional(),
    batteryCharging: bool.optional(),
    batteryChargeState: int.optional(),
    keypadBatteryCritical: bool.optional(),
    doorsensorState: int.optional(),
    doorsensorStateName: z.string().max(NAME_MAX).optional(),
    ringactionTimestamp: z.string().max(TIME_MAX).nullable().optional(),
    ringactionState: bool.optional(),
    timestamp: z.string().max(TIME_MAX).optional(),
  };

  const deviceStateSchema = z.looseObject(deviceStateShape);

  /** A callback POST body: the full state of one device plus its id and type. */
  const callbackBodySchema = z.looseObject({
    nukiId: int.pipe(z.number().min(0).max(0xffffffff)),
    deviceType: int,
    ...deviceStateShape,
  });

  const listEntrySchema = z.looseObject({
    nukiId: int.pipe(z.number().min(0).max(0xffffffff)),
    deviceType: int,
    name: z.string().max(200).optional(),
    firmwareVersion: z.string().max(50).optional(),
    lastKnownState: deviceStateSchema.optional(),
  });
  const listSchema = z.array(listEntrySchema);

  const infoSchema = z.looseObject({
    bridgeType: int.optional(),
    ids: z.looseObject({ hardwareId: int.optional(), serverId: int.optional() }).optional(),
    versions: z.looseObject({ firmwareVersion: z.string().optional(), wifiFirmwareVersion: z.string().optional() }).optional(),
    appVersion: z.string().optional(),
    uptime: int.optional(),
    currentTime: z.string().optional(),
    serverConnected: bool.optional(),
  });

  const callbackListSchema = z.looseObject({
    callbacks: z.array(z.looseObject({ id: int, url: z.string() })),
  });

  /** Answer of /lockAction, /callback/add and /callback/remove. */
  const successSchema = z.looseObject({
    success: bool,
    message: z.string().optional(),
    batteryCritical: bool.optional(),
  });

  return {
    deviceStateShape,
    deviceStateSchema,
    callbackBodySchema,
    listEntrySchema,
    listSchema,
    infoSchema,
    callbackListSchema,
    successSchema,
  };
});
type Schemas = ReturnType<typeof bridgeSchemas>;

export type BridgeDeviceState = z.infer<Schemas["deviceStateSchema"]>;
export type CallbackBody = z.infer<Schemas["callbackBodySchema"]>;
export type ListEntry = z.infer<Schemas["listEntrySchema"]>;
export type BridgeInfo = z.infer<Schemas["infoSchema"]>;
export type CallbackEntry = z.infer<Schemas["callbackListSchema"]>["callbacks"][number];
