/**
 * The connection to one UniFi Access controller, owned by a `unifi-access-config` node and shared by its listeners
 * and actions: TLS policy (pin / trust on first use / verify / insecure), the notifications WebSocket through the
 * core reconnecting client, a REST resync after every (re)connect so changes during a gap are reported, webhook
 * endpoint registration (ours only, idempotent) and signed intake, WebSocket/webhook merging, confirmed actions.
 *
 * Plain TypeScript: the Node-RED glue in ../unifi-access.ts wires routes, status, context and logging to it.
 */
import { EventEmitter } from "node:events";
import type { ClientOptions as WsClientOptions } from "ws";
import type { IncomingHttpHeaders } from "node:http";
import { ActorMerger } from "../core/actor-merge";
import type { Channel, DoorEvent, DoorState, LockState } from "../core/door-event";
import { SmartlockError, toSmartlockError } from "../core/errors";
import type { TlsOptions } from "../core/http-client";
import { InFlight } from "../core/in-flight";
import { StateTracker } from "../core/state-tracker";
import { waitFor } from "../core/wait-for";
import { type BackoffOptions, type HeartbeatOptions, ReconnectingWebSocket } from "../core/ws-client";
import { actionSpec } from "./actions";
import { NOTIFICATIONS_PATH, TOKEN_HINT, UnifiAccessClient } from "./client";
import { DoorIndex } from "./door-index";
import {
  CONTROLLER,
  type Detail,
  type Outcome,
  VENDOR,
  WEBHOOK_EVENTS,
  doorDevice,
  doorFromDps,
  emergencyReport,
  lockFromState,
  normalizeWebhook,
  normalizeWs,
  parseFrame,
  unknownEventName,
} from "./normalize";
import { type WebhookEndpoint, unifiSchemas } from "./schemas";
import { type SignatureProblem, verifySignature } from "./signature";
import {
  PinMismatchError,
  type TlsMode,
  formatFingerprint,
  isCertificateError,
  pinnedTlsOptions,
  probeCertificate,
  shortFingerprint,
  tlsOptionsFor,
} from "./tls";

export type UnifiEvent = DoorEvent & { detail?: Detail };

export type ConnectionState =
  | "idle"
  | "connecting"
  | "connected"
  | "reconnecting"
  | "unauthorized"
  | "pin-mismatch"
  | "unreachable"
  | "closed";

export interface ConnectionStatus {
  state: ConnectionState;
  /** Short reason for the node status (no secrets). */
  reason?: string;
  /** The controller's certificate fingerprint when it was trusted on first use in this session. */
  learnedFingerprint?: string;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  token: string;
  tls: TlsMode;
  /** Normalized pinned fingerprint (64 upper-case hex), or null for trust on first use. */
  fingerprint: string | null;
  /** A fingerprint trusted on first use: the glue stores it and shows it so the user can copy it. */
  onFingerprintLearned?: (fingerprint: string) => void;
  webhooks: boolean;
  /** The webhook URL to register, or null when webhooks cannot be received (no httpNode). */
  webhookUrl: () => Promise<string | null>;
  /** Whether an endpoint registered at the controller is one of ours (same route secret), current or stale. */
  ownsWebhook: (url: string) => boolean;
  unknownEvents: boolean;
  /** actor_name sent with unlocks (shown in the Access logs). */
  actorName: string;
  warn: (message: string) => void;
  heartbeat?: HeartbeatOptions;
  backoff?: BackoffOptions;
  requestTimeoutMs?: number;
  /** Webhook timestamp tolerance in seconds (default 300). */
  toleranceS?: number;
  /** Window in which logs.add / logs.insights.add / webhook describe one access happening (default 10 s). */
  onceWindowMs?: number;
}

export interface ActionResult {
  device: string;
  action: string;
  confirmed: boolean;
  lock: LockState | null;
  door: DoorState | null;
}

export interface ActionOptions {
  confirm: boolean;
  timeoutMs: number;
  minutes?: number;
}

export const WEBHOOK_NAME = "Node-RED smartlocks";
const ACTOR_ID = "node-red-smartlocks";

export class UnifiAccessConnection extends EventEmitter {
  readonly tracker = new StateTracker(VENDOR);
  readonly index = new DoorIndex();
  private readonly merger: ActorMerger;
  private readonly inFlight = new InFlight<ActionResult>();
  private readonly closing = new AbortController();
  private client: UnifiAccessClient | null = null;
  private ws: ReconnectingWebSocket | null = null;
  private statusValue: ConnectionStatus = { state: "idle" };
  private started = false;
  private synced = false;
  private pinned: string | null;
  private learned: string | undefined;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = 1000;
  private webhook: { id: string; secret: string; url: string } | null = null;
  private webhookWanted = false;
  private webhookChain: Promise<void> = Promise.resolve();
  private lastWarning = "";
  /** onceKey -> when it was reported (doorbell request ids, access happenings). */
  private readonly onceSeen = new Map<string, { atMs: number; source: string }>();

  constructor(private readonly options: ConnectionOptions) {
    super();
    this.pinned = options.fingerprint;
    this.merger = new ActorMerger({ windowMs: 30_000 });
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  get webhookSecretKnown(): boolean {
    return this.webhook !== null;
  }

  /** Starts connecting (idempotent). Never rejects: failures become status, warnings and retries. */
  start(): void {
    if (this.started || this.closing.signal.aborted) return;
    this.started = true;
    this.setStatus({ state: "connecting" });
    void this.prepare();
  }

  /** Whether a webhook endpoint should exist (at least one listener, webhooks enabled). */
  wantWebhook(wanted: boolean): void {
    this.webhookWanted = wanted && this.options.webhooks;
    if (!this.synced) return;
    this.queueWebhook(() => (this.webhookWanted ? this.ensureWebhook() : this.removeWebhooks()));
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    this.ws = null;
    const closingWs = ws ? ws.close() : Promise.resolve();
    // Deleting our endpoint is worth a few seconds, not a hung redeploy.
    const cleanup = this.client && this.options.webhooks ? this.removeWebhooksNow() : Promise.resolve();
    await Promise.race([Promise.all([closingWs, cleanup.catch(() => undefined)]), delay(5000)]);
    this.client?.close();
    this.setStatus({ state: "closed" });
    this.removeAllListeners();
  }

  // ---- TLS and connect -----------------------------------------------------------------------------------

  private async prepare(): Promise<void> {
    if (this.closing.signal.aborted) return;
    let tls: TlsOptions;
    try {
      tls = await this.tlsOptions();
    } catch (err) {
      if (this.closing.signal.aborted) return;
      const error = toSmartlockError(err);
      if (error instanceof PinMismatchError) this.pinMismatch(error);
      else this.fail(error);
      // A pin mismatch stays a mismatch until someone acts; check again now and then, never faster than 1/min.
      const wait = error instanceof PinMismatchError ? 60_000 : this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, 60_000);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.prepare();
      }, wait);
      this.retryTimer.unref?.();
      return;
    }
    if (this.closing.signal.aborted) return;
    try {
      this.client = new UnifiAccessClient({
        host: this.options.host,
        port: this.options.port,
        token: this.options.token,
        tls,
        ...(this.options.requestTimeoutMs === undefined ? {} : { timeoutMs: this.options.requestTimeoutMs }),
      });
    } catch (err) {
      // e.g. a host that makes no URL (imported flows skip the editor's validation): no retry can fix that
      this.setStatus({ state: "unreachable", reason: "invalid host" });
      this.warnOnce(toSmartlockError(err, "bad_request").message);
      return;
    }
    this.openWebSocket(tls);
  }

  private async tlsOptions(): Promise<TlsOptions> {
    if (this.options.tls !== "pin") return tlsOptionsFor(this.options.tls);
    const probed = await probeCertificate(this.options.host, this.options.port);
    if (this.pinned === null) {
      this.pinned = probed.fingerprint;
      this.learned = probed.fingerprint;
      this.options.onFingerprintLearned?.(probed.fingerprint);
    } else if (probed.fingerprint !== this.pinned) {
      throw new PinMismatchError(this.pinned, probed.fingerprint);
    }
    return pinnedTlsOptions(probed.pem, this.pinned);
  }

  private openWebSocket(tls: TlsOptions): void {
    const host = this.options.host.includes(":") && !this.options.host.startsWith("[") ? `[${this.options.host}]` : this.options.host;
    const ws = new ReconnectingWebSocket({
      url: `wss://${host}:${this.options.port}${NOTIFICATIONS_PATH}`,
      headers: () => ({ authorization: `Bearer ${this.options.token}` }),
      wsOptions: { ...tls } as WsClientOptions,
      ...(this.options.heartbeat ? { heartbeat: this.options.heartbeat } : {}),
      ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
    });
    this.ws = ws;
    ws.on("open", ({ reconnect }) => {
      void this.sync(reconnect);
    });
    ws.on("message", (text) => this.onFrame(text));
    ws.on("reconnecting", ({ reason }) => {
      if (this.statusValue.state === "pin-mismatch" || this.statusValue.state === "unauthorized") return;
      this.setStatus({ state: "reconnecting", reason: "reconnecting" });
      if (/no frame received/.test(reason)) this.warnOnce(`UniFi Access notifications went silent (${reason}); reconnecting`);
    });
    ws.on("error", (error) => {
      void this.onSocketError(error);
    });
    ws.start();
  }

  private async onSocketError(error: SmartlockError): Promise<void> {
    if (this.closing.signal.aborted) return;
    if (this.options.tls === "pin" && isCertificateError(error) && this.pinned) {
      // The certificate changed since we pinned it; learn which one is presented now, for the message.
      const actual = await probeCertificate(this.options.host, this.options.port).then((p) => p.fingerprint, () => "unknown");
      if (actual !== this.pinned) {
        this.pinMismatch(new PinMismatchError(this.pinned, actual));
        return;
      }
    }
    if (error.code === "unauthorized") {
      this.setStatus({ state: "unauthorized", reason: "token refused" });
      this.warnOnce(`UniFi Access refused the notifications WebSocket: ${error.message}. ${TOKEN_HINT}`);
      return;
    }
    if (isCertificateError(error)) {
      this.setStatus({ state: "unreachable", reason: "certificate not trusted" });
      this.warnOnce(
        `UniFi Access: the controller's certificate is not trusted (${error.message}). With "verify" the certificate must chain to a CA this host trusts; ` +
          'use "pin" for the self-generated certificate of port 12445.',
      );
      return;
    }
    this.warnOnce(`UniFi Access notifications: ${error.message}`);
  }

  private pinMismatch(error: PinMismatchError): void {
    this.setStatus({
      state: "pin-mismatch",
      reason: `cert ${shortFingerprint(error.actual)} ≠ pin ${shortFingerprint(error.expected)}`,
    });
    this.warnOnce(error.message);
  }

  private fail(error: SmartlockError): void {
    const state: ConnectionState = error.code === "unauthorized" ? "unauthorized" : "unreachable";
    this.setStatus({ state, reason: state === "unauthorized" ? "token refused" : error.code === "timeout" ? "controller timeout" : "controller unreachable" });
    this.warnOnce(error.message);
  }

  // ---- resync ------------------------------------------------------------------------------------------

  /** After every (re)connect: read doors, devices and emergency state; report what changed during the gap. */
  private async sync(reconnect: boolean): Promise<void> {
    const client = this.client;
    if (!client || this.closing.signal.aborted) return;
    try {
      const doors = await client.doors();
      const devices = await client.devices().catch((err: unknown) => {
        this.warnOnce(`UniFi Access: cannot read /devices (${toSmartlockError(err).message}); doorbell calls are matched to doors by name only`);
        return [];
      });
      const emergency = await client.emergency().catch(() => null);
      if (this.closing.signal.aborted) return;
      this.index.load(doors, devices);
      const snapshot = !this.synced;
      for (const door of doors) {
        const report = {
          device: doorDevice(this.index, door.id, door.name),
          lock: lockFromState(door.door_lock_relay_status ?? undefined) ?? null,
          door: doorFromDps(door.door_position_status ?? null) ?? null,
        };
        this.apply({ kind: "report", report }, "poll", door, snapshot);
      }
      if (emergency) this.apply({ kind: "report", report: emergencyReport(emergency) }, "poll", emergency, snapshot);
      this.synced = true;
      this.retryMs = 1000;
      this.setStatus({ state: "connected", ...(this.learned ? { learnedFingerprint: this.learned } : {}) });
      if (!reconnect || this.webhookWanted) {
        this.queueWebhook(() => (this.webhookWanted ? this.ensureWebhook() : Promise.resolve()));
      }
    } catch (err) {
      if (this.closing.signal.aborted) return;
      this.fail(toSmartlockError(err));
    }
  }

  // ---- WebSocket intake --------------------------------------------------------------------------------

  private onFrame(text: string): void {
    const frame = parseFrame(text);
    if (frame.kind === "heartbeat") return; // the client's watchdog already counted it
    if (frame.kind === "garbage") {
      this.warnOnce("UniFi Access sent a WebSocket frame that is not JSON; ignored");
      return;
    }
    const envelope = unifiSchemas().wsEnvelopeSchema.safeParse(frame.value);
    if (!envelope.success) {
      this.warnOnce("UniFi Access sent a WebSocket message without an event name; ignored");
      return;
    }
    try {
      for (const outcome of normalizeWs(envelope.data, this.index)) this.apply(outcome, "websocket", frame.value);
    } catch (err) {
      this.warnOnce(`UniFi Access: could not handle ${envelope.data.event}: ${toSmartlockError(err).message}`);
    }
  }

  // ---- webhook intake ----------------------------------------------------------------------------------

  /**
   * A webhook POST: verified over the raw bytes with our endpoint's secret, parsed and validated here; returns
   * the HTTP answer at once (the controller waits at most 5 s). Events are emitted after the answer.
   */
  handleWebhook(rawBody: Buffer, headers: IncomingHttpHeaders, receivedAt = Date.now()): { status: number; body?: string; warning?: string } {
    const header = headers["signature"];
    const problem: SignatureProblem | null = verifySignature(rawBody, Array.isArray(header) ? header[0] : header, this.webhook?.secret, {
      ...(this.options.toleranceS === undefined ? {} : { toleranceS: this.options.toleranceS }),
      nowS: Math.floor(receivedAt / 1000),
    });
    if (problem) {
      const why =
        problem === "stale" ? "a timestamp outside the allowed 300 s (check both clocks)" : problem === "no_secret" ? "no endpoint secret known yet" : `a bad signature (${problem})`;
      return { status: 401, body: "Unauthorized", warning: `UniFi Access webhook with ${why} refused` };
    }
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString("utf8"));
    } catch {
      return { status: 400, body: "malformed JSON", warning: "UniFi Access webhook with malformed JSON ignored" };
    }
    const parsed = unifiSchemas().webhookBodySchema.safeParse(json);
    if (!parsed.success) return { status: 400, body: "unexpected body", warning: "UniFi Access webhook with an unexpected body ignored" };
    setImmediate(() => {
      if (this.closing.signal.aborted) return;
      try {
        for (const outcome of normalizeWebhook(parsed.data, this.index)) this.apply(outcome, "webhook", json, false, receivedAt);
      } catch (err) {
        this.warnOnce(`UniFi Access: could not handle webhook ${parsed.data.event}: ${toSmartlockError(err).message}`);
      }
    });
    return { status: 200, body: "OK" };
  }

  // ---- outcomes -> events ------------------------------------------------------------------------------

  private apply(outcome: Outcome, channel: Channel, raw: unknown, snapshot = false, receivedAt = Date.now()): void {
    if (this.closing.signal.aborted) return;
    const context = { channel, raw, receivedAt, ...(snapshot ? { snapshot: true } : {}) };
    switch (outcome.kind) {
      case "report": {
        const events = this.tracker.update(outcome.report, context);
        for (const event of events) this.publish(outcome.detail ? { ...event, detail: outcome.detail } : event);
        this.emit("report", outcome.report.device.id, channel);
        return;
      }
      case "happening": {
        if (outcome.onceKey && this.seenOnce(outcome.onceKey, receivedAt, null)) return;
        if (outcome.event.startsWith("access.") && this.seenOnce(accessKey(outcome.device.id, outcome.event), receivedAt, String(outcome.detail?.source ?? channel), true)) return;
        const event = this.tracker.happening(
          outcome.device,
          { event: outcome.event, actor: outcome.actor ?? null, at: outcome.at ?? null, vendorId: outcome.vendorId ?? null },
          context,
        );
        if (!event) return;
        if (outcome.event === "doorbell.rang" && typeof outcome.detail?.requestId === "string" && outcome.device.type === "door") {
          this.index.rememberCall(outcome.detail.requestId, outcome.device.id);
        }
        this.publish(outcome.detail ? { ...event, detail: outcome.detail } : event);
        return;
      }
      case "unlock-actor": {
        const follow = outcome.granted ? this.merger.attach(outcome.device.id, ["lock.unlocked"], receivedAt, outcome.actor) : null;
        if (follow) {
          this.emit("event", { ...follow, detail: { ...(follow as UnifiEvent).detail, ...outcome.detail } });
          return;
        }
        const name = outcome.granted ? "access.granted" : "access.denied";
        // access.granted/denied may already be out with its actor (logs.add / logs.insights.add over the WebSocket).
        if (!this.seenOnce(accessKey(outcome.device.id, name), receivedAt, "webhook", true)) {
          const event = this.tracker.happening(outcome.device, { event: name, actor: outcome.actor, vendorId: outcome.vendorId }, context);
          if (event) this.publish({ ...event, detail: outcome.detail });
        }
        // The webhook overtook the WebSocket's lock change (or there is no WebSocket): the lock event carries the
        // actor itself, and the WebSocket's report of the same state yields no second event.
        if (outcome.granted) {
          const events = this.tracker.update({ device: outcome.device, lock: "unlocked", actor: outcome.actor }, context);
          for (const e of events) this.publish({ ...e, detail: outcome.detail });
          this.emit("report", outcome.device.id, channel);
        }
        return;
      }
      case "unknown": {
        if (!this.options.unknownEvents) return;
        const event = this.tracker.happening(outcome.device, { event: unknownEventName(outcome.name), vendorId: outcome.vendorId }, context);
        if (event) this.publish(event);
        return;
      }
      case "invalid":
        this.warnOnce(`UniFi Access ${outcome.name} with ${outcome.reason} ignored`);
        return;
      case "ignored":
        return;
    }
  }

  /**
   * Whether a happening with this key was already reported recently. With `crossSourceOnly`, only a report from
   * another source counts (two log entries of the same kind are two happenings; logs.add + insights.add are one).
   */
  private seenOnce(key: string, atMs: number, source: string | null, crossSourceOnly = false): boolean {
    const windowMs = this.options.onceWindowMs ?? 10_000;
    const previous = this.onceSeen.get(key);
    if (previous && Math.abs(atMs - previous.atMs) <= (crossSourceOnly ? windowMs : 10 * 60_000)) {
      if (!crossSourceOnly || previous.source !== source) return true;
    }
    this.onceSeen.set(key, { atMs, source: source ?? "" });
    if (this.onceSeen.size > 1000) this.onceSeen.delete(this.onceSeen.keys().next().value as string);
    return false;
  }

  private publish(event: UnifiEvent): void {
    this.merger.remember(event);
    this.emit("event", event);
  }

  // ---- webhook registration ------------------------------------------------------------------------------

  private queueWebhook(work: () => Promise<void>): void {
    const next = this.webhookChain.then(work).catch((err: unknown) => {
      if (!this.closing.signal.aborted) this.warnOnce(`UniFi Access webhook registration failed: ${toSmartlockError(err).message}`);
    });
    this.webhookChain = next;
  }

  /** Find ours by URL (keep its secret), update its events when they differ, create it when missing. */
  private async ensureWebhook(): Promise<void> {
    const client = this.client;
    if (!client || this.closing.signal.aborted) return;
    const url = await this.options.webhookUrl();
    if (!url) {
      this.warnOnce("UniFi Access webhooks are on, but Node-RED's HTTP nodes are disabled (httpNodeRoot: false): only the WebSocket is used");
      return;
    }
    const events = [...WEBHOOK_EVENTS];
    let endpoints = await client.webhookEndpoints();
    for (const stale of endpoints.filter((e) => this.options.ownsWebhook(e.endpoint) && e.endpoint !== url)) {
      await client.deleteWebhookEndpoint(stale.id);
    }
    let ours: WebhookEndpoint | undefined = endpoints.find((e) => e.endpoint === url);
    if (ours && !sameSet(ours.events ?? [], events)) {
      await client.updateWebhookEndpoint(ours.id, { name: ours.name ?? WEBHOOK_NAME, endpoint: url, events });
    }
    if (!ours) {
      try {
        ours = await client.createWebhookEndpoint({ name: WEBHOOK_NAME, endpoint: url, events });
      } catch (err) {
        if (!/WEBHOOK_ENDPOINT_DUPLICATED/.test(toSmartlockError(err).message)) throw err;
      }
      if (!ours?.secret) {
        endpoints = await client.webhookEndpoints();
        ours = endpoints.find((e) => e.endpoint === url);
      }
    }
    if (!ours?.secret) throw new SmartlockError("rejected", "the controller did not return our webhook endpoint's secret");
    this.webhook = { id: ours.id, secret: ours.secret, url };
  }

  private removeWebhooks(): Promise<void> {
    return this.removeWebhooksNow();
  }

  /** Deletes every endpoint of ours (current or stale); never another application's. */
  private async removeWebhooksNow(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const known = this.webhook;
    this.webhook = null;
    const endpoints = await client.webhookEndpoints();
    for (const endpoint of endpoints) {
      if (endpoint.id === known?.id || this.options.ownsWebhook(endpoint.endpoint)) await client.deleteWebhookEndpoint(endpoint.id);
    }
  }

  // ---- actions -------------------------------------------------------------------------------------

  /** Sends an action and, when asked, waits until the event stream reports the state it leads to. */
  perform(doorRef: string, action: string, options: ActionOptions): Promise<ActionResult> {
    const spec = actionSpec(action);
    if (!spec) return Promise.reject(new SmartlockError("unsupported", `"${action}" is not a UniFi Access action`));
    const device = spec.kind === "emergency" ? CONTROLLER.id : doorRef.trim();
    if (!device) return Promise.reject(new SmartlockError("bad_request", "no door id"));
    const key = `${device}:${action}:${options.confirm}:${options.minutes ?? ""}`;
    return this.inFlight.run(key, () => this.execute(device, action, options)).promise;
  }

  private async execute(id: string, action: string, options: ActionOptions): Promise<ActionResult> {
    const client = this.client;
    if (!client) throw new SmartlockError("unreachable", `UniFi Access controller not connected (${this.statusValue.reason ?? this.statusValue.state})`);
    const spec = actionSpec(action)!;
    if (spec.kind !== "emergency" && this.index.size > 0 && !this.index.door(id)) {
      throw new SmartlockError("not_found", `UniFi Access has no door ${id} (known: ${this.index.doors().map((d) => `${d.id} "${d.name ?? ""}"`).join(", ")})`);
    }
    let expectLock: LockState | "any" | null = null;
    let expectFlags: Record<string, boolean> | null = null;
    let send: () => Promise<void>;
    switch (spec.kind) {
      case "unlock":
        expectLock = spec.confirms;
        send = () => client.unlock(id, { id: ACTOR_ID, name: this.options.actorName });
        break;
      case "lock": {
        expectLock = "locked";
        const rule = await client.lockRule(id);
        send = () => client.setLockRule(id, rule?.type === "keep_unlock" ? "reset" : "lock_now");
        break;
      }
      case "rule": {
        expectLock = spec.confirms;
        if (spec.minutes && options.minutes === undefined) throw new SmartlockError("bad_request", `${action} needs minutes (1-1440): msg.payload = { action, device, minutes }`);
        send = () => client.setLockRule(id, spec.rule, spec.minutes ? options.minutes : undefined);
        break;
      }
      case "emergency":
        expectFlags = { "emergency.lockdown": spec.lockdown, "emergency.evacuation": spec.evacuation };
        send = () => client.setEmergency({ lockdown: spec.lockdown, evacuation: spec.evacuation });
        break;
    }
    const reached = (): boolean => {
      const state = this.tracker.get(id);
      if (!state) return false;
      if (expectFlags) return Object.entries(expectFlags).every(([flag, value]) => (state.flags[flag] ?? false) === value);
      return expectLock === "any" || state.lock === expectLock;
    };
    // Listen before sending: the notification can arrive before the controller's answer does.
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    const confirmation = options.confirm ? waitFor(this, "report", (deviceId) => deviceId === id && reached(), options.timeoutMs, abort.signal) : Promise.resolve(false);
    try {
      await send();
    } catch (err) {
      abort.abort();
      throw err;
    } finally {
      if (!options.confirm) this.closing.signal.removeEventListener("abort", onClose);
    }
    const confirmed = await confirmation.finally(() => this.closing.signal.removeEventListener("abort", onClose));
    const state = this.tracker.get(id);
    return { device: id, action, confirmed, lock: state?.lock ?? null, door: state?.door ?? null };
  }

  // ---- plumbing ------------------------------------------------------------------------------------

  private warnOnce(message: string): void {
    if (message === this.lastWarning) return;
    this.lastWarning = message;
    this.options.warn(message);
  }

  private setStatus(status: ConnectionStatus): void {
    const s = this.statusValue;
    if (s.state === status.state && s.reason === status.reason && s.learnedFingerprint === status.learnedFingerprint) return;
    this.statusValue = status;
    if (status.state === "connected") this.lastWarning = "";
    this.emit("status", status);
  }
}

function accessKey(deviceId: string, event: string): string {
  return `access:${deviceId}:${event}`;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

export { formatFingerprint };
