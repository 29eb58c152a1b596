/**
 * Bodies through the local server, real HTTP, the real handlers and storage, byte for byte: exercise files answered
 * from the handler's cache, each as its own bytes, with HEAD, 304 and ranges; and uploads stored as sent.
 */
import { createHash } from 'node:crypto';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const sha1 = (bytes: Buffer): string => createHash('sha1').update(bytes).digest('hex');

async function upload(bytes: Buffer): Promise<string> {
  const { body, contentType } = multipart([file('input.bin', bytes)]);
  const posted = await send(stack.url, 'POST', '/exercises', { body, headers: { 'Content-Type': contentType } });
  expect(posted.status).toBe(200);
  return sha1(bytes);
}

it('serves cached exercise files of one size and one prefix each as its own bytes, many times over', async () => {
  // 300 KiB each, identical but for the last byte, and a unique prefix per run.
  const prefix = Buffer.alloc(300 * 1024, `${process.pid}-${Date.now()}`);
  const files = [1, 2, 3].map((last) => Buffer.concat([prefix, Buffer.from([last])]));
  const hashes = await Promise.all(files.map(upload));
  for (let round = 0; round < 3; round++) {
    for (const [i, hash] of hashes.entries()) {
      const answer = await send(stack.url, 'GET', `/exercises/${hash}`);
      expect(answer.status).toBe(200);
      expect(sha1(answer.body)).toBe(hash);
      expect(answer.headers['content-length']).toBe(String(files[i]?.length));
    }
  }
});

it('answers HEAD, 304 and a range of a cached file as before, and the whole file after them', async () => {
  const bytes = Buffer.concat([Buffer.alloc(200 * 1024, `semantics-${Date.now()}`), Buffer.from('end')]);
  const hash = await upload(bytes);
  const path = `/exercises/${hash}`;
  expect(sha1((await send(stack.url, 'GET', path)).body)).toBe(hash);
  const head = await send(stack.url, 'HEAD', path);
  expect(head.status).toBe(200);
  expect(head.body.length).toBe(0);
  expect(head.headers['content-length']).toBe(String(bytes.length));
  const notModified = await send(stack.url, 'GET', path, { headers: { 'If-None-Match': `"${hash}"` } });
  expect(notModified.status).toBe(304);
  expect(notModified.body.length).toBe(0);
  const range = await send(stack.url, 'GET', path, { headers: { Range: `bytes=${bytes.length - 5}-` } });
  expect(range.status).toBe(206);
  expect(range.body.toString()).toBe(bytes.subarray(-5).toString());
  expect(range.headers['content-length']).toBe('5');
  const again = await send(stack.url, 'GET', path);
  expect(again.status).toBe(200);
  expect(again.body.equals(bytes)).toBe(true);
});

it('stores an uploaded result byte for byte, whatever its size', async () => {
  for (const size of [1, 100 * 1024, 1024 * 1024 + 1]) {
    const bytes = Buffer.alloc(size, `result-${size}-${Date.now()}`);
    const name = `bodies_${process.pid}_${size}_${Date.now()}.zip`;
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body: bytes })).status).toBe(200);
    const back = await send(stack.url, 'GET', `/results/${name}`);
    expect(back.status).toBe(200);
    expect(back.body.equals(bytes)).toBe(true);
  }
});
