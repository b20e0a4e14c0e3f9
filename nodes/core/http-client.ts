/**
 * HTTP client for one device (a bridge or a controller). Local smart-lock bridges are small embedded servers that
 * misbehave when they get more than one request at a time, so every client is a strictly serial queue: one request
 * in flight, an optional gap between requests, actions ahead of reads, retries before the queue moves on.
 *
 * node:http/node:https are used directly (not fetch) so that TLS pinning options and raw bodies stay under control.
 */
import http from "node:http";
import https from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { SmartlockError, type ErrorCode } from "./errors";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE" | "PATCH";

/** Auth parts for one attempt. Vendors forbid reusing timestamps/nonces, so this is computed per attempt. */
export interface Authorization {
  query?: Record<string, string>;
  headers?: Record<string, string>;
}
export type Authorizer = (attempt: number) => Authorization;

export interface RetryOptions {
  /** Extra attempts after the first one (default 2). */
  attempts?: number;
  /** Delay before the first retry, doubled on each further retry (default 500). */
  backoffMs?: number;
  /** Upper bound of the doubled backoff (default 8000). */
  maxBackoffMs?: number;
  /** Upper bound for a device's Retry-After header (default: maxBackoffMs). */
  maxRetryAfterMs?: number;
  /** Which HTTP statuses are worth another attempt (default 409, 429, 503). */
  retryOn?: (status: number) => boolean;
}

export interface TlsOptions {
  ca?: https.RequestOptions["ca"];
  rejectUnauthorized?: boolean;
  checkServerIdentity?: https.RequestOptions["checkServerIdentity"];
}

export interface HttpClientOptions {
  baseUrl: string;
  /** Per attempt, from sending until the whole answer is in (default 10000). */
  timeoutMs?: number;
  /** Minimum gap between the end of one request and the start of the next, retries included (default 0). */
  spacingMs?: number;
  retry?: RetryOptions;
  tls?: TlsOptions;
  authorize?: Authorizer;
  /** Vendor override of the status → error code mapping; `undefined` falls back to the default mapping. */
  mapError?: (status: number, body: unknown) => ErrorCode | undefined;
  /** Names the device in error messages (default: host:port of baseUrl). */
  label?: string;
}

export interface HttpRequest {
  method?: HttpMethod;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** Buffer and string are sent as they are; anything else is JSON-encoded. */
  body?: unknown;
  timeoutMs?: number;
  /** "high" (actions) goes ahead of queued "normal" requests (reads); it never preempts the one in flight. */
  priority?: "high" | "normal";
  /** `false` = a single attempt; an object overrides the client's retry options for this request. */
  retry?: false | RetryOptions;
  /** Overrides the client's authorize option for this request. */
  authorize?: Authorizer;
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: IncomingHttpHeaders;
  /** JSON-parsed when the text parses as JSON, whatever the content-type; otherwise the text. */
  body: T;
  text: string;
}

export interface HttpClientStats {
  /** request() calls that were sent to the device (retries not counted). */
  requests: number;
  /** Extra attempts made because of a retryable answer or a connection that could not be opened. */
  retries: number;
  /** request() calls that ended with an error. */
  failures: number;
}

interface QueueItem {
  req: HttpRequest;
  seq: number;
  resolve: (value: HttpResponse<unknown>) => void;
  reject: (error: unknown) => void;
}

type AttemptOutcome =
  | { kind: "response"; response: HttpResponse<unknown> }
  | { kind: "error"; error: SmartlockError; retryable: boolean };

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_ATTEMPTS = 2;
const DEFAULT_BACKOFF_MS = 500;
const DEFAULT_MAX_BACKOFF_MS = 8_000;
const defaultRetryOn = (status: number): boolean => status === 503 || status === 429 || status === 409;
/** Device messages longer than this are not quoted: they are usually HTML error pages. */
const MAX_QUOTED_MESSAGE = 200;
/**
 * Errors raised before anything reached the device. Retrying these cannot repeat an action, unlike a reset or a
 * timeout after the request was sent (the lock may already be moving).
 */
const CONNECT_ERRORS = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

export class HttpClient {
  readonly stats: HttpClientStats = { requests: 0, retries: 0, failures: 0 };

  private readonly base: URL;
  private readonly label: string;
  private readonly options: HttpClientOptions;
  private readonly secure: boolean;
  private readonly agent: http.Agent;
  private readonly queue: QueueItem[] = [];
  private seq = 0;
  private busy = false;
  private closed = false;
  /** When the last attempt finished; spacing is measured from here. */
  private lastEndAt = 0;
  private readonly closing = new AbortController();

  constructor(options: HttpClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new SmartlockError("bad_request", `Invalid device URL "${options.baseUrl}"`);
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new SmartlockError("bad_request", `Device URL must be http or https, got "${base.protocol}"`);
    }
    this.base = base;
    this.options = options;
    // host only: a baseUrl may carry user:password, which must never reach a message
    this.label = options.label ?? base.host;
    this.secure = base.protocol === "https:";
    // No keep-alive: bridges drop idle connections without notice, and a reused dead socket turns a harmless
    // read into an ECONNRESET that cannot be safely retried for actions.
    this.agent = this.secure
      ? new https.Agent({ keepAlive: false, maxSockets: 1 })
      : new http.Agent({ keepAlive: false, maxSockets: 1 });
  }

  /** Requests waiting behind the one in flight. */
  get pending(): number {
    return this.queue.length;
  }

  request<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<HttpResponse<T>>((resolve, reject) => {
      this.queue.push({ req, seq: this.seq++, resolve: resolve as QueueItem["resolve"], reject });
      this.pump();
    });
  }

  /** Rejects everything queued, aborts the request in flight and refuses new ones. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const item of this.queue.splice(0)) {
      this.stats.failures++;
      item.reject(this.closedError());
    }
    this.closing.abort();
    this.agent.destroy();
  }

  private closedError(): SmartlockError {
    return new SmartlockError("unreachable", `${this.label}: client closed`);
  }

  private pump(): void {
    if (this.busy || this.closed || this.queue.length === 0) return;
    this.busy = true;
    // The next item is chosen only now, so an action queued while the previous request ran still goes first.
    let index = this.queue.findIndex((item) => item.req.priority === "high");
    if (index < 0) index = 0;
    const [item] = this.queue.splice(index, 1);
    this.run(item!).finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  private async run(item: QueueItem): Promise<void> {
    const { req } = item;
    const method = req.method ?? "GET";
    const retry = resolveRetry(this.options.retry, req.retry);
    const authorize = req.authorize ?? this.options.authorize;
    this.stats.requests++;
    try {
      for (let attempt = 0; ; attempt++) {
        await this.waitForSpacing();
        if (this.closed) throw this.closedError();
        // Called right before sending: a retry must carry a fresh timestamp/nonce.
        const auth = authorize?.(attempt) ?? {};
        const outcome = await this.attempt(req, method, auth);
        this.lastEndAt = Date.now();
        const canRetry = attempt < retry.attempts && !this.closed;
        if (outcome.kind === "response") {
          const { response } = outcome;
          if (response.status >= 200 && response.status < 300) {
            item.resolve(response);
            return;
          }
          if (!(canRetry && retry.retryOn(response.status))) {
            throw this.statusError(method, pathOnly(req.path), response, auth);
          }
          const retryAfter = parseRetryAfter(response.headers["retry-after"]);
          const backoff = Math.min(retry.backoffMs * 2 ** attempt, retry.maxBackoffMs);
          await this.sleep(retryAfter === undefined ? backoff : Math.min(retryAfter, retry.maxRetryAfterMs));
        } else {
          if (!(canRetry && outcome.retryable)) throw outcome.error;
          await this.sleep(Math.min(retry.backoffMs * 2 ** attempt, retry.maxBackoffMs));
        }
        this.stats.retries++;
      }
    } catch (error) {
      this.stats.failures++;
      item.reject(this.closed ? this.closedError() : error);
    }
  }

  private async waitForSpacing(): Promise<void> {
    const spacing = this.options.spacingMs ?? 0;
    if (spacing <= 0 || this.lastEndAt === 0) return;
    const wait = this.lastEndAt + spacing - Date.now();
    if (wait > 0) await this.sleep(wait);
  }

  /** A delay that close() cuts short. */
  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.closing.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.closing.signal.addEventListener("abort", done);
    });
  }

  private attempt(req: HttpRequest, method: HttpMethod, auth: Authorization): Promise<AttemptOutcome> {
    const url = this.buildUrl(req.path, { ...req.query, ...auth.query });
    const headers: Record<string, string> = { accept: "application/json", ...req.headers, ...auth.headers };
    const payload = encodeBody(req.body, headers);
    if (payload !== undefined) headers["content-length"] = String(payload.length);
    const timeoutMs = req.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const what = `${this.label}: ${method} ${pathOnly(req.path)}`;
    const tls = this.options.tls ?? {};

    return new Promise<AttemptOutcome>((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let request: http.ClientRequest | undefined;
      const finish = (outcome: AttemptOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.closing.signal.removeEventListener("abort", onClose);
        request?.destroy();
        resolve(outcome);
      };
      const fail = (code: ErrorCode, message: string, cause?: unknown, retryable = false): void =>
        finish({ kind: "error", error: new SmartlockError(code, message, { cause }), retryable });
      const onClose = (): void => fail("unreachable", `${this.label}: client closed`);
      const onNetworkError = (error: NodeJS.ErrnoException): void => {
        const code = error.code ? ` (${error.code})` : "";
        fail("unreachable", `${what} failed: ${redact(error.message, auth)}${code}`, error, CONNECT_ERRORS.has(error.code ?? ""));
      };

      try {
        const options: https.RequestOptions = { method, headers, agent: this.agent };
        request = this.secure ? https.request(url, { ...options, ...tls }) : http.request(url, options);
      } catch (error) {
        // e.g. a header value with characters HTTP does not allow
        fail("bad_request", `${what} could not be sent: ${redact(String((error as Error).message), auth)}`, error);
        return;
      }
      timer = setTimeout(() => fail("timeout", `${what} timed out after ${timeoutMs} ms`), timeoutMs);
      this.closing.signal.addEventListener("abort", onClose);

      request.on("error", onNetworkError);
      request.on("response", (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", onNetworkError);
        response.on("close", () => {
          if (!response.complete) fail("unreachable", `${what} failed: connection closed before the answer was complete`);
        });
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          finish({
            kind: "response",
            response: { status: response.statusCode ?? 0, headers: response.headers, body: parseBody(text), text },
          });
        });
      });
      request.end(payload);
    });
  }

  private buildUrl(path: string, query: Record<string, string | number | boolean | undefined>): URL {
    const url = new URL(this.base.href);
    const [pathname = "", inlineQuery] = path.split(/\?(.*)/s, 2);
    url.pathname = url.pathname.replace(/\/+$/, "") + (pathname.startsWith("/") ? pathname : `/${pathname}`);
    // encodeURIComponent rather than URLSearchParams: "+" for a space is ambiguous to embedded servers, and a
    // callback URL passed as a query value must arrive byte for byte.
    const parts: string[] = inlineQuery ? [inlineQuery] : [];
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue;
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
    }
    url.search = parts.length > 0 ? `?${parts.join("&")}` : "";
    return url;
  }

  private statusError(method: HttpMethod, path: string, response: HttpResponse<unknown>, auth: Authorization): SmartlockError {
    const { status, body } = response;
    const code = this.options.mapError?.(status, body) ?? defaultErrorCode(status);
    const deviceMessage = extractMessage(body);
    const detail = deviceMessage === undefined ? "" : `: ${redact(deviceMessage, auth)}`;
    const retryAfterMs = parseRetryAfter(response.headers["retry-after"]);
    return new SmartlockError(code, `${this.label}: ${method} ${path} failed with HTTP ${status}${detail}`, {
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
}

/** Per-request retry options win over the client's, field by field. */
function resolveRetry(client: RetryOptions | undefined, request: false | RetryOptions | undefined): Required<RetryOptions> {
  const pick = <K extends keyof RetryOptions>(key: K): RetryOptions[K] =>
    (request === false ? undefined : request?.[key]) ?? client?.[key];
  const maxBackoffMs = pick("maxBackoffMs") ?? DEFAULT_MAX_BACKOFF_MS;
  return {
    attempts: request === false ? 0 : Math.max(0, pick("attempts") ?? DEFAULT_ATTEMPTS),
    backoffMs: pick("backoffMs") ?? DEFAULT_BACKOFF_MS,
    maxBackoffMs,
    maxRetryAfterMs: pick("maxRetryAfterMs") ?? maxBackoffMs,
    retryOn: pick("retryOn") ?? defaultRetryOn,
  };
}

/** Messages name the path only: query strings carry tokens and signatures. */
function pathOnly(path: string): string {
  const end = path.search(/[?#]/);
  return end < 0 ? path : path.slice(0, end);
}

export function defaultErrorCode(status: number): ErrorCode {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
    case 403:
      return "unauthorized";
    case 404:
    case 410:
      return "not_found";
    case 405:
    case 406:
      return "rejected";
    case 409:
    case 423:
    case 429:
    case 503:
      return "busy";
  }
  if (status >= 400 && status < 500) return "bad_request";
  // 5xx, and redirects or oddities that mean we are not talking to the device we think we are
  return "unreachable";
}

/** Retry-After as a delay in ms: either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === "") return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function encodeBody(body: unknown, headers: Record<string, string>): Buffer | undefined {
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (!Object.keys(headers).some((name) => name.toLowerCase() === "content-type")) {
    headers["content-type"] = "application/json";
  }
  return Buffer.from(JSON.stringify(body), "utf8");
}

/** Bridges often send JSON as text/html or text/plain, so the content-type is not trusted. */
function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function extractMessage(body: unknown): string | undefined {
  let message: unknown;
  if (typeof body === "string") {
    message = body;
  } else if (body !== null && typeof body === "object") {
    const record = body as Record<string, unknown>;
    // "error-description": Tedee Bridge ({"error-description":"Device is disconnected"})
    // "msg": UniFi Access ({"code":"CODE_PARAMS_INVALID","msg":"Invalid parameters."})
    message = record.message ?? record.error ?? record["error-description"] ?? record.msg;
    if (message !== null && typeof message === "object") message = (message as Record<string, unknown>).message;
  }
  if (typeof message !== "string") return undefined;
  const trimmed = message.trim();
  if (trimmed === "" || trimmed.length > MAX_QUOTED_MESSAGE) return undefined;
  return trimmed.replace(/\s+/g, " ");
}

/** Devices sometimes echo the request URL; auth values must not leak into messages through that. */
function redact(text: string, auth: Authorization): string {
  let result = text;
  for (const value of [...Object.values(auth.query ?? {}), ...Object.values(auth.headers ?? {})]) {
    if (value.length >= 4) result = result.split(value).join("***");
    const encoded = encodeURIComponent(value);
    if (encoded !== value && encoded.length >= 4) result = result.split(encoded).join("***");
  }
  return result;
}
