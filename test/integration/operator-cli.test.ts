/**
 * The operator tool's command line as an operator meets it (docs/operations.md): mistakes are exit 2 with a message
 * that names them and change nothing; an unreachable bucket is exit 2; `--directory DIR` migrates into the embedded
 * store that `npm start -- --directory DIR` then serves.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli } from '../support/cli';
import { send } from '../support/http';
import { makeOldFolder, type OldFolder, runTool, sha1 } from '../support/old-fileserver';
import { startTestStack, type TestStack } from '../support/stack';
import { readZip } from '../support/zip';

jest.setTimeout(120_000);

const root = join(__dirname, '../..');

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

/** The tool in its own process, as `npm run fileserver` runs it. */
function runChild(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(root, 'lib/operator/cli.ts'), ...args], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider', INIT_CWD: tmpdir(), ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('mistakes are exit 2, name the problem, and change nothing', () => {
  it.each([
    [['copy'], 'Unknown command "copy"'],
    [['migrate'], 'migrate needs --from DIR'],
    [['migrate', '--from', '/nonexistent/old-fileserver'], 'is not a folder that can be read'],
    [['migrate', '--from', '.', '--frm', 'x'], "Unknown option '--frm'"],
    [['migrate', '--from', '.', '--concurrency', '0'], '--concurrency must be a whole number from 1 to 256'],
    [['migrate', '--from', '.', '--repair'], '--repair is not an option of migrate'],
    [['gc'], 'gc needs --keep FILE'],
    [['gc', '--keep', 'k', '--yes', '--dry-run'], 'gc takes --yes or --dry-run, not both'],
    [['gc', '--keep', 'k', '--older-than', 'soon'], '--older-than must be a number of days'],
    [['verify', '--layout', 'sideways'], '--layout must be one of prefixed, flat, not "sideways"'],
  ])('%j', async (args, message) => {
    const layout = process.env.ARCHIVE_LAYOUT;
    try {
      const run = await runTool(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(message);
      expect(await stack.keys()).toEqual([]);
    } finally {
      if (layout === undefined) delete process.env.ARCHIVE_LAYOUT;
      else process.env.ARCHIVE_LAYOUT = layout;
    }
  });

  // Every option of every command through one parser: a bad value, a missing one, one given twice, one the command
  // does not take, each is exit 2 and one line that names the option; never a stack or Node's own lines.
  const keep = join(tmpdir(), 'operator-cli-keep.txt');
  it.each([
    [['gc', '--keep', keep, '--older-than', '1e9'], '--older-than'],
    [['gc', '--keep', keep, '--older-than', '99999999999999'], '--older-than'],
    [['gc', '--keep', keep, '--older-than', '-5'], '--older-than'],
    [['gc', '--keep', keep, '--older-than=-5'], '--older-than'],
    [['gc', '--keep', keep, '--older-than', 'Infinity'], '--older-than'],
    [['gc', '--keep', keep, '--older-than', '0x10'], '--older-than'],
    [['gc', '--keep', keep, '--older-than', ''], '--older-than'],
    [['gc', '--keep', keep, '--older-than'], '--older-than'],
    [['gc', '--keep', keep, '--older-than', '--yes'], '--older-than'],
    [['gc', '--keep', keep, '--older-than', '5', '--older-than', '6'], '--older-than'],
    [['gc', '--keep'], '--keep'],
    [['gc', '--keep', ''], '--keep'],
    [['gc', '--keep', keep, '--yes=1'], '--yes'],
    [['gc', '--keep', keep, '--dry-run=no'], '--dry-run'],
    [['stats', '--concurrency', '1e2'], '--concurrency'],
    [['stats', '--concurrency', '257'], '--concurrency'],
    [['stats', '--concurrency', '-1'], '--concurrency'],
    [['stats', '--concurrency', '2.5'], '--concurrency'],
    [['stats', '--concurrency', '99999999999999999999'], '--concurrency'],
    [['stats', '--concurrency'], '--concurrency'],
    [['migrate', '--from'], '--from'],
    [['migrate', '--from', ''], '--from'],
    [['migrate', '--from', '.', '--from', '.'], '--from'],
    [['stats', '--directory'], '--directory'],
    [['stats', '--directory', ''], '--directory'],
    [['stats', '--layout', ''], '--layout'],
    [['stats', '--report', '/nonexistent/folder/report.json'], '--report'],
    [['stats', '--report', ''], '--report'],
    [['stats', '--json=yes'], '--json'],
    [['stats', '--quiet', '--quiet'], '--quiet'],
    [['stats', '--help=1'], '--help'],
    [['stats', '--repair'], '--repair'],
    [['verify', '--yes'], '--yes'],
    [['verify', '--older-than', '5'], '--older-than'],
    [['stats', '--keep', keep], '--keep'],
    [['verify', '--from', '.'], '--from'],
    [['stats', '-x'], "'-x'"],
    [['stats', '--', '--json'], 'Unexpected argument'],
  ])('%j: exit 2, one line naming %s', async (args, option) => {
    writeFileSync(keep, `${'a'.repeat(40)}\n`);
    const run = await runTool(args);
    expect({ code: run.code, lines: run.stderr.split('\n').filter((line) => line !== '') }).toEqual({
      code: 2,
      lines: [expect.stringMatching(new RegExp(`^fileserver: .*${option.replace(/[-.]/g, '\\$&')}`))],
    });
    expect(run.stdout).toBe('');
    expect(await stack.keys()).toEqual([]);
  });

  it('gc --older-than 1e9 in its own process: exit 2 and one line, no stack', () => {
    writeFileSync(keep, `${'a'.repeat(40)}\n`);
    const run = runChild(['gc', '--keep', keep, '--older-than', '1e9'], {});
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      'fileserver: --older-than must be a number of days from 0 to 36500, not "1e9".',
    ]);
  });

  it.each([
    ['FILESERVER_PASSWORD without a username', { FILESERVER_PASSWORD: 'left over' }],
    ['FILESERVER_USERNAME without a password', { FILESERVER_USERNAME: 're' }],
  ])('%s in the environment does not stop it: it serves no HTTP', (_what, env) => {
    const directory = mkdtempSync(join(tmpdir(), 'operator-http-settings-'));
    try {
      const run = runChild(['stats', '--directory', directory, '--json'], env);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ command: 'stats', exitCode: 0 });
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('--help prints the usage and exits 0', async () => {
    const run = await runTool(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: npm run fileserver -- <command> [options]');
  });

  it('a bucket that cannot be reached is exit 2, before anything is read', () => {
    const run = runChild(['stats'], { S3_ENDPOINT: 'http://127.0.0.1:9', BUCKET: 'nowhere' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('The bucket nowhere cannot be reached at http://127.0.0.1:9');
  });
});

describe('--directory DIR: the embedded store that npm start serves', () => {
  it('migrates into DIR, and `npm start -- --directory DIR` serves what was migrated', async () => {
    const store = mkdtempSync(join(tmpdir(), 'operator-store-'));
    try {
      const run = runChild(['migrate', '--from', folder.root, '--directory', store, '--json'], {
        S3_ENDPOINT: '',
        BUCKET: '',
      });
      expect(run.status).toBe(1); // the fixture's refused entries
      expect(JSON.parse(run.stdout).failed).toEqual([]);
      const server = await startCli(['--directory', store]);
      try {
        for (const [hash, data] of folder.exercises) {
          if (data.length > 4 * 1024 * 1024) continue; // redirected; the other suites follow redirects
          const answer = await send(server.url, 'GET', `/exercises/${hash}`);
          expect(answer.status).toBe(200);
          expect(sha1(answer.body)).toBe(hash);
        }
        const archive = await send(server.url, 'GET', '/submission_archives/sub_nested.zip');
        expect(archive.status).toBe(200);
        const files = folder.submissions.get('sub_nested') as Map<string, Buffer>;
        expect((await readZip(archive.body)).map((e) => e.name)).toEqual(
          [...files.keys()].sort().map((path) => `sub_nested/${path}`),
        );
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  });
});
