/** What `fn` throws, or `undefined` if it returns: for asserting on the error itself. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** What `promise` rejects with, or `undefined` if it resolves: for asserting on the error itself. */
export async function thrown(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return undefined;
}
