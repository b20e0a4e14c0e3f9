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
import { deviceIdFromSmartlockId, nukiIdToHex } from "./ids";
import { deviceKind, lockState } from "./normalize";
import { NukiWebClient } from "./web-client";
import { webDeviceKind } from "./web-normalize";

export interface ProbeInput {
  host: string;
  port: number;
  token: string;
  auth: AuthMode;
  /** The callback URL this config would register (null when httpNode is off). */
  callbackUrl: string | null;
  /** Recognises our own registrations (same route secret). */
  ownsCallback: (url: string) => boolean;
  /**
   * The deployed config node's client when it talks to the same bridge with the same token: the probe then
   * queues behind the running connection (the bridge answers one request at a time). Not closed by the probe.
   */
  client?: NukiBridgeClient | null;
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
  const shared = input.client ?? null;
  const client = shared ?? new NukiBridgeClient({ host: input.host, port: input.port, token: input.token, auth: input.auth, spacingMs: 100, timeoutMs: 8000 });
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
    if (!shared) client.close();
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
  // The bridge only calls http://; an https URL fails the plainHttp check and is not probed here.
  if (!/^http:\/\//i.test(url)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 3000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** Above this clock offset (s) an encrypted or hashed token is refused by the bridge (it checks the timestamp). */
export const CLOCK_WARN_SECONDS = 30;

export interface WebProbeDevice {
  id: string;
  name: string | null;
  type: "lock" | "opener";
  lock: string | null;
}

/** Lists the Nuki Web account's smartlocks (one GET, read-only). */
export async function probeWeb(input: { apiUrl: string; token: string }): Promise<WebProbeDevice[]> {
  const client = new NukiWebClient({ apiUrl: input.apiUrl, token: input.token, timeoutMs: 10_000, retryBackoffMs: 500 });
  try {
    const smartlocks = await client.smartlocks();
    return smartlocks.map((s) => {
      const type = s.type ?? 0;
      return {
        id: deviceIdFromSmartlockId(s.smartlockId),
        name: s.name?.trim() || null,
        type: webDeviceKind(type) as "lock" | "opener",
        lock: s.state?.state === undefined ? null : lockState(type, s.state.state),
      };
    });
  } catch (err) {
    throw toSmartlockError(err);
  } finally {
    client.close();
  }
}

export interface NukiProbeDevice {
  id: string;
  name: string | null;
  type: "lock" | "opener";
  lock: string | null;
  /** Which channels know the device. */
  channels: Array<"bridge" | "web">;
}

/** The answer of POST /smartlocks/nuki/probe (editor pattern: ok, summary, devices, callback, details). */
export interface NukiProbeAnswer {
  ok: true;
  summary: string;
  devices: NukiProbeDevice[];
  callback?: ProbeResult["callback"];
  details: {
    bridge?: ProbeResult["bridge"] & { auth: AuthMode; clockWarning: boolean };
    /** The bridge's callback slots (at most 3): ours marked and redacted, others' as they are. */
    callbacks?: ProbeResult["callbacks"];
    maxCallbacks?: number;
    web?: { ok: true; devices: number } | { ok: false; code: string; message: string };
  };
}

/**
 * Bridge and/or Nuki Web, read-only. With a bridge, a failing Web token is reported in details.web and the
 * bridge answer still stands; without a bridge the Web failure is the answer (thrown).
 */
export async function probeNuki(input: { bridge: ProbeInput | null; web: { apiUrl: string; token: string } | null }): Promise<NukiProbeAnswer> {
  const [bridge, web] = await Promise.all([
    input.bridge ? probeBridge(input.bridge) : Promise.resolve(null),
    input.web
      ? probeWeb(input.web).then(
          (devices) => ({ ok: true as const, devices }),
          (err: unknown) => {
            const error = toSmartlockError(err);
            if (!input.bridge) throw error;
            return { ok: false as const, code: error.code, message: error.message };
          },
        )
      : Promise.resolve(null),
  ]);
  const devices = new Map<string, NukiProbeDevice>();
  for (const d of bridge?.devices ?? []) devices.set(d.id, { id: d.id, name: d.name, type: d.type, lock: d.lock, channels: ["bridge"] });
  if (web?.ok) {
    for (const d of web.devices) {
      const known = devices.get(d.id);
      if (known) {
        known.channels.push("web");
        known.name ??= d.name;
      } else devices.set(d.id, { ...d, channels: ["web"] });
    }
  }
  const list = [...devices.values()];
  const answer: NukiProbeAnswer = { ok: true, summary: summary(bridge, web, list), devices: list, details: {} };
  if (bridge && input.bridge) {
    const offset = bridge.bridge.clockOffsetSeconds;
    answer.details.bridge = {
      ...bridge.bridge,
      auth: input.bridge.auth,
      clockWarning: input.bridge.auth !== "plain" && offset !== null && Math.abs(offset) > CLOCK_WARN_SECONDS,
    };
    answer.details.callbacks = bridge.callbacks;
    answer.details.maxCallbacks = MAX_CALLBACKS;
    answer.callback = bridge.callback;
  }
  if (web) answer.details.web = web.ok ? { ok: true, devices: web.devices.length } : web;
  return answer;
}

function summary(bridge: ProbeResult | null, web: { ok: boolean; devices?: WebProbeDevice[] } | null, devices: NukiProbeDevice[]): string {
  const parts: string[] = [];
  if (bridge) {
    const firmware = bridge.bridge.firmware ? ` ${bridge.bridge.firmware}` : "";
    parts.push(`Nuki ${bridge.bridge.type}${firmware}: ${bridge.devices.length} device${bridge.devices.length === 1 ? "" : "s"}`);
  }
  if (web) parts.push(web.ok ? `Nuki Web: ${web.devices?.length ?? 0} smartlock${web.devices?.length === 1 ? "" : "s"}` : "Nuki Web: failed");
  if (!bridge && !web) parts.push(`${devices.length} devices`);
  return parts.join("; ");
}
