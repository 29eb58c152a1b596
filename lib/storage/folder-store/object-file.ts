/**
 * One object, one file: the bytes of the object, then its metadata as JSON, then the length of that JSON (4 bytes,
 * big-endian) and a fixed tag. Bytes and metadata are one file, so one `rename` makes both visible at once and no
 * reader ever pairs the metadata of one version with the bytes of another. The metadata comes last so that a
 * stream can be written in one pass, its size and ETag known only at its end.
 *
 * The readers here are synchronous and read from a file descriptor the caller opened: they read at most the
 * trailer (a few KiB) or, in `readWholeFile`, a file the caller bounded (docs/embedded-store.md, "Cost per
 * operation"). On page-cached files a synchronous pread(2) of that size takes microseconds, less than the promise
 * and thread-pool round trip of an asynchronous one.
 */
import { readSync } from 'node:fs';

/** Ends every object file; a file without it is not one (a torn write cannot be renamed in, but the check is cheap). */
const TAG = Buffer.from('RCXOBJ01', 'latin1');
const TRAILER_FIXED = 4 + TAG.length;
/** Metadata is small (S3 allows 2 KB of user metadata; a key is at most 1,024 bytes): one read usually gets it. */
const FIRST_READ = 8 * 1024;

export interface ObjectMeta {
  key: string;
  etag: string;
  contentType: string;
  metadata: Record<string, string>;
  /** Base64 SHA-1 of the bytes, when the write carried one. */
  checksumSha1?: string;
}

export function trailer(meta: ObjectMeta): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([json, length, TAG]);
}

export class CorruptObjectError extends Error {}

/** The metadata of the object file open as `fd`, of `fileSize` bytes, and how many bytes of it are the object. */
export function readTrailer(fd: number, fileSize: number): { meta: ObjectMeta; size: number } {
  if (fileSize < TRAILER_FIXED) throw new CorruptObjectError('too short to be an object file');
  const first = Math.min(fileSize, FIRST_READ);
  let tail = Buffer.allocUnsafe(first);
  readFully(fd, tail, fileSize - first);
  const trailerLength = trailerLengthOf(tail, fileSize);
  if (trailerLength > first) {
    tail = Buffer.allocUnsafe(trailerLength);
    readFully(fd, tail, fileSize - trailerLength);
  }
  return { meta: metaOf(tail, trailerLength), size: fileSize - trailerLength };
}

/**
 * The whole object file open as `fd`, of `fileSize` bytes, in one read: its metadata and the object's bytes (a view
 * of the buffer read, nothing copied).
 */
export function readWholeFile(fd: number, fileSize: number): { meta: ObjectMeta; bytes: Buffer } {
  if (fileSize < TRAILER_FIXED) throw new CorruptObjectError('too short to be an object file');
  const whole = Buffer.allocUnsafe(fileSize);
  readFully(fd, whole, 0);
  const trailerLength = trailerLengthOf(whole, fileSize);
  return { meta: metaOf(whole, trailerLength), bytes: whole.subarray(0, fileSize - trailerLength) };
}

/** `tail` ends where the file ends; the length of the trailer its last bytes declare. */
function trailerLengthOf(tail: Buffer, fileSize: number): number {
  if (!tail.subarray(tail.length - TAG.length).equals(TAG)) throw new CorruptObjectError('no object tag');
  const trailerLength = tail.readUInt32BE(tail.length - TRAILER_FIXED) + TRAILER_FIXED;
  if (trailerLength > fileSize) throw new CorruptObjectError('metadata longer than the file');
  return trailerLength;
}

function metaOf(tail: Buffer, trailerLength: number): ObjectMeta {
  const json = tail.subarray(tail.length - trailerLength, tail.length - TRAILER_FIXED);
  try {
    return JSON.parse(json.toString('utf8')) as ObjectMeta;
  } catch {
    throw new CorruptObjectError('unreadable metadata');
  }
}

function readFully(fd: number, into: Buffer, position: number): void {
  let done = 0;
  while (done < into.length) {
    const bytesRead = readSync(fd, into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new CorruptObjectError('file ended early');
    done += bytesRead;
  }
}
