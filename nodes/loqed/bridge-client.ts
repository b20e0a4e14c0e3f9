/**
 * LOQED local bridge HTTP client (research/loqed-tedee.md 1.3). One serial queue per bridge (core HttpClient).
 * Management requests carry `TIMESTAMP` and `HASH` headers and commands a signed blob, both computed per
 * attempt (in authorize) so a retry never reuses an old timestamp: the lock refuses commands about a minute old.
 * The bridge answers 200 "Message resent to the lock" to every command, even a wrongly signed one, so the
 * answer proves delivery to the bridge only; confirmation comes from webhooks (see connection.ts).
 */
import type { z } from "zod";
import { SmartlockError } from "../core/errors";
import { HttpClient } from "../core/http-client";
import { type LoqedActionCode, commandBase64, managementHeaders, managementPrefix } from "./crypto";
import { type BridgeStatusBody, type WebhookEntry, loqedSchemas } from "./schemas";

/** Trigger flags in bit order (bit 0 first); the bitmap sent in the hash must match the body. */
export const TRIGGERS = [
  "trigger_state_changed_open",
  "trigger_state_changed_latch",
  "trigger_state_changed_night_lock",
  "trigger_state_changed_unknown",
  "trigger_state_goto_open",
  "trigger_state_goto_latch",
  "trigger_state_goto_night_lock",
  "trigger_battery",
  "trigger_online_status",
] as const;
export const ALL_TRIGGERS = (1 << TRIGGERS.length) - 1; // 511

export function triggerBody(url: string, flags: number): Record<string, string | number> {
  const body: Record<string, string | number> = { url };
  TRIGGERS.forEach((name, bit) => {
    body[name] = (flags >> bit) & 1;
  });
  return body;
}

export interface LoqedBridgeClientOptions {
  host: string;
  port: number;
  bridgeKey: Buffer | null;
  keySecret: Buffer | null;
  keyId: number | null;
  timeoutMs?: number;
  spacingMs?: number;
  /** Unix seconds; injectable for tests. */
  now?: () => number;
}

export class LoqedBridgeClient {
  private readonly http: HttpClient;
  private readonly now: () => number;

  constructor(private readonly options: LoqedBridgeClientOptions) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    const host = options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host;
    this.http = new HttpClient({
      baseUrl: `http://${host}:${options.port}`,
      timeoutMs: options.timeoutMs ?? 10_000,
      spacingMs: options.spacingMs ?? 100,
      retry: { attempts: 2, backoffMs: 500, retryOn: (status) => status === 503 },
      label: "LOQED bridge",
    });
  }

  get canManageWebhooks(): boolean {
    return this.options.bridgeKey !== null;
  }

  get canCommand(): boolean {
    return this.options.keySecret !== null && this.options.keyId !== null;
  }

  /** `GET /status`: sent as text/html, parsed as JSON anyway. */
  status(): Promise<BridgeStatusBody> {
    return this.call({ path: "/status" }, loqedSchemas().statusSchema, "/status");
  }

  webhooks(): Promise<WebhookEntry[]> {
    return this.call({ path: "/webhooks", authorize: this.signed(() => managementPrefix.list()) }, loqedSchemas().webhookListSchema, "/webhooks");
  }

  async addWebhook(url: string, flags = ALL_TRIGGERS): Promise<void> {
    await this.http.request({
      method: "POST",
      path: "/webhooks",
      body: triggerBody(url, flags),
      authorize: this.signed(() => managementPrefix.create(url, flags)),
    });
  }

  async deleteWebhook(id: number): Promise<void> {
    await this.http.request({ method: "DELETE", path: `/webhooks/${id}`, authorize: this.signed(() => managementPrefix.remove(id)) });
  }

  /**
   * Sends one signed command ahead of queued reads. Retried only when the connection could not be opened
   * (nothing reached the bridge); a timeout or reset after sending is never retried, since an OPEN may
   * already be under way.
   */
  async command(action: LoqedActionCode): Promise<void> {
    const { keySecret, keyId } = this.options;
    if (keySecret === null || keyId === null) throw new SmartlockError("bad_request", "the config node has no key id and key secret");
    await this.http.request({
      path: "/to_lock",
      priority: "high",
      retry: { retryOn: () => false },
      authorize: () => ({ query: { command_signed_base64: commandBase64(keySecret, keyId, action, this.now()) } }),
    });
  }

  close(): void {
    this.http.close();
  }

  private signed(prefix: () => Buffer): () => { headers: Record<string, string> } {
    return () => {
      const key = this.options.bridgeKey;
      if (key === null) throw new SmartlockError("bad_request", "the config node has no bridge key");
      return { headers: managementHeaders(prefix(), this.now(), key) };
    };
  }

  private async call<S extends z.ZodType>(req: Parameters<HttpClient["request"]>[0], schema: S, what: string): Promise<z.infer<S>> {
    const { body } = await this.http.request(req);
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new SmartlockError("bad_request", `LOQED bridge sent an unexpected answer to ${what}`);
    return parsed.data;
  }
}
