/**
 * zod schemas of what the Tedee Bridge and the Tedee cloud send (research/loqed-tedee.md 2.1.2, 2.2, 2.3, 6.5).
 * Everything is untrusted: numbers are checked, unknown enum values stay numbers (the normalizer maps them to
 * `unknown`), extra fields are allowed and kept in `raw`. The bridge sends 0/1 integers for flags, the cloud
 * booleans; both are accepted everywhere.
 */
import { z } from "zod";

/** An integer, also when sent as a string (GET-style callbacks carry everything as text). */
const int = z.union([z.number().int(), z.string().regex(/^-?\d{1,15}$/).transform(Number)]);
const flag = z.union([
  z.boolean(),
  z.literal(0).transform(() => false),
  z.literal(1).transform(() => true),
  z.literal("0").transform(() => false),
  z.literal("1").transform(() => true),
  z.literal("true").transform(() => true),
  z.literal("false").transform(() => false),
]);
const deviceId = int.pipe(z.number().int().min(0).max(2 ** 53 - 1));
const text = (max: number) => z.string().max(max);

// ---- Bridge API ------------------------------------------------------------------------------------------

export const lockDetailsSchema = z.looseObject({
  id: deviceId,
  name: text(200).optional(),
  type: int.optional(),
  serialNumber: text(100).optional(),
  isConnected: flag.optional(),
  rssi: int.optional(),
  version: text(50).optional(),
  state: int.optional(),
  jammed: flag.optional(),
  batteryLevel: int.optional(),
  isCharging: flag.optional(),
  /** Not in the spec, sent by some firmware (aiotedee fixtures): cloud enum 0-4. */
  doorState: int.optional(),
  deviceSettings: z.looseObject({}).optional(),
});
export const lockListSchema = z.array(lockDetailsSchema).max(100);
export type LockDetails = z.infer<typeof lockDetailsSchema>;

export const bridgeDetailsSchema = z.looseObject({
  name: text(200).optional(),
  serialNumber: text(100).optional(),
  isConnected: flag.optional(),
  version: text(50).optional(),
  currentTime: text(64).optional(),
});
export type BridgeDetails = z.infer<typeof bridgeDetailsSchema>;

/** `headers` is a list of single-key objects: `[{"X-Name": "value"}]`. */
export const callbackHeadersSchema = z.array(z.record(z.string(), z.string())).max(20);
export const callbackEntrySchema = z.looseObject({
  id: int,
  url: text(2048),
  method: text(20).optional(),
  headers: callbackHeadersSchema.optional(),
});
export const callbackListSchema = z.array(callbackEntrySchema).max(100);
export type CallbackEntry = z.infer<typeof callbackEntrySchema>;

/** POST /callback answers `{"id": n}` since 2024-01-25; older firmware answers 204 with no body. */
export const callbackAddedSchema = z.union([z.looseObject({ id: int }), z.string().max(0), z.undefined(), z.null()]);

// ---- Bridge callbacks (POST JSON envelope) ---------------------------------------------------------------

export const callbackEnvelopeSchema = z.looseObject({
  event: text(100).regex(/^[a-z0-9-]+$/),
  timestamp: text(64).optional(),
  data: z.looseObject({}).optional(),
});
export type CallbackEnvelope = z.infer<typeof callbackEnvelopeSchema>;

const deviceData = { deviceId, deviceType: int.optional(), serialNumber: text(100).optional() };

export const eventDataSchemas = {
  "backend-connection-changed": z.looseObject({ isConnected: flag }),
  "device-connection-changed": z.looseObject({ ...deviceData, isConnected: flag }),
  "device-settings-changed": z.looseObject(deviceData),
  "lock-status-changed": z.looseObject({ ...deviceData, state: int, jammed: flag.optional(), doorState: int.optional() }),
  "device-battery-level-changed": z.looseObject({ ...deviceData, batteryLevel: int }),
  "device-battery-start-charging": z.looseObject(deviceData),
  "device-battery-stop-charging": z.looseObject(deviceData),
  "device-battery-fully-charged": z.looseObject(deviceData),
} as const;
export type BridgeEventName = keyof typeof eventDataSchemas;
/** Events without a device id of their own: unknown event names still need one to be reported. */
export const genericDeviceDataSchema = z.looseObject({ deviceId: deviceId.optional() });

export function isBridgeEventName(name: string): name is BridgeEventName {
  return Object.prototype.hasOwnProperty.call(eventDataSchemas, name);
}

// ---- Cloud API -------------------------------------------------------------------------------------------

export const cloudEnvelopeSchema = z.looseObject({
  result: z.unknown(),
  success: z.boolean().optional(),
  errorMessages: z.array(z.unknown()).optional(),
  statusCode: int.optional(),
});

const cloudDeviceStateSchema = z.looseObject({
  state: int.optional(),
  doorState: int.nullable().optional(),
  isCharging: flag.optional(),
  batteryLevel: int.nullable().optional(),
  stateChangeResult: int.nullable().optional(),
  lastStateChangedDate: text(64).nullable().optional(),
});
export type CloudDeviceState = z.infer<typeof cloudDeviceStateSchema>;

/** `deviceState` since API v1.34/1.35, `lockProperties` before. */
export const cloudLockSchema = z.looseObject({
  id: deviceId,
  name: text(200).nullable().optional(),
  type: int.optional(),
  isConnected: flag.optional(),
  deviceState: cloudDeviceStateSchema.nullable().optional(),
  lockProperties: cloudDeviceStateSchema.nullable().optional(),
});
export const cloudLockListSchema = z.array(cloudLockSchema).max(500);
export type CloudLock = z.infer<typeof cloudLockSchema>;

export const operationStartedSchema = z.looseObject({
  operationId: z.union([z.string().max(64), z.number()]).transform(String),
  lastStateChangedDate: text(64).nullable().optional(),
});

export const operationStatusSchema = z.looseObject({
  operationId: z.union([z.string().max(64), z.number()]).transform(String).optional(),
  status: text(32),
  /** 0 = success, anything else = the device reported an error. */
  result: int.nullable().optional(),
  type: int.optional(),
  deviceId: deviceId.optional(),
});
export type OperationStatus = z.infer<typeof operationStatusSchema>;

export const activitySchema = z.looseObject({
  id: int,
  deviceId,
  userId: int.nullable().optional(),
  /** The sample says `username`, the field table `userName`. */
  username: text(200).nullable().optional(),
  userName: text(200).nullable().optional(),
  event: int,
  source: int.nullable().optional(),
  date: text(64),
});
export const activityListSchema = z.array(activitySchema).max(500);
export type Activity = z.infer<typeof activitySchema>;
