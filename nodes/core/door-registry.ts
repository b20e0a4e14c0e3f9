/**
 * Process-wide record of the last known state of every door any listener has seen, for the `door-state`
 * node. It lives on globalThis so that it survives redeploys (node sets are not reloaded on deploy) and is
 * shared by all node sets even if this module were loaded twice.
 */
import type { Actor, Battery, Device, DoorEvent, DoorState, LockState, Vendor } from "./door-event";

export interface DoorRecord {
  vendor: Vendor;
  device: Device;
  lock: LockState | null;
  door: DoorState | null;
  battery: Battery | null;
  /** The last actor any event of this device named (kept when later events have none). */
  actor: Actor | null;
  /** Name and time of the last event. */
  event: string;
  at: string;
  receivedAt: string;
}

type Listener = (record: DoorRecord, event: DoorEvent) => void;

/** A bound against unbounded growth from forged device ids; real installations have a handful. */
const MAX_DEVICES = 5000;

export class DoorRegistry {
  private readonly records = new Map<string, DoorRecord>();
  private readonly listeners = new Set<Listener>();
  private readonly seenIds = new Map<string, string>();

  /** Records an event a listener emitted; follow-ups (update: true) only refresh the actor. */
  record(event: DoorEvent): void {
    const key = `${event.vendor}/${event.device.id}`;
    const known = this.records.get(key);
    if (known && this.seenIds.get(key) === event.id && !event.update) return;
    if (!known && this.records.size >= MAX_DEVICES) return;
    const record: DoorRecord = {
      vendor: event.vendor,
      device: { ...event.device, name: event.device.name ?? known?.device.name ?? null },
      lock: event.lock ?? known?.lock ?? null,
      door: event.door ?? known?.door ?? null,
      battery: event.battery ?? known?.battery ?? null,
      actor: event.actor ?? known?.actor ?? null,
      event: event.update && known ? known.event : event.event,
      at: event.update && known ? known.at : event.at,
      receivedAt: event.receivedAt,
    };
    this.records.set(key, record);
    this.seenIds.set(key, event.id);
    for (const listener of this.listeners) {
      try {
        listener(record, event);
      } catch {
        // A failing observer must not break the listener that recorded the event.
      }
    }
  }

  /** All records, sorted by vendor and device id. */
  all(): DoorRecord[] {
    return [...this.records.values()].sort((a, b) => `${a.vendor}/${a.device.id}`.localeCompare(`${b.vendor}/${b.device.id}`));
  }

  /**
   * Finds a device by `vendor/id`, by id alone, or by its name (case-insensitive). Null when unseen or
   * ambiguous (two vendors with the same id or name: use `vendor/id`).
   */
  find(query: string): DoorRecord | null {
    const text = query.trim();
    if (!text) return null;
    const exact = this.records.get(text);
    if (exact) return exact;
    const lower = text.toLowerCase();
    const byKey = this.all().filter((r) => `${r.vendor}/${r.device.id}`.toLowerCase() === lower);
    if (byKey.length === 1) return byKey[0] as DoorRecord;
    const byId = this.all().filter((r) => r.device.id.toLowerCase() === lower);
    if (byId.length === 1) return byId[0] as DoorRecord;
    const byName = this.all().filter((r) => (r.device.name ?? "").trim().toLowerCase() === lower);
    return byName.length === 1 ? (byName[0] as DoorRecord) : null;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** For tests. */
  clear(): void {
    this.records.clear();
    this.seenIds.clear();
  }
}

const KEY = Symbol.for("@smartlocks/node-red-smartlocks/door-registry");

export function doorRegistry(): DoorRegistry {
  const holder = globalThis as unknown as Record<symbol, DoorRegistry | undefined>;
  holder[KEY] ??= new DoorRegistry();
  return holder[KEY];
}
