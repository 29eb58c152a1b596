/**
 * A copy counts only if the file did not change while it was read. `migrate` reads an old fileserver's folder that may
 * still be written (a worker's result rewritten in place): a copy that reads part of the old bytes and part of the
 * new ones stores bytes that never existed (docs/operations.md, "A file that changes during its copy").
 *
 * The file's state is taken before its first read and after its last one: its size, its modification and change
 * times in nanoseconds, and its inode. Every write changes the change time (ctime), which no program can set back, so
 * a write in between is seen unless the file system keeps coarse timestamps and the write falls in the same tick
 * (ext4, XFS and tmpfs keep nanoseconds).
 */
import { stat } from 'node:fs/promises';

/** Copies of one file before it counts as changing too often to be copied now. */
export const COPY_ATTEMPTS = 3;

interface FileState {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
}

/** The file kept changing through every attempt: nothing of it counts as copied. */
export class FileChangedError extends Error {}

async function stateOf(path: string): Promise<FileState> {
  const { size, mtimeNs, ctimeNs, ino, dev } = await stat(path, { bigint: true });
  return { size, mtimeNs, ctimeNs, ino, dev };
}

function same(a: FileState, b: FileState): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev;
}

/** What a copy is told about the file it copies. */
export interface Reading {
  /** The file's size when this attempt began. */
  size: number;
  /**
   * Throws if the file changed since this attempt began; called between reading bytes into memory and writing them,
   * so that bytes read across a change are never written. The attempt is then made again.
   */
  checkpoint(): Promise<void>;
}

/** A change seen by `checkpoint`: this attempt is abandoned, and the copy made again. */
class ChangedMeanwhile extends Error {}

/**
 * Runs `copy` until the file at `path` is the same after it as before it, at most `COPY_ATTEMPTS` times, and returns
 * what the unchanged run returned. A run that fails while the file changes (a stream shorter than its size, a hash
 * that no longer matches) counts as a change too. After a run that wrote and then saw the file change, `undo` gets
 * that run's result, to remove what it wrote: bytes read across a change may never have existed together. Throws
 * `FileChangedError` when every attempt saw a change.
 */
export async function copyUnchanged<T>(
  path: string,
  copy: (reading: Reading) => Promise<T>,
  undo: (result: T) => Promise<void> = async () => {},
): Promise<T> {
  for (let attempt = 1; attempt <= COPY_ATTEMPTS; attempt++) {
    const before = await stateOf(path);
    const unchanged = async (): Promise<boolean> => same(before, await stateOf(path));
    let result: T;
    try {
      result = await copy({
        size: Number(before.size),
        checkpoint: async () => {
          if (!(await unchanged())) throw new ChangedMeanwhile();
        },
      });
    } catch (err) {
      if (err instanceof ChangedMeanwhile || !(await unchanged().catch(() => true))) continue;
      throw err;
    }
    if (await unchanged()) return result;
    await undo(result);
  }
  throw new FileChangedError(
    `it changed while it was being copied, ${COPY_ATTEMPTS} times in a row; nothing of it was stored ` +
      '(run migrate again once nothing writes it)',
  );
}
