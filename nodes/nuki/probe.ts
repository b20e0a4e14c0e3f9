/**
 * "Test connection" for the Nuki config dialog: reads /info, /list and /callback/list with the values
 * typed in the dialog, and checks the callback URL that would be registered. Three requests through the
 * same serial client a config node uses; nothing is changed at the bridge.
 */
import http from "node:http";
import { isIP } from "node:net";
import { redactUrl } from "../core/callback-url";
import { toSmartlockError } from "../core/errors";
import type { AuthMode } from "./auth";
import { NukiBridgeClient } from "./bridge-client";
import { MAX_CALLBACK_URL_LENGTH, MAX_CALLBACKS } from "./bridge-connection";
import { nukiIdToHex } from "./ids";
import { deviceKind, lockState } from "./normalize";

export interface ProbeInput {
  host: string;
  port: number;
  token: string;
  auth: AuthMode;
  /** The callback URL this config would register (null when httpNode is off). */
  callbackUrl: string | null;
  /** Recognises our own registrations (same route secret). */
  ownsCallback: (url: string) => boolean;
}

export interface ProbeDevice {
  id: string;
  name: string | null;
  type: "lock" | "opener";
  deviceType: number;
  lock: string | null;
}

export interface ProbeResult {
  ok: true;
  bridge: { type: string; firmware: string | null; currentTime: string | null; clockOffsetSeconds: number | null };
  devices: ProbeDevice[];
  callbacks: { id: number; url: string; ours: boolean }[];
  callback: {
    url: string | null;
    registered: boolean;
    plainHttp: boolean;
    shortEnough: boolean;
    notLoopback: boolean;
    reachable: boolean | null;
    freeSlot: boolean;
  };
}

export async function probeBridge(input: ProbeInput): Promise<ProbeResult> {
  const client = new NukiBridgeClient({ host: input.host, port: input.port, token: input.token, auth: input.auth, spacingMs: 100, timeoutMs: 8000 });
  try {
    const info = await client.info();
    const list = await client.list();
    const callbacks = await client.callbacks();
    const bridgeMs = info.currentTime ? Date.parse(info.currentTime) : NaN;
    const url = input.callbackUrl;
    const loopbackBridge = isLoopback(input.host);
    return {
      ok: true,
      bridge: {
        type: info.bridgeType === 2 ? "software bridge" : "hardware bridge",
        firmware: info.versions?.firmwareVersion ?? info.appVersion ?? null,
        currentTime: info.currentTime ?? null,
        clockOffsetSeconds: Number.isFinite(bridgeMs) ? Math.round((bridgeMs - Date.now()) / 1000) : null,
      },
      devices: list.map((entry) => ({
        id: nukiIdToHex(entry.nukiId),
        name: entry.name?.trim() || null,
        type: deviceKind(entry.deviceType) as "lock" | "opener",
        deviceType: entry.deviceType,
        lock: entry.lastKnownState ? lockState(entry.deviceType, entry.lastKnownState.state) : null,
      })),
      // Our own URL carries the route secret: shown redacted, like in every log line.
      callbacks: callbacks.map((c) => ({ id: c.id, url: input.ownsCallback(c.url) ? redactUrl(c.url) : c.url, ours: input.ownsCallback(c.url) })),
      callback: {
        url: url ? redactUrl(url) : null,
        registered: url !== null && callbacks.some((c) => c.url === url),
        plainHttp: url !== null && /^http:\/\//i.test(url),
        shortEnough: url !== null && url.length <= MAX_CALLBACK_URL_LENGTH,
        notLoopback: url !== null && (loopbackBridge || !isLoopback(new URL(url).hostname)),
        reachable: url === null ? null : await answers(url),
        freeSlot: callbacks.length < MAX_CALLBACKS || callbacks.some((c) => input.ownsCallback(c.url)),
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

/** Whether anything answers HTTP at the callback URL from this host (a deployed route answers 405 to GET). */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 3000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}
