/**
 * The answer that serves a stored object: inline with conditional and range semantics, or by redirect to a presigned
 * URL when a Lambda answer cannot carry it (docs/protocol.md §7).
 */

import { config } from '../config';
import type { NotFoundError } from '../errors';
import {
  getObject,
  headObject,
  type ObjectInfo,
  type ObjectStream,
  presignGet,
  readObjectBytes,
} from '../storage/store';
import { count } from '../util/invocation';
import type { ByteLru } from '../util/lru';
import type { HttpAnswer, HttpRequest } from './request';
import {
  checkPreconditions,
  type DownloadDecision,
  type DownloadPolicy,
  decideDownload,
  type Representation,
} from './semantics';

export interface ServeOptions {
  contentType: string;
  /** Named in the error when the object is missing. */
  notFound: () => NotFoundError;
  /** Sent as `Content-Disposition: attachment` with this file name, inline and on the presigned redirect. */
  filename?: string;
  /** Cache-Control of the 200, 206 and 304 answers. */
  cacheControl?: string;
  /** The entity tag to answer with instead of the stored object's (exercise files: their quoted SHA-1). */
  etag?: string;
  /** Objects that never change may be kept in memory and answered from there (exercise files). */
  cache?: ByteLru<CachedObject>;
}

/**
 * An inline-sized object kept in memory, in the base64 form a Lambda answer carries, so a hit costs no encoding
 * (about 1 ms per MiB, most of the work of answering from memory); and the metadata its answers carry.
 */
export interface CachedObject {
  /**
   * The bytes, base64-encoded as the answer carries them; absent for an object above the inline limit, of which only
   * the metadata is kept, so that its redirect needs no S3 request.
   */
  readonly base64: string | undefined;
  size: number;
  etag: string;
  lastModified: Date | undefined;
  /** What the entry holds in memory: the base64 string, one byte per character. */
  readonly byteLength: number;
}

/** What `serveObject` reads of an object: its metadata for HEAD, for GET a stream of at most the inline limit. */
export type ServeRead = ObjectInfo | ObjectStream;

/**
 * The one request `serveObject` makes for `method`: a HEAD for HEAD; for GET a GET of at most the first
 * `INLINE_LIMIT_BYTES`, which answers "how large" and, for a small object, "what is in it" at once. A caller that
 * needs the object's metadata before it answers (the archive route checks it against the manifest) reads it with
 * this and hands it to `serveObject`, so that one request serves both.
 */
export async function readForServe(method: string, key: string): Promise<ServeRead | undefined> {
  if (method === 'HEAD') return headObject(key);
  return getObject(key, { firstBytes: config().inlineLimitBytes });
}

/** Releases what `readForServe` opened and nobody will read. */
export function discardRead(read: ServeRead | undefined): void {
  if (read && hasBody(read)) read.body.destroy();
}

function hasBody(read: ServeRead): read is ObjectStream {
  return 'body' in read;
}

/**
 * GET or HEAD of the object at `key`. Small objects are answered inline, with the conditional and range
 * semantics of `lib/http/semantics.ts`; objects above the inline limit are redirected (302) to a short-lived
 * presigned S3 URL, because a Lambda answer cannot carry them, unless a precondition already decides the answer
 * (304, 412). S3 handles Range on the redirected request itself. `read` is what `readForServe(request.method, key)`
 * answered already, if the caller asked it; otherwise it is asked here.
 */
export async function serveObject(
  request: Pick<HttpRequest, 'method' | 'header'>,
  key: string,
  options: ServeOptions,
  read?: ServeRead,
): Promise<HttpAnswer> {
  const { method } = request;
  const { inlineLimitBytes } = config();
  const policy: DownloadPolicy = { cacheControl: options.cacheControl, attachmentFilename: options.filename };
  const describe = (object: { size: number; etag: string; lastModified: Date | undefined }): Representation => ({
    size: object.size,
    etag: options.etag ?? object.etag,
    lastModified: object.lastModified,
    contentType: options.contentType,
  });
  const cached = options.cache?.get(key);
  // The cache's hit rate (docs/deploy.md, "Metrics"): a miss reads S3, a hit does not.
  if (options.cache) count(cached ? 'CacheHits' : 'CacheMisses');
  if (cached) {
    const { base64 } = cached;
    if (base64 === undefined) return redirectUnlessDecided(request, key, describe(cached), policy);
    return cachedAnswer(method, decideDownload(method, request.header, describe(cached), policy), cached, base64);
  }
  const found = read ?? (await readForServe(method, key));
  if (!found) throw options.notFound();
  if (method === 'HEAD') {
    discardRead(found);
    if (found.size > inlineLimitBytes) return redirectUnlessDecided(request, key, describe(found), policy);
    return inlineAnswer(method, decideDownload(method, request.header, describe(found), policy), undefined);
  }
  if (!hasBody(found)) throw new Error(`A GET of ${key} was handed what a HEAD read.`);
  const object = found;
  if (object.size > inlineLimitBytes) {
    object.body.destroy();
    const { size, etag, lastModified } = object;
    options.cache?.set(key, { base64: undefined, size, etag, lastModified, byteLength: METADATA_ENTRY_BYTES });
    return redirectUnlessDecided(request, key, describe(object), policy);
  }
  const decision = decideDownload(method, request.header, describe(object), policy);
  if (decision.statusCode !== 200 && decision.statusCode !== 206) {
    // 304, 412 and 416 carry none of the object's bytes.
    object.body.destroy();
    return inlineAnswer(method, decision, undefined);
  }
  const bytes = await readObjectBytes(key, object, inlineLimitBytes);
  if (!options.cache) return inlineAnswer(method, decision, bytes);
  const base64 = bytes.toString('base64');
  const { etag, lastModified } = object;
  const entry: CachedObject = { base64, size: bytes.length, etag, lastModified, byteLength: base64.length };
  options.cache.set(key, entry);
  return cachedAnswer(method, decision, entry, base64);
}

/** What a metadata-only cache entry is counted as: its fields and the key, generously. */
const METADATA_ENTRY_BYTES = 512;

/**
 * The answer from a cached copy (`base64` is `cached.base64`): a whole-object 200 sends the stored base64 as it is;
 * a range is cut from the decoded bytes (rare: workers fetch whole files), and HEAD, 304, 412 and 416 need no bytes
 * at all.
 */
function cachedAnswer(method: string, decision: DownloadDecision, cached: CachedObject, base64: string): HttpAnswer {
  if (method === 'HEAD' || 'body' in decision) return inlineAnswer(method, decision, undefined);
  const { range } = decision;
  if (range && range.start === 0 && range.end + 1 === cached.size) {
    return { statusCode: decision.statusCode, headers: decision.headers, body: base64, isBase64Encoded: true };
  }
  return inlineAnswer(method, decision, Buffer.from(base64, 'base64'));
}

/** The answer to a decision; HEAD gets GET's status and headers and no body (RFC 9110 §9.3.2). */
function inlineAnswer(method: string, decision: DownloadDecision, bytes: Buffer | undefined): HttpAnswer {
  const { statusCode, headers } = decision;
  if (method === 'HEAD') return { statusCode, headers, body: '' };
  if ('body' in decision) return { statusCode, headers, body: decision.body };
  const range = decision.range;
  const content = bytes && range ? bytes.subarray(range.start, range.end + 1) : Buffer.alloc(0);
  return { statusCode, headers, body: content.toString('base64'), isBase64Encoded: true };
}

/** A 304 or 412 if the request's preconditions decide it (a cheap answer for a cached copy), else the redirect. */
async function redirectUnlessDecided(
  request: Pick<HttpRequest, 'method' | 'header'>,
  key: string,
  object: Representation,
  policy: DownloadPolicy,
): Promise<HttpAnswer> {
  const decided = checkPreconditions(request.method, request.header, object, policy);
  if (decided) return inlineAnswer(request.method, decided, undefined);
  return redirect(
    await presignGet(key, {
      filename: policy.attachmentFilename,
      contentType: object.contentType,
      method: request.method === 'HEAD' ? 'HEAD' : 'GET',
    }),
  );
}

function redirect(location: string): HttpAnswer {
  // No-store: the presigned URL expires, a cached redirect would not.
  return { statusCode: 302, headers: { Location: location, 'Cache-Control': 'no-store' }, body: '' };
}
