/**
 * "Who did it" for Nuki: the Web API activity log (trigger, source, autoUnlock, name/authId) and the MQTT
 * `lockActionEvent` (trigger, authId, codeId, context) mapped to the contract's actor types
 * (research/nuki.md 2.4, 2.5, 3.3). Names come from the authorization table when it knows the id, so a renamed
 * user shows the current name; the log's own `name` is the fallback.
 */
import type { Actor, ActorType } from "../core/door-event";
import type { SmartlockLog } from "./web-schemas";

/** SmartlockAuth.type (research 2.5): 0 app, 1 bridge, 2 fob, 3 keypad, 13 keypad code, 14 z-key, 15 virtual. */
const AUTH_TYPES: Record<number, ActorType> = { 0: "app", 1: "remote", 2: "fob", 3: "keypad", 13: "keypad", 14: "fob", 15: "web" };

/** Web log trigger (research 2.4): 0 system, 1 manual, 2 button, 3 automatic, 4 web, 5 app, 6 auto lock, 7 accessory, 253 keypad error, 254 nuki mode, 255 keypad. */
const LOG_TRIGGERS: Record<number, ActorType> = {
  1: "manual",
  2: "button",
  3: "auto",
  4: "web",
  5: "app",
  6: "auto",
  7: "accessory",
  253: "keypad",
  254: "system",
  255: "keypad",
};

/** Opener log `openerLog.source` (cause of ring-to-open / continuous mode): 0 doorbell, 1 timecontrol, 2 app, 3 button, 4 fob, 5 bridge, 6 keypad. */
const OPENER_SOURCES: Record<number, ActorType> = { 1: "schedule", 2: "app", 3: "button", 4: "fob", 5: "remote", 6: "keypad" };

export interface AuthInfo {
  name: string | null;
  type: number | null;
}

/** Log completion states that mean "a credential was presented and refused" (research 2.4). */
const DENIED_STATES = new Set([9, 10, 224, 225, 226]);

export function webLogActor(log: SmartlockLog, auth: AuthInfo | undefined): Actor {
  const id = log.authId ? String(log.authId) : log.accountUserId != null ? `user:${log.accountUserId}` : null;
  const name = auth?.name || log.name?.trim() || null;
  return { type: webLogActorType(log, auth), id, name };
}

function webLogActorType(log: SmartlockLog, auth: AuthInfo | undefined): ActorType {
  // The completion state of a refused attempt says which credential it was.
  if (log.state === 225) return "fingerprint";
  if (log.state === 226) return "nfc";
  if (log.state === 224) return "keypad";
  if (log.source === 2) return "fingerprint";
  if (log.source === 1) return "keypad";
  if (log.source === 3) return "mobile"; // tap to unlock
  if (log.autoUnlock) return "auto";
  const trigger = log.trigger ?? -1;
  if (trigger in LOG_TRIGGERS) return LOG_TRIGGERS[trigger] as ActorType;
  if (trigger === 0) {
    // "system" = a Bluetooth command: app, bridge, fob or keypad; the authorization tells which.
    if (auth?.type != null && auth.type in AUTH_TYPES) return AUTH_TYPES[auth.type] as ActorType;
    const openerSource = log.openerLog?.source;
    if (openerSource != null && openerSource in OPENER_SOURCES) return OPENER_SOURCES[openerSource] as ActorType;
    return log.authId || log.name?.trim() ? "app" : "system";
  }
  return "unknown";
}

/** A keypad / fingerprint / NFC attempt that the lock refused: `access.denied`, not a lock event. */
export function isDeniedAttempt(log: SmartlockLog): boolean {
  if (log.trigger === 253) return true; // keypad error: its states use another table, never a success
  if (log.state === undefined || !DENIED_STATES.has(log.state)) return false;
  return log.state >= 224 || log.source === 1 || log.source === 2 || log.trigger === 255;
}

/** MQTT `lockActionEvent`: `LockAction,Trigger,AuthID,CodeID,Context` (research 3.3). */
export interface LockActionEvent {
  action: number;
  trigger: number;
  authId: number;
  codeId: number;
  context: number;
}

export function parseLockActionEvent(payload: string): LockActionEvent | null {
  const parts = payload.trim().split(",");
  if (parts.length < 4 || parts.length > 5) return null;
  const numbers = parts.map((p) => (/^\d{1,10}$/.test(p.trim()) ? Number(p.trim()) : NaN));
  if (numbers.some((n) => !Number.isFinite(n))) return null;
  const [action, trigger, authId, codeId, context = 0] = numbers as [number, number, number, number, number?];
  return { action, trigger, authId, codeId, context };
}

/** MQTT triggers (BLE enum): 0 system, 1 manual, 2 button, 3 automatic (fob presses), 6 auto lock, 171 HomeKit, 172 MQTT. */
export function mqttActor(event: LockActionEvent, authName: string | null): Actor {
  const id = event.authId > 0 ? String(event.authId) : event.codeId > 0 ? `code:${event.codeId}` : null;
  return { type: mqttActorType(event), id, name: authName };
}

function mqttActorType(event: LockActionEvent): ActorType {
  if (event.action === 80) return "fob";
  if (event.action === 90) return "button";
  switch (event.trigger) {
    case 0:
      // Context: keypad source for keypad actions (0 back key, 1 code, 2 fingerprint), else the auto-unlock flag.
      if (event.codeId > 0) return event.context === 2 ? "fingerprint" : event.context === 0 ? "button" : "keypad";
      if (event.context === 2) return "fingerprint";
      if (event.context === 1) return "auto";
      return event.authId > 0 ? "app" : "system";
    case 1:
      return "manual";
    case 2:
      return "button";
    case 3:
      return "fob";
    case 6:
      return "auto";
    case 171:
    case 172:
      return "remote";
    default:
      return "unknown";
  }
}
