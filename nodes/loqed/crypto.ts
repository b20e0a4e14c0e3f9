/**
 * LOQED local bridge cryptography (research/loqed-tedee.md 1.3.2-1.3.4, golden vectors in 6.1/6.2):
 * the 53-byte signed `/to_lock` command (HMAC-SHA256 with the key secret), the `HASH` header of webhook
 * management requests, and the `HASH` of incoming bridge webhooks (plain SHA-256 over a concatenation with
 * the bridge key appended last, not an HMAC). Byte buffers throughout: key ids go up to 250, so a
 * character-based encoding (as one public client uses) would break ids >= 128.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** The `/to_lock` action byte. */
export const LOQED_ACTION = { OPEN: 1, DAY_LOCK: 2, NIGHT_LOCK: 3 } as const;
export type LoqedActionCode = (typeof LOQED_ACTION)[keyof typeof LOQED_ACTION];

const PROTOCOL = 2;
const COMMAND_TYPE_NORMAL = 7;
const DEVICE_ID = 1;
export const COMMAND_LENGTH = 53;

export function u64be(value: number | bigint): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(value));
  return buffer;
}

export function u32be(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value >>> 0);
  return buffer;
}

/** Decodes a base64 credential; throws on an empty or non-base64 value so a typo is reported, not signed with. */
export function decodeKey(base64: string, what: string): Buffer {
  const text = base64.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new TypeError(`${what} is not base64`);
  const key = Buffer.from(text, "base64");
  if (key.length === 0) throw new TypeError(`${what} is empty`);
  return key;
}

/**
 * The signed command:
 * message_id u64 = 0 | protocol 2 | command_type 7 | timestamp u64be | HMAC-SHA256(32) | key_id | device_id 1 | action,
 * HMAC over protocol|command_type|timestamp|key_id|device_id|action (13 bytes) with the decoded key secret.
 */
export function buildCommand(keySecret: Buffer, keyId: number, action: LoqedActionCode, unixSeconds: number): Buffer {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 255) throw new RangeError(`key id ${keyId} is not a byte`);
  const head = Buffer.concat([Buffer.from([PROTOCOL, COMMAND_TYPE_NORMAL]), u64be(unixSeconds)]);
  const tail = Buffer.from([keyId, DEVICE_ID, action]);
  const mac = createHmac("sha256", keySecret).update(Buffer.concat([head, tail])).digest();
  return Buffer.concat([u64be(0), head, mac, tail]);
}

/** Standard base64 with padding, the value of `command_signed_base64` (URL-encoded by the HTTP client). */
export function commandBase64(keySecret: Buffer, keyId: number, action: LoqedActionCode, unixSeconds: number): string {
  return buildCommand(keySecret, keyId, action, unixSeconds).toString("base64");
}

export interface DecodedCommand {
  messageId: bigint;
  protocol: number;
  commandType: number;
  timestamp: number;
  hmac: Buffer;
  keyId: number;
  deviceId: number;
  action: number;
}

/** The fields of a 53-byte command (the simulator and tests use it to check what was sent). */
export function decodeCommand(bytes: Buffer): DecodedCommand {
  if (bytes.length !== COMMAND_LENGTH) throw new RangeError(`command is ${bytes.length} bytes, not ${COMMAND_LENGTH}`);
  return {
    messageId: bytes.readBigUInt64BE(0),
    protocol: bytes[8]!,
    commandType: bytes[9]!,
    timestamp: Number(bytes.readBigUInt64BE(10)),
    hmac: bytes.subarray(18, 50),
    keyId: bytes[50]!,
    deviceId: bytes[51]!,
    action: bytes[52]!,
  };
}

/** `HASH` of a management request: hex(sha256(prefix ‖ u64be(timestamp) ‖ bridgeKey)). */
export function managementHash(prefix: Buffer, unixSeconds: number, bridgeKey: Buffer): string {
  return createHash("sha256").update(Buffer.concat([prefix, u64be(unixSeconds), bridgeKey])).digest("hex");
}

/** The prefixes of the three management requests. */
export const managementPrefix = {
  list: (): Buffer => Buffer.alloc(0),
  create: (url: string, flags: number): Buffer => Buffer.concat([Buffer.from(url, "utf8"), u32be(flags)]),
  remove: (id: number): Buffer => u64be(id),
};

/** The headers exactly as the bridge wants them: upper-case names, decimal seconds, lower-case hex. */
export function managementHeaders(prefix: Buffer, unixSeconds: number, bridgeKey: Buffer): Record<string, string> {
  return { TIMESTAMP: String(unixSeconds), HASH: managementHash(prefix, unixSeconds, bridgeKey) };
}

/** `HASH` of an incoming webhook: sha256(rawBody ‖ u64be(timestamp) ‖ bridgeKey). */
export function webhookHash(rawBody: Buffer, unixSeconds: number, bridgeKey: Buffer): Buffer {
  return createHash("sha256").update(Buffer.concat([rawBody, u64be(unixSeconds), bridgeKey])).digest();
}

/** Constant-time comparison of a received hex hash (any case, surrounding blanks ignored). */
export function hashMatches(expected: Buffer, receivedHex: string): boolean {
  const text = receivedHex.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) return false;
  const received = Buffer.from(text, "hex");
  return received.length === expected.length && timingSafeEqual(received, expected);
}
