/**
 * UniFi Access developer API client (research §1-§4): `https://<host>:12445/api/v1/developer/...`, Bearer token,
 * success = HTTP 2xx and `code: "SUCCESS"`. `CODE_*` errors map to the contract's error codes and keep the
 * controller's message. Requests go through the core serial HttpClient.
 */
import type { z } from "zod";
import { type ErrorCode, SmartlockError } from "../core/errors";
import { HttpClient, type HttpMethod, type TlsOptions } from "../core/http-client";
import { type Device, type Door, type Emergency, type LockRule, type WebhookEndpoint, unifiSchemas } from "./schemas";

export const API_BASE = "/api/v1/developer";
export const NOTIFICATIONS_PATH = `${API_BASE}/devices/notifications`;

/** Lock rule types of `PUT /doors/:id/lock_rule` (§2.3). */
export type LockRuleType = "keep_lock" | "keep_unlock" | "custom" | "reset" | "lock_early" | "lock_now";

const CODE_MAP: Record<string, ErrorCode> = {
  CODE_PARAMS_INVALID: "bad_request",
  CODE_USER_EMAIL_ERROR: "bad_request",
  CODE_SYSTEM_ERROR: "rejected",
  CODE_RESOURCE_NOT_FOUND: "not_found",
  CODE_NOT_EXISTS: "not_found",
  CODE_DEVICE_DEVICE_NOT_FOUND: "not_found",
  CODE_SPACE_DEVICE_BOUND_LOCATION_NOT_FOUND: "not_found",
  CODE_USER_ACCOUNT_NOT_EXIST: "not_found",
  CODE_USER_WORKER_NOT_EXISTS: "not_found",
  CODE_OPERATION_FORBIDDEN: "rejected",
  CODE_AUTH_FAILED: "unauthorized",
  CODE_ACCESS_TOKEN_INVALID: "unauthorized",
  CODE_UNAUTHORIZED: "unauthorized",
  CODE_DEVICE_DEVICE_OFFLINE: "offline",
  CODE_DEVICE_DEVICE_BUSY: "busy",
  CODE_DEVICE_API_NOT_SUPPORTED: "unsupported",
  CODE_OTHERS_UID_ADOPTED_NOT_SUPPORTED: "unsupported",
  CODE_DEVICE_DEVICE_VERSION_TOO_OLD: "unsupported",
  CODE_DEVICE_WEBHOOK_ENDPOINT_DUPLICATED: "rejected",
};

/** The contract's code for a controller `CODE_*` value (unknown ones are "rejected"). */
export function errorCodeFor(code: unknown, status?: number): ErrorCode | undefined {
  if (typeof code === "string" && Object.prototype.hasOwnProperty.call(CODE_MAP, code)) return CODE_MAP[code];
  if (status === 401 || status === 403) return "unauthorized";
  if (typeof code === "string" && code.startsWith("CODE_")) return "rejected";
  return undefined;
}

export const TOKEN_HINT =
  "The token must be an API token created in the UniFi Access app (Settings › General › Advanced › API Token) " +
  "with the permission keys this node needs (view:space, edit:space, view:device, view:webhook, edit:webhook); " +
  "a UniFi OS or UniFi Protect API key does not work here.";

export interface UnifiClientOptions {
  host: string;
  port: number;
  token: string;
  tls: TlsOptions;
  timeoutMs?: number;
}

export class UnifiAccessClient {
  private readonly http: HttpClient;

  constructor(options: UnifiClientOptions) {
    const host = options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host;
    this.http = new HttpClient({
      baseUrl: `https://${host}:${options.port}${API_BASE}`,
      timeoutMs: options.timeoutMs ?? 10_000,
      retry: { attempts: 2, backoffMs: 500, retryOn: (status) => status === 429 || status === 503 },
      tls: options.tls,
      authorize: () => ({ headers: { authorization: `Bearer ${options.token}` } }),
      mapError: (status, body) => errorCodeFor((body as { code?: unknown } | null)?.code, status),
      label: "UniFi Access",
    });
  }

  get stats(): { requests: number; retries: number; failures: number } {
    return this.http.stats;
  }

  async doors(): Promise<Door[]> {
    return this.call("GET", "/doors", undefined, unifiSchemas().doorListSchema);
  }

  async door(id: string): Promise<Door> {
    return this.call("GET", `/doors/${encodeURIComponent(id)}`, undefined, unifiSchemas().doorSchema);
  }

  /** All devices, flattened (the controller groups them per door in an array of arrays). */
  async devices(): Promise<Device[]> {
    const grouped = await this.call("GET", "/devices", undefined, unifiSchemas().deviceListSchema);
    return grouped.flatMap((entry) => (Array.isArray(entry) ? entry : [entry]));
  }

  /** null when the hub does not support lock rules (404, as Home Assistant reads it). */
  async lockRule(doorId: string): Promise<LockRule | null> {
    try {
      return await this.call("GET", `/doors/${encodeURIComponent(doorId)}/lock_rule`, undefined, unifiSchemas().lockRuleSchema);
    } catch (err) {
      if (err instanceof SmartlockError && err.status === 404) return null;
      throw err;
    }
  }

  /** Momentary unlock (§2.2). actor_id and actor_name are sent together or not at all. */
  async unlock(doorId: string, actor?: { id: string; name: string }): Promise<void> {
    const body = actor ? { actor_id: actor.id, actor_name: actor.name } : undefined;
    await this.call("PUT", `/doors/${encodeURIComponent(doorId)}/unlock`, body, null, true);
  }

  async setLockRule(doorId: string, type: LockRuleType, intervalMinutes?: number): Promise<void> {
    const body = intervalMinutes === undefined ? { type } : { type, interval: intervalMinutes };
    try {
      await this.call("PUT", `/doors/${encodeURIComponent(doorId)}/lock_rule`, body, null, true);
    } catch (err) {
      if (err instanceof SmartlockError && err.status === 404 && err.code === "not_found") {
        throw new SmartlockError("unsupported", `${err.message} (lock rules are not supported by this door's hub)`, { status: 404, cause: err });
      }
      throw err;
    }
  }

  async emergency(): Promise<Emergency> {
    return this.call("GET", "/doors/settings/emergency", undefined, unifiSchemas().emergencySchema);
  }

  async setEmergency(value: { lockdown: boolean; evacuation: boolean }): Promise<void> {
    await this.call("PUT", "/doors/settings/emergency", value, null, true);
  }

  async webhookEndpoints(): Promise<WebhookEndpoint[]> {
    return (await this.call("GET", "/webhooks/endpoints", undefined, unifiSchemas().webhookEndpointListSchema)) ?? [];
  }

  async createWebhookEndpoint(endpoint: { name: string; endpoint: string; events: string[] }): Promise<WebhookEndpoint> {
    return this.call("POST", "/webhooks/endpoints", endpoint, unifiSchemas().webhookEndpointSchema);
  }

  async updateWebhookEndpoint(id: string, endpoint: { name: string; endpoint: string; events: string[] }): Promise<void> {
    await this.call("PUT", `/webhooks/endpoints/${encodeURIComponent(id)}`, endpoint, null);
  }

  async deleteWebhookEndpoint(id: string): Promise<void> {
    await this.call("DELETE", `/webhooks/endpoints/${encodeURIComponent(id)}`, undefined, null);
  }

  close(): void {
    this.http.close();
  }

  private async call<S extends z.ZodType>(method: HttpMethod, path: string, body: unknown, schema: S, action?: boolean): Promise<z.infer<S>>;
  private async call(method: HttpMethod, path: string, body: unknown, schema: null, action?: boolean): Promise<unknown>;
  private async call(method: HttpMethod, path: string, body: unknown, schema: z.ZodType | null, action = false): Promise<unknown> {
    let answer: unknown;
    try {
      ({ body: answer } = await this.http.request({
        method,
        path,
        ...(body === undefined ? {} : { body }),
        ...(action ? { priority: "high" as const, retry: false as const } : {}),
      }));
    } catch (err) {
      throw explain(err);
    }
    const envelope = unifiSchemas().envelopeSchema.safeParse(answer);
    if (!envelope.success) throw new SmartlockError("bad_request", `UniFi Access sent an unexpected answer to ${method} ${path}`);
    const { code, msg } = envelope.data;
    if (code !== "SUCCESS") {
      const mapped = errorCodeFor(code) ?? "rejected";
      const error = new SmartlockError(mapped, `UniFi Access: ${method} ${path} failed: ${String(code ?? "no code")}${msg ? ` (${truncate(msg)})` : ""}`);
      throw explain(error);
    }
    if (schema === null) return envelope.data.data;
    const parsed = schema.safeParse(envelope.data.data);
    if (!parsed.success) throw new SmartlockError("bad_request", `UniFi Access sent unexpected data for ${method} ${path}`);
    return parsed.data;
  }
}

/** 401/403 are nearly always the wrong kind of key or a missing permission: say where the right one comes from. */
function explain(err: unknown): unknown {
  if (!(err instanceof SmartlockError) || err.code !== "unauthorized") return err;
  const what = err.status === 403 ? "lacks a permission for this request (403)" : err.status === 401 ? "was refused (401)" : "was refused";
  return new SmartlockError("unauthorized", `${err.message}. The API token ${what}. ${TOKEN_HINT}`, {
    ...(err.status === undefined ? {} : { status: err.status }),
    cause: err,
  });
}

function truncate(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 199)}…` : flat;
}
