/**
 * `callbackSource: "bridge"`: bridge callbacks are accepted only from the bridge's own address. The bridge
 * cannot sign its callbacks (research/nuki.md 1.6), so on a shared LAN anyone who learns the callback URL could
 * post fake states; the route secret is the first guard, this is a second one. The configured host is resolved
 * to its addresses (a name may be used) and compared with the socket peer; proxy headers are not trusted.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";

export type CallbackSource = "any" | "bridge";

export function isCallbackSource(value: unknown): value is CallbackSource {
  return value === "any" || value === "bridge";
}

export type Resolver = (host: string) => Promise<string[]>;

/** Every address the name resolves to (A and AAAA), as the system resolver (hosts file, DNS) sees it. */
export const systemResolver: Resolver = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** One spelling per address: no brackets, no zone, IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as plain IPv4, lower case. */
export function normalizeAddress(address: string | undefined): string {
  let value = (address ?? "").trim().toLowerCase().replace(/^\[|\]$/g, "");
  const zone = value.indexOf("%");
  if (zone >= 0) value = value.slice(0, zone);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(value);
  if (mapped) return mapped[1] as string;
  return value;
}

export interface SourceCheckOptions {
  resolver?: Resolver;
  /** How long a resolution is trusted (ms, default 5 min). */
  ttlMs?: number;
  /** A refused peer triggers a fresh resolution at most this often (ms, default 30 s): the bridge may have got a new DHCP lease. */
  retryMs?: number;
  now?: () => number;
}

export class CallbackSourceCheck {
  private readonly resolver: Resolver;
  private readonly ttlMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private addresses: Set<string> | null = null;
  private resolvedAt = 0;
  private pending: Promise<Set<string>> | null = null;
  /** The last resolution failure (for the warning), null when it worked. */
  lastError: string | null = null;

  constructor(
    private readonly host: string,
    options: SourceCheckOptions = {},
  ) {
    this.resolver = options.resolver ?? systemResolver;
    this.ttlMs = options.ttlMs ?? 300_000;
    this.retryMs = options.retryMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** Whether a request from `remoteAddress` comes from the bridge. Never rejects. */
  async allows(remoteAddress: string | undefined): Promise<boolean> {
    const peer = normalizeAddress(remoteAddress);
    if (!peer) return false;
    if (!this.addresses || this.now() - this.resolvedAt >= this.ttlMs) return (await this.resolve()).has(peer);
    if (this.addresses.has(peer)) return true;
    if (this.now() - this.resolvedAt >= this.retryMs) return (await this.resolve()).has(peer);
    return false;
  }

  private resolve(): Promise<Set<string>> {
    this.pending ??= this.lookup().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async lookup(): Promise<Set<string>> {
    const bare = normalizeAddress(this.host);
    let found: string[];
    if (isIP(bare)) found = [bare];
    else {
      try {
        found = await this.resolver(bare);
        this.lastError = null;
      } catch (err) {
        // Unresolvable now: refuse (the safe side) and keep what worked before, if anything.
        this.lastError = err instanceof Error ? err.message : String(err);
        found = this.addresses ? [...this.addresses] : [];
      }
    }
    this.addresses = new Set(found.map(normalizeAddress).filter(Boolean));
    this.resolvedAt = this.now();
    return this.addresses;
  }
}
