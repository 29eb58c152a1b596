/**
 * Archive on upload, end to end (docs/design.md "Archive on upload"): a POST over real HTTP writes the manifest,
 * the embedded S3 server's object-created event drives the archiver (as S3 notifications do in AWS), and the
 * archive appears in the bucket without anyone asking for it. The tests watch the bucket, never the archive route,
 * which would build the archive on demand and so prove nothing about the trigger.
 */
import { createHash } from 'node:crypto';
import { freshId } from '../support/fresh-id';
import { send } from '../support/http';
import { file, multipart, type Part } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';
import { readZip, type ZipEntry } from '../support/zip';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.notificationsIdle();
  await stack?.close();
});

const POLL_MS = 20;
const DEADLINE_MS = 2_000;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const archiveKeyOf = (id: string): string => `submission_archives/${id}.zip`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(id: string, parts: readonly Part[]): Promise<void> {
  const { body, contentType } = multipart(parts);
  const answer = await send(stack.url, 'POST', `/submissions/${id}`, {
    body,
    headers: { 'Content-Type': contentType },
  });
  expect(answer.status).toBe(200);
}

const exists = (key: string): Promise<boolean> => stack.exists(key);

const storedBytes = (key: string): Promise<Buffer> => stack.storedBytes(key);

/** Polls `check` every 20 ms until it answers a value; fails if that takes longer than 2 s. */
async function within2s<T>(what: string, check: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    const ms = Date.now() - started;
    if (value !== undefined) return { value, ms };
    if (ms > DEADLINE_MS) throw new Error(`${what} did not happen within ${DEADLINE_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** The stored archive's entries, once it exists and `ready` accepts them. */
function storedArchiveWhen(id: string, ready: (entries: ZipEntry[]) => boolean) {
  return within2s(`the archive of ${id} being ready`, async () => {
    if (!(await exists(archiveKeyOf(id)))) return undefined;
    const entries = await readZip(await storedBytes(archiveKeyOf(id)));
    return ready(entries) ? entries : undefined;
  });
}

const texts = (entries: readonly ZipEntry[]) =>
  entries.map((entry) => ({ name: entry.name, data: entry.data.toString('utf8') }));

describe('POST /submissions/<id> triggers the archiver through the S3 event of its manifest', () => {
  it('builds the archive within 2 s, byte-equal to what GET /submission_archives/<id>.zip serves', async () => {
    const id = freshId('trigger');
    expect(await exists(archiveKeyOf(id))).toBe(false);
    await post(id, [
      file('main.c', 'int main(void) { return 0; }\n'),
      file('sub/dir/x.txt', 'x\n'),
      file('job-config.yml', `submission:\n  job-id: ${id}\n`),
      { name: 'comment', data: 'a text field, never archived' },
    ]);

    const appeared = await within2s(`${archiveKeyOf(id)} appearing`, async () =>
      (await exists(archiveKeyOf(id))) ? true : undefined,
    );
    expect(appeared.ms).toBeLessThanOrEqual(DEADLINE_MS);

    const stored = await storedBytes(archiveKeyOf(id));
    expect(texts(await readZip(stored))).toEqual([
      { name: `${id}/job-config.yml`, data: `submission:\n  job-id: ${id}\n` },
      { name: `${id}/main.c`, data: 'int main(void) { return 0; }\n' },
      { name: `${id}/sub/dir/x.txt`, data: 'x\n' },
    ]);

    const served = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    expect(served.status).toBe(200);
    expect(served.headers['content-type']).toBe('application/zip');
    expect(sha256(served.body)).toBe(sha256(stored));
    expect(served.body.equals(stored)).toBe(true);
  });

  it('rebuilds the stored archive within 2 s after a re-POST adds a file', async () => {
    const id = freshId('trigger');
    await post(id, [file('main.c', 'v1\n'), file('job-config.yml', 'c')]);
    const first = await storedArchiveWhen(id, () => true);
    expect(first.value.map((entry) => entry.name)).toEqual([`${id}/job-config.yml`, `${id}/main.c`]);

    await post(id, [file('tests/input.txt', '1 2 3\n')]);
    const rebuilt = await storedArchiveWhen(id, (entries) =>
      entries.some((entry) => entry.name === `${id}/tests/input.txt`),
    );
    expect(rebuilt.ms).toBeLessThanOrEqual(DEADLINE_MS);
    expect(texts(rebuilt.value)).toEqual([
      { name: `${id}/job-config.yml`, data: 'c' },
      { name: `${id}/main.c`, data: 'v1\n' },
      { name: `${id}/tests/input.txt`, data: '1 2 3\n' },
    ]);

    await stack.notificationsIdle();
    const stored = await storedBytes(archiveKeyOf(id));
    const served = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    expect(served.status).toBe(200);
    expect(served.body.equals(stored)).toBe(true);
  });

  it('rebuilds after a re-POST that replaces a file with new content', async () => {
    const id = freshId('trigger');
    await post(id, [file('main.c', 'old\n'), file('job-config.yml', 'c')]);
    await storedArchiveWhen(id, () => true);
    await post(id, [file('main.c', 'new\n')]);
    const rebuilt = await storedArchiveWhen(id, (entries) =>
      entries.some((entry) => entry.name === `${id}/main.c` && entry.data.toString('utf8') === 'new\n'),
    );
    expect(texts(rebuilt.value)).toEqual([
      { name: `${id}/job-config.yml`, data: 'c' },
      { name: `${id}/main.c`, data: 'new\n' },
    ]);
  });

  it('builds the archives of several submissions posted at once', async () => {
    const ids = [freshId('burst'), freshId('burst'), freshId('burst'), freshId('burst')];
    await Promise.all(ids.map((id, i) => post(id, [file('n.txt', String(i)), file('job-config.yml', id)])));
    for (const [i, id] of ids.entries()) {
      const { value } = await storedArchiveWhen(id, () => true);
      expect(texts(value)).toEqual([
        { name: `${id}/job-config.yml`, data: id },
        { name: `${id}/n.txt`, data: String(i) },
      ]);
    }
  });

  it('builds nothing for a rejected POST (no manifest, no event, no archive)', async () => {
    const id = freshId('trigger');
    const { body, contentType } = multipart([file('ok.txt', 'ok'), file('../escape.txt', 'no')]);
    const answer = await send(stack.url, 'POST', `/submissions/${id}`, {
      body,
      headers: { 'Content-Type': contentType },
    });
    expect(answer.status).toBe(400);
    await sleep(200);
    await stack.notificationsIdle();
    expect((await stack.keys()).filter((key) => key.includes(id))).toEqual([]);
  });
});
