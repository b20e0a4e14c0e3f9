/**
 * The Nuki Web channel of a `nuki-config` node: device list and authorization names from the Web API, the
 * decentral webhook (registered idempotently, secret kept in a WebhookStore, signature checked before anything
 * else), webhook intake into the shared event hub, and actions for devices without a bridge.
 *
 * Plain TypeScript: ../nuki.ts wires the route, context store, status and logging to it.
 */
import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders } from "node:http";
import type { Actor, Device, DoorEvent } from "../core/door-event";
import { isoTime, vendorTime } from "../core/door-event";
import { SmartlockError, toSmartlockError } from "../core/errors";
import { InFlight } from "../core/in-flight";
import { waitFor } from "../core/wait-for";
import { actionSpec, supportedActions } from "./actions";
import { isDeniedAttempt, webLogActor } from "./actors";
import type { BridgeStatus } from "./bridge-connection";
import type { NukiEventHub } from "./event-hub";
import { deviceIdFromSmartlockId, nukiIdToHex, parseDeviceId } from "./ids";
import { SIGNATURE_HEADER, verifyWebhookSignature } from "./signature";
import { NukiWebClient, WEBHOOK_FEATURES } from "./web-client";
import { type WebDevice, deviceTypeOfSmartlockId, logMeaning, logSucceeded, webDeviceKind, webStateReport } from "./web-normalize";
import { type SmartlockAuth, type SmartlockLog, webSchemas } from "./web-schemas";
import type { StoredWebhook, WebhookStore } from "./webhook-store";
import type { ActionResult } from "./bridge-connection";

export interface WebConnectionOptions {
  apiUrl: string;
  token: string;
  hub: NukiEventHub;
  /** The full webhook URL to register ({webhookUrl}/smartlocks/nuki/{secret}/web), or null for no webhooks. */
  webhookUrl: string | null;
  /** Whether a registered webhook URL is one of ours (same route secret), current or stale. */
  ownsWebhook: (url: string) => boolean;
  store: WebhookStore;
  warn: (message: string) => void;
  /** Re-check of registration, devices and names (default 15 min). */
  checkIntervalMs?: number;
  /** First retry after a failure; doubles up to checkIntervalMs (default 10 s). */
  retryMs?: number;
  /** Without webhooks an action is confirmed by reading the lock once, this long after it was accepted (default 5 s). */
  confirmReadDelayMs?: number;
  requestTimeoutMs?: number;
}

interface AuthEntry {
  name: string | null;
  type: number | null;
}

export class NukiWebConnection extends EventEmitter {
  readonly client: NukiWebClient;
  private readonly hub: NukiEventHub;
  private readonly devices = new Map<string, WebDevice>();
  private readonly authsById = new Map<string, AuthEntry>();
  /** `${deviceId}:${numeric authId}` -> name, for MQTT's lockActionEvent. */
  private readonly authsByDevice = new Map<string, string>();
  private readonly inFlight = new InFlight<ActionResult>();
  private readonly closing = new AbortController();
  private statusValue: BridgeStatus = { state: "idle" };
  private started = false;
  private synced = false;
  private secret: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private cycle: Promise<void> = Promise.resolve();
  /** A listener uses the channel: only then is a webhook registered (actions alone confirm by reading). */
  private wanted = false;
  /** A webhook deletion under way (close waits for it before closing the client). */
  private removing: Promise<void> = Promise.resolve();
  private warned = new Set<string>();

  constructor(private readonly options: WebConnectionOptions) {
    super();
    this.hub = options.hub;
    this.retryDelay = options.retryMs ?? 10_000;
    this.client = new NukiWebClient({
      apiUrl: options.apiUrl,
      token: options.token,
      ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
    });
  }

  get status(): BridgeStatus {
    return this.statusValue;
  }

  /** True once our webhook is registered and its secret known: state then arrives by push. */
  get hasWebhook(): boolean {
    return this.secret !== null;
  }

  /** Whether the Web API lists this device (8 hex digits). */
  knows(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  /** The current name of a device-side authorization id (MQTT `lockActionEvent` AuthID), when known. */
  authName(deviceId: string, authId: number): string | null {
    return this.authsByDevice.get(`${deviceId}:${authId}`) ?? null;
  }

  start(): void {
    if (this.started || this.closing.signal.aborted) return;
    this.started = true;
    this.setStatus({ state: "connecting" });
    this.schedule(0);
  }

  /**
   * A webhook POST. The signature over the raw bytes is checked first (401 when missing or wrong, also while
   * our secret is not known yet); then JSON (400) and shape (400). Processing runs after the answer.
   */
  handleWebhook(rawBody: Buffer, headers: IncomingHttpHeaders, receivedAt = Date.now()): { status: number; body?: string; warning?: string } {
    if (this.secret === null || !verifyWebhookSignature(rawBody, headers[SIGNATURE_HEADER], this.secret)) {
      return { status: 401, body: "Unauthorized", warning: "Nuki Web webhook with a missing or wrong signature ignored" };
    }
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString("utf8"));
    } catch {
      return { status: 400, body: "malformed JSON", warning: "Nuki Web webhook with malformed JSON ignored" };
    }
    const envelope = webSchemas().webhookEnvelopeSchema.safeParse(json);
    if (!envelope.success) return { status: 400, body: "not a Nuki webhook", warning: "Nuki Web webhook without a feature ignored" };
    const work = this.interpret(envelope.data.feature, json, receivedAt);
    if (work === "invalid") {
      return { status: 400, body: "unexpected webhook body", warning: `Nuki Web ${envelope.data.feature} webhook with an unexpected body ignored` };
    }
    if (work) setImmediate(() => this.safely(work));
    return { status: 200 };
  }

  /** Sends an action through the Web API and, when asked, waits for the state it leads to. */
  perform(deviceRef: string, action: string, options: { confirm: boolean; timeoutMs: number }): Promise<ActionResult> {
    const nukiId = parseDeviceId(deviceRef);
    if (nukiId === null) {
      return Promise.reject(new SmartlockError("bad_request", `"${deviceRef}" is not a Nuki ID (8 hex digits, as shown in the Nuki app)`));
    }
    const id = nukiIdToHex(nukiId);
    return this.inFlight.run(`${id}:${action}:${options.confirm}`, () => this.execute(id, action, options)).promise;
  }

  /**
   * A listener wants events: register the webhook (at the first check, or now when the channel already ran
   * without one, e.g. after the last listener had been removed).
   */
  wantWebhook(): void {
    const wasWanted = this.wanted;
    this.wanted = true;
    if (!wasWanted && this.started && this.synced && this.options.webhookUrl && !this.closing.signal.aborted) this.schedule(0);
  }

  /** Deletes every webhook of ours (current and stale) and forgets the secret. Others' are never touched. */
  removeWebhook(): Promise<void> {
    this.wanted = false;
    const removal = this.serialize(async () => {
      this.secret = null;
      let hooks: Awaited<ReturnType<NukiWebClient["webhooks"]>>;
      try {
        hooks = await this.client.webhooks();
      } catch (err) {
        // A token that may not manage webhooks has none of ours to delete.
        if (toSmartlockError(err).status === 403) return;
        throw err;
      }
      for (const hook of hooks) if (this.options.ownsWebhook(hook.webhookUrl)) await this.client.deleteWebhook(hook.id);
      await this.options.store.save(null);
    });
    this.removing = removal.catch(() => undefined);
    return removal;
  }

  /** `removed`: the node is deleted, so its webhook goes too; on a restart it stays and is reused. */
  async close(removed: boolean): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Deleting the webhook is worth a few seconds, not a hung redeploy.
    const cleanup = removed && this.options.webhookUrl ? this.removeWebhook().catch(() => undefined) : this.removing;
    await Promise.race([cleanup, delay(5000)]);
    this.client.close();
    this.setStatus({ state: "closed" });
    this.removeAllListeners();
  }

  // ---- sync cycle ----------------------------------------------------------------------------------------

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
    if (this.closing.signal.aborted) return;
    const interval = this.options.checkIntervalMs ?? 900_000;
    try {
      await this.readDevices(!this.synced);
      this.synced = true;
      await this.readAuths();
      const webhookOk = this.options.webhookUrl && this.wanted ? await this.ensureWebhook(this.options.webhookUrl) : true;
      if (webhookOk) this.setStatus({ state: "connected" });
      this.retryDelay = this.options.retryMs ?? 10_000;
      this.schedule(interval);
    } catch (err) {
      if (this.closing.signal.aborted) return;
      const error = toSmartlockError(err);
      const state = error.code === "unauthorized" ? "unauthorized" : "unreachable";
      if (this.statusValue.state !== state) this.options.warn(error.message);
      this.setStatus({ state, reason: state === "unauthorized" ? "web: unauthorized" : "web: unreachable" });
      this.schedule(this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, interval);
    }
  }

  private async readDevices(first: boolean): Promise<void> {
    const list = await this.client.smartlocks();
    for (const smartlock of list) {
      const type = smartlock.type ?? deviceTypeOfSmartlockId(smartlock.smartlockId);
      const device: WebDevice = { smartlockId: smartlock.smartlockId, type, name: smartlock.name?.trim() || null };
      const id = deviceIdFromSmartlockId(smartlock.smartlockId);
      this.devices.set(id, device);
      // A snapshot for devices no other channel reported yet; later reads only refresh names (state comes by push).
      if (first && smartlock.state && this.hub.tracker.get(id) === undefined) {
        const events = this.hub.tracker.update(webStateReport(device, smartlock.state, smartlock.serverState), {
          channel: "web",
          raw: smartlock,
          snapshot: true,
        });
        this.hub.publish(events);
      }
    }
  }

  /** Names for actors. A token without the auth permission still gives events, only without names. */
  private async readAuths(): Promise<void> {
    try {
      const auths = await this.client.auths();
      this.authsById.clear();
      this.authsByDevice.clear();
      for (const auth of auths) this.rememberAuth(auth);
    } catch (err) {
      const error = toSmartlockError(err);
      if (error.code === "unreachable" || error.code === "timeout") throw error;
      this.warnOnce(`Nuki Web did not list the authorizations (${error.message}); actors will carry the names of the activity log only`);
    }
  }

  private rememberAuth(auth: SmartlockAuth, deleted = false): void {
    const deviceId = deviceIdFromSmartlockId(auth.smartlockId);
    if (deleted) {
      this.authsById.delete(auth.id);
      if (auth.authId !== undefined) this.authsByDevice.delete(`${deviceId}:${auth.authId}`);
      return;
    }
    const name = auth.name?.trim() || null;
    this.authsById.set(auth.id, { name, type: auth.type ?? null });
    if (auth.authId !== undefined && name) this.authsByDevice.set(`${deviceId}:${auth.authId}`, name);
  }

  /**
   * Makes sure exactly one webhook of ours exists at `url` and that we know its secret: reuse it when the
   * stored secret belongs to it (or Nuki lists the secret); otherwise delete ours and register anew. Returns
   * false when Nuki refuses webhooks for this token (then events come only from other channels).
   */
  private async ensureWebhook(url: string): Promise<boolean> {
    try {
      const stored = await this.options.store.load();
      const hooks = await this.client.webhooks();
      const ours = hooks.filter((hook) => this.options.ownsWebhook(hook.webhookUrl));
      const covers = (features: readonly string[] | undefined): boolean => WEBHOOK_FEATURES.every((f) => features?.includes(f));
      let keep: StoredWebhook | null = null;
      for (const hook of ours) {
        if (keep || hook.webhookUrl !== url || !covers(hook.webhookFeatures)) continue;
        if (stored && stored.id === hook.id && stored.url === url) keep = stored;
        else if (hook.secret) keep = { id: hook.id, url, secret: hook.secret };
      }
      for (const hook of ours) if (hook.id !== keep?.id) await this.client.deleteWebhook(hook.id);
      if (!keep) {
        this.secret = null;
        const registered = await this.client.registerWebhook(url);
        keep = { id: registered.id, url, secret: registered.secret };
      }
      if (keep !== stored) await this.options.store.save(keep);
      this.secret = keep.secret;
      return true;
    } catch (err) {
      const error = toSmartlockError(err);
      if (error.status !== 403 && error.status !== 400) throw error;
      this.secret = null;
      const reason = error.status === 403 ? "web: webhooks refused" : "web: webhook URL refused";
      this.setStatus({ state: "no-callback", reason });
      this.warnOnce(
        error.status === 403
          ? "Nuki Web refused to register the webhook (403): decentral webhooks need a token of an activated Nuki Advanced API application. Actions work; events need the bridge or MQTT."
          : `Nuki Web refused the webhook URL (400): it must be a public https:// address (${error.message})`,
      );
      return false;
    }
  }

  // ---- webhook intake ------------------------------------------------------------------------------------

  /** The processing of a verified webhook, or "invalid" (400), or null for features we do not use. */
  private interpret(feature: string, json: unknown, receivedAt: number): (() => void) | "invalid" | null {
    switch (feature) {
      case "DEVICE_STATUS": {
        const parsed = webSchemas().deviceStatusSchema.safeParse(json);
        if (!parsed.success) return "invalid";
        const body = parsed.data;
        return () => {
          const id = deviceIdFromSmartlockId(body.smartlockId);
          const device = this.deviceOf(body.smartlockId);
          const events = this.hub.tracker.update(webStateReport(device, body.state, body.serverState), { channel: "web", raw: json, receivedAt });
          this.publish(id, events);
        };
      }
      case "DEVICE_LOGS": {
        const parsed = webSchemas().deviceLogsSchema.safeParse(json);
        if (!parsed.success) return "invalid";
        return () => this.handleLog(parsed.data.smartlockLog, json, receivedAt);
      }
      case "DEVICE_AUTHS": {
        const parsed = webSchemas().deviceAuthsSchema.safeParse(json);
        if (!parsed.success) return "invalid";
        return () => this.rememberAuth(parsed.data.smartlockAuth, parsed.data.deleted === true);
      }
      case "DEVICE_MASTERDATA": {
        const parsed = webSchemas().deviceMasterdataSchema.safeParse(json);
        if (!parsed.success) return "invalid";
        return () => {
          const device = this.deviceOf(parsed.data.smartlockId);
          const id = deviceIdFromSmartlockId(parsed.data.smartlockId);
          if (parsed.data.name?.trim()) this.devices.set(id, { ...device, name: parsed.data.name.trim() });
        };
      }
      default:
        return null; // a feature we did not subscribe to (another registration's): accepted, not used
    }
  }

  private handleLog(log: SmartlockLog, raw: unknown, receivedAt: number): void {
    const id = deviceIdFromSmartlockId(log.smartlockId);
    const known = this.deviceOf(log.smartlockId);
    const type = log.deviceType ?? known.type;
    const device: Device = { id, name: known.name, type: webDeviceKind(type) };
    const context = { channel: "web" as const, raw, receivedAt };
    const at = vendorTime(log.date) ?? isoTime(receivedAt);
    const atMs = Date.parse(at);
    const actor: Actor = webLogActor(log, log.authId ? this.authsById.get(String(log.authId)) : undefined);
    const vendorId = log.id ?? null;
    const happening = (event: string, who: Actor | null): void => {
      const result = this.hub.tracker.happening(device, { event, actor: who, at, vendorId }, context);
      if (result) this.publish(id, [result]);
    };

    if (isDeniedAttempt(log)) return happening("access.denied", actor);
    // Only a completed action has a "who": a refused or failed one changed nothing.
    if (!logSucceeded(log)) return;
    const meaning = logMeaning(type, log);
    switch (meaning.kind) {
      case "lock": {
        if (this.hub.attachActor(id, meaning.candidates, atMs, actor) !== "none") return;
        if (meaning.steady) {
          const events = this.hub.tracker.update({ device, lock: meaning.steady, actor, at }, context);
          if (events.some((e) => e.event.startsWith("lock."))) return this.publish(id, events);
          this.publish(id, events);
        }
        return happening(meaning.event, actor);
      }
      case "door":
        return this.publish(id, this.hub.tracker.update({ device, door: meaning.door, at }, context));
      case "ring":
        // The bridge reports the same ring through ringactionTimestamp: one doorbell.rang.
        if (this.hub.sent(id, "doorbell.rang", atMs)) return;
        return happening("doorbell.rang", null);
      case "happening":
        return happening(meaning.event, null);
      default:
        return;
    }
  }

  private deviceOf(smartlockId: number): WebDevice {
    const id = deviceIdFromSmartlockId(smartlockId);
    return this.devices.get(id) ?? { smartlockId, type: deviceTypeOfSmartlockId(smartlockId), name: null };
  }

  private publish(deviceId: string, events: DoorEvent[]): void {
    if (this.closing.signal.aborted) return;
    this.hub.publish(events);
    this.hub.reported(deviceId);
  }

  // ---- actions -------------------------------------------------------------------------------------------

  private async execute(id: string, action: string, options: { confirm: boolean; timeoutMs: number }): Promise<ActionResult> {
    let device = this.devices.get(id);
    if (!device) {
      await this.readDevices(false).catch(() => undefined);
      device = this.devices.get(id);
    }
    if (!device) throw new SmartlockError("not_found", `Nuki Web lists no device ${id} for this token`);
    const spec = actionSpec(device.type, action);
    if (!spec) {
      throw new SmartlockError("unsupported", `"${action}" is not an action of ${device.name ?? id} (${supportedActions(device.type).join(", ")})`);
    }
    const tracker = this.hub.tracker;
    const before = tracker.get(id);
    const lockBefore = before?.lock ?? null;
    const modeBefore = before?.flags.continuous_mode;
    const reached = (): boolean => {
      const state = tracker.get(id);
      if (!state) return false;
      if (spec.continuousMode !== undefined) return state.flags.continuous_mode === spec.continuousMode;
      return state.lock !== null && spec.confirms.includes(state.lock);
    };
    const pushed = this.hasWebhook;
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    // Listen before sending: the webhook may come before the API's answer.
    const confirmation =
      options.confirm && pushed ? waitFor(this.hub, "report", (deviceId) => deviceId === id && reached(), options.timeoutMs, abort.signal) : null;
    try {
      await this.client.action(device.smartlockId, spec.webCode);
      if (!options.confirm) return this.result(id, action, false);
      if (confirmation) return this.result(id, action, await confirmation);
      // No webhooks: read the lock once, after it had time to move. Only a change proves anything.
      await delay(Math.min(this.options.confirmReadDelayMs ?? 5000, options.timeoutMs), abort.signal);
      if (abort.signal.aborted) return this.result(id, action, false);
      const smartlock = await this.client.smartlock(device.smartlockId);
      if (smartlock.state) {
        const events = tracker.update(webStateReport(device, smartlock.state, smartlock.serverState), { channel: "poll", raw: smartlock });
        this.publish(id, events);
      }
      const after = tracker.get(id);
      const changed = spec.continuousMode !== undefined ? after?.flags.continuous_mode !== modeBefore : after?.lock !== lockBefore;
      return this.result(id, action, reached() && changed);
    } finally {
      abort.abort();
      this.closing.signal.removeEventListener("abort", onClose);
    }
  }

  private result(id: string, action: string, confirmed: boolean): ActionResult {
    const state = this.hub.tracker.get(id);
    return { device: id, action, confirmed, lock: state?.lock ?? null, door: state?.door ?? null };
  }

  // ---- plumbing ------------------------------------------------------------------------------------------

  private safely(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.options.warn(`Nuki Web webhook processing failed: ${toSmartlockError(err).message}`);
    }
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.options.warn(message);
  }

  private setStatus(status: BridgeStatus): void {
    if (this.statusValue.state === status.state && this.statusValue.reason === status.reason) return;
    this.statusValue = status;
    this.emit("status", status);
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref?.();
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
