/**
 * How many S3 requests each operation makes one after another (its depth), beside how many it makes in all
 * (test/integration/s3-request-counts.test.ts). In AWS each request in a row costs tens of milliseconds, so the depth
 * is the operation's latency floor; these are asserted exactly (docs/benchmarks.md, "S3 round trips in a row").
 *
 * Counted in rounds by test/support/depth-meter.ts, not timed: every store call is held until no new one comes, then
 * the held calls go out together. The fault proxy in front of the S3 server (injecting nothing) counts the requests on
 * the wire and checks that each round's requests were all in flight at once. Up to 64 files
 * (`PARALLEL_REQUESTS`), no operation's depth grows with its number of files.
 */
import { createHash, randomBytes } from 'node:crypto';
import { handler as archiver } from '../../functions/archiver';
import { type FaultStack, startFaultStack } from '../faults/support/fault-stack';
import { manifestEvent } from '../handlers/support/s3-events';
import { checkedCalls } from '../support/checked-calls';
import { type DepthMeter, meterDepth } from '../support/depth-meter';
import { freshId } from '../support/fresh-id';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';

let stack: FaultStack;
let meter: DepthMeter;
beforeAll(async () => {
  stack = await startFaultStack();
  meter = meterDepth({ wire: stack.proxy });
});
afterAll(async () => {
  meter?.remove();
  await stack?.close();
});

const { expectStatus, postExercises, postSubmission } = checkedCalls(() => stack.url);

const sha1 = (data: Buffer): string => createHash('sha1').update(data).digest('hex');
const files = (count: number): Buffer[] => Array.from({ length: count }, () => randomBytes(2000));

interface Measured {
  /** S3 requests one after another. */
  depth: number;
  /** S3 requests in all, on the wire. */
  requests: number;
}

/** The depth and the requests of `run`, checked to be one request per store call, each round all on the wire at once. */
async function measured(run: () => Promise<unknown>): Promise<Measured> {
  const from = stack.proxy.stats.log.length;
  const depth = await meter.measure(run);
  const requests = stack.proxy.stats.log.length - from;
  expect({ calls: depth.calls, allAtOnce: depth.allAtOnce }).toEqual({ calls: requests, allAtOnce: true });
  return { depth: depth.depth, requests };
}

async function grant(
  target: string,
  body: unknown,
): Promise<{ upload_id: string; files: Record<string, UploadGrant> }> {
  const answer = await askUpload(stack.url, target, body);
  expect(answer.status).toBe(200);
  return answer.json();
}

describe('S3 requests in a row per operation', () => {
  it('status page: 1', async () => {
    expect(await measured(() => expectStatus('GET', '/', 200))).toEqual({ depth: 1, requests: 1 });
  });

  it('exercise GET: 1 the first time, 0 from memory', async () => {
    const [content] = files(1) as [Buffer];
    await postExercises([content]);
    const path = `/exercises/${sha1(content)}`;
    expect(await measured(() => expectStatus('GET', path, 200))).toEqual({ depth: 1, requests: 1 });
    expect(await measured(() => expectStatus('GET', path, 200))).toEqual({ depth: 0, requests: 0 });
  });

  it.each([1, 5, 64])('exercise POST of %i new files: 2 (the HEADs, then the PUTs)', async (n) => {
    const contents = files(n);
    expect(await measured(() => postExercises(contents))).toEqual({ depth: 2, requests: 2 * n });
    expect(await measured(() => postExercises(contents))).toEqual({ depth: 1, requests: n });
  });

  it('result PUT: 1; result GET: 1', async () => {
    const path = `/results/${freshId('result')}.zip`;
    expect(await measured(() => expectStatus('PUT', path, 200, randomBytes(100 * 1024)))).toEqual({
      depth: 1,
      requests: 1,
    });
    expect(await measured(() => expectStatus('GET', path, 200))).toEqual({ depth: 1, requests: 1 });
  });

  it.each([5, 40, 64])(
    'submission POST of %i files: 3 (the manifest, the files and the archive, the manifest)',
    async (n) => {
      const id = freshId('submission');
      expect(await measured(() => postSubmission(id, files(n)))).toEqual({ depth: 3, requests: n + 3 });
      // The archiver finds the POST's archive current: the manifest and the archive's metadata, at once.
      expect(await measured(() => archiver(manifestEvent(id)))).toEqual({ depth: 1, requests: 2 });
      // So does the GET that serves it, and a HEAD.
      for (const method of ['GET', 'HEAD']) {
        expect(await measured(() => expectStatus(method, `/submission_archives/${id}.zip`, 200))).toEqual({
          depth: 1,
          requests: 2,
        });
      }
    },
  );

  it('re-POST of every file of a submission: 3, and its archive is current', async () => {
    const id = freshId('repost');
    await postSubmission(id, files(5));
    expect(await measured(() => postSubmission(id, files(5)))).toEqual({ depth: 3, requests: 8 });
    expect(await measured(() => archiver(manifestEvent(id)))).toEqual({ depth: 1, requests: 2 });
  });

  it('archive GET of an id never uploaded: 1 (the manifest and the archive, both missing)', async () => {
    const path = `/submission_archives/${freshId('never')}.zip`;
    expect(await measured(() => expectStatus('GET', path, 404))).toEqual({ depth: 1, requests: 2 });
  });

  it('large-upload grants: 1 for an exercise file or a submission, 0 for a result', async () => {
    const content = randomBytes(3000);
    expect(await measured(() => grant(`exercises/${sha1(content)}`, { size: content.length }))).toEqual({
      depth: 1,
      requests: 1,
    });
    expect(await measured(() => grant(`submissions/${freshId('grant')}`, { files: { 'a.c': 10 } }))).toEqual({
      depth: 1,
      requests: 1,
    });
    expect(await measured(() => grant(`results/${freshId('grant')}.zip`, { size: 10 }))).toEqual({
      depth: 0,
      requests: 0,
    });
  });

  it.each([
    [5, 5 + 2],
    [20, 3],
  ])('large-upload completion of %i files: 2 (the manifest with the files, the manifest)', async (n, requests) => {
    const id = freshId('large');
    const contents = files(n);
    const declared = Object.fromEntries(contents.map((data, i) => [`data/f${i}.bin`, data.length]));
    const { upload_id, files: urls } = await grant(`submissions/${id}`, { files: declared });
    for (const [i, data] of contents.entries()) {
      expect((await putToPresignedUrl(urls[`data/f${i}.bin`] as UploadGrant, data)).status).toBe(200);
    }
    const complete = () => grant(`submissions/${id}/complete`, { upload_id, files: declared });
    expect(await measured(complete)).toEqual({ depth: 2, requests });
  });
});
