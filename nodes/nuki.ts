/**
 * Node set "nuki": registers `nuki-config`, `nuki-events` and `nuki-action`.
 *
 * This file is Node-RED glue only: the protocols live in ./nuki/, the vendor-neutral parts in ./core/.
 * The config node owns up to three channels and shares them with every node that uses it (like core's
 * mqtt-broker node): the Nuki Bridge (host + token), Nuki Web (web token; webhooks when a webhook URL is set)
 * and Nuki MQTT (a Node-RED mqtt-broker node). All of them feed one event hub, so a happening seen by two
 * channels is one event, and an actor that comes later (Web log) or earlier (MQTT) is matched with it.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { ActorHold } from "./core/actor-merge";
import { type AdminApp, type NeedsPermission, adminEndpoint, typedOrStored, typedSetting } from "./core/admin-endpoint";
import { buildCallbackUrl, generateRouteSecret, isValidRouteSecret } from "./core/callback-url";
import type { DoorEvent } from "./core/door-event";
import { SmartlockError, toSmartlockError } from "./core/errors";
import { type EventFilter, matches, toList } from "./core/event-filter";
import { type InboundRequest, type InboundResult, type RouteRegistry, routePath } from "./core/route-registry";
import { type NodeStatus, shortText, status } from "./core/status";
import { type ActionRequest, ActionRunner, readActionRequest } from "./glue/action-node";
import { inboundRoutes } from "./glue/inbound-routes";
import { closeListenerOutput, deliverDoorEvent, setListenerStatus } from "./glue/listener-output";
import { type AuthMode, isAuthMode } from "./nuki/auth";
import type { NukiBridgeClient } from "./nuki/bridge-client";
import { type ActionResult, type BridgeStatus, NukiBridgeConnection } from "./nuki/bridge-connection";
import { CallbackSourceCheck, isCallbackSource, normalizeAddress } from "./nuki/callback-source";
import { NukiEventHub } from "./nuki/event-hub";
import { nukiIdToHex, parseDeviceId } from "./nuki/ids";
import { BrokerTransport, isBrokerNode } from "./nuki/mqtt-broker-transport";
import { NukiMqttConnection } from "./nuki/mqtt-connection";
import { probeNuki } from "./nuki/probe";
import { DEFAULT_WEB_API_URL } from "./nuki/web-client";
import { NukiWebConnection } from "./nuki/web-connection";
import { type WebhookStore, openWebhook, processCachedStore, sealWebhook } from "./nuki/webhook-store";

interface NukiConfigDef extends NodeDef {
  host?: string;
  port?: string | number;
  auth?: string;
  callbackUrl?: string;
  /** "any" (default): the route secret alone admits a callback; "bridge": also only from the bridge's address. */
  callbackSource?: string;
  webApiUrl?: string;
  webhookUrl?: string;
  mqttBroker?: string;
  mqttTopic?: string;
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
  /** The Nuki Web channel, when a web token is set. */
  web: NukiWebConnection | null;
  /** The MQTT channel, once started (when an mqtt-broker node is referenced). */
  mqtt: NukiMqttConnection | null;
  hub: NukiEventHub;
  /** At least one channel is configured. */
  hasChannel: boolean;
  /** Whether an event without actor may still get one from another channel (Web webhooks, MQTT). */
  expectsActor(event: DoorEvent): boolean;
  subscribe(user: NukiUser): void;
  unsubscribe(user: NukiUser, removed: boolean): void;
  perform(device: string, action: string, options: { confirm: boolean; timeoutMs: number }): Promise<ActionResult>;
  /**
   * The running bridge client when `settings` name the same bridge with the same token and auth, so that a
   * probe queues behind the connection instead of racing it (the bridge answers one request at a time).
   */
  bridgeClientFor(settings: { host: string; port: number; token: string; auth: AuthMode }): NukiBridgeClient | null;
}

interface NukiEventsDef extends NodeDef {
  config: string;
  devices?: string[] | string;
  events?: string[] | string;
  actorWait?: number | string;
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
const CHANNEL_WEB = "web";
const WEBHOOK_CONTEXT_KEY = "smartlocksWebhook";
/** States that mean "this channel does not work"; they win over "connecting" and "connected" in the status. */
const FAILED = new Set(["no-callback", "unreachable", "unauthorized"]);
/** The longest actorWait accepted (ms): an event held longer is no longer news. */
const MAX_ACTOR_WAIT_MS = 600_000;
/** A refused callback source is warned about at most this often (ms): a flood must not flood the log. */
const SOURCE_WARN_INTERVAL_MS = 60_000;

export = function (RED: NodeAPI): void {
  const httpNodeRoot = RED.settings.httpNodeRoot as string | false | undefined;

  function NukiConfig(this: NukiConfigNode, def: NukiConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials: NukiCredentials = node.credentials ?? {};
    const users = new Set<NukiUser>();
    let closed = false;
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
    const webToken = credentials.webToken?.trim() ?? "";
    const routesAvailable = httpNodeRoot !== false;
    const root = typeof httpNodeRoot === "string" ? httpNodeRoot : "/";
    const ours = (url: string): boolean => url.includes(`/smartlocks/${VENDOR}/${secret}/`);
    const unregisterRoutes: Array<() => void> = [];
    let registry: RouteRegistry | null = null;
    const route = (channel: string, handler: Parameters<RouteRegistry["register"]>[2]): void => {
      registry ??= inboundRoutes(RED, VENDOR);
      // Per registration, so a failure is reported by the config node that owns the route (not the first one ever made).
      const onError = (err: unknown): void => node.warn(`callback handling failed: ${toSmartlockError(err).message}`);
      unregisterRoutes.push(registry.register(secret, channel, handler, { onError }));
    };
    // Only another channel (Nuki Web, MQTT) ever matches events the bridge sent: without one, none are remembered.
    const hub = new NukiEventHub({ correlate: webToken !== "" || !!def.mqttBroker });
    node.hub = hub;
    node.bridge = null;
    node.web = null;
    node.mqtt = null;
    let mqttStatus: BridgeStatus | null = def.mqttBroker ? { state: "idle" } : null;

    if (host && token) {
      if (!routesAvailable) node.warn(RED._("nuki.warn.no-http-node"));
      const bridge = new NukiBridgeConnection({
        host,
        port,
        token,
        auth,
        tracker: hub.tracker,
        callbackUrl: async () => {
          if (!routesAvailable) return null;
          return buildCallbackUrl({
            ...(def.callbackUrl?.trim() ? { callbackUrl: def.callbackUrl.trim() } : {}),
            deviceHost: host,
            devicePort: port,
            nodeRedPort: Number(RED.settings.uiPort) || 1880,
            httpNodeRoot: root,
            vendor: VENDOR,
            secret,
            channel: CHANNEL_BRIDGE,
          });
        },
        ownsCallback: ours,
        warn: (message) => node.warn(message),
      });
      node.bridge = bridge;
      const callbackSource = isCallbackSource(def.callbackSource) ? def.callbackSource : "any";
      const sourceCheck = callbackSource === "bridge" ? new CallbackSourceCheck(host) : null;
      let lastSourceWarning = 0;
      bridge.on("status", () => announceStatus());
      bridge.on("event", (event: DoorEvent) => hub.publish([event]));
      bridge.on("report", (deviceId: string) => hub.reported(deviceId));
      if (routesAvailable) {
        const answerCallback = (request: InboundRequest): InboundResult => {
          const answer = bridge.handleCallback(request.rawBody, request.receivedAt);
          if (answer.warning) node.warn(answer.warning);
          return answer.body === undefined ? { status: answer.status } : { status: answer.status, body: answer.body };
        };
        const refuseCallback = (request: InboundRequest): InboundResult => {
          if (request.receivedAt - lastSourceWarning >= SOURCE_WARN_INTERVAL_MS) {
            lastSourceWarning = request.receivedAt;
            const reason = sourceCheck?.lastError ? ` (${sourceCheck.lastError})` : "";
            node.warn(RED._("nuki.warn.callback-source", { address: normalizeAddress(request.remoteAddress) || "?", host }) + reason);
          }
          return { status: 401, body: "callbacks are accepted from the bridge only" };
        };
        // Answered synchronously unless the bridge's address must be checked (a name may need resolving).
        route(CHANNEL_BRIDGE, (request) =>
          sourceCheck ? sourceCheck.allows(request.remoteAddress).then((allowed) => (allowed ? answerCallback(request) : refuseCallback(request))) : answerCallback(request),
        );
      }
    }

    if (webToken) {
      const webhookUrl = webhookAddress(def.webhookUrl, secret);
      if (def.webhookUrl?.trim() && !webhookUrl) node.warn(RED._("nuki.warn.bad-webhook-url"));
      if (webhookUrl && !routesAvailable) node.warn(RED._("nuki.warn.no-http-node"));
      const web = new NukiWebConnection({
        apiUrl: def.webApiUrl?.trim() || DEFAULT_WEB_API_URL,
        token: webToken,
        hub,
        webhookUrl: routesAvailable ? webhookUrl : null,
        ownsWebhook: ours,
        store: processCachedStore(contextStore(node, secret), secret),
        warn: (message) => node.warn(message),
      });
      node.web = web;
      web.on("status", () => announceStatus());
      if (webhookUrl && routesAvailable) {
        route(CHANNEL_WEB, (request) => {
          const answer = web.handleWebhook(request.rawBody, request.headers, request.receivedAt);
          if (answer.warning) node.warn(answer.warning);
          return answer.body === undefined ? { status: answer.status } : { status: answer.status, body: answer.body };
        });
      }
    }

    node.hasChannel = node.bridge !== null || node.web !== null || mqttStatus !== null;
    const actorChannels = (node.web !== null && !!def.webhookUrl?.trim()) || mqttStatus !== null;
    node.expectsActor = (event) =>
      actorChannels && event.actor === null && !event.update && event.event.startsWith("lock.") && event.channel !== "mqtt";

    hub.on("event", (event: DoorEvent) => users.forEach((user) => user.onEvent?.(event)));

    /** Starts the MQTT channel over the referenced mqtt-broker node (looked up late: config nodes start in any order). */
    function startMqtt(): void {
      if (!def.mqttBroker || node.mqtt) return;
      const broker = RED.nodes.getNode(def.mqttBroker);
      if (!isBrokerNode(broker)) {
        mqttStatus = { state: "unreachable", reason: "mqtt: broker node missing" };
        node.warn(RED._("nuki.warn.no-mqtt-broker"));
        announceStatus();
        return;
      }
      const transport = new BrokerTransport(broker, node.id, (connected) => mqtt.connectionChanged(connected));
      const mqtt = new NukiMqttConnection({
        hub,
        transport,
        prefix: def.mqttTopic?.trim() || "nuki",
        authName: (deviceId, authId) => node.web?.authName(deviceId, authId) ?? null,
        warn: (message) => node.warn(message),
      });
      node.mqtt = mqtt;
      mqtt.on("status", (value: BridgeStatus) => {
        mqttStatus = value;
        announceStatus();
      });
      mqtt.start();
    }

    /** One status for all channels: a failing channel wins (with its reason), then "connecting", then "connected". */
    function combinedStatus(): BridgeStatus {
      const all = [node.bridge?.status, node.web?.status, mqttStatus].filter((s): s is BridgeStatus => !!s);
      return (
        all.find((s) => FAILED.has(s.state)) ??
        all.find((s) => s.state === "connecting" || s.state === "idle") ??
        all.find((s) => s.state === "connected") ??
        all[0] ?? { state: "closed" }
      );
    }
    function announceStatus(): void {
      const value = combinedStatus();
      users.forEach((user) => user.onStatus(value));
    }

    node.subscribe = (user: NukiUser): void => {
      users.add(user);
      if (!node.hasChannel) return;
      node.bridge?.start();
      if (user.onEvent) node.web?.wantWebhook();
      node.web?.start();
      startMqtt();
      user.onStatus(combinedStatus());
    };
    const listeners = (): number => [...users].filter((u) => u.onEvent).length;
    const removeWebhook = (): void => {
      node.web?.removeWebhook().catch((err: unknown) => node.warn(`could not delete the Nuki Web webhook: ${toSmartlockError(err).message}`));
    };
    node.unsubscribe = (user: NukiUser, removed: boolean): void => {
      users.delete(user);
      // The last listener was deleted while this node keeps running: its webhook goes with it.
      if (removed && !closed && node.web && listeners() === 0) removeWebhook();
    };
    // The webhook exists while a listener uses this node. A listener deleted in a full deploy closes after or
    // before this node (the runtime's order varies), so the check is made once the new flows are running:
    // no listener subscribed by then = no webhook of ours should remain.
    let cleanupTimer: NodeJS.Timeout | null = null;
    const onFlowsStarted = (): void => {
      if (!node.web || !def.webhookUrl?.trim() || closed) return;
      if (cleanupTimer) clearTimeout(cleanupTimer);
      cleanupTimer = setTimeout(() => {
        cleanupTimer = null;
        if (!closed && listeners() === 0) removeWebhook();
      }, 1000);
      cleanupTimer.unref?.();
    };
    RED.events.on("flows:started", onFlowsStarted);

    node.perform = (deviceRef, action, options) => {
      const nukiId = parseDeviceId(deviceRef);
      if (nukiId === null) {
        return Promise.reject(new SmartlockError("bad_request", `"${deviceRef}" is not a Nuki ID (8 hex digits, as shown in the Nuki app)`));
      }
      const id = nukiIdToHex(nukiId);
      const { bridge, web, mqtt } = node;
      // The most local channel that knows the device: bridge, then the lock's own MQTT, then the cloud.
      if (bridge?.knows(id)) return bridge.perform(id, action, options);
      if (mqtt?.knows(id)) return mqtt.perform(id, action, options);
      if (web) return web.perform(id, action, options);
      if (bridge) return bridge.perform(id, action, options);
      if (mqtt) return mqtt.perform(id, action, options);
      return Promise.reject(new SmartlockError("bad_request", RED._("nuki.errors.no-channel")));
    };

    node.bridgeClientFor = (settings) => {
      const same = settings.host === host && settings.port === port && settings.token === token && settings.auth === auth;
      return same && node.bridge && !closed ? node.bridge.client : null;
    };

    node.on("close", (removed: boolean, done: () => void) => {
      closed = true;
      RED.events.removeListener("flows:started", onFlowsStarted);
      if (cleanupTimer) clearTimeout(cleanupTimer);
      for (const unregister of unregisterRoutes.splice(0)) unregister();
      users.clear();
      node.mqtt?.close();
      const closing = Promise.all([
        node.bridge ? node.bridge.close() : Promise.resolve(),
        // A restart keeps the webhook (and its stored secret) for the next start; deleting the node removes it.
        node.web ? node.web.close(removed) : Promise.resolve(),
      ]);
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

  /**
   * "Test connection" and the device pickers: the values typed in the config dialog (password fields left
   * untouched fall back to the stored credentials of config node `id`), read-only: bridge /info, /list and
   * /callback/list (through the deployed node's client when it talks to the same bridge), and the Web API's
   * smartlock list when a web token is set. Never answers with a token or the route secret.
   */
  adminEndpoint(
    RED.httpAdmin as unknown as AdminApp,
    RED.auth.needsPermission as unknown as NeedsPermission,
    { vendor: VENDOR, action: "probe", permission: "nuki-config.write" },
    async (body) => {
      const id = typeof body.id === "string" ? body.id : "";
      const stored = ((id ? RED.nodes.getCredentials(id) : undefined) ?? {}) as NukiCredentials;
      const host = typedSetting(body.host);
      const port = Number(typedSetting(body.port)) || 8080;
      const auth: AuthMode = isAuthMode(body.auth) ? body.auth : "encrypted";
      const token = typedOrStored(body.token, stored.token);
      const webToken = typedOrStored(body.webToken, stored.webToken);
      const webApiUrl = typedSetting(body.webApiUrl) || DEFAULT_WEB_API_URL;
      const callbackBase = typedSetting(body.callbackUrl);
      if (host && !token) throw new SmartlockError("bad_request", RED._("nuki.probe.need-token"));
      if (!host && !webToken) throw new SmartlockError("bad_request", RED._("nuki.probe.need-channel"));
      const typedSecret = typedOrStored(body.routeSecret, stored.routeSecret);
      // A dialog without a secret yet (the editor makes one on creation) is probed with a throwaway one.
      const secret = isValidRouteSecret(typedSecret) ? typedSecret : generateRouteSecret();
      const deployed = id ? (RED.nodes.getNode(id) as NukiConfigNode | null) : null;
      const client = deployed && typeof deployed.bridgeClientFor === "function" ? deployed.bridgeClientFor({ host, port, token, auth }) : null;
      const callbackUrl =
        httpNodeRoot === false || !host
          ? null
          : await buildCallbackUrl({
              ...(callbackBase ? { callbackUrl: callbackBase } : {}),
              deviceHost: host,
              devicePort: port,
              nodeRedPort: Number(RED.settings.uiPort) || 1880,
              httpNodeRoot: typeof httpNodeRoot === "string" ? httpNodeRoot : "/",
              vendor: VENDOR,
              secret,
              channel: CHANNEL_BRIDGE,
            });
      return probeNuki({
        bridge: host
          ? { host, port, token, auth, callbackUrl, ownsCallback: (url) => url.includes(`/smartlocks/${VENDOR}/${secret}/`), client }
          : null,
        web: webToken ? { apiUrl: webApiUrl, token: webToken } : null,
      });
    },
  );


  /** `{webhookUrl}/smartlocks/nuki/{secret}/web`, or null when no (valid) webhook base is set. */
  function webhookAddress(base: string | undefined, secret: string): string | null {
    const value = base?.trim() ?? "";
    if (!value) return null;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return null;
    }
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.search || url.hash) return null;
    return `${url.origin}${url.pathname.replace(/\/+$/, "")}${routePath("/", VENDOR, secret, CHANNEL_WEB)}`;
  }

  /** The webhook secret, sealed with the route secret, in the config node's context (see nuki/webhook-store.ts). */
  function contextStore(node: Node, routeSecret: string): WebhookStore {
    const context = node.context();
    return {
      load: () =>
        new Promise((resolve) => {
          try {
            context.get(WEBHOOK_CONTEXT_KEY, (err: Error | undefined, value: unknown) => resolve(err ? null : openWebhook(value, routeSecret)));
          } catch {
            resolve(null);
          }
        }),
      save: (value) =>
        new Promise((resolve) => {
          try {
            context.set(WEBHOOK_CONTEXT_KEY, value ? sealWebhook(value, routeSecret) : undefined, () => resolve());
          } catch {
            resolve();
          }
        }),
    };
  }

  /** Maps the channels' state to a listener's status (green listening, yellow connecting, red with reason). */
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
    if (!config.hasChannel) {
      node.status(status.error(RED._("nuki.status.no-channel")));
      return;
    }
    const wait = Number(def.actorWait);
    const actorWait = Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_ACTOR_WAIT_MS) : 0;
    // actorWait 0: events at once and a follow-up (update: true) when the actor comes; > 0: held, sent once.
    const hold = new ActorHold(actorWait, (event) => deliverDoorEvent(node, event), (event) => config.expectsActor(event));
    const user: NukiUser = {
      onStatus: (value) => setListenerStatus(node, listenerStatus(value)),
      onEvent: (event) => {
        if (matches(filter, event)) hold.push(event);
      },
    };
    // Subscribe on the next tick: status set in a constructor never reaches Status nodes.
    const timer = setImmediate(() => config.subscribe(user));
    node.on("close", (removed: boolean, done: () => void) => {
      clearImmediate(timer);
      config.unsubscribe(user, removed);
      if (removed) hold.clear();
      else hold.flush();
      closeListenerOutput(node);
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
    const runner = new ActionRunner(node, VENDOR, {
      noAction: RED._("nuki.errors.no-action"),
      noDevice: RED._("nuki.errors.no-device"),
      notConfirmed: RED._("nuki.status.not-confirmed"),
      notConfirmedWarning: (outcome) =>
        RED._("nuki.warn.not-confirmed", { action: outcome.action, device: outcome.device, seconds: timeoutMs / 1000 }),
    });

    if (!config) node.status(status.error(RED._("nuki.status.no-config")));
    else if (!config.hasChannel) node.status(status.error(RED._("nuki.status.no-channel")));
    else config.subscribe(user);

    node.on("input", (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      let request: ActionRequest;
      try {
        if (!config?.hasChannel) throw new SmartlockError("bad_request", RED._("nuki.errors.no-channel"));
        request = readActionRequest(def, msg.payload, {
          noAction: RED._("nuki.errors.no-action"),
          noDevice: RED._("nuki.errors.no-device"),
        });
      } catch (err) {
        done(toSmartlockError(err, "bad_request"));
        return;
      }
      runner.run(msg, send, done, request, confirm, () => config.perform(request.device, request.action, { confirm, timeoutMs }));
    });

    node.on("close", (removed: boolean, done: () => void) => {
      config?.unsubscribe(user, removed);
      done();
    });
  }

  RED.nodes.registerType("nuki-action", NukiAction as unknown as Parameters<typeof RED.nodes.registerType>[1]);
};
