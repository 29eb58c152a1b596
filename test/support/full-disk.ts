/**
 * A full disk, for the folder store's tests: a real one cannot be made on these machines without privileges (a small
 * tmpfs or loop mount), so the file system's own ENOSPC is injected where write(2) returns it. The folder store
 * writes through two calls (docs/embedded-store.md, "Cost per operation"): `FileHandle.write` for streams, large
 * objects and `--fsync`, and `fs.writevSync` for small objects; both fail, as both would on a full disk.
 */
// The module object itself (a default import), not a namespace copy of it: the store calls through that object.
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const enospc = (): Error =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });

/**
 * Fails the next write (`once`) or every write until the returned function is called. With `of`, only a write of
 * those bytes fails: a test's own write, not one that a request of an earlier test still has in flight on the server.
 */
export async function fillTheDisk(how: 'once' | 'until-restored', of?: Buffer): Promise<() => void> {
  const probePath = join(tmpdir(), `full-disk-probe-${process.pid}`);
  const probe = await open(probePath, 'w');
  const prototype = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
  await probe.close();
  await fs.promises.rm(probePath, { force: true });
  const originalAsync = prototype.write;
  const originalSync = fs.writevSync;
  // With `once`, one write fails, whichever of the two calls makes it; the next ones are written.
  let failed = false;
  const fail = (written: readonly Buffer[]): boolean => {
    if (of !== undefined && !written.some((chunk) => chunk.includes(of))) return false;
    if (how === 'once' && failed) return false;
    failed = true;
    return true;
  };
  const asyncWrite = jest.spyOn(prototype, 'write').mockImplementation(function (this: unknown, ...args: unknown[]) {
    return fail(args.filter(Buffer.isBuffer)) ? Promise.reject(enospc()) : originalAsync.apply(this, args);
  });
  const syncWrite = jest.spyOn(fs, 'writevSync').mockImplementation((...args: Parameters<typeof fs.writevSync>) => {
    const [, buffers] = args;
    if (fail(buffers.filter(Buffer.isBuffer))) throw enospc();
    return originalSync(...args);
  });
  return () => {
    asyncWrite.mockRestore();
    syncWrite.mockRestore();
  };
}
