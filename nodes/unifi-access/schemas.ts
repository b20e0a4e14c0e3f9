/**
 * zod schemas of what the UniFi Access developer API sends (research/unifi-access.md §2-§4, §7). Everything is
 * untrusted: ids and names are bounded strings, unknown enum values stay strings (the normalizer maps them to
 * `unknown`), extra fields are allowed (loose objects) and kept in `raw`. Undocumented WebSocket events change
 * between Access releases, so nearly every field is optional.
 */
import type { z } from "zod";
import { lazy } from "../core/lazy";
import { zod } from "../core/lazy-zod";

/** The schemas, built on first use (see core/lazy-zod). */
export const unifiSchemas = lazy(() => {
  const z = zod();

  const id = z.string().min(1).max(200);
  const text = z.string().max(500);
  /** Unix seconds or milliseconds, as number or numeric string. */
  const epoch = z.union([z.number().finite(), z.string().regex(/^\d{1,16}$/).transform(Number)]);

  /** Every REST answer: `{code: "SUCCESS", msg, data}`; errors carry `CODE_*`. */
  const envelopeSchema = z.looseObject({
    code: z.union([z.string(), z.number()]).optional(),
    msg: z.string().optional(),
    data: z.unknown().optional(),
  });

  const doorSchema = z.looseObject({
    id,
    name: text.optional(),
    full_name: text.optional(),
    floor_id: z.string().max(200).optional(),
    type: z.string().max(50).optional(),
    is_bind_hub: z.union([z.boolean(), z.string()]).optional(),
    door_lock_relay_status: z.string().max(50).nullable().optional(),
    door_position_status: z.string().max(50).nullable().optional(),
  });
  const doorListSchema = z.array(doorSchema);

  const deviceSchema = z.looseObject({
    id,
    name: text.optional(),
    alias: text.optional(),
    type: z.string().max(100).optional(),
    device_type: z.string().max(100).optional(),
    location_id: z.string().max(200).nullable().optional(),
    connected_uah_id: z.string().max(200).nullable().optional(),
    capabilities: z.array(z.string().max(100)).nullable().optional(),
  });
  /** `GET /devices` groups devices per door: an array of arrays (flattened by the client). */
  const deviceListSchema = z.array(z.union([deviceSchema, z.array(deviceSchema)]));

  const lockRuleSchema = z.looseObject({
    type: z.string().max(50).nullable().optional(),
    ended_time: epoch.nullable().optional(),
  });

  const emergencySchema = z.looseObject({
    lockdown: z.boolean().optional(),
    evacuation: z.boolean().optional(),
  });

  const webhookEndpointSchema = z.looseObject({
    id,
    endpoint: z.string().max(2000),
    name: z.string().max(500).optional(),
    secret: z.string().max(500).optional(),
    events: z.array(z.string().max(200)).nullable().optional(),
    headers: z.record(z.string(), z.unknown()).nullable().optional(),
  });
  const webhookEndpointListSchema = z.array(webhookEndpointSchema).nullable();

  // ---- WebSocket notifications (§3.4, §3.5) ---------------------------------------------------------------

  const wsEnvelopeSchema = z.looseObject({
    event: z.string().min(1).max(200),
    receiver_id: z.string().max(200).optional(),
    event_object_id: z.string().max(200).optional(),
    save_to_history: z.boolean().optional(),
    data: z.unknown().optional(),
    meta: z.unknown().optional(),
  });

  const locationStateSchema = z.looseObject({
    lock: z.string().max(50).nullable().optional(),
    dps: z.string().max(50).nullable().optional(),
    dps_connected: z.boolean().optional(),
    emergency: z.looseObject({ software: z.string().max(50).optional(), hardware: z.string().max(50).optional() }).nullable().optional(),
    remain_lock: z.unknown().optional(),
    remain_unlock: z.unknown().optional(),
  });

  const locationUpdateSchema = z.looseObject({
    id,
    location_type: z.string().max(50).optional(),
    name: text.optional(),
    state: locationStateSchema.nullable().optional(),
    last_activity: epoch.nullable().optional(),
  });

  const deviceConfigSchema = z.looseObject({
    key: z.string().max(200),
    value: z.union([z.string().max(200), z.number(), z.boolean()]).nullable().optional(),
  });

  const deviceUpdateSchema = z.looseObject({
    unique_id: z.string().max(200).optional(),
    name: text.optional(),
    alias: text.optional(),
    device_type: z.string().max(100).optional(),
    location_id: z.string().max(200).nullable().optional(),
    connected_uah_id: z.string().max(200).nullable().optional(),
    door: z.looseObject({ unique_id: z.string().max(200).optional() }).nullable().optional(),
    location: z.looseObject({ unique_id: z.string().max(200).optional(), location_type: z.string().max(50).optional() }).nullable().optional(),
    configs: z.array(deviceConfigSchema).nullable().optional(),
  });

  const remoteViewSchema = z.looseObject({
    request_id: z.string().max(200).optional(),
    device_id: z.string().max(200).optional(),
    device_name: text.optional(),
    door_name: text.optional(),
    connected_uah_id: z.string().max(200).optional(),
    create_time: epoch.optional(),
    reason_code: z.number().optional(),
  });

  const remoteViewChangeSchema = z.looseObject({
    reason_code: z.number().optional(),
    remote_call_request_id: z.string().max(200).optional(),
  });

  const hwDoorbellSchema = z.looseObject({
    door_id: z.string().max(200).optional(),
    door_name: text.optional(),
    request_id: z.string().max(200).optional(),
    device_id: z.string().max(200).optional(),
  });

  const remoteUnlockSchema = z.looseObject({
    unique_id: id,
    name: text.optional(),
    location_type: z.string().max(50).optional(),
    extras: z.record(z.string(), z.unknown()).nullable().optional(),
  });

  const logTargetSchema = z.looseObject({
    type: z.string().max(100).optional(),
    id: z.string().max(200).optional(),
    display_name: text.optional(),
  });

  const logsAddSchema = z.looseObject({
    _id: z.string().max(200).optional(),
    "@timestamp": z.string().max(100).optional(),
    _source: z.looseObject({
      actor: z.looseObject({ id: z.string().max(200).optional(), type: z.string().max(100).optional(), display_name: text.optional() }).nullable().optional(),
      event: z.looseObject({
        type: z.string().max(200).optional(),
        display_message: text.optional(),
        result: z.string().max(100).optional(),
        published: epoch.optional(),
        log_key: z.string().max(200).optional(),
      }).nullable().optional(),
      authentication: z.looseObject({ credential_provider: z.string().max(100).optional(), issuer: z.string().max(200).optional() }).nullable().optional(),
      target: z.array(logTargetSchema).nullable().optional(),
    }),
  });

  /** metadata entries are an object or an array of objects, depending on the firmware (research §3.5). */
  const entries = z.union([logTargetSchema, z.array(logTargetSchema)]).nullable().optional();

  const insightsAddSchema = z.looseObject({
    id: z.string().max(200).optional(),
    log_key: z.string().max(200).optional(),
    event_type: z.string().max(200).optional(),
    message: text.optional(),
    published: epoch.optional(),
    result: z.string().max(100).optional(),
    metadata: z.looseObject({
      actor: entries,
      authentication: entries,
      door: entries,
      device: entries,
      opened_method: entries,
      opened_direction: entries,
    }).nullable().optional(),
  });

  const settingUpdateSchema = z.looseObject({
    lockdown: z.boolean().optional(),
    evacuation: z.boolean().optional(),
  });

  // ---- Webhooks (§4.3, §4.4, §7.2) ------------------------------------------------------------------------

  const webhookLocationSchema = z.looseObject({
    id: z.string().max(200).optional(),
    location_type: z.string().max(50).optional(),
    name: text.optional(),
    extras: z.record(z.string(), z.unknown()).nullable().optional(),
  });

  const webhookDeviceSchema = z.looseObject({
    id: z.string().max(200).optional(),
    name: text.optional(),
    alias: text.optional(),
    device_type: z.string().max(100).optional(),
    location_id: z.string().max(200).nullable().optional(),
    connected_hub_id: z.string().max(200).nullable().optional(),
  });

  const webhookActorSchema = z.looseObject({
    id: z.string().max(200).nullable().optional(),
    name: text.nullable().optional(),
    type: z.string().max(100).nullable().optional(),
  });

  const webhookBodySchema = z.looseObject({
    event: z.string().min(1).max(200),
    event_object_id: z.string().max(200).optional(),
    data: z
      .looseObject({
        location: webhookLocationSchema.nullable().optional(),
        device: webhookDeviceSchema.nullable().optional(),
        actor: webhookActorSchema.nullable().optional(),
        object: z.record(z.string(), z.unknown()).nullable().optional(),
      })
      .nullable()
      .optional(),
  });

  return {
    envelopeSchema,
    doorSchema,
    doorListSchema,
    deviceSchema,
    deviceListSchema,
    lockRuleSchema,
    emergencySchema,
    webhookEndpointSchema,
    webhookEndpointListSchema,
    wsEnvelopeSchema,
    locationStateSchema,
    locationUpdateSchema,
    deviceConfigSchema,
    deviceUpdateSchema,
    remoteViewSchema,
    remoteViewChangeSchema,
    hwDoorbellSchema,
    remoteUnlockSchema,
    logsAddSchema,
    insightsAddSchema,
    settingUpdateSchema,
    webhookLocationSchema,
    webhookDeviceSchema,
    webhookActorSchema,
    webhookBodySchema,
  };
});
type Schemas = ReturnType<typeof unifiSchemas>;

export type Envelope = z.infer<Schemas["envelopeSchema"]>;
export type Door = z.infer<Schemas["doorSchema"]>;
export type Device = z.infer<Schemas["deviceSchema"]>;
export type LockRule = z.infer<Schemas["lockRuleSchema"]>;
export type Emergency = z.infer<Schemas["emergencySchema"]>;
export type WebhookEndpoint = z.infer<Schemas["webhookEndpointSchema"]>;
export type WsEnvelope = z.infer<Schemas["wsEnvelopeSchema"]>;
export type WebhookBody = z.infer<Schemas["webhookBodySchema"]>;
