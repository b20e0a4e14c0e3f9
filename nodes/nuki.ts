/**
 * Node set "nuki": registers `nuki-config`, `nuki-events` and `nuki-action`.
 *
 * This file is Node-RED glue only: the bridge protocol lives in ./nuki/, the vendor-neutral parts in ./core/.
 * The config node owns the bridge connection and the inbound callback route and shares them with every
 * node that uses it (like core's mqtt-broker node); listeners and actions subscribe and unsubscribe.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { buildCallbackUrl, generateRouteSecret, isValidRouteSecret } from "./core/callback-url";
import { type DoorEvent, eventTopic } from "./core/door-event";
import { SmartlockError, toSmartlockError } from "./core/errors";
import { type EventFilter, matches, toList } from "./core/event-filter";
import { RouteRegistry } from "./core/route-registry";
import { type NodeStatus, shortText, status } from "./core/status";
import { isAuthMode } from "./nuki/auth";
import { type BridgeStatus, NukiBridgeConnection } from "./nuki/bridge-connection";

interface NukiConfigDef extends NodeDef {
  host?: string;
  port?: string | number;
  auth?: string;
  callbackUrl?: string;
  webApiUrl?: string;
  webhookUrl?: string;
}

interface NukiCredentials {
  token?: string;
  webToken?: string;
  routeSecret?: string;
}

/** What a listener or action node gives the config node when it subscribes. */
interface NukiUser {
  onEvent?: (event: DoorEvent) => void;
  onStatus: (status: BridgeStatus) => void;
}

interface NukiConfigNode extends Node<NukiCredentials> {
  /** The bridge channel, when host and token are set. */
  bridge: NukiBridgeConnection | null;
  subscribe(user: NukiUser): void;
  unsubscribe(user: NukiUser): void;
}

interface NukiEventsDef extends NodeDef {
  config: string;
  devices?: string[] | string;
  events?: string[] | string;
}

interface NukiActionDef extends NodeDef {
  config: string;
  device?: string;
  action?: string;
  confirm?: boolean | string;
  timeout?: number | string;
}

const VENDOR = "nuki";
const CHANNEL_BRIDGE = "bridge";

export = function (RED: NodeAPI): void {
  const httpNodeRoot = RED.settings.httpNodeRoot as string | false | undefined;

  function NukiConfig(this: NukiConfigNode, def: NukiConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials: NukiCredentials = node.credentials ?? {};
    const users = new Set<NukiUser>();
    let secret = credentials.routeSecret?.trim() ?? "";
    if (!isValidRouteSecret(secret)) {
      secret = generateRouteSecret();
      // The editor generates one when the node is created; without it the URL changes on every restart.
      node.warn(RED._("nuki.warn.generated-secret"));
    }
    const host = (def.host ?? "").trim();
    const port = Number(def.port) || 8080;
    const auth = isAuthMode(def.auth) ? def.auth : "encrypted";
    const token = credentials.token?.trim() ?? "";
    let unregisterRoute: (() => void) | null = null;

    node.bridge = null;
    if (host && token) {
      const routesAvailable = httpNodeRoot !== false;
      if (!routesAvailable) node.warn(RED._("nuki.warn.no-http-node"));
      const bridge = new NukiBridgeConnection({
        host,
        port,
        token,
        auth,
        callbackUrl: async () => {
          if (!routesAvailable) return null;
          return buildCallbackUrl({
            ...(def.callbackUrl?.trim() ? { callbackUrl: def.callbackUrl.trim() } : {}),
            deviceHost: host,
            devicePort: port,
            nodeRedPort: Number(RED.settings.uiPort) || 1880,
            httpNodeRoot: typeof httpNodeRoot === "string" ? httpNodeRoot : "/",
            vendor: VENDOR,
            secret,
            channel: CHANNEL_BRIDGE,
          });
        },
        ownsCallback: (url) => url.includes(`/smartlocks/${VENDOR}/${secret}/`),
        warn: (message) => node.warn(message),
      });
      node.bridge = bridge;
      bridge.on("status", (value: BridgeStatus) => users.forEach((user) => user.onStatus(value)));
      bridge.on("event", (event: DoorEvent) => users.forEach((user) => user.onEvent?.(event)));
      if (routesAvailable) {
        const registry = RouteRegistry.for(RED.httpNode, VENDOR, {
          httpNodeRoot: typeof httpNodeRoot === "string" ? httpNodeRoot : "/",
          onError: (err: unknown) => node.warn(`callback handling failed: ${toSmartlockError(err).message}`),
        });
        unregisterRoute = registry.register(secret, CHANNEL_BRIDGE, (request) => {
          const answer = bridge.handleCallback(request.rawBody, request.receivedAt);
          if (answer.warning) node.warn(answer.warning);
          return answer.body === undefined ? { status: answer.status } : { status: answer.status, body: answer.body };
        });
      }
    }

    node.subscribe = (user: NukiUser): void => {
      users.add(user);
      if (!node.bridge) return;
      user.onStatus(node.bridge.status);
      node.bridge.start();
    };
    node.unsubscribe = (user: NukiUser): void => {
      users.delete(user);
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      unregisterRoute?.();
      unregisterRoute = null;
      users.clear();
      const closing = node.bridge ? node.bridge.close() : Promise.resolve();
      closing.catch(() => undefined).then(() => done());
    });
  }

  RED.nodes.registerType("nuki-config", NukiConfig as unknown as Parameters<typeof RED.nodes.registerType>[1], {
    credentials: {
      token: { type: "password" },
      webToken: { type: "password" },
      routeSecret: { type: "password" },
    },
  });

  /** Maps the bridge state to a listener's status (green listening, yellow connecting, red with reason). */
  function listenerStatus(value: BridgeStatus): NodeStatus {
    switch (value.state) {
      case "connected":
        return status.connected(RED._("nuki.status.listening"));
      case "idle":
      case "connecting":
        return status.connecting(RED._("nuki.status.connecting"));
      case "closed":
        return status.idle(RED._("nuki.status.closed"));
      default:
        return status.error(shortText(value.reason ?? value.state));
    }
  }

  function NukiEvents(this: Node, def: NukiEventsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const filter: EventFilter = { devices: toList(def.devices), events: toList(def.events) };
    const config = RED.nodes.getNode(def.config) as NukiConfigNode | null;
    if (!config) {
      node.status(status.error(RED._("nuki.status.no-config")));
      return;
    }
    if (!config.bridge) {
      node.status(status.error(RED._("nuki.status.no-bridge")));
      return;
    }
    const user: NukiUser = {
      onStatus: (value) => node.status(listenerStatus(value)),
      onEvent: (event) => {
        if (!matches(filter, event)) return;
        node.send({ topic: eventTopic(event), payload: event } as unknown as NodeMessageInFlow);
        node.status(status.connected(shortText(`${event.event} ${event.receivedAt.slice(11, 19)}`)));
      },
    };
    // Subscribe on the next tick: status set in a constructor never reaches Status nodes.
    const timer = setImmediate(() => config.subscribe(user));
    node.on("close", (done: () => void) => {
      clearImmediate(timer);
      config.unsubscribe(user);
      done();
    });
  }

  RED.nodes.registerType("nuki-events", NukiEvents as unknown as Parameters<typeof RED.nodes.registerType>[1]);

  function NukiAction(this: Node, def: NukiActionDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = RED.nodes.getNode(def.config) as NukiConfigNode | null;
    const confirm = def.confirm !== false && def.confirm !== "false";
    const timeoutSeconds = Number(def.timeout);
    const timeoutMs = (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0 ? timeoutSeconds : 30) * 1000;
    const user: NukiUser = { onStatus: () => undefined };
    let pending = 0;

    if (!config) node.status(status.error(RED._("nuki.status.no-config")));
    else if (!config.bridge) node.status(status.error(RED._("nuki.status.no-bridge")));
    else config.subscribe(user);

    node.on("input", (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      let request: { device: string; action: string };
      try {
        if (!config?.bridge) throw new SmartlockError("bad_request", RED._("nuki.errors.no-bridge"));
        request = actionRequest(def, msg.payload);
      } catch (err) {
        done(toSmartlockError(err, "bad_request"));
        return;
      }
      pending++;
      node.status(status.connecting(shortText(`${request.action}…`)));
      config.bridge
        .perform(request.device, request.action, { confirm, timeoutMs })
        .then((result) => {
          (msg as unknown as { payload: unknown }).payload = {
            ok: true,
            vendor: VENDOR,
            device: result.device,
            action: result.action,
            confirmed: result.confirmed,
            lock: result.lock,
            door: result.door,
          };
          if (confirm && !result.confirmed) {
            node.warn(RED._("nuki.warn.not-confirmed", { action: result.action, device: result.device, seconds: timeoutMs / 1000 }));
          }
          if (--pending === 0) {
            node.status(
              !confirm || result.confirmed
                ? status.connected(shortText(`${result.action}: ${result.lock ?? "ok"}`))
                : status.warning(shortText(`${result.action}: ${RED._("nuki.status.not-confirmed")}`)),
            );
          }
          send(msg);
          done();
        })
        .catch((err: unknown) => {
          const error = toSmartlockError(err);
          if (--pending === 0) node.status(status.error(shortText(`${request.action}: ${error.code}`)));
          done(error);
        });
    });

    node.on("close", (done: () => void) => {
      config?.unsubscribe(user);
      done();
    });
  }

  RED.nodes.registerType("nuki-action", NukiAction as unknown as Parameters<typeof RED.nodes.registerType>[1]);

  /** Node settings win where set; otherwise `msg.payload` is "lock" or `{ action, device }`. */
  function actionRequest(def: NukiActionDef, payload: unknown): { device: string; action: string } {
    let action = (def.action ?? "").trim();
    let device = (def.device ?? "").trim();
    if (typeof payload === "string") {
      if (!action) action = payload.trim();
    } else if (payload && typeof payload === "object") {
      const p = payload as { action?: unknown; device?: unknown };
      if (!action && typeof p.action === "string") action = p.action.trim();
      if (!device && (typeof p.device === "string" || typeof p.device === "number")) device = String(p.device).trim();
    }
    if (!action) throw new SmartlockError("bad_request", RED._("nuki.errors.no-action"));
    if (!device) throw new SmartlockError("bad_request", RED._("nuki.errors.no-device"));
    return { device, action: action.toLowerCase() };
  }
};
