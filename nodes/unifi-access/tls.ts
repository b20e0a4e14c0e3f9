/**
 * TLS policy for the controller's port 12445, whose certificate is self-generated per install (research §1.5).
 *
 *   pin      compare the SHA-256 fingerprint of the controller's certificate with the configured one; with none
 *            configured, trust on first use (the caller stores and shows the fingerprint).
 *   verify   ordinary verification against the system CAs (for a certificate the user installed on the controller).
 *   insecure no verification at all.
 *
 * Why a probe: Node calls `checkServerIdentity` only after OpenSSL accepted the chain, and a self-signed certificate
 * is refused before that (with rejectUnauthorized:false the hook is never called). So `pin` first reads the presented
 * certificate over a TLS connection that sends no application data, compares its fingerprint, and then trusts exactly
 * that certificate (`ca`) for the real connections, whose `checkServerIdentity` compares the fingerprint again. A
 * changed certificate therefore fails inside the TLS handshake, before any HTTP request or Authorization header.
 */
import { X509Certificate, createHash } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import tls from "node:tls";
import type { TlsOptions } from "../core/http-client";
import { SmartlockError } from "../core/errors";

export type TlsMode = "pin" | "verify" | "insecure";

export function isTlsMode(value: unknown): value is TlsMode {
  return value === "pin" || value === "verify" || value === "insecure";
}

/** "ab:CD:…" or "abcd…" (64 hex digits) → "ABCD…"; null when it is not a SHA-256 fingerprint. */
export function normalizeFingerprint(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const hex = value.replace(/[\s:]/g, "").toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? hex : null;
}

/** "ABCD…" → "AB:CD:…", the form browsers and openssl show. */
export function formatFingerprint(hex: string): string {
  return (hex.match(/.{2}/g) ?? []).join(":");
}

/** A short form for status texts: the first 8 hex digits. */
export function shortFingerprint(hex: string): string {
  return `${hex.slice(0, 8)}…`;
}

export function fingerprintOfDer(der: Buffer): string {
  return createHash("sha256").update(der).digest("hex").toUpperCase();
}

function fingerprintOfPeer(cert: PeerCertificate): string | null {
  if (cert?.raw && Buffer.isBuffer(cert.raw)) return fingerprintOfDer(cert.raw);
  return normalizeFingerprint(cert?.fingerprint256);
}

/** The certificate presented on a pinned connection is not the pinned one. */
export class PinMismatchError extends SmartlockError {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      "rejected",
      `The controller's certificate (SHA-256 ${formatFingerprint(actual)}) does not match the pinned fingerprint ` +
        `${formatFingerprint(expected)}; the connection was refused before the token was sent. If the controller's ` +
        "certificate was replaced on purpose, put the new fingerprint into the config node.",
    );
    this.name = "PinMismatchError";
  }
}

export interface ProbedCertificate {
  fingerprint: string;
  pem: string;
}

/** Reads the certificate the controller presents. Sends no application data; closes at once. */
export function probeCertificate(host: string, port: number, timeoutMs = 10_000): Promise<ProbedCertificate> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = tls.connect({ host, port, rejectUnauthorized: false, ...(isIpLiteral(host) ? {} : { servername: host }) });
    const finish = (error: Error | null, result?: ProbedCertificate): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(result as ProbedCertificate);
    };
    const timer = setTimeout(
      () => finish(new SmartlockError("timeout", `TLS handshake with ${host}:${port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      if (!cert?.raw) {
        finish(new SmartlockError("unreachable", `${host}:${port} presented no certificate`));
        return;
      }
      const pem = new X509Certificate(cert.raw).toString();
      finish(null, { fingerprint: fingerprintOfDer(cert.raw), pem });
    });
    socket.once("error", (err: NodeJS.ErrnoException) =>
      finish(new SmartlockError("unreachable", `cannot reach ${host}:${port}: ${err.message}${err.code ? ` (${err.code})` : ""}`, { cause: err })),
    );
  });
}

/**
 * Options for https/ws that accept only the certificate with this fingerprint: it is the only trust anchor, and
 * the identity check compares the fingerprint (instead of the host name, which the per-install certificate of a
 * controller reached by IP never matches).
 */
export function pinnedTlsOptions(pem: string, fingerprint: string): TlsOptions {
  return {
    ca: pem,
    rejectUnauthorized: true,
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      const actual = fingerprintOfPeer(cert);
      if (actual === fingerprint) return undefined;
      return new PinMismatchError(fingerprint, actual ?? "unknown");
    },
  };
}

export function tlsOptionsFor(mode: Exclude<TlsMode, "pin">): TlsOptions {
  return mode === "verify" ? { rejectUnauthorized: true } : { rejectUnauthorized: false };
}

/** TLS failures that mean "this is not the certificate we trust" (as opposed to a network problem). */
export function isCertificateError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === "object" && !seen.has(current)) {
    seen.add(current);
    if (current instanceof PinMismatchError) return true;
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === "string" && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/.test(code)) return true;
    if (typeof message === "string" && /self[- ]signed certificate|certificate (has expired|is not yet valid)|unable to verify|does not match the pinned/i.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function isIpLiteral(host: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(":");
}
