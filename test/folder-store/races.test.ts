/**
 * Truncation (docs/embedded-store.md): GETs that race uploads and overwrites of exercise files, results and archives
 * only ever see a whole version, through `npm start`'s server on the folder store. (s3rver wrote objects in place:
 * such GETs got 131,072 bytes of a 2 MiB exercise file, 0–1.5 MB of a result, or a truncated zip.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { send } from '../support/http';
import { multipart } from '../support/multipart';
import { type FolderStoreStack, startFolderStoreStack } from '../support/stack';
import { readZip } from '../support/zip';

let stack: FolderStoreStack;
beforeAll(async () => {
  stack = await startFolderStoreStack();
});
afterAll(async () => {
  await stack?.close();
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

it('a result being overwritten: every GET is one whole version', async () => {
  const versions = [randomBytes(2 * 1024 * 1024), randomBytes(3 * 1024 * 1024), randomBytes(1024 * 1024)];
  const digests = new Set(versions.map(sha256));
  expect((await send(stack.url, 'PUT', '/results/raced.zip', { body: versions[0] })).status).toBe(200);
  const writes = Array.from({ length: 9 }, (_, i) =>
    send(stack.url, 'PUT', '/results/raced.zip', { body: versions[i % 3] }),
  );
  const reads = Array.from({ length: 30 }, () => send(stack.url, 'GET', '/results/raced.zip'));
  for (const answer of await Promise.all(reads)) {
    expect(answer.status).toBe(200);
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
    expect(digests.has(sha256(answer.body))).toBe(true);
  }
  for (const answer of await Promise.all(writes)) expect(answer.status).toBe(200);
});

it('an exercise file being uploaded: every GET is 404 or the whole file, and the cache keeps the whole file', async () => {
  const content = randomBytes(2 * 1024 * 1024);
  const sha1 = createHash('sha1').update(content).digest('hex');
  const { body, contentType } = multipart([{ name: 'input.bin', data: content, filename: 'input.bin' }]);
  const upload = send(stack.url, 'POST', '/exercises', { headers: { 'Content-Type': contentType }, body });
  const reads = Array.from({ length: 30 }, () => send(stack.url, 'GET', `/exercises/${sha1}`));
  for (const answer of await Promise.all(reads)) {
    if (answer.status === 404) continue;
    expect(answer.status).toBe(200);
    expect(answer.body.equals(content)).toBe(true);
  }
  expect((await upload).status).toBe(200);
  for (let i = 0; i < 3; i++)
    expect((await send(stack.url, 'GET', `/exercises/${sha1}`)).body.equals(content)).toBe(true);
});

it('an archive being built and rebuilt: every GET is a whole zip of one upload', async () => {
  const first = { 'main.c': randomBytes(300 * 1024), 'data.bin': randomBytes(400 * 1024) };
  const second = { 'main.c': randomBytes(350 * 1024), 'data.bin': randomBytes(350 * 1024) };
  const post = (files: Record<string, Buffer>) => {
    const { body, contentType } = multipart(
      Object.entries(files).map(([name, data]) => ({ name, data, filename: name })),
    );
    return send(stack.url, 'POST', '/submissions/raced_archive', { headers: { 'Content-Type': contentType }, body });
  };
  expect((await post(first)).status).toBe(200);
  const reads: Promise<{ status: number; body: Buffer }>[] = [];
  const rePost = post(second);
  for (let i = 0; i < 20; i++) reads.push(send(stack.url, 'GET', '/submission_archives/raced_archive.zip'));
  expect((await rePost).status).toBe(200);
  for (let i = 0; i < 10; i++) reads.push(send(stack.url, 'GET', '/submission_archives/raced_archive.zip'));
  for (const answer of await Promise.all(reads)) {
    expect(answer.status).toBe(200);
    const entries = new Map((await readZip(answer.body)).map((e) => [e.name, e.data]));
    const whole = [first, second].some(
      (files) =>
        entries.size === 2 &&
        Object.entries(files).every(([path, data]) => entries.get(`raced_archive/${path}`)?.equals(data)),
    );
    expect(whole).toBe(true);
  }
  await stack.notificationsIdle();
});
