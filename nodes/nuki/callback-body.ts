/**
 * The common Nuki Bridge callback without zod: when every field the callback schema knows has its canonical JSON
 * type (integers as numbers, flags as booleans, strings within their length), zod's parse would return an object
 * with exactly the same keys and values, so the parsed JSON is used as it is. Anything else (integers as strings,
 * flags as 0/1, a missing or wrong field) is left to zod, which converts or rejects it. Callbacks arrive for every
 * state change, and zod's parse was the largest single allocation of one (test/unit/nuki-callback-body.spec.js
 * checks the two agree).
 */
import { type CallbackBody, NAME_MAX, TIME_MAX } from "./schemas";

// Optional fields of the callback schema (schemas.ts deviceStateShape), by type; nukiId, deviceType and state are required.
const INTEGERS = ["mode", "batteryChargeState", "doorsensorState"] as const;
const FLAGS = ["batteryCritical", "batteryCharging", "keypadBatteryCritical", "ringactionState"] as const;
const NAMES = ["stateName", "doorsensorStateName"] as const;
const TIMES = ["timestamp"] as const;

const isInteger = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value);
const isShortString = (value: unknown, max: number): boolean => typeof value === "string" && value.length <= max;

/** The body as zod's callbackBodySchema would return it, or undefined when only zod can tell. */
export function canonicalCallbackBody(json: unknown): CallbackBody | undefined {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return undefined;
  const body = json as Record<string, unknown>;
  const { nukiId, deviceType, state, ringactionTimestamp } = body;
  if (!isInteger(nukiId) || nukiId < 0 || nukiId > 0xffffffff) return undefined;
  if (!isInteger(deviceType) || !isInteger(state)) return undefined;
  for (const key of INTEGERS) if (body[key] !== undefined && !isInteger(body[key])) return undefined;
  for (const key of FLAGS) if (body[key] !== undefined && typeof body[key] !== "boolean") return undefined;
  for (const key of NAMES) if (body[key] !== undefined && !isShortString(body[key], NAME_MAX)) return undefined;
  for (const key of TIMES) if (body[key] !== undefined && !isShortString(body[key], TIME_MAX)) return undefined;
  if (ringactionTimestamp !== undefined && ringactionTimestamp !== null && !isShortString(ringactionTimestamp, TIME_MAX)) return undefined;
  return body as CallbackBody;
}
