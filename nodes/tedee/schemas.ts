/**
 * zod schemas of what the Tedee Bridge and the Tedee cloud send (research/loqed-tedee.md 2.1.2, 2.2, 2.3, 6.5).
 * Everything is untrusted: numbers are checked, unknown enum values stay numbers (the normalizer maps them to
 * `unknown`), extra fields are allowed and kept in `raw`. The bridge sends 0/1 integers for flags, the cloud
 * booleans; both are accepted everywhere.
 */
import type { z } from "zod";
import { lazy } from "../core/lazy";
import { zod } from "../core/lazy-zod";

/** The schemas, built on first use (see core/lazy-zod). */
export const tedeeSchemas = lazy(() => {
  const z = zod();

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

  // ---- Bridge API ----------------------------------------------------------------------------------------

  const lockDetailsSchema = z.looseObject({
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
  const lockListSchema = z.array(lockDetailsSchema).max(100);

  const bridgeDetailsSchema = z.looseObject({
    name: text(200).optional(),
    serialNumber: text(100).optional(),
    isConnected: flag.optional(),
    version: text(50).optional(),
    currentTime: text(64).optional(),
  });

  /** `headers` is a list of single-key objects: `[{"X-Name": "value"}]`. */
  const callbackHeadersSchema = z.array(z.record(z.string(), z.string())).max(20);
  const callbackEntrySchema = z.looseObject({
    id: int,
    url: text(2048),
    method: text(20).optional(),
    headers: callbackHeadersSchema.optional(),
  });
  const callbackListSchema = z.array(callbackEntrySchema).max(100);

  /** POST /callback answers `{"id": n}` since 2024-01-25; older firmware answers 204 with no body. */
  const callbackAddedSchema = z.union([z.looseObject({ id: int }), z.string().max(0), z.undefined(), z.null()]);

  // ---- Bridge callbacks (POST JSON envelope) -------------------------------------------------------------

  const callbackEnvelopeSchema = z.looseObject({
    event: text(100).regex(/^[a-z0-9-]+$/),
    timestamp: text(64).optional(),
    data: z.looseObject({}).optional(),
  });

  const deviceData = { deviceId, deviceType: int.optional(), serialNumber: text(100).optional() };

  const eventDataSchemas = {
    "backend-connection-changed": z.looseObject({ isConnected: flag }),
    "device-connection-changed": z.looseObject({ ...deviceData, isConnected: flag }),
    "device-settings-changed": z.looseObject(deviceData),
    "lock-status-changed": z.looseObject({ ...deviceData, state: int, jammed: flag.optional(), doorState: int.optional() }),
    "device-battery-level-changed": z.looseObject({ ...deviceData, batteryLevel: int }),
    "device-battery-start-charging": z.looseObject(deviceData),
    "device-battery-stop-charging": z.looseObject(deviceData),
    "device-battery-fully-charged": z.looseObject(deviceData),
  } as const;
  /** Events without a device id of their own: unknown event names still need one to be reported. */
  const genericDeviceDataSchema = z.looseObject({ deviceId: deviceId.optional() });

  // ---- Cloud API -----------------------------------------------------------------------------------------

  const cloudEnvelopeSchema = z.looseObject({
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

  /** `deviceState` since API v1.34/1.35, `lockProperties` before. */
  const cloudLockSchema = z.looseObject({
    id: deviceId,
    name: text(200).nullable().optional(),
    type: int.optional(),
    isConnected: flag.optional(),
    deviceState: cloudDeviceStateSchema.nullable().optional(),
    lockProperties: cloudDeviceStateSchema.nullable().optional(),
  });
  const cloudLockListSchema = z.array(cloudLockSchema).max(500);

  const operationStartedSchema = z.looseObject({
    operationId: z.union([z.string().max(64), z.number()]).transform(String),
    lastStateChangedDate: text(64).nullable().optional(),
  });

  const operationStatusSchema = z.looseObject({
    operationId: z.union([z.string().max(64), z.number()]).transform(String).optional(),
    status: text(32),
    /** 0 = success, anything else = the device reported an error. */
    result: int.nullable().optional(),
    type: int.optional(),
    deviceId: deviceId.optional(),
  });

  const activitySchema = z.looseObject({
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
  const activityListSchema = z.array(activitySchema).max(500);

  return {
    lockDetailsSchema,
    lockListSchema,
    bridgeDetailsSchema,
    callbackHeadersSchema,
    callbackEntrySchema,
    callbackListSchema,
    callbackAddedSchema,
    callbackEnvelopeSchema,
    eventDataSchemas,
    genericDeviceDataSchema,
    cloudEnvelopeSchema,
    cloudDeviceStateSchema,
    cloudLockSchema,
    cloudLockListSchema,
    operationStartedSchema,
    operationStatusSchema,
    activitySchema,
    activityListSchema,
  };
});
type Schemas = ReturnType<typeof tedeeSchemas>;

export type LockDetails = z.infer<Schemas["lockDetailsSchema"]>;
export type BridgeDetails = z.infer<Schemas["bridgeDetailsSchema"]>;
export type CallbackEntry = z.infer<Schemas["callbackEntrySchema"]>;
export type CallbackEnvelope = z.infer<Schemas["callbackEnvelopeSchema"]>;
export type BridgeEventName = keyof Schemas["eventDataSchemas"];
export type CloudDeviceState = z.infer<Schemas["cloudDeviceStateSchema"]>;
export type CloudLock = z.infer<Schemas["cloudLockSchema"]>;
export type OperationStatus = z.infer<Schemas["operationStatusSchema"]>;
export type Activity = z.infer<Schemas["activitySchema"]>;

export function isBridgeEventName(name: string): name is BridgeEventName {
  return Object.prototype.hasOwnProperty.call(tedeeSchemas().eventDataSchemas, name);
}
