/**
 * The large-upload route as API Gateway delivers it (a Guzzle-style JSON POST, base64 like every body under binary
 * media types `*\/*`): the answer is a presigned PUT for the result's final key, bound to the declared size.
 */
import { handler as uploads } from '../../functions/uploads';
import { expectError, FIXTURE_ID, invoke, jsonBody, loadEvent } from './support/events';
import { useTestStore } from './support/store';

const bucket = useTestStore();

interface Grant {
  method: string;
  url: string;
  headers: Record<string, string>;
  expires_at: string;
}

it('answers a result upload request with a presigned PUT for results/<name>, its size signed', async () => {
  const before = await bucket.keys();
  const answer = await invoke(uploads, loadEvent('api-upload-post'));
  expect(answer.statusCode).toBe(200);
  const body = jsonBody(answer) as { result: string; path: string; upload: Grant };
  expect(body.result).toBe('OK');
  expect(body.path).toBe(`/results/${FIXTURE_ID}.zip`);
  expect(body.upload.method).toBe('PUT');
  const url = new URL(body.upload.url);
  expect(url.pathname).toMatch(new RegExp(`/results/${FIXTURE_ID}\\.zip$`));
  expect(url.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toEqual(
    expect.arrayContaining(['content-length', 'host']),
  );
  expect(url.searchParams.get('X-Amz-Expires')).toBe('600');
  expect(body.upload.headers).toEqual({ 'Content-Length': '52428800', 'Content-Type': 'application/zip' });
  const lifetime = Date.parse(body.upload.expires_at) - Date.now();
  expect(lifetime).toBeGreaterThan(500_000);
  expect(lifetime).toBeLessThanOrEqual(600_000);
  // Handing out a URL writes nothing.
  expect(await bucket.keys()).toEqual(before);
});

it('answers 413 upload-too-large for a declared size above MAX_UPLOAD_BYTES, with no URL', async () => {
  const answer = await invoke(uploads, loadEvent('api-upload-post', { body: Buffer.from('{"size": 1073741825}') }));
  expectError(answer, 413, 'upload-too-large');
  expect(answer.body).not.toContain('X-Amz-Signature');
});
