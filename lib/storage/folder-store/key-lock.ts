/**
 * One writer at a time per key: a conditional write checks the stored version and renames its file into place
 * while holding the key, so two create-only writes, or two `If-Match` writes over one version, cannot both succeed
 * (S3 conditional writes). Unconditional writes and deletes hold the key too, so none lands between another
 * writer's check and its rename.
 */
import { createHash } from 'node:crypto';
import { linkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageUnavailableError } from '../../errors';
import { errnoOf } from './fs-errors';

export interface KeyLock {
  with<T>(key: string, run: () => Promise<T>): Promise<T>;
}

/** Within this process: a queue per key. Enough when this process is the folder's only writer. */
export class KeyLocks implements KeyLock {
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

/** How long a writer waits for a key another process holds before it answers 503 (a retry may then succeed). */
const WAIT_LIMIT_MS = 10_000;
const FIRST_RETRY_MS = 1;
const LAST_RETRY_MS = 25;

/**
 * Across the worker processes of one folder (docs/embedded-store.md, "Several processes"): the in-process queue,
 * then a lock file per key, `locks/<SHA-256 of the key>`, removed after the rename. It is made as a hard link to this
 * process's holder file `locks/holder-<pid>` (which holds the pid): link(2) fails with EEXIST when the name exists, so
 * exactly one process gets the key, and the lock names its holder from the moment it exists (a lock created empty
 * and then written would name nobody if its process died in between). The folder's owner removes the locks of a
 * worker that died holding them (`clearKeyLocksOf`) and empties the folder when it opens the store. A writer that
 * finds a key held retries, briefly at first. Cost per write: one link and one unlink, synchronous, about 12 µs of CPU
 * with the key's hash (`npm run bench:store -- --locks-only`), less than an event-loop round trip of fs/promises.
 */
export class FileKeyLocks implements KeyLock {
  private readonly local = new KeyLocks();
  private readonly holder: string;

  constructor(private readonly folder: string) {
    this.holder = join(folder, `holder-${process.pid}`);
    writeFileSync(this.holder, String(process.pid), { mode: 0o600 });
  }

  with<T>(key: string, run: () => Promise<T>): Promise<T> {
    return this.local.with(key, async () => {
      const path = join(this.folder, createHash('sha256').update(key).digest('hex'));
      await this.take(path, key);
      try {
        return await run();
      } finally {
        unlinkSync(path);
      }
    });
  }

  /** This process writes no more: its holder file goes (its locks are all released). */
  close(): void {
    rmSync(this.holder, { force: true });
  }

  private async take(path: string, key: string): Promise<void> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (let wait = FIRST_RETRY_MS; ; wait = Math.min(wait * 2, LAST_RETRY_MS)) {
      try {
        linkSync(this.holder, path);
        return;
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw err;
      }
      if (Date.now() > deadline) {
        throw new StorageUnavailableError(`The key ${key} is held by another writer; retry the request.`);
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
