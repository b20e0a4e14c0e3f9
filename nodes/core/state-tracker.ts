/**
 * State tracker: keeps the last known state of every device of one vendor and turns state pushes into the
 * contract's events. Vendors push full (or partial) state, not happenings, so "what happened" is the diff
 * against what we knew: an unchanged aspect yields nothing, a repeated delivery yields nothing.
 *
 * The tracker is shared by every channel of one config node (bridge callbacks, cloud webhooks, ...), so a
 * transition reported by two channels becomes one event.
 */
import * as crypto from "node:crypto";
import {
  type Actor,
  type Battery,
  type Channel,
  type Device,
  type DoorEvent,
  type DoorState,
  type LockState,
  type Vendor,
  isoTime,
} from "./door-event";

/** What a vendor push says about one device. `undefined` = this push does not tell (keep what we knew). */
export interface DeviceReport {
  device: Device;
  lock?: LockState | null;
  door?: DoorState | null;
  battery?: Partial<Battery>;
  online?: boolean;
  /**
   * Vendor-specific on/off aspects (e.g. Nuki Opener `ring_to_open`, `continuous_mode`). A change yields
   * `{vendor}.{name}.on` or `.off`.
   */
  flags?: Record<string, boolean | undefined>;
  /**
   * Opaque marker of the last doorbell ring (e.g. Nuki `ringactionTimestamp`). A new value is a ring.
   * `doorbellAt` is the vendor time of that ring, used when we have no earlier marker to compare with.
   */
  doorbell?: string | null;
  doorbellAt?: string | null;
  /** Vendor time of the report, when the vendor gives one. */
  at?: string | null;
  /** Who caused the state change, when the channel tells (attached to lock events of this report). */
  actor?: Actor | null;
}

export interface ReportContext {
  channel: Channel;
  raw: unknown;
  /** A snapshot read on start or resync: store it and answer with `device.state` instead of diff events. */
  snapshot?: boolean;
  /** Receive time (ms); defaults to now. */
  receivedAt?: number;
}

/** Everything the tracker knows about one device. */
export interface TrackedState {
  device: Device;
  lock: LockState | null;
  door: DoorState | null;
  battery: Battery | null;
  online: boolean | null;
  flags: Record<string, boolean>;
  doorbell: string | null | undefined;
  /** Receive time (ms) of the last report. */
  updatedAt: number;
}

/** Lock states that are named events of their own (`lock.<state>`). */
const LOCK_EVENT_STATES: ReadonlySet<LockState> = new Set([
  "locked",
  "unlocked",
  "unlatched",
  "locking",
  "unlocking",
  "unlatching",
  "jammed",
]);

/** A ring whose vendor time is older than this is history, not news (first report of a device). */
const FRESH_RING_MS = 60_000;
/** How many recent event ids are remembered to drop re-delivered explicit events. */
const RECENT_IDS = 1000;

export interface ExplicitEvent {
  event: string;
  actor?: Actor | null;
  at?: string | null;
  /** Vendor-side id of the happening (e.g. a log entry id): makes the event id stable across deliveries. */
  vendorId?: string | null;
}

export class StateTracker {
  readonly vendor: Vendor;
  private readonly states = new Map<string, TrackedState>();
  /** The last RECENT_IDS ids, oldest at `recentNext` once full (a ring: no array shifting per event). */
  private readonly recentIds: Array<string | undefined> = new Array<string | undefined>(RECENT_IDS);
  private recentNext = 0;
  private readonly recentIdSet = new Set<string>();
  private readonly now: () => number;

  constructor(vendor: Vendor, options: { now?: () => number } = {}) {
    this.vendor = vendor;
    this.now = options.now ?? Date.now;
  }

  get(deviceId: string): TrackedState | undefined {
    return this.states.get(deviceId);
  }

  devices(): TrackedState[] {
    return [...this.states.values()];
  }

  /** Applies a report and returns the events it implies (possibly none). */
  update(report: DeviceReport, context: ReportContext): DoorEvent[] {
    const receivedAt = context.receivedAt ?? this.now();
    const id = report.device.id;
    const before = this.states.get(id);
    const after = this.merge(before, report, receivedAt);
    this.states.set(id, after);

    const base = { context, receivedAt, at: report.at ?? null, before, after };
    if (context.snapshot) return [this.build("device.state", base, null, `snapshot:${receivedAt}`)];

    const events: DoorEvent[] = [];
    const push = (name: string, actor: Actor | null, detail: string): void => {
      const event = this.build(name, base, actor, detail);
      if (this.remember(event.id)) events.push(event);
    };

    const prevLock = before?.lock ?? null;
    if (after.lock !== null && after.lock !== prevLock) {
      const name = lockEventName(this.vendor, after.lock);
      if (name) push(name, report.actor ?? null, `${prevLock}>${after.lock}`);
    }
    const prevDoor = before?.door ?? null;
    if (after.door !== null && after.door !== prevDoor && after.door !== "unknown") {
      push(after.door === "open" ? "door.opened" : "door.closed", null, `${prevDoor}>${after.door}`);
    }
    const prevBattery = before?.battery ?? null;
    if (after.battery) {
      const { critical, charging, level } = after.battery;
      if (critical !== null && critical !== (prevBattery?.critical ?? null)) {
        if (critical || prevBattery?.critical === true) push(critical ? "battery.low" : "battery.ok", null, `${critical}`);
      }
      if (before && charging !== null && prevBattery?.charging != null && charging !== prevBattery.charging) {
        push(`${this.vendor}.battery.${charging ? "charging" : "charging_stopped"}`, null, `${charging}`);
      }
      if (before && level !== null && prevBattery?.level != null && level !== prevBattery.level) {
        push(`${this.vendor}.battery.level`, null, `${prevBattery.level}>${level}`);
      }
    }
    const prevOnline = before?.online ?? null;
    if (after.online !== null && after.online !== prevOnline && (prevOnline !== null || !after.online)) {
      push(after.online ? "device.online" : "device.offline", null, `${after.online}`);
    }
    // for…in over the own keys of a plain object: no entries array per report (this runs for every callback)
    for (const flag in after.flags) {
      const value = after.flags[flag];
      const previous = before?.flags[flag];
      if (previous !== undefined && previous !== value) push(`${this.vendor}.${flag}.${value ? "on" : "off"}`, null, `${value}`);
    }
    if (this.isNewRing(before, report, receivedAt)) push("doorbell.rang", null, `ring:${report.doorbell}`);
    return events;
  }

  /**
   * An event the vendor reports as a happening rather than a state (access granted, a ring seen in a log, ...).
   * Carries the device's current state. Returns null for a re-delivered happening (same vendorId).
   */
  happening(device: Device, explicit: ExplicitEvent, context: ReportContext): DoorEvent | null {
    const receivedAt = context.receivedAt ?? this.now();
    const known = this.states.get(device.id);
    const current = known ?? this.merge(undefined, { device }, receivedAt);
    if (!known) this.states.set(device.id, current);
    const detail = explicit.vendorId ? `vendor:${explicit.vendorId}` : `at:${explicit.at ?? receivedAt}`;
    const event = this.build(
      explicit.event,
      { context, receivedAt, at: explicit.at ?? null, before: current, after: current },
      explicit.actor ?? null,
      detail,
    );
    return this.remember(event.id) ? event : null;
  }

  /** A `device.state` snapshot of what we know now (e.g. when a flow asks). */
  snapshot(deviceId: string, context: ReportContext): DoorEvent | null {
    const state = this.states.get(deviceId);
    if (!state) return null;
    const receivedAt = context.receivedAt ?? this.now();
    return this.build("device.state", { context, receivedAt, at: null, before: state, after: state }, null, `snapshot:${receivedAt}`);
  }

  private merge(before: TrackedState | undefined, report: DeviceReport, receivedAt: number): TrackedState {
    const battery = mergeBattery(before?.battery ?? null, report.battery);
    const flags: Record<string, boolean> = { ...before?.flags };
    const reported = report.flags;
    if (reported) {
      for (const flag in reported) {
        const value = reported[flag];
        if (value !== undefined) flags[flag] = value;
      }
    }
    return {
      device: {
        id: report.device.id,
        type: report.device.type,
        name: report.device.name ?? before?.device.name ?? null,
      },
      lock: report.lock === undefined ? (before?.lock ?? null) : report.lock,
      door: report.door === undefined ? (before?.door ?? null) : report.door,
      battery,
      online: report.online === undefined ? (before?.online ?? null) : report.online,
      flags,
      doorbell: report.doorbell === undefined ? before?.doorbell : report.doorbell,
      updatedAt: receivedAt,
    };
  }

  private isNewRing(before: TrackedState | undefined, report: DeviceReport, receivedAt: number): boolean {
    if (report.doorbell === undefined || report.doorbell === null) return false;
    if (before && before.doorbell !== undefined) return before.doorbell !== report.doorbell;
    // No earlier marker to compare with: only a ring that just happened is news.
    const ringAt = report.doorbellAt ? Date.parse(report.doorbellAt) : NaN;
    return Number.isFinite(ringAt) && Math.abs(receivedAt - ringAt) <= FRESH_RING_MS;
  }

  private build(
    name: string,
    parts: { context: ReportContext; receivedAt: number; at: string | null; before: TrackedState | undefined; after: TrackedState },
    actor: Actor | null,
    detail: string,
  ): DoorEvent {
    const { context, receivedAt, before, after } = parts;
    const received = isoTime(receivedAt);
    const at = parts.at ?? received;
    const id = eventId(this.vendor, after.device.id, name, detail, parts.at ?? String(receivedAt));
    return {
      event: name,
      vendor: this.vendor,
      channel: context.channel,
      device: { ...after.device },
      lock: after.lock,
      door: after.door,
      battery: after.battery ? { ...after.battery } : null,
      actor,
      previous: before ? { lock: before.lock, door: before.door } : null,
      at,
      receivedAt: received,
      id,
      raw: context.raw,
    };
  }

  /** Returns false for an id already emitted recently (a re-delivered happening). */
  private remember(id: string): boolean {
    if (this.recentIdSet.has(id)) return false;
    const evicted = this.recentIds[this.recentNext];
    if (evicted !== undefined) this.recentIdSet.delete(evicted);
    this.recentIds[this.recentNext] = id;
    this.recentNext = (this.recentNext + 1) % RECENT_IDS;
    this.recentIdSet.add(id);
    return true;
  }
}

/** `lock.<state>` for the core states, `{vendor}.lock.uncalibrated` for that one, nothing for `unknown`. */
export function lockEventName(vendor: Vendor, state: LockState): string | null {
  if (LOCK_EVENT_STATES.has(state)) return `lock.${state}`;
  if (state === "uncalibrated") return `${vendor}.lock.uncalibrated`;
  return null;
}

/** A percentage, or null for what a device cannot mean (-1, 255, Infinity): the raw value stays in `raw`. */
function batteryLevel(value: number | null): number | null {
  return value !== null && Number.isFinite(value) && value >= 0 && value <= 100 ? value : null;
}

function mergeBattery(before: Battery | null, patch: Partial<Battery> | undefined): Battery | null {
  if (!patch || (patch.critical === undefined && patch.level === undefined && patch.charging === undefined)) return before;
  return {
    critical: patch.critical === undefined ? (before?.critical ?? null) : patch.critical,
    level: patch.level === undefined ? (before?.level ?? null) : batteryLevel(patch.level),
    charging: patch.charging === undefined ? (before?.charging ?? null) : patch.charging,
  };
}

/** One-shot SHA-256 (crypto.hash, Node 20.12+/21.7+) is about twice as fast as a Hash object; same digest. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: "base64url") => string }).hash;

/** Deterministic id: the same happening (same device, event, transition and vendor time) gets the same id. */
export function eventId(vendor: string, deviceId: string, event: string, detail: string, at: string): string {
  const text = `${vendor}\n${deviceId}\n${event}\n${detail}\n${at}`;
  const digest = oneShotHash ? oneShotHash("sha256", text, "base64url") : crypto.createHash("sha256").update(text).digest("base64url");
  return digest.slice(0, 22);
}
