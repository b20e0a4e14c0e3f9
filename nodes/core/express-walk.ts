/**
 * Decides whether express's own walk of a request would end at a registry's middleware with nothing acting on the
 * request before it. When it would, the registry answers the callback right where its root capture read the body
 * (RouteRegistry's direct dispatch) instead of letting express walk Node-RED's root app, the editor/admin app
 * (well over 100 layers) and httpNode: measured at about half the CPU of a callback, mostly express's
 * `expressInit`, which swaps the prototypes of req and res in every app it passes (bench/NOTES.md).
 *
 * The answer is computed for every request from the live router stacks, so routes and middleware added or
 * removed at any time (an `http in` node deployed on the same path, httpNodeAuth, another module's middleware)
 * are seen at once. Anything not recognised means "no": the request takes express's way, exactly as before.
 * Only express 4 router layers (what Node-RED 4 and 5 ship) are understood; other routers always take the walk.
 */

/** The parts of an express 4 router layer used here. */
interface Layer {
  handle?: unknown;
  name?: string;
  match?: (path: string) => boolean;
}

/** The parts of an express application used here. */
export interface WalkApp {
  parent?: unknown;
  enabled?(setting: string): boolean;
  mountpath?: unknown;
  _router?: unknown;
  router?: unknown;
}

export interface WalkPlan {
  /** The root app, where the capture runs. */
  root: WalkApp;
  /** The app the registry middleware is mounted on (Node-RED's httpNode), mounted straight on `root`. */
  app: WalkApp;
  /** The registry's middleware, as found in `app`'s router stack. */
  registryHandle: unknown;
  /**
   * Apps that a callback may pass by without them seeing it, each with the app tree it is mounted in on `root`
   * (Node-RED's httpAdmin lives inside the editor-api app, whose editor and admin API have no routes for
   * callbacks). Any other app on the path means "take the walk".
   */
  bypass: readonly WalkApp[];
  /** Root-level middleware known to do nothing for these requests (every registry's own capture). */
  isKnownCapture: (handle: unknown) => boolean;
}

/** Express's own per-app middleware: they only decorate req/res, which the registry does not use. */
const EXPRESS_INTERNALS = new Set(["query", "expressInit"]);
/** Node-RED's 21-httpin.js capture: acts only for `http in` raw-body routes, which live in httpNode's stack. */
const NODE_RED_CAPTURE = "rawBodyCapture";
/** The name express 4 gives the layer of `app.use(path, subApp)`. */
const MOUNTED_APP = "mounted_app";

/**
 * When express, given a request for `pathname` (the full path on the root app, no query string), would reach
 * `plan.registryHandle` with only express internals, known captures and the mounts of `plan.app` and `plan.bypass`
 * apps matching on the way: the apps that walk would pass (root first). Otherwise undefined.
 */
export function walkEndsAtRegistry(plan: WalkPlan, pathname: string): WalkApp[] | undefined {
  const { root, app } = plan;
  if (app.parent !== root) return undefined;
  const appPrefix = mountPrefix(app.mountpath);
  if (appPrefix === undefined || !pathHasPrefix(pathname, appPrefix)) return undefined;
  const rootStack = stackOf(root);
  const appStack = stackOf(app);
  if (rootStack === undefined || appStack === undefined) return undefined;

  // The apps whose mounts may match on the root: ours, and the bypassable ones mounted at a prefix of the path.
  const passed: WalkApp[] = [root];
  for (const bypassed of plan.bypass) {
    const other = mountedOnRoot(bypassed, root);
    if (other === undefined || other === app || passed.includes(other)) continue;
    const prefix = mountPrefix(other.mountpath);
    if (prefix === undefined) return undefined;
    if (pathHasPrefix(pathname, prefix)) passed.push(other);
  }
  passed.push(app);

  let mounts = 0;
  for (const layer of rootStack) {
    const matched = matches(layer, pathname);
    if (matched === undefined) return undefined;
    if (!matched) continue;
    if (EXPRESS_INTERNALS.has(layer.name ?? "") || layer.name === NODE_RED_CAPTURE || plan.isKnownCapture(layer.handle)) continue;
    if (layer.name === MOUNTED_APP) {
      mounts += 1;
      continue;
    }
    return undefined;
  }
  // A mount we cannot attribute (another app on the path) could act on the request.
  if (mounts !== passed.length - 1) return undefined;

  const relative = pathname.slice(appPrefix.length) || "/";
  for (const layer of appStack) {
    const matched = matches(layer, relative);
    if (matched === undefined) return undefined;
    if (layer.handle === plan.registryHandle) return matched ? passed : undefined;
    if (!matched || EXPRESS_INTERNALS.has(layer.name ?? "")) continue;
    // Middleware or a route (an `http in` node on the same path) that express would run first.
    return undefined;
  }
  return undefined;
}

/** `app`, or the ancestor of `app` that is mounted straight on `root`; undefined when `app` is not under `root`. */
function mountedOnRoot(app: WalkApp, root: WalkApp): WalkApp | undefined {
  let current: WalkApp = app;
  for (let depth = 0; depth < 16; depth++) {
    if (current.parent === root) return current;
    const parent = current.parent;
    if (parent === null || (typeof parent !== "function" && typeof parent !== "object")) return undefined;
    current = parent as WalkApp;
  }
  return undefined;
}

/**
 * walkEndsAtRegistry for one route, remembered while the router stacks hold the same layers: a callback
 * route is asked about on every request, and the stacks change only on deploys or when a module adds
 * middleware. Comparing the layers one by one allocates nothing; any added, removed or replaced layer (a mount
 * adds one too) means a fresh analysis.
 */
export class WalkDecision {
  private rootLayers: readonly unknown[] = [];
  private appLayers: readonly unknown[] = [];
  private pathname: string | undefined;
  private passed: WalkApp[] | undefined;

  constructor(private readonly plan: WalkPlan) {}

  get root(): WalkApp {
    return this.plan.root;
  }

  /** See walkEndsAtRegistry. */
  appsPassed(pathname: string): WalkApp[] | undefined {
    const rootStack = stackOf(this.plan.root);
    const appStack = stackOf(this.plan.app);
    if (rootStack === undefined || appStack === undefined) return undefined;
    if (pathname === this.pathname && sameLayers(rootStack, this.rootLayers) && sameLayers(appStack, this.appLayers)) return this.passed;
    this.passed = walkEndsAtRegistry(this.plan, pathname);
    this.pathname = pathname;
    this.rootLayers = rootStack.slice();
    this.appLayers = appStack.slice();
    return this.passed;
  }
}

function sameLayers(current: readonly unknown[], known: readonly unknown[]): boolean {
  if (current.length !== known.length) return false;
  for (let i = 0; i < current.length; i++) if (current[i] !== known[i]) return false;
  return true;
}

/** The router stack of an express 4 app (`_router`; express 5's `router` getter throws in express 4). */
export function stackOf(app: WalkApp): Layer[] | undefined {
  let router: unknown;
  try {
    router = app._router ?? app.router;
  } catch {
    return undefined;
  }
  const stack = (router as { stack?: unknown } | undefined)?.stack;
  return Array.isArray(stack) ? (stack as Layer[]) : undefined;
}

/** express's own matching (its path-to-regexp, case and strict settings); undefined = cannot tell or it throws. */
function matches(layer: Layer, path: string): boolean | undefined {
  if (typeof layer.match !== "function") return undefined;
  try {
    return layer.match(path);
  } catch {
    // A malformed escape in a route parameter: express answers that with an error, not the registry.
    return undefined;
  }
}

/** "/" → "", "/api/" → "/api"; undefined for mounts at patterns or arrays, which are not analysed. */
function mountPrefix(mountpath: unknown): string | undefined {
  if (typeof mountpath !== "string" || /[*?+():[\]]/.test(mountpath)) return undefined;
  return mountpath.replace(/\/+$/, "");
}

/** Whether a mount at `prefix` ("" = the root) matches `pathname`, case-insensitively like express by default. */
function pathHasPrefix(pathname: string, prefix: string): boolean {
  if (prefix === "") return true;
  const head = pathname.slice(0, prefix.length);
  if (head.toLowerCase() !== prefix.toLowerCase()) return false;
  const next = pathname.charAt(prefix.length);
  return next === "" || next === "/";
}
