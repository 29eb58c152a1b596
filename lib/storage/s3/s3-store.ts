/**
 * The S3 implementation of the storage boundary (lib/storage/object-store.ts): AWS S3 in the cloud, or any S3-compatible
 * endpoint in S3_ENDPOINT (LocalStack, s3rver, MinIO). The only module that calls S3 for objects.
 */
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { config } from '../../config';
import { BucketMissingError, StorageUnavailableError } from '../../errors';
import { readSmall, TooLargeToReadError } from '../../util/streams';
import {
  ChecksumMismatchError,
  type GetOptions,
  type ListedObject,
  type ObjectInfo,
  type ObjectStore,
  type ObjectStream,
  PreconditionFailed,
  type PresignedPut,
  type PresignGetOptions,
  type PresignPutOptions,
  type PutOptions,
  UPLOAD_PART_SIZE,
  UPLOAD_QUEUE_SIZE,
  type UploadStreamOptions,
} from '../object-store';
import { presignGetWith, presignPutWith } from '../presign';
import { s3 } from './s3-client';

export const s3Store: ObjectStore = {
  putObject,
  headObject,
  getObject,
  uploadStream,
  listObjects,
  eachObject,
  deleteObject,
  presignGet,
  presignPut,
  readObjectBytes,
  bucketReachable,
};

async function putObject(key: string, body: Buffer, options: PutOptions = {}): Promise<{ etag: string }> {
  const answer = await call(`put ${key}`, () =>
    s3().send(
      new PutObjectCommand({
        Bucket: config().bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: options.contentType ?? 'application/octet-stream',
        ...(options.createOnly ? { IfNoneMatch: '*' } : {}),
        ...(options.ifMatch ? { IfMatch: options.ifMatch } : {}),
        ...(options.checksumSha1 ? { ChecksumSHA1: options.checksumSha1 } : {}),
        ...(options.metadata ? { Metadata: options.metadata } : {}),
      }),
    ),
  );
  return { etag: answer.ETag ?? '' };
}

/** The object's metadata, or `undefined` if there is no object at `key`. */
async function headObject(key: string): Promise<ObjectInfo | undefined> {
  try {
    const head = await call(`head ${key}`, () =>
      s3().send(new HeadObjectCommand({ Bucket: config().bucket, Key: key })),
    );
    return info(head);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * A stream of the object's bytes, or `undefined` if there is no object at `key`. With `ifMatch`, a different
 * version of the object fails with `PreconditionFailed` instead of being read.
 */
async function getObject(key: string, options: GetOptions = {}): Promise<ObjectStream | undefined> {
  try {
    const ranged = options.firstBytes !== undefined;
    const answer = await call(`get ${key}`, () =>
      s3().send(
        new GetObjectCommand({
          Bucket: config().bucket,
          Key: key,
          ...(options.ifMatch ? { IfMatch: options.ifMatch } : {}),
          ...(ranged ? { Range: `bytes=0-${Math.max(0, (options.firstBytes ?? 1) - 1)}` } : {}),
        }),
      ),
    ).catch(async (err: unknown) => {
      // S3 answers 416 InvalidRange to any range of an empty object, which then comes whole.
      if (ranged && isInvalidRange(err)) return undefined;
      throw err;
    });
    if (answer === undefined) return getObject(key, { ...options, firstBytes: undefined });
    const object = { ...info(answer), body: answer.Body as Readable };
    const total = /\/(\d+)$/.exec(answer.ContentRange ?? '')?.[1];
    if (total !== undefined) object.size = Number(total);
    if (ranged && object.size === 0) {
      // s3rver answers a range of an empty object with `Content-Range: bytes 0-0/0` and a length of 1 but no byte (its
      // getObject clamps the range to 0-0); the size says there is nothing to read.
      object.body.destroy();
      object.body = Readable.from([]);
    }
    // Checked here too: not every S3-compatible server honours If-Match on GET (s3rver ignores it).
    if (options.ifMatch && object.etag !== options.ifMatch) {
      object.body.destroy();
      throw new PreconditionFailed(`get ${key}: the stored version is ${object.etag}, not ${options.ifMatch}`);
    }
    return object;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Streams `body` into `key` with a multipart upload (one PutObject when the body fits in one part); a failure aborts
 * the upload, so no partial object appears. Returns the stored object's ETag.
 */
async function uploadStream(key: string, body: Readable, options: UploadStreamOptions): Promise<{ etag: string }> {
  const upload = new Upload({
    client: s3(),
    partSize: UPLOAD_PART_SIZE,
    queueSize: UPLOAD_QUEUE_SIZE,
    leavePartsOnError: false,
    params: {
      Bucket: config().bucket,
      Key: key,
      Body: body,
      ContentType: options.contentType,
      ...(options.metadata ? { Metadata: options.metadata } : {}),
      ...(options.createOnly ? { IfNoneMatch: '*' } : {}),
      ...(options.checksumSha1PerPart ? { ChecksumAlgorithm: 'SHA1' as const } : {}),
    },
  });
  // When the body fails, lib-storage aborts the upload; if the abort fails too (s3rver cannot abort), its error
  // would hide the real cause, so the body's own error is reported first.
  let bodyError: unknown;
  body.once('error', (err) => {
    bodyError = err;
  });
  try {
    const done = await call(`upload ${key}`, () => upload.done());
    return { etag: done.ETag ?? '' };
  } catch (err) {
    throw bodyError === undefined ? err : translate(`upload ${key}`, bodyError);
  }
}

/**
 * Every object whose key starts with `prefix`. One request answers up to 1,000 keys with their sizes and ETags
 * (ListObjectsV2), where a HEAD answers one: checking many objects at once costs a request per 1,000, not per object.
 * S3 listings are strongly consistent (since December 2020): an object written before the call is listed.
 */
async function listObjects(prefix: string): Promise<ListedObject[]> {
  const listed: ListedObject[] = [];
  for await (const object of eachObject(prefix)) listed.push(object);
  return listed;
}

/**
 * The same listing, in key order, one page (at most 1,000 keys) at a time, so that a listing of any length holds one
 * page in memory: for the operator tool, which walks whole prefixes (docs/operations.md).
 */
async function* eachObject(prefix: string): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  do {
    const page = await call(`list ${prefix}`, () =>
      s3().send(
        new ListObjectsV2Command({
          Bucket: config().bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      ),
    );
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined) continue;
      yield { key: object.Key, size: object.Size ?? 0, etag: object.ETag ?? '', lastModified: object.LastModified };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Deletes the object at `key`; deleting a key that holds nothing is not an error (S3 answers 204 either way). */
async function deleteObject(key: string): Promise<void> {
  await call(`delete ${key}`, () => s3().send(new DeleteObjectCommand({ Bucket: config().bucket, Key: key })));
}

/** A short-lived URL that fetches the object straight from S3 (docs/protocol.md §7). */
function presignGet(key: string, options: PresignGetOptions = {}): Promise<string> {
  return presignGetWith(s3(), key, options);
}

/**
 * The whole body of an object known to fit in `maxBytes`. A body that S3 breaks off midway (a reset, a timeout) is a
 * storage failure that a retry can fix (503 with Retry-After), like a failed request; never a truncated answer.
 */
async function readObjectBytes(key: string, object: ObjectStream, maxBytes: number): Promise<Buffer> {
  try {
    return await readSmall(object.body, maxBytes);
  } catch (err) {
    if (err instanceof TooLargeToReadError) throw err;
    throw translate(`read ${key}`, err, true);
  }
}

/**
 * A short-lived URL that uploads straight to S3 (docs/protocol.md §7), bound to the declared size and, for content
 * addresses, to the SHA-1: both are signed headers (SigV4 `X-Amz-SignedHeaders`), so S3 refuses a request that
 * sends another length, and S3 checks the body against `x-amz-checksum-sha1` before it stores anything.
 */
function presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut> {
  return presignPutWith(s3(), key, options);
}

/**
 * Fails unless the configured bucket exists at the endpoint: for `npm start` with S3_ENDPOINT, which fails at start
 * rather than at the first request (lib/local/main.ts). HeadBucket answers a missing bucket with a bare 404.
 */
export async function checkBucket(): Promise<void> {
  try {
    await call('head bucket', () => s3().send(new HeadBucketCommand({ Bucket: config().bucket })));
  } catch (err) {
    if (err instanceof BucketMissingError || shape(err).$metadata?.httpStatusCode === 404) {
      throw new BucketMissingError(config().bucket, { cause: err });
    }
    throw err;
  }
}

/** Whether the bucket answers; for the status page. */
async function bucketReachable(): Promise<boolean> {
  try {
    await s3().send(new HeadBucketCommand({ Bucket: config().bucket }));
    return true;
  } catch {
    return false;
  }
}

function info(answer: {
  ContentLength?: number;
  ETag?: string;
  LastModified?: Date;
  ContentType?: string;
  Metadata?: Record<string, string>;
}): ObjectInfo {
  return {
    size: answer.ContentLength ?? 0,
    etag: answer.ETag ?? '',
    lastModified: answer.LastModified,
    contentType: answer.ContentType,
    metadata: answer.Metadata ?? {},
  };
}

/** Runs one S3 call and translates its failures into what the rest of `lib/` understands. */
async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    // Every answer S3 gives carries its HTTP status; an error without one means S3 never answered (a connection that
    // was refused, reset or timed out, also when the SDK wraps what Node threw), which a later retry can fix.
    throw translate(what, err, shape(err).$metadata?.httpStatusCode === undefined);
  }
}

function translate(what: string, err: unknown, unanswered = false): unknown {
  if (err instanceof StorageUnavailableError || err instanceof BucketMissingError || err instanceof PreconditionFailed)
    return err;
  // Before any 404 reads as "no such object": NoSuchBucket is a 404 too, but no request can succeed until the bucket
  // is created. (A HEAD has no body to name it, so a HEAD on a missing bucket still reads as "no object".)
  if (isNoSuchBucket(err)) return new BucketMissingError(config().bucket, { cause: err });
  if (isPreconditionFailed(err)) return new PreconditionFailed(`${what}: precondition failed`, { cause: err });
  if (shape(err).name === 'BadDigest' || shape(err).Code === 'BadDigest') {
    return new ChecksumMismatchError(`${what}: the bytes do not match the checksum sent with them`, { cause: err });
  }
  if (unanswered || isTransient(err)) {
    return new StorageUnavailableError('Storage is busy or briefly unavailable; retry the request.', { cause: err });
  }
  return err;
}

interface SdkErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

function shape(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
}

function isInvalidRange(err: unknown): boolean {
  const e = shape(err);
  return e.name === 'InvalidRange' || e.Code === 'InvalidRange' || e.$metadata?.httpStatusCode === 416;
}

function isNoSuchBucket(err: unknown): boolean {
  const e = shape(err);
  return e.name === 'NoSuchBucket' || e.Code === 'NoSuchBucket';
}

/** HeadObject answers a bare 404 (`NotFound`), GetObject a `NoSuchKey`; both mean "no object". */
function isNotFound(err: unknown): boolean {
  const e = shape(err);
  return (
    e.name === 'NotFound' || e.name === 'NoSuchKey' || e.Code === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404
  );
}

/** 412 for `If-None-Match`/`If-Match`; 409 `ConditionalRequestConflict` when a concurrent write to the key wins. */
function isPreconditionFailed(err: unknown): boolean {
  const e = shape(err);
  const status = e.$metadata?.httpStatusCode;
  return e.name === 'PreconditionFailed' || e.name === 'ConditionalRequestConflict' || status === 412 || status === 409;
}

/** Node's codes for a connection that broke or never came up (the SDK's retry strategy treats them as transient). */
const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * What is left after the SDK's own retries (lib/storage/s3/s3-client.ts) of a failure that a later retry can fix: 503 SlowDown (S3
 * request-rate limits), S3's 500 InternalError ("Please try again") and other 5xx, a timed-out or reset connection,
 * also one that broke in the middle of a streamed body. The client gets 503 with `Retry-After` (docs/protocol.md §5).
 */
function isTransient(err: unknown, depth = 0): boolean {
  const e = shape(err);
  const status = e.$metadata?.httpStatusCode ?? 0;
  return (
    e.name === 'SlowDown' ||
    e.name === 'ServiceUnavailable' ||
    e.name === 'TimeoutError' ||
    (status >= 500 && status <= 599) ||
    NETWORK_ERROR_CODES.has(String(e.code)) ||
    (e.cause !== undefined && depth < 5 && isTransient(e.cause, depth + 1))
  );
}
