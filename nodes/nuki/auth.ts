/**
 * Bridge API authentication (research/nuki.md 1.2 and the vectors in 6.1). Every request carries fresh
 * parameters: the bridge refuses a (ts, rnr) pair or ctoken it has seen, and a ts more than 60 s off its clock.
 */
import { createHash, randomBytes, randomInt } from "node:crypto";
import { lazy } from "../core/lazy";

/** tweetnacl, loaded with the first encrypted token: the other modes never need it (it delays start-up). */
const nacl = lazy(() => require("tweetnacl") as typeof import("tweetnacl"));

export const AUTH_MODES = ["encrypted", "hashed", "plain"] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export function isAuthMode(value: unknown): value is AuthMode {
  return typeof value === "string" && (AUTH_MODES as readonly string[]).includes(value);
}

/** `YYYY-MM-DDTHH:MM:SSZ` in UTC, the only form the bridge accepts (no milliseconds). */
export function bridgeTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + "Z";
}

export function hashedParams(token: string, ts: string, rnr: number): Record<string, string> {
  const hash = createHash("sha256").update(`${ts},${rnr},${token}`, "utf8").digest("hex");
  return { ts, rnr: String(rnr), hash };
}

export function encryptedParams(token: string, ts: string, rnr: number, nonce: Uint8Array): Record<string, string> {
  const key = createHash("sha256").update(token, "utf8").digest();
  const box = nacl().secretbox(Buffer.from(`${ts},${rnr}`, "utf8"), nonce, key);
  return { ctoken: Buffer.from(box).toString("hex"), nonce: Buffer.from(nonce).toString("hex") };
}

/**
 * Produces the auth query parameters of one request. `clockOffsetMs` shifts our clock to the bridge's
 * (learned from /info) so that a drifting bridge clock does not lock us out.
 */
export class BridgeAuth {
  clockOffsetMs = 0;
  private lastTs = "";
  private readonly usedRnr = new Set<number>();

  constructor(
    readonly mode: AuthMode,
    private readonly token: string,
    private readonly now: () => number = Date.now,
  ) {}

  params(): Record<string, string> {
    if (this.mode === "plain") return { token: this.token };
    const ts = bridgeTimestamp(this.now() + this.clockOffsetMs);
    const rnr = this.freshRnr(ts);
    return this.mode === "hashed"
      ? hashedParams(this.token, ts, rnr)
      : encryptedParams(this.token, ts, rnr, randomBytes(nacl().secretbox.nonceLength));
  }

  /** A random number never used before with this timestamp (two requests in one second need two). */
  private freshRnr(ts: string): number {
    if (ts !== this.lastTs) {
      this.lastTs = ts;
      this.usedRnr.clear();
    }
    let rnr = randomInt(0, 65536);
    while (this.usedRnr.has(rnr)) rnr = (rnr + 1) % 65536;
    this.usedRnr.add(rnr);
    return rnr;
  }
}
