/**
 * Hot exercise files come from memory: a second GET of the same hash sends nothing to S3, and a missing hash is
 * never remembered as missing.
 */
import { createHash } from 'node:crypto';
import { download } from '../../functions/exercises';
import { bodyBytes, invoke, loadEvent } from './support/events';
import { BUCKET, useTestStore } from './support/store';
import { STORE_REQUESTS, spyOnStore } from './support/store-spy';

const bucket = useTestStore();

const sha1 = (data: string): string => createHash('sha1').update(data).digest('hex');

async function store(data: string): Promise<string> {
  const hash = sha1(data);
  await bucket.put(`tasks/${hash[0]}/${hash}`, Buffer.from(data));
  return hash;
}

it('answers a repeated GET or HEAD from memory, with the same bytes and headers', async () => {
  const hash = await store(`input ${Date.now()}`);
  const first = await invoke(download, loadEvent('worker-exercise-get', { param: hash }));
  const spy = spyOnStore();
  try {
    const second = await invoke(download, loadEvent('worker-exercise-get', { param: hash.toUpperCase() }));
    const head = await invoke(download, loadEvent('worker-exercise-get', { param: hash, method: 'HEAD' }));
    expect(spy.names()).toEqual([]);
    expect(second.statusCode).toBe(200);
    expect(bodyBytes(second).equals(bodyBytes(first))).toBe(true);
    expect(second.headers).toEqual(first.headers);
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers?.['Content-Length']).toBe(first.headers?.['Content-Length']);
  } finally {
    spy.remove();
  }
});

it('does not remember a missing hash: once the file is stored, it is served', async () => {
  const data = `late ${Date.now()}`;
  const hash = sha1(data);
  expect((await invoke(download, loadEvent('worker-exercise-get', { param: hash }))).statusCode).toBe(404);
  await store(data);
  const answer = await invoke(download, loadEvent('worker-exercise-get', { param: hash }));
  expect(answer.statusCode).toBe(200);
  expect(bodyBytes(answer).toString()).toBe(data);
});

it('answers a conditional or ranged GET from memory with the SHA-1 as ETag and the stored Last-Modified', async () => {
  const data = `validators ${Date.now()}`;
  const hash = await store(data);
  const first = await invoke(download, loadEvent('worker-exercise-get', { param: hash }));
  expect(first.headers?.ETag).toBe(`"${hash}"`);
  expect(first.headers?.['Cache-Control']).toBe('private, max-age=31536000, immutable');
  const lastModified = String(first.headers?.['Last-Modified']);
  expect(Number.isNaN(Date.parse(lastModified))).toBe(false);
  const spy = spyOnStore();
  try {
    const conditional = await invoke(
      download,
      loadEvent('worker-exercise-get', { param: hash, headers: { 'If-None-Match': `"${hash}"` } }),
    );
    const ranged = await invoke(
      download,
      loadEvent('worker-exercise-get', { param: hash, headers: { Range: 'bytes=0-9' } }),
    );
    expect(spy.names()).toEqual([]);
    expect(conditional.statusCode).toBe(304);
    expect(conditional.body).toBe('');
    expect(conditional.headers?.['Last-Modified']).toBe(lastModified);
    expect(ranged.statusCode).toBe(206);
    expect(bodyBytes(ranged).toString()).toBe(data.slice(0, 10));
    expect(ranged.headers?.['Last-Modified']).toBe(lastModified);
  } finally {
    spy.remove();
  }
});

it('remembers that a file is above the inline limit: its next redirect needs no S3 request, only a new signature', async () => {
  const data = `${'x'.repeat(4 * 1024 * 1024)} large ${Date.now()}`;
  const hash = await store(data);
  const first = await invoke(download, loadEvent('worker-exercise-get', { param: hash }));
  expect(first.statusCode).toBe(302);
  // Presigning asks the store nothing; every other call does.
  const spy = spyOnStore();
  const sent = (): string[] => spy.names().filter((name) => STORE_REQUESTS.includes(name));
  try {
    const second = await invoke(download, loadEvent('worker-exercise-get', { param: hash }));
    expect(sent()).toEqual([]);
    expect(spy.names()).toEqual(['presignGet']);
    expect(second.statusCode).toBe(302);
    const location = new URL(String(second.headers?.Location));
    expect(location.pathname).toBe(`/${BUCKET}/tasks/${hash[0]}/${hash}`);
    const fetched = await fetch(location);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).toString()).toBe(data);
    // The control: the first GET of another large file does ask S3.
    const other = await store(`${data} other`);
    expect((await invoke(download, loadEvent('worker-exercise-get', { param: other }))).statusCode).toBe(302);
    expect(sent()).toEqual(['getObject']);
  } finally {
    spy.remove();
  }
});
