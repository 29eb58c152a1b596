/**
 * How many S3 requests each operation makes (docs/benchmarks.md, "S3 requests per operation"): every request is a
 * line of an AWS bill and a round trip of latency, so these counts are asserted exactly, and a change that adds one
 * fails here. They are counted on the wire, by the proxy between the handlers and a real S3-compatible server
 * (test/support/fault-proxy.ts, here injecting nothing), so every HTTP request counts, retries included.
 *
 * Each request's own count of its S3 requests, which its summary line reports as a metric, is checked against the
 * wire too.
 *
 * With S3_ENDPOINT set the local stack delivers no S3 notifications; the archiver is invoked here with the event S3
 * would send for the manifest, which is exactly what the deployment does, and counted as an operation of its own.
 */
import { createHash, randomBytes } from 'node:crypto';
import { handler as archiver } from '../../functions/archiver';
import { type FaultStack, startFaultStack } from '../faults/support/fault-stack';
import { captureLogs } from '../handlers/support/logs';
import { manifestEvent } from '../handlers/support/s3-events';
import { checkedCalls } from '../support/checked-calls';
import { freshId } from '../support/fresh-id';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';

let stack: FaultStack;
beforeAll(async () => {
  stack = await startFaultStack();
});
afterAll(async () => {
  await stack?.close();
});

const { expectStatus, postExercises, postSubmission } = checkedCalls(() => stack.url);

/** The number of files of the submissions below, as in the bench's `submit` workload. */
const N = 5;
const sha1 = (data: Buffer): string => createHash('sha1').update(data).digest('hex');
const files = (count: number): Buffer[] => Array.from({ length: count }, () => randomBytes(2000));

type Tally = Record<string, number>;

/**
 * The S3 requests `run` makes, as `"<operation> <first key segment>"` → count (bucket operations have no key).
 * Nothing else talks to the proxy meanwhile: the stack sends no notifications and the tests run one at a time.
 */
async function counted(run: () => Promise<unknown>): Promise<Tally> {
  const from = stack.proxy.stats.log.length;
  const { result, lines } = await captureLogs(run);
  if (result.status === 'rejected') throw result.reason;
  const sent = stack.proxy.stats.log.slice(from);
  const tally: Tally = {};
  for (const { operation, key } of sent) {
    const name = `${operation} ${key.split('/')[0]}`.trim();
    tally[name] = (tally[name] ?? 0) + 1;
  }
  // Each request and archiver record counts its own S3 requests for its metrics (the summary line's `S3Requests`,
  // lib/util/metrics.ts): together they are what went over the wire.
  const reported = lines.reduce((sum, line) => sum + (typeof line.S3Requests === 'number' ? line.S3Requests : 0), 0);
  expect({ reportedByTheLines: reported }).toEqual({ reportedByTheLines: sent.length });
  return tally;
}

async function runArchiver(id: string): Promise<void> {
  await archiver(manifestEvent(id));
}

async function json<T>(target: string, body: unknown): Promise<T> {
  const answer = await askUpload(stack.url, target, body);
  expect(answer.status).toBe(200);
  return answer.json<T>();
}

describe('S3 requests per operation', () => {
  it('status page: one HeadBucket', async () => {
    expect(await counted(() => expectStatus('GET', '/', 200))).toEqual({ HeadBucket: 1 });
  });

  it('exercise GET: one ranged GET the first time, none from memory, one for an unknown hash', async () => {
    const [content] = files(1) as [Buffer];
    await postExercises([content]);
    const path = `/exercises/${sha1(content)}`;
    expect(await counted(() => expectStatus('GET', path, 200))).toEqual({ 'GetObject tasks': 1 });
    expect(await counted(() => expectStatus('GET', path, 200))).toEqual({});
    const unknown = `/exercises/${sha1(randomBytes(8))}`;
    expect(await counted(() => expectStatus('GET', unknown, 404))).toEqual({
      'GetObject tasks': 1,
    });
    // A missing hash is never remembered: it may be uploaded any moment.
    expect(await counted(() => expectStatus('GET', unknown, 404))).toEqual({
      'GetObject tasks': 1,
    });
  });

  it(`exercise POST of ${N} new files, then of the same ${N} again`, async () => {
    const contents = files(N);
    expect(await counted(() => postExercises(contents))).toEqual({ 'HeadObject tasks': N, 'PutObject tasks': N });
    expect(await counted(() => postExercises(contents))).toEqual({ 'HeadObject tasks': N });
  });

  it('result PUT: one PUT; result GET: one ranged GET', async () => {
    const name = `${freshId('result')}.zip`;
    expect(await counted(() => expectStatus('PUT', `/results/${name}`, 200, randomBytes(100 * 1024)))).toEqual({
      'PutObject results': 1,
    });
    expect(await counted(() => expectStatus('GET', `/results/${name}`, 200))).toEqual({
      'GetObject results': 1,
    });
  });

  it(`submission POST of ${N} files with its archive, the archiver, and archive GETs of the current archive`, async () => {
    const id = freshId('submission');
    // The manifest is read (to merge a re-POST), every file written create-only, the archive built from the
    // request's bytes, then the manifest.
    expect(await counted(() => postSubmission(id, files(N)))).toEqual({
      'GetObject manifests': 1,
      'PutObject submissions': N,
      'PutObject submission_archives': 1,
      'PutObject manifests': 1,
    });
    // The archiver, notified of the manifest, finds the archive current and writes nothing; so does a duplicate.
    for (let i = 0; i < 2; i++) {
      expect(await counted(() => runArchiver(id))).toEqual({
        'GetObject manifests': 1,
        'HeadObject submission_archives': 1,
      });
    }
    let served: Buffer = Buffer.alloc(0);
    expect(
      await counted(async () => {
        served = (await expectStatus('GET', `/submission_archives/${id}.zip`, 200)).body;
      }),
    ).toEqual({
      // The GET that serves the archive (its first INLINE_LIMIT_BYTES) also carries the metadata that says it is
      // current; the same for HEAD.
      'GetObject manifests': 1,
      'GetObject submission_archives': 1,
    });
    expect(await counted(() => expectStatus('HEAD', `/submission_archives/${id}.zip`, 200))).toEqual({
      'GetObject manifests': 1,
      'HeadObject submission_archives': 1,
    });

    // Without the POST's archive (expired, as a lifecycle rule removes it), the archiver builds it: the manifest, the
    // archive's metadata (is it current?), each file, the archive, and the manifest again (did a POST land during
    // the build?). The bytes are the same as the POST's.
    await stack.remove(`submission_archives/${id}.zip`);
    expect(await counted(() => runArchiver(id))).toEqual({
      'GetObject manifests': 2,
      'HeadObject submission_archives': 1,
      'GetObject submissions': N,
      'PutObject submission_archives': 1,
    });
    expect((await expectStatus('GET', `/submission_archives/${id}.zip`, 200)).body.equals(served)).toBe(true);
  });

  it('archive GET after a re-POST of some files, before the archiver ran: the stale archive is rebuilt', async () => {
    const id = freshId('stale');
    await postSubmission(id, files(N));
    await runArchiver(id);
    await postSubmission(id, files(1));
    expect(await counted(() => expectStatus('GET', `/submission_archives/${id}.zip`, 200))).toEqual({
      'GetObject manifests': 2,
      'GetObject submission_archives': 2,
      'GetObject submissions': N - 1,
      'GetObject revisions': 1,
      'PutObject submission_archives': 1,
    });
  });

  it('archive GET when the archive is gone and the archiver has not run: the GET builds it', async () => {
    const id = freshId('gone');
    await postSubmission(id, files(N));
    await stack.remove(`submission_archives/${id}.zip`);
    expect(await counted(() => expectStatus('GET', `/submission_archives/${id}.zip`, 200))).toEqual({
      'GetObject manifests': 2,
      'GetObject submission_archives': 2,
      'GetObject submissions': N,
      'PutObject submission_archives': 1,
    });
  });

  it(`re-POST of ${N} files that replace every stored one`, async () => {
    const id = freshId('repost');
    await postSubmission(id, files(N));
    // Files a manifest lists are never written over: the new versions go to revision keys.
    // The request holds every file of the submission again, so it builds the archive too.
    expect(await counted(() => postSubmission(id, files(N)))).toEqual({
      'GetObject manifests': 1,
      'PutObject revisions': N,
      'PutObject submission_archives': 1,
      'PutObject manifests': 1,
    });
  });

  it('archive GET of an id never uploaded: the manifest and the archive, asked at once, both missing', async () => {
    expect(await counted(() => expectStatus('GET', `/submission_archives/${freshId('never')}.zip`, 404))).toEqual({
      'GetObject manifests': 1,
      'GetObject submission_archives': 1,
    });
  });

  it('large-upload grants and completion', async () => {
    const content = randomBytes(3000);
    expect(await counted(() => json(`exercises/${sha1(content)}`, { size: content.length }))).toEqual({
      'HeadObject tasks': 1,
    });
    expect(await counted(() => json(`results/${freshId('big')}.zip`, { size: 10 }))).toEqual({});

    const id = freshId('large');
    const contents = files(N);
    const declared = Object.fromEntries(contents.map((data, i) => [`data/f${i}.bin`, data.length]));
    let grant: { upload_id: string; files: Record<string, UploadGrant> } | undefined;
    expect(
      await counted(async () => {
        grant = await json(`submissions/${id}`, { files: declared });
      }),
    ).toEqual({ 'GetObject manifests': 1 });
    if (!grant) throw new Error('no grant');
    // The client's own PUTs to S3 (one per file, billed too), not the fileserver's.
    for (const [i, data] of contents.entries()) {
      const url = grant.files[`data/f${i}.bin`] as UploadGrant;
      expect((await putToPresignedUrl(url, data)).status).toBe(200);
    }
    const uploadId = grant.upload_id;
    expect(await counted(() => json(`submissions/${id}/complete`, { upload_id: uploadId, files: declared }))).toEqual({
      'GetObject manifests': 1,
      'HeadObject revisions': N,
      'PutObject manifests': 1,
    });
    expect(await counted(() => runArchiver(id))).toEqual({
      'GetObject manifests': 2,
      'HeadObject submission_archives': 1,
      'GetObject revisions': N,
      'PutObject submission_archives': 1,
    });
  });

  it('completion of many files: one listing instead of a HEAD per file', async () => {
    const many = 20;
    const id = freshId('many');
    const contents = files(many);
    const declared = Object.fromEntries(contents.map((data, i) => [`data/f${i}.bin`, data.length]));
    const grant = await json<{ upload_id: string; files: Record<string, UploadGrant> }>(`submissions/${id}`, {
      files: declared,
    });
    const complete = () =>
      askUpload(stack.url, `submissions/${id}/complete`, { upload_id: grant.upload_id, files: declared });
    for (const [i, data] of contents.entries()) {
      if (i === many - 1) continue; // the last file is not uploaded yet
      expect((await putToPresignedUrl(grant.files[`data/f${i}.bin`] as UploadGrant, data)).status).toBe(200);
    }
    let early: Awaited<ReturnType<typeof complete>> | undefined;
    expect(
      await counted(async () => {
        early = await complete();
      }),
    ).toEqual({ 'GetObject manifests': 1, ListObjectsV2: 1 });
    expect(early?.status).toBe(400);
    expect(early?.json()).toEqual({
      result: 'ERROR',
      error: { code: 'missing-file', message: expect.stringContaining(`data/f${many - 1}.bin`) },
    });
    const last = grant.files[`data/f${many - 1}.bin`] as UploadGrant;
    expect((await putToPresignedUrl(last, contents[many - 1] as Buffer)).status).toBe(200);
    let done: Awaited<ReturnType<typeof complete>> | undefined;
    expect(
      await counted(async () => {
        done = await complete();
      }),
    ).toEqual({ 'GetObject manifests': 1, ListObjectsV2: 1, 'PutObject manifests': 1 });
    expect(done?.status).toBe(200);
    await runArchiver(id);
    const archive = await expectStatus('GET', `/submission_archives/${id}.zip`, 200);
    const entries = await readZip(archive.body);
    expect(entries.map((entry) => entry.name)).toEqual(
      Object.keys(declared)
        .sort()
        .map((path) => `${id}/${path}`),
    );
  });
});
