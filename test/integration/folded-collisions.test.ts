/**
 * REFUSE_FOLDED_COLLISIONS=true, for installations whose workers unpack on a case-insensitive or normalising file
 * system (docs/protocol.md §8.4): new uploads are refused two paths that would be one file there; `migrate` still
 * stores every submission the old fileserver stored, since the rule protects new uploads only (docs/operations.md).
 * Without the setting these names are stored (test/integration/bad-input-bounds.test.ts, finding 5).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bucketSnapshot } from '../support/bucket-snapshot';
import { type RawAnswer, send } from '../support/http';
import { file, multipart, type Part } from '../support/multipart';
import { runTool } from '../support/old-fileserver';
import { startTestStack, type TestStack } from '../support/stack';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';

jest.setTimeout(60_000);

let stack: TestStack;
beforeAll(async () => {
  process.env.REFUSE_FOLDED_COLLISIONS = 'true';
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
  delete process.env.REFUSE_FOLDED_COLLISIONS;
});

function post(path: string, parts: readonly Part[]): Promise<RawAnswer> {
  const { body, contentType } = multipart(parts);
  return send(stack.url, 'POST', path, { body, headers: { 'Content-Type': contentType } });
}
const ask = (target: string, body: unknown) => askUpload(stack.url, target, body);

/** `attempt` is answered 400 `path-conflict`, and storage is exactly as it was. */
async function refused(attempt: () => Promise<RawAnswer>): Promise<void> {
  const before = await bucketSnapshot(stack);
  const answer = await attempt();
  expect({ status: answer.status, code: answer.json<{ error: { code: string } }>().error?.code }).toEqual({
    status: 400,
    code: 'path-conflict',
  });
  expect(await bucketSnapshot(stack)).toEqual(before);
}

async function archiveEntries(id: string): Promise<string[]> {
  await stack.notificationsIdle();
  const answer = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
  expect(answer.status).toBe(200);
  return (await readZip(answer.body)).map((entry) => entry.name);
}

const nfc = '\u00e9.txt';
const nfd = 'e\u0301.txt';

describe('new uploads: paths that are one file once folded are refused (400 path-conflict)', () => {
  it.each([
    ['A.txt and a.txt', ['A.txt', 'a.txt']],
    ['é.txt in NFC and in NFD', [nfc, nfd]],
    ['Dir/x.c and dir/x.c', ['Dir/x.c', 'dir/x.c']],
    ['a file and a folder that differ in case', ['lib', 'LIB/x.c']],
  ])('one POST, or one grant, with %s', async (_what, paths) => {
    await refused(() =>
      post(
        '/submissions/clash',
        paths.map((path) => file(path, 'x')),
      ),
    );
    await refused(() => ask('submissions/clash', { files: Object.fromEntries(paths.map((path) => [path, 1])) }));
  });

  it('folders that differ in case hold different files: allowed', async () => {
    expect((await post('/submissions/folders', [file('Dir/x.c', 'x'), file('dir/y.c', 'y')])).status).toBe(200);
  });

  it('a re-POST, a grant and a completion are checked against the stored files', async () => {
    const grant = await ask('submissions/stored', { files: { [nfd]: 1 } });
    expect(grant.status).toBe(200);
    const { upload_id, files: urls } = grant.json<{ upload_id: string; files: Record<string, UploadGrant> }>();
    expect((await putToPresignedUrl(urls[nfd] as UploadGrant, Buffer.from('d'))).status).toBe(200);

    expect((await post('/submissions/stored', [file('Main.c', 'x'), file(nfc, 'c')])).status).toBe(200);
    await refused(() => post('/submissions/stored', [file('main.c', 'y')]));
    await refused(() => ask('submissions/stored', { files: { 'MAIN.C': 1 } }));
    await refused(() => ask('submissions/stored/complete', { upload_id, files: { [nfd]: 1 } }));
    // The same spelling replaces, as always.
    expect((await post('/submissions/stored', [file('Main.c', 'z')])).status).toBe(200);
    expect((await archiveEntries('stored')).sort()).toEqual(['stored/Main.c', `stored/${nfc}`]);
  });
});

describe('migrate: the rule protects new uploads, never an old submission', () => {
  it('stores a submission of the old fileserver that holds Main.java and main.java, and a:b.txt', async () => {
    const old = mkdtempSync(join(tmpdir(), 'old-fileserver-folded-'));
    try {
      const files: Record<string, string> = {
        'Main.java': 'class Main {}\n',
        'main.java': 'class main {}\n',
        'a:b.txt': 'a colon\n',
        [nfc]: 'composed\n',
        [nfd]: 'decomposed\n',
      };
      for (const [path, data] of Object.entries(files)) {
        const absolute = join(old, 'submissions', 'old_names', path);
        mkdirSync(dirname(absolute), { recursive: true });
        writeFileSync(absolute, data);
      }
      const run = await runTool(['migrate', '--from', old, '--json']);
      const report = run.json<{ refused: unknown[]; failed: unknown[] }>();
      expect(report.refused).toEqual([]);
      expect(report.failed).toEqual([]);
      expect(run.code).toBe(0);
      await stack.notificationsIdle();
      const answer = await send(stack.url, 'GET', '/submission_archives/old_names.zip');
      expect(answer.status).toBe(200);
      const entries = await readZip(answer.body);
      expect(Object.fromEntries(entries.map((entry) => [entry.name, entry.data.toString()]))).toEqual(
        Object.fromEntries(Object.entries(files).map(([path, data]) => [`old_names/${path}`, data])),
      );
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});
