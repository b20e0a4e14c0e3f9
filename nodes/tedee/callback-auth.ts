/**
 * Bridge callbacks are unsigned (research/loqed-tedee.md 2.1.3, 3.3), but the bridge adds custom headers of our
 * choosing to each one. So a callback must carry two secrets: the route secret in its URL and a header value
 * derived from the bridge token and the route secret. The token never leaves the config node, so someone who
 * learns the URL (a log, a proxy) still cannot forge events; the value is stable across restarts, so the
 * registered callback stays valid, and changes when either secret changes (the registration is then updated).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

export const CALLBACK_HEADER = "X-Smartlocks-Key";

export function callbackHeaderValue(token: string, routeSecret: string): string {
  return createHmac("sha256", token).update(`smartlocks-tedee-callback:${routeSecret}`, "utf8").digest("base64url").slice(0, 32);
}

/** True when the request carries exactly one header `name` equal to `expected` (compared in constant time). */
export function hasCallbackHeader(headers: IncomingHttpHeaders, name: string, expected: string): boolean {
  const value = headers[name.toLowerCase()];
  if (typeof value !== "string") return false;
  const got = Buffer.from(value.trim(), "utf8");
  const want = Buffer.from(expected, "utf8");
  return got.length === want.length && timingSafeEqual(got, want);
}
