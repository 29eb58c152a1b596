/**
 * `npm run smoke -- --url <BaseUrl>` (docs/deploy.md, step 7) against `npm start`, as CI runs it (the "as deployed"
 * tier runs it against the deployment): every check passes and is one row of the table, with its time; it writes
 * only under its own ids and leaves everyone else's files as they were; and each way it can fail exits 1 with the
 * likely cause.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FolderStore } from '../../lib/storage/folder-store/folder-store';
import { type RunningServer, startCli } from '../support/cli';
import { freePort } from '../support/free-port';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';

const root = join(__dirname, '../..');
const PASSWORD = 'smoke-test-password';
const CHECKS = [
  'status',
  'credentials required',
  'submission upload',
  'submission archive',
  'exercise file upload',
  'exercise file download',
  'result upload',
  'result download',
  'large result upload',
  'large result redirect',
  'large result from storage',
];

let directory: string;
let server: RunningServer | undefined;

const serve = (): Promise<RunningServer> =>
  startCli(['--directory', directory, '--username', 're'], { FILESERVER_PASSWORD: PASSWORD });

/** Every object of the folder npm start keeps, with its bytes' hash (read while no server holds the folder). */
async function storeContents(): Promise<Map<string, string>> {
  const store = await FolderStore.open({ directory, bucket: 'recodex-fileserver' });
  try {
    const contents = new Map<string, string>();
    for (const key of await store.list('')) {
      const object = await store.getObject(key);
      if (!object) continue;
      const bytes = await store.readObjectBytes(key, object, Number.MAX_SAFE_INTEGER);
      contents.set(key, createHash('sha256').update(bytes).digest('hex'));
    }
    return contents;
  } finally {
    await store.close();
  }
}

async function smoke(args: string[], env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      join(root, 'node_modules/.bin/tsx'),
      [join(root, 'lib/operator/smoke/cli.ts'), ...args],
      { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 120_000 },
    );
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** The table's rows: check name → [result, rest of the row]. */
function rows(output: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of output.split('\n')) {
    const name = CHECKS.find((check) => line.startsWith(`${check}  `));
    if (name) found.set(name, line.slice(name.length).trim());
  }
  return found;
}

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'smoke-test-'));
  server = await serve();
  const auth = { Authorization: `Basic ${Buffer.from(`re:${PASSWORD}`).toString('base64')}` };
  const { body, contentType } = multipart([file('main.c', 'int main(void) { return 0; }\n')]);
  const posted = await send(server.url, 'POST', '/submissions/student_42', {
    body,
    headers: { ...auth, 'Content-Type': contentType },
  });
  expect(posted.status).toBe(200);
  const result = Buffer.from('the result of student_42');
  expect((await send(server.url, 'PUT', '/results/student_42.zip', { body: result, headers: auth })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await rm(directory, { recursive: true, force: true });
});

it('exits 1 on wrong credentials, says the 401 means the credentials, and runs nothing that writes', async () => {
  const { code, output } = await smoke(['--url', server?.url as string], {
    FILESERVER_USERNAME: 're',
    FILESERVER_PASSWORD: 'not-the-password',
  });
  expect(code).toBe(1);
  const table = rows(output);
  expect(table.get('status')).toMatch(/^FAIL +\d+ ms +expected 200, got 401 unauthorized: /);
  expect(output).toContain(
    'likely cause: wrong credentials: use the username and password stored in the SSM parameter',
  );
  // Without a working status, nothing that writes is run.
  expect(table.get('submission upload')).toMatch(/^FAIL +— +not run: needs status$/);
  expect(output).toContain(`${CHECKS.length - 1} of ${CHECKS.length} checks failed.`);
});

it('passes every check against npm start, one row each with its time, and writes only under its own id', async () => {
  await server?.stop();
  const before = await storeContents();
  server = await serve();
  const { code, output } = await smoke(['--url', server.url], {
    FILESERVER_USERNAME: 're',
    FILESERVER_PASSWORD: PASSWORD,
  });
  expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining(`All ${CHECKS.length} checks passed.`) });
  const table = rows(output);
  expect([...table.keys()]).toEqual(CHECKS);
  for (const row of table.values()) expect(row).toMatch(/^ok +\d+ ms +\S/);
  expect(table.get('submission archive')).toContain('2 entries as sent, layout prefixed');
  expect(table.get('large result redirect')).toMatch(/^ok +\d+ ms +302 to 127\.0\.0\.1:\d+$/);
  const id = /, id (smoke-test-\d{8}t\d{6}z-[0-9a-f]{8})\n/.exec(output)?.[1] as string;
  expect(id).toBeDefined();

  // Everyone else's files as they were; every new object is the run's own: its id in the key, or the exercise file
  // whose content names the run (content-addressed, so its key is the hash).
  await server.stop();
  server = undefined;
  const after = await storeContents();
  for (const [key, hash] of before) expect([key, after.get(key)]).toEqual([key, hash]);
  const exerciseHash = createHash('sha1').update(`exercise file of ${id}\n`).digest('hex');
  const added = [...after.keys()].filter((key) => !before.has(key));
  const exerciseKey = added.find((key) => key.startsWith('tasks/') && key.endsWith(exerciseHash));
  expect(exerciseKey).toBeDefined();
  expect(added.filter((key) => !key.includes(id) && key !== exerciseKey)).toEqual([]);
  expect(added).toEqual(
    expect.arrayContaining([
      `results/${id}.zip`,
      `results/${id}-large.bin`,
      `submission_archives/${id}.zip`,
      exerciseKey,
    ]),
  );
}, 120_000);

it('exits 1 when nothing answers at the URL, and says to check the URL', async () => {
  const port = await freePort();
  const { code, output } = await smoke(['--url', `http://127.0.0.1:${port}/prod`, '--timeout', '5'], {
    FILESERVER_USERNAME: 're',
    FILESERVER_PASSWORD: PASSWORD,
  });
  expect(code).toBe(1);
  expect(rows(output).get('status')).toMatch(
    new RegExp(`^FAIL +\\d+ ms +127\\.0\\.0\\.1:${port} refused the connection$`),
  );
  expect(output).toContain('likely cause: nothing listens there');
});

it('exits 2 without a URL or without credentials, and says what to give', async () => {
  const noUrl = await smoke([], { FILESERVER_USERNAME: 're', FILESERVER_PASSWORD: PASSWORD });
  expect(noUrl.code).toBe(2);
  expect(noUrl.output).toContain('Give the fileserver URL: --url <BaseUrl>.');
  const noCredentials = await smoke(['--url', 'http://127.0.0.1:1']);
  expect(noCredentials.code).toBe(2);
  expect(noCredentials.output).toContain(
    'FILESERVER_USERNAME and FILESERVER_PASSWORD, or --username and --password-file',
  );
  const passwordFile = join(directory, 'password');
  await writeFile(passwordFile, 'from-a-file\n');
  const fromFile = await smoke([
    '--url',
    'http://127.0.0.1:9',
    '--username',
    're',
    '--password-file',
    passwordFile,
    '--timeout',
    '5',
  ]);
  expect(fromFile.code).toBe(1); // credentials accepted; nothing listens
});
