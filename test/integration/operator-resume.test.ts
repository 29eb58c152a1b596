/**
 * A migration killed midway (SIGKILL: no cleanup at all), then run again, ends with a complete and correct bucket
 * (docs/operations.md, "Idempotent and resumable"). The first run is the tool as an operator starts it, in its own
 * process; the bucket is watched until part of the folder is in it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { send } from '../support/http';
import { expectedKeys, makeOldFolder, type OldFolder, runTool, sha1 } from '../support/old-fileserver';
import { startTestStack, type TestStack } from '../support/stack';
import { followRedirect } from '../support/uploads';
import { readZip } from '../support/zip';

jest.setTimeout(180_000);

const root = join(__dirname, '../..');

let stack: TestStack;
let folder: OldFolder;
beforeAll(async () => {
  stack = await startTestStack();
  folder = makeOldFolder({ extraExercises: 150, extraSubmissions: 40 });
});
afterAll(async () => {
  await stack?.close();
  if (folder) rmSync(folder.root, { recursive: true, force: true });
});

function startMigration(): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'lib/operator/cli.ts'), 'migrate', '--from', folder.root, '--concurrency', '1'],
    {
      cwd: root,
      env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider', INIT_CWD: folder.root },
      stdio: 'ignore',
    },
  );
}

it('a run killed midway, then run again, ends complete and correct', async () => {
  const expected = expectedKeys(folder);
  const child = startMigration();
  const exited = once(child, 'exit');
  // Kill it once a part of the folder is in the bucket: 30 of its 350 objects.
  const deadline = Date.now() + 60_000;
  let stored = 0;
  while (Date.now() < deadline && child.exitCode === null) {
    stored = (await stack.keys()).length;
    if (stored >= 30) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  const [, signal] = (await exited) as [number | null, string | null];
  expect(signal).toBe('SIGKILL'); // it was killed, not finished
  await stack.notificationsIdle();
  const afterKill = (await stack.keys()).filter((key) => expected.includes(key));
  expect(afterKill.length).toBeGreaterThan(0);
  expect(afterKill.length).toBeLessThan(expected.length);

  const rerun = await runTool(['migrate', '--from', folder.root, '--json']);
  const report = rerun.json<{
    failed: unknown[];
    refused: { path: string }[];
    folder: { files: number };
    totals: Record<string, { files: number }>;
  }>();
  expect(report.failed).toEqual([]);
  // Every file counts once, whatever the killed run had stored (docs/operations.md, "Idempotent and resumable").
  expect(Object.values(report.totals).reduce((sum, t) => sum + t.files, 0)).toBe(report.folder.files);
  expect(report.refused.map((r) => r.path).sort()).toEqual([...folder.refused].sort());
  await stack.notificationsIdle();

  const keys = (await stack.keys()).filter((key) => !key.startsWith('submission_archives/'));
  // Every expected key; anything else is a revision key of a file the killed run had half written.
  expect(keys.filter((key) => !key.startsWith('revisions/'))).toEqual(expected);
  for (const [hash, data] of folder.exercises) {
    const answer = await send(stack.url, 'GET', `/exercises/${hash}`);
    const body = answer.status === 302 ? (await followRedirect(answer, stack.s3Endpoint)).body : answer.body;
    expect(body.length).toBe(data.length);
    expect(sha1(body)).toBe(hash);
  }
  for (const [id, files] of folder.submissions) {
    const answer = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    const body = answer.status === 302 ? (await followRedirect(answer, stack.s3Endpoint)).body : answer.body;
    const entries = await readZip(body);
    expect(entries.map((e) => e.name)).toEqual([...files.keys()].sort().map((path) => `${id}/${path}`));
    for (const entry of entries) {
      expect(entry.data.equals(files.get(entry.name.slice(id.length + 1)) as Buffer)).toBe(true);
    }
  }
  for (const [name, data] of folder.results) {
    const answer = await send(stack.url, 'GET', `/results/${name}`);
    const body = answer.status === 302 ? (await followRedirect(answer, stack.s3Endpoint)).body : answer.body;
    expect(body.equals(data)).toBe(true);
  }
  // And the bucket passes its own check.
  const verified = await runTool(['verify', '--json']);
  expect(verified.json<{ problems: unknown[] }>().problems).toEqual([]);
  expect(verified.code).toBe(0);
});
