/**
 * Callback URLs that devices POST to: `{base}/smartlocks/{vendor}/{routeSecret}/{channel}`. The route secret is
 * the only thing that keeps strangers on the LAN from injecting events into flows (several bridges cannot sign
 * callbacks), so it is long, random and kept out of logs.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { SmartlockError } from "./errors";
import { normaliseRoot, routePath } from "./route-registry";

/** 18 random bytes = 144 bits, 24 URL-safe characters without padding. */
export function generateRouteSecret(): string {
  return randomBytes(18).toString("base64url");
}

/** base64url alphabet and at least 22 characters (≥ 128 bits). */
export function isValidRouteSecret(value: unknown): value is string {
  return typeof value === "string" && /^[A-Za-z0-9_-]{22,}$/.test(value);
}

/**
 * The local address this host uses to reach the device. A connected UDP socket makes the OS pick the route and
 * source address; connect() on UDP sends no packet.
 */
export async function detectLocalAddress(deviceHost: string, devicePort: number): Promise<string> {
  return (await detectRoute(deviceHost, devicePort)).local;
}

export interface CallbackUrlOptions {
  /** Configured base at which the device reaches Node-RED's HTTP nodes, path prefix included; empty = detect. */
  callbackUrl?: string;
  deviceHost: string;
  devicePort: number;
  nodeRedPort: number;
  httpNodeRoot: string;
  vendor: string;
  secret: string;
  channel: string;
}

export async function buildCallbackUrl(opts: CallbackUrlOptions): Promise<string> {
  if (!isValidRouteSecret(opts.secret)) {
    throw new SmartlockError("bad_request", "The route secret must be at least 22 URL-safe characters");
  }
  const route = routePath("/", opts.vendor, opts.secret, opts.channel);
  const configured = opts.callbackUrl?.trim() ?? "";
  if (configured !== "") return `${configuredBase(configured)}${route}`;

  const { local, remote } = await detectRoute(opts.deviceHost, opts.devicePort);
  if (isLoopback(local) && !isLoopback(remote)) {
    throw new SmartlockError(
      "bad_request",
      `This host reaches ${opts.deviceHost} only through a loopback address, which the device cannot call back; ` +
        "set the callback URL in the config node to an address the device can reach",
    );
  }
  const host = isIP(local) === 6 ? `[${local}]` : local;
  const root = normaliseRoot(opts.httpNodeRoot).replace(/\/$/, "");
  return `http://${host}:${opts.nodeRedPort}${root}${route}`;
}

/** Hides the route secret, the segment after /smartlocks/{vendor}/, for logs and status texts. */
export function redactUrl(url: string): string {
  // Lookbehind, so every segment that follows "/smartlocks/{x}/" is redacted, also when the configured base
  // path itself contains "/smartlocks/..." (a consuming match would skip past the real secret).
  return url.replace(/(?<=\/smartlocks\/[^/?#]+\/)[^/?#]+/g, "***");
}

function configuredBase(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SmartlockError("bad_request", `Callback URL "${value}" is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new SmartlockError("bad_request", `Callback URL must start with http:// or https://, got "${value}"`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw new SmartlockError("bad_request", "Callback URL must not contain a query string or fragment");
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

async function detectRoute(deviceHost: string, devicePort: number): Promise<{ local: string; remote: string }> {
  if (!Number.isInteger(devicePort) || devicePort < 1 || devicePort > 65535) {
    throw new SmartlockError("bad_request", `Invalid device port ${devicePort}`);
  }
  const host = deviceHost.replace(/^\[(.*)\]$/, "$1");
  let remote: { address: string; family: number };
  try {
    remote = await lookup(host);
  } catch (error) {
    throw new SmartlockError("unreachable", `Cannot resolve device host "${deviceHost}"`, { cause: error });
  }
  const socket = dgram.createSocket(remote.family === 6 ? "udp6" : "udp4");
  try {
    const local = await new Promise<string>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(devicePort, remote.address, () => resolve(socket.address().address));
    });
    return { local: plainAddress(local), remote: plainAddress(remote.address) };
  } catch (error) {
    throw new SmartlockError("unreachable", `No route from this host to ${deviceHost}`, { cause: error });
  } finally {
    try {
      socket.close();
    } catch {
      // already closed by the failed connect
    }
  }
}

/**
 * Drops the zone id of link-local IPv6 addresses (meaningless to the device) and unwraps IPv4-mapped addresses,
 * so the URL carries an address the device can use.
 */
function plainAddress(address: string): string {
  const withoutZone = address.replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(withoutZone);
  return mapped ? mapped[1]! : withoutZone;
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1" || address === "0:0:0:0:0:0:0:1";
}
