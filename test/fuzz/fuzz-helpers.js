"use strict";
/**
 * Fuzzing tools for the inbound callback/webhook routes (CONTRACT.md "Inbound routes": 2xx only after
 * verification, 404 unknown secret, 400 malformed, 401 bad signature/timestamp, 413 over 256 KiB, never 5xx,
 * nothing unverified emitted).
 *
 * What is here
 *   - generators (fast-check 4 arbitraries) of hostile bodies: any JSON (fc.json, fc.anything mapped to JSON),
 *     deep nesting, big numbers, odd unicode (lone surrogates as JSON escapes and as raw WTF-8 bytes, overlong
 *     and invalid UTF-8, BOM, NUL, U+2028), duplicate keys built as raw strings, arrays where objects are
 *     expected, truncated JSON, empty bodies; plus `bodyCase` to wrap any of them with a content type;
 *   - `fuzzRoute()`: POSTs every case to an express app (RED.httpNode or a plain app) over one keep-alive
 *     connection pool and checks the contract for each answer; see its comment;
 *   - `describeRouteFuzz(target)`: the whole node-level suite for one vendor route (real config node in
 *     node-red-node-test-helper, its device simulator, >= 10 000 generated bodies, a bad-input corpus, a 1 MiB
 *     body, a trickling body), built from one entry of the vendor table in ./targets.js;
 *   - `xfail()`: a test of a known bug that is reported as pending while the bug is there and fails once the
 *     bug is fixed (so its workaround in the generators gets removed);
 *   - `tagBody()`: inserts `"__fuzzSeq": n` into a JSON object body so every emitted event can be traced back
 *     to the request that caused it (the vendor keeps unknown fields in `raw`).
 *
 * HOW TO ADD A VENDOR (Tedee, LOQED, UniFi Access): add one entry to TARGETS in ./targets.js and a spec
 * test/fuzz/<vendor>.fuzz.spec.js that calls `describeRouteFuzz(TARGETS.<vendor>)` (next to property tests of
 * that vendor's normalizers, like nuki.fuzz.spec.js). An entry has:
 *
 *   {
 *     vendor: "tedee", channel: "bridge",                   // the route: /smartlocks/{vendor}/{secret}/{channel}
 *     nodes: () => require("../../dist/nodes/tedee.js"),    // the node set module
 *     listenerType: "tedee-events",
 *     simulator: async () => ({ port, stop() }),            // optional: the device the config node talks to
 *     config: ({ simPort, callbackBase }) => ({ node, credentials }),   // the config node (routeSecret is added)
 *     ready: ({ sim, messages }) => boolean,                // the config node finished starting (optional)
 *     headers: (bytes, { now, secret }) => ({ ...signature headers }),  // signing of each body; omit if unsigned
 *     model: () => ({                                       // the vendor's own schema as the oracle
 *       accept(bytes) -> { ok: boolean, key?: string },   // would the route take it? key = device (run in order)
 *       predict(bytes, receivedAt) -> ["lock.unlocked", ...] | null,   // events an accepted body must yield;
 *                                       // null = not predicted (only "2xx, and nothing for rejected bodies" is checked)
 *       compare?(configNode) -> void,                                   // optional end-state check (throws)
 *       knownBug?(bytes) -> boolean,     // bodies that hit a known, reported bug: left out (and counted)
 *     }),
 *     valid: fc.Arbitrary<object>,                          // bodies the device really sends (state pushes)
 *     invalid?: fc.Arbitrary<Buffer>,                       // vendor-specific bad bodies, added to the generic ones
 *     corpusDir: path.join(__dirname, "corpus", "tedee"),   // files "<status>-<name>.json|txt|bin" (see loadCorpus)
 *     alsoServes?: ["cloud"],                               // optional: other channels the config node serves (not 404)
 *     settings?: { ... },                                   // optional: Node-RED settings for the run (helper.settings)
 *     tag?: (bytes, seq) => Buffer,                         // optional: replaces tagBody (e.g. to make every body unique)
 *   }
 *
 * `model({ config })` gets the started config node (e.g. to start its mirror from the node's initial state).
 * A tampered body is a 401, except over the size limit (413) or nested too deeply (400: the route's depth check
 * runs before the vendor's handler verifies anything).
 *
 * `headers` is called at send time (fresh timestamps). A signed vendor's `headers` must also be able to produce a bad
 * signature: the suite sends every 17th body with `headers(bytes, { tamper: true })` and expects 401 and no event.
 * `model.predict` is fed the accepted bodies one device (key) at a time, in the order the route saw them.
 */
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const fc = require("fast-check");

// ---- generators ----------------------------------------------------------------------------------------

/** Content types a device or an attacker might send; null = no Content-Type header at all. */
const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json;charset=UTF-16",
  "text/plain",
  "text/plain; charset=iso-8859-1",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/octet-stream",
  "application/xml",
  "*/*",
  "garbage",
  "",
  null,
];

const contentType = () => fc.constantFrom(...CONTENT_TYPES);

/** A single UTF-16 lone surrogate (valid in a JS string, invalid as UTF-8). */
const loneSurrogate = () => fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Strings with odd unicode: any code point, lone surrogates, controls, bidi marks, U+2028, NUL, BOM. */
function oddString(constraints = {}) {
  const unit = fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: loneSurrogate() },
    { weight: 2, arbitrary: fc.constantFrom("\u0000", "\u2028", "\u2029", "\ufeff", "\u202e", "\u200b", "\ufffd", "\u{10ffff}", "😀", "e\u0301", '"', "\\", "/") },
    { weight: 2, arbitrary: fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 1 }) },
  );
  return fc.string({ unit, maxLength: 40, ...constraints });
}

/** Any JSON text (fc.json), also with odd unicode in keys and strings. */
function jsonText() {
  return fc.oneof(fc.json({ maxDepth: 4 }), fc.json({ maxDepth: 3, stringUnit: "binary" }));
}

/** fc.anything() made JSON: undefined/functions drop out, bigint/symbol become strings, -0 stays. */
function anythingAsJson() {
  return fc
    .anything({ maxDepth: 3, withBigInt: true, withBoxedValues: true, withMap: true, withSet: true, withDate: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true })
    .map((value) => {
      try {
        const text = JSON.stringify(value, (_key, v) => (typeof v === "bigint" || typeof v === "symbol" ? String(v) : v));
        return text === undefined ? "null" : text;
      } catch {
        return "null";
      }
    });
}

/** Whether encodeURIComponent can encode it (not with lone surrogates). */
function encodable(text) {
  try {
    encodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}

/** Nesting from a few levels to far beyond any recursion limit (JSON.stringify gives up near 10 000), under 256 KiB. */
function deepNesting() {
  return fc
    .record({
      depth: fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: 1, max: 64 }) },
        { weight: 3, arbitrary: fc.integer({ min: 1000, max: 12000 }) },
        { weight: 1, arbitrary: fc.integer({ min: 20000, max: 40000 }) },
      ),
      kind: fc.constantFrom("array", "object", "mixed"),
      inside: fc.constantFrom("", "1", "null", '"x"'),
    })
    .map(({ depth, kind, inside }) => nested(depth, kind, inside));
}

function nested(depth, kind, inside = "") {
  if (kind === "array") return "[".repeat(depth) + inside + "]".repeat(depth);
  if (kind === "object") return '{"a":'.repeat(depth) + (inside || "1") + "}".repeat(depth);
  let open = "";
  let close = "";
  for (let i = 0; i < depth; i++) {
    if (i % 2) {
      open += '{"k":';
      close = "}" + close;
    } else {
      open += "[";
      close = "]" + close;
    }
  }
  return open + (inside || "0") + close;
}

/** Number literals JSON.parse turns into Infinity, lossy or odd values. */
const BIG_NUMBER_TEXTS = [
  "1e400",
  "-1e400",
  "1e-400",
  "18446744073709551616", // 2^64
  "18446744073709551615",
  "9007199254740993", // 2^53 + 1
  "4294967296", // 2^32
  "4294967295",
  "-0",
  "0.0",
  "1.0",
  "1E2",
  "1e1",
  "123456789012345678901234567890123456789",
  "0.30000000000000004",
  "-9223372036854775808",
];

function bigNumberText() {
  return fc.oneof(
    fc.constantFrom(...BIG_NUMBER_TEXTS),
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  );
}

/** Bodies that are not, or hardly, anything: nothing, whitespace, scalars, empty containers. */
const EMPTY_BODIES = ["", " ", "\n", "\r\n\t ", "null", "{}", "[]", '""', "0", "true", "false", "\ufeff", "\u0000", "{ }", "[{}]"];
const emptyBody = () => fc.constantFrom(...EMPTY_BODIES);

/** A would-be valid object with one more field nested `depth` levels deep (a valid body, a hostile raw). */
function withDeepField(objectArb) {
  return fc
    .tuple(objectArb, fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 64 }) }, { weight: 1, arbitrary: fc.integer({ min: 1000, max: 6000 }) }), fc.constantFrom("array", "object", "mixed"))
    .map(([object, depth, kind]) => {
      const text = JSON.stringify(object);
      return text === "{}" ? text : `${text.slice(0, -1)},"deep":${nested(depth, kind)}}`;
    });
}

/** Depth of nesting of a JSON value (iterative, so it works for any depth). */
function jsonDepth(value) {
  let max = 0;
  const stack = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop();
    if (v === null || typeof v !== "object") continue;
    if (d > max) max = d;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** A JSON object text with each key written twice or more (JSON.parse keeps the last one). */
function withDuplicateKeys(objectArb, valueArb = fc.jsonValue({ maxDepth: 1 })) {
  return fc
    .tuple(objectArb, fc.array(fc.tuple(fc.nat(), valueArb), { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([object, dups, front]) => {
      const entries = Object.entries(object).map(([k, v]) => [k, JSON.stringify(v)]);
      const keys = entries.length ? entries.map(([k]) => k) : ["nukiId"];
      const extra = dups.map(([i, v]) => [keys[i % keys.length], JSON.stringify(v) ?? "null"]);
      const all = front ? [...extra, ...entries] : [...entries, ...extra];
      return `{${all.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
    });
}

/** Arrays and other non-objects where an object is expected, built from a would-be valid object. */
function notAnObject(objectArb) {
  return fc.tuple(objectArb, fc.nat()).map(([object, pick]) => {
    const choices = [[object], [object, object], Object.values(object), Object.entries(object), JSON.stringify(object), [], Object.keys(object)];
    return JSON.stringify(choices[pick % choices.length]);
  });
}

/** A JSON text cut off somewhere (never the full text). */
function truncated(textArb) {
  return fc
    .tuple(textArb, fc.double({ min: 0, max: 1, noNaN: true }))
    .filter(([text]) => text.length > 1)
    .map(([text, at]) => text.slice(0, Math.min(text.length - 1, Math.floor(at * text.length))));
}

/** Byte-level damage: lone surrogates as WTF-8 bytes, overlong and invalid UTF-8, BOMs, UTF-16, NULs. */
const BYTE_PATCHES = [
  [0xed, 0xa0, 0x80], // U+D800 encoded as if it were a code point (WTF-8 / CESU-8)
  [0xed, 0xbf, 0xbf], // U+DFFF likewise
  [0xc0, 0xaf], // overlong "/"
  [0xc0, 0x80], // overlong NUL
  [0xff],
  [0xfe, 0xff],
  [0x80],
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xe2, 0x82], // truncated sequence
  [0x00],
];

function damagedBytes(textArb) {
  return fc
    .tuple(textArb, fc.constantFrom(...BYTE_PATCHES), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom("insert", "bom", "utf16", "replace"))
    .map(([text, patch, at, how]) => {
      const bytes = Buffer.from(text, "utf8");
      if (how === "bom") return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
      if (how === "utf16") return Buffer.from(text, "utf16le");
      const i = Math.floor(at * bytes.length);
      const tail = how === "replace" ? bytes.subarray(Math.min(bytes.length, i + patch.length)) : bytes.subarray(i);
      return Buffer.concat([bytes.subarray(0, i), Buffer.from(patch), tail]);
    });
}

/**
 * A valid object with one thing wrong: a field deleted, set to another type, or set to an odd value.
 * `required` names the fields whose removal makes the body invalid.
 */
function mutated(objectArb) {
  const odd = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    oddString(),
    fc.constantFrom(null, true, false, -1, 0, 1.5, -0, 1e308, -1e308, 2 ** 53 + 2, 2 ** 64, "", "0x10", "1e3", " 1", "NaN", "Infinity", [], {}, [1], { a: 1 }),
  );
  return fc.tuple(objectArb, fc.nat(), odd, fc.boolean()).map(([object, pick, value, remove]) => {
    const keys = Object.keys(object);
    if (keys.length === 0) return object;
    const key = keys[pick % keys.length];
    const copy = { ...object };
    if (remove) delete copy[key];
    else copy[key] = value;
    return copy;
  });
}

/** JSON.stringify with a random layout (compact, pretty, CRLF), so parsers see more than one spelling. */
function serialized(valueArb) {
  return fc.tuple(valueArb, fc.constantFrom(0, 0, 2, "\t", "crlf")).map(([value, space]) => {
    if (space === "crlf") return JSON.stringify(value, null, 1).replace(/\n/g, "\r\n");
    return JSON.stringify(value, null, space);
  });
}

/**
 * The generic hostile bodies, optionally built around a vendor's would-be valid objects. Every case is
 * `{ label, bytes: Buffer, contentType }`.
 */
function hostileBodies(objectArb = fc.object({ maxDepth: 1 })) {
  const asText = (label, arb) => arb.map((text) => ({ label, bytes: Buffer.from(text, "utf8") }));
  const texts = fc.oneof(serialized(objectArb), jsonText());
  return fc
    .tuple(
      fc.oneof(
        { weight: 3, arbitrary: asText("json", jsonText()) },
        { weight: 2, arbitrary: asText("anything", anythingAsJson()) },
        { weight: 1, arbitrary: asText("deep", deepNesting()) },
        { weight: 2, arbitrary: asText("big-number", bigNumberText()) },
        { weight: 1, arbitrary: asText("empty", emptyBody()) },
        { weight: 2, arbitrary: asText("duplicate-keys", withDuplicateKeys(objectArb)) },
        { weight: 2, arbitrary: asText("not-an-object", notAnObject(objectArb)) },
        { weight: 3, arbitrary: asText("truncated", truncated(texts)) },
        { weight: 3, arbitrary: damagedBytes(texts).map((bytes) => ({ label: "damaged-bytes", bytes })) },
        { weight: 3, arbitrary: asText("mutated", serialized(mutated(objectArb))) },
        { weight: 1, arbitrary: asText("deep-field", withDeepField(objectArb)) },
        { weight: 1, arbitrary: asText("odd-string", oddString().map((s) => JSON.stringify(s))) },
      ),
      contentType(),
    )
    .map(([body, type]) => ({ ...body, contentType: type }));
}

/** A would-be valid body as a case with a random (also wrong or missing) content type. */
function bodyCase(valueArb, label = "valid") {
  return fc.tuple(serialized(valueArb), contentType()).map(([text, type]) => ({ label, bytes: Buffer.from(text, "utf8"), contentType: type }));
}

/** n samples of an arbitrary, reproducible with `seed` (printed on failure). */
function sample(arb, n, seed) {
  return fc.sample(arb, { numRuns: n, seed });
}

// ---- request tagging -----------------------------------------------------------------------------------

/**
 * Inserts `"__fuzzSeq": seq` as the first member of a JSON object body (leading whitespace or a UTF-8 BOM
 * allowed). Works on bytes, so damaged bodies stay exactly as damaged. Other bodies are returned unchanged.
 */
function tagBody(bytes, seq) {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  if (bytes[i] !== 0x7b) return bytes;
  let j = i + 1;
  while (j < bytes.length && (bytes[j] === 0x20 || bytes[j] === 0x09 || bytes[j] === 0x0a || bytes[j] === 0x0d)) j++;
  const member = `"__fuzzSeq":${seq}${bytes[j] === 0x7d ? "" : ","}`;
  return Buffer.concat([bytes.subarray(0, i + 1), Buffer.from(member), bytes.subarray(i + 1)]);
}

/** The tag of an event (from `raw`), or undefined. */
function seqOf(event) {
  const raw = event && event.raw;
  return raw && typeof raw === "object" && typeof raw.__fuzzSeq === "number" ? raw.__fuzzSeq : undefined;
}

// ---- transport -----------------------------------------------------------------------------------------

/** Serves `app` (RED.httpNode, an express app, or any (req, res) handler) on a loopback port. */
async function serve(app) {
  const server = http.createServer((req, res) => (typeof app === "function" ? app(req, res) : app.handle(req, res)));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    port: server.address().port,
    base: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * One POST with exactly these bytes and headers (no Content-Type added when `contentType` is null).
 * Resolves { status, text, ms }; a connection the server closed before answering resolves status 0.
 */
function post({ port, agent, path: urlPath, bytes, contentType: type, headers = {}, timeoutMs = 15000 }) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const all = { ...headers, "content-length": String(bytes.length) };
    if (type !== null && type !== undefined) all["content-type"] = type;
    const req = http.request({ host: "127.0.0.1", port, path: urlPath, method: "POST", agent, headers: all }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString("utf8"), ms: Number(process.hrtime.bigint() - started) / 1e6 }),
      );
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error) => resolve({ status: 0, text: String(error.message), ms: Number(process.hrtime.bigint() - started) / 1e6, error }));
    req.end(bytes);
  });
}

/** The same POST through supertest (one connection per request; slower, see the numbers in nuki.fuzz.spec.js). */
async function postSupertest(target, urlPath, { bytes, contentType: type }, headers = {}) {
  const request = require("supertest");
  const started = process.hrtime.bigint();
  let req = request(target).post(urlPath);
  for (const [name, value] of Object.entries(headers ?? {})) req = req.set(name, value);
  if (type !== null && type !== undefined) req = req.set("content-type", type);
  try {
    const res = await req.send(bytes);
    return { status: res.status, text: res.text ?? "", ms: Number(process.hrtime.bigint() - started) / 1e6 };
  } catch (error) {
    return { status: error.status ?? 0, text: String(error.message), ms: Number(process.hrtime.bigint() - started) / 1e6, error };
  }
}

/**
 * Sends `totalBytes` bytes a few at a time (declared Content-Length) and resolves with the status, the time to
 * the answer and whether the server closed the connection.
 */
function postTrickle({ port, path: urlPath, totalBytes = 200, chunk = " ", intervalMs = 100, contentType: type = "application/json" }) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let timer = null;
    let settled = false;
    const req = http.request({
      host: "127.0.0.1",
      port,
      path: urlPath,
      method: "POST",
      agent: false,
      headers: { "content-type": type, "content-length": String(totalBytes) },
    });
    const finish = (status, closed) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      resolve({ status, ms: Date.now() - started, closed });
    };
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => {
        const socket = res.socket;
        if (!socket || socket.destroyed) return finish(res.statusCode, true);
        socket.once("close", () => finish(res.statusCode, true));
        setTimeout(() => finish(res.statusCode, false), 2000).unref();
      });
    });
    req.on("error", (error) => {
      if (error.code === "EPIPE" || error.code === "ECONNRESET") return;
      clearInterval(timer);
      if (!settled) reject(error);
    });
    let sent = 0;
    timer = setInterval(() => {
      if (sent >= totalBytes) return clearInterval(timer);
      const piece = Buffer.from(chunk).subarray(0, totalBytes - sent);
      req.write(piece);
      sent += piece.length;
      if (sent >= totalBytes) req.end();
    }, intervalMs);
  });
}

// ---- fuzzRoute -----------------------------------------------------------------------------------------

function preview(bytes, max = 160) {
  const text = bytes.toString("utf8");
  const shown = text.length > max ? `${text.slice(0, max)}… (${bytes.length} bytes)` : text;
  return JSON.stringify(shown) + (/[\ufffd]/.test(text) ? ` hex ${bytes.subarray(0, 48).toString("hex")}` : "");
}

/** Expected answer → predicate on the status. true = 2xx, false = 4xx, a number = exactly that status. */
function statusMatches(expected, status) {
  if (expected === true || expected === "2xx") return status >= 200 && status < 300;
  if (expected === false || expected === "4xx") return status >= 400 && status < 500;
  return status === expected;
}

/**
 * POSTs every case of `bodies` to `path` on `app` and checks:
 *   - no exception escapes (uncaught exceptions and unhandled rejections while it runs fail it),
 *   - no answer is a 5xx, no request goes unanswered,
 *   - the status is what `expect(case, i)` says: true → 2xx (the vendor schema accepts the body), false → 4xx,
 *     or an exact status,
 *   - with `emitted`: after the last answer, every event `emitted()` returns is attributed (`attribute(event)`,
 *     default: the `__fuzzSeq` tag, see tagBody) to a request that was expected to be accepted; with `predict`
 *     its event names must equal `predict(case, i)` exactly.
 *
 * Options: `app` (an express app or RED.httpNode; or `port` of a server that already serves it), `path` (string
 * or (case, i) → string), `headers` (object or (case, i) → object, e.g. signing), `concurrency` (default 16),
 * `keyOf(case, i)` (requests with the same key are sent one after the other and in a new millisecond each, so
 * the receiver sees them in order; e.g. the device id), `onAnswer(case, i, answer)`, `settleMs`, `transport`
 * ("http": node:http over a keep-alive pool, the default; "supertest": supertest per request, for comparison).
 * Returns { count, ms, perRequestMs, byStatus, answers }. All failures are collected and reported together.
 */
async function fuzzRoute(options) {
  const { bodies, expect } = options;
  const concurrency = options.concurrency ?? 16;
  const served = options.port === undefined ? await serve(options.app) : null;
  const port = options.port ?? served.port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const escaped = [];
  const onUncaught = (error) => escaped.push(error);
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);
  const failures = [];
  const answers = new Array(bodies.length);
  const byStatus = {};
  const busy = new Set();
  const lastDone = new Map();
  const started = Date.now();
  let next = 0;
  const pending = [];

  const take = () => {
    // first a case held back because its key was busy, else the next one
    for (let k = 0; k < pending.length; k++) {
      const i = pending[k];
      const key = options.keyOf?.(bodies[i], i);
      if (key == null || !busy.has(key)) {
        pending.splice(k, 1);
        return i;
      }
    }
    while (next < bodies.length) {
      const i = next++;
      const key = options.keyOf?.(bodies[i], i);
      if (key == null || !busy.has(key)) return i;
      pending.push(i);
    }
    return pending.length ? -1 : undefined;
  };

  const worker = async () => {
    for (;;) {
      const i = take();
      if (i === undefined) return;
      if (i === -1) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const body = bodies[i];
      const key = options.keyOf?.(body, i);
      if (key != null) {
        busy.add(key);
        // a new millisecond per key: receive times (and so event ids) never collide within one device
        while (Date.now() <= (lastDone.get(key) ?? 0)) await new Promise((r) => setImmediate(r));
      }
      const urlPath = typeof options.path === "function" ? options.path(body, i) : options.path;
      const headers = typeof options.headers === "function" ? options.headers(body, i) : options.headers;
      const answer = options.transport === "supertest"
        ? await postSupertest(served ? served.server : `http://127.0.0.1:${port}`, urlPath, body, headers)
        : await post({ port, agent, path: urlPath, bytes: body.bytes, contentType: body.contentType, headers });
      if (key != null) {
        lastDone.set(key, Date.now());
        busy.delete(key);
      }
      answers[i] = answer;
      byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
      const expected = expect(body, i);
      if (answer.status === 0) failures.push(`#${i} ${body.label}: no answer (${answer.text}) for ${preview(body.bytes)}`);
      else if (answer.status >= 500) failures.push(`#${i} ${body.label}: ${answer.status} ${answer.text} for ${preview(body.bytes)}`);
      else if (!statusMatches(expected, answer.status)) {
        failures.push(`#${i} ${body.label}: status ${answer.status} (${answer.text}), expected ${expected === true ? "2xx" : expected === false ? "4xx" : expected} for ${preview(body.bytes)} content-type ${JSON.stringify(body.contentType)}`);
      }
      try {
        options.onAnswer?.(body, i, answer);
      } catch (error) {
        failures.push(`#${i} ${body.label}: ${error.message}`);
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, worker));
    const ms = Date.now() - started;
    if (options.emitted) {
      const events = await settled(options.emitted, options.settleMs ?? 150);
      const attribute = options.attribute ?? seqOf;
      const perRequest = new Map();
      for (const event of events) {
        const i = attribute(event);
        if (i === undefined || bodies[i] === undefined) {
          failures.push(`event ${event.event} of ${event.device && event.device.id} belongs to no request: ${JSON.stringify(event).slice(0, 200)}`);
          continue;
        }
        if (!statusMatches(expect(bodies[i], i), 200)) {
          failures.push(`#${i} ${bodies[i].label}: rejected body (answer ${answers[i]?.status}) emitted ${event.event}: ${preview(bodies[i].bytes)}`);
        }
        if (!perRequest.has(i)) perRequest.set(i, []);
        perRequest.get(i).push(event.event);
      }
      if (options.predict) {
        for (let i = 0; i < bodies.length; i++) {
          if (!statusMatches(expect(bodies[i], i), 200)) continue;
          const predicted = options.predict(bodies[i], i);
          if (predicted === null || predicted === undefined) continue; // not predicted: only "no event for rejected"
          const want = [...predicted].sort();
          const got = [...(perRequest.get(i) ?? [])].sort();
          if (JSON.stringify(want) !== JSON.stringify(got)) {
            failures.push(`#${i} ${bodies[i].label}: events ${JSON.stringify(got)}, expected ${JSON.stringify(want)} for ${preview(bodies[i].bytes)}`);
          }
        }
      }
    }
    for (const error of escaped) failures.unshift(`exception escaped: ${error && error.stack ? error.stack : error}`);
    if (failures.length) {
      assert.fail(`${failures.length} of ${bodies.length} requests broke the contract (first 15):\n  ${failures.slice(0, 15).join("\n  ")}`);
    }
    return { count: bodies.length, ms, perRequestMs: ms / Math.max(1, bodies.length), byStatus, answers };
  } finally {
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onUncaught);
    agent.destroy();
    if (served) await served.close();
  }
}

/** Polls `get()` until its length has not changed for `quietMs`. */
async function settled(get, quietMs = 150, maxMs = 10000) {
  const poll = Math.max(2, Math.min(20, Math.floor(quietMs / 4)));
  const started = Date.now();
  let last = -1;
  let since = Date.now();
  for (;;) {
    const items = get();
    if (items.length !== last) {
      last = items.length;
      since = Date.now();
    } else if (Date.now() - since >= quietMs || Date.now() - started > maxMs) {
      return items;
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}

function waitUntil(check, timeoutMs = 5000, what = "condition") {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const tick = () => {
      let value;
      try {
        value = check();
      } catch (err) {
        return reject(err);
      }
      if (value) return resolve(value);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

// ---- corpus --------------------------------------------------------------------------------------------

const EXT_CONTENT_TYPES = { ".json": "application/json", ".txt": "text/plain", ".bin": null };

/**
 * Files of a corpus directory, named `<status>-<name>.<ext>`: the status the route must answer (`2xx`/`4xx`
 * or an exact status such as 400 or 413) and how the body is sent: .json as application/json, .txt as
 * text/plain, .bin with no Content-Type. The bytes are sent exactly as stored.
 */
function loadCorpus(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((file) => /^(\dxx|\d{3})-.+\.(json|txt|bin)$/.test(file))
    .sort()
    .map((file) => {
      const [, status] = /^(\dxx|\d{3})-/.exec(file);
      const expect = status === "2xx" ? true : status === "4xx" ? false : Number(status);
      return { label: file, name: file.replace(/^(\dxx|\d{3})-/, "").replace(/\.\w+$/, ""), bytes: fs.readFileSync(path.join(dir, file)), contentType: EXT_CONTENT_TYPES[path.extname(file)], expect };
    });
}

// ---- known bugs ----------------------------------------------------------------------------------------

/**
 * A test of a known bug: pending (with the reason) while `fn` fails, a failure once it passes, so that the bug's
 * workaround in the generators is removed when it is fixed.
 */
function xfail(title, reason, fn) {
  it(`KNOWN BUG: ${title}`, async function () {
    try {
      await fn.call(this);
    } catch (error) {
      const lines = String(error.message).split("\n");
      const counterexample = lines.find((line) => line.startsWith("Counterexample:"));
      const why = counterexample ? `${lines[0]}, ${counterexample}` : lines[0];
      this.test.title += ` (${reason}; still failing: ${why.slice(0, 240)})`;
      this.skip();
    }
    assert.fail(`known bug "${title}" is fixed: turn this xfail into a plain it() and drop its workaround in the generators`);
  });
}

// ---- node-level suite for one vendor route ---------------------------------------------------------------

/**
 * The node-level suite for one entry of the vendor table (see the top of this file): the real config node in
 * node-red-node-test-helper with its device simulator, RED.httpNode mounted under a root app after an admin app
 * with body parsers (as red.js does), a listener wired to two helper nodes (so Node-RED clones
 * every message, as with a Debug node next to the consumer), then
 *   - `generated` (default 10 000) bodies: generic hostile ones and the vendor's valid/mutated ones, through
 *     fuzzRoute with the vendor's model as the oracle (status and exact events per request);
 *   - the corpus files, a 1 MiB body (413, declared and chunked), and a body that trickles in slower than the
 *     route's read timeout (408 and the connection closed, not a hang).
 * `extra(context)` may add vendor-specific it()s; context has { RED, helper, target, port, path, messages }.
 */
function describeRouteFuzz(target, { generated = 10000, seed = Number(process.env.FUZZ_SEED) || 0x5eed, extra } = {}) {
  const helper = require("node-red-node-test-helper");
  const { initTestHelper } = require("../helpers/node-red-path");
  const { doorEventSchema } = require("../../dist/nodes/core/door-event-schema");
  initTestHelper(helper);
  const SECRET = target.secret ?? "Fz9_-fuzzfuzzfuzzfuzzFZ0";

  describe(`${target.vendor} ${target.channel} route fuzzing (node-red-node-test-helper + simulator)`, function () {
    this.timeout(60000);
    const context = { target, helper, secret: SECRET, messages: [] };
    let sim = null;
    let served = null;

    before(async function () {
      sim = target.simulator ? await target.simulator() : null;
      if (target.settings) helper.settings(target.settings);
      await new Promise((resolve) => helper.startServer(resolve));
      // Node-RED's layout (red.js): one root app, httpAdmin with its json/urlencoded parsers first, then httpNode
      // mounted at httpNodeRoot "/", so the registry's raw-body capture on the root app is exercised too.
      const express = require("express");
      const root = express();
      const admin = express();
      admin.use(express.json());
      admin.use(express.urlencoded({ extended: true }));
      root.use("/", admin);
      // The callback base must be known before the flow starts: serve the root app first.
      served = await serve((req, res) => root(req, res));
      context.port = served.port;
      context.path = `/smartlocks/${target.vendor}/${SECRET}/${target.channel}`;
      const { node, credentials } = target.config({ simPort: sim && sim.port, callbackBase: served.base, secret: SECRET });
      const flow = [
        { ...node, id: "cfg" },
        // two wires, as with a Debug node next to the real consumer: Node-RED then clones every message
        { id: "ev", type: target.listenerType, config: "cfg", wires: [["out", "out2"]] },
        { id: "out", type: "helper" },
        { id: "out2", type: "helper" },
      ];
      const nodes = target.nodes();
      await helper.load((red) => {
        context.RED = red;
        root.use("/", red.httpNode);
        return nodes(red);
      }, flow, { cfg: { ...credentials, routeSecret: SECRET } });
      helper.getNode("out").on("input", (msg) => context.messages.push(msg));
      unspy(helper, flow.map((n) => n.id));
      if (target.ready) await waitUntil(() => target.ready({ sim, messages: context.messages }), 10000, "the config node to start");
      await settled(() => context.messages, 200);
      context.initial = context.messages.splice(0);
      context.config = helper.getNode("cfg");
      const generatedAt = Date.now();
      context.generated = generate();
      context.generatedMs = Date.now() - generatedAt;
      // The trickling body runs while the other tests do (it takes the route's whole read timeout).
      const { RouteRegistry } = require("../../dist/nodes/core/route-registry");
      context.readTimeoutMs = RouteRegistry.for(context.RED.httpNode, target.vendor).readTimeoutMs;
      const total = 64;
      context.trickle = postTrickle({ port: context.port, path: context.path, totalBytes: total, intervalMs: Math.ceil((context.readTimeoutMs * 2) / total) });
      context.trickle.catch(() => undefined);
    });

    after(async function () {
      await helper.unload();
      await new Promise((resolve) => helper.stopServer(resolve));
      if (target.settings) helper.settings({});
      if (served) await served.close();
      if (sim) await sim.stop();
    });

    /** The generated cases (made in before(): sampling blocks the event loop, which would delay the trickle). */
    function generate() {
      const model = target.model({ config: context.config });
      const hostile = hostileBodies(target.valid);
      let knownBugs = 0;
      const cases = sample(
        fc.oneof(
          { weight: 5, arbitrary: bodyCase(target.valid) },
          { weight: 5, arbitrary: hostile },
          ...(target.invalid ? [{ weight: 1, arbitrary: target.invalid.map((bytes) => ({ label: `${target.vendor}-invalid`, bytes, contentType: "application/json" })) }] : []),
        ),
        Math.ceil(generated * 1.2),
        seed,
      )
        // tagged before the known-bug filter, so the model parses each body once (it memoizes per Buffer)
        .map((c, seq) => ({ ...c, seq, bytes: (target.tag ?? tagBody)(c.bytes, seq) }))
        .filter((c) => !(model.knownBug?.(c.bytes) && ++knownBugs))
        .slice(0, generated);
      assert.equal(cases.length, generated);
      const indexBySeq = new Map(cases.map((c, i) => [c.seq, i]));
      return { model, cases, knownBugs, indexBySeq };
    }

    it(`answers ${generated} generated bodies per the contract and emits exactly the events of the accepted ones`, async function () {
      const { model, cases, knownBugs, indexBySeq } = context.generated;
      const started = Date.now();
      const sign = (c, i) => (target.headers ? target.headers(c.bytes, { now: Date.now(), secret: SECRET, tamper: c.tamper, index: i }) : {});
      if (target.headers) cases.forEach((c, i) => (c.tamper = i % 17 === 0));
      // the oracle: the vendor's schema decides per body; a tampered signature is a 401 whatever the body
      const { DEFAULT_MAX_BYTES } = require("../../dist/nodes/core/route-registry");
      const { jsonTooDeep } = require("../../dist/nodes/core/json-depth");
      const tampered = (c) => (c.bytes.length > DEFAULT_MAX_BYTES ? 413 : jsonTooDeep(c.bytes) ? 400 : 401);
      const verdicts = cases.map((c) => (c.tamper ? { ok: false, status: tampered(c) } : model.accept(c.bytes)));
      const predicted = new Map();
      const eventsSeen = () => context.messages.map((m) => m.payload);
      const result = await fuzzRoute({
        port: context.port,
        path: context.path,
        headers: sign,
        bodies: cases,
        concurrency: 16,
        expect: (c, i) => verdicts[i].status ?? verdicts[i].ok,
        keyOf: (c, i) => (verdicts[i].ok ? (verdicts[i].key ?? "all") : null),
        // the model sees accepted bodies in the receiver's order (one at a time per key)
        onAnswer: (c, i, answer) => {
          if (verdicts[i].ok && answer.status >= 200 && answer.status < 300) predicted.set(i, model.predict(c.bytes, Date.now()));
        },
        emitted: eventsSeen,
        attribute: (event) => indexBySeq.get(seqOf(event)),
        predict: (c, i) => (predicted.has(i) ? predicted.get(i) : []),
      });
      const accepted = verdicts.filter((v) => v.ok).length;
      // bodies that changed state: as predicted, or (for a model that does not predict) as seen
      const seenSeqs = new Set(context.messages.map((m) => indexBySeq.get(seqOf(m.payload))));
      const withEvents = [...predicted.entries()].filter(([i, names]) => (names === null ? seenSeqs.has(i) : names.length > 0)).length;
      for (const msg of context.messages) {
        const parsed = doorEventSchema.safeParse(msg.payload);
        assert.ok(parsed.success, `event breaks the schema: ${parsed.error && JSON.stringify(parsed.error.issues).slice(0, 300)}`);
        assert.equal(msg.topic, `${msg.payload.vendor}/${msg.payload.device.id}/${msg.payload.event}`);
      }
      model.compare?.(context.config);
      // the oracle must not be vacuous: plenty of bodies accepted, plenty rejected, plenty of real events
      assert.ok(accepted > generated * 0.25, `only ${accepted} accepted`);
      assert.ok(generated - accepted > generated * 0.25, `only ${generated - accepted} rejected`);
      assert.ok(withEvents > generated * 0.05, `only ${withEvents} bodies changed state`);
      this.test.title += ` [generated in ${context.generatedMs} ms, sent in ${result.ms} ms (${result.perRequestMs.toFixed(2)} ms/request), checked in ${Date.now() - started - result.ms} ms; statuses ${JSON.stringify(result.byStatus)}, ${accepted} accepted, ${withEvents} changed state, ${context.messages.length} events, ${knownBugs} left out (known bug)]`;
      context.messages.length = 0;
    });

    const corpus = loadCorpus(target.corpusDir);
    if (corpus.length) {
      it(`answers the ${corpus.length} corpus bodies as their file names say and emits nothing for the rejected ones`, async function () {
        const port = context.port;
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const failures = [];
        context.corpus = {};
        try {
          for (const c of corpus) {
            const before = context.messages.length;
            const headers = target.headers ? target.headers(c.bytes, { now: Date.now(), secret: SECRET }) : {};
            const answer = await post({ port, agent, path: context.path, bytes: c.bytes, contentType: c.contentType, headers });
            const events = (await settled(() => context.messages, 25)).slice(before).map((m) => m.payload);
            context.corpus[c.name] = { status: answer.status, events };
            if (!statusMatches(c.expect, answer.status) || answer.status >= 500) failures.push(`${c.label}: ${answer.status} ${answer.text}`);
            if (events.length && !statusMatches(c.expect, 200)) failures.push(`${c.label}: rejected, yet emitted ${events.map((e) => e.event)}`);
          }
        } finally {
          agent.destroy();
        }
        assert.deepEqual(failures, []);
      });
    }

    it("accepts a valid body of exactly the size limit and answers 413 one byte over it", async function () {
      const { DEFAULT_MAX_BYTES } = require("../../dist/nodes/core/route-registry");
      const limit = DEFAULT_MAX_BYTES;
      const valid = sample(target.valid.filter((v) => !target.model({ config: context.config }).knownBug?.(Buffer.from(JSON.stringify(v)))), 1, seed + 1)[0];
      const padded = (size) => {
        const bare = JSON.stringify({ ...valid, pad: "" });
        return Buffer.from(JSON.stringify({ ...valid, pad: "x".repeat(size - bare.length) }));
      };
      const sign = (bytes) => (target.headers ? target.headers(bytes, { now: Date.now(), secret: SECRET }) : {});
      for (const [size, want] of [[limit, 200], [limit + 1, 413]]) {
        const bytes = padded(size);
        assert.equal(bytes.length, size);
        const answer = await post({ port: context.port, agent: false, path: context.path, bytes, contentType: "application/json", headers: sign(bytes) });
        assert.ok(want === 200 ? answer.status >= 200 && answer.status < 300 : answer.status === want, `${size} bytes: ${answer.status}`);
      }
    });

    it("answers 404 to valid bodies for near-miss secrets and other channels, and emits nothing", async function () {
      const before = context.messages.length;
      const nearMiss = fc.oneof(
        fc.nat({ max: SECRET.length - 1 }).map((i) => SECRET.slice(0, i) + (SECRET[i] === "A" ? "B" : "A") + SECRET.slice(i + 1)),
        fc.nat({ max: SECRET.length - 1 }).map((i) => SECRET.slice(0, i)),
        fc.string({ minLength: 1, maxLength: 3 }).map((tail) => SECRET + tail),
        fc.constant(SECRET.toLowerCase()),
        fc.constant(SECRET.toUpperCase()),
        oddString({ minLength: 1 }),
      ).filter((secret) => secret !== SECRET && secret !== "" && encodable(secret));
      const probes = sample(fc.tuple(nearMiss, fc.constantFrom(target.channel, "web", "cloud", "webhook", "x", target.channel.toUpperCase()), serialized(target.valid)), 300, seed + 2);
      const cases = probes.map(([secret, channel, text], i) => {
        // every fifth probe: the right secret on another channel
        const right = i % 5 === 0 && channel !== target.channel && !(target.alsoServes ?? []).includes(channel);
        const used = right ? SECRET : secret;
        return { label: `secret ${JSON.stringify(used)} channel ${channel}`, path: `/smartlocks/${target.vendor}/${encodeURIComponent(used)}/${encodeURIComponent(channel)}`, bytes: tagBody(Buffer.from(text), i), contentType: "application/json" };
      });
      await fuzzRoute({ port: context.port, path: (c) => c.path, bodies: cases, headers: (c) => (target.headers ? target.headers(c.bytes, { now: Date.now(), secret: SECRET }) : {}), expect: () => 404, emitted: () => context.messages.slice(before) });
      assert.equal(context.messages.length, before);
    });

    it("answers 413 to a 1 MiB body, declared or chunked, and emits nothing", async function () {
      const before = context.messages.length;
      const valid = sample(target.valid, 1, seed)[0];
      const text = JSON.stringify({ ...valid, pad: "x".repeat(1024 * 1024) });
      const declared = await post({ port: context.port, agent: false, path: context.path, bytes: Buffer.from(text), contentType: "application/json" });
      // closing early is allowed (status 0 = reset while we were still sending), a 2xx or 5xx is not
      assert.ok(declared.status === 413 || declared.status === 0, `declared 1 MiB: ${declared.status}`);
      assert.equal(await postChunkedStatus(context.port, context.path, Buffer.from(text)), 413);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(context.messages.length, before);
    });

    it("answers 408 and closes the connection when a body trickles in slower than the read timeout (started in before())", async function () {
      const limit = context.readTimeoutMs;
      assert.ok(limit > 0 && limit <= 30000, `read timeout ${limit}`);
      this.timeout(limit + 20000);
      const { status, ms, closed } = await context.trickle;
      assert.equal(status, 408);
      assert.ok(closed, "connection closed");
      // late by what the other tests kept the event loop busy with, but never Node's own 300 s requestTimeout
      assert.ok(ms >= limit - 50 && ms < limit + 15000, `answered after ${ms} ms (limit ${limit})`);
      this.test.title += ` [${ms} ms]`;
    });

    if (extra) extra(context);
  });
}

/**
 * The test helper wraps node.status/warn/send/... (on Node.prototype) and RED.log.log in sinon spies that record
 * every call; over 10 000 requests that costs more than the requests. The fuzz flow's nodes get the plain methods
 * back as own properties, and the log its plain function until helper.unload() restores the sandbox (nothing here
 * asserts on those spies).
 */
function unspy(helper, ids) {
  for (const id of ids) {
    const node = helper.getNode(id);
    if (!node) continue;
    for (const method of ["log", "status", "warn", "error", "debug", "trace", "send"]) {
      const original = node[method] && node[method].wrappedMethod;
      if (typeof original === "function") node[method] = original;
    }
  }
  // ...and RED.log.log, spied by the helper too, which gets a metric event per message sent and received
  const { requireNodeRed } = require("../helpers/node-red-path");
  const log = requireNodeRed("@node-red/util").log;
  if (log.log === helper.log() && typeof log.log.wrappedMethod === "function") log.log = log.log.wrappedMethod;
}

/** POSTs with chunked transfer encoding (no Content-Length) and resolves the status (0 = reset before answer). */
function postChunkedStatus(port, urlPath, bytes) {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path: urlPath, method: "POST", agent: false, headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", () => resolve(0));
    for (let i = 0; i < bytes.length; i += 16384) req.write(bytes.subarray(i, i + 16384));
    req.end();
  });
}

module.exports = {
  CONTENT_TYPES,
  BIG_NUMBER_TEXTS,
  EMPTY_BODIES,
  contentType,
  loneSurrogate,
  oddString,
  jsonText,
  anythingAsJson,
  deepNesting,
  nested,
  bigNumberText,
  emptyBody,
  withDuplicateKeys,
  withDeepField,
  jsonDepth,
  encodable,
  notAnObject,
  truncated,
  damagedBytes,
  mutated,
  serialized,
  hostileBodies,
  bodyCase,
  sample,
  tagBody,
  seqOf,
  serve,
  post,
  postTrickle,
  postChunkedStatus,
  fuzzRoute,
  settled,
  waitUntil,
  loadCorpus,
  xfail,
  describeRouteFuzz,
  preview,
};
