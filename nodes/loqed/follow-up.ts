/**
 * Cloud names for bridge events. The bridge reports who acted only as a key slot (`key_local_id`); the cloud
 * webhook of the same change adds the key's name (`key_name_user`). The cloud copy usually comes first (then
 * it is the event, with the name); when it comes after the bridge copy, the contract makes it a follow-up of
 * the bridge event: same `id`, same `event`, `actor` filled, `update: true` (core ActorMerger).
 *
 * LOQED specifics on top of the core merger: a bridge event already has an actor (type and key slot, no name),
 * so "still waiting for an actor" means "has a key slot but no name"; and a cloud copy only belongs to a bridge
 * event of the same key slot, so there is one merger per slot.
 */
import { ActorHold, ActorMerger } from "../core/actor-merge";
import type { Actor, DoorEvent } from "../core/door-event";

/** How far apart (ms) a bridge event and its cloud copy may be. */
export const FOLLOW_UP_WINDOW_MS = 30_000;
/**
 * How far apart (ms) two cloud copies of one report may be (LOQED delivers each twice about 4 s apart). Short,
 * so that the next change by the same key is not mistaken for a copy.
 */
export const COPY_WINDOW_MS = 10_000;
const KEPT_ACTORS = 200;

/** Lock events the cloud also reports (its webhooks carry the same event types). */
const NAMEABLE = new Set(["lock.locked", "lock.unlocked", "lock.unlatched", "lock.locking", "lock.unlocking", "lock.unlatching", "lock.jammed"]);

/** A bridge event that the cloud can still name: a lock event with a key slot and no name yet. */
export function awaitsName(event: DoorEvent): boolean {
  return event.channel === "bridge" && !event.update && NAMEABLE.has(event.event) && event.actor?.id != null && !event.actor.name;
}

export class CloudFollowUps {
  private readonly bySlot = new Map<string, ActorMerger>();
  /** The bridge actor (type from the bridge's event type) of each remembered event, by event id. */
  private readonly actors = new Map<string, Actor>();
  /** Follow-ups already sent, to recognise later copies of the same cloud report. */
  private readonly sent: { slot: string; event: string; atMs: number }[] = [];

  constructor(private readonly options: { windowMs?: number; now?: () => number } = {}) {}

  /** Keeps a bridge event that the cloud can still name. */
  remember(event: DoorEvent): void {
    if (!awaitsName(event)) return;
    const slot = event.actor!.id!;
    let merger = this.bySlot.get(slot);
    if (!merger) {
      merger = new ActorMerger({ windowMs: this.options.windowMs ?? FOLLOW_UP_WINDOW_MS, ...(this.options.now ? { now: this.options.now } : {}) });
      this.bySlot.set(slot, merger);
    }
    this.actors.set(event.id, event.actor!);
    if (this.actors.size > KEPT_ACTORS) this.actors.delete(this.actors.keys().next().value as string);
    // The core merger keeps only events without an actor; the slot is the merger's key and the actor is
    // rebuilt from `actors` when the name comes.
    merger.remember({ ...event, actor: null });
  }

  /**
   * The follow-up for a cloud report of `eventNames` by key `slot` named `name` at `atMs`, or null when no
   * bridge event waits for it. The actor keeps the bridge's type (it saw the GO_TO_STATE that said how).
   */
  attach(deviceId: string, eventNames: readonly string[], slot: string, name: string, atMs: number): DoorEvent | null {
    const merger = this.bySlot.get(slot);
    if (!merger) return null;
    const followUp = merger.attach(deviceId, eventNames, atMs, { type: "user", id: slot, name });
    if (!followUp) return null;
    const bridgeActor = this.actors.get(followUp.id);
    this.actors.delete(followUp.id);
    this.sent.push({ slot, event: followUp.event, atMs });
    while (this.sent.length > KEPT_ACTORS) this.sent.shift();
    return { ...followUp, actor: { type: bridgeActor?.type ?? "user", id: slot, name } };
  }

  /** Whether a cloud report is another copy of one that already gave a follow-up (the cloud delivers twice). */
  isCopy(eventNames: readonly string[], slot: string, atMs: number): boolean {
    return this.sent.some((s) => s.slot === slot && eventNames.includes(s.event) && Math.abs(s.atMs - atMs) <= COPY_WINDOW_MS);
  }
}

/**
 * The listener's `actorWait` hold (core ActorHold) for LOQED events. The core hold passes events that have an
 * actor at once; a LOQED bridge event has one without a name, so it enters the hold without it and gets its
 * own actor back when it leaves unnamed (no cloud copy in time).
 */
export class NamedActorHold {
  private readonly hold: ActorHold;
  private readonly unnamed = new Map<string, Actor>();

  constructor(
    waitMs: number,
    send: (event: DoorEvent) => void,
    private readonly expectsName: (event: DoorEvent) => boolean,
  ) {
    this.hold = new ActorHold(
      waitMs,
      (event) => {
        const own = this.unnamed.get(event.id);
        this.unnamed.delete(event.id);
        send(event.actor === null && own ? { ...event, actor: own } : event);
      },
      (event) => event.actor === null && this.unnamed.has(event.id),
    );
  }

  push(event: DoorEvent): void {
    if (!event.update && event.actor && this.expectsName(event)) {
      this.unnamed.set(event.id, event.actor);
      this.hold.push({ ...event, actor: null });
      return;
    }
    this.hold.push(event);
  }

  flush(): void {
    this.hold.flush();
  }

  clear(): void {
    this.hold.clear();
    this.unnamed.clear();
  }
}
