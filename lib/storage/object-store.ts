/**
 * The contract of the storage boundary (lib/storage/store.ts): what every object store behind it offers, in keys and bytes,
 * with domain errors, never an implementation's own shapes (docs/development.md, "Code style"). Two implement it: S3 (lib/storage/s3/s3-store.ts; AWS,
 * LocalStack, s3rver, any S3_ENDPOINT) and the folder store of local mode (lib/storage/folder-store/, docs/embedded-store.md).
 * Each behaves as S3 does wherever this service relies on it: a write replaces an object whole or not at all,
 * conditional writes are atomic, a checksum that does not match refuses the write, presigned URLs are bound to
 * their method, key, size, checksum and expiry.
 */
import { hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BadRequestError } from '../errors';

export interface ObjectInfo {
  size: number;
  etag: string;
  lastModified: Date | undefined;
  contentType: string | undefined;
  metadata: Record<string, string>;
}

export interface ObjectStream extends ObjectInfo {
  body: Readable;
}

/** A conditional write or read failed: `If-None-Match: *` found an object, or `If-Match` found another version. */
export class PreconditionFailed extends Error {}

/** The bytes of a write do not match the checksum sent with it (S3's `BadDigest`); nothing was stored. */
export class ChecksumMismatchError extends BadRequestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('bad-digest', message, options);
  }
}

export interface PutOptions {
  contentType?: string;
  /** Create-only: fail with `PreconditionFailed` if the key exists (S3 conditional writes, `If-None-Match: *`). */
  createOnly?: boolean;
  /** Replace only this version: fail with `PreconditionFailed` if the object's ETag is another (`If-Match`). */
  ifMatch?: string;
  /** Base64 SHA-1 of the body; the store refuses the write if the bytes do not match. */
  checksumSha1?: string;
  metadata?: Record<string, string>;
}

export interface GetOptions {
  ifMatch?: string;
  /**
   * Ask for at most this many bytes from the start (`Range: bytes=0-<n-1>`); `size` is still the whole object's
   * (from `Content-Range`), so a caller sees whether `body` holds all of it. Serving small objects inline, one
   * request then answers both "how large is it" and "what is in it", without S3 starting to send a large object
   * that will be redirected anyway.
   */
  firstBytes?: number;
}

export interface PresignGetOptions {
  filename?: string;
  contentType?: string;
  method?: 'GET' | 'HEAD';
}

export interface PresignPutOptions {
  size: number;
  checksumSha1?: string;
  contentType?: string;
  /** Write-once: `If-None-Match: *` is signed, so the store refuses a second PUT to the key (412). */
  createOnly?: boolean;
}

export interface UploadStreamOptions {
  contentType: string;
  metadata?: Record<string, string>;
  /**
   * Create-only (`If-None-Match: *` on the PutObject or on CompleteMultipartUpload, which S3 honours on both):
   * `PreconditionFailed` if the key exists.
   */
  createOnly?: boolean;
  /**
   * S3 checks every part (or the single PutObject) against a SHA-1 the SDK computes from the bytes it sends. The
   * folder store's bytes never cross a wire, so it has nothing to check.
   */
  checksumSha1PerPart?: boolean;
}

/** One object of a listing: its key, size, ETag and date (what a HEAD would say of them). */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date | undefined;
}

/** A presigned PUT: the URL, the headers the client must send with it, and when it stops working. */
export interface PresignedPut {
  url: string;
  headers: Record<string, string>;
  expiresAt: Date;
}

export interface ObjectStore {
  putObject(key: string, body: Buffer, options?: PutOptions): Promise<{ etag: string }>;
  /** The object's metadata, or `undefined` if there is no object at `key`. */
  headObject(key: string): Promise<ObjectInfo | undefined>;
  /**
   * A stream of the object's bytes, or `undefined` if there is no object at `key`. With `ifMatch`, a different
   * version of the object fails with `PreconditionFailed` instead of being read.
   */
  getObject(key: string, options?: GetOptions): Promise<ObjectStream | undefined>;
  /**
   * Streams `body` into `key`; a failure leaves the previous object (or none), never a part of the new one. Returns
   * the stored object's ETag.
   */
  uploadStream(key: string, body: Readable, options: UploadStreamOptions): Promise<{ etag: string }>;
  /**
   * Every object whose key starts with `prefix`, in key order (S3 listings are strongly consistent: an object
   * written before the call is listed).
   */
  listObjects(prefix: string): Promise<ListedObject[]>;
  /** The same listing one object at a time, so that a listing of any length needs little memory. */
  eachObject(prefix: string): AsyncGenerator<ListedObject>;
  /** Deletes the object at `key`; deleting a key that holds nothing is not an error (as S3's DeleteObject). */
  deleteObject(key: string): Promise<void>;
  /** A short-lived URL that fetches the object straight from the store (docs/protocol.md §7). */
  presignGet(key: string, options?: PresignGetOptions): Promise<string>;
  /**
   * A short-lived URL that uploads straight to the store (docs/protocol.md §7), bound to the declared size and, for
   * content addresses, to the SHA-1, so the store refuses another length or other bytes.
   */
  presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut>;
  /**
   * The whole body of an object known to fit in `maxBytes`. A body broken off midway is a storage failure that a
   * retry can fix (503 with Retry-After), never a truncated answer.
   */
  readObjectBytes(key: string, object: ObjectStream, maxBytes: number): Promise<Buffer>;
  /** Whether the store answers; for the status page. */
  bucketReachable(): Promise<boolean>;
}

/**
 * The part size of a streamed upload (`uploadStream`) that a store sends in parts, as S3 does: a part of the contract,
 * because the part size decides the ETag of such an object (the MD5 of the parts' MD5s, then `-N`), which the operator
 * tool recomputes (lib/operator/digests.ts). S3 allows at most 10,000 parts of at least 5 MiB (except the last): 5 MiB
 * parts reach 48.8 GiB, far above any submission (a request carries at most 10 MB), and lib-storage keeps about
 * partSize × (queueSize + 1) bytes in memory, so the smallest part keeps memory flat.
 */
export const UPLOAD_PART_SIZE = 5 * 1024 * 1024;
export const UPLOAD_QUEUE_SIZE = 2;

/**
 * The most requests one operation sends to the store at once: a submission POST's files, an exercise POST's HEADs
 * and PUTs. Up to this many files an operation's writes go out in one wave, so its latency does not grow with its
 * files (docs/benchmarks.md, "S3 round trips in a row"). S3 takes 3,500 writes per second per prefix, far more
 * than one request's wave; the S3 client keeps sockets for it (lib/storage/s3/s3-client.ts).
 */
export const PARALLEL_REQUESTS = 64;

/**
 * The ETag a `putObject` of `body` is answered with, known before it is sent: the MD5 of the bytes, in quotes. S3
 * answers that for an object written in one PutObject, unencrypted or encrypted with SSE-S3 (this bucket's default
 * encryption, serverless.yml), and the folder store answers the same. A store that answers otherwise (SSE-KMS) only
 * costs a caller what it planned on it: a submission POST's archive then names a manifest that is never written and
 * is built again (lib/fileserver/submissions.ts).
 */
export function expectedPutEtag(body: Buffer): string {
  return `"${hash('md5', body, 'hex')}"`;
}
