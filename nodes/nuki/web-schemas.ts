/**
 * zod schemas of what the Nuki Web API and its webhooks send (research/nuki.md 2.2-2.6, 6.3). Untrusted input:
 * numbers are checked, unknown enum values stay numbers (the normalizer maps them to `unknown`), extra fields
 * are allowed and kept in `raw`.
 */
import { z } from "zod";

const int = z.union([z.number().int(), z.string().regex(/^-?\d+$/).transform(Number)]);
const bool = z.union([z.boolean(), z.literal(0).transform(() => false), z.literal(1).transform(() => true)]);
/** smartlockId: device type digit + 8 hex digits read as one number (at most 0xF_FFFF_FFFF). */
const smartlockId = int.pipe(z.number().min(0).max(0xfffffffff));
const text = (max: number) => z.string().max(max);

/** `Smartlock.state` and `DEVICE_STATUS.state`. */
export const webStateSchema = z.looseObject({
  mode: int.optional(),
  state: int.optional(),
  trigger: int.optional(),
  lastAction: int.optional(),
  batteryCritical: bool.optional(),
  batteryCharging: bool.nullable().optional(),
  batteryCharge: int.pipe(z.number().min(0).max(100)).nullable().optional(),
  keypadBatteryCritical: bool.nullable().optional(),
  doorsensorBatteryCritical: bool.nullable().optional(),
  doorState: int.optional(),
  ringToOpenTimer: int.optional(),
  ringToOpenEnd: text(64).nullable().optional(),
  nightMode: bool.optional(),
  operationId: text(100).nullable().optional(),
});
export type WebState = z.infer<typeof webStateSchema>;

export const smartlockSchema = z.looseObject({
  smartlockId,
  type: int.optional(),
  name: text(200).optional(),
  state: webStateSchema.optional(),
  serverState: int.optional(),
});
export type Smartlock = z.infer<typeof smartlockSchema>;
export const smartlockListSchema = z.array(smartlockSchema);

export const smartlockLogSchema = z.looseObject({
  id: text(100).optional(),
  smartlockId,
  deviceType: int.optional(),
  accountUserId: int.nullable().optional(),
  /** The SmartlockAuth.id (a string), not the device-side numeric authId. */
  authId: z.union([text(100), z.number().transform(String)]).nullable().optional(),
  name: text(200).nullable().optional(),
  action: int,
  trigger: int.optional(),
  state: int.optional(),
  autoUnlock: bool.optional(),
  date: text(64).optional(),
  source: int.nullable().optional(),
  ajarTimeout: int.nullable().optional(),
  openerLog: z
    .looseObject({
      activeCm: bool.optional(),
      activeRto: bool.optional(),
      source: int.optional(),
    })
    .nullable()
    .optional(),
});
export type SmartlockLog = z.infer<typeof smartlockLogSchema>;

export const smartlockAuthSchema = z.looseObject({
  id: z.union([text(100), z.number().transform(String)]),
  smartlockId,
  authId: int.optional(),
  type: int.optional(),
  name: text(200).optional(),
  enabled: bool.optional(),
});
export type SmartlockAuth = z.infer<typeof smartlockAuthSchema>;
export const smartlockAuthListSchema = z.array(smartlockAuthSchema);

export const deviceStatusSchema = z.looseObject({
  feature: z.literal("DEVICE_STATUS"),
  smartlockId,
  state: webStateSchema,
  serverState: int.optional(),
  adminPinState: int.optional(),
});
export const deviceLogsSchema = z.looseObject({
  feature: z.literal("DEVICE_LOGS"),
  smartlockLog: smartlockLogSchema,
});
export const deviceAuthsSchema = z.looseObject({
  feature: z.literal("DEVICE_AUTHS"),
  deleted: bool.optional(),
  smartlockAuth: smartlockAuthSchema,
});
export const deviceMasterdataSchema = z.looseObject({
  feature: z.literal("DEVICE_MASTERDATA"),
  smartlockId,
  type: int.optional(),
  name: text(200).optional(),
  deleted: bool.optional(),
});
/** Every webhook body names its feature; anything else is not a Nuki webhook. */
export const webhookEnvelopeSchema = z.looseObject({ feature: text(64) });

export const decentralWebhookSchema = z.looseObject({
  id: int,
  webhookUrl: text(2048),
  webhookFeatures: z.array(text(64)).optional(),
  secret: text(512).optional(),
});
export type DecentralWebhook = z.infer<typeof decentralWebhookSchema>;
export const decentralWebhookListSchema = z.array(decentralWebhookSchema);
export const registeredWebhookSchema = decentralWebhookSchema.extend({ secret: text(512).min(1) });
