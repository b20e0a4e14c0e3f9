"use strict";
// callbackSource "bridge": which peers count as the bridge (stubbed resolver, no network).
const assert = require("node:assert/strict");
const { CallbackSourceCheck, isCallbackSource, normalizeAddress } = require("../../dist/nodes/nuki/callback-source.js");

describe("nuki/callback-source", () => {
  it("normalises addresses: IPv4-mapped IPv6, brackets, zones, case", () => {
    assert.equal(normalizeAddress("::ffff:192.168.1.20"), "192.168.1.20");
    assert.equal(normalizeAddress("::FFFF:127.0.0.1"), "127.0.0.1");
    assert.equal(normalizeAddress("[fe80::1%eth0]"), "fe80::1");
    assert.equal(normalizeAddress("FD00::AB"), "fd00::ab");
    assert.equal(normalizeAddress(undefined), "");
    assert.equal(isCallbackSource("bridge"), true);
    assert.equal(isCallbackSource("any"), true);
    assert.equal(isCallbackSource("lan"), false);
  });

  it("an IP host is compared directly, a mapped IPv6 peer matches its IPv4 host", async () => {
    const check = new CallbackSourceCheck("192.168.1.20", { resolver: () => assert.fail("no lookup for an IP") });
    assert.equal(await check.allows("::ffff:192.168.1.20"), true);
    assert.equal(await check.allows("192.168.1.20"), true);
    assert.equal(await check.allows("192.168.1.21"), false);
    assert.equal(await check.allows(undefined), false);
  });

  it("a name is resolved; a peer it does not resolve to is refused", async () => {
    const lookups = [];
    const resolver = async (host) => {
      lookups.push(host);
      return ["192.168.1.20", "fd00::20"];
    };
    let now = 1_000_000;
    const check = new CallbackSourceCheck("nuki-bridge.lan", { resolver, now: () => now, retryMs: 30_000, ttlMs: 300_000 });
    assert.equal(await check.allows("::ffff:192.168.1.20"), true);
    assert.equal(await check.allows("FD00::20"), true);
    assert.equal(await check.allows("127.0.0.1"), false);
    assert.deepEqual(lookups, ["nuki-bridge.lan"], "cached, a refusal inside retryMs does not resolve again");
    now += 31_000;
    assert.equal(await check.allows("127.0.0.1"), false);
    assert.equal(lookups.length, 2, "a refusal after retryMs resolves again (new DHCP lease)");
  });

  it("follows a new address after re-resolution and refuses everything when the name never resolved", async () => {
    let answer = ["192.168.1.20"];
    let now = 0;
    const moved = new CallbackSourceCheck("bridge.lan", { resolver: async () => answer, now: () => now, retryMs: 10 });
    assert.equal(await moved.allows("192.168.1.20"), true);
    answer = ["192.168.1.77"];
    now += 20;
    assert.equal(await moved.allows("192.168.1.77"), true);
    assert.equal(await moved.allows("192.168.1.20"), false);

    const broken = new CallbackSourceCheck("nowhere.invalid", { resolver: async () => { throw new Error("ENOTFOUND nowhere.invalid"); } });
    assert.equal(await broken.allows("192.168.1.20"), false);
    assert.match(broken.lastError, /ENOTFOUND/);
  });
});
