/**
 * Nuki Bridge HTTP API client (research/nuki.md 1.4). All requests go through one serial queue: the bridge
 * handles one request at a time and answers 503 to a second one. Auth parameters are made fresh for every
 * attempt, because the bridge refuses a (ts, rnr) pair or ctoken it has already seen.
 */
import type { z } from "zod";
import { type ErrorCode, SmartlockError } from "../core/errors";
import { HttpClient } from "../core/http-client";
import { type AuthMode, BridgeAuth } from "./auth";
import { type BridgeInfo, type CallbackEntry, type ListEntry, bridgeSchemas } from "./schemas";

export interface BridgeClientOptions {
  host: string;
  port: number;
  token: string;
  auth: AuthMode;
  timeoutMs?: number;
  /** Gap between two requests; the bridge chokes on back-to-back calls (nuki-bridge-api uses 250 ms). */
  spacingMs?: number;
  retryBackoffMs?: number;
}

/** Bridge answers 503 both for "another request already running" (busy) and "device is offline". */
function bridgeErrorCode(status: number, body: unknown): ErrorCode | undefined {
  const text = typeof body === "string" ? body : JSON.stringify(body ?? "");
  if (status === 503 && /offline/i.test(text)) return "offline";
  return undefined;
}

export class NukiBridgeClient {
  readonly auth: BridgeAuth;
  private readonly http: HttpClient;
  /** Bridge clock minus ours at the last /info, for clock-skew diagnostics. */
  private bridgeTime: { bridge: string; localMs: number } | null = null;

  constructor(private readonly options: BridgeClientOptions) {
    this.auth = new BridgeAuth(options.auth, options.token);
    this.http = new HttpClient({
      baseUrl: `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}`,
      timeoutMs: options.timeoutMs ?? 10_000,
      spacingMs: options.spacingMs ?? 250,
      retry: { attempts: 2, backoffMs: options.retryBackoffMs ?? 500, retryOn: (status) => status === 503 },
      authorize: () => ({ query: this.auth.params() }),
      mapError: bridgeErrorCode,
      label: "Nuki Bridge",
    });
  }

  get stats(): { requests: number; retries: number; failures: number } {
    return this.http.stats;
  }

  async info(): Promise<BridgeInfo> {
    const info = await this.get("/info", {}, bridgeSchemas().infoSchema);
    if (info.currentTime) {
      this.bridgeTime = { bridge: info.currentTime, localMs: Date.now() };
      const bridgeMs = Date.parse(info.currentTime);
      // Hashed/encrypted tokens carry our time; follow the bridge's clock so drift does not lock us out.
      if (Number.isFinite(bridgeMs) && Math.abs(bridgeMs - Date.now()) > 30_000) this.auth.clockOffsetMs = bridgeMs - Date.now();
    }
    return info;
  }

  list(): Promise<ListEntry[]> {
    return this.get("/list", {}, bridgeSchemas().listSchema);
  }

  async callbacks(): Promise<CallbackEntry[]> {
    return (await this.get("/callback/list", {}, bridgeSchemas().callbackListSchema)).callbacks;
  }

  async addCallback(url: string): Promise<void> {
    const answer = await this.get("/callback/add", { url }, bridgeSchemas().successSchema);
    if (!answer.success) throw new SmartlockError("rejected", `Nuki Bridge refused the callback: ${answer.message ?? "no reason given"}`);
  }

  async removeCallback(id: number): Promise<void> {
    const answer = await this.get("/callback/remove", { id }, bridgeSchemas().successSchema);
    if (!answer.success) throw new SmartlockError("rejected", `Nuki Bridge did not remove callback ${id}: ${answer.message ?? "no reason given"}`);
  }

  /** Sends a lock action without waiting for the motor (nowait=1), ahead of queued reads. */
  async lockAction(nukiId: number, deviceType: number, action: number): Promise<{ batteryCritical?: boolean }> {
    const answer = await this.get(
      "/lockAction",
      { nukiId, deviceType, action, nowait: 1 },
      bridgeSchemas().successSchema,
      "high",
    );
    if (!answer.success) throw new SmartlockError("rejected", "Nuki Bridge answered success:false to the lock action");
    return answer.batteryCritical === undefined ? {} : { batteryCritical: answer.batteryCritical };
  }

  close(): void {
    this.http.close();
  }

  private async get<S extends z.ZodType>(
    path: string,
    query: Record<string, string | number>,
    schema: S,
    priority: "high" | "normal" = "normal",
  ): Promise<z.infer<S>> {
    let body: unknown;
    try {
      ({ body } = await this.http.request({ path, query, priority }));
    } catch (err) {
      throw this.explain(err);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new SmartlockError("bad_request", `Nuki Bridge sent an unexpected answer to ${path}`);
    return parsed.data;
  }

  /** 401 with a time-based token is usually clock skew: say so, with both clocks. */
  private explain(err: unknown): unknown {
    if (!(err instanceof SmartlockError) || err.code !== "unauthorized") return err;
    if (this.options.auth === "plain") {
      return new SmartlockError("unauthorized", "Nuki Bridge refused the API token (401): check the token in the config node", { status: err.status, cause: err });
    }
    const clock = this.bridgeTime
      ? `the bridge clock read ${this.bridgeTime.bridge} at ${new Date(this.bridgeTime.localMs).toISOString()} local time`
      : "the bridge clock could not be read";
    return new SmartlockError(
      "unauthorized",
      `Nuki Bridge refused the ${this.options.auth} token (401): check the token, and the clocks (${clock}; local time now ${new Date().toISOString()}; the bridge accepts 60 s of difference). Bridges without internet time drift; firmware before 2.14.0/1.22.1 has no encrypted tokens (use "hashed").`,
      { status: err.status, cause: err },
    );
  }
}
