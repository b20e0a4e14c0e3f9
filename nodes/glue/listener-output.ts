/**
 * What every `<vendor>-events` node does with a normalized event that passed its filter (and its actor
 * hold, if any): send `{ topic: "{vendor}/{device}/{event}", payload: event }`, show the last event in the
 * status, and record it for the `door-state` node. Node-RED glue shared by the vendor node sets.
 */
import type { Node, NodeMessageInFlow } from "node-red";
import { type DoorEvent, eventTopic } from "../core/door-event";
import { doorRegistry } from "../core/door-registry";
import { shortText, status } from "../core/status";

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
  node.status(status.connected(shortText(`${event.event} ${event.receivedAt.slice(11, 19)}`)));
}
