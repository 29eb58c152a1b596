/**
 * The folder store's check of a presigned URL (lib/storage/folder-store/presigned.ts), answer by answer: each refusal
 * has the status and the S3 error code S3 itself gives (a client such as the SDK reads `<Code>`), a message that
 * names the problem, and the bounds of a URL's life hold to the second.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { type PresignedRequest, verifyPresigned } from '../../lib/storage/folder-store/presigned';

const client = new S3Client({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9999',
  forcePathStyle: true,
  credentials: { accessKeyId: 'store-key', secretAccessKey: 'store-secret' },
});
afterAll(() => client.destroy());

const SIGNED_AT = Date.UTC(2026, 11, 7, 5, 0, 0);
const LIFETIME_S = 600;

async function signedUrl(): Promise<URL> {
  const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'files', Key: 'results/r1.zip' }), {
    expiresIn: LIFETIME_S,
    signingDate: new Date(SIGNED_AT),
  });
  return new URL(url);
}

function requestOf(url: URL, changes: { method?: string; headers?: Record<string, string> } = {}): PresignedRequest {
  return {
    method: changes.method ?? 'GET',
    rawPath: url.pathname,
    rawQuery: url.search.slice(1),
    headers: { host: url.host, ...changes.headers },
  };
}

function withParam(url: URL, name: string, value: string): URL {
  const changed = new URL(url);
  changed.searchParams.set(name, value);
  return changed;
}

it('accepts the URL it signed, through its last second, and refuses it one millisecond later', async () => {
  const url = await signedUrl();
  await expect(verifyPresigned(client, requestOf(url), SIGNED_AT)).resolves.toMatchObject({ ok: true });
  const lastMoment = SIGNED_AT + LIFETIME_S * 1000;
  await expect(verifyPresigned(client, requestOf(url), lastMoment)).resolves.toMatchObject({ ok: true });
  await expect(verifyPresigned(client, requestOf(url), lastMoment + 1)).resolves.toEqual({
    ok: false,
    status: 403,
    code: 'AccessDenied',
    message: 'Request has expired.',
  });
});

it('accepts a URL signed up to 15 minutes ahead of its clock (S3 allows that skew), and refuses one signed later', async () => {
  const url = await signedUrl();
  const skew = 15 * 60 * 1000;
  await expect(verifyPresigned(client, requestOf(url), SIGNED_AT - skew)).resolves.toMatchObject({ ok: true });
  await expect(verifyPresigned(client, requestOf(url), SIGNED_AT - skew - 1)).resolves.toEqual({
    ok: false,
    status: 403,
    code: 'RequestTimeTooSkewed',
    message: 'The URL is signed in the future.',
  });
});

it.each<[string, (url: URL) => PresignedRequest, number, string, RegExp]>([
  [
    'a query that is not valid percent-encoding',
    (url) => ({ ...requestOf(url), rawQuery: `${url.search.slice(1)}&x=%E0%A4%A` }),
    400,
    'InvalidArgument',
    /not valid percent-encoding/,
  ],
  [
    'a parameter given twice',
    (url) => ({ ...requestOf(url), rawQuery: `${url.search.slice(1)}&X-Amz-Expires=${LIFETIME_S}` }),
    403,
    'AccessDenied',
    /X-Amz-Expires appears more than once/,
  ],
  [
    'no signature at all',
    (url) => requestOf(new URL(`${url.origin}${url.pathname}`)),
    403,
    'AccessDenied',
    /carries no signature/,
  ],
  [
    'another algorithm',
    (url) => requestOf(withParam(url, 'X-Amz-Algorithm', 'AWS4-HMAC-SHA1')),
    400,
    'AuthorizationQueryParametersError',
    /X-Amz-Algorithm must be AWS4-HMAC-SHA256/,
  ],
  [
    "another store's access key",
    (url) =>
      requestOf(
        withParam(url, 'X-Amz-Credential', (url.searchParams.get('X-Amz-Credential') ?? '').replace('store-key', 'k2')),
      ),
    403,
    'InvalidAccessKeyId',
    /access key in X-Amz-Credential is not this store/,
  ],
  [
    'an expiry of 0 s',
    (url) => requestOf(withParam(url, 'X-Amz-Expires', '0')),
    400,
    'AuthorizationQueryParametersError',
    /X-Amz-Date or X-Amz-Expires is malformed/,
  ],
  [
    'an expiry past SigV4’s 7 days',
    (url) => requestOf(withParam(url, 'X-Amz-Expires', '604801')),
    400,
    'AuthorizationQueryParametersError',
    /X-Amz-Date or X-Amz-Expires is malformed/,
  ],
  [
    'an expiry that is not a number',
    (url) => requestOf(withParam(url, 'X-Amz-Expires', '60s')),
    400,
    'AuthorizationQueryParametersError',
    /malformed/,
  ],
  [
    'a date in another format',
    (url) => requestOf(withParam(url, 'X-Amz-Date', '2026-12-07T05:00:00Z')),
    400,
    'AuthorizationQueryParametersError',
    /malformed/,
  ],
  [
    'a signature changed in its last character',
    (url) => {
      const signature = url.searchParams.get('X-Amz-Signature') ?? '';
      return requestOf(
        withParam(url, 'X-Amz-Signature', `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`),
      );
    },
    403,
    'SignatureDoesNotMatch',
    /signature does not match/,
  ],
  [
    'a signature one character shorter',
    (url) => requestOf(withParam(url, 'X-Amz-Signature', (url.searchParams.get('X-Amz-Signature') ?? '').slice(1))),
    403,
    'SignatureDoesNotMatch',
    /signature does not match/,
  ],
  [
    'a URL without the X-Amz-Content-Sha256 its signer wrote',
    (url) => {
      const changed = new URL(url);
      changed.searchParams.delete('X-Amz-Content-Sha256');
      return requestOf(changed);
    },
    403,
    'SignatureDoesNotMatch',
    /signature does not match/,
  ],
  [
    'another X-Amz-Content-Sha256 than its signer wrote',
    (url) => requestOf(withParam(url, 'X-Amz-Content-Sha256', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER')),
    403,
    'SignatureDoesNotMatch',
    /signature does not match/,
  ],
  [
    'another method',
    (url) => requestOf(url, { method: 'PUT' }),
    403,
    'SignatureDoesNotMatch',
    /signature does not match/,
  ],
  [
    'another host',
    (url) => ({ ...requestOf(url), headers: { host: '127.0.0.1:9998' } }),
    403,
    'SignatureDoesNotMatch',
    /signature does not match/,
  ],
])('refuses %s', async (_what, make, status, code, message) => {
  const verdict = await verifyPresigned(client, make(await signedUrl()), SIGNED_AT);
  expect(verdict).toMatchObject({ ok: false, status, code });
  expect(verdict.ok ? '' : verdict.message).toMatch(message);
});
