/**
 * MqttTransport over Node-RED's own `mqtt-broker` config node (core 10-mqtt.js), so the plugin needs no MQTT
 * client of its own and the user configures the broker (host, TLS, credentials, client id) where they already
 * do. Uses the API that core's `mqtt in`/`mqtt out` nodes use, the same in Node-RED 4 and 5:
 * register(user) / deregister(user, done), subscribe(topic, options, callback, ref) / unsubscribe(topic, ref, true),
 * publish(msg, done), and the `connected` flag. The broker tells its users about connection changes through
 * `user.status(...)`; our user is a small object, not a flow node, so those calls only feed `onConnection`.
 * No Node-RED import: the broker node is duck-typed.
 */
import { SmartlockError } from "../core/errors";
import type { MqttTransport } from "./mqtt-connection";

interface BrokerUser {
  id: string;
  status(status: { fill?: string; shape?: string; text?: string }): void;
}

export interface BrokerNode {
  connected?: boolean;
  register(user: BrokerUser): void;
  deregister(user: BrokerUser, done: () => void, autoDisconnect?: boolean): void;
  subscribe(topic: string, options: { qos: number }, callback: (topic: string, payload: Buffer, packet?: { retain?: boolean }) => void, ref: string): void;
  unsubscribe(topic: string, ref: string, removeClientSubscription?: boolean): void;
  publish(msg: { topic: string; payload: string; qos: number; retain: boolean }, done: (err?: unknown) => void): void;
}

export function isBrokerNode(value: unknown): value is BrokerNode {
  const node = value as Partial<BrokerNode> | null;
  return (
    !!node &&
    typeof node.register === "function" &&
    typeof node.deregister === "function" &&
    typeof node.subscribe === "function" &&
    typeof node.unsubscribe === "function" &&
    typeof node.publish === "function"
  );
}

export class BrokerTransport implements MqttTransport {
  private readonly user: BrokerUser;
  private registered = false;

  constructor(
    private readonly broker: BrokerNode,
    ref: string,
    private readonly onConnection: (connected: boolean) => void,
  ) {
    this.user = {
      id: `smartlocks-nuki-${ref}`,
      status: (status) => {
        if (!this.registered) return;
        // green dot = connected, yellow = connecting, red = disconnected (10-mqtt.js setStatus*)
        this.onConnection(status.fill === "green");
      },
    };
  }

  get connected(): boolean {
    return this.broker.connected === true;
  }

  subscribe(topic: string, onMessage: (topic: string, payload: Buffer, retained: boolean) => void): void {
    if (!this.registered) {
      this.registered = true;
      // The first user makes the broker node connect (when its autoConnect is on, the default).
      this.broker.register(this.user);
    }
    this.broker.subscribe(topic, { qos: 1 }, (t, payload, packet) => onMessage(t, Buffer.isBuffer(payload) ? payload : Buffer.from(String(payload)), packet?.retain === true), this.user.id);
  }

  unsubscribe(topic: string): void {
    this.broker.unsubscribe(topic, this.user.id, true);
    if (this.registered) {
      this.registered = false;
      this.broker.deregister(this.user, () => undefined, false);
    }
  }

  /** The broker node only calls `done` while connected, so an unconnected publish fails at once. */
  publish(topic: string, payload: string, options: { qos: 0 | 1 | 2; retain: boolean }): Promise<void> {
    if (!this.connected) return Promise.reject(new SmartlockError("unreachable", "the MQTT broker is not connected"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new SmartlockError("timeout", "the MQTT broker did not acknowledge the command")), 10_000);
      this.broker.publish({ topic, payload, qos: options.qos, retain: options.retain }, (err) => {
        clearTimeout(timer);
        if (err) reject(new SmartlockError("unreachable", `MQTT publish failed: ${err instanceof Error ? err.message : String(err)}`));
        else resolve();
      });
    });
  }
}
