/**
 * Actor merge: one happening is often reported twice, first fast and without "who" (Nuki bridge callback,
 * UniFi WebSocket message), then slower with the actor (Nuki Web log, UniFi webhook, Tedee activity log).
 * The contract makes the second one a follow-up of the first: same `id`, same `event`, `actor` filled and
 * `update: true`. Listeners may instead hold events back for a while and send them once (see ActorHold).
 */
import type { Actor, DoorEvent } from "./door-event";

export interface ActorMergeOptions {
  /** How far apart (ms) the fast event and the actor report may be to describe one happening. */
  windowMs?: number;
  /** How many recent events per device are kept as candidates. */
  perDevice?: number;
  now?: () => number;
}

interface Candidate {
  event: DoorEvent;
  atMs: number;
  enriched: boolean;
}

/** Remembers recent events without an actor and turns a later actor report into their follow-up. */
export class ActorMerger {
  private readonly byDevice = new Map<string, Candidate[]>();
  private readonly windowMs: number;
  private readonly perDevice: number;
  private readonly now: () => number;

  constructor(options: ActorMergeOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.perDevice = options.perDevice ?? 20;
    this.now = options.now ?? Date.now;
  }

  /** Keeps an emitted event as a candidate for a later actor (events that already have one are skipped). */
  remember(event: DoorEvent): void {
    if (event.actor || event.update) return;
    const list = this.byDevice.get(event.device.id) ?? [];
    list.push({ event, atMs: Date.parse(event.at), enriched: false });
    while (list.length > this.perDevice) list.shift();
    this.byDevice.set(event.device.id, list);
  }

  /**
   * The follow-up for an actor report about `deviceId` at `atMs` whose happening is one of `eventNames`:
   * the closest not yet enriched candidate within the window, or null when there is none (then the caller
   * emits its own event instead).
   */
  attach(deviceId: string, eventNames: readonly string[], atMs: number, actor: Actor): DoorEvent | null {
    const list = this.byDevice.get(deviceId);
    if (!list) return null;
    const horizon = this.now() - Math.max(this.windowMs * 4, 300_000);
    let best: Candidate | null = null;
    for (const candidate of list) {
      if (candidate.enriched || !eventNames.includes(candidate.event.event)) continue;
      const distance = Math.abs(candidate.atMs - atMs);
      if (distance > this.windowMs || candidate.atMs < horizon) continue;
      if (!best || distance < Math.abs(best.atMs - atMs)) best = candidate;
    }
    if (!best) return null;
    best.enriched = true;
    return { ...best.event, actor, update: true };
  }

  /** Whether an event with this id was already enriched (a second actor report is then ignored). */
  isEnriched(id: string): boolean {
    for (const list of this.byDevice.values()) if (list.some((c) => c.event.id === id && c.enriched)) return true;
    return false;
  }
}

/** How many released event ids an ActorHold remembers to send each happening once. */
const RELEASED_IDS = 1000;

/**
 * Listener-side hold (`actorWait` > 0): events that may still get an actor are held up to `waitMs`; a
 * follow-up with the same id within that time is merged into them and the result is sent once. Events
 * that cannot get an actor pass at once. Late follow-ups of an event already sent are dropped, so each
 * happening leaves the listener exactly once.
 */
export class ActorHold {
  private readonly held = new Map<string, { event: DoorEvent; timer: NodeJS.Timeout }>();
  private readonly released = new Set<string>();
  /** The last RELEASED_IDS released ids, oldest at `releasedNext` once full (a ring: no array shifting). */
  private readonly releasedOrder: Array<string | undefined> = new Array<string | undefined>(RELEASED_IDS);
  private releasedNext = 0;

  constructor(
    private readonly waitMs: number,
    private readonly send: (event: DoorEvent) => void,
    private readonly expectsActor: (event: DoorEvent) => boolean,
  ) {}

  push(event: DoorEvent): void {
    if (this.waitMs <= 0) {
      this.send(event);
      return;
    }
    if (event.update) {
      const held = this.held.get(event.id);
      if (held) {
        clearTimeout(held.timer);
        this.held.delete(event.id);
        this.release({ ...held.event, actor: event.actor });
      }
      // A follow-up for an event already released (or never held) is dropped: it was sent once already.
      return;
    }
    if (!this.expectsActor(event) || event.actor) {
      this.release(event);
      return;
    }
    const timer = setTimeout(() => {
      this.held.delete(event.id);
      this.release(event);
    }, this.waitMs);
    this.held.set(event.id, { event, timer });
  }

  /** Sends what is still held (on close nothing is lost silently). */
  flush(): void {
    for (const { event, timer } of this.held.values()) {
      clearTimeout(timer);
      this.release(event);
    }
    this.held.clear();
  }

  /** Drops what is held without sending (node removed). */
  clear(): void {
    for (const { timer } of this.held.values()) clearTimeout(timer);
    this.held.clear();
  }

  private release(event: DoorEvent): void {
    if (this.released.has(event.id)) return;
    const evicted = this.releasedOrder[this.releasedNext];
    if (evicted !== undefined) this.released.delete(evicted);
    this.releasedOrder[this.releasedNext] = event.id;
    this.releasedNext = (this.releasedNext + 1) % RELEASED_IDS;
    this.released.add(event.id);
    this.send(event);
  }
}
