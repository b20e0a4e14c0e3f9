/**
 * Node set "unifi-access": registers `unifi-access-config`, `unifi-access-events` and `unifi-access-action`.
 *
 * This file is Node-RED glue only: the controller protocol lives in ./unifi-access/, the vendor-neutral parts in
 * ./core/. The config node owns the controller connection (WebSocket, REST, webhook endpoint) and the inbound
 * webhook route and shares them with every node that uses it; listeners and actions subscribe and unsubscribe.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { ActorHold } from "./core/actor-merge";
import { type AdminApp, type NeedsPermission, adminEndpoint, typedOrStored, typedSetting } from "./core/admin-endpoint";
import { buildCallbackUrl, generateRouteSecret, isValidRouteSecret } from "./core/callback-url";
import type { DoorEvent } from "./core/door-event";
import { type ActionOutcome, ActionRunner } from "./glue/action-node";
import { inboundRoutes } from "./glue/inbound-routes";
import { closeListenerOutput, deliverDoorEvent, setListenerStatus } from "./glue/listener-output";
import { SmartlockError, toSmartlockError } from "./core/errors";
import { type EventFilter, matches, toList } from "./core/event-filter";
import { type NodeStatus, shortText, status } from "./core/status";
import { needsDoor, parseMinutes } from "./unifi-access/actions";
import { type ConnectionStatus, type UnifiEvent, UnifiAccessConnection } from "./unifi-access/connection";
import { type Detail, VENDOR } from "./unifi-access/normalize";
import { probeUnifiAccess } from "./unifi-access/probe";
import { formatFingerprint, isTlsMode, normalizeFingerprint, shortFingerprint } from "./unifi-access/tls";

interface UnifiConfigDef extends NodeDef {
  host?: string;
  port?: string | number;
  tls?: string;
  fingerprint?: string;
  webhooks?: boolean | string;
  callbackUrl?: string;
  unknownEvents?: boolean | string;
  actorName?: string;
}

interface UnifiCredentials {
  token?: string;
  routeSecret?: string;
}

/** What a listener or action node gives the config node when it subscribes. */
interface UnifiUser {
  /** Listeners want events (and thereby a webhook endpoint); actions only the connection. */
  onEvent?: (event: UnifiEvent) => void;
  onStatus: (status: ConnectionStatus) => void;
}

interface UnifiConfigNode extends Node<UnifiCredentials> {
  connection: UnifiAccessConnection | null;
  /** Why there is no connection (missing host/token, invalid fingerprint). */
  problem: string | null;
  /** Whether a listener with actorWait should hold this event for an actor the webhook may still bring. */
  expectsActor(event: DoorEvent): boolean;
  subscribe(user: UnifiUser): void;
  unsubscribe(user: UnifiUser): void;
}

interface UnifiEventsDef extends NodeDef {
  config: string;
  devices?: string[] | string;
  events?: string[] | string;
  actorWait?: number | string;
}

interface UnifiActionDef extends NodeDef {
  config: string;
  device?: string;
  action?: string;
  confirm?: boolean | string;
  timeout?: number | string;
  minutes?: number | string;
}

const CHANNEL_WEBHOOK = "webhook";
const FINGERPRINT_CONTEXT_KEY = "fingerprint";
/** The longest actorWait accepted (ms): the webhook follows the WebSocket within seconds; longer is no longer news. */
const MAX_ACTOR_WAIT_MS = 60_000;

const bool = (value: unknown, fallback: boolean): boolean =>
  value === undefined || value === "" ? fallback : value === true || value === "true";

export = function (RED: NodeAPI): void {
  const httpNodeRoot = RED.settings.httpNodeRoot as string | false | undefined;

  function UnifiAccessConfig(this: UnifiConfigNode, def: UnifiConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials: UnifiCredentials = node.credentials ?? {};
    const users = new Set<UnifiUser>();
    let secret = credentials.routeSecret?.trim() ?? "";
    if (!isValidRouteSecret(secret)) {
      secret = generateRouteSecret();
      // The editor generates one when the node is created; without it the webhook URL changes on every restart.
      node.warn(RED._("unifi-access.warn.generated-secret"));
    }
    const host = (def.host ?? "").trim();
    const port = Number(def.port) || 12445;
    const tls = isTlsMode(def.tls) ? def.tls : "pin";
    const token = credentials.token?.trim() ?? "";
    const webhooks = bool(def.webhooks, true);
    let unregisterRoute: (() => void) | null = null;

    node.connection = null;
    node.problem = null;
    // Only an unlock seen on the WebSocket can still get its actor, and only from our registered webhook
    // (access.door.unlock); everything else already has one or never will.
    node.expectsActor = (event) =>
      webhooks &&
      node.connection?.webhookSecretKnown === true &&
      event.channel === "websocket" &&
      event.event === "lock.unlocked" &&
      event.actor === null &&
      !event.update;
    const configured = (def.fingerprint ?? "").trim();
    let fingerprint = normalizeFingerprint(configured);
    if (configured && !fingerprint) node.problem = RED._("unifi-access.status.bad-fingerprint");
    else if (!host || !token) node.problem = RED._("unifi-access.status.no-controller");

    if (tls === "pin" && !fingerprint && !node.problem) {
      // Trusted on first use earlier (this deploy, or across restarts with a persistent context store).
      fingerprint = normalizeFingerprint(node.context().get(FINGERPRINT_CONTEXT_KEY));
      if (fingerprint) node.warn(`${RED._("unifi-access.warn.tofu-stored")} SHA-256 ${formatFingerprint(fingerprint)}`);
    }

    if (!node.problem) {
      const routesAvailable = httpNodeRoot !== false;
      const connection = new UnifiAccessConnection({
        host,
        port,
        token,
        tls,
        fingerprint,
        onFingerprintLearned: (learned) => {
          node.context().set(FINGERPRINT_CONTEXT_KEY, learned);
          node.warn(`${RED._("unifi-access.warn.tofu-learned")} SHA-256 ${formatFingerprint(learned)}`);
        },
        webhooks: webhooks && routesAvailable,
        webhookUrl: async () => {
          if (!routesAvailable) return null;
          return buildCallbackUrl({
            ...(def.callbackUrl?.trim() ? { callbackUrl: def.callbackUrl.trim() } : {}),
            deviceHost: host,
            devicePort: port,
            nodeRedPort: Number(RED.settings.uiPort) || 1880,
            httpNodeRoot: typeof httpNodeRoot === "string" ? httpNodeRoot : "/",
            vendor: VENDOR,
            secret,
            channel: CHANNEL_WEBHOOK,
          });
        },
        ownsWebhook: (url) => url.includes(`/smartlocks/${VENDOR}/${secret}/`),
        unknownEvents: bool(def.unknownEvents, false),
        actorName: (def.actorName ?? "").trim() || "Node-RED",
        warn: (message) => node.warn(message),
      });
      node.connection = connection;
      if (webhooks && !routesAvailable) node.warn(RED._("unifi-access.warn.no-http-node"));
      connection.on("status", (value: ConnectionStatus) => users.forEach((user) => user.onStatus(value)));
      connection.on("event", (event: UnifiEvent) => users.forEach((user) => user.onEvent?.(event)));
      if (webhooks && routesAvailable) {
        const registry = inboundRoutes(RED, VENDOR);
        // Per registration, so a failure is reported by the config node that owns the route (not the first one ever made).
        const onError = (err: unknown): void => node.warn(`webhook handling failed: ${toSmartlockError(err).message}`);
        unregisterRoute = registry.register(secret, CHANNEL_WEBHOOK, (request) => {
          const answer = connection.handleWebhook(request.rawBody, request.headers, request.receivedAt);
          if (answer.warning) node.warn(answer.warning);
          return answer.body === undefined ? { status: answer.status } : { status: answer.status, body: answer.body };
        }, { onError });
      }
    }

    const listeners = (): number => [...users].filter((u) => u.onEvent).length;
    node.subscribe = (user: UnifiUser): void => {
      users.add(user);
      if (!node.connection) return;
      user.onStatus(node.connection.status);
      node.connection.wantWebhook(listeners() > 0);
      node.connection.start();
    };
    node.unsubscribe = (user: UnifiUser): void => {
      users.delete(user);
      // The last listener removed (without the config node): its webhook endpoint goes too.
      if (user.onEvent && listeners() === 0) node.connection?.wantWebhook(false);
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      unregisterRoute?.();
      unregisterRoute = null;
      users.clear();
      const closing = node.connection ? node.connection.close() : Promise.resolve();
      closing.catch(() => undefined).then(() => done());
    });
  }

  RED.nodes.registerType("unifi-access-config", UnifiAccessConfig as unknown as Parameters<typeof RED.nodes.registerType>[1], {
    credentials: {
      token: { type: "password" },
      routeSecret: { type: "password" },
    },
  });

  /** Maps the connection state to a node status (green listening, yellow connecting, red with reason). */
  function connectionStatus(value: ConnectionStatus, connectedText: string): NodeStatus {
    switch (value.state) {
      case "connected":
        return status.connected(
          value.learnedFingerprint ? `${connectedText} · ${RED._("unifi-access.status.tofu")} ${shortFingerprint(value.learnedFingerprint)}` : connectedText,
        );
      case "idle":
      case "connecting":
        return status.connecting(RED._("unifi-access.status.connecting"));
      case "reconnecting":
        return status.connecting(RED._("unifi-access.status.reconnecting"));
      case "closed":
        return status.idle(RED._("unifi-access.status.closed"));
      case "pin-mismatch":
        // Both fingerprints (shortened) so the user sees at a glance what was expected and what came.
        return status.error(value.reason ?? "certificate mismatch");
      default:
        return status.error(shortText(value.reason ?? value.state));
    }
  }

  function UnifiAccessEvents(this: Node, def: UnifiEventsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const filter: EventFilter = { devices: toList(def.devices), events: toList(def.events) };
    const config = RED.nodes.getNode(def.config) as UnifiConfigNode | null;
    if (!config) {
      node.status(status.error(RED._("unifi-access.status.no-config")));
      return;
    }
    const wait = Number(def.actorWait);
    const actorWait = Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_ACTOR_WAIT_MS) : 0;
    // The hold merges only the actor; the webhook's detail (credential method, reader) comes along through this.
    const followUpDetail = new Map<string, Detail>();
    const send = (event: UnifiEvent): void => {
      const extra = event.update ? undefined : followUpDetail.get(event.id);
      const out: UnifiEvent = extra ? { ...event, detail: { ...event.detail, ...extra } } : event;
      deliverDoorEvent(node, out);
    };
    // actorWait 0: events at once and a follow-up (update: true) when the webhook's actor comes; > 0: WebSocket
    // unlocks are held up to actorWait ms and sent once, with the actor when it came in time.
    const hold = new ActorHold(actorWait, (event) => send(event as UnifiEvent), (event) => config.expectsActor(event));
    const user: UnifiUser = {
      onStatus: (value) => setListenerStatus(node, connectionStatus(value, RED._("unifi-access.status.listening"))),
      onEvent: (event) => {
        if (!matches(filter, event)) return;
        if (actorWait > 0 && event.update && event.detail) followUpDetail.set(event.id, event.detail);
        try {
          hold.push(event);
        } finally {
          followUpDetail.delete(event.id);
        }
      },
    };
    // Subscribe on the next tick: status set in a constructor never reaches Status nodes.
    const timer = setImmediate(() => {
      if (!config.connection) {
        node.status(status.error(config.problem ?? RED._("unifi-access.status.no-controller")));
        return;
      }
      config.subscribe(user);
    });
    node.on("close", (removed: boolean, done: () => void) => {
      clearImmediate(timer);
      config.unsubscribe(user);
      // Redeploy: what is held goes out now rather than never; removed: nothing more leaves this node.
      if (removed) hold.clear();
      else hold.flush();
      closeListenerOutput(node);
      done();
    });
  }

  RED.nodes.registerType("unifi-access-events", UnifiAccessEvents as unknown as Parameters<typeof RED.nodes.registerType>[1]);

  function UnifiAccessAction(this: Node, def: UnifiActionDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = RED.nodes.getNode(def.config) as UnifiConfigNode | null;
    const confirm = def.confirm !== false && def.confirm !== "false";
    const timeoutSeconds = Number(def.timeout);
    const timeoutMs = (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0 ? timeoutSeconds : 30) * 1000;
    const user: UnifiUser = { onStatus: () => undefined };
    const runner = new ActionRunner(node, VENDOR, {
      noAction: RED._("unifi-access.errors.no-action"),
      noDevice: RED._("unifi-access.errors.no-device"),
      notConfirmed: RED._("unifi-access.status.not-confirmed"),
      notConfirmedWarning: (outcome: ActionOutcome) =>
        RED._("unifi-access.warn.not-confirmed", { action: outcome.action, device: outcome.device, seconds: timeoutMs / 1000 }),
    });

    const timer = setImmediate(() => {
      if (!config) node.status(status.error(RED._("unifi-access.status.no-config")));
      else if (!config.connection) node.status(status.error(config.problem ?? RED._("unifi-access.status.no-controller")));
      else config.subscribe(user);
    });

    node.on("input", (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      let request: { device: string; action: string; minutes?: number };
      try {
        if (!config?.connection) throw new SmartlockError("bad_request", config?.problem ?? RED._("unifi-access.errors.no-controller"));
        request = actionRequest(def, msg.payload);
      } catch (err) {
        done(toSmartlockError(err, "bad_request"));
        return;
      }
      const connection = config.connection;
      const minutes = request.minutes === undefined ? {} : { minutes: request.minutes };
      runner.run(msg, send, done, request, confirm, () => connection.perform(request.device, request.action, { confirm, timeoutMs, ...minutes }));
    });

    node.on("close", (done: () => void) => {
      clearImmediate(timer);
      config?.unsubscribe(user);
      done();
    });
  }

  RED.nodes.registerType("unifi-access-action", UnifiAccessAction as unknown as Parameters<typeof RED.nodes.registerType>[1]);

  /**
   * "Test connection" and the door pickers: the values typed in the config dialog (credentials left untouched fall
   * back to the stored ones of config node `id`), read-only: certificate, doors, devices, webhook endpoints, and a
   * self-test of the webhook URL. Never answers with the token, an endpoint secret or the route secret.
   */
  adminEndpoint(
    RED.httpAdmin as unknown as AdminApp,
    RED.auth.needsPermission as unknown as NeedsPermission,
    { vendor: VENDOR, action: "probe", permission: "unifi-access-config.write" },
    async (body) => {
      const id = typeof body.id === "string" ? body.id : "";
      const stored = ((id ? RED.nodes.getCredentials(id) : undefined) ?? {}) as UnifiCredentials;
      const host = typedSetting(body.host);
      const port = Number(typedSetting(body.port)) || 12445;
      const tls = isTlsMode(body.tls) ? body.tls : "pin";
      const token = typedOrStored(body.token, stored.token);
      const typedSecret = typedOrStored(body.routeSecret, stored.routeSecret);
      // A dialog without a secret yet (the editor makes one on creation) is probed with a throwaway one.
      const secret = isValidRouteSecret(typedSecret) ? typedSecret : generateRouteSecret();
      const callbackBase = typedSetting(body.callbackUrl);
      const deployed = id ? (RED.nodes.getNode(id) as UnifiConfigNode | null) : null;
      let learned: unknown = null;
      try {
        learned = deployed?.context().get(FINGERPRINT_CONTEXT_KEY) ?? null;
      } catch {
        learned = null;
      }
      return probeUnifiAccess({
        host,
        port,
        token,
        tls,
        fingerprint: typedSetting(body.fingerprint),
        learnedFingerprint: typeof learned === "string" ? learned : null,
        webhooks: bool(body.webhooks, true),
        webhookUrl: async () => {
          if (httpNodeRoot === false) return null;
          return buildCallbackUrl({
            ...(callbackBase ? { callbackUrl: callbackBase } : {}),
            deviceHost: host,
            devicePort: port,
            nodeRedPort: Number(RED.settings.uiPort) || 1880,
            httpNodeRoot: typeof httpNodeRoot === "string" ? httpNodeRoot : "/",
            vendor: VENDOR,
            secret,
            channel: CHANNEL_WEBHOOK,
          });
        },
        ownsWebhook: (url) => url.includes(`/smartlocks/${VENDOR}/${secret}/`),
      });
    },
  );


  /** Node settings win where set; otherwise `msg.payload` is "lock" or `{ action, device, minutes }`. */
  function actionRequest(def: UnifiActionDef, payload: unknown): { device: string; action: string; minutes?: number } {
    let action = (def.action ?? "").trim();
    let device = (def.device ?? "").trim();
    let minutesValue: unknown = def.minutes === undefined || def.minutes === "" ? undefined : def.minutes;
    if (typeof payload === "string") {
      if (!action) action = payload.trim();
    } else if (payload && typeof payload === "object") {
      const p = payload as { action?: unknown; device?: unknown; minutes?: unknown };
      if (!action && typeof p.action === "string") action = p.action.trim();
      if (!device && typeof p.device === "string") device = p.device.trim();
      if (minutesValue === undefined && p.minutes !== undefined) minutesValue = p.minutes;
    }
    action = action.toLowerCase();
    if (!action) throw new SmartlockError("bad_request", RED._("unifi-access.errors.no-action"));
    if (!device && needsDoor(action)) throw new SmartlockError("bad_request", RED._("unifi-access.errors.no-device"));
    if (minutesValue === undefined) return { device, action };
    const minutes = parseMinutes(minutesValue);
    if (minutes === null) throw new SmartlockError("bad_request", RED._("unifi-access.errors.bad-minutes"));
    return { device, action, minutes };
  }
};
