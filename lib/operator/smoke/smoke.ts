/**
 * `npm run smoke -- --url <BaseUrl>`: the operator's check of a fresh deployment (docs/deploy.md, step 7), run once
 * from a machine in the VPC. It speaks only HTTP, as the ReCodEx API and workers do: it writes a small submission, an
 * exercise file and two results, reads each back, checks the archive's entries, and follows the redirect of a result
 * above the inline limit to storage. Every check is a row of the report, with its time; a failed check names the
 * likely cause.
 *
 * It never touches data of anyone else: the submission and result names start with `smoke-test-<time>-<random>`
 * (SMOKE_PREFIX), and the exercise file's content holds that id, so its hash names no one else's file. What it
 * writes stays (the protocol has no deletes; docs/deploy.md says how to remove it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { fromBufferPromise } from 'yauzl';
import { MAX_INLINE_BYTES } from '../../lambda-limits';
import { type Answer, type Peer, request, SmokeFailure, unexpected } from './client';

/** What every id and name the smoke test writes starts with. */
export const SMOKE_PREFIX = 'smoke-test-';

/**
 * A result just above the largest inline limit a deployment may set (`INLINE_LIMIT_BYTES`): whatever the setting,
 * its download is a redirect to storage. Too large for a Lambda request, so it goes up through the large-upload
 * route (docs/protocol.md §7).
 */
export const LARGE_RESULT_BYTES = MAX_INLINE_BYTES + 1;

export interface SmokeOptions {
  /** The fileserver's base URL: the stack's BaseUrl output (stage included), or `npm start`'s URL. */
  url: string;
  username: string;
  password: string;
  /** Per request (API Gateway itself gives up after 29 s). */
  timeoutMs?: number;
  /** How long an archive may answer 503 archive-pending before the check fails. */
  archiveWaitMs?: number;
  /** The run's id; by default `smoke-test-<UTC time>-<random>`. */
  id?: string;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  /** null: not run, because a check it needs failed. */
  ms: number | null;
  detail: string;
  hint?: string;
}

export interface SmokeReport {
  id: string;
  url: string;
  checks: CheckResult[];
  ok: boolean;
}

const sha1 = (data: Buffer): string => createHash('sha1').update(data).digest('hex');
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export function smokeId(now = new Date()): string {
  const time = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'z')
    .toLowerCase();
  return `${SMOKE_PREFIX}${time}-${randomBytes(4).toString('hex')}`;
}

export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const id = options.id ?? smokeId();
  if (!id.startsWith(SMOKE_PREFIX)) throw new Error(`a smoke test id starts with ${SMOKE_PREFIX}`);
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  const call = (
    path: string,
    init: { method?: string; body?: Buffer | FormData; headers?: Record<string, string> } = {},
  ) => request(`${base}${path}`, { ...init, authorization, timeoutMs, peer: 'fileserver' });
  const storage = (url: string, init: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}) =>
    request(url, { ...init, timeoutMs, peer: 'storage' });
  const expectStatus = (answer: Answer, status: number, peer: Peer = 'fileserver'): Answer => {
    if (answer.status !== status) throw unexpected(answer, String(status), peer);
    return answer;
  };

  const checks: CheckResult[] = [];
  const passed = new Set<string>();
  const check = async (name: string, needs: string[], run: () => Promise<string>): Promise<void> => {
    const missing = needs.filter((need) => !passed.has(need));
    if (missing.length > 0) {
      checks.push({ name, ok: false, ms: null, detail: `not run: needs ${missing.join(', ')}` });
      return;
    }
    const started = performance.now();
    try {
      const detail = await run();
      checks.push({ name, ok: true, ms: performance.now() - started, detail });
      passed.add(name);
    } catch (err) {
      const failure = err instanceof SmokeFailure ? err : undefined;
      checks.push({
        name,
        ok: false,
        ms: performance.now() - started,
        detail: err instanceof Error ? err.message : String(err),
        hint: failure?.hint,
      });
    }
  };

  // The run's own files: small, and unique to the run (the exercise file's content names it, so its hash is new).
  const files = {
    'smoke.txt': Buffer.from(`ReCodEx fileserver smoke test ${id}\n`),
    'src/data.bin': randomBytes(1024),
  };
  const exercise = Buffer.from(`exercise file of ${id}\n`);
  const result = randomBytes(2048);
  const large = randomBytes(LARGE_RESULT_BYTES);
  const largeName = `${id}-large.bin`;
  let archivePath = '';
  let redirect = '';

  await check('status', [], async () => {
    const answer = expectStatus(await call('/'), 200);
    const status = answer.json() as { version?: string; storage?: { bucket?: string; reachable?: boolean } };
    if (status.storage?.reachable !== true) {
      throw new SmokeFailure(
        `the status page says storage is not reachable: ${answer.body.toString('utf8')}`,
        'the functions cannot reach the bucket: see the status function log',
      );
    }
    return `version ${status.version ?? '?'}, bucket ${status.storage.bucket ?? '?'} reachable`;
  });

  await check('credentials required', [], async () => {
    const answer = await request(`${base}/`, { timeoutMs, peer: 'fileserver' });
    if (answer.status === 200) {
      throw new SmokeFailure(
        'GET / without credentials answered 200',
        'the fileserver is open to anyone who reaches it: it must be given credentials (credentialsParameter)',
      );
    }
    expectStatus(answer, 401);
    return '401 without credentials';
  });

  await check('submission upload', ['status'], async () => {
    const form = new FormData();
    for (const [path, content] of Object.entries(files)) form.append(path, new Blob([content]), path.split('/').pop());
    const answer = expectStatus(await call(`/submissions/${id}`, { method: 'POST', body: form }), 200);
    const paths = answer.json() as { archive_path?: string; result_path?: string };
    if (paths.archive_path !== `/submission_archives/${id}.zip` || paths.result_path !== `/results/${id}.zip`) {
      throw new SmokeFailure(`unexpected paths ${answer.body.toString('utf8')}`, 'see docs/protocol.md §2');
    }
    archivePath = paths.archive_path;
    return `${Object.keys(files).length} files, ${sum(Object.values(files))} bytes`;
  });

  await check('submission archive', ['submission upload'], async () => {
    const deadline = Date.now() + (options.archiveWaitMs ?? 120_000);
    let waited = 0;
    for (;;) {
      const answer = await call(archivePath);
      const pending = answer.status === 503 && (answer.json() as { error?: { code?: string } }).error?.code;
      if (pending === 'archive-pending' && Date.now() < deadline) {
        const seconds = Math.min(Number(answer.headers.get('retry-after')) || 5, 10);
        await new Promise((done) => setTimeout(done, seconds * 1000));
        waited++;
        continue;
      }
      expectStatus(answer, 200);
      const entries = await zipEntries(answer.body);
      const layout = archiveLayout(id, entries, files);
      return `${entries.size} entries as sent, layout ${layout}${waited > 0 ? `, after ${waited} × 503 archive-pending` : ''}`;
    }
  });

  const exercisePath = `/exercises/${sha1(exercise)}`;
  await check('exercise file upload', ['status'], async () => {
    const form = new FormData();
    form.append('smoke.in', new Blob([exercise]), 'smoke.in');
    const answer = expectStatus(await call('/exercises', { method: 'POST', body: form }), 200);
    const stored = (answer.json() as { files?: Record<string, string> }).files?.['smoke.in'];
    if (stored !== exercisePath) {
      throw new SmokeFailure(`stored as ${stored}, not ${exercisePath}`, 'see docs/protocol.md §4');
    }
    return exercisePath;
  });

  await check('exercise file download', ['exercise file upload'], async () => {
    sameBytes(expectStatus(await call(exercisePath), 200).body, exercise);
    return `${exercise.length} bytes as sent`;
  });

  await check('result upload', ['status'], async () => {
    // As the worker sends it: a raw body, no Content-Type (docs/protocol.md §1.1).
    expectStatus(await call(`/results/${id}.zip`, { method: 'PUT', body: result }), 200);
    return `${result.length} bytes`;
  });

  await check('result download', ['result upload'], async () => {
    sameBytes(expectStatus(await call(`/results/${id}.zip`), 200).body, result);
    return `${result.length} bytes as sent`;
  });

  await check('large result upload', ['status'], async () => {
    const granted = expectStatus(
      await call(`/uploads/results/${largeName}`, {
        method: 'POST',
        body: Buffer.from(JSON.stringify({ size: large.length })),
        headers: { 'Content-Type': 'application/json' },
      }),
      200,
    );
    const upload = (granted.json() as { upload?: { url?: string; headers?: Record<string, string> } }).upload;
    if (!upload?.url) throw new SmokeFailure('the grant holds no upload URL', 'see docs/protocol.md §7');
    // Exactly the listed headers; fetch sets Content-Length itself, from the body.
    const headers = Object.fromEntries(
      Object.entries(upload.headers ?? {}).filter(([name]) => name.toLowerCase() !== 'content-length'),
    );
    const put = await storage(upload.url, { method: 'PUT', body: large, headers });
    if (put.status < 200 || put.status > 299) throw unexpected(put, '2xx', 'storage');
    return `${large.length} bytes to ${new URL(upload.url).host} by a presigned URL`;
  });

  await check('large result redirect', ['large result upload'], async () => {
    const answer = await call(`/results/${largeName}`);
    if (answer.status !== 302)
      throw unexpected(answer, '302 (a redirect to storage above the inline limit)', 'fileserver');
    redirect = answer.headers.get('location') ?? '';
    if (!redirect) throw new SmokeFailure('a 302 without Location', 'see docs/protocol.md §7');
    return `302 to ${new URL(redirect).host}`;
  });

  await check('large result from storage', ['large result redirect'], async () => {
    // As libcurl and Guzzle follow it: without the fileserver's credentials.
    const answer = await storage(redirect);
    if (answer.status !== 200) throw unexpected(answer, '200', 'storage');
    if (sha256(answer.body) !== sha256(large)) {
      throw new SmokeFailure(
        `${answer.body.length} bytes, not the ${large.length} sent`,
        'storage returned other bytes than were uploaded',
      );
    }
    return `${large.length} bytes as sent`;
  });

  return { id, url: base, checks, ok: checks.every((c) => c.ok) };
}

const sum = (buffers: Buffer[]): number => buffers.reduce((total, b) => total + b.length, 0);

function sameBytes(got: Buffer, sent: Buffer): void {
  if (!got.equals(sent)) {
    throw new SmokeFailure(
      `${got.length} bytes that differ from the ${sent.length} sent`,
      'storage or a proxy changed the bytes',
    );
  }
}

async function zipEntries(zip: Buffer): Promise<Map<string, Buffer>> {
  const entries = new Map<string, Buffer>();
  try {
    const file = await fromBufferPromise(zip, { lazyEntries: true });
    for await (const entry of file.eachEntry()) {
      const stream = await file.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      entries.set(entry.fileName, Buffer.concat(chunks));
    }
  } catch (err) {
    throw new SmokeFailure(`the archive is not a readable zip (${(err as Error).message})`, 'see the archiver log');
  }
  return entries;
}

/** `prefixed` (entries under `<id>/`) or `flat` (docs/protocol.md §3), if the entries are exactly the files sent. */
function archiveLayout(id: string, entries: Map<string, Buffer>, files: Record<string, Buffer>): string {
  const layouts = { prefixed: `${id}/`, flat: '' };
  for (const [layout, prefix] of Object.entries(layouts)) {
    const sent = Object.entries(files);
    if (entries.size === sent.length && sent.every(([path, bytes]) => entries.get(`${prefix}${path}`)?.equals(bytes))) {
      return layout;
    }
  }
  throw new SmokeFailure(
    `the archive holds ${[...entries.keys()].join(', ')}, not the files sent`,
    'see the archiver log; docs/protocol.md §3 describes the layouts',
  );
}
