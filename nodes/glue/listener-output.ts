/**
 * What every `<vendor>-events` node does with a normalized event that passed its filter (and its actor
 * hold, if any): send `{ topic: "{vendor}/{device}/{event}", payload: event }`, show the last event in the
 * status, and record it for the `door-state` node. Node-RED glue shared by the vendor node sets.
 */
import type { Node, NodeMessageInFlow } from "node-red";
import { type DoorEvent, eventTopic } from "../core/door-event";
import { doorRegistry } from "../core/door-registry";
import { type NodeStatus, shortText, status } from "../core/status";

/**
 * A listener shows its last event in the status at most this often (ms); the latest one of a burst is shown when
 * the interval ends. Node-RED sends every status change to each open editor and to Status nodes, so one status per
 * event would be a message storm when a bridge reports a burst (and a measurable share of a callback's cost).
 */
export const EVENT_STATUS_INTERVAL_MS = 1000;

interface EventStatus {
  shownAt: number;
  pending: NodeStatus | null;
  timer: NodeJS.Timeout | null;
}

const eventStatuses = new WeakMap<Node, EventStatus>();

export function deliverDoorEvent(node: Node, event: DoorEvent): void {
  doorRegistry().record(event);
  try {
    node.send({ topic: eventTopic(event), payload: event } as unknown as NodeMessageInFlow);
  } catch (err) {
    // Sending runs outside any input handler (a device push): a throw here would be an uncaught exception
    // and stop Node-RED. Cloning a pathological raw payload for several wires is one way to get here.
    node.warn(`${event.event} for ${event.device.id} could not be sent: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  showEventStatus(node, status.connected(shortText(`${event.event} ${event.receivedAt.slice(11, 19)}`)));
}

function showEventStatus(node: Node, value: NodeStatus): void {
  let state = eventStatuses.get(node);
  if (state === undefined) {
    state = { shownAt: -Infinity, pending: null, timer: null };
    eventStatuses.set(node, state);
  }
  const now = Date.now();
  if (state.timer === null && now - state.shownAt >= EVENT_STATUS_INTERVAL_MS) {
    state.shownAt = now;
    node.status(value);
    return;
  }
  state.pending = value;
  if (state.timer !== null) return;
  const current = state;
  current.timer = setTimeout(() => {
    current.timer = null;
    const pending = current.pending;
    current.pending = null;
    if (pending === null) return;
    current.shownAt = Date.now();
    node.status(pending);
  }, EVENT_STATUS_INTERVAL_MS - (now - state.shownAt));
}

/**
 * Sets a listener's connection status (connecting, listening, unreachable, …) at once. A last-event status still
 * waiting for its turn is dropped: it is older than this one.
 */
export function setListenerStatus(node: Node, value: NodeStatus): void {
  dropPendingEventStatus(node);
  node.status(value);
}

/** For a listener's close handler, after anything it still holds was delivered: no status after close. */
export function closeListenerOutput(node: Node): void {
  dropPendingEventStatus(node);
  eventStatuses.delete(node);
}

function dropPendingEventStatus(node: Node): void {
  const state = eventStatuses.get(node);
  if (state === undefined) return;
  state.pending = null;
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = null;
}
