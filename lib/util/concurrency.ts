/**
 * Runs `work` over `items` with at most `limit` calls in flight, in order of start. The first failure rejects
 * once every started call has settled, so no write is still running when the caller reports the failure.
 */
export async function mapWithLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}

/**
 * Runs `work` over the items of an async iterable with at most `limit` calls in flight, pulling the next item only
 * when a call finishes, so a source of any length (a folder walk, a bucket listing) is never held in memory. Stops
 * taking items once `stopped()` says so; the calls already started finish first. The first failure rejects once
 * every started call has settled.
 */
export async function forEachWithLimit<T>(
  items: AsyncIterable<T>,
  limit: number,
  work: (item: T) => Promise<void>,
  stopped: () => boolean = () => false,
): Promise<void> {
  const iterator = items[Symbol.asyncIterator]();
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && !stopped()) {
      let next: IteratorResult<T>;
      try {
        // An async generator queues concurrent next() calls, so every item goes to exactly one worker.
        next = await iterator.next();
      } catch (error) {
        failure ??= { error };
        return;
      }
      if (next.done) return;
      try {
        await work(next.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  await iterator.return?.(); // closes what a stopped source still holds open (a folder handle)
  if (failure) throw failure.error;
}
