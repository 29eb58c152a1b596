/**
 * One interleaving of two requests for one submission, injected at the storage boundary (lib/storage/store.ts)
 * instead of hoped for with timing: a store installed with `useStore` that, the first time a request writes a given
 * key, first runs another request to its end, then lets the write go on. The write then meets storage as another
 * request left it, exactly once, on every run.
 *
 * Placed before a request's manifest write, the other request commits between this request's manifest read and its
 * write (the race of docs/design.md, "Archive on upload"); placed before the create-only write of a new path, the
 * other request writes that path first.
 *
 * The store behind decides the conditional writes (`If-Match`, `If-None-Match: *`): the folder store and LocalStack
 * enforce them themselves. s3rver ignores them (README, "Limits"), so on s3rver the hook checks them itself, with a
 * HEAD before the write, as S3 would: nothing else writes these keys meanwhile, so the check is exact here.
 * Install inside a test only, and remove it also when the test fails (`try`/`finally`).
 */
import type { Readable } from 'node:stream';
import type { ObjectStore, PutOptions, UploadStreamOptions } from '../../lib/storage/object-store';
import { PreconditionFailed, store, useStore } from '../../lib/storage/store';

export interface Slip<T> {
  /** What the slipped-in request gave; fails the test if it never ran (the write it waits for never came). */
  outcome(): T;
  /** Puts the store back as it was. */
  remove(): void;
}

export interface SlipOptions {
  /** Check `createOnly` and `ifMatch` here, for a store that ignores them (s3rver). */
  enforceConditions: boolean;
}

/** Runs `other` to its end before the first write of `key` (PutObject or a streamed upload), once. */
export function slipInBeforeWrite<T>(key: string, other: () => Promise<T>, options: SlipOptions): Slip<T> {
  const inner = store();
  let ran: { value: T } | undefined;
  let fired = false;
  const before = async (written: string): Promise<void> => {
    if (fired || written !== key) return;
    // Set before `other` starts: its own writes of `key` pass straight through.
    fired = true;
    ran = { value: await other() };
  };
  const conditionsHold = async (written: string, condition: { createOnly?: boolean; ifMatch?: string }) => {
    if (!options.enforceConditions || (!condition.createOnly && condition.ifMatch === undefined)) return;
    const current = await inner.headObject(written);
    if (condition.createOnly && current) throw new PreconditionFailed(`put ${written}: an object exists`);
    if (condition.ifMatch !== undefined && current?.etag !== condition.ifMatch) {
      throw new PreconditionFailed(`put ${written}: the stored version is ${current?.etag ?? 'none'}`);
    }
  };
  const writes: Pick<ObjectStore, 'putObject' | 'uploadStream'> = {
    async putObject(written: string, body: Buffer, put?: PutOptions) {
      await before(written);
      await conditionsHold(written, put ?? {});
      return inner.putObject(written, body, put);
    },
    async uploadStream(written: string, body: Readable, upload: UploadStreamOptions) {
      await before(written);
      await conditionsHold(written, upload);
      return inner.uploadStream(written, body, upload);
    },
  };
  // Every other call goes to the store itself, with itself as `this` (the folder store is a class).
  const hooked = new Proxy(inner, {
    get(target, property) {
      if (property === 'putObject' || property === 'uploadStream') return writes[property];
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  useStore(hooked);
  return {
    outcome() {
      if (!ran) throw new Error(`Nothing wrote ${key} while the hook was installed: the other request never ran.`);
      return ran.value;
    },
    remove: () => useStore(inner),
  };
}
