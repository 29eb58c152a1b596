/**
 * The operator tool's command line as an operator meets it (docs/operations.md): mistakes are exit 2 with a message
 * that names them and change nothing; an unreachable bucket is exit 2; `--directory DIR` migrates into the embedded
 * store that `npm start -- --directory DIR` then serves.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
    [['verify', '--layout', 'sideways'], 'ARCHIVE_LAYOUT must be one of prefixed, flat'],
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
