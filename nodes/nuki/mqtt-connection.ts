/**
 * The Nuki MQTT channel (Smart Lock 3.0 Pro, 4th generation, Ultra; research/nuki.md 3): the lock publishes
 * one topic per aspect under `{prefix}/{NUKI_ID_HEX}/`, `lockActionEvent` (who, before the motor runs) and
 * `commandResponse`; it takes commands on `lockAction`. State topics go into the shared tracker (the same
 * device.id as the bridge's nukiId), the actor is announced to the hub, actions are confirmed by
 * `commandResponse` and the state topics.
 *
 * The broker connection is abstracted (MqttTransport): the glue hands in Node-RED's own mqtt-broker node.
 */
import { EventEmitter } from "node:events";
import type { DoorEvent, LockState } from "../core/door-event";
import { type ErrorCode, SmartlockError } from "../core/errors";
import { InFlight } from "../core/in-flight";
import type { DeviceReport } from "../core/state-tracker";
import { waitFor } from "../core/wait-for";
import { actionSpec, supportedActions } from "./actions";
import { mqttActor, parseLockActionEvent } from "./actors";
import type { ActionResult, BridgeStatus } from "./bridge-connection";
import type { NukiEventHub } from "./event-hub";
import { nukiIdToHex, parseDeviceId } from "./ids";
import { deviceKind, doorState, isOpener, lockState } from "./normalize";

export interface MqttTransport {
  readonly connected: boolean;
  /** `retained` is the packet's retain flag: the broker's stored value, not news. */
  subscribe(topic: string, onMessage: (topic: string, payload: Buffer, retained: boolean) => void): void;
  unsubscribe(topic: string): void;
  publish(topic: string, payload: string, options: { qos: 0 | 1 | 2; retain: boolean }): Promise<void>;
}

export interface MqttConnectionOptions {
  hub: NukiEventHub;
  transport: MqttTransport;
  /** Topic prefix, "nuki" unless changed in the lock's MQTT settings. */
  prefix: string;
  /** Name of a device-side auth id (from the Web API authorizations), when known. */
  authName?: (deviceId: string, authId: number) => string | null;
  warn: (message: string) => void;
  /** Quiet time after the last retained message of a device before its device.state (default 300 ms). */
  settleMs?: number;
  /** How long a sent command waits for `commandResponse` (default 10 s, capped by the action timeout). */
  responseTimeoutMs?: number;
}

/** Lock states a lockActionEvent's action leads to (1 unlock, 2 lock, 3 unlatch, 4 lock 'n' go, 5 with unlatch, 6 full lock). */
const ACTION_STATES: Record<number, readonly LockState[]> = {
  1: ["unlocking", "unlocked"],
  2: ["locking", "locked"],
  3: ["unlatching", "unlatched", "unlocked"],
  4: ["unlocking", "unlocked"],
  5: ["unlatching", "unlatched", "unlocked"],
  6: ["locking", "locked"],
};
const ACTION_EVENTS: Record<number, readonly string[]> = {
  1: ["lock.unlocking", "lock.unlocked"],
  2: ["lock.locking", "lock.locked"],
  3: ["lock.unlatching", "lock.unlatched", "lock.unlocked"],
  4: ["lock.unlocking", "lock.unlocked"],
  5: ["lock.unlatching", "lock.unlatched", "lock.unlocked"],
  6: ["lock.locking", "lock.locked"],
};
/** An actor that comes this soon after its lock event (another channel was faster) becomes a follow-up. */
const LATE_ACTOR_MS = 5000;
const MAX_PAYLOAD = 200;

/** commandResponse codes are BLE error codes (research 3.4). */
const COMMAND_ERRORS: Record<number, [ErrorCode, string]> = {
  0x20: ["unauthorized", "not authorized"],
  0x21: ["unauthorized", "bad PIN"],
  0x23: ["bad_request", "bad parameter"],
  0x24: ["unauthorized", "invalid authorization id"],
  0x25: ["rejected", "authorization disabled"],
  0x26: ["rejected", "remote access not allowed"],
  0x27: ["rejected", "not allowed at this time"],
  0x28: ["rejected", "too many PIN attempts"],
  0x40: ["rejected", "auto unlock too recent"],
  0x41: ["rejected", "position unknown"],
  0x42: ["rejected", "motor blocked"],
  0x43: ["rejected", "clutch failure"],
  0x44: ["timeout", "motor timeout"],
  0x45: ["busy", "busy"],
  0x46: ["rejected", "canceled"],
  0x47: ["rejected", "not calibrated"],
  0x49: ["rejected", "motor low voltage"],
  0x4a: ["rejected", "motor power failure"],
  0x4c: ["rejected", "voltage too low"],
  0x4d: ["rejected", "firmware update needed"],
};

export function commandError(code: number): SmartlockError {
  const [errorCode, text] = COMMAND_ERRORS[code] ?? ["rejected", "error"];
  return new SmartlockError(errorCode, `the lock refused the command: ${text} (commandResponse ${code})`);
}

interface MqttDevice {
  deviceType: number;
  name: string | null;
  /** The tracker knew the device before MQTT reported it (then no extra device.state). */
  knownBefore: boolean;
  settle: NodeJS.Timeout | null;
}

function parseBool(text: string): boolean | undefined {
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  return undefined;
}

function parseInt10(text: string, max = 0xffff): number | undefined {
  if (!/^\d{1,6}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

export class NukiMqttConnection extends EventEmitter {
  private readonly hub: NukiEventHub;
  private readonly devices = new Map<string, MqttDevice>();
  private readonly inFlight = new InFlight<ActionResult>();
  private readonly closing = new AbortController();
  private readonly prefix: string;
  private statusValue: BridgeStatus = { state: "idle" };
  private started = false;

  constructor(private readonly options: MqttConnectionOptions) {
    super();
    this.hub = options.hub;
    this.prefix = options.prefix.replace(/^\/+|\/+$/g, "") || "nuki";
  }

  get status(): BridgeStatus {
    return this.statusValue;
  }

  get topic(): string {
    return `${this.prefix}/#`;
  }

  knows(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  start(): void {
    if (this.started || this.closing.signal.aborted) return;
    this.started = true;
    this.options.transport.subscribe(this.topic, (topic, payload, retained) => {
      try {
        this.handleMessage(topic, payload, retained);
      } catch (err) {
        this.options.warn(`Nuki MQTT message on ${topic} could not be handled: ${(err as Error).message}`);
      }
    });
    this.connectionChanged(this.options.transport.connected);
  }

  /** The glue reports the broker connection (Node-RED's mqtt-broker node tells its users). */
  connectionChanged(connected: boolean): void {
    if (this.closing.signal.aborted) return;
    this.setStatus(connected ? { state: "connected" } : { state: "unreachable", reason: "mqtt: disconnected" });
  }

  /** One message from the broker. Unknown topics and malformed payloads are ignored (never an event). */
  handleMessage(topic: string, payload: Buffer, retained: boolean, receivedAt = Date.now()): void {
    if (this.closing.signal.aborted) return;
    const parts = topic.split("/");
    const prefixParts = this.prefix.split("/");
    if (parts.length !== prefixParts.length + 2 || prefixParts.some((p, i) => parts[i] !== p)) return;
    const rawId = parts[prefixParts.length] as string;
    const field = parts[prefixParts.length + 1] as string;
    if (!/^[0-9A-Fa-f]{1,8}$/.test(rawId) || payload.length > MAX_PAYLOAD) return;
    const id = rawId.toUpperCase().padStart(8, "0");
    const text = payload.toString("utf8").trim();
    const device = this.device(id);
    const raw = { topic, payload: text, retained };

    switch (field) {
      case "deviceType": {
        const type = parseInt10(text, 255);
        if (type !== undefined) device.deviceType = type;
        return;
      }
      case "name":
        device.name = text.slice(0, 100) || null;
        return;
      case "commandResponse": {
        const code = parseInt10(text, 255);
        if (code !== undefined && !retained) this.emit("command-response", id, code);
        return;
      }
      case "lockActionEvent":
        if (!retained) this.handleLockActionEvent(id, text, raw, receivedAt);
        return;
    }
    const report = this.reportOf(id, device, field, text);
    if (!report) return;
    if (retained) {
      // The broker's stored values arrive at subscribe time: state, not happenings. One device.state after them.
      this.hub.tracker.update(report, { channel: "mqtt", raw, snapshot: true, receivedAt });
      this.settle(id, device);
      return;
    }
    this.publish(id, this.hub.tracker.update(report, { channel: "mqtt", raw, receivedAt }));
  }

  perform(deviceRef: string, action: string, options: { confirm: boolean; timeoutMs: number }): Promise<ActionResult> {
    const nukiId = parseDeviceId(deviceRef);
    if (nukiId === null) {
      return Promise.reject(new SmartlockError("bad_request", `"${deviceRef}" is not a Nuki ID (8 hex digits, as shown in the Nuki app)`));
    }
    const id = nukiIdToHex(nukiId);
    return this.inFlight.run(`${id}:${action}:${options.confirm}`, () => this.execute(id, action, options)).promise;
  }

  close(): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    for (const device of this.devices.values()) if (device.settle) clearTimeout(device.settle);
    try {
      this.options.transport.unsubscribe(this.topic);
    } catch {
      // the broker node may already be closed
    }
    this.setStatus({ state: "closed" });
    this.removeAllListeners();
  }

  // ---- intake --------------------------------------------------------------------------------------------

  private device(id: string): MqttDevice {
    let device = this.devices.get(id);
    if (!device) {
      // MQTT exists on Smart Lock 3.0 Pro and later (device type 4) only; a `deviceType` topic corrects it.
      device = { deviceType: 4, name: null, knownBefore: this.hub.tracker.get(id) !== undefined, settle: null };
      this.devices.set(id, device);
    }
    return device;
  }

  private reportOf(id: string, device: MqttDevice, field: string, text: string): DeviceReport | null {
    const base: DeviceReport = { device: { id, name: device.name, type: deviceKind(device.deviceType) } };
    switch (field) {
      case "state": {
        const state = parseInt10(text, 255);
        return state === undefined ? null : { ...base, lock: lockState(device.deviceType, state) };
      }
      case "doorsensorState": {
        const state = parseInt10(text, 255);
        const door = state === undefined ? undefined : doorState(state);
        return door === undefined ? null : { ...base, door };
      }
      case "batteryCritical":
      case "batteryCharging": {
        const value = parseBool(text);
        if (value === undefined) return null;
        return { ...base, battery: field === "batteryCritical" ? { critical: value } : { charging: value } };
      }
      case "batteryChargeState": {
        const level = parseInt10(text, 100);
        return level === undefined ? null : { ...base, battery: { level } };
      }
      case "keypadBatteryCritical":
      case "doorsensorBatteryCritical": {
        const value = parseBool(text);
        if (value === undefined) return null;
        return { ...base, flags: { [field === "keypadBatteryCritical" ? "keypad_battery_low" : "door_sensor_battery_low"]: value } };
      }
      case "connected": {
        const value = parseBool(text);
        return value === undefined ? null : { ...base, online: value };
      }
      default:
        return null;
    }
  }

  private handleLockActionEvent(id: string, text: string, raw: unknown, receivedAt: number): void {
    const parsed = parseLockActionEvent(text);
    if (!parsed) {
      this.options.warn(`Nuki MQTT lockActionEvent "${text.slice(0, 40)}" of ${id} is not LockAction,Trigger,AuthID,CodeID,Context; ignored`);
      return;
    }
    const actor = mqttActor(parsed, parsed.authId > 0 ? (this.options.authName?.(id, parsed.authId) ?? null) : null);
    const device = this.device(id);
    const deviceRef = { id, name: device.name, type: deviceKind(device.deviceType) };
    if (parsed.action === 80 || parsed.action === 90) {
      // A fob or button press that is not a lock action (e.g. "no action" on double click).
      const event = this.hub.tracker.happening(
        deviceRef,
        { event: parsed.action === 80 ? "nuki.fob.pressed" : "nuki.button.pressed", actor },
        { channel: "mqtt", raw, receivedAt },
      );
      if (event) this.publish(id, [event]);
      return;
    }
    const states = ACTION_STATES[parsed.action];
    const names = ACTION_EVENTS[parsed.action];
    if (!states || !names) return;
    // Another channel already sent the lock event (a bridge callback can win the race): a follow-up.
    if (this.hub.attachActor(id, names, receivedAt, actor, LATE_ACTOR_MS) !== "none") return;
    this.hub.expectActor(id, actor, states);
  }

  /** One device.state once the retained values of a device are in, unless another channel reported it first. */
  private settle(id: string, device: MqttDevice): void {
    if (device.knownBefore) return;
    if (device.settle) clearTimeout(device.settle);
    device.settle = setTimeout(() => {
      device.settle = null;
      device.knownBefore = true;
      const snapshot = this.hub.tracker.snapshot(id, { channel: "mqtt", raw: { retained: true } });
      if (snapshot) this.publish(id, [snapshot]);
    }, this.options.settleMs ?? 300);
    device.settle.unref?.();
  }

  private publish(id: string, events: DoorEvent[]): void {
    if (this.closing.signal.aborted) return;
    this.hub.publish(events);
    this.hub.reported(id);
  }

  // ---- actions -------------------------------------------------------------------------------------------

  private async execute(id: string, action: string, options: { confirm: boolean; timeoutMs: number }): Promise<ActionResult> {
    const device = this.devices.get(id);
    if (!device) throw new SmartlockError("not_found", `no Nuki device ${id} has published on ${this.prefix}/ of this MQTT broker`);
    const spec = isOpener(device.deviceType) ? null : actionSpec(device.deviceType, action);
    if (!spec) {
      throw new SmartlockError("unsupported", `"${action}" is not an MQTT action of ${device.name ?? id} (${supportedActions(device.deviceType).join(", ")})`);
    }
    if (!this.options.transport.connected) throw new SmartlockError("unreachable", "the MQTT broker is not connected");
    const tracker = this.hub.tracker;
    if (tracker.get(id)?.online === false) throw new SmartlockError("offline", `the lock ${id} is not connected to the MQTT broker`);
    const reached = (): boolean => {
      const lock = tracker.get(id)?.lock ?? null;
      return lock !== null && spec.confirms.includes(lock);
    };
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    // Listen before publishing: the answer can come before publish() resolves.
    const response = this.nextResponse(id, Math.min(this.options.responseTimeoutMs ?? 10_000, options.timeoutMs), abort.signal);
    const state = waitFor(this.hub, "report", (deviceId) => deviceId === id && reached(), options.timeoutMs, abort.signal);
    try {
      // QoS 2, never retained: a retained command would run again whenever the lock reconnects.
      await this.options.transport.publish(`${this.prefix}/${id}/lockAction`, String(spec.code), { qos: 2, retain: false });
      if (!options.confirm) return this.result(id, action, false);
      const code = await response;
      if (code !== null && code !== 0) throw commandError(code);
      if (code === null) return this.result(id, action, false);
      return this.result(id, action, reached() || (await state));
    } finally {
      abort.abort();
      this.closing.signal.removeEventListener("abort", onClose);
    }
  }

  private nextResponse(id: string, timeoutMs: number, signal: AbortSignal): Promise<number | null> {
    return new Promise((resolve) => {
      const finish = (value: number | null): void => {
        clearTimeout(timer);
        this.off("command-response", onResponse);
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      };
      const onResponse = (deviceId: string, code: number): void => {
        if (deviceId === id) finish(code);
      };
      const onAbort = (): void => finish(null);
      const timer = setTimeout(() => finish(null), timeoutMs);
      this.on("command-response", onResponse);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  private result(id: string, action: string, confirmed: boolean): ActionResult {
    const state = this.hub.tracker.get(id);
    return { device: id, action, confirmed, lock: state?.lock ?? null, door: state?.door ?? null };
  }

  private setStatus(status: BridgeStatus): void {
    if (this.statusValue.state === status.state && this.statusValue.reason === status.reason) return;
    this.statusValue = status;
    this.emit("status", status);
  }
}
