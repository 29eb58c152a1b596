/**
 * `npm start --workers N` (lib/local/cluster.ts, docs/embedded-store.md "Several processes"): several processes write
 * one folder store, and what one process promises holds across them: conditional writes let exactly one writer
 * through, an archive is right whichever worker builds or serves it, a URL signed by one worker is honoured by
 * another, a dead worker is replaced, and a stop (or a killed primary) leaves no process behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { takeFolder } from '../../lib/storage/folder-store/folder';
import { FolderStore } from '../../lib/storage/folder-store/folder-store';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { alive, workersOf } from '../support/processes';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';
import type { WriterPlan, WriterReport } from './support/worker-writer';

const root = join(__dirname, '../..');
let parent: string;
const started: ChildProcess[] = [];

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'workers-tests-'));
});
afterAll(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(parent, { recursive: true, force: true });
});

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

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

interface Server {
  child: ChildProcess;
  pid: number;
  url: string;
  output(): string;
  /** The JSON log lines printed so far (the workers log to the primary's stdout). */
  lines(): Record<string, unknown>[];
}

/** `npm start --workers N` as its own process (no tsx wrapper: the pid is the primary's), logging every request. */
async function startServer(args: string[]): Promise<Server> {
  const child = spawn(
    process.execPath,
    ['--require', 'tsx/cjs', join(root, 'lib/local/main.ts'), '--port', '0', ...args],
    {
      cwd: root,
      env: {
        ...process.env,
        NODE_OPTIONS: '--openssl-legacy-provider',
        LOG_LEVEL: 'info',
        S3_ENDPOINT: '',
        BUCKET: '',
        FILESERVER_WORKERS: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  started.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 30 s:\n${output}`)), 30_000);
    child.stdout?.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1] && output.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${output}`));
    });
  });
  const lines = (): Record<string, unknown>[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { child, pid: child.pid as number, url, output: () => output, lines };
}

/** The worker that logged the `n`-th request line of `route` (waiting for it: the line may follow the answer). */
async function workerOfRequest(server: Server, route: string, n: number): Promise<number> {
  const of = (): Record<string, unknown>[] =>
    server.lines().filter((line) => line.message === 'request' && line.route === route);
  await until(`request ${n} of ${route} logged`, () => of().length >= n);
  return (of()[n - 1] as { worker: number }).worker;
}

async function stop(server: Server, signal: NodeJS.Signals): Promise<number | null> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.child.exitCode;
  const exited = once(server.child, 'exit');
  server.child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

/** Kills a worker with SIGKILL and waits until the primary has logged it and its replacement serves. */
async function killWorker(server: Server, pid: number): Promise<void> {
  const replaced = (): Record<string, unknown>[] => server.lines().filter((line) => line.message === 'worker replaced');
  const before = replaced().length;
  process.kill(pid, 'SIGKILL');
  await until('the dead worker logged', () =>
    server.lines().some((line) => line.message === 'worker exited; starting another' && line.pid === pid),
  );
  await until('its replacement serving', () => replaced().length > before);
  expect(workersOf(server.pid)).toHaveLength(2);
  expect(workersOf(server.pid)).not.toContain(pid);
}

describe('the folder store shared by worker processes', () => {
  const KEYS = 40;
  const WRITERS = 4;

  it('lets exactly one of the concurrent create-only or If-Match writes of a key through, whichever process makes them', async () => {
    const directory = join(parent, 'race');
    await takeFolder(directory, { forWorkers: true });
    // The test process writes the versions the If-Match writes race over, as one more worker.
    const own = await FolderStore.open({ directory, bucket: 'workers', workerOf: process.pid });
    const etags: string[] = [];
    for (let i = 0; i < KEYS; i++) etags.push((await own.putObject(`match/${i}`, Buffer.from(`v1 ${i}`))).etag);
    const plan: WriterPlan = { directory, owner: process.pid, keys: KEYS, etags };

    const writers = [...Array(WRITERS).keys()].map(() => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'support/worker-writer.ts')], {
        cwd: root,
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      started.push(child);
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stdin?.write(`${JSON.stringify(plan)}\n`);
      return { child, output: () => output };
    });
    await until('every writer ready', () => writers.every((w) => w.output().includes('ready')), 30_000);
    for (const writer of writers) writer.child.stdin?.write('go\n');
    await Promise.all(writers.map((w) => once(w.child, 'exit')));
    const reports = writers.map((w) => JSON.parse(w.output().split('\n')[1] as string) as WriterReport);

    for (let i = 0; i < KEYS; i++) {
      const created = reports.filter((r) => r.created[i]);
      const matched = reports.filter((r) => r.matched[i]);
      expect({ key: i, created: created.length, matched: matched.length }).toEqual({ key: i, created: 1, matched: 1 });
      // What is stored is the one write that was let through.
      const race = await own.getObject(`race/${i}`);
      expect((await own.readObjectBytes(`race/${i}`, race as never, 1000)).toString()).toBe(
        `race ${i} by ${created[0]?.pid}`,
      );
      const match = await own.getObject(`match/${i}`);
      expect((await own.readObjectBytes(`match/${i}`, match as never, 1000)).toString()).toBe(
        `match ${i} by ${matched[0]?.pid}`,
      );
    }
    // Every lock was released: nothing is left in locks/ but the test's own holder file.
    expect(readdirSync(join(directory, 'locks'))).toEqual([`holder-${process.pid}`]);
    await own.close();
  });
});

describe('npm start --workers 2', () => {
  let server: Server;

  beforeAll(async () => {
    server = await startServer(['--workers', '2']);
  });
  afterAll(async () => {
    await stop(server, 'SIGTERM');
  });

  it('says how many processes serve, and runs that many workers', async () => {
    expect(server.output()).toContain('processes: 2 worker processes and their primary');
    expect(workersOf(server.pid)).toHaveLength(2);
  });

  it('builds an archive right when the POST and the GET land in different workers', async () => {
    const checked = new Set<string>();
    for (let n = 1; checked.size === 0 && n <= 4; n++) {
      const id = `across_${n}`;
      const files = { 'main.c': randomBytes(3000), 'src/util.h': randomBytes(500) };
      const { body, contentType } = multipart(Object.entries(files).map(([name, data]) => file(name, data)));
      const posted = await send(server.url, 'POST', `/submissions/${id}`, {
        headers: { 'Content-Type': contentType },
        body,
      });
      expect(posted.status).toBe(200);
      const zip = await send(server.url, 'GET', `/submission_archives/${id}.zip`);
      expect(zip.status).toBe(200);
      const entries = new Map((await readZip(zip.body)).map((e) => [e.name, e.data]));
      expect([...entries.keys()].sort()).toEqual([`${id}/main.c`, `${id}/src/util.h`]);
      expect(entries.get(`${id}/main.c`)?.equals(files['main.c'])).toBe(true);
      expect(entries.get(`${id}/src/util.h`)?.equals(files['src/util.h'])).toBe(true);
      const poster = await workerOfRequest(server, 'submissions', n);
      const getter = await workerOfRequest(server, 'submission_archives', n);
      if (poster !== getter) checked.add(id);
    }
    // Each new connection goes to the next worker: some pair was split.
    expect(checked.size).toBe(1);
  });

  it('accepts at one worker the presigned URLs another signed, and replaces a worker that dies', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const grant = await askUpload(server.url, 'results/across.zip', { size: body.length });
    expect(grant.status).toBe(200);
    const signer = await workerOfRequest(server, 'uploads', 1);
    await killWorker(server, signer);
    // The signer is gone: another process checks the signature.
    const put = await putToPresignedUrl((grant.json() as { upload: UploadGrant }).upload, body);
    expect(put.status).toBe(200);

    const redirect = await send(server.url, 'GET', '/results/across.zip');
    expect(redirect.status).toBe(302);
    const redirector = await workerOfRequest(server, 'results', 1);
    await killWorker(server, redirector);
    const location = new URL(String(redirect.headers.location));
    const got = await send(location.origin, 'GET', location.pathname + location.search);
    expect(got.status).toBe(200);
    expect(got.body.equals(body)).toBe(true);
    expect(workersOf(server.pid)).toHaveLength(2);
  });
});

describe('npm start --workers 2, stopped', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'on %s stops every worker and deletes its temporary folder',
    async (signal) => {
      const server = await startServer(['--workers', '2']);
      const folder = /folder (\S+) \(deleted on exit\)/.exec(server.output())?.[1] as string;
      const workers = workersOf(server.pid);
      expect(workers).toHaveLength(2);
      expect(existsSync(folder)).toBe(true);
      expect(await stop(server, signal)).toBe(0);
      await until('every worker gone', () => !workers.some(alive), 10_000);
      expect(await accepts(server.url)).toBe(false);
      expect(existsSync(folder)).toBe(false);
    },
  );

  it('killed with SIGKILL, leaves no worker running, and the folder opens again with what it holds', async () => {
    const directory = join(parent, 'kept');
    const first = await startServer(['--workers', '2', '--directory', directory]);
    expect((await send(first.url, 'PUT', '/results/kept.zip', { body: 'kept' })).status).toBe(200);
    const workers = workersOf(first.pid);
    expect(workers).toHaveLength(2);
    await stop(first, 'SIGKILL');
    // Each worker notices the closed IPC channel and exits.
    await until('every worker gone', () => !workers.some(alive), 10_000);
    expect(await accepts(first.url)).toBe(false);

    const second = await startServer(['--workers', '2', '--directory', directory]);
    try {
      const got = await send(second.url, 'GET', '/results/kept.zip');
      expect([got.status, got.body.toString()]).toEqual([200, 'kept']);
    } finally {
      await stop(second, 'SIGTERM');
    }
  });

  it('refuses a worker count it cannot serve with', async () => {
    const child = spawn(
      process.execPath,
      ['--require', 'tsx/cjs', join(root, 'lib/local/main.ts'), '--port', '0', '--workers', '0'],
      { cwd: root, env: { ...process.env, S3_ENDPOINT: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    started.push(child);
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    expect(output).toContain('--workers (FILESERVER_WORKERS) must be a whole number from 1 to 16, not 0');
  });
});
