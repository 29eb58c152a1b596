/**
 * The client side of the large-upload route (docs/protocol.md §7): asking for presigned URLs, sending bytes straight to
 * S3 with them, and following a download's redirect to S3, each the way a plain HTTP client does it: no fileserver
 * credentials ever travel to S3.
 */
import type { UploadGrant } from '../../lib/fileserver/uploads';
import { type RawAnswer, send } from './http';

export type { UploadGrant };

/** `POST /uploads/<target>` with a JSON body (or a raw string or bytes, to send malformed JSON). */
export function askUpload(
  baseUrl: string,
  target: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawAnswer> {
  return send(baseUrl, 'POST', `/uploads/${target}`, {
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
}

/** A PUT of `body` to a presigned URL with exactly the headers the grant lists, and nothing else. */
export function putToPresignedUrl(grant: UploadGrant, body: Buffer): Promise<RawAnswer> {
  expect(grant.method).toBe('PUT');
  const url = new URL(grant.url);
  return send(url.origin, 'PUT', url.pathname + url.search, { headers: { ...grant.headers }, body });
}

/** The 302's `Location`, checked to point at `s3Endpoint`, fetched without any credentials. */
export function followRedirect(answer: RawAnswer, s3Endpoint: string): Promise<RawAnswer> {
  expect(answer.status).toBe(302);
  const location = String(answer.headers.location);
  expect(location.startsWith(`${s3Endpoint}/`)).toBe(true);
  const url = new URL(location);
  return send(url.origin, 'GET', url.pathname + url.search);
}
