/**
 * The storage boundary: the only module that calls S3. It speaks in keys and bytes and throws domain errors, never
 * SDK shapes (STYLE.md 4), so that the rest of `lib/` reads the same whatever the S3 endpoint.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { config } from './config';
import { StorageUnavailableError } from './errors';
import { s3 } from './s3';

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

/**
 * Multipart part size for streamed uploads (archives). S3 allows at most 10,000 parts of at least 5 MiB
 * (except the last): 5 MiB parts reach 48.8 GiB, far above any submission (a request carries at most 10 MB), and
 * lib-storage keeps about partSize × (queueSize + 1) bytes in memory, so the smallest part keeps memory flat.
 */
export const UPLOAD_PART_SIZE = 5 * 1024 * 1024;
export const UPLOAD_QUEUE_SIZE = 2;

export async function putObject(
  key: string,
  body: Buffer,
  options: {
    contentType?: string;
    /** Create-only: fail with `PreconditionFailed` if the key exists (S3 conditional writes, `If-None-Match: *`). */
    createOnly?: boolean;
    /** Base64 SHA-1 of the body; S3 rejects the write if the bytes do not match. */
    checksumSha1?: string;
    metadata?: Record<string, string>;
  } = {},
): Promise<{ etag: string }> {
  const answer = await call(`put ${key}`, () =>
    s3().send(
      new PutObjectCommand({
        Bucket: config().bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: options.contentType ?? 'application/octet-stream',
        ...(options.createOnly ? { IfNoneMatch: '*' } : {}),
        ...(options.checksumSha1 ? { ChecksumSHA1: options.checksumSha1 } : {}),
        ...(options.metadata ? { Metadata: options.metadata } : {}),
      }),
    ),
  );
  return { etag: answer.ETag ?? '' };
}

/** The object's metadata, or `undefined` if there is no object at `key`. */
export async function headObject(key: string): Promise<ObjectInfo | undefined> {
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
export async function getObject(key: string, options: { ifMatch?: string } = {}): Promise<ObjectStream | undefined> {
  try {
    const answer = await call(`get ${key}`, () =>
      s3().send(
        new GetObjectCommand({
          Bucket: config().bucket,
          Key: key,
          ...(options.ifMatch ? { IfMatch: options.ifMatch } : {}),
        }),
      ),
    );
    const object = { ...info(answer), body: answer.Body as Readable };
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

/** Streams `body` into `key` with a multipart upload; a failure aborts the upload, so no partial object appears. */
export async function uploadStream(
  key: string,
  body: Readable,
  options: { contentType: string; metadata?: Record<string, string> },
): Promise<void> {
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
    },
  });
  // When the body fails, lib-storage aborts the upload; if the abort fails too (s3rver cannot abort), its error
  // would hide the real cause, so the body's own error is reported first.
  let bodyError: unknown;
  body.once('error', (err) => {
    bodyError = err;
  });
  try {
    await call(`upload ${key}`, () => upload.done());
  } catch (err) {
    throw bodyError ?? err;
  }
}

/** A short-lived URL that fetches the object straight from S3 (PROTOCOL.md §7). */
export async function presignGet(key: string, filename?: string): Promise<string> {
  return getSignedUrl(
    s3(),
    new GetObjectCommand({
      Bucket: config().bucket,
      Key: key,
      ...(filename ? { ResponseContentDisposition: `attachment; filename="${filename}"` } : {}),
    }),
    { expiresIn: config().presignTtlSeconds },
  );
}

/** A presigned PUT: the URL, the headers the client must send with it, and when it stops working. */
export interface PresignedPut {
  url: string;
  headers: Record<string, string>;
  expiresAt: Date;
}

/**
 * A short-lived URL that uploads straight to S3 (PROTOCOL.md §7), bound to the declared size and, for content
 * addresses, to the SHA-1: both are signed headers (SigV4 `X-Amz-SignedHeaders`), so S3 refuses a request that
 * sends another length, and S3 checks the body against `x-amz-checksum-sha1` before it stores anything.
 */
export async function presignPut(
  key: string,
  options: { size: number; checksumSha1?: string; contentType?: string },
): Promise<PresignedPut> {
  const { presignTtlSeconds } = config();
  const expiresAt = new Date(Date.now() + presignTtlSeconds * 1000);
  const url = await getSignedUrl(
    s3(),
    new PutObjectCommand({
      Bucket: config().bucket,
      Key: key,
      ContentLength: options.size,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
      ...(options.checksumSha1 ? { ChecksumSHA1: options.checksumSha1 } : {}),
    }),
    {
      expiresIn: presignTtlSeconds,
      // The presigner moves x-amz-* headers into the query string by default; a checksum there is only signed, not
      // checked against the body. Kept as a header, S3 verifies the uploaded bytes against it.
      unhoistableHeaders: new Set(['x-amz-checksum-sha1']),
    },
  );
  const headers: Record<string, string> = { 'Content-Length': String(options.size) };
  if (options.contentType) headers['Content-Type'] = options.contentType;
  if (options.checksumSha1) headers['x-amz-checksum-sha1'] = options.checksumSha1;
  return { url, headers, expiresAt };
}

/** Whether the bucket answers; for the status page. */
export async function bucketReachable(): Promise<boolean> {
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
    if (isPreconditionFailed(err)) throw new PreconditionFailed(`${what}: precondition failed`, { cause: err });
    if (isThrottled(err)) {
      throw new StorageUnavailableError('Storage is busy or briefly unavailable; retry the request.', { cause: err });
    }
    throw err;
  }
}

interface SdkErrorShape {
  name?: unknown;
  Code?: unknown;
  $metadata?: { httpStatusCode?: number };
}

function shape(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
}

/** HeadObject answers a bare 404 (`NotFound`), GetObject a `NoSuchKey`; both mean "no object". */
export function isNotFound(err: unknown): boolean {
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

/** 503 SlowDown (S3 request-rate limits) and other 503s left after the SDK's own retries. */
function isThrottled(err: unknown): boolean {
  const e = shape(err);
  return e.name === 'SlowDown' || e.name === 'ServiceUnavailable' || e.$metadata?.httpStatusCode === 503;
}
