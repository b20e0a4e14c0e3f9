/**
 * Node set "loqed": registers `loqed-config`, `loqed-events` and `loqed-action`.
 *
 * Node-RED glue only: the LOQED protocol lives in ./loqed/, the vendor-neutral parts in ./core/. The config
 * node owns the bridge connection and both inbound routes (bridge webhooks, cloud webhooks) and shares them
 * with every node that uses it; listeners and actions subscribe and unsubscribe.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { type AdminApp, type NeedsPermission, adminEndpoint, typedOrStored } from "./core/admin-endpoint";
import { buildCallbackUrl, generateRouteSecret, isValidRouteSecret } from "./core/callback-url";
import type { DoorEvent } from "./core/door-event";
import { type ActionOutcome, type ActionRequest, ActionRunner, readActionRequest } from "./glue/action-node";
import { inboundRoutes } from "./glue/inbound-routes";
import { closeListenerOutput, deliverDoorEvent, setListenerStatus } from "./glue/listener-output";
import { SmartlockError, toSmartlockError } from "./core/errors";
import { type EventFilter, matches, toList } from "./core/event-filter";
import { routePath } from "./core/route-registry";
import { type NodeStatus, shortText, status } from "./core/status";
import { DEFAULT_CLOUD_URL } from "./loqed/cloud-client";
import { type LoqedStatus, LoqedConnection } from "./loqed/connection";
import { decodeKey } from "./loqed/crypto";
import { NamedActorHold } from "./loqed/follow-up";
import { MAX_KEY_ID, parseKeyNames } from "./loqed/normalize";
import { probeLoqed } from "./loqed/probe";

interface LoqedConfigDef extends NodeDef {
  host?: string;
  port?: string | number;
  keyId?: string | number;
  lockId?: string;
  cloudUrl?: string;
  callbackUrl?: string;
  timestampWindow?: string | number;
  allowMissingTimestamp?: boolean | string;
  keyNames?: string | Record<string, string>;
}

interface LoqedCredentials {
  bridgeKey?: string;
  keySecret?: string;
  cloudToken?: string;
  routeSecret?: string;
}

interface LoqedUser {
  onEvent?: (event: DoorEvent) => void;
  onStatus: (status: LoqedStatus) => void;
}

interface LoqedConfigNode extends Node<LoqedCredentials> {
  connection: LoqedConnection;
  subscribe(user: LoqedUser): void;
  unsubscribe(user: LoqedUser): void;
}

interface LoqedEventsDef extends NodeDef {
  config: string;
  devices?: string[] | string;
  events?: string[] | string;
  actorWait?: number | string;
}

interface LoqedActionDef extends NodeDef {
  config: string;
  device?: string;
  action?: string;
  confirm?: boolean | string;
  timeout?: number | string;
}

const VENDOR = "loqed";
const DEFAULT_WINDOW_S = 20;
/** The longest actorWait accepted (ms): an event held longer is no longer news. */
const MAX_ACTOR_WAIT_MS = 600_000;

export = function (RED: NodeAPI): void {
  const httpNodeRoot = RED.settings.httpNodeRoot as string | false | undefined;
  const nodeRoot = typeof httpNodeRoot === "string" ? httpNodeRoot : "/";

  function LoqedConfig(this: LoqedConfigNode, def: LoqedConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials: LoqedCredentials = node.credentials ?? {};
    const users = new Set<LoqedUser>();
    const unregister: Array<() => void> = [];
    let secret = credentials.routeSecret?.trim() ?? "";
    if (!isValidRouteSecret(secret)) {
      secret = generateRouteSecret();
      node.warn(RED._("loqed.warn.generated-secret"));
    }
    const key = (value: string | undefined, what: string): Buffer | null => {
      if (!value?.trim()) return null;
      try {
        return decodeKey(value, what);
      } catch {
        node.warn(RED._("loqed.warn.bad-key", { what }));
        return null;
      }
    };
    const host = (def.host ?? "").trim();
    const port = Number(def.port) || 80;
    const keyIdText = String(def.keyId ?? "").trim();
    const keyId = /^\d+$/.test(keyIdText) && Number(keyIdText) <= MAX_KEY_ID ? Number(keyIdText) : null;
    if (keyIdText !== "" && keyId === null) node.warn(RED._("loqed.warn.bad-key-id", { max: MAX_KEY_ID }));
    const windowSeconds = Number(def.timestampWindow);
    const { names, invalid } = parseKeyNames(def.keyNames ?? "");
    if (invalid.length > 0) node.warn(RED._("loqed.warn.bad-key-names", { entries: invalid.join(", ") }));
    const routesAvailable = httpNodeRoot !== false;
    if (!routesAvailable) node.warn(RED._("loqed.warn.no-http-node"));

    const connection = new LoqedConnection({
      host,
      port,
      bridgeKey: key(credentials.bridgeKey, "bridge key"),
      keySecret: key(credentials.keySecret, "key secret"),
      keyId,
      lockId: (def.lockId ?? "").trim(),
      deviceName: def.name?.trim() || null,
      cloudToken: credentials.cloudToken?.trim() ?? "",
      cloudUrl: def.cloudUrl?.trim() || DEFAULT_CLOUD_URL,
      keyNames: names,
      timestampWindowSeconds: Number.isFinite(windowSeconds) && windowSeconds > 0 ? windowSeconds : DEFAULT_WINDOW_S,
      allowMissingTimestamp: def.allowMissingTimestamp === true || def.allowMissingTimestamp === "true",
      callbackUrl: async () => (routesAvailable ? bridgeWebhookUrl(def.callbackUrl, host, port, secret) : null),
      ownsWebhook: (url) => url.includes(`/smartlocks/${VENDOR}/${secret}/`),
      warn: (message) => node.warn(message),
    });
    node.connection = connection;
    connection.on("status", (value: LoqedStatus) => users.forEach((user) => user.onStatus(value)));
    connection.on("event", (event: DoorEvent) => users.forEach((user) => user.onEvent?.(event)));

    if (routesAvailable) {
      const registry = inboundRoutes(RED, VENDOR);
      // Per registration, so a failure is reported by the config node that owns the route (not the first one ever made).
      const onError = (err: unknown): void => node.warn(`webhook handling failed: ${toSmartlockError(err).message}`);
      if (connection.hasBridgeChannel) {
        unregister.push(registry.register(secret, "bridge", (request) => connection.handleBridge(request), { onError }));
      }
      // Cloud webhooks are set up by the user in the LOQED web app, so the route is always there.
      unregister.push(registry.register(secret, "cloud", (request) => connection.handleCloud(request), { onError }));
    }
    cloudUrls.set(node.id, routePath(nodeRoot, VENDOR, secret, "cloud"));

    node.subscribe = (user: LoqedUser): void => {
      users.add(user);
      user.onStatus(connection.status);
      connection.start();
    };
    node.unsubscribe = (user: LoqedUser): void => {
      users.delete(user);
    };

    node.on("close", (_removed: boolean, done: () => void) => {
      for (const remove of unregister.splice(0)) remove();
      cloudUrls.delete(node.id);
      users.clear();
      connection
        .close()
        .catch(() => undefined)
        .then(() => done());
    });
  }

  /** The bridge webhook URL `{callbackUrl}/smartlocks/loqed/{secret}/bridge` (the base detected when empty). */
  function bridgeWebhookUrl(callbackUrl: string | undefined, host: string, port: number, secret: string): Promise<string> {
    return buildCallbackUrl({
      ...(callbackUrl?.trim() ? { callbackUrl: callbackUrl.trim() } : {}),
      deviceHost: host,
      devicePort: port,
      nodeRedPort: Number(RED.settings.uiPort) || 1880,
      httpNodeRoot: nodeRoot,
      vendor: VENDOR,
      secret,
      channel: "bridge",
    });
  }

  /**
   * "Test connection" and the device pickers: the dialog's typed values, password fields left untouched fall
   * back to the stored credentials of config node `id`. Read-only at the bridge; no secret in the answer.
   */
  adminEndpoint(
    RED.httpAdmin as unknown as AdminApp,
    RED.auth.needsPermission as unknown as NeedsPermission,
    { vendor: VENDOR, action: "probe", permission: "loqed-config.write" },
    async (body) => {
      const id = typeof body.id === "string" ? body.id : "";
      const stored = ((id ? RED.nodes.getCredentials(id) : undefined) ?? {}) as LoqedCredentials;
      const text = (value: unknown): string => (typeof value === "string" || typeof value === "number" ? String(value).trim() : "");
      const host = text(body.host);
      const portValue = Number(text(body.port) || 80);
      if (!Number.isInteger(portValue) || portValue < 1 || portValue > 65535) throw new SmartlockError("bad_request", "the port must be a number from 1 to 65535");
      if (host && !/^[A-Za-z0-9.:\-\[\]]+$/.test(host)) throw new SmartlockError("bad_request", "the bridge IP is not a host name or address");
      const keyText = typedOrStored(body.bridgeKey, stored.bridgeKey);
      let bridgeKey: Buffer | null = null;
      if (keyText) {
        try {
          bridgeKey = decodeKey(keyText, "bridge key");
        } catch {
          throw new SmartlockError("bad_request", "the bridge key is not valid base64");
        }
      }
      const secret = typedOrStored(body.routeSecret, stored.routeSecret);
      let callbackUrl: string | null = null;
      let callbackProblem: string | undefined;
      if (httpNodeRoot === false) callbackProblem = RED._("loqed.warn.no-http-node");
      else if (!isValidRouteSecret(secret)) callbackProblem = "no route secret yet: deploy the config node once";
      else if (host) {
        try {
          callbackUrl = await bridgeWebhookUrl(text(body.callbackUrl), host, portValue, secret);
        } catch (err) {
          callbackProblem = toSmartlockError(err).message;
        }
      }
      return probeLoqed({
        host,
        port: portValue,
        bridgeKey,
        lockId: text(body.lockId),
        name: text(body.name) || null,
        callbackUrl,
        ...(callbackProblem ? { callbackProblem } : {}),
        ownsWebhook: (url) => isValidRouteSecret(secret) && url.includes(`/smartlocks/${VENDOR}/${secret}/`),
      });
    },
  );

  /** Cloud webhook path per deployed config node, for the editor's "show" link (admins only). */
  const cloudUrls = new Map<string, string>();
  RED.httpAdmin.get("/smartlocks/loqed/:id/cloud-path", RED.auth.needsPermission("loqed-config.write"), (req, res) => {
    const path = cloudUrls.get(String(req.params.id));
    if (!path) res.status(404).json({ error: "deploy the config node first" });
    else res.json({ path });
  });

  RED.nodes.registerType("loqed-config", LoqedConfig as unknown as Parameters<typeof RED.nodes.registerType>[1], {
    credentials: {
      bridgeKey: { type: "password" },
      keySecret: { type: "password" },
      cloudToken: { type: "password" },
      routeSecret: { type: "password" },
    },
  });

  function listenerStatus(value: LoqedStatus): NodeStatus {
    switch (value.state) {
      case "connected":
        return status.connected(RED._(value.reason === "cloud" ? "loqed.status.listening-cloud" : "loqed.status.listening"));
      case "idle":
      case "connecting":
        return status.connecting(RED._("loqed.status.connecting"));
      case "closed":
        return status.idle(RED._("loqed.status.closed"));
      default:
        return status.error(shortText(value.reason ?? value.state));
    }
  }

  function LoqedEvents(this: Node, def: LoqedEventsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const filter: EventFilter = { devices: toList(def.devices), events: toList(def.events) };
    const config = RED.nodes.getNode(def.config) as LoqedConfigNode | null;
    if (!config?.connection) {
      node.status(status.error(RED._("loqed.status.no-config")));
      return;
    }
    const wait = Number(def.actorWait);
    const actorWait = Number.isFinite(wait) && wait > 0 ? Math.min(wait, MAX_ACTOR_WAIT_MS) : 0;
    const send = (event: DoorEvent): void => deliverDoorEvent(node, event);
    // actorWait 0: events at once and a follow-up (update: true) when the cloud names the key; > 0: bridge
    // events the cloud can still name are held up to that long and sent once.
    const connection = config.connection;
    const hold = new NamedActorHold(actorWait, send, (event) => connection.expectsName(event));
    const user: LoqedUser = {
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
      // Redeployed: what is held goes out now rather than being lost; removed: dropped with the node.
      if (removed) hold.clear();
      else hold.flush();
      closeListenerOutput(node);
      done();
    });
  }

  RED.nodes.registerType("loqed-events", LoqedEvents as unknown as Parameters<typeof RED.nodes.registerType>[1]);

  function LoqedAction(this: Node, def: LoqedActionDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = RED.nodes.getNode(def.config) as LoqedConfigNode | null;
    const confirm = def.confirm !== false && def.confirm !== "false";
    const timeoutSeconds = Number(def.timeout);
    const timeoutMs = (Number.isFinite(timeoutSeconds) && timeoutSeconds > 0 ? timeoutSeconds : 30) * 1000;
    const user: LoqedUser = { onStatus: () => undefined };
    const texts = {
      noAction: RED._("loqed.errors.no-action"),
      noDevice: RED._("loqed.errors.no-action"),
      notConfirmed: RED._("loqed.status.not-confirmed"),
      notConfirmedWarning: (outcome: ActionOutcome) =>
        RED._("loqed.warn.not-confirmed", { action: outcome.action, device: outcome.device, seconds: timeoutMs / 1000 }),
    };
    const runner = new ActionRunner(node, VENDOR, texts);

    if (!config?.connection) node.status(status.error(RED._("loqed.status.no-config")));
    else {
      const timer = setImmediate(() => config.subscribe(user));
      node.on("close", (done: () => void) => {
        clearImmediate(timer);
        config.unsubscribe(user);
        done();
      });
    }

    node.on("input", (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (err?: Error) => void) => {
      let request: ActionRequest;
      try {
        if (!config?.connection) throw new SmartlockError("bad_request", RED._("loqed.errors.no-config"));
        // The device may be omitted: one config node is one lock.
        request = readActionRequest(def, msg.payload, texts, { deviceOptional: true });
      } catch (err) {
        done(toSmartlockError(err, "bad_request"));
        return;
      }
      const connection = config.connection;
      // LOQED's bridge answers 200 to everything: an unconfirmed action fails with `timeout` inside perform.
      runner.run(msg, send, done, request, confirm, () => connection.perform(request.device, request.action, { confirm, timeoutMs }));
    });
  }

  RED.nodes.registerType("loqed-action", LoqedAction as unknown as Parameters<typeof RED.nodes.registerType>[1]);
};
