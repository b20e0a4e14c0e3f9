/**
 * Tedee Bridge API authentication (research/loqed-tedee.md 2.1.1 and the worked example in 6.3). The `api_token`
 * header is either the token itself (plain) or `sha256(token + ms) + ms` (encrypted). The bridge processes every
 * encrypted key once and wants each timestamp greater than the last one, so timestamps are strictly increasing
 * per bridge and made fresh for every attempt, retries included.
 */
import { createHash } from "node:crypto";

export const AUTH_MODES = ["encrypted", "plain"] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export function isAuthMode(value: unknown): value is AuthMode {
  return typeof value === "string" && (AUTH_MODES as readonly string[]).includes(value);
}

/** `lowercase_hex(sha256(token + timestamp)) + timestamp`, timestamp = Unix epoch milliseconds. */
export function encryptedApiKey(token: string, timestampMs: number): string {
  const ts = String(Math.trunc(timestampMs));
  return createHash("sha256").update(token + ts, "utf8").digest("hex") + ts;
}

/** Produces the `api_token` header value of one request. */
export class BridgeAuth {
  private lastMs = 0;

  constructor(
    readonly mode: AuthMode,
    private readonly token: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** A value never handed out before: two requests within one millisecond still get distinct timestamps. */
  apiKey(): string {
    if (this.mode === "plain") return this.token;
    this.lastMs = Math.max(Math.trunc(this.now()), this.lastMs + 1);
    return encryptedApiKey(this.token, this.lastMs);
  }

  headers(): Record<string, string> {
    return { api_token: this.apiKey() };
  }
}
