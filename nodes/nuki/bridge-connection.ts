/**
 * The connection to one Nuki Bridge, owned by a `nuki-config` node and shared by its listeners and actions:
 * initial snapshot from `/list` (never `/lockState`, which wakes the lock over BLE and drains its battery),
 * callback registration hygiene (reuse ours, add if missing, remove ours on close, never touch others),
 * periodic re-checks, resync after the bridge was unreachable, callback intake and confirmed actions.
 *
 * Plain TypeScript: the Node-RED glue in ../nuki.ts wires routes, status and logging to it.
 */
import { EventEmitter } from "node:events";
import type { DoorEvent, DoorState, LockState } from "../core/door-event";
import { type ErrorCode, SmartlockError, toSmartlockError } from "../core/errors";
import { InFlight } from "../core/in-flight";
import { StateTracker } from "../core/state-tracker";
import { waitFor } from "../core/wait-for";
import { actionSpec, supportedActions } from "./actions";
import type { AuthMode } from "./auth";
import { NukiBridgeClient } from "./bridge-client";
import { canonicalCallbackBody } from "./callback-body";
import { nukiIdToHex, parseDeviceId } from "./ids";
import { bridgeReport } from "./normalize";
import { type CallbackEntry, type ListEntry, bridgeSchemas } from "./schemas";

/** The bridge keeps at most 3 callback URLs, http only, up to 254 characters (research/nuki.md 1.5). */
export const MAX_CALLBACKS = 3;
export const MAX_CALLBACK_URL_LENGTH = 254;

export type BridgeState = "idle" | "connecting" | "connected" | "no-callback" | "unreachable" | "unauthorized" | "closed";

export interface BridgeStatus {
  state: BridgeState;
  /** Short reason for the node status (no secrets). */
  reason?: string;
}

export interface BridgeConnectionOptions {
  host: string;
  port: number;
  token: string;
  auth: AuthMode;
  /** The callback URL to register, or null when callbacks cannot be received (no httpNode). */
  callbackUrl: () => Promise<string | null>;
  /** Whether a URL registered at the bridge is one of ours (same route secret), current or stale. */
  ownsCallback: (url: string) => boolean;
  /** How often the registration and the device list are re-checked (ms). */
  checkIntervalMs?: number;
  /** First retry delay after the bridge was unreachable; doubles up to checkIntervalMs. */
  retryMs?: number;
  /** While waiting for a confirmation without callbacks, read /list this often. */
  confirmPollMs?: number;
  requestTimeoutMs?: number;
  spacingMs?: number;
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

interface KnownDevice {
  nukiId: number;
  deviceType: number;
  name: string | null;
}

export class NukiBridgeConnection extends EventEmitter {
  readonly tracker: StateTracker;
  readonly client: NukiBridgeClient;
  private readonly devices = new Map<string, KnownDevice>();
  private readonly inFlight = new InFlight<ActionResult>();
  private readonly closing = new AbortController();
  private statusValue: BridgeStatus = { state: "idle" };
  private started = false;
  private synced = false;
  private callbackRegistered = false;
  private bridgeId: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private cycle: Promise<void> = Promise.resolve();
  private lastSlotWarning = "";

  constructor(private readonly options: BridgeConnectionOptions) {
    super();
    this.tracker = options.tracker ?? new StateTracker("nuki");
    this.retryDelay = options.retryMs ?? 10_000;
    this.client = new NukiBridgeClient({
      host: options.host,
      port: options.port,
      token: options.token,
      auth: options.auth,
      ...(options.requestTimeoutMs === undefined ? {} : { timeoutMs: options.requestTimeoutMs }),
      ...(options.spacingMs === undefined ? {} : { spacingMs: options.spacingMs }),
    });
  }

  get status(): BridgeStatus {
    return this.statusValue;
  }

  get hasCallback(): boolean {
    return this.callbackRegistered;
  }

  /** Whether the bridge listed this device (8 hex digits) as paired. */
  knows(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  /** Whether the first read of the bridge is done (successfully or not). */
  get settled(): boolean {
    return this.synced || this.statusValue.state === "unreachable" || this.statusValue.state === "unauthorized";
  }

  /** Starts the first sync (idempotent). Never rejects: failures become status and retries. */
  start(): void {
    if (this.started || this.closing.signal.aborted) return;
    this.started = true;
    this.setStatus({ state: "connecting" });
    this.schedule(0);
  }

  /**
   * A callback POST from the bridge. Verified by the route secret (the bridge cannot sign), parsed and
   * validated here; returns the HTTP status. Events are emitted after the answer is sent.
   */
  handleCallback(rawBody: Buffer, receivedAt = Date.now()): { status: number; body?: string; warning?: string } {
    let json: unknown;
    try {
      json = JSON.parse(rawBody.toString("utf8"));
    } catch {
      return { status: 400, body: "malformed JSON", warning: "Nuki Bridge callback with malformed JSON ignored" };
    }
    let body = canonicalCallbackBody(json);
    if (body === undefined) {
      const parsed = bridgeSchemas().callbackBodySchema.safeParse(json);
      if (!parsed.success) {
        return { status: 400, body: "unexpected callback body", warning: "Nuki Bridge callback with an unexpected body ignored" };
      }
      body = parsed.data;
    }
    const device = this.remember({ nukiId: body.nukiId, deviceType: body.deviceType, name: null });
    const events = this.tracker.update(bridgeReport(device, body), { channel: "bridge", raw: json, receivedAt });
    setImmediate(() => this.publish(nukiIdToHex(body.nukiId), events, "bridge"));
    return { status: 200 };
  }

  /** Re-reads `/list` now and reports what changed; with `snapshot` also a device.state per device. */
  refresh(snapshot = false): Promise<void> {
    return this.serialize(() => this.readList(snapshot ? "snapshot" : "diff"));
  }

  /** Sends an action and, when asked, waits until the device reports the state it leads to. */
  perform(deviceRef: string, action: string, options: { confirm: boolean; timeoutMs: number }): Promise<ActionResult> {
    const nukiId = parseDeviceId(deviceRef);
    if (nukiId === null) {
      return Promise.reject(new SmartlockError("bad_request", `"${deviceRef}" is not a Nuki ID (8 hex digits, as shown in the Nuki app)`));
    }
    const id = nukiIdToHex(nukiId);
    return this.inFlight.run(`${id}:${action}:${options.confirm}`, () => this.execute(id, action, options)).promise;
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const cleanup = this.callbackRegistered || this.started ? this.removeOurCallbacks() : Promise.resolve();
    // Removing our callback is worth a few seconds, not a hung redeploy.
    await Promise.race([cleanup.catch(() => undefined), delay(5000)]);
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

  /** Runs sync work one at a time, never rejecting (errors are handled inside `check`). */
  private serialize(work: () => Promise<void>): Promise<void> {
    const next = this.cycle.then(work, work);
    this.cycle = next.catch(() => undefined);
    return next;
  }

  private async check(): Promise<void> {
    if (this.closing.signal.aborted) return;
    const interval = this.options.checkIntervalMs ?? 300_000;
    try {
      const wasDown = this.statusValue.state === "unreachable" || this.statusValue.state === "unauthorized";
      if (!this.synced || wasDown) await this.readInfo();
      await this.readList(this.synced ? "diff" : "snapshot");
      this.synced = true;
      await this.ensureCallback();
      this.retryDelay = this.options.retryMs ?? 10_000;
      this.schedule(interval);
    } catch (err) {
      if (this.closing.signal.aborted) return;
      this.fail(toSmartlockError(err));
      this.schedule(this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, interval);
    }
  }

  private async readInfo(): Promise<void> {
    const info = await this.client.info();
    const hardwareId = info.ids?.hardwareId ?? info.ids?.serverId;
    this.bridgeId = hardwareId === undefined ? `${this.options.host}:${this.options.port}` : String(hardwareId);
    const events = this.tracker.update(
      { device: { id: this.bridgeId, name: "Nuki Bridge", type: "bridge" }, online: true },
      { channel: "bridge", raw: info },
    );
    this.publish(this.bridgeId, events, "bridge");
  }

  private async readList(mode: "snapshot" | "diff"): Promise<void> {
    const entries = await this.client.list();
    for (const entry of entries) this.applyListEntry(entry, mode);
  }

  private applyListEntry(entry: ListEntry, mode: "snapshot" | "diff"): void {
    const device = this.remember({ nukiId: entry.nukiId, deviceType: entry.deviceType, name: entry.name?.trim() || null });
    const id = nukiIdToHex(entry.nukiId);
    if (!entry.lastKnownState) return;
    const report = bridgeReport(device, entry.lastKnownState);
    const known = this.tracker.get(id) !== undefined;
    // Changes found by reading /list (missed callbacks, a gap while unreachable) are reported as "poll".
    const events =
      mode === "snapshot" || !known
        ? this.tracker.update(report, { channel: "bridge", raw: entry, snapshot: true })
        : this.tracker.update(report, { channel: "poll", raw: entry });
    this.publish(id, events, mode === "snapshot" || !known ? "bridge" : "poll");
  }

  private fail(err: SmartlockError): void {
    const state: BridgeState = err.code === "unauthorized" ? "unauthorized" : "unreachable";
    if (this.statusValue.state !== state) this.options.warn(err.message);
    this.setStatus({ state, reason: err.code === "unauthorized" ? "unauthorized" : reasonOf(err.code) });
    if (this.bridgeId && state === "unreachable") {
      const events = this.tracker.update(
        { device: { id: this.bridgeId, name: "Nuki Bridge", type: "bridge" }, online: false },
        { channel: "bridge", raw: { error: err.code } },
      );
      this.publish(this.bridgeId, events, "bridge");
    }
  }

  // ---- callback registration -------------------------------------------------------------------------

  private async ensureCallback(): Promise<void> {
    const url = await this.options.callbackUrl();
    if (!url) {
      this.callbackRegistered = false;
      this.setStatus({ state: "no-callback", reason: "no callback route" });
      return;
    }
    if (!/^http:\/\//i.test(url) || url.length > MAX_CALLBACK_URL_LENGTH) {
      this.callbackRegistered = false;
      this.setStatus({ state: "no-callback", reason: "callback URL invalid" });
      this.warnOnce(`callback URL must be http:// and at most ${MAX_CALLBACK_URL_LENGTH} characters (the bridge allows nothing else); it is ${url.length} characters`);
      return;
    }
    let callbacks = await this.client.callbacks();
    // Stale URLs of ours (an old address, duplicates) fill slots: remove them one by one, re-listing after
    // each removal because the bridge renumbers the remaining ids.
    for (;;) {
      const exact = callbacks.filter((c) => c.url === url);
      const stale = callbacks.filter((c) => this.options.ownsCallback(c.url) && c.url !== url);
      const extra = [...stale, ...exact.slice(1)][0];
      if (!extra) break;
      await this.client.removeCallback(extra.id);
      callbacks = await this.client.callbacks();
    }
    if (!callbacks.some((c) => c.url === url)) {
      if (callbacks.length >= MAX_CALLBACKS) return this.noSlot(callbacks);
      await this.client.addCallback(url);
      callbacks = await this.client.callbacks();
      if (!callbacks.some((c) => c.url === url)) return this.noSlot(callbacks);
    }
    this.callbackRegistered = true;
    this.lastSlotWarning = "";
    this.setStatus({ state: "connected" });
  }

  private noSlot(callbacks: CallbackEntry[]): void {
    this.callbackRegistered = false;
    this.setStatus({ state: "no-callback", reason: "no free callback slot" });
    this.warnOnce(
      `all ${MAX_CALLBACKS} callback slots of the Nuki Bridge are used by other applications, so no events can be received. ` +
        `Remove one of these in the application that registered it (or with /callback/remove): ${callbacks.map((c) => `#${c.id} ${c.url}`).join(", ")}`,
    );
  }

  private warnOnce(message: string): void {
    if (message === this.lastSlotWarning) return;
    this.lastSlotWarning = message;
    this.options.warn(message);
  }

  private async removeOurCallbacks(): Promise<void> {
    for (let round = 0; round < MAX_CALLBACKS + 2; round++) {
      const ours = (await this.client.callbacks()).find((c) => this.options.ownsCallback(c.url));
      if (!ours) break;
      await this.client.removeCallback(ours.id);
    }
    this.callbackRegistered = false;
  }

  // ---- actions -------------------------------------------------------------------------------------

  private async execute(id: string, action: string, options: { confirm: boolean; timeoutMs: number }): Promise<ActionResult> {
    let device = this.devices.get(id);
    if (!device) {
      // Unknown so far: read /list once. If that fails, its error (401, unreachable) is the real cause, not "not found".
      let failure: unknown = null;
      await this.refresh().catch((err: unknown) => {
        failure = err;
      });
      device = this.devices.get(id);
      if (!device && failure !== null) throw toSmartlockError(failure);
    }
    if (!device) throw new SmartlockError("not_found", `the Nuki Bridge has no paired device ${id}`);
    const spec = actionSpec(device.deviceType, action);
    if (!spec) {
      throw new SmartlockError(
        "unsupported",
        `"${action}" is not an action of ${device.name ?? id} (${supportedActions(device.deviceType).join(", ")})`,
      );
    }
    const before = this.tracker.get(id);
    const reached = (): boolean => {
      const state = this.tracker.get(id);
      if (!state) return false;
      if (spec.continuousMode !== undefined) return state.flags.continuous_mode === spec.continuousMode;
      return state.lock !== null && spec.confirms.includes(state.lock);
    };
    // Listen before sending: the callback can arrive before the bridge's answer does.
    const confirmation = options.confirm
      ? this.confirmation(id, reached, before?.lock ?? null, options.timeoutMs)
      : Promise.resolve(false);
    try {
      await this.client.lockAction(device.nukiId, device.deviceType, spec.code);
    } catch (err) {
      this.emit("cancel-confirmation", id);
      throw err;
    }
    const confirmed = await confirmation;
    const state = this.tracker.get(id);
    return { device: id, action, confirmed, lock: state?.lock ?? null, door: state?.door ?? null };
  }

  /**
   * Resolves true when a report for the device after the command shows the expected state. Without a
   * registered callback, /list is read every few seconds instead (its cached state must have changed,
   * since an unchanged cached state proves nothing).
   */
  private confirmation(id: string, reached: () => boolean, lockBefore: LockState | null, timeoutMs: number): Promise<boolean> {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    const onCancel = (cancelled: unknown): void => {
      if (cancelled === id) abort.abort();
    };
    this.on("cancel-confirmation", onCancel);
    let poller: NodeJS.Timeout | null = null;
    if (!this.callbackRegistered) {
      const pollMs = this.options.confirmPollMs ?? 3000;
      const poll = (): void => {
        poller = setTimeout(() => {
          void this.refresh().finally(() => {
            if (!abort.signal.aborted) poll();
          });
        }, pollMs);
      };
      poll();
    }
    const polled = !this.callbackRegistered;
    return waitFor(
      this,
      "report",
      (deviceId, channel) => deviceId === id && reached() && (channel !== "poll" || !polled || this.tracker.get(id)?.lock !== lockBefore),
      timeoutMs,
      abort.signal,
    ).finally(() => {
      if (poller) clearTimeout(poller);
      this.off("cancel-confirmation", onCancel);
      this.closing.signal.removeEventListener("abort", onClose);
    });
  }

  // ---- plumbing ------------------------------------------------------------------------------------

  private remember(device: KnownDevice): KnownDevice {
    const id = nukiIdToHex(device.nukiId);
    const known = this.devices.get(id);
    const merged = { nukiId: device.nukiId, deviceType: device.deviceType, name: device.name ?? known?.name ?? null };
    this.devices.set(id, merged);
    return merged;
  }

  /** Emits the events of one report, then "report" (also when nothing changed: confirmations need it). */
  private publish(deviceId: string, events: DoorEvent[], channel: "bridge" | "poll"): void {
    if (this.closing.signal.aborted) return;
    for (const event of events) this.emit("event", event);
    this.emit("report", deviceId, channel);
  }

  private setStatus(status: BridgeStatus): void {
    if (this.statusValue.state === status.state && this.statusValue.reason === status.reason) return;
    this.statusValue = status;
    this.emit("status", status);
  }
}

function reasonOf(code: ErrorCode): string {
  return code === "timeout" ? "bridge timeout" : code === "busy" ? "bridge busy" : "bridge unreachable";
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
