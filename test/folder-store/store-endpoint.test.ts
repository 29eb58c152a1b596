/**
 * The answers of `npm start`'s S3 stand-in (lib/local/store-endpoint.ts) to requests that carry a valid signature
 * but that S3 refuses or answers otherwise: each with S3's status and error code (the `<Code>` an S3 client reads),
 * and nothing stored. The URLs are signed here with the store's own signing client, for requests the service's own
 * URLs never make.
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { freshId } from '../support/fresh-id';
import { type RawAnswer, send } from '../support/http';
import { type FolderStoreStack, startFolderStoreStack } from '../support/stack';

let stack: FolderStoreStack;
beforeAll(async () => {
  stack = await startFolderStoreStack();
});
afterAll(async () => {
  await stack?.close();
});

const signingClient = () => stack.folderStore.signingClient();

async function signedGet(key: string): Promise<URL> {
  return new URL(await getSignedUrl(signingClient(), new GetObjectCommand({ Bucket: stack.bucket, Key: key })));
}

/** A PUT URL that signs no header but the host: the request's own headers then decide. */
async function signedPut(key: string): Promise<URL> {
  return new URL(await getSignedUrl(signingClient(), new PutObjectCommand({ Bucket: stack.bucket, Key: key })));
}

function sendTo(url: URL, method: string, headers: Record<string, string> = {}, body?: Buffer): Promise<RawAnswer> {
  return send(url.origin, method, url.pathname + url.search, { headers, ...(body ? { body } : {}) });
}

function expectS3Error(answer: RawAnswer, status: number, code: string): void {
  expect({ status: answer.status, code: /<Code>([^<]*)<\/Code>/.exec(answer.body.toString())?.[1] }).toEqual({
    status,
    code,
  });
}

it('answers a GET of a key that is not stored 404 NoSuchKey', async () => {
  expectS3Error(await sendTo(await signedGet(`results/${freshId('missing')}.zip`), 'GET'), 404, 'NoSuchKey');
});

it('answers a range past the end 416 InvalidRange with the object size, and a range within it 206', async () => {
  const key = `results/${freshId('ranged')}.zip`;
  expect((await sendTo(await signedPut(key), 'PUT', {}, Buffer.from('0123456789'))).status).toBe(200);
  const url = await signedGet(key);
  const past = await sendTo(url, 'GET', { Range: 'bytes=20-30' });
  expectS3Error(past, 416, 'InvalidRange');
  expect(past.headers['content-range']).toBe('bytes */10');
  const within = await sendTo(url, 'GET', { Range: 'bytes=2-4' });
  expect({ status: within.status, body: within.body.toString() }).toEqual({ status: 206, body: '234' });
});

it('refuses a PUT with no Content-Length (411 MissingContentLength) and stores nothing', async () => {
  const key = `results/${freshId('chunked')}.zip`;
  const answer = await sendTo(await signedPut(key), 'PUT', { 'Transfer-Encoding': 'chunked' }, Buffer.from('abc'));
  expectS3Error(answer, 411, 'MissingContentLength');
  expect(await stack.exists(key)).toBe(false);
});

it('refuses an If-None-Match other than * on a PUT (501 NotImplemented) and stores nothing', async () => {
  const key = `results/${freshId('etag-condition')}.zip`;
  const answer = await sendTo(await signedPut(key), 'PUT', { 'If-None-Match': '"abc"' }, Buffer.from('abc'));
  expectS3Error(answer, 501, 'NotImplemented');
  expect(await stack.exists(key)).toBe(false);
});

it('honours If-Match on a PUT: the stored ETag replaces, another is 412 PreconditionFailed and keeps the object', async () => {
  const key = `results/${freshId('if-match')}.zip`;
  const url = await signedPut(key);
  const first = await sendTo(url, 'PUT', {}, Buffer.from('first'));
  expect(first.status).toBe(200);
  expectS3Error(await sendTo(url, 'PUT', { 'If-Match': '"0123"' }, Buffer.from('other')), 412, 'PreconditionFailed');
  expect((await stack.storedBytes(key)).toString()).toBe('first');
  const etag = first.headers.etag as string;
  expect((await sendTo(url, 'PUT', { 'If-Match': etag }, Buffer.from('second'))).status).toBe(200);
  expect((await stack.storedBytes(key)).toString()).toBe('second');
});

it('serves a HEAD signed for HEAD with the length and no body, and a GET with the stored type unless the URL overrides it', async () => {
  const key = `results/${freshId('typed')}.zip`;
  expect(
    (await sendTo(await signedPut(key), 'PUT', { 'Content-Type': 'application/zip' }, Buffer.from('zip bytes'))).status,
  ).toBe(200);
  // A HEAD needs a URL signed for HEAD, as in S3 (the method is signed).
  expect((await sendTo(await signedGet(key), 'HEAD')).status).toBe(403);
  const headUrl = new URL(
    await getSignedUrl(signingClient(), new HeadObjectCommand({ Bucket: stack.bucket, Key: key })),
  );
  const head = await sendTo(headUrl, 'HEAD');
  expect({ status: head.status, length: head.headers['content-length'], body: head.body.length }).toEqual({
    status: 200,
    length: '9',
    body: 0,
  });
  expect((await sendTo(await signedGet(key), 'GET')).headers['content-type']).toBe('application/zip');
  const overridden = new URL(
    await getSignedUrl(
      signingClient(),
      new GetObjectCommand({ Bucket: stack.bucket, Key: key, ResponseContentType: 'text/plain' }),
    ),
  );
  expect((await sendTo(overridden, 'GET')).headers['content-type']).toBe('text/plain');
});
