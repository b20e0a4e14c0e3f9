/**
 * The one place where the vendor node sets get their RouteRegistry from Node-RED: httpNode with the configured
 * httpNodeRoot, and the decision which of Node-RED's apps a device callback may pass by.
 *
 * Callbacks are answered directly from the registry's root capture whenever express's walk would end at the
 * registry anyway (core/express-walk.ts). In Node-RED's default layout httpAdmin shares the root "/" with
 * httpNode, so that walk also passes the editor and admin API: their CORS headers, body parsers and hundred-odd
 * editor routes do nothing for a device, yet cost about half of a callback's CPU (bench/NOTES.md). The admin app is
 * passed by, unless `httpAdminMiddleware` is set: that is the user's own code and Node-RED runs it for every
 * request on the admin root, so callbacks keep going through it. httpNodeAuth and anything else on the path always
 * apply (the walk is taken then).
 */
import type { NodeAPI } from "node-red";
import { type HttpApp, RouteRegistry } from "../core/route-registry";

/** The registry of `vendor` on Node-RED's httpNode (the same one for every config node of that vendor). */
export function inboundRoutes(RED: NodeAPI, vendor: string): RouteRegistry {
  const httpNodeRoot = RED.settings.httpNodeRoot as unknown;
  const admin = RED.httpAdmin as unknown as HttpApp | undefined;
  const bypassApps = admin !== undefined && !RED.settings.httpAdminMiddleware ? [admin] : [];
  return RouteRegistry.for(RED.httpNode as unknown as HttpApp, vendor, {
    httpNodeRoot: typeof httpNodeRoot === "string" ? httpNodeRoot : "/",
    bypassApps,
  });
}
