/**
 * The conditions of every write, as S3 receives them (docs/design.md, "Archive on upload" and "Consistency"): a new
 * file and a first manifest are sent with `If-None-Match: *`, a replaced manifest with `If-Match` on the ETag of the
 * version the request read, and a request whose manifest write S3 refuses (412) reads the manifest again and writes
 * `If-Match` that version. Seen on the wire, by the proxy between the handlers and a real S3-compatible server
 * (test/support/fault-proxy.ts), the sibling of the request counts (s3-request-counts.test.ts). That S3 then decides
 * the races with these conditions is shown against LocalStack (same-submission-races.test.ts, under
 * `npm run test:localstack`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { manifestKey } from '../../lib/fileserver/keys';
import { type FaultStack, startFaultStack } from '../faults/support/fault-stack';
import type { S3Request } from '../support/fault-proxy';
import { freshId } from '../support/fresh-id';
import { type RawAnswer, send } from '../support/http';
import { slipInBeforeWrite } from '../support/interleave';
import { file, multipart } from '../support/multipart';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';

let stack: FaultStack;
beforeAll(async () => {
  stack = await startFaultStack();
});
afterEach(() => stack.proxy.clear());
afterAll(async () => {
  await stack?.close();
});

/** The S3 requests that `run` makes. Nothing else talks to the proxy meanwhile (no notifications, one test at once). */
async function onTheWire(run: () => Promise<void>): Promise<S3Request[]> {
  const from = stack.proxy.stats.log.length;
  await run();
  return stack.proxy.stats.log.slice(from);
}

/** Every write (a PUT of an object, a multipart upload's start or end) as `[key, its conditions]`, sorted by key. */
function writes(log: readonly S3Request[]): [string, S3Request['conditions']][] {
  const writing = ['PutObject', 'CreateMultipartUpload', 'CompleteMultipartUpload'];
  return log
    .filter((request) => writing.includes(request.operation))
    .map((request): [string, S3Request['conditions']] => [request.key, request.conditions ?? {}])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The ETag S3 gives an object written by one PutObject: the quoted MD5 of its bytes. */
async function storedETag(key: string): Promise<string> {
  return `"${createHash('md5')
    .update(await stack.storedBytes(key))
    .digest('hex')}"`;
}

function postSubmission(id: string, files: Record<string, Buffer>): Promise<RawAnswer> {
  const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
  return send(stack.url, 'POST', `/submissions/${id}`, { headers: { 'Content-Type': contentType }, body });
}

async function expectPosted(id: string, files: Record<string, Buffer>): Promise<void> {
  expect((await postSubmission(id, files)).status).toBe(200);
}

const CREATE_ONLY = { 'if-none-match': '*' };
const REVISION = expect.stringMatching(/^revisions\//);

it('a first POST: every file and the manifest are written create-only', async () => {
  const id = freshId('first');
  const log = await onTheWire(() => expectPosted(id, { 'main.c': randomBytes(100), 'lib/util.c': randomBytes(100) }));
  expect(writes(log)).toEqual([
    [manifestKey(id), CREATE_ONLY],
    [`submission_archives/${id}.zip`, {}],
    [`submissions/${id}/lib/util.c`, CREATE_ONLY],
    [`submissions/${id}/main.c`, CREATE_ONLY],
  ]);
});

it('a re-POST: a new path create-only, a replaced one to a fresh revision key, the manifest If-Match the one read', async () => {
  const id = freshId('again');
  await expectPosted(id, { 'main.c': randomBytes(100), 'data.txt': randomBytes(100) });
  const read = await storedETag(manifestKey(id));
  const log = await onTheWire(() => expectPosted(id, { 'main.c': randomBytes(100), 'new.c': randomBytes(100) }));
  expect(writes(log)).toEqual([
    [manifestKey(id), { 'if-match': read }],
    [REVISION, {}],
    [`submissions/${id}/new.c`, CREATE_ONLY],
  ]);
});

it('large-upload URLs are create-only; a first completion writes the manifest create-only, the next If-Match', async () => {
  const id = freshId('large');
  const complete = async (data: Buffer, path: string): Promise<S3Request[]> => {
    const granted = await askUpload(stack.url, `submissions/${id}`, { files: { [path]: data.length } });
    expect(granted.status).toBe(200);
    const grant = granted.json<{ upload_id: string; files: Record<string, UploadGrant> }>();
    const uploads = await onTheWire(async () => {
      expect((await putToPresignedUrl(grant.files[path] as UploadGrant, data)).status).toBe(200);
    });
    // The client's own PUT, straight to S3 with the grant's signed headers.
    expect(writes(uploads)).toEqual([[`revisions/${id}/${grant.upload_id}/${path}`, CREATE_ONLY]]);
    return onTheWire(async () => {
      const done = await askUpload(stack.url, `submissions/${id}/complete`, {
        upload_id: grant.upload_id,
        files: { [path]: data.length },
      });
      expect(done.status).toBe(200);
    });
  };
  expect(writes(await complete(randomBytes(300), 'a.bin'))).toEqual([[manifestKey(id), CREATE_ONLY]]);
  const read = await storedETag(manifestKey(id));
  expect(writes(await complete(randomBytes(300), 'b.bin'))).toEqual([[manifestKey(id), { 'if-match': read }]]);
});

it('a re-POST whose manifest write S3 refuses (412, another request committed since its read) reads again and writes If-Match that version', async () => {
  const id = freshId('lost');
  await expectPosted(id, { 'main.c': randomBytes(100) });
  const read = await storedETag(manifestKey(id));
  const mine = { 'a.txt': randomBytes(100) };
  const other = { 'b.txt': randomBytes(100) };
  // The other re-POST commits just before this one's manifest write; s3rver would not refuse this one's stale
  // If-Match, so the proxy answers it as S3 does.
  let committed = '';
  const slip = slipInBeforeWrite(
    manifestKey(id),
    async () => {
      const answer = await postSubmission(id, other);
      committed = await storedETag(manifestKey(id));
      stack.proxy.inject({ kind: '412', operation: 'PutObject', key: manifestKey(id) });
      return answer;
    },
    { enforceConditions: false },
  );
  let log: S3Request[];
  try {
    log = await onTheWire(() => expectPosted(id, mine));
  } finally {
    slip.remove();
  }
  expect(slip.outcome().status).toBe(200);
  expect(committed).not.toBe(read);
  // In order: the other request's write, this one's on the version it read (refused), this one's on the version
  // it read again.
  const manifestWrites = log.filter((request) => request.operation === 'PutObject' && request.key === manifestKey(id));
  expect(manifestWrites.map((request) => request.conditions)).toEqual([
    { 'if-match': read },
    { 'if-match': read },
    { 'if-match': committed },
  ]);
  const manifest = JSON.parse((await stack.storedBytes(manifestKey(id))).toString()) as { files: { path: string }[] };
  expect(manifest.files.map((entry) => entry.path)).toEqual(['a.txt', 'b.txt', 'main.c']);
});

it('a re-POST whose every manifest write S3 refuses gives up after five: 503 submission-busy, the submission as it was', async () => {
  const id = freshId('busy');
  const stored = { 'main.c': randomBytes(100) };
  await expectPosted(id, stored);
  const read = await storedETag(manifestKey(id));
  stack.proxy.inject({ kind: '412', operation: 'PutObject', key: manifestKey(id), times: Number.POSITIVE_INFINITY });
  let answer: RawAnswer | undefined;
  const log = await onTheWire(async () => {
    answer = await postSubmission(id, { 'a.txt': randomBytes(100) });
  });
  expect(answer?.status).toBe(503);
  expect(answer?.headers['retry-after']).toBe('1');
  expect(answer?.json()).toEqual({ result: 'ERROR', error: { code: 'submission-busy', message: expect.any(String) } });
  // Five attempts, each on the version read (it never changed), then no more requests to S3 for this one.
  const manifestWrites = log.filter((request) => request.operation === 'PutObject' && request.key === manifestKey(id));
  expect(manifestWrites.map((request) => request.conditions)).toEqual(Array(5).fill({ 'if-match': read }));
  stack.proxy.clear();
  expect(await storedETag(manifestKey(id))).toBe(read);
});
