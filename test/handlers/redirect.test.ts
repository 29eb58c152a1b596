/**
 * Downloads above the inline limit (docs/protocol.md §7): a Lambda answer cannot carry them, so they are answered 302
 * with a short-lived presigned S3 URL, which the worker and Guzzle follow without credentials.
 */
import { randomBytes } from 'node:crypto';
import { handler as archives } from '../../functions/archives';
import { handler as results } from '../../functions/results';
import { handler as submissions } from '../../functions/submissions';
import { file, multipart } from '../support/multipart';
import { readZip } from '../support/zip';
import { bodyBytes, invoke, loadEvent } from './support/events';
import { BUCKET, useTestStore } from './support/store';

const LIMIT = 1024;
const bucket = useTestStore({ INLINE_LIMIT_BYTES: String(LIMIT) });

const putResult = (name: string, bytes: Buffer) =>
  invoke(results, loadEvent('worker-result-put', { param: name, body: bytes }));

const getResult = (name: string, method = 'GET', headers: Record<string, string> = {}) =>
  invoke(
    results,
    loadEvent('worker-result-put', {
      method,
      param: name,
      body: null,
      headers: { 'Content-Length': undefined, Expect: undefined, ...headers },
    }),
  );

/** Checks the redirect and returns its Location. */
function expectPresignedRedirect(answer: Awaited<ReturnType<typeof getResult>>, key: string): string {
  expect(answer.statusCode).toBe(302);
  expect(answer.body).toBe('');
  expect(answer.headers?.['Cache-Control']).toBe('no-store');
  const location = String(answer.headers?.Location);
  const url = new URL(location);
  expect(url.protocol).toBe('http:');
  expect(url.origin).toBe(new URL(bucket.endpoint).origin);
  expect(url.pathname).toBe(`/${BUCKET}/${key}`);
  expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
  return location;
}

describe(`with INLINE_LIMIT_BYTES=${LIMIT}`, () => {
  it('redirects a larger result to a presigned URL that serves the exact bytes', async () => {
    const bytes = randomBytes(5000);
    expect((await putResult('big.zip', bytes)).statusCode).toBe(200);

    const location = expectPresignedRedirect(await getResult('big.zip'), 'results/big.zip');
    const fetched = await fetch(location);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer())).toEqual(bytes);
    expect(fetched.headers.get('content-disposition')).toBe('attachment; filename="big.zip"');
  });

  it('redirects HEAD of a larger result too', async () => {
    await putResult('big-head.zip', randomBytes(LIMIT + 1));
    const location = expectPresignedRedirect(await getResult('big-head.zip', 'HEAD'), 'results/big-head.zip');
    // The URL is signed for HEAD, which is what follows the redirect of a HEAD (S3 refuses it for GET).
    const fetched = await fetch(location, { method: 'HEAD' });
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('content-length')).toBe(String(LIMIT + 1));
  });

  it('answers a conditional request for a larger result with 304 when the ETag matches, else redirects', async () => {
    const bytes = randomBytes(2 * LIMIT);
    await putResult('big-conditional.zip', bytes);
    const location = expectPresignedRedirect(await getResult('big-conditional.zip'), 'results/big-conditional.zip');
    const fetched = await fetch(location);
    await fetched.arrayBuffer();
    // What the client got from S3 after the redirect is what it revalidates with here.
    const etag = String(fetched.headers.get('etag'));
    for (const method of ['GET', 'HEAD']) {
      const answer = await getResult('big-conditional.zip', method, { 'If-None-Match': etag });
      expect(answer.statusCode).toBe(304);
      expect(answer.body).toBe('');
      expect(answer.headers?.ETag).toBe(etag);
      expect(answer.headers?.Location).toBeUndefined();
    }
    const stale = await getResult('big-conditional.zip', 'GET', { 'If-None-Match': '"stale"', Range: 'bytes=0-9' });
    expectPresignedRedirect(stale, 'results/big-conditional.zip');
    // A Range goes with the redirected request, and S3 answers it.
    const ranged = await fetch(String(stale.headers?.Location), { headers: { Range: 'bytes=1000-1999' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(bytes.subarray(1000, 2000));
  });

  it.each([0, 1, LIMIT - 1, LIMIT])('serves %i bytes inline', async (size) => {
    const bytes = randomBytes(size);
    const name = `inline-${size}.zip`;
    await putResult(name, bytes);
    const answer = await getResult(name);
    expect(answer.statusCode).toBe(200);
    expect(answer.isBase64Encoded).toBe(true);
    expect(bodyBytes(answer)).toEqual(bytes);
  });

  it('redirects a large submission archive to a zip with the submitted files', async () => {
    const id = 'student_large-archive';
    const data = randomBytes(4 * LIMIT); // random bytes do not deflate below the limit
    const { body, contentType } = multipart([file('data/input.bin', data), file('job-config.yml', 'tasks: []\n')]);
    const posted = await invoke(
      submissions,
      loadEvent('api-submission-post', { param: id, body, headers: { 'Content-Type': contentType } }),
    );
    expect(posted.statusCode).toBe(200);

    const answer = await invoke(archives, loadEvent('worker-archive-get', { param: `${id}.zip` }));
    const location = expectPresignedRedirect(answer, `submission_archives/${id}.zip`);
    // The worker names its copy after the archive URL it was given, not after this Location (docs/protocol.md §3).
    const fetched = await fetch(location);
    expect(fetched.status).toBe(200);
    const entries = await readZip(Buffer.from(await fetched.arrayBuffer()));
    const byName = new Map(entries.map((entry) => [entry.name, entry.data]));
    expect(byName.get(`${id}/data/input.bin`)).toEqual(data);
    expect(byName.get(`${id}/job-config.yml`)?.toString()).toBe('tasks: []\n');
  });
});
