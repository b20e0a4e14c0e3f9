/**
 * Everything one `loqed-config` node talks to, shared by its listeners and actions:
 * - bridge channel: initial snapshot from `GET /status` (only at start and after the bridge was unreachable),
 *   webhook registration hygiene (ours by route secret: keep the exact one, remove stale and duplicate copies,
 *   add if missing, remove on close, never touch others), periodic re-check of the registration, verified
 *   webhook intake;
 * - cloud channel: unsigned cloud webhooks behind the route secret, de-duplicated;
 * - actions: signed bridge commands (or the Integrations API without a bridge), confirmed by webhooks that
 *   carry our key id.
 *
 * Plain TypeScript: the Node-RED glue in ../loqed.ts wires routes, status and logging to it.
 */
import { createHash } from "node:crypto";
import { lookup } from "node:dns/promises";
import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import type { Actor, Device, DoorEvent, LockState } from "../core/door-event";
import { type ErrorCode, SmartlockError, toSmartlockError } from "../core/errors";
import { InFlight } from "../core/in-flight";
import type { InboundRequest } from "../core/route-registry";
import { StateTracker } from "../core/state-tracker";
import { waitFor } from "../core/wait-for";
import { SUPPORTED_ACTIONS, actionSpec } from "./actions";
import { LoqedBridgeClient } from "./bridge-client";
import { LoqedCloudClient } from "./cloud-client";
import {
  type Bolt,
  type Classified,
  actorOf,
  batteryOf,
  boltLockState,
  classify,
  gotoLockState,
  normaliseMac,
  statusParts,
} from "./normalize";
import { CloudFollowUps, awaitsName } from "./follow-up";
import { rejectText, verifyBridgeWebhook } from "./receiver";
import { type WebhookBody, type WebhookEntry, loqedSchemas } from "./schemas";

export type LoqedState =
  | "idle"
  | "connecting"
  | "connected"
  | "no-webhook"
  | "unreachable"
  | "unauthorized"
  | "rejecting"
  | "closed";

export interface LoqedStatus {
  state: LoqedState;
  /** Short reason for node status texts (no secrets). */
  reason?: string;
}

export interface LoqedConnectionOptions {
  /** Bridge address; empty = no bridge channel. */
  host: string;
  port: number;
  bridgeKey: Buffer | null;
  keySecret: Buffer | null;
  keyId: number | null;
  lockId: string;
  deviceName: string | null;
  cloudToken: string;
  cloudUrl: string;
  keyNames: ReadonlyMap<number, string>;
  timestampWindowSeconds: number;
  allowMissingTimestamp: boolean;
  /** The bridge webhook URL to register, or null when webhooks cannot be received (no httpNode). */
  callbackUrl: () => Promise<string | null>;
  /** Whether a URL registered at the bridge is one of ours (same route secret), current or stale. */
  ownsWebhook: (url: string) => boolean;
  warn: (message: string) => void;
  /** Re-check of the webhook registration (ms, default 10 min). */
  checkIntervalMs?: number;
  /** First retry after the bridge was unreachable (ms); doubles up to checkIntervalMs. */
  retryMs?: number;
  requestTimeoutMs?: number;
  tracker?: StateTracker;
}

export interface ActionResult {
  device: string;
  action: string;
  confirmed: boolean;
  lock: LockState | null;
  door: null;
}

/** What one verified delivery said, for action confirmation. */
export interface LoqedReport {
  channel: "bridge" | "cloud";
  classified: Classified;
}

/** Cloud names only: the user's slot table already named the bridge event if it could. */
const NO_NAMES: ReadonlyMap<number, string> = new Map();
/** A GO_TO_STATE actor is reused for the STATE_CHANGED that follows it within this time. */
const GOTO_ACTOR_MS = 30_000;
/** The cloud delivers each event twice about 4 s apart. */
const CLOUD_DUPLICATE_MS = 30_000;
/** Repeated warnings about rejected webhooks are summarised at most this often. */
const WARN_EVERY_MS = 300_000;

export class LoqedConnection extends EventEmitter {
  readonly tracker: StateTracker;
  readonly bridge: LoqedBridgeClient | null;
  readonly cloud: LoqedCloudClient | null;
  private readonly inFlight = new InFlight<ActionResult>();
  private readonly closing = new AbortController();
  private statusValue: LoqedStatus = { state: "idle" };
  private started = false;
  private synced = false;
  private webhookRegistered = false;
  private mac: string | null = null;
  private bridgeAddresses: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private cycle: Promise<void> = Promise.resolve();
  private lastGoto: { key: number | null; target: Bolt; actor: Actor | null; at: number } | null = null;
  private readonly seenSignatures = new Map<string, number>();
  private readonly seenCloud = new Map<string, number>();
  private readonly followUps = new CloudFollowUps();
  private cloudSeen = false;
  private readonly warnedAt = new Map<string, { at: number; suppressed: number }>();
  private othersWarned = -1;

  constructor(private readonly options: LoqedConnectionOptions) {
    super();
    this.tracker = options.tracker ?? new StateTracker("loqed");
    this.retryDelay = options.retryMs ?? 10_000;
    this.bridge = options.host
      ? new LoqedBridgeClient({
          host: options.host,
          port: options.port,
          bridgeKey: options.bridgeKey,
          keySecret: options.keySecret,
          keyId: options.keyId,
          ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
        })
      : null;
    this.cloud = options.cloudToken
      ? new LoqedCloudClient({
          baseUrl: options.cloudUrl,
          token: options.cloudToken,
          ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
        })
      : null;
  }

  get status(): LoqedStatus {
    return this.statusValue;
  }

  /** Bridge webhooks can be received and verified (host and bridge key set). */
  get hasBridgeChannel(): boolean {
    return this.bridge !== null && this.bridge.canManageWebhooks;
  }

  get hasWebhook(): boolean {
    return this.webhookRegistered;
  }

  /**
   * The cloud channel is active when a cloud token is set or a cloud webhook arrived since start (LOQED has
   * no API to ask whether cloud webhooks point here).
   */
  get cloudActive(): boolean {
    return this.cloud !== null || this.cloudSeen;
  }

  /** Whether an event may still get a name from a cloud webhook (listeners with actorWait hold these). */
  expectsName(event: DoorEvent): boolean {
    return this.cloudActive && this.hasBridgeChannel && awaitsName(event);
  }

  /** The device id: `lockId` from the config, else the bridge Wi-Fi MAC once known. */
  get deviceId(): string | null {
    return this.options.lockId || this.mac;
  }

  start(): void {
    if (this.started || this.closing.signal.aborted) return;
    this.started = true;
    if (!this.hasBridgeChannel) {
      // Cloud only: nothing to connect to; the cloud webhook route is ready as soon as the node runs.
      this.setStatus({ state: "connected", reason: "cloud" });
      return;
    }
    this.setStatus({ state: "connecting" });
    this.schedule(0);
  }

  // ---- inbound ---------------------------------------------------------------------------------------

  /** A POST on the bridge route: verified before parsing; events are emitted after the answer. */
  handleBridge(request: InboundRequest): { status: number; body?: string } {
    const key = this.options.bridgeKey;
    if (!key) return { status: 404 };
    const verdict = verifyBridgeWebhook({
      rawBody: request.rawBody,
      headers: request.headers,
      remoteAddress: request.remoteAddress,
      bridgeKey: key,
      nowMs: request.receivedAt,
      windowSeconds: this.options.timestampWindowSeconds,
      allowMissingTimestamp: this.options.allowMissingTimestamp,
      bridgeAddresses: this.bridgeAddresses.length > 0 ? this.bridgeAddresses : [this.options.host],
    });
    if (!verdict.ok) {
      const text = rejectText(verdict.reason, this.options.timestampWindowSeconds, verdict.skewSeconds);
      this.warnThrottled(verdict.reason, `LOQED bridge webhook refused (401): ${text}`);
      if (verdict.reason === "missing-timestamp") this.setStatus({ state: "rejecting", reason: "no TIMESTAMP: refused" });
      return { status: 401, body: text };
    }
    // Parsed before the replay check, so a malformed body gets 400 every time (it was never "taken").
    const parsed = this.parse(request.rawBody);
    if (!parsed.ok) {
      this.warnThrottled("bridge-body", `LOQED bridge webhook ignored (400): ${parsed.error}`);
      return { status: 400, body: parsed.error };
    }
    if (verdict.signed) {
      const signature = `${verdict.timestamp}:${verdict.hash}`;
      this.prune(this.seenSignatures, this.options.timestampWindowSeconds * 2000 + 1000, request.receivedAt);
      // A replay of a delivery we already took within its window: acknowledged, not reported again.
      if (this.seenSignatures.has(signature)) return { status: 200 };
      this.seenSignatures.set(signature, request.receivedAt);
    }
    if (this.statusValue.state === "rejecting") this.setStatus({ state: this.webhookRegistered ? "connected" : "connecting" });
    const mac = normaliseMac(parsed.body.mac_wifi);
    if (mac && !this.mac) this.mac = mac;
    this.process(parsed.body, parsed.json, "bridge", request.receivedAt, verdict.signed ? verdict.hash : null);
    return { status: 200 };
  }

  /** A POST on the cloud route (unsigned: the route secret is the only protection). */
  handleCloud(request: InboundRequest): { status: number; body?: string } {
    const parsed = this.parse(request.rawBody);
    if (!parsed.ok) {
      this.warnThrottled("cloud-body", `LOQED cloud webhook ignored (400): ${parsed.error}`);
      return { status: 400, body: parsed.error };
    }
    const fingerprint = createHash("sha256").update(canonicalJson(parsed.json)).digest("hex");
    this.prune(this.seenCloud, CLOUD_DUPLICATE_MS, request.receivedAt);
    if (this.seenCloud.has(fingerprint)) return { status: 200 };
    this.seenCloud.set(fingerprint, request.receivedAt);
    this.cloudSeen = true;
    // The same cloud content hours later is a new report: the digest only separates deliveries in the same ms.
    this.process(parsed.body, parsed.json, "cloud", request.receivedAt, `${fingerprint}:${request.receivedAt}`);
    return { status: 200 };
  }

  private parse(raw: Buffer): { ok: true; json: unknown; body: WebhookBody } | { ok: false; error: string } {
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      return { ok: false, error: "malformed JSON" };
    }
    const result = loqedSchemas().webhookBodySchema.safeParse(json);
    if (!result.success) return { ok: false, error: "unexpected webhook body" };
    const body = result.data;
    const known = ["event_type", "battery_percentage", "wifi_strength", "ble_strength", "online", "lock_id", "mac_wifi"];
    if (!known.some((field) => field in body)) return { ok: false, error: "not a LOQED webhook body" };
    return { ok: true, json, body };
  }

  private device(body: WebhookBody): Device {
    const id =
      this.options.lockId ||
      this.mac ||
      normaliseMac(body.mac_wifi) ||
      (body.lock_id !== undefined && String(body.lock_id).trim() !== "" ? String(body.lock_id).trim() : null) ||
      this.options.host ||
      "loqed";
    return { id, name: this.options.deviceName, type: "lock" };
  }

  /** `deliveryId` identifies the delivery (the bridge's HASH; the cloud body's digest with the receive time): stable ids for happenings. */
  private process(body: WebhookBody, raw: unknown, channel: "bridge" | "cloud", receivedAt: number, deliveryId: string | null): void {
    const device = this.device(body);
    const context = { channel, raw, receivedAt } as const;
    const classified = classify(body);
    const names = this.options.keyNames;
    const current = this.tracker.get(device.id)?.lock ?? null;
    const summary: LoqedReport = { channel, classified };
    if (channel === "cloud" && this.cloudCopy(device, body, raw, classified, receivedAt, summary)) return;
    let events: DoorEvent[] = [];
    switch (classified.kind) {
      case "goto": {
        const actor = actorOf(classified.actorType, classified.key, names, body);
        this.lastGoto = { key: classified.key, target: classified.target, actor, at: receivedAt };
        const moving = gotoLockState(classified.target, current);
        if (moving) events = this.tracker.update({ device, lock: moving, actor }, context);
        break;
      }
      case "reached": {
        const lock = boltLockState(classified.bolt);
        events = this.tracker.update({ device, lock, actor: this.reachedActor(classified, body, current, receivedAt) }, context);
        break;
      }
      case "jammed":
        events = this.tracker.update({ device, lock: "jammed", actor: actorOf(null, classified.key, names, body) }, context);
        break;
      case "status": {
        const report: Parameters<StateTracker["update"]>[0] = { device };
        if (classified.battery !== undefined) report.battery = batteryOf(classified.battery);
        if (classified.online !== undefined) report.online = classified.online;
        events = this.tracker.update(report, context);
        if (classified.wifi !== undefined || classified.ble !== undefined) {
          const signal = this.tracker.happening(device, { event: "loqed.signal", vendorId: deliveryId }, context);
          if (signal) events.push(signal);
        }
        break;
      }
      case "unknown": {
        const event = this.tracker.happening(
          device,
          { event: "loqed.event", actor: actorOf(null, classified.key, names, body), vendorId: deliveryId },
          context,
        );
        if (event) events = [event];
        break;
      }
    }
    // Remembered now, not when emitted: the cloud copy may arrive before the next tick.
    if (channel === "bridge") for (const event of events) this.followUps.remember(event);
    this.emitLater(events, summary);
  }

  private emitLater(events: DoorEvent[], report: LoqedReport): void {
    setImmediate(() => {
      if (this.closing.signal.aborted) return;
      for (const event of events) this.emit("event", event);
      this.emit("report", report);
    });
  }

  /**
   * A cloud webhook that names the key (`key_name_user`, else the key's account) about a change the bridge
   * already reported: sent as the follow-up of the bridge event, or dropped when it is another copy of one that
   * already was. Either way the tracker is left alone (the bridge already moved it, maybe further). False when
   * it is news (handled as usual).
   */
  private cloudCopy(device: Device, body: WebhookBody, raw: unknown, classified: Classified, receivedAt: number, report: LoqedReport): boolean {
    if (classified.kind === "status" || classified.kind === "unknown" || classified.key === null) return false;
    // The name as a cloud event of its own would carry it: key_name_user, else the account's name or e-mail.
    const name = actorOf(null, classified.key, NO_NAMES, body)?.name;
    if (!name) return false;
    const eventNames = cloudEventNames(classified);
    if (eventNames.length === 0) return false;
    const slot = String(classified.key);
    const followUp = this.followUps.attach(device.id, eventNames, slot, name, receivedAt);
    if (followUp) {
      // raw: the cloud webhook that named the actor (the bridge event's own raw went out with it).
      this.emitLater([{ ...followUp, raw }], report);
      return true;
    }
    if (this.followUps.isCopy(eventNames, slot, receivedAt)) {
      this.emitLater([], report);
      return true;
    }
    return false;
  }

  /** The actor of a reached state: the GO_TO_STATE that led to it, else what this event says, else "auto" for the return from open. */
  private reachedActor(c: Extract<Classified, { kind: "reached" }>, body: WebhookBody, current: LockState | null, at: number): Actor | null {
    const own = actorOf(c.actorType, c.key, this.options.keyNames, body);
    const goto = this.lastGoto;
    if (goto && at - goto.at <= GOTO_ACTOR_MS && goto.key === c.key && goto.target === c.bolt && goto.actor) {
      return {
        type: c.actorType ?? goto.actor.type,
        id: own?.id ?? goto.actor.id,
        name: own?.name ?? goto.actor.name,
      };
    }
    if (own) return own;
    // The lock falls back from open to day lock by itself (key 255) within seconds.
    if (c.bolt === "day_lock" && (current === "unlatched" || current === "unlatching")) return { type: "auto", id: null, name: null };
    return null;
  }

  // ---- sync cycle ------------------------------------------------------------------------------------

  private schedule(ms: number): void {
    if (this.closing.signal.aborted) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.serialize(() => this.check());
    }, ms);
    this.timer.unref?.();
  }

  private serialize(work: () => Promise<void>): Promise<void> {
    const next = this.cycle.then(work, work);
    this.cycle = next.catch(() => undefined);
    return next;
  }

  private async check(): Promise<void> {
    if (this.closing.signal.aborted || !this.bridge) return;
    const interval = this.options.checkIntervalMs ?? 600_000;
    try {
      if (this.bridgeAddresses.length === 0) this.bridgeAddresses = await resolveAll(this.options.host);
      const wasDown = this.statusValue.state === "unreachable" || this.statusValue.state === "unauthorized";
      // /status only at start and after an outage: the bridge updates it late, webhooks are the truth.
      if (!this.synced || wasDown) await this.readStatus();
      this.synced = true;
      await this.ensureWebhook();
      this.retryDelay = this.options.retryMs ?? 10_000;
      this.schedule(interval);
    } catch (err) {
      if (this.closing.signal.aborted) return;
      this.fail(toSmartlockError(err));
      this.schedule(this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, interval);
    }
  }

  private async readStatus(): Promise<void> {
    const body = await this.bridge!.status();
    const parts = statusParts(body);
    if (parts.mac) this.mac = parts.mac;
    const device: Device = { id: this.deviceId ?? this.options.host, name: this.options.deviceName, type: "lock" };
    const report: Parameters<StateTracker["update"]>[0] = { device };
    if (parts.lock !== undefined) report.lock = parts.lock;
    if (parts.battery !== undefined) report.battery = parts.battery;
    if (parts.online !== undefined) report.online = parts.online;
    const events = this.tracker.update(report, { channel: "bridge", raw: body, snapshot: true });
    if (this.closing.signal.aborted) return;
    for (const event of events) this.emit("event", event);
  }

  private fail(err: SmartlockError): void {
    const state: LoqedState = err.code === "unauthorized" ? "unauthorized" : "unreachable";
    if (this.statusValue.state !== state) this.options.warn(err.message);
    this.setStatus({ state, reason: state === "unauthorized" ? "bridge key refused" : reasonOf(err.code) });
  }

  private async ensureWebhook(): Promise<void> {
    const bridge = this.bridge!;
    let url: string | null;
    try {
      url = await this.options.callbackUrl();
    } catch (err) {
      // A callback base the bridge cannot use (invalid, loopback only) is a setting to fix, not an outage.
      this.webhookRegistered = false;
      this.setStatus({ state: "no-webhook", reason: "callback URL invalid" });
      this.warnThrottled("callback-url", `no bridge webhook registered: ${toSmartlockError(err).message}`);
      return;
    }
    if (!url) {
      this.webhookRegistered = false;
      this.setStatus({ state: "no-webhook", reason: "no webhook route" });
      return;
    }
    let list = await bridge.webhooks();
    // Stale copies of ours (an old address or port) and duplicates delay every delivery: the bridge calls
    // its targets one after another and waits for unreachable ones.
    const exact = list.filter((w) => w.url === url);
    const extra = [...list.filter((w) => this.options.ownsWebhook(w.url) && w.url !== url), ...exact.slice(1)];
    for (const entry of extra) await bridge.deleteWebhook(entry.id);
    if (extra.length > 0) list = await bridge.webhooks();
    if (!list.some((w) => w.url === url)) {
      await bridge.addWebhook(url);
      list = await bridge.webhooks();
      if (!list.some((w) => w.url === url)) {
        this.webhookRegistered = false;
        this.setStatus({ state: "no-webhook", reason: "webhook not accepted" });
        this.options.warn("the LOQED bridge accepted the webhook registration but does not list it; no events can be received");
        return;
      }
    }
    this.webhookRegistered = true;
    this.warnAboutOthers(list);
    if (this.statusValue.state !== "rejecting") this.setStatus({ state: "connected" });
  }

  private warnAboutOthers(list: WebhookEntry[]): void {
    const others = list.filter((w) => !this.options.ownsWebhook(w.url));
    if (others.length < 3 || others.length === this.othersWarned) return;
    this.othersWarned = others.length;
    const hosts = [...new Set(others.map((w) => hostOf(w.url)))].join(", ");
    this.options.warn(
      `the LOQED bridge has ${others.length} other webhooks (${hosts}); it delivers to them one after another, so unreachable ones delay events and can make them arrive outside the timestamp window. Remove the ones no longer used.`,
    );
  }

  private async removeOurWebhooks(): Promise<void> {
    const bridge = this.bridge!;
    const ours = (await bridge.webhooks()).filter((w) => this.options.ownsWebhook(w.url));
    for (const entry of ours) await bridge.deleteWebhook(entry.id);
    this.webhookRegistered = false;
  }

  // ---- actions ---------------------------------------------------------------------------------------

  perform(deviceRef: string, action: string, options: { confirm: boolean; timeoutMs: number }): Promise<ActionResult> {
    const spec = actionSpec(action);
    if (!spec) {
      return Promise.reject(new SmartlockError("unsupported", `"${action}" is not a LOQED action (${SUPPORTED_ACTIONS.join(", ")})`));
    }
    const id = this.deviceId;
    const wanted = deviceRef.trim();
    if (wanted && id && wanted.toLowerCase() !== id.toLowerCase()) {
      return Promise.reject(new SmartlockError("not_found", `this LOQED config node controls lock ${id}, not ${wanted}`));
    }
    // open and unlatch send the same command, so they share one in-flight slot.
    return this.inFlight.run(`${spec.bolt}:${options.confirm}`, () => this.execute(action, spec, options)).promise;
  }

  private async execute(
    action: string,
    spec: NonNullable<ReturnType<typeof actionSpec>>,
    options: { confirm: boolean; timeoutMs: number },
  ): Promise<ActionResult> {
    const viaBridge = this.bridge?.canCommand === true;
    if (!viaBridge && !(this.cloud && this.options.lockId)) {
      throw new SmartlockError("bad_request", "no way to send actions: set the bridge host, key id and key secret, or the lock id and cloud token");
    }
    // The key whose webhooks confirm: ours for bridge commands; for cloud actions the token's own key,
    // which is only known when the key id is configured.
    const key = this.options.keyId;
    const target = spec.bolt;
    const done = (report: LoqedReport): boolean => {
      const c = report.classified;
      if (key !== null && (c.kind === "goto" || c.kind === "reached") && c.key !== key) return false;
      if (c.kind === "reached") return c.bolt === target;
      // A command for the state the lock is already in yields GO_TO_STATE_* and no STATE_CHANGED_*.
      if (c.kind === "goto") return c.target === target && this.currentLock() === boltLockState(target);
      return false;
    };
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    // Listen before sending: webhooks can arrive before the bridge's answer does.
    const confirmation = options.confirm
      ? waitFor(this, "report", (report) => done(report as LoqedReport), options.timeoutMs, abort.signal)
      : Promise.resolve(false);
    try {
      if (viaBridge) await this.bridge!.command(spec.code);
      else await this.cloud!.boltState(this.options.lockId, target);
    } catch (err) {
      abort.abort();
      this.closing.signal.removeEventListener("abort", onClose);
      throw err;
    }
    const confirmed = await confirmation;
    this.closing.signal.removeEventListener("abort", onClose);
    const id = this.deviceId ?? this.options.host;
    if (options.confirm && !confirmed) {
      if (this.closing.signal.aborted) throw new SmartlockError("unreachable", "the config node was closed while waiting for the confirmation");
      throw new SmartlockError(
        "timeout",
        `${action} was sent ${viaBridge ? "to the LOQED bridge" : "through the LOQED cloud"}, but no webhook${key === null ? "" : ` of key ${key}`} reported it within ${Math.round(options.timeoutMs / 1000)} s; it was not sent again. ` +
          (viaBridge
            ? "The bridge accepts every command, even a wrongly signed one: check the key id and key secret, and that webhooks reach Node-RED."
            : "Check that the LOQED cloud webhooks of this lock point at this config node."),
      );
    }
    return { device: id, action, confirmed, lock: this.currentLock(), door: null };
  }

  private currentLock(): LockState | null {
    const id = this.deviceId;
    if (id) return this.tracker.get(id)?.lock ?? null;
    return this.tracker.devices()[0]?.lock ?? null;
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.bridge && this.hasBridgeChannel && this.started) {
      // Removing our webhook is worth a few seconds, not a hung redeploy.
      await Promise.race([this.removeOurWebhooks().catch(() => undefined), delay(5000)]);
    }
    this.bridge?.close();
    this.cloud?.close();
    this.setStatus({ state: "closed" });
    this.removeAllListeners();
  }

  // ---- plumbing --------------------------------------------------------------------------------------

  private warnThrottled(kind: string, message: string): void {
    const now = Date.now();
    const entry = this.warnedAt.get(kind);
    if (entry && now - entry.at < WARN_EVERY_MS) {
      entry.suppressed++;
      return;
    }
    const suffix = entry && entry.suppressed > 0 ? ` (${entry.suppressed} more since the last warning)` : "";
    this.warnedAt.set(kind, { at: now, suppressed: 0 });
    this.options.warn(message + suffix);
  }

  private prune(map: Map<string, number>, maxAgeMs: number, now: number): void {
    for (const [key, at] of map) if (now - at > maxAgeMs) map.delete(key);
  }

  private setStatus(status: LoqedStatus): void {
    if (this.statusValue.state === status.state && this.statusValue.reason === status.reason) return;
    this.statusValue = status;
    this.emit("status", status);
  }
}

/** The event a cloud webhook stands for, as the bridge copy of it was named. */
function cloudEventNames(c: Classified): string[] {
  switch (c.kind) {
    case "goto": {
      const moving = gotoLockState(c.target, null);
      return moving ? [`lock.${moving}`] : [];
    }
    case "reached": {
      const lock = boltLockState(c.bolt);
      return lock === "unknown" ? [] : [`lock.${lock}`];
    }
    case "jammed":
      return ["lock.jammed"];
    default:
      return [];
  }
}

function reasonOf(code: ErrorCode): string {
  return code === "timeout" ? "bridge timeout" : code === "bad_request" ? "bridge answer invalid" : "bridge unreachable";
}

/** JSON with sorted keys, so two deliveries that differ only in key order or spacing compare equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

async function resolveAll(host: string): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (isIP(bare)) return [bare];
  try {
    return (await lookup(bare, { all: true })).map((entry) => entry.address);
  } catch {
    return [bare];
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "invalid URL";
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
