/**
 * Collapses identical concurrent work: while a promise for a key is pending, asking again for the same key
 * returns that promise instead of starting a second one (an "unlock" pressed twice is sent once).
 */
export class InFlight<T> {
  private readonly pending = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): { promise: Promise<T>; joined: boolean } {
    const existing = this.pending.get(key);
    if (existing) return { promise: existing, joined: true };
    const promise = Promise.resolve()
      .then(work)
      .finally(() => this.pending.delete(key));
    this.pending.set(key, promise);
    return { promise, joined: false };
  }

  get size(): number {
    return this.pending.size;
  }
}
