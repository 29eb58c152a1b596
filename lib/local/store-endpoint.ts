/**
 * The folder store's presigned URLs, answered by the local server itself (docs/embedded-store.md): GET, HEAD and PUT
 * of `/<bucket>/<key>` with a SigV4 query signature, nothing else. What S3 enforces on such a URL is enforced here:
 * the signature (method, key, expiry, signed headers; lib/storage/folder-store/presigned.ts), the signed length, the signed
 * SHA-1, write-once (`If-None-Match: *`), and Range on GET. There is no route without a signature: nobody who lacks
 * the store's credentials (kept 0600 in its folder) can read or write it. Errors are S3's XML.
 *
 * The answer is built only from what the signature covers: the query as `verifyPresigned` parsed it (never parsed
 * again here), the signed headers, and Range, which S3 leaves to the client. Range is decided by the fileserver's
 * own routes' code (lib/http/semantics.ts), so a file answers a Range the same whether it is served inline or
 * through this redirect.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { HttpError } from '../errors';
import { decideDownload } from '../http/semantics';
import { type FolderStore, IncompleteBodyError } from '../storage/folder-store/folder-store';
import { type PresignedQuery, verifyPresigned } from '../storage/folder-store/presigned';
import { ChecksumMismatchError, PreconditionFailed } from '../storage/object-store';
import { describeError, log } from '../util/log';

/** S3 PutObject: one PUT uploads at most 5 GiB. */
const MAX_PUT_BYTES = 5 * 1024 * 1024 * 1024;

export interface StoreEndpoint {
  /** Whether a request path is the store's (`/<bucket>` or below), not a route of `serverless.yml`. */
  owns(rawPath: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function storeEndpoint(store: FolderStore): StoreEndpoint {
  const prefix = `/${store.bucket}/`;
  return {
    owns: (rawPath) => rawPath === `/${store.bucket}` || rawPath.startsWith(prefix),
    async handle(req, res) {
      try {
        await answer(store, prefix, req, res);
      } catch (err) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        req.resume(); // the rest of a refused body is read and dropped, so the connection stays usable
        const { status, code, message } = s3Error(err);
        if (status >= 500) log('error', 'store endpoint failure', describeError(err));
        sendError(res, status, code, message);
      }
    },
  };
}

async function answer(store: FolderStore, prefix: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const rawPath = queryAt < 0 ? url : url.slice(0, queryAt);
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD' && method !== 'PUT') {
    req.resume();
    return sendError(res, 405, 'MethodNotAllowed', `${method} is not served; only presigned GET, HEAD and PUT are.`);
  }
  const verdict = await verifyPresigned(store.signingClient(), {
    method,
    rawPath,
    rawQuery: queryAt < 0 ? '' : url.slice(queryAt + 1),
    headers: req.headers,
  });
  if (!verdict.ok) {
    req.resume();
    return sendError(res, verdict.status, verdict.code, verdict.message);
  }
  let key: string;
  try {
    key = decodeURIComponent(rawPath.slice(prefix.length));
  } catch {
    req.resume();
    return sendError(res, 400, 'InvalidURI', 'The key is not valid percent-encoding.');
  }
  if (key === '') return sendError(res, 403, 'AccessDenied', 'Listing the bucket is not served.');
  if (method === 'PUT') return put(store, key, req, res);
  return get(store, key, method, verdict.query, req, res);
}

async function put(store: FolderStore, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const declared = req.headers['content-length'];
  if (declared === undefined || !/^\d+$/.test(declared)) {
    req.resume();
    return sendError(res, 411, 'MissingContentLength', 'A PUT must declare its Content-Length.');
  }
  const size = Number(declared);
  if (size > MAX_PUT_BYTES) {
    req.resume();
    return sendError(res, 400, 'EntityTooLarge', 'A single PUT carries at most 5 GiB.');
  }
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') {
    req.resume();
    return sendError(res, 501, 'NotImplemented', 'If-None-Match on PUT takes only *.');
  }
  const checksum = req.headers['x-amz-checksum-sha1'];
  const ifMatch = req.headers['if-match'];
  const { etag } = await store.putStream(key, req, {
    expectedSize: size,
    contentType: req.headers['content-type'],
    ...(typeof checksum === 'string' ? { checksumSha1: checksum } : {}),
    ...(ifNoneMatch === '*' ? { createOnly: true } : {}),
    ...(typeof ifMatch === 'string' ? { ifMatch } : {}),
  });
  res.writeHead(200, { ETag: etag, 'Content-Length': '0' });
  res.end();
}

async function get(
  store: FolderStore,
  key: string,
  method: string,
  query: PresignedQuery,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const opened = await store.openObject(key);
  if (!opened) return sendError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  const { info } = opened;
  const object = {
    size: info.size,
    etag: info.etag,
    lastModified: info.lastModified,
    contentType: query.get('response-content-type') ?? info.contentType ?? 'application/octet-stream',
  };
  // Range and If-Range (RFC 9110 §14.2, §13.1.5), as S3 honours them; the other preconditions were the route's to
  // check before it redirected here (lib/http/serve-object.ts).
  const rangeHeaders = (name: string): string | undefined =>
    name === 'range' || name === 'if-range' ? headerValue(req, name) : undefined;
  const decision = decideDownload(method, rangeHeaders, object);
  if (decision.statusCode === 416) {
    await opened.close();
    return sendError(res, 416, 'InvalidRange', 'The requested range is not satisfiable.', {
      'Content-Range': decision.headers['Content-Range'] ?? `bytes */${info.size}`,
    });
  }
  if (decision.statusCode !== 200 && decision.statusCode !== 206) {
    // Only Range and If-Range are handed over, which decide nothing but 200, 206 and 416.
    await opened.close();
    throw new Error(`A presigned GET was decided ${decision.statusCode} without preconditions.`);
  }
  const headers = { ...decision.headers };
  const disposition = query.get('response-content-disposition');
  if (disposition) headers['Content-Disposition'] = disposition;
  res.writeHead(decision.statusCode, headers);
  if (method === 'HEAD' || !decision.range) {
    await opened.close();
    res.end();
    return;
  }
  await pipeline(opened.stream(decision.range.start, decision.range.end), res);
}

/** A request header as one value: Node joins most repeated headers with `, ` already. */
function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function s3Error(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof PreconditionFailed) {
    return { status: 412, code: 'PreconditionFailed', message: 'At least one of the preconditions did not hold.' };
  }
  if (err instanceof ChecksumMismatchError) return { status: 400, code: 'BadDigest', message: err.message };
  if (err instanceof IncompleteBodyError) return { status: 400, code: 'IncompleteBody', message: err.message };
  if (err instanceof HttpError && err.statusCode < 500) {
    return {
      status: err.statusCode,
      code: err.code === 'invalid-key' ? 'KeyTooLongError' : 'InvalidRequest',
      message: err.message,
    };
  }
  if (err instanceof HttpError) return { status: err.statusCode, code: err.code, message: err.message };
  return { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' };
}

function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`;
  res.writeHead(status, {
    'Content-Type': 'application/xml',
    'Content-Length': String(Buffer.byteLength(body)),
    ...extra,
  });
  res.end(body);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
