/**
 * LOQED Integrations API (research/loqed-tedee.md 1.4.3), used only for actions when no bridge is configured:
 * `GET /api/locks/{id}/bolt_state/{open|day_lock|night_lock}` with the personal access token, 204 on success.
 * The lock status endpoint is never called: LOQED blocks accounts for 12 hours after about 12 status reads in
 * 12 hours. Unauthenticated calls are redirected to an HTML login page, which counts as 401 here.
 */
import { type ErrorCode, SmartlockError } from "../core/errors";
import { HttpClient } from "../core/http-client";
import type { Bolt } from "./normalize";

export const DEFAULT_CLOUD_URL = "https://integrations.production.loqed.com";

function cloudErrorCode(status: number): ErrorCode | undefined {
  if (status >= 300 && status < 400) return "unauthorized";
  return undefined;
}

export class LoqedCloudClient {
  private readonly http: HttpClient;
  private readonly apiPrefix: string;

  constructor(options: { baseUrl: string; token: string; timeoutMs?: number }) {
    const base = options.baseUrl.trim() || DEFAULT_CLOUD_URL;
    // Accept the base with or without the /api suffix.
    this.apiPrefix = /\/api\/?$/.test(base) ? "" : "/api";
    this.http = new HttpClient({
      baseUrl: base.replace(/\/+$/, ""),
      timeoutMs: options.timeoutMs ?? 15_000,
      retry: { attempts: 1, retryOn: () => false },
      authorize: () => ({ headers: { authorization: `Bearer ${options.token}` } }),
      mapError: cloudErrorCode,
      label: "LOQED cloud",
    });
  }

  async boltState(lockId: string, bolt: Exclude<Bolt, "unknown">): Promise<void> {
    let response;
    try {
      response = await this.http.request({
        path: `${this.apiPrefix}/locks/${encodeURIComponent(lockId)}/bolt_state/${bolt}`,
        priority: "high",
      });
    } catch (err) {
      if (err instanceof SmartlockError && err.code === "not_found") {
        throw new SmartlockError(
          "not_found",
          `LOQED cloud: lock "${lockId}" or the token's key was not found (a key deleted in the LOQED app ends the token's access)`,
          { status: err.status, cause: err },
        );
      }
      throw err;
    }
    if (/^\s*</.test(response.text)) {
      throw new SmartlockError("unauthorized", "LOQED cloud answered with a login page: check the personal access token", { status: response.status });
    }
  }

  close(): void {
    this.http.close();
  }
}
