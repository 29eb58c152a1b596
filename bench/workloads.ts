/**
 * The benchmark workloads, shared by `npm run bench` and `npm run soak`: seeding through the protocol itself
 * (docs/protocol.md), so the same workload runs against any server that speaks it, and the autocannon request
 * sequences that drive each one.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import type autocannon from 'autocannon';

export const WORKLOAD_NAMES = ['exercise-10k', 'exercise-1m', 'submit', 'archive', 'result-put', 'mixed'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export function isWorkloadName(name: string): name is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(name);
}

const KiB = 1024;
const MiB = 1024 * KiB;

export interface Target {
  /** Base URL; a path in it (an API Gateway stage such as `/prod`) prefixes every request. */
  url: string;
  /** The `Authorization` header to send on every request, if the server wants credentials. */
  authorization: string | undefined;
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** A write the server acknowledged with 2xx, to be read back by the soak. */
export type AcknowledgedWrite = { kind: 'submission'; id: string } | { kind: 'result'; name: string };

export interface WorkloadOptions {
  /** Makes ids unique across runs against a persistent server. */
  runId: string;
  /**
   * Give every write content of its own (derived from its id), so a read-back can tell one write from another.
   * The benchmark sends one prebuilt body instead, which keeps the client's CPU off the figures.
   */
  uniqueContent?: boolean;
  /** Called for every write the server answered with 2xx. */
  onAcknowledged?: (write: AcknowledgedWrite) => void;
}

export interface PreparedWorkload {
  name: string;
  /** One cycle of requests; each connection repeats it. */
  requests: autocannon.Request[];
  /** Mean request-body bytes per request over one cycle, for the upload rate. */
  sentBytesPerRequest: number;
}

/** Seeds what `name` needs through the protocol, then returns its request cycle. */
export async function prepareWorkload(
  name: WorkloadName,
  target: Target,
  options: WorkloadOptions,
): Promise<PreparedWorkload> {
  const ids = new IdSource(options.runId);
  const build = new RequestFactory(target, options, ids);
  let cycle: autocannon.Request[];
  switch (name) {
    case 'exercise-10k':
      cycle = [build.exerciseGet(await seedExerciseFile(target, 10 * KiB))];
      break;
    case 'exercise-1m':
      cycle = [build.exerciseGet(await seedExerciseFile(target, MiB))];
      break;
    case 'submit':
      cycle = [build.submit()];
      break;
    case 'archive':
      cycle = [build.archiveGet(await seedSubmission(target, ids.next('archive')))];
      break;
    case 'result-put':
      cycle = [build.resultPut()];
      break;
    case 'mixed': {
      // One graded submission as the ReCodEx API and a worker make it: the API uploads the submission, the worker
      // downloads its archive and the exercise's test files (the same ones for every submission, hence mostly
      // cache hits), and uploads the result under the submission's id.
      const exercise = await seedExerciseFile(target, 10 * KiB);
      const gets = Array.from({ length: 4 }, () => build.exerciseGet(exercise));
      cycle = [
        build.submit(),
        ...gets,
        build.archiveOfLastSubmission(),
        ...gets.map((get) => ({ ...get })),
        build.resultPut(),
      ];
      break;
    }
  }
  const sent = cycle.reduce((total, request) => total + bodyLength(request.body), 0);
  return { name, requests: cycle, sentBytesPerRequest: sent / cycle.length };
}

function bodyLength(body: autocannon.Request['body']): number {
  return body === undefined ? 0 : Buffer.byteLength(body);
}

/** Fresh ids: `<prefix>-<run>-<n>`, within the protocol's `[A-Za-z0-9._-]{1,128}`. */
class IdSource {
  private count = 0;
  constructor(private readonly runId: string) {}
  next(prefix: string): string {
    this.count += 1;
    return `${prefix}-${this.runId}-${this.count}`;
  }
}

/** What a connection remembers between the requests of one cycle (autocannon keeps one context per connection). */
interface CycleContext {
  submissionId?: string;
  resultName?: string;
}

class RequestFactory {
  private readonly headers: Record<string, string>;
  private readonly base: string;

  constructor(
    target: Target,
    private readonly options: WorkloadOptions,
    private readonly ids: IdSource,
  ) {
    this.headers = target.authorization ? { authorization: target.authorization } : {};
    this.base = basePath(target);
  }

  exerciseGet(path: string): autocannon.Request {
    return { method: 'GET', path: this.base + path, headers: this.headers };
  }

  archiveGet(archivePath: string): autocannon.Request {
    return { method: 'GET', path: this.base + archivePath, headers: this.headers };
  }

  /** POST /submissions/<fresh id>, 5 files, about 20 KiB. */
  submit(): autocannon.Request {
    const shared = submissionBody(undefined);
    const { uniqueContent, onAcknowledged } = this.options;
    return {
      method: 'POST',
      path: `${this.base}/submissions/placeholder`,
      headers: { ...this.headers, 'content-type': SUBMISSION_CONTENT_TYPE },
      body: shared,
      setupRequest: (request, context) => {
        const id = this.ids.next('sub');
        (context as CycleContext).submissionId = id;
        const body = uniqueContent ? submissionBody(id) : shared;
        return { ...request, path: `${this.base}/submissions/${id}`, body };
      },
      onResponse: (status, _body, context) => {
        const id = (context as CycleContext).submissionId;
        if (id && status >= 200 && status < 300) onAcknowledged?.({ kind: 'submission', id });
      },
    };
  }

  /** GET of the archive of the submission this connection posted last in its cycle (see `mixed`). */
  archiveOfLastSubmission(): autocannon.Request {
    return {
      method: 'GET',
      path: `${this.base}/submission_archives/placeholder.zip`,
      headers: this.headers,
      setupRequest: (request, context) => {
        const id = (context as CycleContext).submissionId ?? 'never-submitted';
        return { ...request, path: `${this.base}/submission_archives/${id}.zip` };
      },
    };
  }

  /**
   * PUT /results/<name>, 100 KiB, each request a fresh name; in a cycle with a submission, the name is that
   * submission's result path, as a worker uses it.
   */
  resultPut(): autocannon.Request {
    const shared = resultContent(undefined);
    const { uniqueContent, onAcknowledged } = this.options;
    return {
      method: 'PUT',
      path: `${this.base}/results/placeholder.zip`,
      headers: { ...this.headers, 'content-type': 'application/zip' },
      body: shared,
      setupRequest: (request, context) => {
        const cycle = context as CycleContext;
        const name = cycle.submissionId ? `${cycle.submissionId}.zip` : `${this.ids.next('res')}.zip`;
        cycle.resultName = name;
        return { ...request, path: `${this.base}/results/${name}`, body: uniqueContent ? resultContent(name) : shared };
      },
      onResponse: (status, _body, context) => {
        const name = (context as CycleContext).resultName;
        if (name && status >= 200 && status < 300) onAcknowledged?.({ kind: 'result', name });
      },
    };
  }
}

function basePath(target: Target): string {
  return new URL(target.url).pathname.replace(/\/+$/, '');
}

// --- Content -------------------------------------------------------------------------------------------------

/**
 * Deterministic incompressible bytes (AES-CTR over zeros): the same seed gives the same file, so re-runs against a
 * persistent server reuse its exercise files instead of piling up new ones.
 */
export function pseudoRandomBytes(length: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/** Lines of C-like source of about `length` bytes: text that deflates as students' code does. */
function sourceText(length: number, seed: string): Buffer {
  const lines: string[] = [];
  let total = 0;
  for (let i = 0; total < length; i++) {
    const line = `    result[${i}] = compute_${seed}(input[${i}], ${(i * 7919) % 1000}); /* step ${i} */\n`;
    lines.push(line);
    total += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, length);
}

/** The submission every `submit` request sends: 5 files, 20 KiB, as the API uploads a student's solution. */
export const SUBMISSION_FILES: readonly { path: string; data: Buffer }[] = [
  { path: 'job-config.yml', data: sourceText(1 * KiB, 'config') },
  { path: 'main.c', data: sourceText(6 * KiB, 'main') },
  { path: 'src/util.c', data: sourceText(6 * KiB, 'util') },
  { path: 'src/util.h', data: sourceText(3 * KiB, 'header') },
  { path: 'tests/input.txt', data: sourceText(4 * KiB - 64, 'input') },
];

/** The file that makes a soak submission's content its own: it holds the submission's id. */
const ID_FILE = 'tests/id.txt';

const BOUNDARY = '----recodex-bench-7f3c9a1e5b';
const SUBMISSION_CONTENT_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

function multipartPart(path: string, data: Buffer): Buffer {
  const filename = path.split('/').pop() ?? 'f';
  const head =
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${path}"; filename="${filename}"\r\n` +
    'Content-Type: application/octet-stream\r\n\r\n';
  return Buffer.concat([Buffer.from(head), data, Buffer.from('\r\n')]);
}

const SHARED_PARTS = Buffer.concat(SUBMISSION_FILES.map((file) => multipartPart(file.path, file.data)));
const CLOSING = Buffer.from(`--${BOUNDARY}--\r\n`);

/** The files of a submission as the soak sends them (with its id file) or as the benchmark does (without). */
export function submissionFiles(id: string | undefined): { path: string; data: Buffer }[] {
  return id === undefined ? [...SUBMISSION_FILES] : [...SUBMISSION_FILES, { path: ID_FILE, data: Buffer.from(id) }];
}

function submissionBody(id: string | undefined): Buffer {
  if (id === undefined) return Buffer.concat([SHARED_PARTS, CLOSING]);
  return Buffer.concat([SHARED_PARTS, multipartPart(ID_FILE, Buffer.from(id)), CLOSING]);
}

const RESULT_BYTES = 100 * KiB;
const RESULT_PAYLOAD = pseudoRandomBytes(RESULT_BYTES, 'result');

/** A 100 KiB result (random bytes, as a zip is); with a name, its first bytes are the name, so each is unique. */
export function resultContent(name: string | undefined): Buffer {
  if (name === undefined) return RESULT_PAYLOAD;
  const content = Buffer.from(RESULT_PAYLOAD);
  content.write(`${name}\n`, 0, 'utf8');
  return content;
}

// --- Seeding through the protocol ----------------------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request to the target with its credentials; the answer comes back whole. */
export function call(
  target: Target,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer } = {},
): Promise<Answer> {
  const url = new URL(basePath(target) + path, target.url);
  const headers = { ...options.headers, ...(target.authorization ? { authorization: target.authorization } : {}) };
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

async function callJson(target: Target, method: string, path: string, headers: Record<string, string>, body: Buffer) {
  const answer = await call(target, method, path, { headers, body });
  const text = answer.body.toString('utf8');
  if (answer.status !== 200) throw new Error(`seeding: ${method} ${path} answered ${answer.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** POST /exercises with one file of `size` bytes; returns the path the server named for it. */
async function seedExerciseFile(target: Target, size: number): Promise<string> {
  const field = `bench-${size}.bin`;
  const data = pseudoRandomBytes(size, `exercise-${size}`);
  const body = Buffer.concat([multipartPart(field, data), CLOSING]);
  const answer = await callJson(target, 'POST', '/exercises', { 'content-type': SUBMISSION_CONTENT_TYPE }, body);
  const path = (answer.files as Record<string, unknown> | undefined)?.[field];
  if (typeof path !== 'string') throw new Error(`seeding: POST /exercises did not name ${field}`);
  const sha1 = createHash('sha1').update(data).digest('hex');
  if (!path.endsWith(sha1)) throw new Error(`seeding: ${field} was stored as ${path}, not under its SHA-1 ${sha1}`);
  return path;
}

/** POST /submissions/<id> with the benchmark's 5 files; returns the archive path the server answered. */
async function seedSubmission(target: Target, id: string): Promise<string> {
  const headers = { 'content-type': SUBMISSION_CONTENT_TYPE };
  const answer = await callJson(target, 'POST', `/submissions/${id}`, headers, submissionBody(undefined));
  if (typeof answer.archive_path !== 'string') throw new Error('seeding: POST /submissions named no archive_path');
  return answer.archive_path;
}
