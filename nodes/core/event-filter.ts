/**
 * Listener filters: `devices` (ids; empty = all) and `events` (names or prefixes; empty = all). A filter
 * ending in "." is a prefix ("door." matches door.opened and door.closed); a bare family name ("door")
 * matches the same way, and "*" matches everything.
 */
import type { DoorEvent } from "./door-event";

export interface EventFilter {
  devices: readonly string[];
  events: readonly string[];
}

/** Accepts arrays, or comma/space separated strings as typed in an editor field; drops blanks. */
export function toList(value: unknown): string[] {
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(/[\s,]+/) : [];
  return items.map((item) => String(item).trim()).filter((item) => item.length > 0);
}

export function eventMatches(filter: readonly string[], name: string): boolean {
  if (filter.length === 0) return true;
  return filter.some((f) => {
    if (f === "*" || f === name) return true;
    const prefix = f.endsWith(".") ? f : `${f}.`;
    return name.startsWith(prefix);
  });
}

export function deviceMatches(filter: readonly string[], deviceId: string): boolean {
  if (filter.length === 0) return true;
  const id = deviceId.toLowerCase();
  return filter.some((f) => f.toLowerCase() === id);
}

export function matches(filter: EventFilter, event: Pick<DoorEvent, "event" | "device">): boolean {
  return deviceMatches(filter.devices, event.device.id) && eventMatches(filter.events, event.event);
}
