/**
 * One object, one file: the bytes of the object, then its metadata as JSON, then the length of that JSON (4 bytes,
 * big-endian) and a fixed tag. Bytes and metadata are one file, so one `rename` makes both visible at once and no
 * reader ever pairs the metadata of one version with the bytes of another. The metadata comes last so that a
 * stream can be written in one pass, its size and ETag known only at its end.
 */
import type { FileHandle } from 'node:fs/promises';

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

/** The metadata of the object file open in `file` of `fileSize` bytes, and how many bytes of it are the object. */
export async function readTrailer(file: FileHandle, fileSize: number): Promise<{ meta: ObjectMeta; size: number }> {
  if (fileSize < TRAILER_FIXED) throw new CorruptObjectError('too short to be an object file');
  const first = Math.min(fileSize, FIRST_READ);
  let tail = Buffer.alloc(first);
  await readFully(file, tail, fileSize - first);
  if (!tail.subarray(first - TAG.length).equals(TAG)) throw new CorruptObjectError('no object tag');
  const jsonLength = tail.readUInt32BE(first - TRAILER_FIXED);
  const trailerLength = jsonLength + TRAILER_FIXED;
  if (trailerLength > fileSize) throw new CorruptObjectError('metadata longer than the file');
  if (trailerLength > first) {
    tail = Buffer.alloc(trailerLength);
    await readFully(file, tail, fileSize - trailerLength);
  }
  const json = tail.subarray(tail.length - trailerLength, tail.length - TRAILER_FIXED);
  let meta: ObjectMeta;
  try {
    meta = JSON.parse(json.toString('utf8')) as ObjectMeta;
  } catch {
    throw new CorruptObjectError('unreadable metadata');
  }
  return { meta, size: fileSize - trailerLength };
}

async function readFully(file: FileHandle, into: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await file.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new CorruptObjectError('file ended early');
    done += bytesRead;
  }
}
