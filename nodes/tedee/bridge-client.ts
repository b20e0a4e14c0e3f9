/**
 * Tedee Bridge API client (research/loqed-tedee.md 2.1). One request at a time per bridge with a gap between
 * requests (Tedee: "1 request per second should be the max"), actions ahead of reads, and an `api_token` made
 * fresh for every attempt: an encrypted key is accepted once, with a timestamp above the previous one.
 */
import type { z } from "zod";
import { type ErrorCode, SmartlockError } from "../core/errors";
import { HttpClient } from "../core/http-client";
import type { Operation } from "./actions";
import { type AuthMode, BridgeAuth } from "./auth";
import { type BridgeDetails, type CallbackEntry, type LockDetails, tedeeSchemas } from "./schemas";

export interface BridgeClientOptions {
  host: string;
  port: number;
  token: string;
  auth: AuthMode;
  timeoutMs?: number;
  /** Gap between two requests (default 1000 ms, the vendor's guidance). */
  spacingMs?: number;
  retryBackoffMs?: number;
}

export interface CallbackSpec {
  url: string;
  /** Single-key objects, as the bridge wants them: [{ "X-Name": "value" }]. */
  headers: Array<Record<string, string>>;
}

/**
 * 405 "Device is disconnected" = the lock is offline; 406 "BLE API error" = the lock refused or failed (e.g. not
 * calibrated for pulling); 403 on unlock = "Invalid param" (a mode this firmware does not know), not auth.
 */
function bridgeErrorCode(status: number, body: unknown): ErrorCode | undefined {
  if (status === 405) return "offline";
  if (status === 406) return "rejected";
  if (status === 403 && /invalid param/i.test(JSON.stringify(body ?? ""))) return "bad_request";
  return undefined;
}

export class TedeeBridgeClient {
  readonly auth: BridgeAuth;
  private readonly http: HttpClient;

  constructor(private readonly options: BridgeClientOptions) {
    this.auth = new BridgeAuth(options.auth, options.token);
    const host = options.host.includes(":") ? `[${options.host}]` : options.host;
    this.http = new HttpClient({
      baseUrl: `http://${host}:${options.port}/v1.0`,
      timeoutMs: options.timeoutMs ?? 10_000,
      spacingMs: options.spacingMs ?? 1000,
      // 409 = "internal storage of Tedee Bridge is busy" (callbacks); 401 once more with a fresh key, because a
      // key can be refused for a timestamp race the bridge never processed (research 3.5).
      retry: {
        attempts: 2,
        backoffMs: options.retryBackoffMs ?? 1000,
        retryOn: (status) => status === 409 || status === 503 || status === 401,
      },
      authorize: () => ({ headers: this.auth.headers() }),
      mapError: bridgeErrorCode,
      label: "Tedee Bridge",
    });
  }

  get stats(): { requests: number; retries: number; failures: number } {
    return this.http.stats;
  }

  bridge(): Promise<BridgeDetails> {
    return this.send("GET", "/bridge", tedeeSchemas().bridgeDetailsSchema);
  }

  locks(): Promise<LockDetails[]> {
    return this.send("GET", "/lock", tedeeSchemas().lockListSchema);
  }

  lock(deviceId: number): Promise<LockDetails> {
    return this.send("GET", `/lock/${deviceId}`, tedeeSchemas().lockDetailsSchema);
  }

  callbacks(): Promise<CallbackEntry[]> {
    return this.send("GET", "/callback", tedeeSchemas().callbackListSchema);
  }

  /** Adds a POST callback; returns its id, or null on old firmware that answers 204 without one. */
  async addCallback(spec: CallbackSpec): Promise<number | null> {
    const answer = await this.send("POST", "/callback", tedeeSchemas().callbackAddedSchema, { body: { url: spec.url, method: "POST", headers: spec.headers } });
    return answer && typeof answer === "object" ? answer.id : null;
  }

  async updateCallback(id: number, spec: CallbackSpec): Promise<void> {
    await this.send("PUT", `/callback/${id}`, tedeeSchemas().callbackAddedSchema, { body: { url: spec.url, method: "POST", headers: spec.headers } });
  }

  async removeCallback(id: number): Promise<void> {
    await this.send("DELETE", `/callback/${id}`, tedeeSchemas().callbackAddedSchema);
  }

  /**
   * Starts an operation (204 = started, not done). The unlock mode goes in a `mode` header as the spec says and
   * in the query as aiotedee (Home Assistant) sends it, because deployed firmware is only known to read one of
   * them and the sources disagree which (research 2.1.2). No retry: a lost answer may hide a moving lock.
   */
  async operate(deviceId: number, operation: Operation, mode?: number): Promise<void> {
    await this.send("POST", `/lock/${deviceId}/${operation}`, tedeeSchemas().callbackAddedSchema, {
      ...(mode === undefined ? {} : { query: { mode }, headers: { mode: String(mode) } }),
      body: Buffer.alloc(0),
      priority: "high",
      retry: { attempts: 2, retryOn: (status) => status === 401 || status === 409 },
    });
  }

  close(): void {
    this.http.close();
  }

  private async send<S extends z.ZodType>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    schema: S,
    extra: {
      body?: unknown;
      query?: Record<string, number>;
      headers?: Record<string, string>;
      priority?: "high" | "normal";
      retry?: { attempts: number; retryOn: (status: number) => boolean };
    } = {},
  ): Promise<z.infer<S>> {
    let body: unknown;
    try {
      ({ body } = await this.http.request({
        method,
        path,
        ...(extra.query ? { query: extra.query } : {}),
        ...(extra.headers ? { headers: extra.headers } : {}),
        ...(extra.body === undefined ? (method === "POST" || method === "PUT" ? { body: Buffer.alloc(0) } : {}) : { body: extra.body }),
        priority: extra.priority ?? "normal",
        ...(extra.retry ? { retry: extra.retry } : {}),
      }));
    } catch (err) {
      throw this.explain(err);
    }
    const parsed = schema.safeParse(body === "" ? undefined : body);
    if (!parsed.success) throw new SmartlockError("bad_request", `Tedee Bridge sent an unexpected answer to ${method} ${path}`);
    return parsed.data;
  }

  /** A 401 with the encrypted key is usually the bridge's clock or missing internet at its boot: say so. */
  private explain(err: unknown): unknown {
    if (!(err instanceof SmartlockError) || err.code !== "unauthorized") return err;
    const hint =
      this.options.auth === "plain"
        ? "check the token and that \"Encrypted token\" is off in the Tedee app (Bridge › Settings › API)"
        : "check the token; the encrypted key carries this host's time, so check both clocks. A bridge that booted without internet refuses encrypted keys until it is restarted online (plain works)";
    return new SmartlockError("unauthorized", `Tedee Bridge refused the API token (401): ${hint} (local time ${new Date().toISOString()})`, {
      ...(err.status === undefined ? {} : { status: err.status }),
      cause: err,
    });
  }
}
