/**
 * Checking a presigned URL of the folder store as S3 checks one: the request is signed again with the store's own
 * credentials by the AWS SDK's presigner (the same code that made the URL, lib/storage/s3/s3-store.ts), from what the request
 * carries (method, path, query, and the values of the headers it names as signed), and the signatures must match.
 * So a URL is bound to its method, key, expiry, response overrides and every signed header: the length
 * (`content-length`), the SHA-1 (`x-amz-checksum-sha1`) and write-once (`if-none-match`). The store then enforces
 * what those headers say (lib/local/store-endpoint.ts).
 *
 * The query is parsed once, here, and the answer is built from that one parse (`Verdict.query`): a check that read
 * one of two same-named parameters while the answer read the other would let a URL be re-purposed (a prepended
 * `response-content-type=text/html` served as inline HTML). So a repeated parameter is refused, as S3 refuses it,
 * and the query must be exactly the one the signer makes again: no parameter added, none changed, none the check
 * does not read (`X-Amz-Content-Sha256`, the scope of `X-Amz-Credential`).
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';

export interface PresignedRequest {
  method: string;
  /** The path as sent, still percent-encoded (SigV4 for S3 signs it so, without normalising). */
  rawPath: string;
  /** The query string as sent, without `?`. */
  rawQuery: string;
  headers: IncomingHttpHeaders;
}

/** The query of a presigned request, each name once, percent-decoded exactly (a `+` is a plus). */
export type PresignedQuery = ReadonlyMap<string, string>;

/** On success, the query the signature covers: the only one the answer may be built from. */
export type Verdict =
  | { ok: true; query: PresignedQuery }
  | { ok: false; status: number; code: string; message: string };

/** SigV4's own bound (AWS: "X-Amz-Expires … maximum 604800 seconds"). */
const MAX_EXPIRES_SECONDS = 7 * 24 * 3600;
/** How far a signing time may be in the future (S3 allows 15 minutes of clock skew). */
const MAX_SKEW_MS = 15 * 60 * 1000;
/** Set by the signer itself; everything else in the query is signed as it stands. */
const SIGNER_PARAMS = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Content-Sha256',
]);

export async function verifyPresigned(client: S3Client, request: PresignedRequest, now = Date.now()): Promise<Verdict> {
  const query = parseQuery(request.rawQuery);
  if (query === 'malformed') return refuse(400, 'InvalidArgument', 'The query string is not valid percent-encoding.');
  if ('repeated' in query) {
    return refuse(403, 'AccessDenied', `The query parameter ${query.repeated} appears more than once.`);
  }
  const signature = query.get('X-Amz-Signature');
  const credential = query.get('X-Amz-Credential');
  const date = query.get('X-Amz-Date');
  const expires = query.get('X-Amz-Expires');
  const signedHeaders = query.get('X-Amz-SignedHeaders');
  if (!signature || !credential || !date || !expires || !signedHeaders) {
    return refuse(403, 'AccessDenied', 'Only presigned URLs are served here; this request carries no signature.');
  }
  if (query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
    return refuse(400, 'AuthorizationQueryParametersError', 'X-Amz-Algorithm must be AWS4-HMAC-SHA256.');
  }
  const credentials = await client.config.credentials();
  const [accessKeyId, , scopeRegion] = credential.split('/');
  const region = scopeRegion ?? '';
  if (accessKeyId !== credentials.accessKeyId) {
    return refuse(403, 'InvalidAccessKeyId', 'The access key in X-Amz-Credential is not this store’s.');
  }
  const signedAt = parseAmzDate(date);
  const lifetime = /^\d{1,7}$/.test(expires) ? Number(expires) : Number.NaN;
  if (signedAt === undefined || !(lifetime >= 1 && lifetime <= MAX_EXPIRES_SECONDS)) {
    return refuse(400, 'AuthorizationQueryParametersError', 'X-Amz-Date or X-Amz-Expires is malformed.');
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(';')) {
    const value = request.headers[name];
    if (value === undefined) return refuse(403, 'AccessDenied', `The signed header ${name} is missing.`);
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const { hostname, port } = splitHost(headers.host ?? '');
  const unsigned = new Map([...query].filter(([name]) => !SIGNER_PARAMS.has(name)));
  const presigner = new S3RequestPresigner({ ...client.config, signingName: 's3', region: async () => region });
  const again = await presigner.presign(
    {
      method: request.method,
      protocol: 'http:',
      hostname,
      port,
      path: request.rawPath,
      query: Object.fromEntries(unsigned),
      headers,
    },
    {
      signingDate: new Date(signedAt),
      expiresIn: lifetime,
      signingRegion: region,
      signingService: 's3',
      // Every signed header stays a header, as it was when the URL was made.
      unhoistableHeaders: new Set(Object.keys(headers)),
    },
  );
  const resigned = again.query ?? {};
  const expected = Buffer.from(String(resigned['X-Amz-Signature'] ?? ''));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given) || !sameQuery(query, resigned)) {
    return refuse(
      403,
      'SignatureDoesNotMatch',
      'The signature does not match this request (method, key, query or signed headers).',
    );
  }
  if (now > signedAt + lifetime * 1000) return refuse(403, 'AccessDenied', 'Request has expired.');
  if (signedAt > now + MAX_SKEW_MS) return refuse(403, 'RequestTimeTooSkewed', 'The URL is signed in the future.');
  return { ok: true, query };
}

/**
 * Whether the request's query holds exactly the parameters of the query signed again, with the same values: the
 * signer's own parameters are taken from the request only in part (the access key and region of the credential, the
 * date, the lifetime), so the rest of them must be checked here to be what the signer writes.
 */
function sameQuery(query: PresignedQuery, resigned: Record<string, string | string[] | null>): boolean {
  const names = Object.keys(resigned);
  if (names.length !== query.size) return false;
  return names.every((name) => {
    const value = resigned[name];
    if (typeof value !== 'string' || !query.has(name)) return false;
    // The signature was compared in constant time above; `===` would tell by its timing how much of it is right.
    return name === 'X-Amz-Signature' || query.get(name) === value;
  });
}

function refuse(status: number, code: string, message: string): Verdict {
  return { ok: false, status, code, message };
}

/**
 * `a=b&c=d` decoded exactly (a `+` is a plus: SigV4 encodes a space as `%20`); `'malformed'` if it is not valid
 * percent-encoding, or the first name that appears twice (compared decoded, so `a` and `%61` are one name).
 */
function parseQuery(raw: string): Map<string, string> | 'malformed' | { repeated: string } {
  const query = new Map<string, string>();
  if (raw === '') return query;
  for (const pair of raw.split('&')) {
    const at = pair.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(at < 0 ? pair : pair.slice(0, at));
      value = at < 0 ? '' : decodeURIComponent(pair.slice(at + 1));
    } catch {
      return 'malformed';
    }
    if (query.has(name)) return { repeated: name };
    query.set(name, value);
  }
  return query;
}

/** `20261201T221500Z` → epoch milliseconds. */
function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
}

function splitHost(host: string): { hostname: string; port: number | undefined } {
  const at = host.lastIndexOf(':');
  if (at < 0 || host.endsWith(']')) return { hostname: host, port: undefined };
  return { hostname: host.slice(0, at), port: Number(host.slice(at + 1)) };
}
