/**
 * Verification of incoming LOQED bridge webhooks (research/loqed-tedee.md 1.3.4), before anything is parsed:
 * `HASH` over the exact raw bytes, the `TIMESTAMP` and the bridge key, compared in constant time; then the
 * timestamp window (the bridge signs when it queues a delivery and delivers sequentially, so with several
 * registered webhooks a delivery can be seconds late: default 20 s, configurable).
 *
 * Some newer bridge hardware sends no `TIMESTAMP` header at all (home-assistant/core#174874, #180339). Such a
 * call cannot be checked against the hash (its input is undocumented) nor for freshness, so it is refused by
 * default; an explicit opt-in accepts it only from the bridge's own address, on the secret route.
 */
import type { IncomingHttpHeaders } from "node:http";
import { hashMatches, webhookHash } from "./crypto";

export type RejectReason =
  | "missing-hash"
  | "bad-timestamp"
  | "bad-hash"
  | "stale"
  | "missing-timestamp"
  | "missing-timestamp-foreign-address";

export type Verification =
  | { ok: true; signed: true; timestamp: number; hash: string }
  | { ok: true; signed: false }
  | { ok: false; reason: RejectReason; skewSeconds?: number };

export interface VerifyOptions {
  rawBody: Buffer;
  headers: IncomingHttpHeaders;
  remoteAddress: string | undefined;
  bridgeKey: Buffer;
  nowMs: number;
  /** Largest accepted |now - TIMESTAMP| in seconds. */
  windowSeconds: number;
  /** Opt-in: accept calls without TIMESTAMP from one of these addresses. */
  allowMissingTimestamp: boolean;
  bridgeAddresses: readonly string[];
}

/** A header given once; a repeated header is treated as malformed (its parts could disagree). */
function single(value: string | string[] | undefined): string | undefined | null {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.length === 1 ? value[0]! : null;
  return value;
}

/** Strips IPv4-mapped IPv6 and zone ids so `::ffff:192.168.1.2` equals `192.168.1.2`. */
export function plainAddress(address: string | undefined): string {
  if (!address) return "";
  const withoutZone = address.replace(/%.*$/, "").toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(withoutZone);
  return mapped ? mapped[1]! : withoutZone;
}

export function verifyBridgeWebhook(options: VerifyOptions): Verification {
  const timestampHeader = single(options.headers["timestamp"]);
  const hashHeader = single(options.headers["hash"]);
  if (timestampHeader === undefined || (typeof timestampHeader === "string" && timestampHeader.trim() === "")) {
    if (!options.allowMissingTimestamp) return { ok: false, reason: "missing-timestamp" };
    const from = plainAddress(options.remoteAddress);
    const fromBridge = from !== "" && options.bridgeAddresses.some((address) => plainAddress(address) === from);
    return fromBridge ? { ok: true, signed: false } : { ok: false, reason: "missing-timestamp-foreign-address" };
  }
  if (timestampHeader === null || !/^\s*\d{1,12}\s*$/.test(timestampHeader)) return { ok: false, reason: "bad-timestamp" };
  if (typeof hashHeader !== "string" || hashHeader.trim() === "") return { ok: false, reason: "missing-hash" };
  const timestamp = Number(timestampHeader.trim());
  // Hash first: a forged request learns nothing about our clock.
  if (!hashMatches(webhookHash(options.rawBody, timestamp, options.bridgeKey), hashHeader)) {
    return { ok: false, reason: "bad-hash" };
  }
  const skewSeconds = Math.round(options.nowMs / 1000 - timestamp);
  if (Math.abs(options.nowMs / 1000 - timestamp) > options.windowSeconds) return { ok: false, reason: "stale", skewSeconds };
  return { ok: true, signed: true, timestamp, hash: hashHeader.trim().toLowerCase() };
}

/** What the bridge (and the log) is told for each rejection. No secret goes into these texts. */
export function rejectText(reason: RejectReason, windowSeconds: number, skewSeconds?: number): string {
  switch (reason) {
    case "missing-hash":
      return "HASH header missing";
    case "bad-timestamp":
      return "TIMESTAMP header malformed";
    case "bad-hash":
      return "HASH does not match (check the bridge key in the config node)";
    case "stale":
      return `TIMESTAMP outside the allowed window of ${windowSeconds} s (${skewSeconds ?? "?"} s off; check both clocks, or remove stale webhooks that delay deliveries)`;
    case "missing-timestamp":
      return "TIMESTAMP header missing: this bridge firmware sends webhooks that cannot be checked for freshness, so they are refused; enable \"accept webhooks without TIMESTAMP\" in the config node to accept them from the bridge's address";
    case "missing-timestamp-foreign-address":
      return "TIMESTAMP header missing and the call did not come from the bridge's address";
  }
}
