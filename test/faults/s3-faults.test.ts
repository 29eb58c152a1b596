/**
 * S3 failing under the service (issue 8): 500 InternalError, 503 SlowDown, connection resets, stalled answers and
 * bodies cut short, injected on the wire by the fault proxy (test/support/fault-proxy.ts) between the handlers and a
 * real S3-compatible server, on a chosen request of a chosen operation. Clients talk real HTTP to the local server.
 *
 * The promises: a failure the SDK's retries (lib/storage/s3/s3-client.ts: standard mode, 3 attempts, 5 s to the answer) absorb is
 * invisible; one they do not is a 503 with `Retry-After` and a JSON error; nothing is lost, nothing half-written
 * becomes visible, and nothing is ever served cut short.
 */
import { createHash, randomBytes } from 'node:crypto';
import { handler as archiver } from '../../functions/archiver';
import { submit } from '../handlers/support/archives';
import { manifestEvent } from '../handlers/support/s3-events';
import type { FaultKind } from '../support/fault-proxy';
import type { RawAnswer } from '../support/http';
import { file, multipart, type Part } from '../support/multipart';
import { type FaultStack, startFaultStack } from './support/fault-stack';
import { createTally } from './support/tally';

const tally = createTally('s3-faults');
let stack: FaultStack;
beforeAll(async () => {
  // Faults in the builds of GETs and of the archiver are under test: POSTs leave every build to them.
  stack = await startFaultStack({ ARCHIVE_IN_POST_MAX_BYTES: '0' });
});
afterEach(() => {
  stack.proxy.clear();
});
afterAll(async () => {
  tally.write(stack?.proxy.stats);
  await stack?.close();
});

const sha1 = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');

function post(path: string, parts: readonly Part[]): Promise<RawAnswer> {
  const { body, contentType } = multipart(parts);
  return tally.send(stack.url, 'POST', path, { body, headers: { 'Content-Type': contentType } });
}

const get = (path: string): Promise<RawAnswer> => tally.send(stack.url, 'GET', path);

/** A retryable failure as the client must see it: 503, `Retry-After`, a JSON error that says to retry. */
function expectRetryable(answer: RawAnswer): void {
  expect({ status: answer.status, retryAfter: answer.headers['retry-after'], body: answer.json() }).toEqual({
    status: 503,
    retryAfter: '1',
    body: { result: 'ERROR', error: { code: 'storage-unavailable', message: expect.stringMatching(/retry/i) } },
  });
}

/** Checks the archive of `id` byte for byte against `files` (prefixed layout, entries sorted by path). */
async function expectArchive(id: string, files: Record<string, string | Buffer>): Promise<void> {
  const answer = await get(`/submission_archives/${id}.zip`);
  expect(answer.status).toBe(200);
  await tally.expectArchive(answer.body, id, files);
}

const SUBMISSION = {
  'main.c': 'int main(void) { return 0; }\n',
  'lib/util.h': '#pragma once\n',
  'data/input.txt': 'third file\n',
  'job-config.yml': 'submission:\n  job-id: x\n',
};
const parts = (files: Record<string, string | Buffer>): Part[] =>
  Object.entries(files).map(([path, data]) => file(path, data));

describe('a submission whose third file write fails on every attempt', () => {
  it.each<FaultKind>(['500', '503', 'reset'])(
    '%s: answers 503 with Retry-After, writes no manifest, and the same POST retried succeeds',
    async (kind) => {
      const id = `third_write_${kind}`;
      const broken = stack.proxy.inject({
        kind,
        operation: 'PutObject',
        key: `submissions/${id}/data/input.txt`,
        times: Number.POSITIVE_INFINITY,
      });

      expectRetryable(await post(`/submissions/${id}`, parts(SUBMISSION)));
      // Every attempt the SDK made (maxAttempts 3) met the fault; then the handler gave up.
      expect(broken).toHaveLength(3);
      expect(await stack.keys(`manifests/${id}`)).toEqual([]);
      expect(await stack.keys(`submission_archives/${id}`)).toEqual([]);
      expect((await get(`/submission_archives/${id}.zip`)).status).toBe(404);

      stack.proxy.clear();
      expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
      await expectArchive(id, SUBMISSION);
    },
  );
});

describe('a re-POST whose replacing file write fails on every attempt', () => {
  it('503; the stored files are untouched, a rebuild still gives the first upload, and the retry replaces it', async () => {
    const id = 'repost_fails';
    expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
    await expectArchive(id, SUBMISSION);
    const stored = await stack.keys(`submissions/${id}/`);
    const bytesBefore = await Promise.all(stored.map((key) => stack.storedBytes(key)));

    const second = { ...SUBMISSION, 'main.c': 'int main(void) { return 1; }\n', 'data/input.txt': 'v2\n' };
    // The replacing files go to a fresh revision key; fail that write of data/input.txt on every attempt.
    const broken = stack.proxy.inject({
      kind: '500',
      operation: 'PutObject',
      key: new RegExp(`^revisions/${id}/[0-9a-z]+/data/input\\.txt$`),
      times: Number.POSITIVE_INFINITY,
    });
    expectRetryable(await post(`/submissions/${id}`, parts(second)));
    expect(broken).toHaveLength(3);
    stack.proxy.clear();

    // Nothing the stored manifest lists was touched: the files keep their bytes, and an archive rebuilt from
    // scratch (as after the archive lifecycle rule) is the first upload's.
    expect(await stack.keys(`submissions/${id}/`)).toEqual(stored);
    expect(await Promise.all(stored.map((key) => stack.storedBytes(key)))).toEqual(bytesBefore);
    await stack.remove(`submission_archives/${id}.zip`);
    await expectArchive(id, SUBMISSION);

    expect((await post(`/submissions/${id}`, parts(second))).status).toBe(200);
    await expectArchive(id, second);
  });
});

describe('transient faults that the SDK retries absorb', () => {
  it('a 500 on the third file write: the POST answers 200 and the archive is whole', async () => {
    const id = 'absorbed_500';
    const broken = stack.proxy.inject({ kind: '500', operation: 'PutObject', key: `submissions/${id}/data/input.txt` });
    expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
    expect(broken).toHaveLength(1);
    await expectArchive(id, SUBMISSION);
  });

  it('a 503 SlowDown on the manifest write: 200, and the archive is whole', async () => {
    const id = 'absorbed_503';
    const broken = stack.proxy.inject({ kind: '503', operation: 'PutObject', key: `manifests/${id}.json` });
    expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
    expect(broken).toHaveLength(1);
    await expectArchive(id, SUBMISSION);
  });

  it('a reset on the manifest read of a re-POST: 200, and the archive holds both uploads', async () => {
    const id = 'absorbed_reset';
    expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
    const broken = stack.proxy.inject({ kind: 'reset', operation: 'GetObject', key: `manifests/${id}.json` });
    expect((await post(`/submissions/${id}`, [file('extra.txt', 'more\n')])).status).toBe(200);
    expect(broken).toHaveLength(1);
    await expectArchive(id, { ...SUBMISSION, 'extra.txt': 'more\n' });
  });

  it('a reset after an exercise write took effect: the retried create-only write answers 200', async () => {
    const data = randomBytes(3000);
    const key = `tasks/${sha1(data)[0]}/${sha1(data)}`;
    const broken = stack.proxy.inject({ kind: 'reset-after', operation: 'PutObject', key });
    const answer = await post('/exercises', [file('input.bin', data)]);
    expect(answer.status).toBe(200);
    expect(broken).toHaveLength(1);
    tally.expectBytes((await get(`/exercises/${sha1(data)}`)).body, data);
  });

  it('a stalled answer to a result PUT: the SDK times out, retries, and the worker gets 200', async () => {
    const body = randomBytes(64 * 1024);
    const broken = stack.proxy.inject({ kind: 'stall', operation: 'PutObject', key: 'results/stalled.zip' });
    const answer = await tally.send(stack.url, 'PUT', '/results/stalled.zip', { body });
    expect(answer.status).toBe(200);
    expect(broken).toHaveLength(1);
    tally.expectBytes((await get('/results/stalled.zip')).body, body);
  });

  it('a 503 SlowDown on an archive write and a reset on its first file read: the GET answers the whole archive', async () => {
    const id = 'absorbed_archive';
    expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
    const slowed = stack.proxy.inject({ kind: '503', operation: 'PutObject', key: `submission_archives/${id}.zip` });
    const reset = stack.proxy.inject({
      kind: 'reset',
      operation: 'GetObject',
      key: `submissions/${id}/data/input.txt`,
    });
    await expectArchive(id, SUBMISSION);
    expect([slowed.length, reset.length]).toEqual([1, 1]);
  });
});

describe('a result PUT that fails', () => {
  // (503 SlowDown on every attempt is the submission case above; its backoff costs seconds per case.)
  it.each<FaultKind>(['500', 'reset'])(
    '%s on every attempt: 503, and the previous result is intact and readable',
    async (kind) => {
      const name = `kept_${kind}.zip`;
      const previous = randomBytes(10_000);
      expect((await tally.send(stack.url, 'PUT', `/results/${name}`, { body: previous })).status).toBe(200);
      stack.proxy.inject({ kind, operation: 'PutObject', key: `results/${name}`, times: Number.POSITIVE_INFINITY });

      const answer = await tally.send(stack.url, 'PUT', `/results/${name}`, { body: randomBytes(20_000) });
      stack.proxy.clear();
      expectRetryable(answer);
      tally.expectKept(await stack.exists(`results/${name}`));
      tally.expectBytes(await stack.storedBytes(`results/${name}`), previous);
      tally.expectBytes((await get(`/results/${name}`)).body, previous);
    },
  );

  it('reset-after: the write did land although the worker saw 503, and it is whole (S3 PUTs are atomic)', async () => {
    // The one case where the client's error does not mean "nothing changed": the connection broke after S3 stored
    // the object. What is stored is then exactly the new body, never a mix; a retry by the worker rewrites it.
    const name = 'landed.zip';
    const body = randomBytes(20_000);
    stack.proxy.inject({
      kind: 'reset-after',
      operation: 'PutObject',
      key: `results/${name}`,
      times: Number.POSITIVE_INFINITY,
    });
    expectRetryable(await tally.send(stack.url, 'PUT', `/results/${name}`, { body }));
    stack.proxy.clear();
    tally.expectBytes((await get(`/results/${name}`)).body, body);
  });
});

describe('an exercise upload that fails', () => {
  it.each<FaultKind>(['500', 'reset'])(
    '%s on every attempt: 503, nothing at the hash, a GET is 404, and a retry stores it',
    async (kind) => {
      const data = randomBytes(4000);
      const hash = sha1(data);
      const key = `tasks/${hash[0]}/${hash}`;
      stack.proxy.inject({ kind, operation: 'PutObject', key, times: Number.POSITIVE_INFINITY });

      expectRetryable(await post('/exercises', [file('input.bin', data)]));
      stack.proxy.clear();
      expect(await stack.exists(key)).toBe(false);
      expect((await get(`/exercises/${hash}`)).status).toBe(404);
      expect((await tally.send(stack.url, 'HEAD', `/exercises/${hash}`)).status).toBe(404);

      expect((await post('/exercises', [file('input.bin', data)])).json()).toEqual({
        result: 'OK',
        files: { 'input.bin': `/exercises/${hash}` },
      });
      tally.expectBytes((await get(`/exercises/${hash}`)).body, data);
    },
  );
});

describe('an archive build that fails midway', () => {
  it.each<FaultKind>(['500', 'truncate'])(
    'GET: %s on the second file read leaves no archive; the next GET builds a whole one',
    async (kind) => {
      const id = `build_get_${kind}`;
      expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
      // Sorted by path: data/input.txt, job-config.yml, lib/util.h, main.c.
      const broken = stack.proxy.inject({
        kind,
        operation: 'GetObject',
        key: `submissions/${id}/job-config.yml`,
        times: Number.POSITIVE_INFINITY,
      });
      const answer = await get(`/submission_archives/${id}.zip`);
      stack.proxy.clear();
      expectRetryable(answer);
      // A body cut short cannot be retried by the SDK (it was already handed over): one attempt, then the build fails.
      expect(broken.length).toBeGreaterThanOrEqual(1);
      expect(await stack.keys(`submission_archives/${id}`)).toEqual([]);
      await expectArchive(id, SUBMISSION);
    },
  );

  it('event: a reset on every upload part of a multipart archive rejects (Lambda retries); the next event builds it', async () => {
    const id = 'build_event_parts';
    const big = randomBytes(6 * 1024 * 1024);
    // Stored through lib: a body this large cannot pass through API Gateway and Lambda (413).
    await submit(id, { 'big.bin': big, 'main.c': SUBMISSION['main.c'] });
    const broken = stack.proxy.inject({ kind: 'reset', operation: 'UploadPart', times: Number.POSITIVE_INFINITY });

    await expect(archiver(manifestEvent(id))).rejects.toThrow(id);
    stack.proxy.clear();
    expect(broken.length).toBeGreaterThanOrEqual(3);
    expect(await stack.keys(`submission_archives/${id}`)).toEqual([]);

    await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
    const zip = await stack.storedBytes(`submission_archives/${id}.zip`);
    await tally.expectArchive(zip, id, { 'big.bin': big, 'main.c': SUBMISSION['main.c'] });
  });

  it('event: a body cut short in the middle of a file rejects; the next event builds a whole archive', async () => {
    const id = 'build_event_truncate';
    expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
    const broken = stack.proxy.inject({ kind: 'truncate', operation: 'GetObject', key: `submissions/${id}/main.c` });
    await expect(archiver(manifestEvent(id))).rejects.toThrow(id);
    expect(broken).toHaveLength(1);
    expect(await stack.keys(`submission_archives/${id}`)).toEqual([]);
    await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
    await expectArchive(id, SUBMISSION);
  });
});

describe('a read cut short is never served as whole', () => {
  it.each([
    ['a result', 'results/cut.zip', '/results/cut.zip'],
    ['an attachment', 'attachments/cut', '/attachments/cut'],
  ])('%s: a 503, never a 200 with part of the bytes; the next GET is whole', async (_label, key, path) => {
    const body = randomBytes(200_000);
    expect((await tally.send(stack.url, 'PUT', path, { body })).status).toBe(200);
    stack.proxy.inject({ kind: 'truncate', operation: 'GetObject', key });
    const cut = await get(path);
    // A retry can fix it: 503 with Retry-After, like any storage failure (docs/protocol.md §5).
    expect(cut.status).toBe(503);
    expect(cut.headers['retry-after']).toBe('1');
    expect(cut.json()).toMatchObject({ result: 'ERROR', error: { code: 'storage-unavailable' } });
    tally.expectBytes((await get(path)).body, body);
  });

  it('an exercise file: a 503, and the truncated bytes are not cached for later GETs', async () => {
    const data = randomBytes(100_000);
    const hash = sha1(data);
    expect((await post('/exercises', [file('cut.bin', data)])).status).toBe(200);
    stack.proxy.inject({ kind: 'truncate', operation: 'GetObject', key: `tasks/${hash[0]}/${hash}` });
    expect((await get(`/exercises/${hash}`)).status).toBe(503);
    for (let i = 0; i < 2; i++) tally.expectBytes((await get(`/exercises/${hash}`)).body, data);
  });

  it('an archive: a 503, never part of a zip; the next GET is whole', async () => {
    const id = 'cut_archive';
    expect((await post(`/submissions/${id}`, parts(SUBMISSION))).status).toBe(200);
    await expectArchive(id, SUBMISSION);
    stack.proxy.inject({ kind: 'truncate', operation: 'GetObject', key: `submission_archives/${id}.zip` });
    expect((await get(`/submission_archives/${id}.zip`)).status).toBe(503);
    await expectArchive(id, SUBMISSION);
  });
});
