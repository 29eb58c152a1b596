/**
 * `verify`, `verify --repair`, `stats` and `gc` (docs/operations.md) on a bucket filled by `migrate`, with damage
 * planted behind the service's back: each kind is found, `--repair` fixes what can be fixed (archives), and gc
 * deletes exactly the unlisted exercise files that are old enough.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { MANIFEST_DIGEST_METADATA } from '../../lib/fileserver/archive-zip';
import { gc } from '../../lib/operator/gc';
import { send } from '../support/http';
import { makeOldFolder, type OldFolder, runTool, sha1 } from '../support/old-fileserver';
import { startTestStack, type TestStack } from '../support/stack';
import { readZip } from '../support/zip';

jest.setTimeout(120_000);

let stack: TestStack;
let folder: OldFolder;
beforeAll(async () => {
  stack = await startTestStack();
  folder = makeOldFolder();
  await runTool(['migrate', '--from', folder.root, '--json']);
  await stack.notificationsIdle();
  await runTool(['verify', '--repair', '--json']); // every archive built, whether or not S3 notifies
});
afterAll(async () => {
  await stack?.close();
  if (folder) rmSync(folder.root, { recursive: true, force: true });
});

interface Problem {
  code: string;
  key: string;
  repaired?: boolean;
}
interface VerifyReport {
  ok: boolean;
  problems: Problem[];
  archives: { current: number; stale: number; missing: number; built: number };
}

const put = (key: string, body: string, metadata?: Record<string, string>) =>
  stack.put(key, body, metadata ? { metadata } : {});

describe('verify', () => {
  it('finds nothing wrong in a freshly migrated bucket', async () => {
    const run = await runTool(['verify', '--json']);
    const report = run.json<VerifyReport>();
    expect(report.problems).toEqual([]);
    expect(report.archives).toEqual({ current: folder.submissions.size, stale: 0, missing: 0, built: 0 });
    expect(run.code).toBe(0);
  });

  it('finds a changed exercise object, a missing file and a stale archive; --repair fixes the archive', async () => {
    const hash = sha1('1 2 3\n');
    const exerciseKey = `tasks/${hash[0]}/${hash}`;
    await put(exerciseKey, '1 2 4\n');
    const missingKey = 'submissions/sub_nested/src/lib/util.h';
    await stack.remove(missingKey);
    // An archive built from another manifest: its metadata names another digest (as after a lost rebuild).
    const staleKey = 'submission_archives/sub.dots_1.zip';
    await put(staleKey, 'an old archive', { [MANIFEST_DIGEST_METADATA]: '0'.repeat(64), 'archive-layout': 'prefixed' });

    const found = await runTool(['verify', '--json']);
    expect(found.code).toBe(1);
    expect(
      found
        .json<VerifyReport>()
        .problems.map((p) => [p.code, p.key])
        .sort(),
    ).toEqual(
      [
        ['exercise-hash-mismatch', exerciseKey],
        ['missing-file', missingKey],
        ['stale-archive', staleKey],
      ].sort(),
    );

    const repaired = await runTool(['verify', '--repair', '--json']);
    const report = repaired.json<VerifyReport>();
    expect(report.problems.map((p) => [p.code, p.key, p.repaired ?? false]).sort()).toEqual(
      [
        ['exercise-hash-mismatch', exerciseKey, false],
        ['missing-file', missingKey, false],
        ['stale-archive', staleKey, true],
      ].sort(),
    );
    expect(repaired.code).toBe(1); // the exercise file and the missing file cannot be repaired from the bucket
    const archive = await send(stack.url, 'GET', '/submission_archives/sub.dots_1.zip');
    expect(archive.status).toBe(200);
    const files = folder.submissions.get('sub.dots_1') as Map<string, Buffer>;
    expect((await readZip(archive.body)).map((e) => [e.name, e.data.toString()])).toEqual(
      [...files].sort().map(([path, data]) => [`sub.dots_1/${path}`, data.toString()]),
    );
    expect(
      (await runTool(['verify', '--json'])).json<VerifyReport>().problems.some((p) => p.code === 'stale-archive'),
    ).toBe(false);

    // Migrating again restores what the old folder still holds (the hash is stored, so that file needs a delete).
    await stack.remove(exerciseKey);
    await runTool(['migrate', '--from', folder.root, '--json']);
    await stack.notificationsIdle();
    const healed = await runTool(['verify', '--repair', '--json']);
    expect(healed.json<VerifyReport>().problems.filter((p) => !p.repaired)).toEqual([]);
    expect(healed.code).toBe(0);
  });
});

describe('stats', () => {
  it('counts objects and bytes per prefix, submissions and archives', async () => {
    const run = await runTool(['stats', '--json']);
    const report = run.json<{
      prefixes: Record<string, { objects: number; bytes: number }>;
      submissions: number;
      archives: Record<string, number>;
    }>();
    const keys = await stack.keys();
    for (const prefix of ['tasks/', 'results/', 'attachments/', 'manifests/', 'submission_archives/']) {
      expect(report.prefixes[prefix]?.objects).toBe(keys.filter((key) => key.startsWith(prefix)).length);
    }
    expect(report.prefixes['tasks/']?.bytes).toBe([...folder.exercises.values()].reduce((s, d) => s + d.length, 0));
    expect(report.submissions).toBe(folder.submissions.size);
    expect(report.archives).toEqual({ current: folder.submissions.size, stale: 0, missing: 0 });
    expect(run.code).toBe(0);
  });
});

describe('gc', () => {
  const tasks = async () => (await stack.keys()).filter((key) => key.startsWith('tasks/'));

  it('refuses a keep list with a line that is not a hash, and deletes nothing', async () => {
    const keepFile = `${folder.root}.keep-bad`;
    writeFileSync(keepFile, `${sha1('x')}\nnot-a-hash\n`);
    const before = await tasks();
    const run = await runTool(['gc', '--keep', keepFile, '--older-than', '0', '--yes']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('line 2');
    expect(await tasks()).toEqual(before);
    rmSync(keepFile);
  });

  it('--dry-run (the default) deletes nothing and lists what would go', async () => {
    const listed = [...folder.exercises.keys()].slice(0, 2);
    const keepFile = `${folder.root}.keep`;
    writeFileSync(keepFile, `# referenced by the database\n${listed.join('\n').toUpperCase()}\n`);
    const before = await tasks();
    for (const args of [[], ['--dry-run']]) {
      const run = await runTool(['gc', '--keep', keepFile, '--older-than', '0', '--json', ...args]);
      expect(run.code).toBe(0);
      const report = run.json<{ wouldDelete: { sha1: string }[] }>();
      expect(report.wouldDelete.map((d) => d.sha1)).toEqual(
        [...folder.exercises.keys()].filter((hash) => !listed.includes(hash)).sort(),
      );
      expect(await tasks()).toEqual(before);
    }
    rmSync(keepFile);
  });

  it('--yes deletes exactly the unlisted hashes that are older than the bound', async () => {
    // Two generations of exercise files, written two seconds apart (S3 dates have one-second precision).
    const old = ['old listed\n', 'old unlisted 1\n', 'old unlisted 2\n'].map((text) => Buffer.from(text));
    const young = ['young unlisted\n'].map((text) => Buffer.from(text));
    const store = (data: Buffer) => put(`tasks/${sha1(data)[0]}/${sha1(data)}`, data.toString());
    for (const data of old) await store(data);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    for (const data of young) await store(data);
    const listing = new Map<string, Date>();
    for (const key of await stack.keys('tasks/')) listing.set(key, (await stack.head(key))?.LastModified as Date);
    const dateOf = (data: Buffer) => listing.get(`tasks/${sha1(data)[0]}/${sha1(data)}`) as Date;
    // The age bound falls between the two generations: 1 day before `now`.
    const cutoff = new Date((dateOf(old[2] as Buffer).getTime() + dateOf(young[0] as Buffer).getTime()) / 2);
    const now = new Date(cutoff.getTime() + 24 * 60 * 60 * 1000);

    // Everything the migration stored stays listed; of the new files only "old listed".
    const keepFile = `${folder.root}.keep-all`;
    writeFileSync(keepFile, [...folder.exercises.keys(), sha1(old[0] as Buffer)].join('\n'));
    const before = await tasks();
    const result = await gc(
      { keepFile, olderThanDays: 1, yes: true, concurrency: 4, now },
      { stdout: { write: () => true }, stderr: { write: () => true } },
      { stopped: false },
    );
    const gone = [sha1(old[1] as Buffer), sha1(old[2] as Buffer)].map((hash) => `tasks/${hash[0]}/${hash}`).sort();
    expect(result.exitCode).toBe(0);
    expect((result.report.deleted as { sha1: string }[]).map((d) => d.sha1)).toEqual(gone.map((key) => key.slice(-40)));
    expect(await tasks()).toEqual(before.filter((key) => !gone.includes(key)));
    rmSync(keepFile);
  });
});
