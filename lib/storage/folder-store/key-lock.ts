/**
 * One writer at a time per key: a conditional write checks the stored version and renames its file into place
 * while holding the key, so two create-only writes, or two `If-Match` writes over one version, cannot both succeed
 * (S3 conditional writes). Unconditional writes and deletes hold the key too, so none lands between another
 * writer's check and its rename. A queue per key within this process is enough: the process that holds the folder
 * is its only writer (lib/storage/folder-store/folder.ts).
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async with<T>(key: string, run: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = new Promise<void>((done) => {
      release = done;
    });
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    try {
      return await run();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
