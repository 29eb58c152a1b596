/**
 * The folder store's presigned URLs, answered by the local server itself (docs/embedded-store.md): GET, HEAD and PUT
 * of `/<bucket>/<key>` with a SigV4 query signature, nothing else. What S3 enforces on such a URL is enforced here:
 * the signature (method, key, expiry, signed headers; lib/storage/folder-store/presigned.ts), the signed length, the signed
 * SHA-1, write-once (`If-None-Match: *`), and Range on GET. There is no route without a signature: nobody who lacks
 * the store's credentials (kept 0600 in its folder) can read or write it. Errors are S3's XML.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import rangeParser from 'range-parser';
import { HttpError } from '../errors';
import { type FolderStore, IncompleteBodyError } from '../storage/folder-store/folder-store';
import { verifyPresigned } from '../storage/folder-store/presigned';
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
  return get(store, key, method, new URL(url, 'http://local').searchParams, req, res);
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
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const opened = await store.openObject(key);
  if (!opened) return sendError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  const { info } = opened;
  const headers: Record<string, string> = {
    'Content-Type': query.get('response-content-type') ?? info.contentType ?? 'application/octet-stream',
    ETag: info.etag,
    'Accept-Ranges': 'bytes',
    ...(info.lastModified ? { 'Last-Modified': info.lastModified.toUTCString() } : {}),
  };
  const disposition = query.get('response-content-disposition');
  if (disposition) headers['Content-Disposition'] = disposition;
  let status = 200;
  let start = 0;
  let end = info.size - 1;
  const range = req.headers.range;
  if (range !== undefined && info.size > 0) {
    const ranges = rangeParser(info.size, range, { combine: true });
    if (ranges === -1) {
      await opened.close();
      return sendError(res, 416, 'InvalidRange', 'The requested range is not satisfiable.', {
        'Content-Range': `bytes */${info.size}`,
      });
    }
    // One range is served as asked; several, or a malformed header, get the whole object, as S3 answers them.
    if (ranges !== -2 && ranges.type === 'bytes' && ranges.length === 1) {
      const [only] = ranges as { start: number; end: number }[];
      start = only?.start ?? 0;
      end = only?.end ?? end;
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${info.size}`;
    }
  }
  headers['Content-Length'] = String(end - start + 1);
  res.writeHead(status, headers);
  if (method === 'HEAD') {
    await opened.close();
    res.end();
    return;
  }
  await pipeline(opened.stream(start, end), res);
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
