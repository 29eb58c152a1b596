/**
 * Crash consistency of `npm start` on the folder store (docs/embedded-store.md): the server process is killed with
 * SIGKILL at a random moment while clients POST submissions, re-POST them, overwrite results, fetch archives (which
 * builds them) and upload large results through presigned URLs; then it is started again on the same folder.
 * Afterwards every acknowledged write is there byte for byte, and every archive holds exactly the files of its
 * submission's manifest. A write that was in flight at the kill may have landed or not, but whole or not at all.
 *
 * Each client works on its own names one request at a time, so for every name at most one write was in flight at
 * the kill: what is stored must be the last acknowledged version or that in-flight one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RawAnswer, send } from '../support/http';
import { multipart } from '../support/multipart';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';

/** Kills per run: each one a restart on the same folder. Bounded: about 3–5 s per round on 2 busy cores. */
const ROUNDS = 6;
/** How long the clients run before the kill: anywhere in this range, uniformly. */
const KILL_AFTER_MS = { min: 150, max: 1500 };
/** Above the inline limit (4 MiB): the result is uploaded and downloaded through presigned URLs. */
const LARGE_BYTES = 5 * 1024 * 1024;

const root = join(__dirname, '../..');
let directory: string;
/** Every server started, so that none outlives a failing test. */
const started: Server[] = [];

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'crash-tests-'));
});
afterAll(async () => {
  for (const server of started) await kill(server, 'SIGKILL');
  await rm(directory, { recursive: true, force: true });
});

interface Server {
  url: string;
  child: ChildProcess;
}

/** The server in a process of its own (no tsx wrapper process: the pid killed is the server's). */
async function startServer(): Promise<Server> {
  const child = spawn(
    process.execPath,
    ['--require', 'tsx/cjs', join(root, 'lib/local/main.ts'), '--port', '0', '--directory', directory],
    {
      cwd: root,
      env: { ...process.env, LOG_LEVEL: 'silent', S3_ENDPOINT: '', BUCKET: '', NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  started.push({ url: '', child });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 30 s:\n${output}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${output}`));
    });
  });
  child.stdout?.resume();
  return { url, child };
}

async function kill(server: Server, signal: NodeJS.Signals): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = once(server.child, 'exit');
  server.child.kill(signal);
  await exited;
}

/** What a name may hold now: its last acknowledged version, or the one in flight at the kill. */
interface Versions<T> {
  acknowledged: T | undefined;
  inFlight: T | undefined;
}

type Files = Record<string, Buffer>;

const results = new Map<string, Versions<Buffer>>();
const submissions = new Map<string, Versions<Files>>();
let acknowledgedWrites = 0;

async function tracked<T>(versions: Versions<T>, next: T, write: () => Promise<RawAnswer>): Promise<void> {
  versions.inFlight = next;
  const answer = await write();
  if (answer.status !== 200)
    throw new Error(`write answered ${answer.status}: ${answer.body.toString().slice(0, 300)}`);
  versions.acknowledged = next;
  versions.inFlight = undefined;
  acknowledgedWrites++;
}

function postFiles(url: string, id: string, files: Files): Promise<RawAnswer> {
  const { body, contentType } = multipart(
    Object.entries(files).map(([name, data]) => ({ name, data, filename: name.split('/').pop() as string })),
  );
  return send(url, 'POST', `/submissions/${id}`, { headers: { 'Content-Type': contentType }, body });
}

/** One client: its own submission, re-POSTed, its own result, overwritten, and a GET of its archive, in a loop. */
async function client(url: string, name: string, stop: { now: boolean }): Promise<void> {
  const id = `sub_${name}`;
  const versions = submissions.get(id) ?? { acknowledged: undefined, inFlight: undefined };
  submissions.set(id, versions);
  const result = results.get(`${name}.zip`) ?? { acknowledged: undefined, inFlight: undefined };
  results.set(`${name}.zip`, result);
  for (let step = 0; !stop.now; step++) {
    const replaced: Files = { [`src/file_${step % 3}.c`]: randomBytes(2000 + (step % 5) * 3000) };
    const next = { ...(versions.acknowledged ?? { 'main.c': randomBytes(500) }), ...replaced };
    await tracked(versions, next, () => postFiles(url, id, versions.acknowledged ? replaced : next));
    await send(url, 'GET', `/submission_archives/${id}.zip`);
    const body = randomBytes(100_000 + step * 50_000);
    await tracked(result, body, () => send(url, 'PUT', `/results/${name}.zip`, { body }));
  }
}

/** A client that uploads large results straight to the store through presigned URLs, overwriting them. */
async function largeClient(url: string, name: string, stop: { now: boolean }): Promise<void> {
  const versions = results.get(`${name}.zip`) ?? { acknowledged: undefined, inFlight: undefined };
  results.set(`${name}.zip`, versions);
  while (!stop.now) {
    const body = randomBytes(LARGE_BYTES);
    const answer = await askUpload(url, `results/${name}.zip`, { size: body.length });
    if (answer.status !== 200) throw new Error(`grant answered ${answer.status}`);
    const upload = (answer.json() as { upload: UploadGrant }).upload;
    await tracked(versions, body, () => putToPresignedUrl(upload, body));
  }
}

async function getWhole(url: string, path: string): Promise<RawAnswer> {
  const answer = await send(url, 'GET', path);
  if (answer.status !== 302) return answer;
  const location = new URL(String(answer.headers.location));
  return send(location.origin, 'GET', location.pathname + location.search);
}

/**
 * Whether `isStored` holds for the acknowledged or the in-flight version; the one found becomes the acknowledged
 * one (a write that landed before the kill is what the next round builds on).
 */
function settle<T>(versions: Versions<T>, isStored: (version: T) => boolean): boolean {
  const found = [versions.inFlight, versions.acknowledged].find((v) => v !== undefined && isStored(v));
  if (found === undefined) return false;
  versions.acknowledged = found;
  versions.inFlight = undefined;
  return true;
}

async function archiveFiles(zip: Buffer): Promise<Map<string, Buffer>> {
  return new Map((await readZip(zip)).map((e) => [e.name, e.data]));
}

function holdsExactly(got: Map<string, Buffer>, id: string, files: Files): boolean {
  return (
    got.size === Object.keys(files).length &&
    Object.entries(files).every(([path, data]) => got.get(`${id}/${path}`)?.equals(data))
  );
}

async function verify(url: string): Promise<number> {
  let checked = 0;
  for (const [name, versions] of results) {
    const answer = await getWhole(url, `/results/${name}`);
    if (versions.acknowledged === undefined && answer.status === 404) {
      versions.inFlight = undefined;
      continue;
    }
    expect({ name, status: answer.status }).toEqual({ name, status: 200 });
    expect({ name, whole: settle(versions, (v) => v.equals(answer.body)) }).toEqual({ name, whole: true });
    checked++;
  }
  for (const [id, versions] of submissions) {
    const answer = await getWhole(url, `/submission_archives/${id}.zip`);
    if (versions.acknowledged === undefined && answer.status === 404) {
      versions.inFlight = undefined;
      continue;
    }
    expect({ id, status: answer.status }).toEqual({ id, status: 200 });
    const got = await archiveFiles(answer.body);
    expect({ id, whole: settle(versions, (files) => holdsExactly(got, id, files)) }).toEqual({ id, whole: true });
    checked++;
  }
  return checked;
}

it(
  `keeps every acknowledged write through ${ROUNDS} SIGKILLs at random moments`,
  async () => {
    const delays: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const server = await startServer();
      // What the previous kill left: everything acknowledged before it, whole.
      if (round > 0) await verify(server.url);
      const stop = { now: false };
      const clients = [
        ...['a', 'b', 'c', 'd'].map((name) => client(server.url, `r${round % 2}${name}`, stop)),
        largeClient(server.url, `large${round % 2}`, stop),
      ].map((running) => running.catch(() => undefined)); // cut off by the kill
      const delay = KILL_AFTER_MS.min + Math.random() * (KILL_AFTER_MS.max - KILL_AFTER_MS.min);
      delays.push(Math.round(delay));
      await new Promise((resolve) => setTimeout(resolve, delay));
      await kill(server, 'SIGKILL');
      stop.now = true;
      await Promise.all(clients);
    }
    const server = await startServer();
    try {
      const checked = await verify(server.url);
      // The run meant something: writes were acknowledged, and what they wrote was found.
      expect(acknowledgedWrites).toBeGreaterThan(ROUNDS);
      expect(checked).toBeGreaterThan(4);
    } catch (err) {
      throw new Error(`after kills at ${delays.join(', ')} ms: ${(err as Error).message}`);
    } finally {
      await kill(server, 'SIGTERM');
    }
  },
  60_000 + ROUNDS * 30_000,
);
