/**
 * Where the decentral webhook's secret survives a restart. Nuki returns the secret once, at registration, and
 * Node-RED's runtime cannot write credentials, so the glue keeps it in the config node's context (persistent
 * when a persistent context store is configured). It is sealed with a key derived from the route secret, a
 * credential: the context viewer or a context file shows ciphertext only. Node-RED deletes a node's context
 * on every close unless a context store is configured, so a process-wide cache (also sealed) carries it over
 * redeploys; after a restart without a persistent store the connection deletes its webhook and registers anew.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

export interface StoredWebhook {
  id: number;
  url: string;
  secret: string;
}

export interface WebhookStore {
  load(): Promise<StoredWebhook | null>;
  save(value: StoredWebhook | null): Promise<void>;
}

function keyOf(routeSecret: string): Buffer {
  return createHash("sha256").update(`smartlocks nuki webhook secret\n${routeSecret}`, "utf8").digest();
}

/** AES-256-GCM; `iv.tag.ciphertext` in base64url. */
export function sealWebhook(value: StoredWebhook, routeSecret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyOf(routeSecret), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
  return [iv, cipher.getAuthTag(), data].map((b) => b.toString("base64url")).join(".");
}

/** null for anything that is not a value sealed with this route secret. */
export function openWebhook(sealed: unknown, routeSecret: string): StoredWebhook | null {
  if (typeof sealed !== "string") return null;
  const parts = sealed.split(".");
  if (parts.length !== 3) return null;
  try {
    const [iv, tag, data] = parts.map((p) => Buffer.from(p, "base64url")) as [Buffer, Buffer, Buffer];
    const decipher = createDecipheriv("aes-256-gcm", keyOf(routeSecret), iv);
    decipher.setAuthTag(tag);
    const value = JSON.parse(Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8")) as Partial<StoredWebhook>;
    if (typeof value.id !== "number" || typeof value.url !== "string" || typeof value.secret !== "string") return null;
    return { id: value.id, url: value.url, secret: value.secret };
  } catch {
    return null;
  }
}

/** An in-memory store (tests, and the fallback when no context is available). */
export function memoryWebhookStore(): WebhookStore {
  let value: StoredWebhook | null = null;
  return {
    load: async () => value,
    save: async (next) => {
      value = next;
    },
  };
}

/** Sealed values by route-secret digest; lives as long as the Node-RED process. */
const processCache = new Map<string, string>();

function cacheKey(routeSecret: string): string {
  return createHash("sha256").update(`cache\n${routeSecret}`, "utf8").digest("base64url");
}

/** `inner` (the node context) first, the process cache when the context lost the value on a redeploy. */
export function processCachedStore(inner: WebhookStore, routeSecret: string): WebhookStore {
  const key = cacheKey(routeSecret);
  return {
    load: async () => (await inner.load()) ?? openWebhook(processCache.get(key), routeSecret),
    save: async (value) => {
      if (value) processCache.set(key, sealWebhook(value, routeSecret));
      else processCache.delete(key);
      await inner.save(value);
    },
  };
}
