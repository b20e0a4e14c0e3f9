/**
 * "Test connection" and door discovery for the UniFi Access editor. Read-only:
 *
 *   1. reads the certificate the controller presents (one TLS handshake, no application data) and, with `pin`,
 *      compares it with the typed pin. A mismatch stops here: the token is never sent to a certificate that is
 *      not the pinned one. The fingerprint is always reported, so the dialog can offer "use this fingerprint";
 *   2. `GET /doors`, `GET /devices` and (webhooks on) `GET /webhooks/endpoints` with the typed token, through the
 *      same client (serial queue, retries, error mapping) a config node uses;
 *   3. checks the webhook URL this config would register (redacted: the route secret never leaves the runtime).
 *
 * Nothing is registered, changed or unlocked. No Node-RED imports.
 */
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { redactUrl } from "../core/callback-url";
import { type ErrorCode, SmartlockError, toSmartlockError } from "../core/errors";
import type { TlsOptions } from "../core/http-client";
import { UnifiAccessClient } from "./client";
import { WEBHOOK_EVENTS, doorFromDps, lockFromState } from "./normalize";
import type { Device, WebhookEndpoint } from "./schemas";
import { type TlsMode, formatFingerprint, normalizeFingerprint, pinnedTlsOptions, probeCertificate, tlsOptionsFor } from "./tls";

/** Longest webhook URL accepted by the probe's check (the API documents none; a URL this long is a mistake). */
export const MAX_WEBHOOK_URL_LENGTH = 2000;

export interface UnifiProbeInput {
  host: string;
  port: number;
  token: string;
  tls: TlsMode;
  /** The pin as typed (any case, colons optional); empty = trust on first use. */
  fingerprint: string;
  /** A fingerprint the deployed config node trusted on first use earlier (its context), if any. */
  learnedFingerprint?: string | null;
  webhooks: boolean;
  /** The webhook URL this config would register; null without httpNode. May reject (the reason is reported). */
  webhookUrl: () => Promise<string | null>;
  /** Recognises our own registrations (same route secret), current or stale. */
  ownsWebhook: (url: string) => boolean;
  timeoutMs?: number;
}

export interface ProbeCertificate {
  /** SHA-256 of the presented certificate, "AB:CD:…" (what the pin field takes). */
  fingerprint: string;
  /** The typed pin, normalized and formatted; null when empty. */
  pinned: string | null;
  /** pin mode: whether the presented certificate is the pinned one; null = no pin typed (first use). */
  matches: boolean | null;
  /** Whether the deployed node trusted this very certificate on first use earlier; null when it learned none. */
  matchesLearned: boolean | null;
  mode: TlsMode;
}

export interface ProbeDoor {
  id: string;
  name: string | null;
  type: "door";
  lock: string | null;
  door: string | null;
  /** Hubs and readers at this door (from `GET /devices`). */
  hardware: { id: string; name: string | null; type: string | null }[];
}

export interface ProbeWebhookEntry {
  id: string;
  name: string | null;
  /** Ours redacted; another application's without query string (it may carry that application's key). */
  url: string;
  events: number;
  ours: boolean;
}

export interface ProbeWebhookCheck {
  url: string | null;
  /** An endpoint with exactly this URL exists at the controller. */
  registered: boolean;
  /** Registered with every event this node subscribes to. */
  eventsComplete: boolean;
  plainHttp: boolean;
  shortEnough: boolean;
  /** A loopback URL cannot be reached by the controller (unless the controller is this host). */
  notLoopback: boolean;
  /** Whether anything answers HTTP at the URL from this host; null when there is no URL. */
  reachable: boolean | null;
  /** Why no URL could be built. */
  error?: string;
}

export interface ProbeResult {
  ok: true;
  summary: string;
  devices: ProbeDoor[];
  callback?: ProbeWebhookCheck;
  details: {
    certificate: ProbeCertificate;
    /** `GET /devices` failed (usually a missing view:device key, which the WebSocket needs too). */
    devicesError?: { code: ErrorCode; message: string };
    webhooks?: ProbeWebhookEntry[];
    webhooksError?: { code: ErrorCode; message: string };
  };
}

/** The answer when the certificate is not the pinned one: not ok, but with the fingerprint to adopt. */
export interface ProbeMismatch {
  ok: false;
  code: "rejected";
  message: string;
  details: { certificate: ProbeCertificate };
}

export async function probeUnifiAccess(input: UnifiProbeInput): Promise<ProbeResult | ProbeMismatch> {
  if (!input.host) throw new SmartlockError("bad_request", "Enter the controller host (the console's IP address or name)");
  if (!input.token) throw new SmartlockError("bad_request", "Enter the API token (UniFi Access › Settings › General › Advanced › API Token)");
  const typedPin = input.fingerprint.trim();
  const pin = normalizeFingerprint(typedPin);
  if (input.tls === "pin" && typedPin && !pin) {
    throw new SmartlockError("bad_request", "The SHA-256 pin must be 64 hex digits (colons optional, any case)");
  }
  const timeoutMs = input.timeoutMs ?? 8000;
  const presented = await probeCertificate(input.host, input.port, timeoutMs);
  const learned = normalizeFingerprint(input.learnedFingerprint ?? null);
  const certificate: ProbeCertificate = {
    fingerprint: formatFingerprint(presented.fingerprint),
    pinned: pin ? formatFingerprint(pin) : null,
    matches: input.tls === "pin" && pin ? pin === presented.fingerprint : null,
    matchesLearned: learned ? learned === presented.fingerprint : null,
    mode: input.tls,
  };
  if (certificate.matches === false) {
    return {
      ok: false,
      code: "rejected",
      message:
        `The controller presents a certificate with SHA-256 ${certificate.fingerprint}, not the pinned ${certificate.pinned}; ` +
        "the token was not sent. If the certificate was replaced on purpose, use the new fingerprint.",
      details: { certificate },
    };
  }
  // pin: trust exactly the certificate just read (first use, or the one that matched the pin).
  const tls: TlsOptions = input.tls === "pin" ? pinnedTlsOptions(presented.pem, presented.fingerprint) : tlsOptionsFor(input.tls);
  const client = new UnifiAccessClient({ host: input.host, port: input.port, token: input.token, tls, timeoutMs });
  try {
    const doors = await client.doors();
    let hardware: Device[] = [];
    let devicesError: ProbeResult["details"]["devicesError"];
    try {
      hardware = await client.devices();
    } catch (err) {
      devicesError = failure(err);
    }
    let endpoints: WebhookEndpoint[] | null = null;
    let webhooksError: ProbeResult["details"]["webhooksError"];
    if (input.webhooks) {
      try {
        endpoints = await client.webhookEndpoints();
      } catch (err) {
        webhooksError = failure(err);
      }
    }
    const devices = doors.map(
      (door): ProbeDoor => ({
        id: door.id,
        name: door.name?.trim() || null,
        type: "door",
        lock: lockFromState(door.door_lock_relay_status ?? undefined) ?? null,
        door: doorFromDps(door.door_position_status ?? null) ?? null,
        hardware: hardware
          .filter((d) => d.location_id === door.id)
          .map((d) => ({ id: d.id, name: d.name?.trim() || null, type: d.type ?? d.device_type ?? null })),
      }),
    );
    const result: ProbeResult = {
      ok: true,
      summary: summary(devices.length, certificate),
      devices,
      details: {
        certificate,
        ...(devicesError ? { devicesError } : {}),
        ...(endpoints ? { webhooks: endpoints.map((e) => webhookEntry(e, input.ownsWebhook)) } : {}),
        ...(webhooksError ? { webhooksError } : {}),
      },
    };
    if (input.webhooks) result.callback = await webhookCheck(input, endpoints);
    return result;
  } catch (err) {
    throw toSmartlockError(err);
  } finally {
    client.close();
  }
}

function summary(doors: number, certificate: ProbeCertificate): string {
  const trust =
    certificate.mode !== "pin"
      ? `certificate ${certificate.mode === "verify" ? "verified" : "not checked"}`
      : certificate.matches
        ? "certificate matches the pin"
        : "certificate trusted on first use (not pinned yet)";
  return `UniFi Access: ${doors} door${doors === 1 ? "" : "s"}, ${trust}`;
}

function failure(err: unknown): { code: ErrorCode; message: string } {
  const error = toSmartlockError(err);
  return { code: error.code, message: error.message };
}

function webhookEntry(endpoint: WebhookEndpoint, ownsWebhook: (url: string) => boolean): ProbeWebhookEntry {
  const ours = ownsWebhook(endpoint.endpoint);
  // The endpoint's secret and custom headers are never passed on: they belong to whoever registered it.
  return {
    id: endpoint.id,
    name: endpoint.name?.trim() || null,
    url: ours ? redactUrl(endpoint.endpoint) : withoutQuery(redactUrl(endpoint.endpoint)),
    events: endpoint.events?.length ?? 0,
    ours,
  };
}

async function webhookCheck(input: UnifiProbeInput, endpoints: WebhookEndpoint[] | null): Promise<ProbeWebhookCheck> {
  let url: string | null;
  try {
    url = await input.webhookUrl();
  } catch (err) {
    return { url: null, registered: false, eventsComplete: false, plainHttp: false, shortEnough: false, notLoopback: false, reachable: null, error: toSmartlockError(err).message };
  }
  const mine = url && endpoints ? endpoints.find((e) => e.endpoint === url) : undefined;
  let loopbackUrl = false;
  if (url) {
    try {
      loopbackUrl = isLoopback(new URL(url).hostname);
    } catch {
      loopbackUrl = false;
    }
  }
  return {
    url: url ? redactUrl(url) : null,
    registered: mine !== undefined,
    eventsComplete: mine !== undefined && WEBHOOK_EVENTS.every((e) => (mine.events ?? []).includes(e)),
    plainHttp: url !== null && /^http:\/\//i.test(url),
    shortEnough: url !== null && url.length <= MAX_WEBHOOK_URL_LENGTH,
    notLoopback: url !== null && (isLoopback(input.host) || !loopbackUrl),
    reachable: url === null ? null : await answers(url),
  };
}

function withoutQuery(url: string): string {
  const at = url.search(/[?#]/);
  return at < 0 ? url : `${url.slice(0, at)}?…`;
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  return bare === "::1";
}

/**
 * Whether anything answers HTTP(S) at the webhook URL from this host (a deployed route answers 405 to GET).
 * HTTPS is verified as usual (the URL carries the route secret); a certificate this host does not trust still
 * means that something answered there.
 */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const lib = /^https:/i.test(url) ? https : http;
    const req = lib.get(url, { timeout: 3000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", (err: NodeJS.ErrnoException) => resolve(typeof err.code === "string" && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(err.code)));
  });
}
