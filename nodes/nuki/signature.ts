/**
 * Nuki Web decentral webhook signatures (research/nuki.md 2.6): every POST carries `X-Nuki-Signature-SHA256`,
 * the lower-case hex HMAC-SHA256 of the raw body, keyed with the `secret` Nuki returned when the webhook was
 * registered. Verified over the bytes as received, before anything is parsed.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "x-nuki-signature-sha256";

export function signWebhook(rawBody: Buffer | string, secret: string): string {
  return createHmac("sha256", secret).update(rawBody).digest("hex");
}

/** Constant-time check; a missing, malformed or wrong header is false. Upper-case hex is accepted. */
export function verifyWebhookSignature(rawBody: Buffer, header: string | string[] | undefined, secret: string): boolean {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== "string" || secret === "") return false;
  const given = value.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(given)) return false;
  const expected = Buffer.from(signWebhook(rawBody, secret), "hex");
  return timingSafeEqual(expected, Buffer.from(given, "hex"));
}
