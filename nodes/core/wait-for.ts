/**
 * Waits until a condition holds on something that emits change notifications, with a timeout and an abort
 * signal. Used to confirm that a device reached the state an action asked for.
 */
import type { EventEmitter } from "node:events";

export function waitFor(
  emitter: EventEmitter,
  eventName: string,
  check: (...args: unknown[]) => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      emitter.off(eventName, onEvent);
      signal?.removeEventListener("abort", onAbort);
      resolve(value);
    };
    const onEvent = (...args: unknown[]): void => {
      let ok = false;
      try {
        ok = check(...args);
      } catch {
        ok = false;
      }
      if (ok) finish(true);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(false), Math.max(0, timeoutMs));
    emitter.on(eventName, onEvent);
    if (signal?.aborted) finish(false);
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
}
