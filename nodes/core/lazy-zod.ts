/**
 * zod, loaded on first use. Node-RED requires every node set at start-up; `require("zod")` alone costs about
 * 90 ms there and building the schemas another 50 ms, although nothing is validated before the first inbound
 * payload or API answer. So schema modules import zod for types only (`import type { z } from "zod"`), build
 * their schemas inside `lazy(() => ...)` and get the runtime module from `zod()`.
 * test/unit/lazy-loading.spec.js checks that loading the node sets loads no zod.
 */
import { lazy } from "./lazy";

/** The `z` namespace of zod, as `import { z } from "zod"` gives it. */
export type Zod = typeof import("zod").z;

// A plain require: an import would be compiled to a require at the top of this file, i.e. at start-up.
export const zod: () => Zod = lazy(() => (require("zod") as typeof import("zod")).z);
