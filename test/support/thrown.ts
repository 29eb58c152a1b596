/** What `fn` throws, or `undefined` if it returns: for asserting on the error itself. */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
