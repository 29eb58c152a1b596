/**
 * `npm start` stopped as a supervisor or a shell stops it: SIGTERM or SIGINT sent to the npm process itself (not to
 * the server behind it). npm forwards both signals to the script's process, so the script must be one process that
 * handles them (`exec node --require tsx/cjs …`): a chain of shells and loaders left the server running and its
 * temporary folder behind (docs/development.md, "Pitfalls of the toolchain").
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { alive, descendants } from '../support/processes';

const root = join(__dirname, '../..');

async function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startNpm(): Promise<{ npm: ChildProcess; url: string; folder: string; output: () => string }> {
  const npm = spawn('npm', ['start', '--', '--port', '0'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'silent', S3_ENDPOINT: '', BUCKET: '', NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  npm.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no URL within 30 s:\n${output}`)), 30_000);
    npm.stdout?.on('data', () => {
      if (output.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve();
      }
    });
    npm.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${output}`));
    });
  });
  const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
  const folder = /folder (\S+) \(deleted on exit\)/.exec(output)?.[1];
  if (!url || !folder) throw new Error(`unexpected output of npm start:\n${output}`);
  return { npm, url, folder, output: () => output };
}

describe.each(['SIGTERM', 'SIGINT'] as const)('npm start stopped with %s sent to npm', (signal) => {
  it('stops the server and every process under npm, and deletes its temporary folder', async () => {
    const { npm, url, folder, output } = await startNpm();
    const pid = npm.pid as number;
    const below = descendants(pid);
    expect(below.length).toBeGreaterThan(0);
    expect(await accepts(url)).toBe(true);
    expect(existsSync(folder)).toBe(true);

    const exited = once(npm, 'exit');
    process.kill(pid, signal);
    await exited;
    // npm has exited; what it started must not outlive it.
    const deadline = Date.now() + 10_000;
    while (below.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(below.filter(alive)).toEqual([]);
    expect(await accepts(url)).toBe(false);
    // A folder left behind fails with what the server printed, which says why.
    expect(existsSync(folder) ? `folder left behind; npm start printed:\n${output()}` : 'deleted').toBe('deleted');
  });
});
