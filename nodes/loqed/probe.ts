/**
 * "Test connection" for the LOQED config dialog: `GET /status` (unsigned) and `GET /webhooks` (signed with the
 * bridge key, which is what proves the key right) with the values typed in the dialog, through the same serial
 * client a config node uses, plus a check of the webhook URL that would be registered. Read-only: nothing is
 * registered, removed or sent to the lock. The cloud is not asked at all (LOQED blocks accounts that read
 * the lock status about 12 times in 12 hours).
 */
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { redactUrl } from "../core/callback-url";
import { SmartlockError, toSmartlockError } from "../core/errors";
import { LoqedBridgeClient } from "./bridge-client";
import { statusParts } from "./normalize";

/**
 * Our limit for the webhook URL: long (and HTTPS) webhook URLs made real bridges unresponsive until a factory
 * reset (research 1.3, HA PR #109408); LOQED publishes no number, ours are about 70 characters.
 */
export const MAX_WEBHOOK_URL_LENGTH = 128;

export interface LoqedProbeInput {
  host: string;
  port: number;
  bridgeKey: Buffer | null;
  lockId: string;
  name: string | null;
  /** The webhook URL this config would register (null when httpNode is off or the base is unusable). */
  callbackUrl: string | null;
  /** Why there is no callback URL, when there is none. */
  callbackProblem?: string;
  /** Recognises our own registrations (same route secret). */
  ownsWebhook: (url: string) => boolean;
  timeoutMs?: number;
}

export interface LoqedProbeResult {
  ok: true;
  summary: string;
  devices: { id: string; name: string | null; type: "lock"; lock: string | null }[];
  callback: {
    url: string | null;
    problem: string | null;
    registered: boolean;
    plainHttp: boolean;
    shortEnough: boolean;
    notLoopback: boolean;
    reachable: boolean | null;
  };
  details: {
    bridge: { mac: string | null; ip: string | null; lockOnline: boolean | null; battery: number | null; webhooks: number | null } | null;
    /** null when no bridge key was given (the list needs it). */
    webhooks: { id: number; url: string; ours: boolean }[] | null;
  };
}

export async function probeLoqed(input: LoqedProbeInput): Promise<LoqedProbeResult> {
  const url = input.callbackUrl;
  if (!input.host) {
    const devices = input.lockId ? [{ id: input.lockId, name: input.name, type: "lock" as const, lock: null }] : [];
    return {
      ok: true,
      summary: "no bridge IP: cloud only, nothing to test locally (the cloud lock status is never read)",
      devices,
      callback: { url: null, problem: null, registered: false, plainHttp: false, shortEnough: false, notLoopback: false, reachable: null },
      details: { bridge: null, webhooks: null },
    };
  }
  const client = new LoqedBridgeClient({
    host: input.host,
    port: input.port,
    bridgeKey: input.bridgeKey,
    keySecret: null,
    keyId: null,
    timeoutMs: input.timeoutMs ?? 8000,
  });
  try {
    const status = await client.status();
    const parts = statusParts(status);
    let webhooks: { id: number; url: string }[] | null = null;
    if (input.bridgeKey) {
      try {
        webhooks = await client.webhooks();
      } catch (err) {
        const error = toSmartlockError(err);
        if (error.code !== "unauthorized") throw error;
        throw new SmartlockError("unauthorized", "the bridge answers /status but refuses the bridge key (GET /webhooks): check the bridge key and this host's clock", { cause: err });
      }
    }
    const id = input.lockId || parts.mac || input.host;
    const ownsCount = webhooks?.filter((w) => input.ownsWebhook(w.url)).length ?? 0;
    const registered = url !== null && webhooks !== null && webhooks.some((w) => w.url === url);
    const summary =
      `LOQED bridge ${parts.mac ?? input.host}: lock ${parts.lock ?? "state unknown"}` +
      (status.lock_online === false ? " (lock offline)" : "") +
      (webhooks === null ? ", webhooks not listed (no bridge key)" : `, ${webhooks.length} webhook(s), ${ownsCount} of this config node`);
    return {
      ok: true,
      summary,
      devices: [{ id, name: input.name, type: "lock", lock: parts.lock ?? null }],
      callback: {
        url: url ? redactUrl(url) : null,
        problem: url ? null : (input.callbackProblem ?? null),
        registered,
        plainHttp: url !== null && /^http:\/\//i.test(url),
        shortEnough: url !== null && url.length <= MAX_WEBHOOK_URL_LENGTH,
        notLoopback: url !== null && (isLoopback(input.host) || !isLoopback(new URL(url).hostname)),
        reachable: url === null ? null : await answers(url),
      },
      details: {
        bridge: {
          mac: parts.mac,
          ip: status.ip_address ?? null,
          lockOnline: status.lock_online ?? null,
          battery: parts.battery?.level ?? null,
          webhooks: status.webhooks_number ?? null,
        },
        // Our own URLs carry the route secret: shown redacted, like in every log line.
        webhooks: webhooks?.map((w) => ({ id: w.id, url: input.ownsWebhook(w.url) ? redactUrl(w.url) : w.url, ours: input.ownsWebhook(w.url) })) ?? null,
      },
    };
  } catch (err) {
    throw toSmartlockError(err);
  } finally {
    client.close();
  }
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  return bare === "::1";
}

/**
 * Whether anything answers HTTP at the webhook URL from this host (a deployed route answers 405 to GET, an
 * unknown secret 404). For https only that something answers counts, not its certificate.
 */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (res: http.IncomingMessage): void => {
      res.resume();
      resolve(true);
    };
    try {
      const req = /^https:/i.test(url) ? https.get(url, { timeout: 3000, rejectUnauthorized: false }, done) : http.get(url, { timeout: 3000 }, done);
      req.on("timeout", () => req.destroy());
      req.on("error", () => resolve(false));
    } catch {
      resolve(false);
    }
  });
}
