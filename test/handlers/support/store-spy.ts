/**
 * Watching the calls the handlers make to the storage boundary (lib/storage/store.ts), whichever store is behind it (the
 * folder store or S3), so that "reads nothing" or "writes only the manifest" is checked on every backend. Call inside
 * tests only, and remove what you add, also when a test fails (`try`/`finally`).
 */
import type { ObjectStore } from '../../../lib/storage/object-store';
import { store, useStore } from '../../../lib/storage/store';

export interface StoreCall {
  /** The method of the store, e.g. `putObject`, `uploadStream`, `getObject`, `presignGet`. */
  name: keyof ObjectStore;
  key: string;
}

export interface StoreSpy {
  readonly calls: StoreCall[];
  names(): string[];
  clear(): void;
  remove(): void;
}

/** The store calls that write an object. */
export const STORE_WRITES: readonly string[] = ['putObject', 'uploadStream'];

/** The store calls that ask the store itself (a presigned URL is signed locally and asks nothing). */
export const STORE_REQUESTS: readonly string[] = [
  'putObject',
  'uploadStream',
  'headObject',
  'getObject',
  'listObjects',
  'eachObject',
  'deleteObject',
  'bucketReachable',
];

export function spyOnStore(): StoreSpy {
  const inner = store();
  const calls: StoreCall[] = [];
  const watched = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push({ name: property as keyof ObjectStore, key: String(args[0]) });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  useStore(watched);
  return {
    calls,
    names: () => calls.map((call) => call.name),
    clear: () => {
      calls.length = 0;
    },
    remove: () => useStore(inner),
  };
}

/**
 * Runs `before` (awaited) ahead of every store call the handlers make, e.g. to change storage in the middle of a
 * build. Calls made from inside `before` pass through it too; guard against recursion there. `eachObject` (a
 * generator, not a promise) passes unwatched.
 */
export function beforeStoreCall(before: (call: StoreCall) => Promise<void>): { remove(): void } {
  const inner = store();
  const watched = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'eachObject') return value;
      return async (...args: unknown[]) => {
        await before({ name: property as keyof ObjectStore, key: String(args[0]) });
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  useStore(watched);
  return { remove: () => useStore(inner) };
}
