/**
 * scripts/localstack-host.sh finds any Python 3.12+ (LocalStack 4.14 needs it), wherever it is, and says what to do
 * when there is none. Run with a PATH of stand-in interpreters that answer the script's version check as a 3.11 or a
 * 3.12 would (a real interpreter of a chosen version cannot be conjured on every machine).
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = join(__dirname, '../../scripts/localstack-host.sh');
let bin: string;
let home: string;

/** An executable that passes (`ok`) or fails the script's `python -c 'sys.version_info >= (3, 12)'` check. */
async function fakePython(path: string, ok: boolean): Promise<void> {
  await writeFile(path, `#!/bin/sh\nexit ${ok ? 0 : 1}\n`);
  await chmod(path, 0o755);
}

function findPython(env: Record<string, string> = {}) {
  const run = spawnSync('/bin/bash', [script, 'find-python'], {
    env: { PATH: bin, HOME: home, ...env },
    encoding: 'utf8',
  });
  return { status: run.status, stdout: run.stdout.trim(), stderr: run.stderr };
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'find-python-'));
  bin = join(home, 'bin');
  await mkdir(bin);
  for (const tool of ['dirname', 'sort']) await symlink(`/usr/bin/${tool}`, join(bin, tool));
  await fakePython(join(bin, 'python3'), false); // a 3.11, as Debian 12's
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

it('with no Python 3.12+, says which version is needed and how to get one', () => {
  const run = findPython();
  expect(run.status).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).toContain('needs Python 3.12 or later (LocalStack 4.14.0)');
  expect(run.stderr).toContain("'pyenv install 3.12'");
  expect(run.stderr).toContain('PYTHON=/path/to/python3.12 npm run localstack:host -- start');
});

it('takes a python3.12 on PATH over an older python3', async () => {
  await fakePython(join(bin, 'python3.12'), true);
  expect(findPython()).toMatchObject({ status: 0, stdout: join(bin, 'python3.12') });
});

it('takes PYTHON first when it is 3.12+', async () => {
  const chosen = join(home, 'my-python');
  await fakePython(chosen, true);
  await fakePython(join(bin, 'python3.13'), true);
  expect(findPython({ PYTHON: chosen })).toMatchObject({ status: 0, stdout: chosen });
});

it("finds a 3.12+ among pyenv's installed versions, which its shims do not expose", async () => {
  const root = join(home, 'pyenv-root');
  for (const [version, ok] of [
    ['3.11.7', false],
    ['3.12.1', true],
  ] as const) {
    await mkdir(join(root, 'versions', version, 'bin'), { recursive: true });
    await fakePython(join(root, 'versions', version, 'bin', 'python'), ok);
  }
  await writeFile(
    join(bin, 'pyenv'),
    `#!/bin/sh\ncase "$1" in root) echo '${root}' ;; versions) printf '3.11.7\\n3.12.1\\n' ;; esac\n`,
  );
  await chmod(join(bin, 'pyenv'), 0o755);
  expect(findPython()).toMatchObject({ status: 0, stdout: join(root, 'versions/3.12.1/bin/python') });
});
