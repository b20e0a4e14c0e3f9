/**
 * Errors that reach users through Catch nodes. `code` is one of the contract's error codes, so flows can
 * branch on `msg.error.code` whatever the vendor.
 */
export const ERROR_CODES = [
  "unauthorized",
  "not_found",
  "busy",
  "offline",
  "bad_request",
  "timeout",
  "unreachable",
  "rejected",
  "unsupported",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class SmartlockError extends Error {
  readonly code: ErrorCode;
  /** HTTP status of the device answer, when there was one. */
  readonly status: number | undefined;
  /** The device's Retry-After (ms) on an error answer, when it sent one (e.g. a cloud rate limit). */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { status?: number; cause?: unknown; retryAfterMs?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SmartlockError";
    this.code = code;
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

export function isSmartlockError(value: unknown): value is SmartlockError {
  return value instanceof SmartlockError;
}

/** Turns anything thrown into a SmartlockError without losing an existing code. */
export function toSmartlockError(value: unknown, fallback: ErrorCode = "unreachable"): SmartlockError {
  if (value instanceof SmartlockError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new SmartlockError(fallback, message, { cause: value });
}
