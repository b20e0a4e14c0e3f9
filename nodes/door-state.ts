/**
 * Node set "door-state": answers "what is the current state of door X" from what the listener nodes of
 * every vendor saw (nodes/core/door-registry.ts), and optionally reports every change.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { type DoorRecord, doorRegistry } from "./core/door-registry";
import { deviceMatches } from "./core/event-filter";
import { shortText, status } from "./core/status";

interface DoorStateDef extends NodeDef {
  device?: string;
  emitOnChange?: boolean | string;
}

export = function (RED: NodeAPI): void {
  function DoorStateNode(this: Node, def: DoorStateDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const registry = doorRegistry();
    const fixedDevice = (def.device ?? "").trim();
    const emitOnChange = def.emitOnChange === true || def.emitOnChange === "true";

    const describe = (record: DoorRecord): string =>
      shortText(`${record.device.name ?? record.device.id}: ${record.lock ?? "?"}${record.door ? `, ${record.door}` : ""}`);

    node.on("input", (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      try {
        const payload = msg.payload as unknown;
        const asked =
          fixedDevice ||
          (typeof payload === "string" ? payload : "") ||
          (payload && typeof payload === "object" && typeof (payload as { device?: unknown }).device === "string"
            ? ((payload as { device: string }).device)
            : "");
        const out = msg as unknown as { payload: unknown; topic?: string; found?: boolean };
        if (asked.trim()) {
          const record = registry.find(asked);
          out.payload = record;
          out.found = record !== null;
          if (record) out.topic = `${record.vendor}/${record.device.id}`;
          node.status(record ? status.connected(describe(record)) : status.warning(shortText(RED._("door-state.status.unknown", { device: asked }))));
        } else {
          const all = registry.all();
          out.payload = all;
          out.found = all.length > 0;
          node.status(status.connected(RED._("door-state.status.devices", { count: all.length })));
        }
        send(msg);
        done();
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    });

    let unsubscribe: (() => void) | null = null;
    if (emitOnChange) {
      unsubscribe = registry.subscribe((record, event) => {
        if (fixedDevice && !deviceMatches([fixedDevice], record.device.id) && registry.find(fixedDevice) !== record) return;
        node.send({ topic: `${record.vendor}/${record.device.id}`, payload: record, event: event.event } as unknown as NodeMessageInFlow);
        node.status(status.connected(describe(record)));
      });
    }

    node.on("close", (done: () => void) => {
      unsubscribe?.();
      done();
    });
  }

  RED.nodes.registerType("door-state", DoorStateNode as unknown as Parameters<typeof RED.nodes.registerType>[1]);
};
