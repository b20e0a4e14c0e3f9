"use strict";
// LOQED protocol units against the research golden vectors (../shared/research/loqed-tedee.md 6.1, 6.2, 6.4).
const assert = require("node:assert/strict");
const http = require("node:http");
const { createHmac } = require("node:crypto");
const crypto = require("../../dist/nodes/loqed/crypto.js");
const { verifyBridgeWebhook, rejectText } = require("../../dist/nodes/loqed/receiver.js");
const { LoqedBridgeClient, triggerBody, ALL_TRIGGERS } = require("../../dist/nodes/loqed/bridge-client.js");

const KEY_SECRET = "SGFsbG8gd2VyZWxk"; // "Hallo wereld"
const BRIDGE_KEY = "Ym9uam91ciBtb25kZQ=="; // "bonjour monde"
const TS = 1700000000;

describe("loqed/crypto: signed /to_lock command (golden 6.1)", () => {
  const secret = crypto.decodeKey(KEY_SECRET, "key secret");
  const vectors = [
    {
      action: 1,
      msg: "0207000000006553f100010101",
      hmac: "45884e02ec3108867f16356c87d50e03ae341104dceafce1d9c888ab1840bd86",
      b64: "AAAAAAAAAAACBwAAAABlU/EARYhOAuwxCIZ/FjVsh9UOA640EQTc6vzh2ciIqxhAvYYBAQE=",
      js: "AAAAAAAAAAACBwAAAABlU%2FEARYhOAuwxCIZ%2FFjVsh9UOA640EQTc6vzh2ciIqxhAvYYBAQE%3D",
    },
    {
      action: 2,
      msg: "0207000000006553f100010102",
      hmac: "a19d118a6664e17039cad844dab52a4baf37aba7acec910fbc5a7f638e37cd21",
      b64: "AAAAAAAAAAACBwAAAABlU/EAoZ0RimZk4XA5ythE2rUqS683q6es7JEPvFp/Y443zSEBAQI=",
      js: "AAAAAAAAAAACBwAAAABlU%2FEAoZ0RimZk4XA5ythE2rUqS683q6es7JEPvFp%2FY443zSEBAQI%3D",
    },
    {
      action: 3,
      msg: "0207000000006553f100010103",
      hmac: "513c18dece9d2d8537689687d6cfbea9292ef071116cbee10298b36263d729fa",
      b64: "AAAAAAAAAAACBwAAAABlU/EAUTwY3s6dLYU3aJaH1s++qSku8HERbL7hApizYmPXKfoBAQM=",
      js: "AAAAAAAAAAACBwAAAABlU%2FEAUTwY3s6dLYU3aJaH1s%2B%2BqSku8HERbL7hApizYmPXKfoBAQM%3D",
    },
  ];

  for (const v of vectors) {
    it(`action ${v.action}: HMAC, 53-byte layout, base64 and query value`, () => {
      const bytes = crypto.buildCommand(secret, 1, v.action, TS);
      assert.equal(bytes.length, 53);
      assert.equal(createHmac("sha256", secret).update(Buffer.from(v.msg, "hex")).digest("hex"), v.hmac);
      assert.equal(bytes.subarray(0, 8).toString("hex"), "0000000000000000", "message id 0");
      assert.equal(bytes[8], 2, "protocol");
      assert.equal(bytes[9], 7, "command type");
      assert.equal(bytes.subarray(10, 18).toString("hex"), "000000006553f100", "timestamp u64 big-endian");
      assert.equal(bytes.subarray(18, 50).toString("hex"), v.hmac);
      assert.deepEqual([...bytes.subarray(50)], [1, 1, v.action], "key id, device id, action");
      assert.equal(crypto.commandBase64(secret, 1, v.action, TS), v.b64);
      assert.equal(encodeURIComponent(v.b64), v.js);
    });
  }

  it("matches the full OPEN command bytes and decodes them back", () => {
    const bytes = crypto.buildCommand(secret, 1, 1, TS);
    assert.equal(
      bytes.toString("hex"),
      "00000000000000000207000000006553f10045884e02ec3108867f16356c87d50e03ae341104dceafce1d9c888ab1840bd86010101",
    );
    const d = crypto.decodeCommand(bytes);
    assert.deepEqual({ ...d, hmac: d.hmac.toString("hex") }, {
      messageId: 0n, protocol: 2, commandType: 7, timestamp: TS, hmac: vectors[0].hmac, keyId: 1, deviceId: 1, action: 1,
    });
  });

  it("writes key ids above 127 as one byte (ids go to 250)", () => {
    const bytes = crypto.buildCommand(secret, 250, 3, TS);
    assert.equal(bytes.length, 53);
    assert.equal(bytes[50], 250);
    assert.throws(() => crypto.buildCommand(secret, 256, 3, TS), RangeError);
  });

  it("refuses keys that are not base64", () => {
    assert.throws(() => crypto.decodeKey("not base64!", "key secret"), /not base64/);
    assert.throws(() => crypto.decodeKey("  ", "key secret"));
  });
});

describe("loqed/crypto: webhook management and incoming hashes (golden 6.2)", () => {
  const key = crypto.decodeKey(BRIDGE_KEY, "bridge key");
  it("GET /webhooks", () => {
    assert.equal(crypto.managementHash(crypto.managementPrefix.list(), TS, key), "16b91b7f340c0cd4e72cf5d2405d530b4a7ca7ddc414cfee98887b9518e0598c");
  });
  it("POST /webhooks with all 9 triggers (511) and the matching body", () => {
    const url = "http://10.0.0.5:8099/webhook/lock1";
    assert.equal(ALL_TRIGGERS, 511);
    assert.equal(crypto.managementHash(crypto.managementPrefix.create(url, 511), TS, key), "8af7db84068792277430e940898c4c367655d52e74085b9901bd3e99c1dc41a4");
    assert.deepEqual(triggerBody(url, 511), {
      url,
      trigger_state_changed_open: 1, trigger_state_changed_latch: 1, trigger_state_changed_night_lock: 1,
      trigger_state_changed_unknown: 1, trigger_state_goto_open: 1, trigger_state_goto_latch: 1,
      trigger_state_goto_night_lock: 1, trigger_battery: 1, trigger_online_status: 1,
    });
    assert.equal(triggerBody(url, 0x18f).trigger_state_goto_open, 0);
    assert.equal(triggerBody(url, 0x18f).trigger_online_status, 1);
  });
  it("DELETE /webhooks/7", () => {
    assert.equal(crypto.managementHash(crypto.managementPrefix.remove(7), TS, key), "45cf08fab64cdf2595f7ff647f8893ffb4389846defa8e9e28762938bf97489d");
  });
  it("incoming webhook HASH", () => {
    const body = Buffer.from('{"requested_state":"NIGHT_LOCK","requested_state_numeric":3,"mac_wifi":"aa","mac_ble":"bb","event_type":"STATE_CHANGED_NIGHT_LOCK","key_local_id":255}');
    assert.equal(crypto.webhookHash(body, TS, key).toString("hex"), "a1caf7ab481834cdcb2f42ffd36e81599091485f39b76f6a88212b443107a4c7");
  });
});

describe("loqed/receiver: verifying incoming bridge webhooks", () => {
  const key = crypto.decodeKey(BRIDGE_KEY, "bridge key");
  const body = Buffer.from('{"requested_state":"NIGHT_LOCK","requested_state_numeric":3,"mac_wifi":"aa","mac_ble":"bb","event_type":"STATE_CHANGED_NIGHT_LOCK","key_local_id":255}');
  const HASH = "a1caf7ab481834cdcb2f42ffd36e81599091485f39b76f6a88212b443107a4c7";
  const verify = (headers, extra = {}) =>
    verifyBridgeWebhook({
      rawBody: body, headers, remoteAddress: "192.168.1.30", bridgeKey: key, nowMs: TS * 1000,
      windowSeconds: 20, allowMissingTimestamp: false, bridgeAddresses: ["192.168.1.30"], ...extra,
    });

  it("accepts the golden delivery, also with upper-case hex and inside the window", () => {
    assert.deepEqual(verify({ timestamp: String(TS), hash: HASH }), { ok: true, signed: true, timestamp: TS, hash: HASH });
    assert.equal(verify({ timestamp: String(TS), hash: HASH.toUpperCase() }).ok, true);
    assert.equal(verify({ timestamp: String(TS), hash: HASH }, { nowMs: TS * 1000 + 19900 }).ok, true);
    assert.equal(verify({ timestamp: String(TS), hash: HASH }, { nowMs: TS * 1000 - 19900 }).ok, true);
  });

  it("rejects stale and future timestamps outside the configurable window", () => {
    assert.deepEqual(verify({ timestamp: String(TS), hash: HASH }, { nowMs: (TS + 21) * 1000 }), { ok: false, reason: "stale", skewSeconds: 21 });
    assert.equal(verify({ timestamp: String(TS), hash: HASH }, { nowMs: (TS - 21) * 1000 }).reason, "stale");
    assert.equal(verify({ timestamp: String(TS), hash: HASH }, { nowMs: (TS + 21) * 1000, windowSeconds: 60 }).ok, true);
    assert.match(rejectText("stale", 20, 21), /20 s/);
  });

  it("rejects a wrong hash, a changed body, a missing hash and a malformed timestamp", () => {
    assert.equal(verify({ timestamp: String(TS), hash: HASH.replace(/^a/, "b") }).reason, "bad-hash");
    assert.equal(verify({ timestamp: String(TS + 1), hash: HASH }).reason, "bad-hash");
    assert.equal(verifyBridgeWebhook({ rawBody: Buffer.concat([body, Buffer.from(" ")]), headers: { timestamp: String(TS), hash: HASH }, remoteAddress: "x", bridgeKey: key, nowMs: TS * 1000, windowSeconds: 20, allowMissingTimestamp: false, bridgeAddresses: [] }).reason, "bad-hash");
    assert.equal(verify({ timestamp: String(TS) }).reason, "missing-hash");
    assert.equal(verify({ timestamp: "17e8", hash: HASH }).reason, "bad-timestamp");
    assert.equal(verify({ timestamp: [String(TS), String(TS)], hash: HASH }).reason, "bad-timestamp");
  });

  it("refuses a missing TIMESTAMP by default, and with the opt-in accepts it only from the bridge's address", () => {
    assert.equal(verify({ hash: HASH }).reason, "missing-timestamp");
    assert.equal(verify({}).reason, "missing-timestamp");
    assert.match(rejectText("missing-timestamp", 20), /TIMESTAMP header missing/);
    assert.deepEqual(verify({ hash: HASH }, { allowMissingTimestamp: true }), { ok: true, signed: false });
    assert.deepEqual(verify({}, { allowMissingTimestamp: true, remoteAddress: "::ffff:192.168.1.30" }), { ok: true, signed: false });
    assert.equal(verify({}, { allowMissingTimestamp: true, remoteAddress: "192.168.1.31" }).reason, "missing-timestamp-foreign-address");
    assert.equal(verify({}, { allowMissingTimestamp: true, remoteAddress: undefined }).reason, "missing-timestamp-foreign-address");
  });
});

describe("loqed/bridge-client on the wire", () => {
  let server;
  let seen;
  let base;
  beforeEach(async () => {
    seen = [];
    server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        seen.push({ method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() });
        res.writeHead(200, { "content-type": "text/html" });
        res.end(req.url === "/webhooks" && req.method === "GET" ? '[{"id":"3","url":"http://x/"}]' : req.url === "/status" ? '{"bolt_state":"day_lock","battery_percentage":"78"}' : "Message resent to the lock");
      });
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    base = { host: "127.0.0.1", port: server.address().port };
  });
  afterEach(() => new Promise((r) => server.close(r)));

  it("sends the golden command as command_signed_base64 and management headers with verbatim names", async () => {
    const client = new LoqedBridgeClient({
      ...base, bridgeKey: crypto.decodeKey(BRIDGE_KEY, "b"), keySecret: crypto.decodeKey(KEY_SECRET, "k"), keyId: 1, now: () => TS, spacingMs: 0,
    });
    await client.command(1);
    const list = await client.webhooks();
    assert.deepEqual(list, [{ id: 3, url: "http://x/" }]);
    await client.addWebhook("http://10.0.0.5:8099/webhook/lock1");
    await client.deleteWebhook(7);
    const status = await client.status();
    assert.equal(status.battery_percentage, 78, "text/html body parsed, numeric string accepted");
    client.close();

    assert.equal(seen[0].url, "/to_lock?command_signed_base64=AAAAAAAAAAACBwAAAABlU%2FEARYhOAuwxCIZ%2FFjVsh9UOA640EQTc6vzh2ciIqxhAvYYBAQE%3D");
    const header = (entry, name) => entry.rawHeaders[entry.rawHeaders.indexOf(name) + 1];
    assert.ok(seen[1].rawHeaders.includes("TIMESTAMP") && seen[1].rawHeaders.includes("HASH"), "upper-case header names");
    assert.equal(header(seen[1], "HASH"), "16b91b7f340c0cd4e72cf5d2405d530b4a7ca7ddc414cfee98887b9518e0598c");
    assert.equal(header(seen[2], "HASH"), "8af7db84068792277430e940898c4c367655d52e74085b9901bd3e99c1dc41a4");
    assert.deepEqual(JSON.parse(seen[2].body), triggerBody("http://10.0.0.5:8099/webhook/lock1", 511));
    assert.equal(seen[3].method, "DELETE");
    assert.equal(seen[3].url, "/webhooks/7");
    assert.equal(header(seen[3], "HASH"), "45cf08fab64cdf2595f7ff647f8893ffb4389846defa8e9e28762938bf97489d");
    assert.equal(header(seen[3], "TIMESTAMP"), String(TS));
  });

  it("re-signs every attempt with the current time", async () => {
    let now = TS;
    const client = new LoqedBridgeClient({ ...base, bridgeKey: null, keySecret: crypto.decodeKey(KEY_SECRET, "k"), keyId: 1, now: () => now++, spacingMs: 0 });
    await client.command(3);
    await client.command(3);
    client.close();
    assert.notEqual(seen[0].url, seen[1].url);
    const decode = (url) => crypto.decodeCommand(Buffer.from(decodeURIComponent(url.split("=")[1]), "base64"));
    assert.equal(decode(seen[0].url).timestamp, TS);
    assert.equal(decode(seen[1].url).timestamp, TS + 1);
  });
});
