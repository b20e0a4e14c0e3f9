/**
 * Nuki Web API client (research/nuki.md 2.1-2.6): Bearer token, JSON, `https://api.nuki.io` unless configured
 * otherwise (tests, proxies). Actions are accepted asynchronously (204): the device state shows later, in a
 * webhook or the next read.
 */
import type { z } from "zod";
import { type ErrorCode, SmartlockError } from "../core/errors";
import { HttpClient, type HttpMethod } from "../core/http-client";
import { type DecentralWebhook, type Smartlock, type SmartlockAuth, webSchemas } from "./web-schemas";

export const DEFAULT_WEB_API_URL = "https://api.nuki.io";
/** What this plugin subscribes to: state, activity log (the actor) and authorizations (names). */
export const WEBHOOK_FEATURES = ["DEVICE_STATUS", "DEVICE_LOGS", "DEVICE_AUTHS"] as const;

export interface WebClientOptions {
  apiUrl: string;
  token: string;
  timeoutMs?: number;
  retryBackoffMs?: number;
}

/** 402 = the account may not do this (Nuki answers it to actions), 405 = not for this device type. */
function webErrorCode(status: number): ErrorCode | undefined {
  if (status === 402) return "rejected";
  if (status === 405) return "unsupported";
  return undefined;
}

export class NukiWebClient {
  private readonly http: HttpClient;

  constructor(options: WebClientOptions) {
    this.http = new HttpClient({
      baseUrl: options.apiUrl.replace(/\/+$/, "") || DEFAULT_WEB_API_URL,
      timeoutMs: options.timeoutMs ?? 15_000,
      // A cloud API, not a bridge: no spacing, retry only what says "try again".
      retry: { attempts: 2, backoffMs: options.retryBackoffMs ?? 1000, retryOn: (status) => status === 429 || status === 503 },
      authorize: () => ({ headers: { authorization: `Bearer ${options.token}` } }),
      mapError: webErrorCode,
      label: "Nuki Web",
    });
  }

  smartlocks(): Promise<Smartlock[]> {
    return this.call("GET", "/smartlock", webSchemas().smartlockListSchema);
  }

  smartlock(smartlockId: number): Promise<Smartlock> {
    return this.call("GET", `/smartlock/${smartlockId}`, webSchemas().smartlockSchema);
  }

  auths(): Promise<SmartlockAuth[]> {
    return this.call("GET", "/smartlock/auth", webSchemas().smartlockAuthListSchema);
  }

  /** `POST /smartlock/{id}/action` with the device-type specific code; 204 = accepted, not done. */
  async action(smartlockId: number, action: number): Promise<void> {
    await this.call("POST", `/smartlock/${smartlockId}/action`, null, { action }, "high");
  }

  webhooks(): Promise<DecentralWebhook[]> {
    return this.call("GET", "/api/decentralWebhook", webSchemas().decentralWebhookListSchema);
  }

  registerWebhook(url: string): Promise<DecentralWebhook & { secret: string }> {
    return this.call("PUT", "/api/decentralWebhook", webSchemas().registeredWebhookSchema, { webhookUrl: url, webhookFeatures: [...WEBHOOK_FEATURES] });
  }

  async deleteWebhook(id: number): Promise<void> {
    await this.call("DELETE", `/api/decentralWebhook/${id}`, null);
  }

  close(): void {
    this.http.close();
  }

  private async call<S extends z.ZodType>(method: HttpMethod, path: string, schema: S, body?: unknown, priority?: "high"): Promise<z.infer<S>>;
  private async call(method: HttpMethod, path: string, schema: null, body?: unknown, priority?: "high"): Promise<void>;
  private async call(method: HttpMethod, path: string, schema: z.ZodType | null, body?: unknown, priority: "high" | "normal" = "normal"): Promise<unknown> {
    const { body: answer } = await this.http.request({
      method,
      path,
      ...(body === undefined ? {} : { body }),
      priority,
      // An action or registration answered with 503 was not taken; anything else is not repeated.
      ...(method === "GET" ? {} : { retry: { attempts: 1, retryOn: (status: number) => status === 503 || status === 429 } }),
    });
    if (!schema) return undefined;
    const parsed = schema.safeParse(answer);
    if (!parsed.success) throw new SmartlockError("bad_request", `Nuki Web sent an unexpected answer to ${method} ${path.replace(/\/\d+/g, "/…")}`);
    return parsed.data;
  }
}
