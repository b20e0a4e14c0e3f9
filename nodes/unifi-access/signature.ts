/**
 * Webhook signature check (research §4.5): header `Signature: t=<unix s>,v1=<hex>`, HMAC-SHA256 keyed with the
 * endpoint secret as UTF-8 (not hex-decoded) over `${t}.` + the raw body bytes. Pairs are trimmed (the PDF's own
 * table shows a space after the comma); any matching v1 is accepted; the timestamp must be within the tolerance.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const DEFAULT_TOLERANCE_S = 300;

export type SignatureProblem = "not_signed" | "invalid_header" | "no_valid_signature" | "stale" | "no_secret";

export interface ParsedSignature {
  t: number;
  signatures: Buffer[];
}

/** Go-compatible parse: every pair must be k=v, t must be an integer, bad hex v1 values are skipped. */
export function parseSignatureHeader(header: string | undefined): ParsedSignature | SignatureProblem {
  if (header === undefined || header.trim() === "") return "not_signed";
  let t: number | undefined;
  const signatures: Buffer[] = [];
  for (const pair of header.split(",")) {
    const index = pair.indexOf("=");
    if (index < 0) return "invalid_header";
    const key = pair.slice(0, index).trim();
    const value = pair.slice(index + 1).trim();
    if (key === "t") {
      if (!/^\d{1,12}$/.test(value)) return "invalid_header";
      t = Number(value);
    } else if (key === "v1" && /^[0-9a-fA-F]{64}$/.test(value)) {
      signatures.push(Buffer.from(value, "hex"));
    }
  }
  if (t === undefined) return "invalid_header";
  if (signatures.length === 0) return "no_valid_signature";
  return { t, signatures };
}

export function computeSignature(secret: string, t: number | string, rawBody: Buffer | string): string {
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(`${t}.`).update(rawBody).digest("hex");
}

/** null when valid; otherwise why not. */
export function verifySignature(
  rawBody: Buffer,
  header: string | undefined,
  secret: string | null | undefined,
  options: { toleranceS?: number; nowS?: number } = {},
): SignatureProblem | null {
  if (!secret) return "no_secret";
  const parsed = parseSignatureHeader(header);
  if (typeof parsed === "string") return parsed;
  const tolerance = options.toleranceS ?? DEFAULT_TOLERANCE_S;
  const now = options.nowS ?? Math.floor(Date.now() / 1000);
  const expected = Buffer.from(computeSignature(secret, parsed.t, rawBody), "hex");
  const matches = parsed.signatures.some((s) => s.length === expected.length && timingSafeEqual(s, expected));
  if (!matches) return "no_valid_signature";
  if (tolerance > 0 && Math.abs(now - parsed.t) > tolerance) return "stale";
  return null;
}
