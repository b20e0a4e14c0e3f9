"use strict";

const assert = require("node:assert/strict");
const {
  generateRouteSecret,
  isValidRouteSecret,
  detectLocalAddress,
  buildCallbackUrl,
  redactUrl,
} = require("../../dist/nodes/core/callback-url");
const { SmartlockError } = require("../../dist/nodes/core/errors");

const SECRET = "k3Y_-abcdefghijklmnopqrs";
const base = {
  deviceHost: "192.168.1.20",
  devicePort: 8080,
  nodeRedPort: 1880,
  httpNodeRoot: "/",
  vendor: "nuki",
  secret: SECRET,
  channel: "bridge",
};

describe("callback URLs", function () {
  describe("route secrets", function () {
    it("are 24 URL-safe characters from 18 random bytes", function () {
      const secrets = new Set();
      for (let i = 0; i < 200; i++) {
        const secret = generateRouteSecret();
        assert.match(secret, /^[A-Za-z0-9_-]{24}$/);
        assert.equal(Buffer.from(secret, "base64url").length, 18);
        assert.equal(encodeURIComponent(secret), secret);
        assert.ok(isValidRouteSecret(secret));
        secrets.add(secret);
      }
      assert.equal(secrets.size, 200);
    });

    it("use the whole base64url alphabet (not a narrower random source)", function () {
      const seen = new Set(Array.from({ length: 400 }, generateRouteSecret).join(""));
      // 64 symbols over 9600 draws: a missing symbol would be a broken generator, not chance
      assert.equal(seen.size, 64);
    });

    it("are valid only with at least 22 base64url characters", function () {
      assert.equal(isValidRouteSecret("a".repeat(22)), true);
      assert.equal(isValidRouteSecret("a".repeat(21)), false);
      assert.equal(isValidRouteSecret(`${"a".repeat(22)}=`), false);
      assert.equal(isValidRouteSecret(`${"a".repeat(22)}/`), false);
      assert.equal(isValidRouteSecret(`${"a".repeat(22)}+`), false);
      assert.equal(isValidRouteSecret(""), false);
      assert.equal(isValidRouteSecret(undefined), false);
      assert.equal(isValidRouteSecret(12345678901234567890123), false);
    });
  });

  describe("buildCallbackUrl", function () {
    it("uses a configured base as it is, with or without a trailing slash", async function () {
      const expected = `http://192.168.1.5:1880/smartlocks/nuki/${SECRET}/bridge`;
      assert.equal(await buildCallbackUrl({ ...base, callbackUrl: "http://192.168.1.5:1880" }), expected);
      assert.equal(await buildCallbackUrl({ ...base, callbackUrl: "http://192.168.1.5:1880/" }), expected);
      assert.equal(await buildCallbackUrl({ ...base, callbackUrl: " http://192.168.1.5:1880// " }), expected);
    });

    it("keeps a path prefix of the configured base and does not add httpNodeRoot to it", async function () {
      const url = await buildCallbackUrl({
        ...base,
        httpNodeRoot: "/api/",
        vendor: "unifi-access",
        channel: "webhook",
        callbackUrl: "https://nr.example.com/api/",
      });
      assert.equal(url, `https://nr.example.com/api/smartlocks/unifi-access/${SECRET}/webhook`);
    });

    it("rejects configured bases that are not http(s) URLs", async function () {
      for (const callbackUrl of ["192.168.1.5:1880", "ftp://x", "http://x:1880/?a=1", "not a url"]) {
        await assert.rejects(buildCallbackUrl({ ...base, callbackUrl }), (error) => {
          assert.ok(error instanceof SmartlockError);
          assert.equal(error.code, "bad_request");
          return true;
        });
      }
    });

    it("rejects an invalid route secret", async function () {
      await assert.rejects(buildCallbackUrl({ ...base, callbackUrl: "http://x", secret: "short" }), { code: "bad_request" });
    });

    it("detects the local address and adds port and httpNodeRoot when no base is configured", async function () {
      for (const [httpNodeRoot, prefix] of [
        ["/", ""],
        ["/api/", "/api"],
        ["/api", "/api"],
      ]) {
        const url = await buildCallbackUrl({ ...base, deviceHost: "127.0.0.1", httpNodeRoot, nodeRedPort: 1881 });
        assert.equal(url, `http://127.0.0.1:1881${prefix}/smartlocks/nuki/${SECRET}/bridge`);
      }
    });

    it("brackets a detected IPv6 address", async function () {
      let url;
      try {
        url = await buildCallbackUrl({ ...base, deviceHost: "::1" });
      } catch (error) {
        if (error.code === "unreachable") this.skip(); // host without IPv6 loopback
        throw error;
      }
      assert.equal(url, `http://[::1]:1880/smartlocks/nuki/${SECRET}/bridge`);
    });

    it("fails with unreachable for a host that does not resolve", async function () {
      await assert.rejects(buildCallbackUrl({ ...base, deviceHost: "no-such-host.invalid" }), { code: "unreachable" });
    });
  });

  describe("detectLocalAddress", function () {
    it("gives 127.0.0.1 for a device on 127.0.0.1", async function () {
      assert.equal(await detectLocalAddress("127.0.0.1", 8080), "127.0.0.1");
    });

    it("rejects an invalid port", async function () {
      await assert.rejects(detectLocalAddress("127.0.0.1", 0), { code: "bad_request" });
    });
  });

  describe("redactUrl", function () {
    it("hides the route secret segment", function () {
      assert.equal(
        redactUrl(`http://192.168.1.5:1880/api/smartlocks/nuki/${SECRET}/bridge`),
        "http://192.168.1.5:1880/api/smartlocks/nuki/***/bridge",
      );
      assert.equal(redactUrl(`/smartlocks/unifi-access/${SECRET}/webhook?x=1`), "/smartlocks/unifi-access/***/webhook?x=1");
      assert.equal(
        redactUrl(`callbacks: http://a/smartlocks/nuki/${SECRET}/bridge, http://b/smartlocks/tedee/other-secret/bridge`),
        "callbacks: http://a/smartlocks/nuki/***/bridge, http://b/smartlocks/tedee/***/bridge",
      );
      assert.equal(redactUrl("http://192.168.1.5:8000/nuki"), "http://192.168.1.5:8000/nuki");
    });

    it("still hides the secret when the configured base path contains /smartlocks/ itself", function () {
      const url = redactUrl(`http://proxy/smartlocks/x/smartlocks/nuki/${SECRET}/bridge`);
      assert.ok(!url.includes(SECRET), url);
      assert.ok(url.endsWith("/***/bridge"), url);
    });
  });
});
