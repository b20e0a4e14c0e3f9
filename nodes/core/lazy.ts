/**
 * Memoized construction, for what is costly to load or build and not needed at start-up: Node-RED requires every
 * node set when it starts, so anything built at module load delays it (zod and its schemas, see ./lazy-zod).
 */

/** Runs `build` on the first call only and returns its result on every call. */
export function lazy<T>(build: () => T): () => T {
  let built = false;
  let value: T;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value;
  };
}
