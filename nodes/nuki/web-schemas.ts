/**
 * zod schemas of what the Nuki Web API and its webhooks send (research/nuki.md 2.2-2.6, 6.3). Untrusted input:
 * numbers are checked, unknown enum values stay numbers (the normalizer maps them to `unknown`), extra fields
 * are allowed and kept in `raw`.
 */
import type { z } from "zod";
import { lazy } from "../core/lazy";
import { zod } from "../core/lazy-zod";

/** The schemas, built on first use (see core/lazy-zod). */
export const webSchemas = lazy(() => {
  const z = zod();

  const int = z.union([z.number().int(), z.string().regex(/^-?\d+$/).transform(Number)]);
  const bool = z.union([z.boolean(), z.literal(0).transform(() => false), z.literal(1).transform(() => true)]);
  /** smartlockId: device type digit + 8 hex digits read as one number (at most 0xF_FFFF_FFFF). */
  const smartlockId = int.pipe(z.number().min(0).max(0xfffffffff));
  const text = (max: number) => z.string().max(max);

  /** `Smartlock.state` and `DEVICE_STATUS.state`. */
  const webStateSchema = z.looseObject({
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

  const smartlockSchema = z.looseObject({
    smartlockId,
    type: int.optional(),
    name: text(200).optional(),
    state: webStateSchema.optional(),
    serverState: int.optional(),
  });
  const smartlockListSchema = z.array(smartlockSchema);

  const smartlockLogSchema = z.looseObject({
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

  const smartlockAuthSchema = z.looseObject({
    id: z.union([text(100), z.number().transform(String)]),
    smartlockId,
    authId: int.optional(),
    type: int.optional(),
    name: text(200).optional(),
    enabled: bool.optional(),
  });
  const smartlockAuthListSchema = z.array(smartlockAuthSchema);

  const deviceStatusSchema = z.looseObject({
    feature: z.literal("DEVICE_STATUS"),
    smartlockId,
    state: webStateSchema,
    serverState: int.optional(),
    adminPinState: int.optional(),
  });
  const deviceLogsSchema = z.looseObject({
    feature: z.literal("DEVICE_LOGS"),
    smartlockLog: smartlockLogSchema,
  });
  const deviceAuthsSchema = z.looseObject({
    feature: z.literal("DEVICE_AUTHS"),
    deleted: bool.optional(),
    smartlockAuth: smartlockAuthSchema,
  });
  const deviceMasterdataSchema = z.looseObject({
    feature: z.literal("DEVICE_MASTERDATA"),
    smartlockId,
    type: int.optional(),
    name: text(200).optional(),
    deleted: bool.optional(),
  });
  /** Every webhook body names its feature; anything else is not a Nuki webhook. */
  const webhookEnvelopeSchema = z.looseObject({ feature: text(64) });

  const decentralWebhookSchema = z.looseObject({
    id: int,
    webhookUrl: text(2048),
    webhookFeatures: z.array(text(64)).optional(),
    secret: text(512).optional(),
  });
  const decentralWebhookListSchema = z.array(decentralWebhookSchema);
  const registeredWebhookSchema = decentralWebhookSchema.extend({ secret: text(512).min(1) });

  return {
    webStateSchema,
    smartlockSchema,
    smartlockListSchema,
    smartlockLogSchema,
    smartlockAuthSchema,
    smartlockAuthListSchema,
    deviceStatusSchema,
    deviceLogsSchema,
    deviceAuthsSchema,
    deviceMasterdataSchema,
    webhookEnvelopeSchema,
    decentralWebhookSchema,
    decentralWebhookListSchema,
    registeredWebhookSchema,
  };
});
type Schemas = ReturnType<typeof webSchemas>;

export type WebState = z.infer<Schemas["webStateSchema"]>;
export type Smartlock = z.infer<Schemas["smartlockSchema"]>;
export type SmartlockLog = z.infer<Schemas["smartlockLogSchema"]>;
export type SmartlockAuth = z.infer<Schemas["smartlockAuthSchema"]>;
export type DecentralWebhook = z.infer<Schemas["decentralWebhookSchema"]>;
