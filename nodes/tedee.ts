/**
 * Node set "tedee": registers `tedee-config`, `tedee-events` and `tedee-action`.
 *
 * This file is Node-RED glue only: the bridge and cloud protocols live in ./tedee/, the vendor-neutral parts in
 * ./core/. The config node owns the connection (bridge and/or cloud) and the inbound callback route and shares
 * them with every node that uses it; listeners and actions subscribe and unsubscribe.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { ActorHold } from "./core/actor-merge";
import { type AdminApp, type NeedsPermission, adminEndpoint, typedOrStored, typedSetting } from "./core/admin-endpoint";
import { buildCallbackUrl, generateRouteSecret, isValidRouteSecret } from "./core/callback-url";
import type { DoorEvent } from "./core/door-event";
import { type ActionOutcome, type ActionRequest, ActionRunner, readActionRequest } from "./glue/action-node";
import { inboundRoutes } from "./glue/inbound-routes";
import { closeListenerOutput, deliverDoorEvent, setListenerStatus } from "./glue/listener-output";
import { SmartlockError, toSmartlockError } from "./core/errors";
import { type EventFilter, matches, toList } from "./core/event-filter";
import { type NodeStatus, shortText, status } from "./core/status";
import { type AuthMode, isAuthMode } from "./tedee/auth";
import type { TedeeBridgeClient } from "./tedee/bridge-client";
import { CALLBACK_HEADER, callbackHeaderValue } from "./tedee/callback-auth";
import type { TedeeCloudClient } from "./tedee/cloud-client";
import { type ConnectionStatus, type TedeeConnectionOptions, TedeeConnection } from "./tedee/connection";
import { probeTedee } from "./tedee/probe";

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

/** The settings a probe would use, compared with a deployed config node's own. */
interface ChannelSettings {
  host: string;
  port: number;
  auth: AuthMode;
  token: string;
  cloudKey: string;
  cloudUrl: string;
}

interface TedeeConfigNode extends Node<TedeeCredentials> {
  /** Bridge and/or cloud; null when neither is configured. */
  connection: TedeeConnection | null;
  subscribe(user: TedeeUser): void;
  unsubscribe(user: TedeeUser): void;
  /**
   * This node's running clients where `settings` name the same bridge / cloud with the same secrets, so that a
   * probe queues behind the connection instead of racing it (the bridge takes one request at a time and each
   * encrypted key's timestamp must be above the last one).
   */
  clientsFor(settings: ChannelSettings): { bridge: TedeeBridgeClient | null; cloud: TedeeCloudClient | null };
}

interface TedeeEventsDef extends NodeDef {
  config: string;
  devices?: string[] | string;
  events?: string[] | string;
  /** ms a lock event may be held back for its actor from the cloud activity log (0 = send at once, then a follow-up). */
  actorWait?: number | string;
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
/** The longest actorWait accepted (ms): the activity log is last read 60 s after an event; longer is no longer news. */
const MAX_ACTOR_WAIT_MS = 600_000;

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
        const registry = inboundRoutes(RED, VENDOR);
        // Per registration, so a failure is reported by the config node that owns the route (not the first one ever made).
        const onError = (err: unknown): void => node.warn(`callback handling failed: ${toSmartlockError(err).message}`);
        unregisterRoute = registry.register(secret, CHANNEL_BRIDGE, (request) => {
          const answer = connection.handleCallback(request.rawBody, request.headers, request.receivedAt);
          if (answer.warning) node.warn(answer.warning);
          return answer.body === undefined ? { status: answer.status } : { status: answer.status, body: answer.body };
        }, { onError });
      }
    }

    node.clientsFor = (settings: ChannelSettings) => {
      const connection = node.connection;
      const sameBridge = hasBridge && settings.host === host && settings.port === port && settings.auth === auth && settings.token === token;
      const sameCloud = Boolean(cloudKey) && settings.cloudKey === cloudKey && settings.cloudUrl === (def.cloudUrl?.trim() ?? "");
      return { bridge: sameBridge ? (connection?.bridge ?? null) : null, cloud: sameCloud ? (connection?.cloud ?? null) : null };
    };

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
    const connection = config.connection;
    const wait = Number(def.actorWait);
    const actorWait = Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_ACTOR_WAIT_MS) : 0;
    const send = (event: DoorEvent): void => deliverDoorEvent(node, event);
    // actorWait 0: events at once and a follow-up (update: true) when the actor comes; > 0: lock events are held
    // up to that long while a cloud key can still name the actor, and each is sent once with it.
    const hold = new ActorHold(actorWait, send, (event) => connection.expectsActor(event));
    const user: TedeeUser = {
      onStatus: (value) => setListenerStatus(node, listenerStatus(value)),
      onEvent: (event) => {
        if (matches(filter, event)) hold.push(event);
      },
    };
    // Subscribe on the next tick: status set in a constructor never reaches Status nodes.
    const timer = setImmediate(() => config.subscribe(user));
    node.on("close", (removed: boolean, done: () => void) => {
      clearImmediate(timer);
      config.unsubscribe(user);
      // Removed: nobody wants what is held. Redeployed or stopping: send it rather than lose it silently.
      if (removed) hold.clear();
      else hold.flush();
      closeListenerOutput(node);
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
    const texts = {
      noAction: RED._("tedee.errors.no-action"),
      noDevice: RED._("tedee.errors.no-device"),
      notConfirmed: RED._("tedee.status.not-confirmed"),
      notConfirmedWarning: (outcome: ActionOutcome) =>
        RED._("tedee.warn.not-confirmed", { action: outcome.action, device: outcome.device, seconds: timeoutMs / 1000 }),
    };
    const runner = new ActionRunner(node, VENDOR, texts);

    if (!config) node.status(status.error(RED._("tedee.status.no-config")));
    else if (!config.connection) node.status(status.error(RED._("tedee.status.no-channel")));
    else config.subscribe(user);

    node.on("input", (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      let request: ActionRequest;
      try {
        if (!config?.connection) throw new SmartlockError("bad_request", RED._("tedee.errors.no-channel"));
        request = readActionRequest(def, msg.payload, texts);
      } catch (err) {
        done(toSmartlockError(err, "bad_request"));
        return;
      }
      const connection = config.connection;
      runner.run(msg, send, done, request, confirm, () => connection.perform(request.device, request.action, { confirm, timeoutMs, unlockWithoutPull }));
    });

    node.on("close", (done: () => void) => {
      config?.unsubscribe(user);
      done();
    });
  }

  RED.nodes.registerType("tedee-action", TedeeAction as unknown as Parameters<typeof RED.nodes.registerType>[1]);

  /**
   * "Test connection" and the device pickers: the values typed in the config dialog (credentials left untouched
   * fall back to the stored ones of config node `id`), read-only, through the deployed node's clients when they
   * talk to the same bridge / cloud. Never answers with a token, key or route secret.
   */
  adminEndpoint(
    RED.httpAdmin as unknown as AdminApp,
    RED.auth.needsPermission as unknown as NeedsPermission,
    { vendor: VENDOR, action: "probe", permission: "tedee-config.write" },
    async (body) => {
      const id = typeof body.id === "string" ? body.id : "";
      const stored = ((id ? RED.nodes.getCredentials(id) : undefined) ?? {}) as TedeeCredentials;
      const host = typedSetting(body.host);
      const port = Number(typedSetting(body.port)) || 80;
      const auth: AuthMode = isAuthMode(body.auth) ? body.auth : "encrypted";
      const token = typedOrStored(body.token, stored.token);
      const cloudKey = typedOrStored(body.cloudKey, stored.cloudKey);
      const cloudUrl = typedSetting(body.cloudUrl);
      const callbackBase = typedSetting(body.callbackUrl);
      if (host && !token) throw new SmartlockError("bad_request", "Enter the bridge API token (Tedee app › Bridge › Settings › API)");
      if (!host && !cloudKey) throw new SmartlockError("bad_request", "Enter a bridge host and API token, or a cloud key");
      const typedSecret = typedOrStored(body.routeSecret, stored.routeSecret);
      // A dialog without a secret yet (should not happen: the editor makes one) is probed with a throwaway one.
      const secret = isValidRouteSecret(typedSecret) ? typedSecret : generateRouteSecret();
      const deployed = id ? (RED.nodes.getNode(id) as TedeeConfigNode | null) : null;
      const clients = deployed && typeof deployed.clientsFor === "function" ? deployed.clientsFor({ host, port, auth, token, cloudKey, cloudUrl }) : { bridge: null, cloud: null };
      const timingValues = timing();
      return probeTedee({
        bridge: host ? { host, port, token, auth } : null,
        cloud: cloudKey ? { key: cloudKey, ...(cloudUrl ? { cloudUrl } : {}) } : null,
        bridgeClient: clients.bridge,
        cloudClient: clients.cloud,
        callbackUrl: async () => {
          if (httpNodeRoot === false) return null;
          return buildCallbackUrl({
            ...(callbackBase ? { callbackUrl: callbackBase } : {}),
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
        callbackHeader: { name: CALLBACK_HEADER, value: token ? callbackHeaderValue(token, secret) : "" },
        ...(timingValues.spacingMs === undefined ? {} : { spacingMs: timingValues.spacingMs }),
        ...(timingValues.cloudSpacingMs === undefined ? {} : { cloudSpacingMs: timingValues.cloudSpacingMs }),
      });
    },
  );
};
