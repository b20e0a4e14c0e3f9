/**
 * Editor helper endpoints (test connection, device discovery) on Node-RED's admin app. Node-RED glue
 * passes in `RED.httpAdmin` and `RED.auth.needsPermission`; this module only shapes them so that every
 * vendor answers the same way: JSON in (admin already parses it), JSON out, a SmartlockError's code and
 * message on failure, never an unhandled rejection and never a secret in the answer.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { redactUrl } from "./callback-url";
import { toSmartlockError } from "./errors";

type Handler = (req: IncomingMessage & { body?: unknown }, res: ServerResponse & { status?: (code: number) => unknown; json?: (body: unknown) => unknown }) => void;

export interface AdminApp {
  post(path: string, ...handlers: Handler[]): unknown;
}

export type NeedsPermission = (permission: string) => Handler;

/**
 * POST `/smartlocks/{vendor}/{action}` guarded by `{type}.write` (it may use stored credentials and talk
 * to a device). `work` gets the parsed body and returns the JSON answer.
 */
export function adminEndpoint(
  app: AdminApp,
  needsPermission: NeedsPermission,
  options: { vendor: string; action: string; permission: string },
  work: (body: Record<string, unknown>) => Promise<unknown>,
): void {
  app.post(`/smartlocks/${options.vendor}/${options.action}`, needsPermission(options.permission), (req, res) => {
    const body = parsedBody(req);
    Promise.resolve()
      .then(() => work(body))
      .then(
        (answer) => reply(res, 200, answer),
        (err: unknown) => {
          const error = toSmartlockError(err);
          reply(res, error.code === "bad_request" ? 400 : 200, { ok: false, code: error.code, message: error.message });
        },
      )
      .catch(() => undefined);
  });
}

/**
 * The JSON body. With httpAdminRoot equal to httpNodeRoot (Node-RED's default, both "/"), a RouteRegistry's
 * root capture has already read the raw bytes of POSTs under `/smartlocks/{vendor}/` for callbacks, so
 * admin's json parser saw an empty stream: parse those bytes here instead.
 */
function parsedBody(req: IncomingMessage & { body?: unknown; smartlocksRawBody?: Buffer }): Record<string, unknown> {
  let value = req.body;
  if (value === undefined && Buffer.isBuffer(req.smartlocksRawBody) && req.smartlocksRawBody.length > 0) {
    try {
      value = JSON.parse(req.smartlocksRawBody.toString("utf8"));
    } catch {
      value = undefined;
    }
  }
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  // Belt and braces: whatever a probe lists (a device's callback table, a webhook list), no route secret leaves.
  res.end(redactUrl(JSON.stringify(body)));
}

/** A typed-in value, or the stored credential when the dialog left the field empty (the editor never sees it). */
export function typedOrStored(typed: unknown, stored: string | undefined): string {
  const value = typeof typed === "string" ? typed.trim() : "";
  // The editor sends "__PWRD__" for an untouched password field.
  if (value && value !== "__PWRD__") return resolveEnvValue(value);
  return resolveEnvValue(stored?.trim() ?? "");
}

/** A setting typed in the dialog (string or number), trimmed, with `${NAME}` resolved like a deployed node's. */
export function typedSetting(value: unknown): string {
  const text = typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
  return resolveEnvValue(text);
}

/**
 * `${NAME}` as the whole value is the environment variable NAME, as Node-RED resolves credentials at deploy;
 * the probe must use what the deployed node would use.
 */
export function resolveEnvValue(value: string): string {
  const named = /^\$\{([^}]+)\}$/.exec(value);
  return named ? (process.env[named[1] as string] ?? "").trim() : value;
}
