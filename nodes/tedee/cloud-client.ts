/**
 * Tedee cloud API client (research/loqed-tedee.md 2.3): `Authorization: PersonalKey <key>`, answers wrapped in
 * `{ result, success, errorMessages }`. The account allows 700 requests per hour; a 429 carries Retry-After and
 * blocks until then, so after one the client refuses everything (locally, without a request) until that time.
 * Short waits are sat out once; long ones fail fast with `busy`.
 */
import type { z } from "zod";
import { SmartlockError, toSmartlockError } from "../core/errors";
import { HttpClient } from "../core/http-client";
import type { Operation } from "./actions";
import { type Activity, type CloudLock, type OperationStatus, tedeeSchemas } from "./schemas";

export const DEFAULT_CLOUD_URL = "https://api.tedee.com";
/** API version used when cloudUrl has no /api/<version> path (v1.34+ has `deviceState`; older ones are read too). */
export const CLOUD_API_VERSION = "v1.36";

export interface CloudClientOptions {
  key: string;
  cloudUrl?: string;
  timeoutMs?: number;
  /** Gap between requests (default 1000 ms; the budget is 700 per hour per account). */
  spacingMs?: number;
  /** Retry-After up to this long is waited for once (default 15 s); longer ones fail with `busy`. */
  maxWaitMs?: number;
  now?: () => number;
}

/** `https://api.tedee.com` -> `https://api.tedee.com/api/v1.36`; a URL that already names /api/<v> is kept. */
export function cloudBaseUrl(cloudUrl: string | undefined): string {
  const raw = (cloudUrl ?? "").trim() || DEFAULT_CLOUD_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SmartlockError("bad_request", `Tedee cloud URL "${raw}" is not a valid URL`);
  }
  const path = url.pathname.replace(/\/+$/, "");
  const withApi = /\/api\/v[\d.]+$/i.test(path) ? path : `${path}/api/${CLOUD_API_VERSION}`;
  return `${url.origin}${withApi}`;
}

export class TedeeCloudClient {
  private readonly http: HttpClient;
  private readonly now: () => number;
  private blockedUntil = 0;

  constructor(private readonly options: CloudClientOptions) {
    this.now = options.now ?? Date.now;
    this.http = new HttpClient({
      baseUrl: cloudBaseUrl(options.cloudUrl),
      timeoutMs: options.timeoutMs ?? 15_000,
      spacingMs: options.spacingMs ?? 1000,
      // 429 is handled here (Retry-After may be an hour); only transient server trouble is retried by the queue.
      retry: { attempts: 1, backoffMs: 2000, retryOn: (status) => status === 503 || status === 502 },
      authorize: () => ({ headers: { authorization: `PersonalKey ${options.key}` } }),
      label: "Tedee cloud",
    });
  }

  get stats(): { requests: number; retries: number; failures: number } {
    return this.http.stats;
  }

  /** Until when (ms) the cloud said not to call again; 0 = not blocked. */
  get rateLimitedUntil(): number {
    return this.blockedUntil > this.now() ? this.blockedUntil : 0;
  }

  locks(): Promise<CloudLock[]> {
    return this.send("GET", "/my/lock", tedeeSchemas().cloudLockListSchema);
  }

  lock(deviceId: number): Promise<CloudLock> {
    return this.send("GET", `/my/lock/${deviceId}`, tedeeSchemas().cloudLockSchema);
  }

  async operate(deviceId: number, operation: Operation, mode?: number): Promise<string> {
    const started = await this.send("POST", `/my/lock/${deviceId}/operation/${operation}`, tedeeSchemas().operationStartedSchema, {
      ...(mode === undefined ? {} : { query: { mode } }),
      body: {},
      priority: "high",
    });
    return started.operationId;
  }

  operation(operationId: string): Promise<OperationStatus> {
    return this.send("GET", `/my/device/operation/${encodeURIComponent(operationId)}`, tedeeSchemas().operationStatusSchema);
  }

  /** Newest first. */
  activity(deviceId: number, elements = 20): Promise<Activity[]> {
    return this.send("GET", "/my/deviceactivity", tedeeSchemas().activityListSchema, { query: { deviceId, elements } });
  }

  close(): void {
    this.http.close();
  }

  private async send<S extends z.ZodType>(
    method: "GET" | "POST",
    path: string,
    schema: S,
    extra: { query?: Record<string, number>; body?: unknown; priority?: "high" | "normal" } = {},
  ): Promise<z.infer<S>> {
    for (let attempt = 0; ; attempt++) {
      this.checkBlocked();
      let body: unknown;
      try {
        ({ body } = await this.http.request({
          method,
          path,
          ...(extra.query ? { query: extra.query } : {}),
          ...(extra.body === undefined ? {} : { body: extra.body }),
          priority: extra.priority ?? "normal",
          // Never repeat an operation on a server error: it may have been carried out.
          ...(method === "POST" ? { retry: false as const } : {}),
        }));
      } catch (err) {
        const error = toSmartlockError(err);
        if (error.status !== 429) throw this.explain(error);
        const wait = error.retryAfterMs ?? 60_000;
        this.blockedUntil = Math.max(this.blockedUntil, this.now() + wait);
        if (attempt === 0 && wait <= (this.options.maxWaitMs ?? 15_000)) {
          const until = this.now() + wait;
          await delay(wait);
          // A timer may fire a millisecond before the wall clock says it is due: without this, the retry would find
          // the block it is waiting out still in place and give up.
          const rest = until - this.now();
          if (rest >= 0) await delay(rest + 1);
          continue;
        }
        this.checkBlocked();
        throw error;
      }
      const envelope = tedeeSchemas().cloudEnvelopeSchema.safeParse(body);
      const result = envelope.success && "result" in envelope.data ? envelope.data.result : body;
      if (envelope.success && envelope.data.success === false) {
        throw new SmartlockError("rejected", `Tedee cloud refused ${method} ${path}: ${messages(envelope.data.errorMessages)}`);
      }
      const parsed = schema.safeParse(result);
      if (!parsed.success) throw new SmartlockError("bad_request", `Tedee cloud sent an unexpected answer to ${method} ${path}`);
      return parsed.data;
    }
  }

  private checkBlocked(): void {
    const until = this.rateLimitedUntil;
    if (until) {
      throw new SmartlockError("busy", `Tedee cloud rate limit reached (700 requests per hour): next request allowed at ${new Date(until).toISOString()}`, {
        retryAfterMs: until - this.now(),
      });
    }
  }

  private explain(err: SmartlockError): SmartlockError {
    if (err.code !== "unauthorized") return err;
    return new SmartlockError(
      "unauthorized",
      "Tedee cloud refused the personal access key (401/403): check it at portal.tedee.com › Personal access keys (scopes Device.Read, Lock.Operate, DeviceActivity.Read) and that it has not expired",
      { ...(err.status === undefined ? {} : { status: err.status }), cause: err },
    );
  }
}

function messages(list: unknown[] | undefined): string {
  const text = (list ?? []).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join("; ");
  return text.slice(0, 200) || "no reason given";
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
