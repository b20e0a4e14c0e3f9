/**
 * UniFi Access WebSocket notifications and webhooks -> what the listener does with them (research §3.5, §3.6,
 * §4.4). Pure functions: the connection feeds state reports to the core StateTracker (diffing), happenings to
 * StateTracker.happening(), and webhook unlock actors to the ActorMerger.
 *
 * Door semantics: DPS config value "on" = contact = CLOSED (the official dps_status sample with status "close"
 * carries "uah-input_state_dps":"on"); lock relay config "off" = locked.
 */
import type { Actor, ActorType, Device, DoorState, LockState } from "../core/door-event";
import type { DeviceReport } from "../core/state-tracker";
import type { DoorIndex } from "./door-index";
import { type WebhookBody, type WsEnvelope, unifiSchemas } from "./schemas";

export const VENDOR = "unifi-access";
/** Controller-wide events (emergency modes, visitors) are reported on this pseudo-device. */
export const CONTROLLER: Device = { id: "controller", name: "UniFi Access", type: "bridge" };

export type Detail = Record<string, unknown>;

export type Outcome =
  | { kind: "report"; report: DeviceReport; detail?: Detail }
  | {
      kind: "happening";
      device: Device;
      event: string;
      actor?: Actor | null;
      at?: string | null;
      vendorId?: string | null;
      detail?: Detail;
      /** Same happening reported by another event type or channel: report once per key. */
      onceKey?: string;
    }
  | {
      /** Webhook `access.door.unlock`: who opened, to attach to the WebSocket event of the same unlock. */
      kind: "unlock-actor";
      device: Device;
      actor: Actor;
      granted: boolean;
      at: string | null;
      vendorId: string | null;
      detail: Detail;
    }
  | { kind: "unknown"; name: string; device: Device; vendorId: string | null }
  | { kind: "invalid"; name: string; reason: string }
  | { kind: "ignored" };

/** Doorbell end reasons (§3.6). */
export const CALL_END_REASONS: Record<number, string> = {
  105: "timed_out",
  106: "declined",
  107: "unlocked",
  108: "cancelled",
  400: "answered_elsewhere",
};

const DPS_KEYS = ["input_state_dps", "input_d1_dps", "input_gate_dps", "input_door_dps"];
const RELAY_KEYS = ["input_state_rly-lock_dry", "output_d1_lock_relay", "output_oper1_relay"];

export function lockFromState(value: string | null | undefined): LockState | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const v = value.toLowerCase();
  if (v === "locked" || v === "lock") return "locked";
  if (v === "unlocked" || v === "unlock") return "unlocked";
  return "unknown";
}

/** `open`/`close`; `none`, `""` and null mean no DPS is wired (door = null). */
export function doorFromDps(value: string | null | undefined): DoorState | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || value === "" || value.toLowerCase() === "none") return null;
  const v = value.toLowerCase();
  if (v === "open" || v === "opened") return "open";
  if (v === "close" || v === "closed") return "closed";
  return "unknown";
}

/** Credential / authentication type -> the contract's actor type. */
export function actorTypeFor(method: string | null | undefined, actorType?: string | null): ActorType {
  const m = (method ?? "").toUpperCase().replace(/[\s-]/g, "_");
  if (m === "NFC" || m === "CARD") return "nfc";
  if (m === "PIN_CODE" || m === "PIN") return "pin";
  if (m === "FACE") return "face";
  if (m.startsWith("MOBILE") || m === "TOUCH_PASS" || m.startsWith("BT_") || m === "WAVE") return "mobile";
  if (m === "REMOTE_THROUGH_UAH" || m === "REMOTE" || m === "CALL" || m === "API") return "remote";
  if (m === "REX") return "button";
  if (m === "FINGERPRINT") return "fingerprint";
  const a = (actorType ?? "").toLowerCase();
  if (a === "open-api" || a === "open_api" || a === "api") return "remote";
  if (m === "" && a === "user") return "user";
  return "unknown";
}

export function doorDevice(index: DoorIndex, id: string, name?: string | null): Device {
  return { id, name: index.door(id)?.name ?? name ?? null, type: "door" };
}

/** Seconds or milliseconds since the epoch -> ISO; null when unusable. */
export function epochToIso(value: unknown): string | null {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) return null;
  const ms = n < 1e12 ? n * 1000 : n;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** "access.data.top_log.update" -> "unifi-access.access.data.top_log.update" (kept within the event name pattern). */
export function unknownEventName(name: string): string {
  const segments = name
    .toLowerCase()
    .split(".")
    .map((s) => s.replace(/[^a-z0-9_-]/g, "_"))
    .filter((s) => s.length > 0);
  return `${VENDOR}.${segments.length > 0 ? segments.join(".") : "unknown"}`;
}

function first<T>(value: T | T[] | null | undefined): T | undefined {
  if (Array.isArray(value)) return value[0];
  return value ?? undefined;
}

function displayName(value: string | null | undefined): string | null {
  const v = value?.trim();
  return v && v !== "N/A" ? v : null;
}

// ---- WebSocket ---------------------------------------------------------------------------------------------

/** Frames that are not a JSON object ("Hello", with or without quotes) are heartbeats. */
export function parseFrame(text: string): { kind: "heartbeat" } | { kind: "json"; value: unknown } | { kind: "garbage" } {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{")) return { kind: "heartbeat" };
  try {
    return { kind: "json", value: JSON.parse(trimmed) };
  } catch {
    return { kind: "garbage" };
  }
}

export function normalizeWs(message: WsEnvelope, index: DoorIndex): Outcome[] {
  const { event: name, data } = message;
  switch (name) {
    case "access.data.v2.location.update":
    case "access.data.device.location_update_v2":
      return locationUpdate(name, data, index);
    case "access.data.device.update":
      return deviceUpdate(name, data, index);
    case "access.remote_view":
      return remoteView(name, data, index);
    case "access.remote_view.change":
      return remoteViewChange(name, data, index);
    case "access.hw.door_bell":
      return hwDoorbell(name, data, index);
    case "access.data.device.remote_unlock":
      return remoteUnlock(name, data, index);
    case "access.logs.add":
      return logsAdd(name, data, index);
    case "access.logs.insights.add":
      return insightsAdd(name, data, index);
    case "access.data.setting.update":
      return settingUpdate(name, data);
    // Frequent, known and without door semantics (counters, metadata): not "unknown", just nothing to report.
    case "access.base.info":
    case "access.data.top_log.update":
    case "access.data.v2.device.update":
    case "access.data.location.update":
      return [{ kind: "ignored" }];
    default:
      return [{ kind: "unknown", name, device: CONTROLLER, vendorId: message.event_object_id ?? null }];
  }
}

function invalid(name: string): Outcome[] {
  return [{ kind: "invalid", name, reason: "unexpected data" }];
}

function locationUpdate(name: string, data: unknown, index: DoorIndex): Outcome[] {
  const parsed = unifiSchemas().locationUpdateSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  const location = parsed.data;
  if (location.location_type && location.location_type !== "door") return [{ kind: "ignored" }];
  // A thumbnail-only update has no state: nothing about the door changed.
  if (!location.state) return [{ kind: "ignored" }];
  const report: DeviceReport = { device: doorDevice(index, location.id, location.name) };
  const lock = lockFromState(location.state.lock);
  if (lock !== undefined) report.lock = lock;
  const door = doorFromDps(location.state.dps);
  if (door !== undefined) report.door = door;
  return [{ kind: "report", report }];
}

function deviceUpdate(name: string, data: unknown, index: DoorIndex): Outcome[] {
  const parsed = unifiSchemas().deviceUpdateSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  const device = parsed.data;
  const configs = new Map((device.configs ?? []).map((c) => [c.key, c.value == null ? "" : String(c.value).toLowerCase()]));
  const dpsKey = DPS_KEYS.find((k) => configs.has(k));
  const relayKey = RELAY_KEYS.find((k) => configs.has(k));
  if (!dpsKey && !relayKey) return [{ kind: "ignored" }];
  const location = device.location?.location_type === "door" ? device.location.unique_id : undefined;
  const doorId = index.resolve({
    doorId: device.door?.unique_id ?? device.location_id ?? location ?? null,
    deviceIds: [device.unique_id, device.connected_uah_id],
  }) ?? device.door?.unique_id ?? device.location_id ?? location;
  if (!doorId) return [{ kind: "ignored" }];
  const report: DeviceReport = { device: doorDevice(index, doorId) };
  if (dpsKey) report.door = configs.get(dpsKey) === "on" ? "closed" : "open";
  if (relayKey) report.lock = configs.get(relayKey) === "off" ? "locked" : "unlocked";
  return [{ kind: "report", report }];
}

function remoteView(name: string, data: unknown, index: DoorIndex): Outcome[] {
  const parsed = unifiSchemas().remoteViewSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  const call = parsed.data;
  const doorId = index.resolve({ deviceIds: [call.device_id, call.connected_uah_id], doorName: call.door_name ?? null });
  // Unresolvable (devices not readable with this token): the reader stands in for the door.
  const device = doorId ? doorDevice(index, doorId, call.door_name) : { id: call.device_id ?? "unknown", name: call.door_name ?? null, type: "door" as const };
  return [
    {
      kind: "happening",
      device,
      event: "doorbell.rang",
      at: epochToIso(call.create_time),
      vendorId: call.request_id ?? null,
      detail: { source: "remote_view", requestId: call.request_id ?? null, reader: call.device_id ?? null },
      ...(call.request_id ? { onceKey: `ring:${call.request_id}` } : {}),
    },
  ];
}

function callEnded(index: DoorIndex, requestId: string | undefined, reasonCode: number | undefined, source: string, device?: Device): Outcome {
  const doorId = index.callDoor(requestId);
  return {
    kind: "happening",
    device: doorId ? doorDevice(index, doorId) : (device ?? CONTROLLER),
    event: `${VENDOR}.doorbell.ended`,
    vendorId: requestId ?? null,
    detail: {
      source,
      requestId: requestId ?? null,
      reasonCode: reasonCode ?? null,
      reason: reasonCode === undefined ? "unknown" : (CALL_END_REASONS[reasonCode] ?? "unknown"),
    },
    ...(requestId ? { onceKey: `ring-end:${requestId}` } : {}),
  };
}

function remoteViewChange(name: string, data: unknown, index: DoorIndex): Outcome[] {
  const parsed = unifiSchemas().remoteViewChangeSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  return [callEnded(index, parsed.data.remote_call_request_id, parsed.data.reason_code, "remote_view.change")];
}

function hwDoorbell(name: string, data: unknown, index: DoorIndex): Outcome[] {
  const parsed = unifiSchemas().hwDoorbellSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  const bell = parsed.data;
  const doorId = index.resolve({ doorId: bell.door_id ?? null, deviceIds: [bell.device_id], doorName: bell.door_name ?? null }) ?? bell.door_id;
  if (!doorId) return invalid(name);
  return [
    {
      kind: "happening",
      device: doorDevice(index, doorId, bell.door_name),
      event: "doorbell.rang",
      vendorId: bell.request_id ?? null,
      detail: { source: "hw_doorbell", requestId: bell.request_id ?? null },
      ...(bell.request_id ? { onceKey: `ring:${bell.request_id}` } : {}),
    },
  ];
}

function remoteUnlock(name: string, data: unknown, index: DoorIndex): Outcome[] {
  const parsed = unifiSchemas().remoteUnlockSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  // A momentary unlock from the app, web UI or API; who did it arrives by webhook (or logs.add).
  return [{ kind: "report", report: { device: doorDevice(index, parsed.data.unique_id, parsed.data.name), lock: "unlocked" }, detail: { source: "remote_unlock" } }];
}

function accessEventName(result: string | undefined): string {
  const r = (result ?? "").toUpperCase();
  if (r === "ACCESS" || /GRANTED/.test(r)) return "access.granted";
  if (r === "BLOCKED" || /DENIED/.test(r)) return "access.denied";
  return `${VENDOR}.access.${r ? r.toLowerCase().replace(/[^a-z0-9_-]/g, "_") : "unknown"}`;
}

function logsAdd(name: string, data: unknown, index: DoorIndex): Outcome[] {
  const parsed = unifiSchemas().logsAddSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  const source = parsed.data._source;
  if (!source.event?.type || !/door\.unlock/.test(source.event.type)) return [{ kind: "ignored" }];
  const targets = source.target ?? [];
  const doorTarget = targets.find((t) => t.type === "door");
  const deviceIds = targets.filter((t) => t.type && /^(UA|UAH|UGT|EAH)/i.test(t.type)).map((t) => t.id);
  const doorId = index.resolve({ doorId: doorTarget?.id ?? null, deviceIds, doorName: doorTarget?.display_name ?? null }) ?? doorTarget?.id;
  if (!doorId) return [{ kind: "ignored" }];
  const method = source.authentication?.credential_provider ?? null;
  const actor: Actor = {
    type: actorTypeFor(method, source.actor?.type),
    id: source.actor?.id || null,
    name: displayName(source.actor?.display_name),
  };
  const event = accessEventName(source.event.result);
  const at = epochToIso(source.event.published);
  return [
    {
      kind: "happening",
      device: doorDevice(index, doorId, doorTarget?.display_name),
      event,
      actor,
      at,
      vendorId: parsed.data._id || (source.event.published ? `logs:${source.event.published}` : null),
      detail: {
        source: "logs",
        method,
        direction: targets.find((t) => t.type === "device_config")?.display_name ?? null,
        message: source.event.display_message ?? null,
      },
    },
  ];
}

function insightsAdd(name: string, data: unknown, index: DoorIndex): Outcome[] {
  const parsed = unifiSchemas().insightsAddSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  const insight = parsed.data;
  if (insight.event_type && !/door\.unlock/.test(insight.event_type)) return [{ kind: "ignored" }];
  const meta = insight.metadata ?? {};
  const door = first(meta.door);
  const device = first(meta.device);
  const doorId = index.resolve({ doorId: door?.id ?? null, deviceIds: [device?.id], doorName: door?.display_name ?? null }) ?? door?.id;
  if (!doorId) return [{ kind: "ignored" }];
  const actorEntry = first(meta.actor);
  const method = first(meta.authentication)?.display_name ?? null;
  const actor: Actor = {
    type: actorTypeFor(method, actorEntry?.type),
    id: actorEntry?.id || null,
    name: displayName(actorEntry?.display_name),
  };
  return [
    {
      kind: "happening",
      device: doorDevice(index, doorId, door?.display_name),
      event: accessEventName(insight.result),
      actor,
      at: epochToIso(insight.published),
      vendorId: insight.id || (insight.published ? `insights:${insight.published}` : null),
      detail: {
        source: "insights",
        method,
        direction: first(meta.opened_direction)?.display_name ?? null,
        message: insight.message ?? null,
      },
    },
  ];
}

function settingUpdate(name: string, data: unknown): Outcome[] {
  const parsed = unifiSchemas().settingUpdateSchema.safeParse(data);
  if (!parsed.success) return invalid(name);
  return [{ kind: "report", report: emergencyReport(parsed.data) }];
}

/** Emergency modes are controller-wide flags: `unifi-access.emergency.lockdown.on/off`, `…evacuation.on/off`. */
export function emergencyReport(value: { lockdown?: boolean | undefined; evacuation?: boolean | undefined }): DeviceReport {
  const flags: Record<string, boolean | undefined> = {};
  if (value.lockdown !== undefined) flags["emergency.lockdown"] = value.lockdown;
  if (value.evacuation !== undefined) flags["emergency.evacuation"] = value.evacuation;
  return { device: CONTROLLER, flags };
}

// ---- Webhooks ----------------------------------------------------------------------------------------------

/** The 11 webhook events of §4.1; all are subscribed. */
export const WEBHOOK_EVENTS = [
  "access.doorbell.incoming",
  "access.doorbell.completed",
  "access.doorbell.incoming.REN",
  "access.device.dps_status",
  "access.door.unlock",
  "access.device.emergency_status",
  "access.unlock_schedule.activate",
  "access.unlock_schedule.deactivate",
  "access.temporary_unlock.start",
  "access.temporary_unlock.end",
  "access.visitor.status.changed",
] as const;

const WEBHOOK_HAPPENINGS: Record<string, string> = {
  "access.unlock_schedule.activate": `${VENDOR}.unlock_schedule.activated`,
  "access.unlock_schedule.deactivate": `${VENDOR}.unlock_schedule.deactivated`,
  "access.temporary_unlock.start": `${VENDOR}.temporary_unlock.started`,
  "access.temporary_unlock.end": `${VENDOR}.temporary_unlock.ended`,
  "access.visitor.status.changed": `${VENDOR}.visitor.status_changed`,
};

export function normalizeWebhook(body: WebhookBody, index: DoorIndex): Outcome[] {
  const data = body.data ?? {};
  const object = (data.object ?? {}) as Record<string, unknown>;
  const location = data.location ?? null;
  const hub = data.device ?? null;
  const doorId =
    index.resolve({
      doorId: location && (!location.location_type || location.location_type === "door") ? (location.id ?? null) : null,
      deviceIds: [hub?.id, hub?.connected_hub_id],
    }) ?? location?.id ?? hub?.location_id ?? undefined;
  const door = doorId ? doorDevice(index, doorId, location?.name) : null;
  const vendorId = body.event_object_id ?? null;
  const str = (key: string): string | undefined => (typeof object[key] === "string" ? (object[key] as string) : undefined);

  switch (body.event) {
    case "access.door.unlock": {
      if (!door) return [{ kind: "invalid", name: body.event, reason: "no door" }];
      const method = str("authentication_type") ?? null;
      const result = str("result");
      const actor: Actor = {
        type: actorTypeFor(method, data.actor?.type),
        id: data.actor?.id || null,
        name: displayName(data.actor?.name),
      };
      return [
        {
          kind: "unlock-actor",
          device: door,
          actor,
          granted: result === undefined || /granted|access/i.test(result) && !/denied/i.test(result),
          at: null,
          vendorId,
          detail: { source: "webhook", method, result: result ?? null, policy: str("policy_name") || null },
        },
      ];
    }
    case "access.device.dps_status": {
      if (!door) return [{ kind: "invalid", name: body.event, reason: "no door" }];
      const state = doorFromDps(str("status") ?? null);
      if (state === undefined || state === null) return [{ kind: "ignored" }];
      return [{ kind: "report", report: { device: door, door: state } }];
    }
    case "access.doorbell.incoming":
    case "access.doorbell.incoming.REN": {
      const requestId = str("request_id");
      const ren = body.event.endsWith(".REN");
      return [
        {
          kind: "happening",
          device: door ?? CONTROLLER,
          event: "doorbell.rang",
          vendorId: requestId ?? vendorId,
          detail: { source: ren ? "ren" : "webhook", requestId: requestId ?? null, reader: hub?.id ?? null },
          ...(requestId ? { onceKey: `ring:${requestId}` } : {}),
        },
      ];
    }
    case "access.doorbell.completed": {
      const code = typeof object.reason_code === "number" ? object.reason_code : undefined;
      return [callEnded(index, str("request_id"), code, "webhook", door ?? undefined)];
    }
    case "access.device.emergency_status": {
      const mode = str("mode");
      const value = object.value;
      if ((mode !== "lockdown" && mode !== "evacuation") || typeof value !== "boolean") return [{ kind: "invalid", name: body.event, reason: "unexpected mode" }];
      return [{ kind: "report", report: emergencyReport({ [mode]: value }) }];
    }
    default: {
      const event = WEBHOOK_HAPPENINGS[body.event];
      if (!event) return [{ kind: "unknown", name: body.event, device: door ?? CONTROLLER, vendorId }];
      const actor = data.actor && (data.actor.id || data.actor.name)
        ? { type: actorTypeFor(null, data.actor.type), id: data.actor.id || null, name: displayName(data.actor.name) }
        : null;
      return [{ kind: "happening", device: door ?? CONTROLLER, event, actor, vendorId, detail: { source: "webhook", object } }];
    }
  }
}
