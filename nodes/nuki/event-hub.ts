/**
 * The meeting point of the Nuki channels of one config node. Bridge callbacks, Web API webhooks and MQTT topics
 * all feed one StateTracker (so a transition seen twice is one event), and every event leaves through here, so
 * an actor that arrives on another channel can be matched with it:
 *
 * - slower actor (Web log after a bridge callback): a follow-up with the same id, `actor` filled, `update: true`
 *   (core ActorMerger);
 * - earlier actor (MQTT `lockActionEvent` is published before the motor runs): kept as pending and put on the
 *   matching lock event when it comes.
 */
import { EventEmitter } from "node:events";
import { ActorMerger } from "../core/actor-merge";
import type { Actor, DoorEvent, LockState } from "../core/door-event";
import { StateTracker } from "../core/state-tracker";

export interface NukiEventHubOptions {
  tracker?: StateTracker;
  /** Longest distance between an event and a later actor report for one happening (default 120 s: Nuki Web is slow). */
  mergeWindowMs?: number;
  /** How long an early actor (MQTT) waits for its lock event (default 30 s). */
  pendingMs?: number;
  /**
   * Whether sent events are remembered for another channel to match (a later actor, a ring seen twice). Default
   * true; false when the bridge is the only channel, because nothing would ever look them up: remembering keeps
   * the last 20 events of every device (with their raw bodies) alive for minutes, which at a high callback rate
   * means every event is promoted to V8's old generation and collected there by mark-compact pauses.
   */
  correlate?: boolean;
  now?: () => number;
}

interface Recent {
  id: string;
  event: string;
  atMs: number;
  hasActor: boolean;
}

interface PendingActor {
  actor: Actor;
  states: readonly LockState[];
  untilMs: number;
}

/** Result of offering an actor for events already sent. */
export type AttachResult = "merged" | "attributed" | "none";

const RECENT_PER_DEVICE = 30;
const MOVING: ReadonlySet<LockState> = new Set(["locking", "unlocking", "unlatching"]);

export class NukiEventHub extends EventEmitter {
  readonly tracker: StateTracker;
  private readonly merger: ActorMerger;
  private readonly recent = new Map<string, Recent[]>();
  private readonly pending = new Map<string, PendingActor>();
  private readonly mergeWindowMs: number;
  private readonly pendingMs: number;
  private readonly correlate: boolean;
  private readonly now: () => number;

  constructor(options: NukiEventHubOptions = {}) {
    super();
    this.now = options.now ?? Date.now;
    this.tracker = options.tracker ?? new StateTracker("nuki", { now: this.now });
    this.mergeWindowMs = options.mergeWindowMs ?? 120_000;
    this.pendingMs = options.pendingMs ?? 30_000;
    this.correlate = options.correlate ?? true;
    this.merger = new ActorMerger({ windowMs: this.mergeWindowMs, now: this.now });
  }

  /** Sends events of any channel; a lock event without actor takes a pending early actor of its device. */
  publish(events: readonly DoorEvent[]): void {
    for (const original of events) {
      let event = original;
      if (!event.actor && event.lock !== null && event.event.startsWith("lock.")) {
        const pending = this.pending.get(event.device.id);
        if (pending && pending.untilMs >= this.now() && pending.states.includes(event.lock)) {
          // A movement (unlocking) and its end (unlocked) are one action: the end state uses it up.
          if (!MOVING.has(event.lock)) this.pending.delete(event.device.id);
          event = { ...event, actor: pending.actor };
        }
      }
      this.remember(event);
      this.emit("event", event);
    }
  }

  /** Any channel applied a report about the device (confirmations wait for this, also when nothing changed). */
  reported(deviceId: string): void {
    this.emit("report", deviceId);
  }

  /** An actor announced before its happening (MQTT): the next lock event of the device in `states` gets it. */
  expectActor(deviceId: string, actor: Actor, states: readonly LockState[]): void {
    this.pending.set(deviceId, { actor, states, untilMs: this.now() + this.pendingMs });
  }

  /**
   * Offers an actor for a happening at `atMs` that another channel may already have sent as one of `names`.
   * "merged": a follow-up was sent; "attributed": that event already has an actor (nothing to do);
   * "none": no such event, the caller reports the happening itself.
   */
  attachActor(deviceId: string, names: readonly string[], atMs: number, actor: Actor, windowMs = this.mergeWindowMs): AttachResult {
    const closest = this.closest(deviceId, names, atMs, windowMs);
    if (!closest) return "none";
    if (closest.hasActor) return "attributed";
    const followUp = this.merger.attach(deviceId, names, atMs, actor);
    if (!followUp) return "none";
    for (const entry of this.recent.get(deviceId) ?? []) if (entry.id === followUp.id) entry.hasActor = true;
    this.emit("event", followUp);
    return "merged";
  }

  /** Whether an event named `name` of the device was sent within `windowMs` of `atMs` (e.g. a ring seen twice). */
  sent(deviceId: string, name: string, atMs: number, windowMs = this.mergeWindowMs): boolean {
    return this.closest(deviceId, [name], atMs, windowMs) !== null;
  }

  private closest(deviceId: string, names: readonly string[], atMs: number, windowMs: number): Recent | null {
    let best: Recent | null = null;
    for (const entry of this.recent.get(deviceId) ?? []) {
      if (!names.includes(entry.event)) continue;
      const distance = Math.abs(entry.atMs - atMs);
      if (distance > windowMs) continue;
      if (!best || distance < Math.abs(best.atMs - atMs)) best = entry;
    }
    return best;
  }

  private remember(event: DoorEvent): void {
    if (!this.correlate || event.update || event.event === "device.state") return;
    const list = this.recent.get(event.device.id) ?? [];
    list.push({ id: event.id, event: event.event, atMs: Date.parse(event.at), hasActor: event.actor !== null });
    while (list.length > RECENT_PER_DEVICE) list.shift();
    this.recent.set(event.device.id, list);
    this.merger.remember(event);
  }
}
