/**
 * What the file system's failures mean to a client of the folder store: a full disk is a 507 that names it, a
 * transient shortage (file descriptors, I/O) a 503 worth retrying, and a path the file system cannot hold a 400.
 * Anything else is unexpected and stays as it is (a logged 500). None of them stops the process.
 */
import { BadRequestError, InsufficientStorageError, StorageUnavailableError } from '../../errors';

const FULL = new Set(['ENOSPC', 'EDQUOT']);
const TRANSIENT = new Set(['EMFILE', 'ENFILE', 'EIO', 'EAGAIN', 'EBUSY', 'ENOMEM', 'ETIMEDOUT']);

export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function translateFsError(what: string, err: unknown): unknown {
  const code = errnoOf(err);
  if (code === undefined) return err;
  if (FULL.has(code)) {
    return new InsufficientStorageError(`The storage folder is full (${code}); nothing of this write was stored.`, {
      cause: err,
    });
  }
  if (TRANSIENT.has(code)) {
    return new StorageUnavailableError(`Storage is briefly unavailable (${code}); retry the request.`, { cause: err });
  }
  if (code === 'ENAMETOOLONG') {
    return new BadRequestError('invalid-key', `${what}: the key is too long for the storage folder's file system.`, {
      cause: err,
    });
  }
  return err;
}
