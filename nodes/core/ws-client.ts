/**
 * A WebSocket client that stays connected: it reconnects with exponential backoff after any close or
 * failed attempt, and detects dead connections with a watchdog, because a half-open TCP connection
 * (device rebooted, NAT entry dropped) never produces a close event by itself.
 *
 * Plain TypeScript on top of `ws`; no Node-RED here, the listener nodes wrap it.
 */
import { EventEmitter } from "node:events";
import type WebSocket from "ws";
import { SmartlockError, toSmartlockError } from "./errors.js";

// WebSocket readyState values (the same in ws and the WHATWG API).
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

let wsClass: typeof WebSocket | undefined;

/**
 * `ws`, loaded with the first connection instead of when Node-RED loads the node sets: every Node-RED start pays
 * for loading it otherwise (about 15 ms measured), also without any WebSocket-based node in the flows.
 */
function webSocketClass(): typeof WebSocket {
  wsClass ??= require("ws") as typeof WebSocket;
  return wsClass;
}

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export interface BackoffOptions {
  /** Delay before the first retry, in ms. Default 1000. */
  initialMs?: number;
  /** Upper bound of the delay (before jitter), in ms. Default 60000. */
  maxMs?: number;
  /** Growth of the delay per consecutive failure. Default 2. */
  factor?: number;
  /** Fraction: the delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. Default 0.2. */
  jitter?: number;
}

export interface HeartbeatOptions {
  /** A connection that delivers no frame at all (message, ping, pong) for this long is dead. Default 15000; 0 disables. */
  watchdogMs?: number;
  /** Interval of the ws pings we send, whose pongs count as activity. Default 30000; 0 disables. */
  pingMs?: number;
}

export interface ReconnectingWebSocketOptions {
  /** A function is called before every attempt, so the URL can follow configuration changes. */
  url: string | (() => string);
  /** Called before every attempt, so short-lived credentials (Bearer tokens) are always fresh. */
  headers?: () => Record<string, string>;
  /** Passed through to `new WebSocket()`: TLS options (ca, rejectUnauthorized, checkServerIdentity) go here. */
  wsOptions?: WebSocket.ClientOptions;
  backoff?: BackoffOptions;
  heartbeat?: HeartbeatOptions;
  /** Limit for the TCP/TLS connect plus HTTP upgrade. Default 10000. */
  handshakeTimeoutMs?: number;
  /** How long close() waits for the close handshake before terminating the socket. Default 2000. */
  closeTimeoutMs?: number;
  /** Source of randomness for the jitter, in [0, 1). Injectable so tests are deterministic. */
  random?: () => number;
}

export interface OpenEvent {
  /** False for the first connection, true for every later one. */
  reconnect: boolean;
}

export interface ReconnectingEvent {
  /** Number of the retry about to be made, 1 for the first retry after a connection was lost. */
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface DisconnectedEvent {
  code: number;
  reason: string;
}

export interface ReconnectingWebSocketEvents {
  open: [OpenEvent];
  /** Text and binary frames alike are decoded as UTF-8: the feeds we read carry JSON either way. */
  message: [data: string, isBinary: boolean];
  reconnecting: [ReconnectingEvent];
  /** Only for connections that had opened; failed attempts are reported through "error". */
  disconnected: [DisconnectedEvent];
  state: [ConnectionState];
  error: [SmartlockError];
}

const NORMAL_CLOSURE = 1000;

export class ReconnectingWebSocket extends EventEmitter<ReconnectingWebSocketEvents> {
  private readonly url: () => string;
  private readonly headers: () => Record<string, string>;
  private readonly wsOptions: WebSocket.ClientOptions;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly watchdogMs: number;
  private readonly pingMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly random: () => number;

  private currentState: ConnectionState = "idle";
  private failures = 0;
  private hasOpened = false;
  private socket: WebSocket | undefined;
  /** Why the current socket is going away, when we know better than its close code. */
  private closeReason: string | undefined;
  /** Set once the failure of the current socket has been reported, so ws' follow-up error is not reported twice. */
  private errorReported = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private terminateTimer: NodeJS.Timeout | undefined;
  private closePromise: Promise<void> | undefined;
  private resolveClose: (() => void) | undefined;

  constructor(options: ReconnectingWebSocketOptions) {
    super();
    const { url } = options;
    this.url = typeof url === "function" ? url : () => url;
    this.headers = options.headers ?? (() => ({}));
    this.wsOptions = options.wsOptions ?? {};
    this.initialMs = options.backoff?.initialMs ?? 1000;
    this.maxMs = options.backoff?.maxMs ?? 60000;
    this.factor = options.backoff?.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, options.backoff?.jitter ?? 0.2));
    this.watchdogMs = options.heartbeat?.watchdogMs ?? 15000;
    this.pingMs = options.heartbeat?.pingMs ?? 30000;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? options.wsOptions?.handshakeTimeout ?? 10000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.random = options.random ?? Math.random;
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Consecutive failed attempts since the last successful open (0 while connected). */
  get attempt(): number {
    return this.failures;
  }

  /** Starts connecting; later calls, and calls after close(), do nothing. */
  start(): void {
    if (this.currentState !== "idle") return;
    this.connect();
  }

  /** Sends on the open connection; false when there is none, nothing is queued. */
  send(data: string | Buffer): boolean {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== OPEN) return false;
    socket.send(data);
    return true;
  }

  /** Stops for good. Resolves once the socket is fully closed and no timer is left. */
  close(): Promise<void> {
    if (this.closePromise !== undefined) return this.closePromise;
    // Assigned before anything can emit, so a "state" listener calling close() again gets the same promise.
    this.closePromise = new Promise<void>((resolve) => {
      this.resolveClose = resolve;
    });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.stopHeartbeat();
    const socket = this.socket;
    if (socket === undefined || socket.readyState === CLOSED) {
      this.finishClose();
    } else if (socket.readyState === CONNECTING) {
      // No close handshake is possible before the upgrade; ws aborts the request and emits "close".
      socket.terminate();
    } else {
      if (socket.readyState === OPEN) socket.close(NORMAL_CLOSURE);
      // A peer that never answers the close frame must not keep us (and Node-RED's shutdown) waiting.
      this.terminateTimer = setTimeout(() => socket.terminate(), this.closeTimeoutMs);
    }
    return this.closePromise;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    this.closeReason = undefined;
    this.errorReported = false;
    this.setState("connecting");
    // A "state" listener may have called close() just now.
    if (this.closePromise !== undefined) return;

    let socket: WebSocket;
    try {
      const WebSocketClass = webSocketClass();
      socket = new WebSocketClass(this.url(), {
        ...this.wsOptions,
        handshakeTimeout: this.handshakeTimeoutMs,
        headers: { ...this.wsOptions.headers, ...this.headers() },
      });
    } catch (err) {
      // An invalid URL or a failing headers function: a later attempt may succeed once configuration changes.
      const error = toSmartlockError(err, "bad_request");
      this.reportError(error);
      this.scheduleReconnect(error.message);
      return;
    }
    this.socket = socket;

    // Always listened to: an unhandled "error" on the ws socket would crash the whole Node-RED process.
    socket.on("error", (err) => {
      if (socket !== this.socket || this.closePromise !== undefined || this.errorReported) return;
      this.errorReported = true;
      const error = classifySocketError(err);
      this.closeReason ??= error.message;
      this.reportError(error);
    });
    socket.on("unexpected-response", (_req, res) => {
      if (socket !== this.socket) return;
      res.resume();
      const status = res.statusCode ?? 0;
      const error = new SmartlockError(
        codeForHttpStatus(status),
        `WebSocket upgrade rejected with HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ""}`,
        { status },
      );
      this.closeReason = error.message;
      // ws' own error for the abort below ("closed before the connection was established") says less.
      this.errorReported = true;
      if (this.closePromise === undefined) this.reportError(error);
      // Listening to "unexpected-response" makes aborting the request our job; ws then emits "close".
      socket.terminate();
    });
    socket.on("open", () => {
      if (socket !== this.socket) return;
      const reconnect = this.hasOpened;
      this.hasOpened = true;
      this.failures = 0;
      this.startHeartbeat(socket);
      this.setState("open");
      this.emit("open", { reconnect });
    });
    socket.on("message", (data, isBinary) => {
      if (socket !== this.socket) return;
      this.touchWatchdog();
      this.emit("message", rawDataToText(data), isBinary);
    });
    socket.on("ping", () => {
      if (socket === this.socket) this.touchWatchdog();
    });
    socket.on("pong", () => {
      if (socket === this.socket) this.touchWatchdog();
    });
    socket.on("close", (code, reason) => {
      if (socket === this.socket) this.onSocketClose(code, reason.toString("utf8"));
    });
  }

  private onSocketClose(code: number, reason: string): void {
    // State stays "open" while close() waits for the handshake, so this also covers our own close.
    const wasOpen = this.currentState === "open";
    this.socket = undefined;
    this.stopHeartbeat();
    const why = this.closeReason ?? `connection closed (code ${code}${reason ? `: ${reason}` : ""})`;
    // A socket that never opened has nothing to disconnect; its failure went out as "error".
    if (wasOpen) this.emit("disconnected", { code, reason });
    // Checked after the emit: a "disconnected" listener may have called close().
    if (this.closePromise !== undefined) this.finishClose();
    else this.scheduleReconnect(why);
  }

  private scheduleReconnect(reason: string): void {
    this.failures += 1;
    const delayMs = this.delayFor(this.failures);
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
    this.setState("reconnecting");
    if (this.closePromise !== undefined) return;
    this.emit("reconnecting", { attempt: this.failures, delayMs, reason });
  }

  /** min(maxMs, initialMs * factor^(n-1)), spread by jitter so many clients do not retry in lockstep. */
  private delayFor(attempt: number): number {
    const base = Math.min(this.maxMs, this.initialMs * Math.pow(this.factor, attempt - 1));
    const spread = 1 - this.jitter + 2 * this.jitter * this.random();
    return Math.max(0, Math.round(base * spread));
  }

  private startHeartbeat(socket: WebSocket): void {
    if (this.watchdogMs > 0) {
      this.watchdogTimer = setTimeout(() => {
        this.closeReason = `no frame received for ${this.watchdogMs} ms`;
        socket.terminate();
      }, this.watchdogMs);
    }
    if (this.pingMs > 0) {
      this.pingTimer = setInterval(() => {
        if (socket.readyState === OPEN) socket.ping();
      }, this.pingMs);
    }
  }

  private touchWatchdog(): void {
    this.watchdogTimer?.refresh();
  }

  private stopHeartbeat(): void {
    clearTimeout(this.watchdogTimer);
    clearInterval(this.pingTimer);
    this.watchdogTimer = undefined;
    this.pingTimer = undefined;
  }

  private finishClose(): void {
    clearTimeout(this.terminateTimer);
    this.terminateTimer = undefined;
    this.socket = undefined;
    this.setState("closed");
    const resolve = this.resolveClose;
    this.resolveClose = undefined;
    resolve?.();
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.emit("state", state);
  }

  /** Errors are information here, never a crash: without a listener they are dropped. */
  private reportError(error: SmartlockError): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }
}

function codeForHttpStatus(status: number): SmartlockError["code"] {
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 404) return "not_found";
  return "rejected";
}

function classifySocketError(err: Error): SmartlockError {
  if (/handshake has timed out/i.test(err.message)) {
    return new SmartlockError("timeout", err.message, { cause: err });
  }
  return toSmartlockError(err, "unreachable");
}

function rawDataToText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}
