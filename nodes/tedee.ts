/**
 * Node set "tedee": registers `tedee-config`, `tedee-events` and `tedee-action`.
 *
 * This file is Node-RED glue only: the bridge and cloud protocols live in ./tedee/, the vendor-neutral parts in
 * ./core/. The config node owns the connection (bridge and/or cloud) and the inbound callback route and shares
 * them with every node that uses it; listeners and actions subscribe and unsubscribe.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { buildCallbackUrl, generateRouteSecret, isValidRouteSecret } from "./core/callback-url";
import { type DoorEvent, eventTopic } from "./core/door-event";
import { SmartlockError, toSmartlockError } from "./core/errors";
import { type EventFilter, matches, toList } from "./core/event-filter";
import { RouteRegistry } from "./core/route-registry";
import { type NodeStatus, shortText, status } from "./core/status";
import { isAuthMode } from "./tedee/auth";
import { CALLBACK_HEADER, callbackHeaderValue } from "./tedee/callback-auth";
import { type ConnectionStatus, type TedeeConnectionOptions, TedeeConnection } from "./tedee/connection";

interface TedeeConfigDef extends NodeDef {
  host?: string;
  port?: string | number;
  auth?: string;
  callbackUrl?: string;
  cloudUrl?: string;
}

interface TedeeCredentials {
  token?: string;
  cloudKey?: string;
  routeSecret?: string;
}

/** What a listener or action node gives the config node when it subscribes. */
interface TedeeUser {
  onEvent?: (event: DoorEvent) => void;
  onStatus: (status: ConnectionStatus) => void;
}

interface TedeeConfigNode extends Node<TedeeCredentials> {
  /** Bridge and/or cloud; null when neither is configured. */
  connection: TedeeConnection | null;
  subscribe(user: TedeeUser): void;
  unsubscribe(user: TedeeUser): void;
}

interface TedeeEventsDef extends NodeDef {
  config: string;
  devices?: string[] | string;
  events?: string[] | string;
}

interface TedeeActionDef extends NodeDef {
  config: string;
  device?: string;
  action?: string;
  confirm?: boolean | string;
  timeout?: number | string;
  /** Plain unlock uses mode 3: unlock without pulling the spring, whatever the lock's auto pull setting. */
  unlockWithoutPull?: boolean | string;
}

/**
 * Optional `tedeeConfigTiming` in settings.js (ms): for simulators and tests; the defaults follow Tedee's
 * guidance (about one bridge request per second, 700 cloud requests per hour).
 */
interface TimingSettings {
  spacingMs?: number;
  cloudSpacingMs?: number;
  checkIntervalMs?: number;
  retryMs?: number;
  confirmPollMs?: number;
  actorDelaysMs?: number[];
}

const VENDOR = "tedee";
const CHANNEL_BRIDGE = "bridge";

export = function (RED: NodeAPI): void {
  const httpNodeRoot = RED.settings.httpNodeRoot as string | false | undefined;

  function timing(): Partial<TedeeConnectionOptions> {
    const raw = (RED.settings as unknown as { tedeeConfigTiming?: TimingSettings }).tedeeConfigTiming;
    if (!raw || typeof raw !== "object") return {};
    const out: Partial<TedeeConnectionOptions> = {};
    const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
    const keys = ["spacingMs", "cloudSpacingMs", "checkIntervalMs", "retryMs", "confirmPollMs"] as const;
    for (const key of keys) {
      const value = num(raw[key]);
      if (value !== undefined) out[key] = value;
    }
    if (Array.isArray(raw.actorDelaysMs) && raw.actorDelaysMs.every((v) => num(v) !== undefined)) out.actorDelaysMs = raw.actorDelaysMs;
    return out;
  }

  function TedeeConfig(this: TedeeConfigNode, def: TedeeConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials: TedeeCredentials = node.credentials ?? {};
    const users = new Set<TedeeUser>();
    let secret = credentials.routeSecret?.trim() ?? "";
    if (!isValidRouteSecret(secret)) {
      secret = generateRouteSecret();
      // The editor generates one when the node is created; without it the URL changes on every restart.
      node.warn(RED._("tedee.warn.generated-secret"));
    }
    const host = (def.host ?? "").trim();
    const port = Number(def.port) || 80;
    const auth = isAuthMode(def.auth) ? def.auth : "encrypted";
    const token = credentials.token?.trim() ?? "";
    const cloudKey = credentials.cloudKey?.trim() ?? "";
    const hasBridge = Boolean(host && token);
    let unregisterRoute: (() => void) | null = null;

    node.connection = null;
    if (hasBridge || cloudKey) {
      const routesAvailable = httpNodeRoot !== false;
      if (hasBridge && !routesAvailable) node.warn(RED._("tedee.warn.no-http-node"));
      const header = { name: CALLBACK_HEADER, value: hasBridge ? callbackHeaderValue(token, secret) : "" };
      const connection = new TedeeConnection({
        bridge: hasBridge ? { host, port, token, auth } : null,
        cloud: cloudKey ? { key: cloudKey, ...(def.cloudUrl?.trim() ? { cloudUrl: def.cloudUrl.trim() } : {}) } : null,
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
        callbackHeader: header,
        warn: (message) => node.warn(message),
        ...timing(),
      });
      node.connection = connection;
      connection.on("status", (value: ConnectionStatus) => users.forEach((user) => user.onStatus(value)));
      connection.on("event", (event: DoorEvent) => users.forEach((user) => user.onEvent?.(event)));
      if (hasBridge && routesAvailable) {
        const registry = RouteRegistry.for(RED.httpNode, VENDOR, {
          httpNodeRoot: typeof httpNodeRoot === "string" ? httpNodeRoot : "/",
          onError: (err: unknown) => node.warn(`callback handling failed: ${toSmartlockError(err).message}`),
        });
        unregisterRoute = registry.register(secret, CHANNEL_BRIDGE, (request) => {
          const answer = connection.handleCallback(request.rawBody, request.headers, request.receivedAt);
          if (answer.warning) node.warn(answer.warning);
          return answer.body === undefined ? { status: answer.status } : { status: answer.status, body: answer.body };
        });
      }
    }

    node.subscribe = (user: TedeeUser): void => {
      users.add(user);
      if (!node.connection) return;
      user.onStatus(node.connection.status);
      node.connection.start();
    };
    node.unsubscribe = (user: TedeeUser): void => {
      users.delete(user);
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      unregisterRoute?.();
      unregisterRoute = null;
      users.clear();
      const closing = node.connection ? node.connection.close() : Promise.resolve();
      closing.catch(() => undefined).then(() => done());
    });
  }

  RED.nodes.registerType("tedee-config", TedeeConfig as unknown as Parameters<typeof RED.nodes.registerType>[1], {
    credentials: {
      token: { type: "password" },
      cloudKey: { type: "password" },
      routeSecret: { type: "password" },
    },
  });

  /** Maps the connection state to a listener's status (green listening, yellow connecting, red with reason). */
  function listenerStatus(value: ConnectionStatus): NodeStatus {
    switch (value.state) {
      case "connected":
        return status.connected(value.reason === "cloud" ? RED._("tedee.status.cloud") : RED._("tedee.status.listening"));
      case "idle":
      case "connecting":
        return status.connecting(RED._("tedee.status.connecting"));
      case "closed":
        return status.idle(RED._("tedee.status.closed"));
      default:
        return status.error(shortText(value.reason ?? value.state));
    }
  }

  function TedeeEvents(this: Node, def: TedeeEventsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const filter: EventFilter = { devices: toList(def.devices), events: toList(def.events) };
    const config = RED.nodes.getNode(def.config) as TedeeConfigNode | null;
    if (!config) {
      node.status(status.error(RED._("tedee.status.no-config")));
      return;
    }
    if (!config.connection) {
      node.status(status.error(RED._("tedee.status.no-channel")));
      return;
    }
    const user: TedeeUser = {
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

  RED.nodes.registerType("tedee-events", TedeeEvents as unknown as Parameters<typeof RED.nodes.registerType>[1]);

  function TedeeAction(this: Node, def: TedeeActionDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = RED.nodes.getNode(def.config) as TedeeConfigNode | null;
    const confirm = def.confirm !== false && def.confirm !== "false";
    const unlockWithoutPull = def.unlockWithoutPull === true || def.unlockWithoutPull === "true";
    const timeoutSeconds = Number(def.timeout);
    const timeoutMs = (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0 ? timeoutSeconds : 30) * 1000;
    const user: TedeeUser = { onStatus: () => undefined };
    let pending = 0;

    if (!config) node.status(status.error(RED._("tedee.status.no-config")));
    else if (!config.connection) node.status(status.error(RED._("tedee.status.no-channel")));
    else config.subscribe(user);

    node.on("input", (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      let request: { device: string; action: string };
      try {
        if (!config?.connection) throw new SmartlockError("bad_request", RED._("tedee.errors.no-channel"));
        request = actionRequest(def, msg.payload);
      } catch (err) {
        done(toSmartlockError(err, "bad_request"));
        return;
      }
      pending++;
      node.status(status.connecting(shortText(`${request.action}…`)));
      config.connection
        .perform(request.device, request.action, { confirm, timeoutMs, unlockWithoutPull })
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
            node.warn(RED._("tedee.warn.not-confirmed", { action: result.action, device: result.device, seconds: timeoutMs / 1000 }));
          }
          if (--pending === 0) {
            node.status(
              !confirm || result.confirmed
                ? status.connected(shortText(`${result.action}: ${result.lock ?? "ok"}`))
                : status.warning(shortText(`${result.action}: ${RED._("tedee.status.not-confirmed")}`)),
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

  RED.nodes.registerType("tedee-action", TedeeAction as unknown as Parameters<typeof RED.nodes.registerType>[1]);

  /** Node settings win where set; otherwise `msg.payload` is "lock" or `{ action, device }`. */
  function actionRequest(def: TedeeActionDef, payload: unknown): { device: string; action: string } {
    let action = (def.action ?? "").trim();
    let device = (def.device ?? "").trim();
    if (typeof payload === "string") {
      if (!action) action = payload.trim();
    } else if (payload && typeof payload === "object") {
      const p = payload as { action?: unknown; device?: unknown };
      if (!action && typeof p.action === "string") action = p.action.trim();
      if (!device && (typeof p.device === "string" || typeof p.device === "number")) device = String(p.device).trim();
    }
    if (!action) throw new SmartlockError("bad_request", RED._("tedee.errors.no-action"));
    if (!device) throw new SmartlockError("bad_request", RED._("tedee.errors.no-device"));
    return { device, action: action.toLowerCase() };
  }
};
