/**
 * `npm run fileserver -- migrate` (docs/operations.md): a folder in the old fileserver's layout is copied into the
 * bucket, and then everything in it is served byte-identical through the HTTP routes, each archive equal to what a
 * POST of the same files builds; a second run writes nothing and says so. Runs against the embedded S3 (npm test)
 * and against LocalStack (npm run test:localstack), with the endpoint taken from the environment.
 */
import { rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { HashMismatchError, uploadExerciseFile } from '../../lib/fileserver/exercises';
import { spyOnS3 } from '../handlers/support/s3-spy';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { expectedKeys, makeOldFolder, type OldFolder, runTool, sha1 } from '../support/old-fileserver';
import { startTestStack, type TestStack } from '../support/stack';
import { followRedirect } from '../support/uploads';
import { readZip } from '../support/zip';

jest.setTimeout(120_000);

const INLINE_LIMIT_BYTES = 4 * 1024 * 1024; // lib/config.ts default

let stack: TestStack;
let folder: OldFolder;
beforeAll(async () => {
  stack = await startTestStack();
  folder = makeOldFolder();
});
afterAll(async () => {
  await stack?.close();
  if (folder) rmSync(folder.root, { recursive: true, force: true });
});

interface Report {
  ok: boolean;
  folder: { files: number; bytes: number };
  dryRun: boolean;
  totals: Record<'copied' | 'skipped' | 'refused' | 'failed', { items: number; files: number; bytes: number }>;
  refused: { kind: string; path: string; code: string; reason: string; files?: unknown[] }[];
  failed: unknown[];
  skippedWhy: Record<string, number>;
}

async function get(path: string, size: number): Promise<Buffer> {
  const answer = await send(stack.url, 'GET', path);
  if (size <= INLINE_LIMIT_BYTES) {
    expect(answer.status).toBe(200);
    return answer.body;
  }
  const fetched = await followRedirect(answer, stack.s3Endpoint);
  expect(fetched.status).toBe(200);
  return fetched.body;
}

/** Writes the tool sent to the bucket while `run` ran (the handlers' S3 client is the tool's, in this process). */
async function writesDuring(run: () => Promise<unknown>): Promise<string[]> {
  const spy = spyOnS3('operator-writes');
  try {
    await run();
    const writes = ['PutObjectCommand', 'CreateMultipartUploadCommand', 'UploadPartCommand', 'DeleteObjectCommand'];
    return spy.sent
      .filter((command) => writes.includes(command.name))
      .map((command) => `${command.name} ${command.input.Key}`);
  } finally {
    spy.remove();
  }
}

describe('migrate --from DIR', () => {
  it('--dry-run reports what it would do and writes nothing', async () => {
    let run: Awaited<ReturnType<typeof runTool>> | undefined;
    const writes = await writesDuring(async () => {
      run = await runTool(['migrate', '--from', folder.root, '--dry-run', '--json']);
    });
    expect(writes).toEqual([]);
    expect(await stack.keys()).toEqual([]);
    const report = run?.json<Report>() as Report;
    expect(report.dryRun).toBe(true);
    expect(report.refused.map((r) => r.path).sort()).toEqual([...folder.refused].sort());
    // Every exercise file, submission, result and attachment would be copied.
    expect(report.totals.copied.items).toBe(
      folder.exercises.size + folder.submissions.size + folder.results.size + folder.attachments.size,
    );
    expect(run?.code).toBe(1); // something was refused
  });

  it('copies everything in the service layout, refuses what it must (with why), and exits 1', async () => {
    const run = await runTool(['migrate', '--from', folder.root, '--json', '--concurrency', '4']);
    expect(run.code).toBe(1);
    const report = run.json<Report>();
    expect(report.failed).toEqual([]);
    expect(report.refused.map((r) => [r.path, r.code]).sort()).toEqual(
      [
        [folder.refused[0], 'hash-mismatch'],
        ['submissions/sub_refused', 'invalid-path'],
        ['results/bad name.zip', 'invalid-id'],
      ].sort(),
    );
    // A refused submission names every file that cannot be stored, each with its reason.
    expect(report.refused.find((r) => r.path === 'submissions/sub_refused')?.files).toEqual([
      { path: '\\xff\\xfe.c', code: 'invalid-path', reason: expect.stringContaining('is not valid UTF-8') },
      { path: 'bad\\name.c', code: 'invalid-path', reason: expect.stringContaining('contains a backslash') },
    ]);
    expect(report.skippedWhy).toEqual({ 'submission archives are not copied: they are rebuilt from the files': 1 });
    // Every file of the folder counts once, as copied, skipped, refused or failed.
    expect(Object.values(report.totals).reduce((sum, t) => sum + t.files, 0)).toBe(report.folder.files);
    await stack.notificationsIdle();

    const keys = (await stack.keys()).filter((key) => !key.startsWith('submission_archives/'));
    expect(keys).toEqual(expectedKeys(folder));
    // The mismatching file is stored under no name, and nothing of the refused submission is stored.
    expect(keys.some((key) => key.includes('sub_refused'))).toBe(false);
    expect(keys.filter((key) => key.startsWith('tasks/')).length).toBe(folder.exercises.size);
  });

  it('serves every migrated object byte-identical through the HTTP routes', async () => {
    for (const [hash, data] of folder.exercises) {
      expect(sha1(await get(`/exercises/${hash}`, data.length))).toBe(hash);
      expect((await get(`/tasks/${hash}`, data.length)).equals(data)).toBe(true);
    }
    for (const [name, data] of folder.results)
      expect((await get(`/results/${name}`, data.length)).equals(data)).toBe(true);
    for (const [id, data] of folder.attachments) {
      expect((await get(`/attachments/${id}`, data.length)).equals(data)).toBe(true);
    }
    for (const [id, files] of folder.submissions) {
      const large = [...files.values()].some((data) => data.length > INLINE_LIMIT_BYTES);
      const entries = await readZip(await get(`/submission_archives/${id}.zip`, large ? Infinity : 0));
      expect(entries.map((e) => e.name)).toEqual([...files.keys()].sort().map((path) => `${id}/${path}`));
      for (const entry of entries)
        expect(entry.data.equals(files.get(entry.name.slice(id.length + 1)) as Buffer)).toBe(true);
    }
  });

  it('a second run uploads nothing, changes nothing, and says so', async () => {
    const before = await stack.keys();
    let run: Awaited<ReturnType<typeof runTool>> | undefined;
    const writes = await writesDuring(async () => {
      run = await runTool(['migrate', '--from', folder.root, '--report', `${folder.root}.report.json`]);
    });
    expect(writes).toEqual([]);
    expect(await stack.keys()).toEqual(before);
    expect(run?.stdout).toContain('nothing copied: the bucket already held everything that could be copied');
    expect(run?.stdout).toMatch(/exercises: +copied 0, skipped 4, refused 1, failed 0/);
    expect(run?.stdout).toMatch(/submissions: +copied 0 \(0 files\), skipped 4, refused 1, failed 0/);
    expect(run?.code).toBe(1); // the refused entries are still refused
    rmSync(`${folder.root}.report.json`, { force: true });
  });

  it('builds each archive exactly as a POST of the same files builds it', async () => {
    for (const [id, files] of folder.submissions) {
      // POST /submissions carries at most about 4.5 MB; the large submission is compared by content above.
      if ([...files.values()].some((data) => data.length > 1024 * 1024)) continue;
      const migrated = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
      expect(migrated.status).toBe(200);
      // The same submission, stored afresh by the service's own POST under the same id.
      await stack.notificationsIdle();
      for (const key of await stack.keys()) {
        if (key.includes(`/${id}/`) || key === `manifests/${id}.json` || key === `submission_archives/${id}.zip`) {
          await stack.remove(key);
        }
      }
      const { body, contentType } = multipart([...files].map(([path, data]) => file(path, data)));
      const posted = await send(stack.url, 'POST', `/submissions/${id}`, {
        body,
        headers: { 'Content-Type': contentType },
      });
      expect(posted.status).toBe(200);
      const rebuilt = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
      expect(rebuilt.status).toBe(200);
      expect(rebuilt.body.equals(migrated.body)).toBe(true);
    }
  });

  it('aborts a streamed exercise upload whose bytes turn out not to hash to its name (a file changed midway)', async () => {
    const promised = patternBytes(6 * 1024 * 1024 + 5);
    const hash = sha1(promised);
    const changed = Buffer.from(promised);
    changed.writeUInt8(changed.readUInt8(changed.length - 1) ^ 1, changed.length - 1); // known only at the end
    await expect(uploadExerciseFile(hash, Readable.from([changed]))).rejects.toBeInstanceOf(HashMismatchError);
    expect(await stack.exists(`tasks/${hash[0]}/${hash}`)).toBe(false);
  });
});

/** Bytes that vary (a pattern, not a random source: the test needs no entropy). */
function patternBytes(size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 2654435761) >>> 24;
  return data;
}
