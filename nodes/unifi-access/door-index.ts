/**
 * Which door a device, a name or a doorbell call belongs to. Many UniFi events name a reader or hub instead of a
 * door (`access.remote_view` has no door id at all; some firmware puts the hub id where the door id belongs), so
 * the listener keeps this index from `GET /doors` and `GET /devices` (research §2.5, §3.6).
 */
import type { Device, Door } from "./schemas";

export interface DoorInfo {
  id: string;
  name: string | null;
}

export class DoorIndex {
  private readonly doorsById = new Map<string, DoorInfo>();
  private readonly doorByDevice = new Map<string, string>();
  private readonly doorByName = new Map<string, string>();
  private readonly calls = new Map<string, string>();

  /** Replaces doors and devices with a fresh read. */
  load(doors: readonly Door[], devices: readonly Device[]): void {
    this.doorsById.clear();
    this.doorByName.clear();
    this.doorByDevice.clear();
    for (const door of doors) {
      const name = door.name?.trim() || door.full_name?.trim() || null;
      this.doorsById.set(door.id, { id: door.id, name });
      if (door.name) this.doorByName.set(nameKey(door.name), door.id);
    }
    // Devices bound to a door first; readers without location then inherit their hub's door.
    for (const device of devices) {
      const location = device.location_id ?? "";
      if (location && this.doorsById.has(location)) this.doorByDevice.set(key(device.id), location);
    }
    for (const device of devices) {
      if (this.doorByDevice.has(key(device.id))) continue;
      const hub = device.connected_uah_id ? this.doorByDevice.get(key(device.connected_uah_id)) : undefined;
      if (hub) this.doorByDevice.set(key(device.id), hub);
    }
  }

  get size(): number {
    return this.doorsById.size;
  }

  doors(): DoorInfo[] {
    return [...this.doorsById.values()];
  }

  door(id: string | null | undefined): DoorInfo | undefined {
    return id ? this.doorsById.get(id) : undefined;
  }

  /** The door of a reader or hub (device ids are MAC-like; compared without case and colons). */
  doorForDevice(deviceId: string | null | undefined): string | undefined {
    return deviceId ? this.doorByDevice.get(key(deviceId)) : undefined;
  }

  /** Door names compared after Unicode NFC normalisation and case folding, as Home Assistant does. */
  doorNamed(name: string | null | undefined): string | undefined {
    return name ? this.doorByName.get(nameKey(name)) : undefined;
  }

  /**
   * A door id from whatever an event offers, most specific first. An id that is no known door but a known device
   * (the "door id is the hub id" firmware bug) is mapped through the device.
   */
  resolve(hint: { doorId?: string | null; deviceIds?: Array<string | null | undefined>; doorName?: string | null }): string | undefined {
    if (hint.doorId && this.doorsById.has(hint.doorId)) return hint.doorId;
    const viaDevice = this.doorForDevice(hint.doorId);
    if (viaDevice) return viaDevice;
    for (const deviceId of hint.deviceIds ?? []) {
      const door = this.doorForDevice(deviceId);
      if (door) return door;
    }
    return this.doorNamed(hint.doorName);
  }

  /** Remembers which door a doorbell call rang at, so its end (which only has the request id) finds it. */
  rememberCall(requestId: string, doorId: string): void {
    this.calls.set(requestId, doorId);
    if (this.calls.size > 200) this.calls.delete(this.calls.keys().next().value as string);
  }

  callDoor(requestId: string | null | undefined): string | undefined {
    return requestId ? this.calls.get(requestId) : undefined;
  }
}

function key(deviceId: string): string {
  return deviceId.replace(/[:-]/g, "").toLowerCase();
}

function nameKey(name: string): string {
  return name.normalize("NFC").trim().toLowerCase();
}
