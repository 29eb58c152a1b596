/**
 * The large-upload route against a faithful S3 (LocalStack, started with S3_SKIP_SIGNATURE_VALIDATION=0 so that
 * presigned signatures are checked as AWS checks them): what the URLs bind, S3 itself enforces. Content that does
 * not match the SHA-1 is refused (BadDigest), a length other than the declared size breaks the signature, and a
 * refused upload leaves nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import type { TestStack } from '../support/stack';
import { readZip } from '../support/zip';
import { startFaithfulStack } from './support/faithful-stack';

jest.setTimeout(120_000);

interface Grant {
  method: 'PUT';
  url: string;
  headers: Record<string, string>;
}

let stack: TestStack;
beforeAll(async () => {
  stack = await startFaithfulStack();
});
afterAll(async () => {
  await stack?.close();
});

async function ask(path: string, body: unknown): Promise<Record<string, unknown>> {
  const answer = await send(stack.url, 'POST', path, {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(answer.status).toBe(200);
  return answer.json();
}

/** A PUT to a presigned URL with the listed headers, some of them overridden or left out. */
async function upload(grant: Grant, body: Buffer, headers: Record<string, string | undefined> = {}) {
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...grant.headers, ...headers })) {
    if (value !== undefined) merged[name] = value;
  }
  const url = new URL(grant.url);
  return send(url.origin, 'PUT', url.pathname + url.search, { headers: merged, body });
}

const sha1Hex = (data: Buffer): string => createHash('sha1').update(data).digest('hex');

describe('an exercise file URL is bound to its SHA-1 and size', () => {
  const content = randomBytes(6 * 1024 * 1024);
  const sha1 = sha1Hex(content);
  const key = `tasks/${sha1[0]}/${sha1}`;
  let grant: Grant;

  beforeAll(async () => {
    const answer = await ask(`/uploads/exercises/${sha1}`, { size: content.length });
    expect(answer.stored).toBe(false);
    grant = answer.upload as Grant;
  });

  it('S3 refuses other content of the same size (BadDigest) and stores nothing at the hash', async () => {
    const other = Buffer.from(content);
    other[0] = (other[0] ?? 0) ^ 0xff;
    const answer = await upload(grant, other);
    expect(answer.status).toBe(400);
    expect(answer.body.toString()).toContain('BadDigest');
    expect(await stack.exists(key)).toBe(false);
    expect((await send(stack.url, 'GET', `/exercises/${sha1}`)).status).toBe(404);
  });

  it('S3 refuses a body of another length than declared (the length is signed)', async () => {
    const answer = await upload(grant, Buffer.concat([content, Buffer.from('x')]), {
      'Content-Length': String(content.length + 1),
    });
    expect(answer.status).toBe(403);
    expect(await stack.exists(key)).toBe(false);
  });

  it('S3 refuses the upload without the checksum header', async () => {
    const answer = await upload(grant, content, { 'x-amz-checksum-sha1': undefined });
    expect(answer.status).toBe(403);
    expect(await stack.exists(key)).toBe(false);
  });

  it('the right content is stored, served through the redirect, and then "already stored"', async () => {
    expect((await upload(grant, content)).status).toBe(200);
    const download = await send(stack.url, 'GET', `/exercises/${sha1}`);
    expect(download.status).toBe(302);
    const location = new URL(String(download.headers.location));
    const fetched = await send(location.origin, 'GET', location.pathname + location.search);
    expect(fetched.status).toBe(200);
    expect(sha1Hex(fetched.body)).toBe(sha1);
    expect(await ask(`/uploads/exercises/${sha1}`, { size: content.length })).toEqual({
      result: 'OK',
      stored: true,
      path: `/exercises/${sha1}`,
    });
  });
});

it('a result URL is bound to its size: a longer body is refused and the stored result stays', async () => {
  const name = `large_${Date.now()}.zip`;
  const first = randomBytes(5 * 1024 * 1024);
  const firstGrant = (await ask(`/uploads/results/${name}`, { size: first.length })).upload as Grant;
  expect((await upload(firstGrant, first)).status).toBe(200);

  const second = randomBytes(7 * 1024 * 1024);
  const secondGrant = (await ask(`/uploads/results/${name}`, { size: first.length })).upload as Grant;
  const refused = await upload(secondGrant, second, { 'Content-Length': String(second.length) });
  expect(refused.status).toBe(403);
  expect(sha1Hex(await stack.storedBytes(`results/${name}`))).toBe(sha1Hex(first));
});

describe('submissions: what only a faithful S3 enforces', () => {
  const grantFiles = async (id: string, files: Record<string, Buffer>) => {
    const declared = Object.fromEntries(Object.entries(files).map(([path, data]) => [path, data.length]));
    const answer = await ask(`/uploads/submissions/${id}`, { files: declared });
    const grants = answer.files as Record<string, Grant>;
    for (const [path, data] of Object.entries(files))
      expect((await upload(grants[path] as Grant, data)).status).toBe(200);
    return { uploadId: answer.upload_id as string, declared, grants };
  };

  it('two completions of one submission at once both land: the manifest write is conditional, neither drops files', async () => {
    const id = `race_${Date.now()}`;
    const first = await grantFiles(id, { 'a.txt': Buffer.from('a') });
    const second = await grantFiles(id, { 'b.txt': Buffer.from('bb') });
    const answers = await Promise.all([
      send(stack.url, 'POST', `/uploads/submissions/${id}/complete`, {
        body: JSON.stringify({ upload_id: first.uploadId, files: first.declared }),
      }),
      send(stack.url, 'POST', `/uploads/submissions/${id}/complete`, {
        body: JSON.stringify({ upload_id: second.uploadId, files: second.declared }),
      }),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    const manifest = JSON.parse((await stack.storedBytes(`manifests/${id}.json`)).toString()) as {
      files: { path: string }[];
    };
    expect(manifest.files.map((file) => file.path)).toEqual(['a.txt', 'b.txt']);
  });

  it('an upload URL is write-once: used again after the completion, S3 refuses it and the listed file stays', async () => {
    const id = `once_${Date.now()}`;
    const { uploadId, declared, grants } = await grantFiles(id, { 'main.c': Buffer.from('1111') });
    const completed = await send(stack.url, 'POST', `/uploads/submissions/${id}/complete`, {
      body: JSON.stringify({ upload_id: uploadId, files: declared }),
    });
    expect(completed.status).toBe(200);
    const again = await upload(grants['main.c'] as Grant, Buffer.from('2222'));
    expect(again.status).toBe(412);
    expect((await stack.storedBytes(`revisions/${id}/${uploadId}/main.c`)).toString()).toBe('1111');
  });
});

it('a POST whose new path another request wrote meanwhile stores its file under a revision key, leaving that one', async () => {
  const id = `taken_${Date.now()}`;
  // Another request's file, written at the plain key after this POST read the (absent) manifest.
  await stack.s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: `submissions/${id}/main.c`, Body: 'other' }));
  const posted = multipart([file('main.c', 'mine'), file('job-config.yml', 'c')]);
  const post = await send(stack.url, 'POST', `/submissions/${id}`, {
    headers: { 'Content-Type': posted.contentType },
    body: posted.body,
  });
  expect(post.status).toBe(200);
  expect((await stack.storedBytes(`submissions/${id}/main.c`)).toString()).toBe('other');
  const manifest = JSON.parse((await stack.storedBytes(`manifests/${id}.json`)).toString()) as {
    files: { path: string; key?: string }[];
  };
  expect(manifest.files.find((f) => f.path === 'main.c')?.key).toMatch(
    new RegExp(`^revisions/${id}/[0-9a-z]+/main\\.c$`),
  );
  const archive = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
  expect(archive.status).toBe(200);
  const entries = await readZip(archive.body);
  expect(entries.filter((e) => !e.name.endsWith('/')).map((e) => [e.name, e.data.toString()])).toEqual([
    [`${id}/job-config.yml`, 'c'],
    [`${id}/main.c`, 'mine'],
  ]);
});
