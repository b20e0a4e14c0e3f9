/**
 * Inbound routes for vendor callbacks and webhooks on Node-RED's httpNode app:
 *
 *     POST {httpNodeRoot}smartlocks/{vendor}/{routeSecret}/{channel}
 *
 * One registry (and one middleware) per app and vendor, shared by every config node of that vendor, so redeploys
 * only swap handlers in a table and never stack up middleware. Vendors sign the raw body (Nuki, LOQED), so the
 * bytes are captured before any body parser; see installRootCapture for why that needs the root app.
 */
import * as crypto from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { WalkDecision, stackOf } from "./express-walk";
import { jsonTooDeep } from "./json-depth";

export interface InboundRequest {
  /** The body exactly as received, for signature checks. */
  rawBody: Buffer;
  headers: IncomingHttpHeaders;
  /** The socket peer; proxy headers are not trusted. */
  remoteAddress: string | undefined;
  channel: string;
  /** Date.now() when the request reached the registry. */
  receivedAt: number;
}

export interface InboundResult {
  status: number;
  /** A string is sent as text/plain, anything else as JSON. */
  body?: string | object;
}

/** Verifies the request and answers at once; downstream work is scheduled by the handler itself. */
export type InboundHandler = (req: InboundRequest) => InboundResult | Promise<InboundResult>;

/** Receives handler failures; the context never includes the route secret. */
export type InboundErrorListener = (error: unknown, context: { vendor: string; channel: string }) => void;

export interface RouteRegistryOptions {
  /** Node-RED's httpNodeRoot (default: the app's mount path, else "/"). Used when the registry is created. */
  httpNodeRoot?: string;
  /** Largest accepted body in bytes (default 256 KiB). Used when the registry is created. */
  maxBytes?: number;
  /**
   * Longest time in ms to receive a whole body (default 10 s; 0 = no limit); a slower upload gets 408 and the
   * connection is closed, so a client that trickles bytes cannot hold a request open. Used when the registry is created.
   */
  readTimeoutMs?: number;
  /** Fallback for handler failures of registrations without their own onError. */
  onError?: InboundErrorListener;
  /**
   * Apps mounted on the root app that callbacks may pass by when they are answered directly (see
   * `directDispatch`): Node-RED's httpAdmin, whose editor and admin API have no callback routes, so its CORS
   * headers, body parsers and middleware do nothing useful for a device. Used when the registry is created.
   */
  bypassApps?: readonly HttpApp[];
  /**
   * Answer a callback right where the root capture read its body, without express's walk through the root app,
   * the bypassable apps and this app, whenever that walk provably ends at this registry with nothing acting on the
   * request before it (express-walk.ts). Default true; false always takes express's way. Used when the registry is
   * created.
   */
  directDispatch?: boolean;
}

export interface RegisterOptions {
  onError?: InboundErrorListener;
}

type Next = (error?: unknown) => void;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/**
 * The parts of an express application used here. Method syntax keeps it assignable from express's overloaded
 * `use`, whichever express typings the caller has.
 */
export interface HttpApp {
  use(...handlers: unknown[]): unknown;
  parent?: unknown;
  mountpath?: unknown;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
  /** express 4 */
  _router?: unknown;
  /** express 5 */
  router?: unknown;
  enabled?(setting: string): boolean;
}

/** What the raw-capture middleware leaves on the request for the registry. */
interface CapturedRequest extends IncomingMessage {
  smartlocksRawBody?: Buffer;
  smartlocksBodyProblem?: BodyProblem;
  /** body-parser's "already parsed" flag; parsers skip requests that have it. */
  _body?: boolean;
}

type BodyProblem = "too_large" | "failed" | "timeout";
type BodyResult = { kind: "ok"; body: Buffer } | { kind: BodyProblem };

interface Registration {
  handler: InboundHandler;
  onError: InboundErrorListener | undefined;
  /** Whether this route's callbacks may be answered from the root capture (made on first use). */
  walk?: WalkDecision;
}

interface SecretEntry {
  digest: Buffer;
  channels: Map<string, Registration>;
}

export const DEFAULT_MAX_BYTES = 256 * 1024;
export const DEFAULT_READ_TIMEOUT_MS = 10_000;
const VENDOR_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

const registries = new WeakMap<object, Map<string, RouteRegistry>>();
/** Every registry's root capture, so the walk analysis can tell them from other root middleware. */
const captureHandles = new WeakSet<object>();
const isCaptureHandle = (handle: unknown): boolean => typeof handle === "function" && captureHandles.has(handle);

/** How the answered callbacks were routed (for tests and the benchmark). */
export interface RouteRegistryStats {
  /** Answered from the root capture, without express's walk. */
  direct: number;
  /** Reached the registry's middleware through express. */
  walked: number;
}

export class RouteRegistry {
  readonly vendor: string;
  readonly maxBytes: number;
  readonly readTimeoutMs: number;

  private readonly app: HttpApp;
  private readonly httpNodeRoot: string | undefined;
  private readonly onError: InboundErrorListener | undefined;
  private readonly bypassApps: readonly HttpApp[];
  private readonly directDispatch: boolean;
  private readonly secrets = new Map<string, SecretEntry>();
  private readonly capturedRoots = new WeakSet<object>();
  /** Lower-cased `{httpNodeRoot}smartlocks/{vendor}/` as seen by the root app; set when the capture is installed. */
  private capturePrefix = "";
  private captureRoot: HttpApp | undefined;
  readonly stats: RouteRegistryStats = { direct: 0, walked: 0 };

  /** The registry of `vendor` on `app`, created (with its middleware) on first use. */
  static for(app: HttpApp, vendor: string, options: RouteRegistryOptions = {}): RouteRegistry {
    let byVendor = registries.get(app);
    if (byVendor === undefined) {
      byVendor = new Map();
      registries.set(app, byVendor);
    }
    let registry = byVendor.get(vendor);
    if (registry === undefined) {
      registry = new RouteRegistry(app, vendor, options);
      byVendor.set(vendor, registry);
    }
    return registry;
  }

  private constructor(app: HttpApp, vendor: string, options: RouteRegistryOptions) {
    if (!VENDOR_PATTERN.test(vendor)) throw new TypeError(`Invalid vendor name "${vendor}"`);
    this.app = app;
    this.vendor = vendor;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    this.httpNodeRoot = options.httpNodeRoot;
    this.onError = options.onError;
    this.bypassApps = options.bypassApps ?? [];
    this.directDispatch = options.directDispatch ?? true;
    captureHandles.add(this.capture);
    app.use(`/smartlocks/${vendor}`, this.middleware);
    this.installRootCapture();
    // The app may be mounted after the registry was created (embedding apps); capture from then on.
    app.on?.("mount", () => this.installRootCapture());
  }

  /**
   * Routes POSTs for `secret`/`channel` to `handler`. Registering the same pair again replaces the handler; the
   * returned function removes the route only while it still holds this handler, so a late close of an old node
   * cannot remove its replacement.
   */
  register(secret: string, channel: string, handler: InboundHandler, options: RegisterOptions = {}): () => void {
    if (secret === "") throw new TypeError("Route secret must not be empty");
    if (channel === "" || channel.includes("/")) throw new TypeError(`Invalid channel "${channel}"`);
    this.installRootCapture();
    let entry = this.secrets.get(secret);
    if (entry === undefined) {
      entry = { digest: digest(secret), channels: new Map() };
      this.secrets.set(secret, entry);
    }
    const registration: Registration = { handler, onError: options.onError };
    entry.channels.set(channel, registration);
    return () => {
      const current = this.secrets.get(secret);
      if (current?.channels.get(channel) !== registration) return;
      current.channels.delete(channel);
      if (current.channels.size === 0) this.secrets.delete(secret);
    };
  }

  /** Number of registered secret/channel pairs. */
  get size(): number {
    let count = 0;
    for (const entry of this.secrets.values()) count += entry.channels.size;
    return count;
  }

  private readonly middleware: Middleware = (req, res) => {
    const route = parseRoute(req.url ?? "");
    const registration = route === undefined ? undefined : this.find(route);
    // One answer for a wrong secret and a wrong channel, so probing reveals nothing.
    if (route === undefined || registration === undefined) {
      send(res, 404, "Not Found");
      return;
    }
    this.stats.walked += 1;
    this.respond(req as CapturedRequest, res, route, registration);
  };

  private find(route: Route): Registration | undefined {
    return this.lookup(route.secret)?.channels.get(route.channel);
  }

  /**
   * Answers a request for a registered route. Synchronous when the body was captured and the handler answers
   * synchronously (a callback's usual way), so the common case costs no promise or microtask; a body still to be
   * read or a handler's promise continue asynchronously, with the same answers.
   */
  private respond(req: CapturedRequest, res: ServerResponse, route: Route, registration: Registration): void {
    const receivedAt = Date.now();
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      send(res, 405, "Method Not Allowed");
      return;
    }
    const captured = capturedBody(req);
    if (captured !== undefined) {
      this.answer(req, res, route, registration, captured, receivedAt);
      return;
    }
    // Parsed by someone else: the bytes are gone and a re-serialised body would not match a signature.
    if (req._body === true || req.readableEnded || req.readableFlowing !== null) {
      this.answer(req, res, route, registration, { kind: "failed" }, receivedAt);
      return;
    }
    readRawBody(req, this.maxBytes, this.readTimeoutMs, (result) => this.answer(req, res, route, registration, result, receivedAt));
  }

  /** answerBody, where a throw is a programming error: still never leave the device hanging or crash Node-RED. */
  private answer(req: CapturedRequest, res: ServerResponse, route: Route, registration: Registration, result: BodyResult, receivedAt: number): void {
    try {
      this.answerBody(req, res, route, registration, result, receivedAt);
    } catch (error) {
      this.internalError(res, error);
    }
  }

  private internalError(res: ServerResponse, error: unknown): void {
    this.onError?.(error, { vendor: this.vendor, channel: "" });
    if (!res.headersSent) send(res, 500, "Internal Server Error");
  }

  private answerBody(req: CapturedRequest, res: ServerResponse, route: Route, registration: Registration, result: BodyResult, receivedAt: number): void {
    if (result.kind !== "ok") {
      if (result.kind === "failed") {
        send(res, 400, "Bad Request: the request body could not be read");
        return;
      }
      // The rest of the body is not read; closing the connection stops the upload instead of draining it.
      res.setHeader("Connection", "close");
      if (result.kind === "timeout") send(res, 408, "Request Timeout");
      else send(res, 413, "Payload Too Large");
      return;
    }

    // Valid JSON nested thousands of levels deep would later overflow the stack when Node-RED clones the event.
    if (jsonTooDeep(result.body)) {
      send(res, 400, "Bad Request: the body is nested too deeply");
      return;
    }

    let answer: InboundResult | Promise<InboundResult>;
    try {
      answer = registration.handler({
        rawBody: result.body,
        headers: req.headers,
        remoteAddress: req.socket?.remoteAddress,
        channel: route.channel,
        receivedAt,
      });
    } catch (error) {
      this.handlerFailed(res, route, registration, error);
      return;
    }
    if (isPromiseLike(answer)) {
      answer
        .then(
          (value) => this.finish(res, route, registration, value),
          (error: unknown) => this.handlerFailed(res, route, registration, error),
        )
        .then(undefined, (error: unknown) => this.internalError(res, error));
      return;
    }
    this.finish(res, route, registration, answer);
  }

  private finish(res: ServerResponse, route: Route, registration: Registration, answer: unknown): void {
    if (!isValidResult(answer)) {
      this.handlerFailed(res, route, registration, new TypeError("Inbound handler returned no valid HTTP status"));
      return;
    }
    send(res, answer.status, answer.body);
  }

  private handlerFailed(res: ServerResponse, route: Route, registration: Registration, error: unknown): void {
    (registration.onError ?? this.onError)?.(error, { vendor: this.vendor, channel: route.channel });
    send(res, 500, "Internal Server Error");
  }

  /** Compares digests of all registered secrets, so the time taken does not depend on the secret's contents. */
  private lookup(secret: string): SecretEntry | undefined {
    const candidate = digest(secret);
    let found: SecretEntry | undefined;
    for (const entry of this.secrets.values()) {
      if (crypto.timingSafeEqual(candidate, entry.digest)) found = entry;
    }
    return found;
  }

  /**
   * Node-RED mounts httpAdmin, whose app-level json/urlencoded parsers drain the stream, before httpNode on the
   * same root app. Core's http-in node solves this with a capture middleware moved to the top of the root app's
   * stack (21-httpin.js rawBodyCapture); this does the same for this vendor's paths only.
   */
  private installRootCapture(): void {
    const root = rootOf(this.app);
    if (root === this.app || this.capturedRoots.has(root)) return;
    const httpNodeRoot = this.httpNodeRoot ?? mountPrefix(this.app) ?? "/";
    this.capturePrefix = `${normaliseRoot(httpNodeRoot)}smartlocks/${this.vendor}/`.toLowerCase();
    root.use(this.capture);
    const stack = stackOf(root);
    const index = stack?.findIndex((layer) => layer.handle === this.capture) ?? -1;
    if (stack !== undefined && index > 0) stack.unshift(...stack.splice(index, 1));
    this.capturedRoots.add(root);
    this.captureRoot = root;
  }

  /**
   * Answers a captured callback for a registered route at once when express's walk would end at this registry
   * anyway (express-walk.ts); false leaves the request to express.
   */
  private dispatch(req: CapturedRequest, res: ServerResponse, pathname: string): boolean {
    const root = this.captureRoot;
    if (!this.directDispatch || root === undefined) return false;
    const url = req.url ?? "";
    // The capture prefix ends with "/", which starts the registry-relative path "/{secret}/{channel}".
    const route = parseRoute(url.slice(this.capturePrefix.length - 1));
    const registration = route === undefined ? undefined : this.find(route);
    if (route === undefined || registration === undefined) return false;
    if (registration.walk?.root !== root) registration.walk = new WalkDecision({ root, app: this.app, registryHandle: this.middleware, bypass: this.bypassApps, isKnownCapture: isCaptureHandle });
    const passed = registration.walk.appsPassed(pathname);
    if (passed === undefined) return false;
    // What express's expressInit would have added in the apps on the way (Node-RED turns it off by default).
    if (passed.some((app) => app.enabled?.("x-powered-by") === true)) res.setHeader("X-Powered-By", "Express");
    this.stats.direct += 1;
    this.respond(req, res, route, registration);
    return true;
  }

  private readonly capture: Middleware = (req, res, next) => {
    const captured = req as CapturedRequest;
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const pathname = query === -1 ? url : url.slice(0, query);
    // express routes case-insensitively, so the prefix is compared the same way
    if (req.method !== "POST" || !pathname.toLowerCase().startsWith(this.capturePrefix) || captured._body === true) {
      next();
      return;
    }
    readRawBody(req, this.maxBytes, this.readTimeoutMs, (result) => {
      if (result.kind === "ok") captured.smartlocksRawBody = result.body;
      else captured.smartlocksBodyProblem = result.kind;
      captured._body = true;
      let answered = false;
      try {
        answered = this.dispatch(captured, res, pathname);
      } catch {
        // never expected; express's way still answers the request
      }
      if (!answered) next();
    });
  };
}

/** `{httpNodeRoot}smartlocks/{vendor}/{secret}/{channel}`, e.g. "/api/smartlocks/nuki/abc…/bridge". */
export function routePath(httpNodeRoot: string, vendor: string, secret: string, channel: string): string {
  const segments = [vendor, secret, channel].map((segment) => encodeURIComponent(segment));
  return `${normaliseRoot(httpNodeRoot)}smartlocks/${segments.join("/")}`;
}

/** "", "/", "api", "/api", "/api/" → "/" or "/api/". */
export function normaliseRoot(httpNodeRoot: string): string {
  const trimmed = httpNodeRoot.replace(/\/{2,}/g, "/").replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? "/" : `/${trimmed}/`;
}

/**
 * Reads the body with a size cap and a deadline and calls `done` once with the result (never throws). A declared
 * Content-Length over the cap is refused without reading; a body that grows over the cap while streaming, or is not
 * complete within `timeoutMs` (0 = no limit), stops being read. A callback, not a promise: this runs for every
 * callback a device sends.
 */
function readRawBody(req: IncomingMessage, maxBytes: number, timeoutMs: number, done: (result: BodyResult) => void): void {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    done({ kind: "too_large" });
    return;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const timer =
    Number.isFinite(timeoutMs) && timeoutMs > 0
      ? setTimeout(() => {
          req.pause();
          finish({ kind: "timeout" });
        }, timeoutMs)
      : undefined;
  const finish = (result: BodyResult): void => {
    if (timer !== undefined) clearTimeout(timer);
    req.off("data", onData);
    req.off("end", onEnd);
    req.off("error", onFailure);
    req.off("aborted", onFailure);
    done(result);
  };
  const onData = (chunk: Buffer): void => {
    total += chunk.length;
    if (total > maxBytes) {
      req.pause();
      finish({ kind: "too_large" });
      return;
    }
    chunks.push(chunk);
  };
  // A callback usually arrives in one chunk, which is then passed on as is (the http parser never reuses it).
  const onEnd = (): void => finish({ kind: "ok", body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) });
  const onFailure = (): void => finish({ kind: "failed" });
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", onFailure);
  req.on("aborted", onFailure);
}

/** The body the root capture read (or the problem it ran into); undefined when it did not capture this request. */
function capturedBody(req: CapturedRequest): BodyResult | undefined {
  if (req.smartlocksBodyProblem !== undefined) return { kind: req.smartlocksBodyProblem };
  if (req.smartlocksRawBody !== undefined) return { kind: "ok", body: req.smartlocksRawBody };
  return undefined;
}

function isPromiseLike(value: unknown): value is PromiseLike<InboundResult> {
  return value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function";
}

interface Route {
  secret: string;
  channel: string;
}

function parseRoute(url: string): Route | undefined {
  const pathname = url.split("?")[0]!.replace(/\/$/, "");
  const segments = pathname.split("/");
  if (segments.length !== 3 || segments[0] !== "") return undefined;
  // routePath() percent-encodes the segments, so they are decoded before matching; a malformed escape is no route.
  let secret: string;
  let channel: string;
  try {
    secret = decodeURIComponent(segments[1]!);
    channel = decodeURIComponent(segments[2]!);
  } catch {
    return undefined;
  }
  if (!secret || !channel) return undefined;
  return { secret, channel };
}

/** One-shot SHA-256 (crypto.hash, Node 20.12+/21.7+) where available: same digest, no Hash object per request. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: "buffer") => Buffer }).hash;

function digest(value: string): Buffer {
  return oneShotHash ? oneShotHash("sha256", value, "buffer") : crypto.createHash("sha256").update(value, "utf8").digest();
}

function isValidResult(value: unknown): value is InboundResult {
  if (value === null || typeof value !== "object") return false;
  const { status } = value as { status?: unknown };
  return typeof status === "number" && Number.isInteger(status) && status >= 200 && status <= 599;
}

function send(res: ServerResponse, status: number, body: string | object | undefined): void {
  if (res.headersSent) return;
  res.statusCode = status;
  if (body === undefined) {
    res.setHeader("Content-Length", "0");
    res.end();
    return;
  }
  const json = typeof body !== "string";
  const payload = Buffer.from(json ? JSON.stringify(body) : body, "utf8");
  res.setHeader("Content-Type", json ? "application/json; charset=utf-8" : "text/plain; charset=utf-8");
  res.setHeader("Content-Length", String(payload.length));
  res.end(payload);
}

function rootOf(app: HttpApp): HttpApp {
  let current = app;
  while (isApp(current.parent)) current = current.parent;
  return current;
}

/** The app's full mount path from the root, when every level was mounted at a plain string path. */
function mountPrefix(app: HttpApp): string | undefined {
  const parts: string[] = [];
  let current: HttpApp | undefined = app;
  while (current !== undefined && isApp(current.parent)) {
    if (typeof current.mountpath !== "string") return undefined;
    parts.unshift(current.mountpath);
    current = current.parent;
  }
  return parts.join("/");
}


function isApp(value: unknown): value is HttpApp {
  return typeof value === "function" || (typeof value === "object" && value !== null && "use" in value);
}
