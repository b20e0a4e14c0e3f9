/**
 * "Test connection" and device discovery for the Tedee editor. Read-only: with a bridge it reads `GET /bridge`,
 * `GET /lock` and `GET /callback` (three requests through the same serial client rules a config node uses) and
 * checks the callback URL that would be registered; cloud only it lists the locks with one `GET /my/lock`.
 * Nothing is registered, changed or operated. With a bridge and a cloud key, the key is checked too (one cloud
 * request; its failure is reported, not fatal, because the cloud only supplies actors then).
 */
import http from "node:http";
import { isIP } from "node:net";
import { redactUrl } from "../core/callback-url";
import { type ErrorCode, SmartlockError, toSmartlockError } from "../core/errors";
import type { AuthMode } from "./auth";
import { TedeeBridgeClient } from "./bridge-client";
import { TedeeCloudClient } from "./cloud-client";
import { MAX_CALLBACK_URL_LENGTH } from "./connection";
import { cloudLockReport, lockDetailsReport } from "./normalize";
import type { CallbackEntry } from "./schemas";

export interface TedeeProbeInput {
  bridge: { host: string; port: number; token: string; auth: AuthMode } | null;
  cloud: { key: string; cloudUrl?: string } | null;
  /**
   * The deployed config node's clients when it talks to the same bridge / cloud with the same secrets: the probe
   * then queues behind the running connection (one request at a time per bridge, one increasing key timestamp)
   * instead of racing it. They are not closed here.
   */
  bridgeClient?: TedeeBridgeClient | null;
  cloudClient?: TedeeCloudClient | null;
  /** The callback URL this config would register; null without httpNode. May reject (the reason is reported). */
  callbackUrl: () => Promise<string | null>;
  /** Recognises our own registrations (same route secret), current or stale. */
  ownsCallback: (url: string) => boolean;
  /** The secret header our registration must carry. */
  callbackHeader: { name: string; value: string };
  /** Gap between bridge requests of a client made here (default 1000 ms, Tedee's guidance). */
  spacingMs?: number;
  cloudSpacingMs?: number;
  timeoutMs?: number;
}

export interface ProbeDevice {
  id: string;
  name: string | null;
  type: "lock";
  /** Tedee device type (2 Lock PRO, 4 Lock GO, ...), as reported. */
  deviceType: number | null;
  lock: string | null;
  online: boolean | null;
  battery: number | null;
}

export interface ProbeCallback {
  /** Redacted: the route secret never leaves the runtime. */
  url: string | null;
  /** Listed at the bridge with our secret header (what the config node would leave as it is). */
  registered: boolean;
  /** Listed at the bridge, but with another header or method (the config node would fix it). */
  listedWithOtherHeader: boolean;
  plainHttp: boolean;
  shortEnough: boolean;
  maxLength: number;
  notLoopback: boolean;
  /** Whether anything answers HTTP at the URL from this host; null when there is no URL. */
  reachable: boolean | null;
  /** Why no URL could be built (e.g. only a loopback route to the bridge). */
  error?: string;
}

export interface ProbeResult {
  ok: true;
  summary: string;
  devices: ProbeDevice[];
  callback?: ProbeCallback;
  details: {
    channel: "bridge" | "cloud";
    bridge?: {
      name: string | null;
      serialNumber: string | null;
      firmware: string | null;
      cloudConnected: boolean | null;
      currentTime: string | null;
      /** Bridge clock minus this host's clock; an encrypted token carries this host's time. */
      clockOffsetSeconds: number | null;
    };
    callbacks?: { id: number; url: string; ours: boolean }[];
    cloud?: { ok: true; devices: number } | { ok: false; code: ErrorCode; message: string };
  };
}

export async function probeTedee(input: TedeeProbeInput): Promise<ProbeResult> {
  if (!input.bridge && !input.cloud) {
    throw new SmartlockError("bad_request", "Enter a bridge host and API token, or a cloud key");
  }
  const made: Array<{ close(): void }> = [];
  const bridge = input.bridge ? (input.bridgeClient ?? track(made, newBridgeClient(input))) : null;
  const cloud = input.cloud ? (input.cloudClient ?? track(made, newCloudClient(input))) : null;
  try {
    if (bridge && input.bridge) return await probeBridge(input, input.bridge.host, bridge, cloud);
    return await probeCloud(cloud as TedeeCloudClient);
  } catch (err) {
    throw toSmartlockError(err);
  } finally {
    for (const client of made) client.close();
  }
}

async function probeBridge(input: TedeeProbeInput, host: string, bridge: TedeeBridgeClient, cloud: TedeeCloudClient | null): Promise<ProbeResult> {
  const info = await bridge.bridge();
  const locks = await bridge.locks();
  const callbacks = await bridge.callbacks();
  const bridgeMs = info.currentTime ? Date.parse(info.currentTime) : NaN;
  const devices = locks.map((lock): ProbeDevice => {
    const { report } = lockDetailsReport(lock);
    return {
      id: report.device.id,
      name: report.device.name,
      type: "lock",
      deviceType: lock.type ?? null,
      lock: report.lock ?? null,
      online: report.online ?? null,
      battery: report.battery?.level ?? null,
    };
  });
  const callback = await checkCallback(input, host, callbacks);
  const details: ProbeResult["details"] = {
    channel: "bridge",
    bridge: {
      name: info.name?.trim() || null,
      serialNumber: info.serialNumber?.trim() || null,
      firmware: info.version?.trim() || null,
      cloudConnected: info.isConnected ?? null,
      currentTime: info.currentTime ?? null,
      clockOffsetSeconds: Number.isFinite(bridgeMs) ? Math.round((bridgeMs - Date.now()) / 1000) : null,
    },
    callbacks: callbacks.map((c) => {
      const ours = input.ownsCallback(c.url);
      return { id: c.id, url: ours ? redactUrl(c.url) : withoutQuery(c.url), ours };
    }),
  };
  if (cloud) {
    try {
      details.cloud = { ok: true, devices: (await cloud.locks()).length };
    } catch (err) {
      const error = toSmartlockError(err);
      details.cloud = { ok: false, code: error.code, message: error.message };
    }
  }
  const name = details.bridge?.name ?? "Tedee Bridge";
  const firmware = details.bridge?.firmware ? `, firmware ${details.bridge.firmware}` : "";
  return { ok: true, summary: `${name}${firmware}: ${count(devices.length)}`, devices, callback, details };
}

async function probeCloud(cloud: TedeeCloudClient): Promise<ProbeResult> {
  const locks = await cloud.locks();
  const devices = locks.map((lock): ProbeDevice => {
    const { report } = cloudLockReport(lock);
    return {
      id: report.device.id,
      name: report.device.name,
      type: "lock",
      deviceType: lock.type ?? null,
      lock: report.lock ?? null,
      online: report.online ?? null,
      battery: report.battery?.level ?? null,
    };
  });
  return { ok: true, summary: `Tedee cloud: ${count(devices.length)}`, devices, details: { channel: "cloud", cloud: { ok: true, devices: devices.length } } };
}

async function checkCallback(input: TedeeProbeInput, bridgeHost: string, callbacks: CallbackEntry[]): Promise<ProbeCallback> {
  let url: string | null = null;
  let error: string | undefined;
  try {
    url = await input.callbackUrl();
    if (url === null) error = "httpNodeRoot is false in settings.js: the bridge cannot reach Node-RED";
  } catch (err) {
    error = toSmartlockError(err).message;
  }
  const listed = url === null ? [] : callbacks.filter((c) => c.url === url);
  const { name, value } = input.callbackHeader;
  const withHeader = listed.some(
    (c) => (c.method ?? "POST") === "POST" && (c.headers ?? []).some((h) => Object.entries(h).some(([k, v]) => k.toLowerCase() === name.toLowerCase() && v === value)),
  );
  let hostname = "";
  try {
    hostname = url ? new URL(url).hostname : "";
  } catch {
    hostname = "";
  }
  return {
    url: url ? redactUrl(url) : null,
    registered: withHeader,
    listedWithOtherHeader: listed.length > 0 && !withHeader,
    plainHttp: url !== null && /^http:\/\//i.test(url),
    shortEnough: url !== null && url.length <= MAX_CALLBACK_URL_LENGTH,
    maxLength: MAX_CALLBACK_URL_LENGTH,
    // A bridge simulator on loopback may call a loopback URL; a real bridge on the LAN cannot.
    notLoopback: url !== null && (isLoopback(bridgeHost) || !isLoopback(hostname)),
    reachable: url === null ? null : await answers(url),
    ...(error === undefined ? {} : { error }),
  };
}

function newBridgeClient(input: TedeeProbeInput): TedeeBridgeClient {
  const b = input.bridge as NonNullable<TedeeProbeInput["bridge"]>;
  return new TedeeBridgeClient({ host: b.host, port: b.port, token: b.token, auth: b.auth, spacingMs: input.spacingMs ?? 1000, timeoutMs: input.timeoutMs ?? 8000 });
}

function newCloudClient(input: TedeeProbeInput): TedeeCloudClient {
  const c = input.cloud as NonNullable<TedeeProbeInput["cloud"]>;
  return new TedeeCloudClient({
    key: c.key,
    ...(c.cloudUrl ? { cloudUrl: c.cloudUrl } : {}),
    spacingMs: input.cloudSpacingMs ?? 1000,
    timeoutMs: input.timeoutMs ?? 8000,
    // An editor click should not sit out a rate limit: fail at once with `busy` and the time.
    maxWaitMs: 0,
  });
}

function track<T extends { close(): void }>(list: Array<{ close(): void }>, client: T): T {
  list.push(client);
  return client;
}

function count(n: number): string {
  return n === 1 ? "1 lock" : `${n} locks`;
}

/** Other applications' callback URLs are shown without their query string, which may carry their secrets. */
function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut < 0 ? url : `${url.slice(0, cut)}?…`;
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  return bare === "::1";
}

/** Whether anything answers HTTP at the callback URL from this host (a deployed route answers GET with 405). */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      req = http.get(url, { timeout: 3000 }, (res) => {
        res.resume();
        resolve(true);
      });
    } catch {
      resolve(false);
      return;
    }
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}
