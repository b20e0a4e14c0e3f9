/**
 * zod schemas of what LOQED sends (research/loqed-tedee.md 1.3.1, 1.3.5, 1.4.1, 6.4). All of it is untrusted.
 * Real bridges and the cloud send numbers as JSON strings ("88", "3", "") and the cloud spells the account
 * e-mail two ways, so numeric fields accept both forms; unknown fields and unknown enum values are kept
 * (the normalizer maps them to `unknown`, `raw` keeps the payload).
 */
import type { z } from "zod";
import { lazy } from "../core/lazy";
import { zod } from "../core/lazy-zod";

/** The schemas, built on first use (see core/lazy-zod). */
export const loqedSchemas = lazy(() => {
  const z = zod();

  /** A number, also when sent as a numeric string. */
  const num = z.union([z.number(), z.string().trim().regex(/^-?\d+(\.\d+)?$/).transform(Number)]);
  const text = z.string().max(200);
  /** 0/1, booleans, or their string forms. */
  const flag = z.union([
    z.boolean(),
    z.literal(0).transform(() => false),
    z.literal(1).transform(() => true),
    z.enum(["0", "1", "true", "false"]).transform((v) => v === "1" || v === "true"),
  ]);
  /** key_local_id: number, numeric string, "" or null; range checks happen in the normalizer. */
  const keyId = z.union([z.number(), z.string().max(20), z.null()]);

  const webhookBodySchema = z.looseObject({
    event_type: text.optional(),
    requested_state: text.nullable().optional(),
    requested_state_numeric: num.nullable().optional(),
    go_to_state: text.nullable().optional(),
    go_to_state_numeric: num.nullable().optional(),
    key_local_id: keyId.optional(),
    mac_wifi: text.optional(),
    mac_ble: text.optional(),
    battery_percentage: num.pipe(z.number().min(0).max(100)).optional(),
    battery_type: z.union([text, z.number()]).nullable().optional(),
    wifi_strength: num.optional(),
    ble_strength: num.optional(),
    // cloud only
    lock_id: z.union([z.number(), text]).optional(),
    online: flag.optional(),
    key_name_user: text.nullable().optional(),
    key_name_admin: text.nullable().optional(),
    key_account_name: text.nullable().optional(),
    key_account_email: text.nullable().optional(),
    "key_account_e-mail": text.nullable().optional(),
  });

  /** `GET /status` (served as text/html; the client parses the text). */
  const statusSchema = z.looseObject({
    battery_percentage: num.pipe(z.number().min(0).max(100)).optional(),
    battery_type: z.union([text, z.number()]).nullable().optional(),
    battery_type_numeric: num.optional(),
    battery_voltage: num.optional(),
    bolt_state: text.optional(),
    bolt_state_numeric: num.optional(),
    bridge_mac_wifi: text.optional(),
    bridge_mac_ble: text.optional(),
    lock_online: flag.optional(),
    webhooks_number: num.optional(),
    ip_address: text.optional(),
    up_timestamp: num.optional(),
    wifi_strength: num.optional(),
    ble_strength: num.optional(),
  });

  const webhookEntrySchema = z.looseObject({
    id: num.pipe(z.number().int().min(0)),
    url: z.string().max(2000),
  });
  const webhookListSchema = z.array(webhookEntrySchema);

  return {
    webhookBodySchema,
    statusSchema,
    webhookEntrySchema,
    webhookListSchema,
  };
});
type Schemas = ReturnType<typeof loqedSchemas>;

export type WebhookBody = z.infer<Schemas["webhookBodySchema"]>;
export type BridgeStatusBody = z.infer<Schemas["statusSchema"]>;
export type WebhookEntry = z.infer<Schemas["webhookEntrySchema"]>;
