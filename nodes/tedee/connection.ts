/**
 * The connection to one Tedee installation, owned by a `tedee-config` node and shared by its listeners and
 * actions. Two channels, each optional:
 *
 * - Bridge (host + token): initial snapshot from `GET /lock`, callback registration hygiene (find ours by URL,
 *   fix its headers, remove stale copies of ours, never touch others, remove ours on close), periodic re-checks
 *   and one after the bridge's cloud link came back, callback intake, and actions confirmed from callbacks.
 * - Cloud (personal access key): when there is no bridge, actions go through the cloud operations API and the
 *   state is read once on start and once after each action. With a bridge, the cloud activity log is only used
 *   to find out who operated the lock; the actor is sent as a follow-up of the event already emitted.
 *
 * Plain TypeScript: the Node-RED glue in ../tedee.ts wires routes, status and logging to it.
 */
import { EventEmitter } from "node:events";
import type { IncomingHttpHeaders } from "node:http";
import { ActorMerger } from "../core/actor-merge";
import type { Channel, Device, DoorEvent, DoorState, LockState } from "../core/door-event";
import { type ErrorCode, SmartlockError, toSmartlockError } from "../core/errors";
import { InFlight } from "../core/in-flight";
import { type DeviceReport, StateTracker } from "../core/state-tracker";
import { waitFor } from "../core/wait-for";
import { ACTIONS, type TedeeActionSpec, actionSpec } from "./actions";
import { activityActor, activityMeaning, activityTime } from "./activity";
import type { AuthMode } from "./auth";
import { TedeeBridgeClient } from "./bridge-client";
import { hasCallbackHeader } from "./callback-auth";
import { TedeeCloudClient } from "./cloud-client";
import { batteryCritical, batteryLevel, cloudLockReport, deviceIdOf, doorState, lockDetailsReport, parseDeviceId, tedeeState } from "./normalize";
import { type BridgeEventName, type CallbackEntry, type LockDetails, isBridgeEventName, tedeeSchemas } from "./schemas";

/**
 * Long and https callback URLs made bridge firmware crash until a factory reset (HA PR #109408/#110247); Tedee
 * documents no limit. Home Assistant's working internal URLs are about 90 characters, so this stays close to that.
 */
export const MAX_CALLBACK_URL_LENGTH = 120;

export type ConnectionState = "idle" | "connecting" | "connected" | "no-callback" | "unreachable" | "unauthorized" | "closed";

export interface ConnectionStatus {
  state: ConnectionState;
  /** Short reason for the node status (no secrets). */
  reason?: string;
}

export interface TedeeConnectionOptions {
  bridge?: { host: string; port: number; token: string; auth: AuthMode } | null;
  cloud?: { key: string; cloudUrl?: string } | null;
  /** The callback URL to register, or null when callbacks cannot be received (no httpNode). */
  callbackUrl: () => Promise<string | null>;
  /** Whether a URL registered at the bridge is one of ours (same route secret), current or stale. */
  ownsCallback: (url: string) => boolean;
  /** The secret header the bridge must add to our callbacks, and check on arrival. */
  callbackHeader: { name: string; value: string };
  /** How often the callback registration and the locks are re-checked (ms, default 5 min). */
  checkIntervalMs?: number;
  /** First retry delay after a failure; doubles up to checkIntervalMs. */
  retryMs?: number;
  /** Without callbacks, GET /lock this often while waiting for a confirmation; cloud operation polling too. */
  confirmPollMs?: number;
  /** Gap between two bridge requests (default 1000 ms). */
  spacingMs?: number;
  /** Gap between two cloud requests (default 1000 ms). */
  cloudSpacingMs?: number;
  /** When to look in the cloud activity log after a lock event (ms after the event; default 5 s, 20 s, 60 s). */
  actorDelaysMs?: readonly number[];
  requestTimeoutMs?: number;
  warn: (message: string) => void;
  tracker?: StateTracker;
}

export interface ActionResult {
  device: string;
  action: string;
  confirmed: boolean;
  lock: LockState | null;
  door: DoorState | null;
}

export interface PerformOptions {
  confirm: boolean;
  timeoutMs: number;
  unlockWithoutPull?: boolean;
}

interface KnownDevice {
  id: number;
  name: string | null;
}

const DEFAULT_ACTOR_DELAYS = [5_000, 20_000, 60_000] as const;
/** Lock events a cloud activity entry can name the actor of. */
const ACTOR_EVENTS = new Set(["lock.locked", "lock.unlocked", "lock.unlatched", "lock.locking", "lock.unlocking", "lock.unlatching", "tedee.lock.semi_locked"]);

export class TedeeConnection extends EventEmitter {
  readonly tracker: StateTracker;
  readonly bridge: TedeeBridgeClient | null;
  readonly cloud: TedeeCloudClient | null;
  private readonly merger = new ActorMerger();
  private readonly devices = new Map<string, KnownDevice>();
  /** Last raw Tedee state name per device, so vendor lock events fire on a change only. */
  private readonly rawStates = new Map<string, string>();
  private readonly inFlight = new InFlight<ActionResult>();
  private readonly closing = new AbortController();
  private statusValue: ConnectionStatus = { state: "idle" };
  private started = false;
  private synced = false;
  private callbackRegistered = false;
  private bridgeDevice: Device | null = null;
  private timer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private cycle: Promise<void> = Promise.resolve();
  private lastWarning = "";
  /** Events still waiting for an actor from the activity log, per device. */
  private readonly awaitingActor = new Map<string, Set<string>>();
  private readonly actorTimers = new Map<string, NodeJS.Timeout>();
  private readonly actorGenerations = new Map<string, number>();
  private readonly usedActivity = new Set<number>();

  constructor(private readonly options: TedeeConnectionOptions) {
    super();
    this.tracker = options.tracker ?? new StateTracker("tedee");
    this.retryDelay = options.retryMs ?? 10_000;
    const b = options.bridge;
    this.bridge = b
      ? new TedeeBridgeClient({
          host: b.host,
          port: b.port,
          token: b.token,
          auth: b.auth,
          ...(options.spacingMs === undefined ? {} : { spacingMs: options.spacingMs }),
          ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
          ...(options.retryMs === undefined ? {} : { retryBackoffMs: Math.min(options.retryMs, 1000) }),
        })
      : null;
    const c = options.cloud;
    this.cloud = c
      ? new TedeeCloudClient({
          key: c.key,
          ...(c.cloudUrl ? { cloudUrl: c.cloudUrl } : {}),
          ...(options.cloudSpacingMs === undefined ? {} : { spacingMs: options.cloudSpacingMs }),
          ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
        })
      : null;
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  get hasCallback(): boolean {
    return this.callbackRegistered;
  }

  /** The channel actions go through: the bridge when configured, else the cloud. */
  get actionChannel(): "bridge" | "cloud" | null {
    return this.bridge ? "bridge" : this.cloud ? "cloud" : null;
  }

  /** Starts the first sync (idempotent). Never rejects: failures become status and retries. */
  start(): void {
    if (this.started || this.closing.signal.aborted || (!this.bridge && !this.cloud)) return;
    this.started = true;
    this.setStatus({ state: "connecting" });
    this.schedule(0);
  }

  /**
   * A callback from the bridge: both secrets checked (the route secret by the registry, the header here), then
   * parsed and validated. Returns the HTTP answer; events are emitted after it is sent.
   */
  handleCallback(rawBody: Buffer, headers: IncomingHttpHeaders, receivedAt = Date.now()): { status: number; body?: string; warning?: string } {
    const { name, value } = this.options.callbackHeader;
    if (!hasCallbackHeader(headers, name, value)) {
      return { status: 401, body: "Unauthorized", warning: "Tedee Bridge callback without the expected secret header ignored (answered 401)" };
    }
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString("utf8"));
    } catch {
      return { status: 400, body: "malformed JSON", warning: "Tedee Bridge callback with malformed JSON ignored" };
    }
    const envelope = tedeeSchemas().callbackEnvelopeSchema.safeParse(json);
    if (!envelope.success) {
      return { status: 400, body: "unexpected callback body", warning: "Tedee Bridge callback with an unexpected body ignored" };
    }
    const { event, timestamp } = envelope.data;
    const data = envelope.data.data ?? {};
    const at = timestamp && Number.isFinite(Date.parse(timestamp)) ? new Date(Date.parse(timestamp)).toISOString() : null;
    if (isBridgeEventName(event)) {
      const parsed = tedeeSchemas().eventDataSchemas[event].safeParse(data);
      if (!parsed.success) {
        return { status: 400, body: "unexpected callback data", warning: `Tedee Bridge "${event}" callback with unexpected data ignored` };
      }
      setImmediate(() => this.safely(() => this.applyCallback(event, parsed.data as Record<string, unknown>, at, json, receivedAt)));
      return { status: 204 };
    }
    // An event this plugin does not know yet: passed through as tedee.<name>, never dropped silently.
    const generic = tedeeSchemas().genericDeviceDataSchema.safeParse(data);
    const id = generic.success && generic.data.deviceId !== undefined ? deviceIdOf(generic.data.deviceId) : null;
    setImmediate(() =>
      this.safely(() => {
        const device = id ? this.deviceOf(id) : this.bridgeDeviceRef();
        const happening = this.tracker.happening(device, { event: `tedee.${event}`, at, vendorId: `${event}:${id}:${timestamp}` }, { channel: "bridge", raw: json, receivedAt });
        if (happening) this.publish(device.id, [happening], "bridge");
      }),
    );
    return { status: 204 };
  }

  /** Re-reads the locks now and reports what changed; with `snapshot` a device.state per lock. */
  refresh(snapshot = false): Promise<void> {
    return this.serialize(() => this.readLocks(snapshot ? "snapshot" : "diff"));
  }

  /** Sends an action and, when asked, waits until the lock reports the state it leads to. */
  perform(deviceRef: string, action: string, options: PerformOptions): Promise<ActionResult> {
    const deviceId = parseDeviceId(deviceRef);
    if (deviceId === null) {
      return Promise.reject(new SmartlockError("bad_request", `"${deviceRef}" is not a Tedee device id (a number, as in the Tedee portal)`));
    }
    const spec = actionSpec(action, { unlockWithoutPull: options.unlockWithoutPull === true });
    if (!spec) {
      return Promise.reject(new SmartlockError("unsupported", `"${action}" is not a Tedee action (${ACTIONS.join(", ")})`));
    }
    const id = deviceIdOf(deviceId);
    const key = `${id}:${action}:${spec.mode ?? ""}:${options.confirm}`;
    return this.inFlight.run(key, () =>
      this.bridge ? this.executeOnBridge(this.bridge, id, action, spec, options) : this.executeInCloud(id, action, spec, options),
    ).promise;
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const t of this.actorTimers.values()) clearTimeout(t);
    this.actorTimers.clear();
    const cleanup = this.bridge && this.started ? this.removeOurCallbacks(this.bridge) : Promise.resolve();
    // Removing our callback is worth a few seconds, not a hung redeploy (Node-RED waits 15 s at most).
    await Promise.race([cleanup.catch(() => undefined), delay(8000)]);
    this.bridge?.close();
    this.cloud?.close();
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

  /** Runs sync work one at a time. */
  private serialize(work: () => Promise<void>): Promise<void> {
    const next = this.cycle.then(work, work);
    this.cycle = next.catch(() => undefined);
    return next;
  }

  private async check(): Promise<void> {
    if (this.closing.signal.aborted) return;
    const interval = this.options.checkIntervalMs ?? 300_000;
    try {
      if (this.bridge) {
        await this.readLocks(this.synced ? "diff" : "snapshot");
        this.synced = true;
        await this.ensureCallback(this.bridge);
        if (!this.bridgeDevice) await this.readBridge(this.bridge);
        this.retryDelay = this.options.retryMs ?? 10_000;
        this.schedule(interval);
      } else {
        // Cloud only: one read on start (the budget is 700 requests per hour; actions read again afterwards).
        await this.readCloudLocks(this.synced ? "diff" : "snapshot");
        this.synced = true;
        this.setStatus({ state: "connected", reason: "cloud" });
      }
    } catch (err) {
      if (this.closing.signal.aborted) return;
      this.fail(toSmartlockError(err));
      this.schedule(this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, interval);
    }
  }

  private async readBridge(bridge: TedeeBridgeClient): Promise<void> {
    const info = await bridge.bridge();
    this.bridgeDevice = {
      id: info.serialNumber?.trim() || `${this.options.bridge?.host}:${this.options.bridge?.port}`,
      name: info.name?.trim() || "Tedee Bridge",
      type: "bridge",
    };
  }

  private async readLocks(mode: "snapshot" | "diff"): Promise<void> {
    if (!this.bridge) return this.readCloudLocks(mode);
    const locks = await this.bridge.locks();
    for (const lock of locks) this.applyLock(lock, mode);
  }

  private applyLock(lock: LockDetails, mode: "snapshot" | "diff"): void {
    const { report, state } = lockDetailsReport(lock);
    this.remember({ id: lock.id, name: report.device.name });
    this.applyReport(report, state.name, state.vendorEvent, mode, "bridge", lock);
  }

  private async readCloudLocks(mode: "snapshot" | "diff", only?: number): Promise<void> {
    if (!this.cloud) return;
    const locks = only === undefined ? await this.cloud.locks() : [await this.cloud.lock(only)];
    for (const lock of locks) {
      const { report, state } = cloudLockReport(lock);
      this.remember({ id: lock.id, name: report.device.name });
      this.applyReport(report, state?.name, state?.vendorEvent, mode, "cloud", lock);
    }
  }

  /**
   * A full state read. On the first read of a device (or a snapshot) it becomes a device.state; afterwards the
   * differences are reported, as "poll" when found by reading rather than pushed.
   */
  private applyReport(report: DeviceReport, rawName: string | undefined, vendorEvent: string | undefined, mode: "snapshot" | "diff", source: "bridge" | "cloud", raw: unknown): void {
    const id = report.device.id;
    const known = this.tracker.get(id) !== undefined;
    const snapshot = mode === "snapshot" || !known;
    const channel: Channel = snapshot ? source : source === "cloud" ? "cloud" : "poll";
    const events = this.tracker.update(report, { channel, raw, ...(snapshot ? { snapshot: true } : {}) });
    if (!snapshot) events.push(...this.vendorLockEvent(report.device, rawName, vendorEvent, null, channel, raw));
    else if (rawName) this.rawStates.set(id, rawName);
    this.publish(id, events, channel);
  }

  /** `tedee.lock.<state>` when the raw state changed into one the contract's lock states cannot express. */
  private vendorLockEvent(device: Device, rawName: string | undefined, vendorEvent: string | undefined, at: string | null, channel: Channel, raw: unknown, receivedAt?: number): DoorEvent[] {
    if (!rawName) return [];
    const previous = this.rawStates.get(device.id);
    this.rawStates.set(device.id, rawName);
    if (!vendorEvent || previous === rawName) return [];
    const event = this.tracker.happening(
      device,
      { event: vendorEvent, at, vendorId: `${vendorEvent}:${at ?? receivedAt ?? Date.now()}` },
      { channel, raw, ...(receivedAt === undefined ? {} : { receivedAt }) },
    );
    return event ? [event] : [];
  }

  private applyCallback(name: BridgeEventName, data: Record<string, unknown>, at: string | null, raw: unknown, receivedAt: number): void {
    const context = { channel: "bridge" as const, raw, receivedAt };
    if (name === "backend-connection-changed") {
      const connected = data.isConnected === true;
      const device = this.bridgeDeviceRef();
      const event = this.tracker.happening(
        device,
        { event: connected ? "tedee.bridge.cloud_connected" : "tedee.bridge.cloud_disconnected", at, vendorId: `${name}:${at}:${connected}` },
        context,
      );
      if (event) this.publish(device.id, [event], "bridge");
      // The bridge may have lost its callbacks with its cloud link (HA #162111 saw them vanish): check soon.
      if (connected && this.started) this.schedule(1000);
      return;
    }
    const id = deviceIdOf(data.deviceId as number);
    const device = this.deviceOf(id);
    const report: DeviceReport = { device, at };
    const events: DoorEvent[] = [];
    switch (name) {
      case "lock-status-changed": {
        const state = tedeeState(data.state as number, data.jammed === true);
        report.lock = state.lock;
        const door = doorState(data.doorState as number | undefined);
        if (door !== undefined) report.door = door;
        events.push(...this.tracker.update(report, context));
        events.push(...this.vendorLockEvent(device, state.name, state.vendorEvent, at, "bridge", raw, receivedAt));
        break;
      }
      case "device-connection-changed":
        report.online = data.isConnected === true;
        events.push(...this.tracker.update(report, context));
        break;
      case "device-battery-level-changed": {
        const level = batteryLevel(data.batteryLevel as number);
        const critical = batteryCritical(level);
        report.battery = { level: level ?? null, ...(critical === undefined ? {} : { critical }) };
        events.push(...this.tracker.update(report, context));
        break;
      }
      case "device-battery-start-charging":
      case "device-battery-stop-charging":
        report.battery = { charging: name === "device-battery-start-charging" };
        events.push(...this.tracker.update(report, context));
        break;
      case "device-battery-fully-charged": {
        report.battery = { level: 100, charging: false, critical: false };
        events.push(...this.tracker.update(report, context));
        const full = this.tracker.happening(device, { event: "tedee.battery.full", at, vendorId: `${name}:${id}:${at}` }, context);
        if (full) events.push(full);
        break;
      }
      case "device-settings-changed": {
        // The callback says only that something changed: read the lock again (name, state, battery), then
        // report the change, so the event carries the new name.
        const bridge = this.bridge;
        void this.serialize(async () => {
          if (this.closing.signal.aborted) return;
          try {
            if (bridge) this.applyLock(await bridge.lock(Number(id)), "diff");
          } catch (err) {
            this.warnOnce(`could not re-read Tedee lock ${id} after its settings changed: ${toSmartlockError(err).message}`);
          }
          const changed = this.tracker.happening(this.deviceOf(id), { event: "tedee.settings.changed", at, vendorId: `${name}:${id}:${at}` }, context);
          if (changed) this.publish(id, [changed], "bridge");
        });
        break;
      }
    }
    this.publish(id, events, "bridge");
  }

  private fail(err: SmartlockError): void {
    const state: ConnectionState = err.code === "unauthorized" ? "unauthorized" : "unreachable";
    if (this.statusValue.state !== state) this.options.warn(err.message);
    this.setStatus({ state, reason: err.code === "unauthorized" ? "unauthorized" : reasonOf(err.code, this.bridge ? "bridge" : "cloud") });
  }

  // ---- callback registration -------------------------------------------------------------------------

  private async ensureCallback(bridge: TedeeBridgeClient): Promise<void> {
    const url = await this.options.callbackUrl();
    if (!url) {
      this.callbackRegistered = false;
      this.setStatus({ state: "no-callback", reason: "no callback route" });
      return;
    }
    if (!/^http:\/\//i.test(url) || url.length > MAX_CALLBACK_URL_LENGTH) {
      this.callbackRegistered = false;
      this.setStatus({ state: "no-callback", reason: "callback URL invalid" });
      this.warnOnce(
        `the callback URL must be plain http:// and at most ${MAX_CALLBACK_URL_LENGTH} characters (long or https URLs have crashed Tedee Bridge firmware); it is ${url.length} characters: set a shorter callback base in the config node`,
      );
      return;
    }
    const spec = { url, headers: [{ [this.options.callbackHeader.name]: this.options.callbackHeader.value }] };
    const callbacks = await bridge.callbacks();
    const ours = callbacks.filter((c) => this.options.ownsCallback(c.url));
    const current = ours.find((c) => c.url === url);
    // Stale copies of ours (an old address, duplicates) are removed; Tedee callback ids are stable.
    for (const extra of ours.filter((c) => c !== current)) await bridge.removeCallback(Number(extra.id));
    if (current) {
      if (!this.hasOurHeader(current) || (current.method ?? "POST") !== "POST") await bridge.updateCallback(Number(current.id), spec);
    } else {
      const id = await bridge.addCallback(spec);
      if (id === null) {
        // Firmware before 2024-01 answers 204 without an id: find it by URL.
        const listed = (await bridge.callbacks()).find((c) => c.url === url);
        if (!listed) throw new SmartlockError("rejected", "Tedee Bridge accepted the callback but does not list it");
      }
    }
    this.callbackRegistered = true;
    this.lastWarning = "";
    this.setStatus({ state: "connected" });
  }

  private hasOurHeader(entry: CallbackEntry): boolean {
    const { name, value } = this.options.callbackHeader;
    return (entry.headers ?? []).some((h) => Object.entries(h).some(([k, v]) => k.toLowerCase() === name.toLowerCase() && v === value));
  }

  private async removeOurCallbacks(bridge: TedeeBridgeClient): Promise<void> {
    const ours = (await bridge.callbacks()).filter((c) => this.options.ownsCallback(c.url));
    for (const entry of ours) await bridge.removeCallback(Number(entry.id));
    this.callbackRegistered = false;
  }

  private warnOnce(message: string): void {
    if (message === this.lastWarning) return;
    this.lastWarning = message;
    this.options.warn(message);
  }

  // ---- actions -------------------------------------------------------------------------------------

  private async executeOnBridge(bridge: TedeeBridgeClient, id: string, action: string, spec: TedeeActionSpec, options: PerformOptions): Promise<ActionResult> {
    if (!this.devices.has(id)) await this.refresh().catch(() => undefined);
    if (!this.devices.has(id)) throw new SmartlockError("not_found", `the Tedee Bridge has no paired lock ${id}`);
    const before = this.tracker.get(id)?.lock ?? null;
    const reached = (): boolean => {
      const lock = this.tracker.get(id)?.lock ?? null;
      return lock !== null && spec.confirms.includes(lock);
    };
    // Listen before sending: the callback can arrive before the bridge's answer does.
    const confirmation = options.confirm ? this.confirmation(id, reached, before, options.timeoutMs) : Promise.resolve(false);
    try {
      await bridge.operate(Number(id), spec.operation, spec.mode);
    } catch (err) {
      this.emit("cancel-confirmation", id);
      throw err;
    }
    const confirmed = await confirmation;
    const state = this.tracker.get(id);
    return { device: id, action, confirmed, lock: state?.lock ?? null, door: state?.door ?? null };
  }

  /**
   * Resolves true when a report after the command shows the expected state. Without a registered callback the
   * lock is read every few seconds instead; an unchanged read proves nothing, so the state must have moved.
   */
  private confirmation(id: string, reached: () => boolean, before: LockState | null, timeoutMs: number): Promise<boolean> {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    const onCancel = (cancelled: unknown): void => {
      if (cancelled === id) abort.abort();
    };
    this.on("cancel-confirmation", onCancel);
    let poller: NodeJS.Timeout | null = null;
    const polled = !this.callbackRegistered;
    if (polled) {
      const poll = (): void => {
        poller = setTimeout(() => {
          void this.refresh().catch(() => undefined).finally(() => {
            if (!abort.signal.aborted) poll();
          });
        }, this.options.confirmPollMs ?? 3000);
      };
      poll();
    }
    return waitFor(
      this,
      "report",
      (deviceId, channel) => deviceId === id && reached() && (channel !== "poll" || !polled || this.tracker.get(id)?.lock !== before),
      timeoutMs,
      abort.signal,
    ).finally(() => {
      if (poller) clearTimeout(poller);
      this.off("cancel-confirmation", onCancel);
      this.closing.signal.removeEventListener("abort", onClose);
    });
  }

  /**
   * Cloud only: start the operation, follow it to COMPLETED (or the timeout), then read the lock once. The
   * state read is the confirmation; the operation's own result only tells whether the lock refused.
   */
  private async executeInCloud(id: string, action: string, spec: TedeeActionSpec, options: PerformOptions): Promise<ActionResult> {
    const cloud = this.cloud;
    if (!cloud) throw new SmartlockError("bad_request", "neither a Tedee Bridge nor a cloud key is configured");
    const operationId = await cloud.operate(Number(id), spec.operation, spec.mode);
    const finish = async (): Promise<boolean> => {
      const deadline = Date.now() + options.timeoutMs;
      const pollMs = this.options.confirmPollMs ?? 2000;
      let completed = false;
      while (!this.closing.signal.aborted && Date.now() < deadline) {
        await delay(Math.min(pollMs, Math.max(0, deadline - Date.now())));
        const status = await cloud.operation(operationId);
        if (status.status.toUpperCase() === "COMPLETED") {
          if (status.result !== undefined && status.result !== null && status.result !== 0) {
            throw new SmartlockError("rejected", `Tedee cloud: the lock did not carry out "${action}" (operation result ${status.result})`);
          }
          completed = true;
          break;
        }
      }
      await this.serialize(() => this.readCloudLocks("diff", Number(id)));
      const lock = this.tracker.get(id)?.lock ?? null;
      return completed && lock !== null && spec.confirms.includes(lock);
    };
    if (!options.confirm) {
      // Still read the state once afterwards, so listeners see the change.
      void finish().catch((err: unknown) => this.warnOnce(`Tedee cloud: after "${action}" on ${id}: ${toSmartlockError(err).message}`));
      const state = this.tracker.get(id);
      return { device: id, action, confirmed: false, lock: state?.lock ?? null, door: state?.door ?? null };
    }
    const confirmed = await finish();
    const state = this.tracker.get(id);
    return { device: id, action, confirmed, lock: state?.lock ?? null, door: state?.door ?? null };
  }

  // ---- actors from the cloud activity log -------------------------------------------------------------

  /**
   * Whether a follow-up with the actor may still come for this event: a lock event without an actor while a
   * cloud key is set. Listeners with `actorWait` hold exactly these back.
   */
  expectsActor(event: DoorEvent): boolean {
    return this.cloud !== null && !event.actor && !event.update && ACTOR_EVENTS.has(event.event);
  }

  private expectActor(event: DoorEvent): void {
    if (!this.expectsActor(event)) return;
    this.merger.remember(event);
    const set = this.awaitingActor.get(event.device.id) ?? new Set<string>();
    set.add(event.id);
    this.awaitingActor.set(event.device.id, set);
    // A new event restarts the device's lookup schedule, so the newest event gets every attempt; a burst
    // (unlocking, unlocked, pulling, ...) costs one schedule, not one per event.
    const generation = (this.actorGenerations.get(event.device.id) ?? 0) + 1;
    this.actorGenerations.set(event.device.id, generation);
    const running = this.actorTimers.get(event.device.id);
    if (running) clearTimeout(running);
    this.lookUpActor(event.device.id, 0, generation);
  }

  private lookUpActor(deviceId: string, attempt: number, generation: number): void {
    const delays = this.options.actorDelaysMs ?? DEFAULT_ACTOR_DELAYS;
    const current = (): boolean => this.actorGenerations.get(deviceId) === generation && !this.closing.signal.aborted;
    const stop = (): void => {
      this.awaitingActor.delete(deviceId);
      this.actorTimers.delete(deviceId);
    };
    if (attempt >= delays.length || !current()) {
      if (current()) stop();
      return;
    }
    const previous = attempt === 0 ? 0 : (delays[attempt - 1] ?? 0);
    const timer = setTimeout(() => {
      if (!current()) return;
      void this.readActivity(deviceId).then(
        () => {
          if (!current()) return;
          if ((this.awaitingActor.get(deviceId)?.size ?? 0) > 0) this.lookUpActor(deviceId, attempt + 1, generation);
          else stop();
        },
        (err: unknown) => {
          // Rate limited or unreachable: give up on these events rather than spend more of the budget.
          this.warnOnce(`could not read the Tedee activity log for lock ${deviceId}: ${toSmartlockError(err).message}`);
          if (current()) stop();
        },
      );
    }, Math.max(0, (delays[attempt] ?? 0) - previous));
    timer.unref?.();
    this.actorTimers.set(deviceId, timer);
  }

  private async readActivity(deviceId: string): Promise<void> {
    const cloud = this.cloud;
    if (!cloud || this.closing.signal.aborted) return;
    const entries = await cloud.activity(Number(deviceId), 20);
    const waiting = this.awaitingActor.get(deviceId);
    // Oldest first, so two operations in a row attach in order.
    for (const entry of [...entries].reverse()) {
      if (this.usedActivity.has(entry.id) || deviceIdOf(entry.deviceId) !== deviceId) continue;
      const meaning = activityMeaning(entry.event);
      if (!meaning) continue;
      const atMs = activityTime(entry.date);
      if (!Number.isFinite(atMs)) continue;
      const actor = activityActor(entry, meaning.actor);
      for (const name of meaning.events) {
        const followUp = this.merger.attach(deviceId, [name], atMs, actor);
        if (!followUp) continue;
        this.usedActivity.add(entry.id);
        if (this.usedActivity.size > 5000) this.usedActivity.delete(this.usedActivity.values().next().value as number);
        waiting?.delete(followUp.id);
        if (!this.closing.signal.aborted) this.emit("event", followUp);
        break;
      }
    }
  }

  // ---- plumbing ------------------------------------------------------------------------------------

  private remember(device: KnownDevice): void {
    const id = deviceIdOf(device.id);
    const known = this.devices.get(id);
    this.devices.set(id, { id: device.id, name: device.name ?? known?.name ?? null });
  }

  private deviceOf(id: string): Device {
    return { id, name: this.devices.get(id)?.name ?? null, type: "lock" };
  }

  private bridgeDeviceRef(): Device {
    return this.bridgeDevice ?? { id: `${this.options.bridge?.host ?? "bridge"}:${this.options.bridge?.port ?? 80}`, name: "Tedee Bridge", type: "bridge" };
  }

  /** Emits the events of one report, then "report" (also when nothing changed: confirmations need it). */
  private publish(deviceId: string, events: DoorEvent[], channel: Channel): void {
    if (this.closing.signal.aborted) return;
    for (const event of events) {
      this.emit("event", event);
      this.expectActor(event);
    }
    this.emit("report", deviceId, channel);
  }

  /** Callback work runs after the HTTP answer: a failure there must never become an unhandled exception. */
  private safely(work: () => void): void {
    try {
      work();
    } catch (err) {
      this.options.warn(`Tedee callback handling failed: ${toSmartlockError(err).message}`);
    }
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.statusValue.state === status.state && this.statusValue.reason === status.reason) return;
    this.statusValue = status;
    this.emit("status", status);
  }
}

function reasonOf(code: ErrorCode, what: "bridge" | "cloud"): string {
  if (code === "timeout") return `${what} timeout`;
  if (code === "busy") return what === "cloud" ? "cloud rate limit" : "bridge busy";
  return `${what} unreachable`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
