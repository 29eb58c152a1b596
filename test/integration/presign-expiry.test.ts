/**
 * Presigned URLs stop working when they expire (docs/protocol.md §7 "short-lived"): S3 itself refuses an upload or a
 * download URL used after PRESIGN_TTL_SECONDS. lib/config.ts reads the environment once per jest module registry,
 * which is why this is a file of its own with a 1 s lifetime.
 */
import { createHash, randomBytes } from 'node:crypto';
import { freshId } from '../support/fresh-id';
import { send } from '../support/http';
import { startTestStack, type TestStack } from '../support/stack';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';

process.env.PRESIGN_TTL_SECONDS = '1';

/** lib/config.ts default. */
const INLINE_LIMIT_BYTES = 4 * 1024 * 1024;
/** Past the 1 s lifetime, with room for SigV4's whole-second signing time. */
const PAST_EXPIRY_MS = 2_500;

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What S3 answers to an expired presigned request: 403 AccessDenied, "Request has expired". */
function expectExpired(answer: { status: number; body: Buffer }): void {
  expect(answer.status).toBe(403);
  expect(answer.body.toString()).toContain('AccessDenied');
  expect(answer.body.toString()).toContain('Request has expired');
}

async function grant(target: string, body: unknown): Promise<Record<string, unknown>> {
  const answer = await askUpload(stack.url, target, body);
  expect(answer.status).toBe(200);
  return answer.json();
}

it('upload URLs used after they expire are refused by S3, and nothing is stored at their keys', async () => {
  const content = randomBytes(1024);
  const sha1 = createHash('sha1').update(content).digest('hex');
  const result = `${freshId('result')}.zip`;
  const submission = freshId('student');
  const submissionGrant = await grant(`submissions/${submission}`, { files: { 'main.c': content.length } });
  const submissionFiles = submissionGrant.files as Record<string, UploadGrant>;
  const uploadId = submissionGrant.upload_id as string;
  const grants: [string, UploadGrant][] = [
    [`tasks/${sha1[0]}/${sha1}`, (await grant(`exercises/${sha1}`, { size: content.length })).upload as UploadGrant],
    [`results/${result}`, (await grant(`results/${result}`, { size: content.length })).upload as UploadGrant],
    [`revisions/${submission}/${uploadId}/main.c`, submissionFiles['main.c'] as UploadGrant],
  ];
  for (const [, upload] of grants) {
    expect(Date.parse(upload.expires_at)).toBeLessThan(Date.now() + PAST_EXPIRY_MS);
  }

  await wait(PAST_EXPIRY_MS);

  for (const [key, upload] of grants) {
    expectExpired(await putToPresignedUrl(upload, content));
    expect(await stack.exists(key)).toBe(false);
  }
  expect((await send(stack.url, 'GET', `/exercises/${sha1}`)).status).toBe(404);
  expect((await send(stack.url, 'GET', `/results/${result}`)).status).toBe(404);
  const complete = await askUpload(stack.url, `submissions/${submission}/complete`, {
    upload_id: uploadId,
    files: { 'main.c': content.length },
  });
  expect(complete.status).toBe(400);
  expect(complete.json()).toMatchObject({ error: { code: 'missing-file' } });
  expect(await stack.exists(`manifests/${submission}.json`)).toBe(false);
});

it('a download redirect used after it expires is refused by S3', async () => {
  const name = `${freshId('result')}.zip`;
  // Above the inline limit, so GET answers with a redirect; small enough for the normal route.
  const content = randomBytes(INLINE_LIMIT_BYTES + 1);
  expect((await send(stack.url, 'PUT', `/results/${name}`, { body: content })).status).toBe(200);
  const answer = await send(stack.url, 'GET', `/results/${name}`);
  expect(answer.status).toBe(302);
  const location = new URL(String(answer.headers.location));
  expect(location.origin).toBe(stack.s3Endpoint);

  await wait(PAST_EXPIRY_MS);

  const fetched = await send(location.origin, 'GET', location.pathname + location.search);
  expectExpired(fetched);
  expect(fetched.body.includes(content.subarray(0, 64))).toBe(false);
});
