/**
 * Files of every size class round-trip byte-exact (docs/protocol.md §7): in through the normal route while the body
 * fits the Lambda payload once base64-encoded, through the large-upload route otherwise; out inline up to the
 * 4 MiB inline limit, and as a 302 to a presigned S3 URL above it, which a client follows without credentials.
 * Sizes sit on both sides of that limit and of S3's 5 MiB part size, past the 10 MB API Gateway cap, and at 65 MiB.
 */
import { createHash, randomBytes } from 'node:crypto';
import { freshId } from '../support/fresh-id';
import { type RawAnswer, send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';
import { askUpload, followRedirect, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';

const MiB = 1024 * 1024;
/** lib/config.ts default. */
const INLINE_LIMIT_BYTES = 4 * MiB;

/**
 * `lambda`: the normal route (a multipart POST or a PUT, base64 in the 6 MB Lambda event); `presigned`: the
 * large-upload route, for bodies the local server refuses with 413 as AWS would.
 */
type Route = 'lambda' | 'presigned';
const CASES: [number, Route][] = [
  [0, 'lambda'],
  [INLINE_LIMIT_BYTES, 'lambda'],
  [INLINE_LIMIT_BYTES + 1, 'lambda'],
  [5 * MiB - 1, 'presigned'],
  [5 * MiB, 'presigned'],
  [6 * MiB, 'presigned'],
  [11 * MiB, 'presigned'],
  [65 * MiB, 'presigned'],
];

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const sha1Hex = (data: Buffer): string => createHash('sha1').update(data).digest('hex');

async function grant(target: string, body: unknown): Promise<Record<string, unknown>> {
  const answer = await askUpload(stack.url, target, body);
  expect(answer.status).toBe(200);
  return answer.json();
}

async function uploadOk(upload: UploadGrant, body: Buffer): Promise<void> {
  expect((await putToPresignedUrl(upload, body)).status).toBe(200);
}

/**
 * GET through the fileserver of an object of `size` bytes: inline (200) up to the limit, else a 302 to S3, followed.
 * Answers the bytes.
 */
async function download(path: string, size: number): Promise<Buffer> {
  const answer: RawAnswer = await send(stack.url, 'GET', path);
  if (size <= INLINE_LIMIT_BYTES) {
    expect(answer.status).toBe(200);
    return answer.body;
  }
  const fetched = await followRedirect(answer, stack.s3Endpoint);
  expect(fetched.status).toBe(200);
  return fetched.body;
}

const label = (size: number): string => `${size} bytes${size % MiB === 0 ? ` (${size / MiB} MiB)` : ''}`;

describe.each(CASES)('%i bytes, uploaded through the %s route', (size, route) => {
  let data: Buffer;
  beforeAll(() => {
    data = randomBytes(size);
  });
  afterAll(() => {
    // Released before the next size is generated: at most one of them is held at a time.
    data = Buffer.alloc(0);
  });

  it(`an exercise file of ${label(size)} comes back from GET /exercises/<sha1> byte-exact`, async () => {
    const sha1 = sha1Hex(data);
    if (route === 'lambda') {
      const { body, contentType } = multipart([file('data.bin', data)]);
      const answer = await send(stack.url, 'POST', '/exercises', { headers: { 'Content-Type': contentType }, body });
      expect(answer.status).toBe(200);
      expect(answer.json()).toEqual({ result: 'OK', files: { 'data.bin': `/exercises/${sha1}` } });
    } else {
      const answer = await grant(`exercises/${sha1}`, { size });
      expect(answer.stored).toBe(false);
      await uploadOk(answer.upload as UploadGrant, data);
    }
    const fetched = await download(`/exercises/${sha1}`, size);
    expect(fetched.length).toBe(size);
    expect(sha256(fetched)).toBe(sha256(data));
  });

  it(`a result of ${label(size)} comes back from GET /results/<name> byte-exact`, async () => {
    const name = `${freshId('large')}.zip`;
    if (route === 'lambda') {
      const answer = await send(stack.url, 'PUT', `/results/${name}`, { body: data });
      expect(answer.status).toBe(200);
    } else {
      await uploadOk((await grant(`results/${name}`, { size })).upload as UploadGrant, data);
    }
    const fetched = await download(`/results/${name}`, size);
    expect(fetched.length).toBe(size);
    expect(sha256(fetched)).toBe(sha256(data));
  });
});

describe('65 MiB as an attachment and as a submission file', () => {
  const size = 65 * MiB;
  let data: Buffer;
  beforeAll(() => {
    data = randomBytes(size);
  });
  afterAll(() => {
    data = Buffer.alloc(0);
  });

  it('an attachment comes back from GET /attachments/<id> byte-exact, through S3', async () => {
    const id = freshId('attachment');
    await uploadOk((await grant(`attachments/${id}`, { size })).upload as UploadGrant, data);
    const fetched = await download(`/attachments/${id}`, size);
    expect(fetched.length).toBe(size);
    expect(sha256(fetched)).toBe(sha256(data));
  });

  it('a submission file is in the archive byte-exact, next to a small one; the archive comes through S3', async () => {
    const id = freshId('student');
    const config = Buffer.from('submission:\n  job-id: large\n');
    const files = { 'data/big.bin': data, 'job-config.yml': config };
    const declared = { 'data/big.bin': size, 'job-config.yml': config.length };
    const granted = await grant(`submissions/${id}`, { files: declared });
    const grants = granted.files as Record<string, UploadGrant>;
    for (const [path, bytes] of Object.entries(files)) await uploadOk(grants[path] as UploadGrant, bytes);
    const complete = await askUpload(stack.url, `submissions/${id}/complete`, {
      upload_id: granted.upload_id,
      files: declared,
    });
    expect(complete.status).toBe(200);
    // The build the manifest triggered, awaited: a GET now would start a second 65 MiB build racing it on the CPU.
    await stack.notificationsIdle();

    // The zip holds 65 MiB of incompressible data, so it is above the inline limit too.
    const entries = await readZip(await download(`/submission_archives/${id}.zip`, size));
    const byName = new Map(entries.map((entry) => [entry.name, entry.data]));
    expect(sha256(byName.get(`${id}/data/big.bin`) ?? Buffer.alloc(0))).toBe(sha256(data));
    expect(byName.get(`${id}/job-config.yml`)?.equals(config)).toBe(true);
  });
});

describe('a small archive', () => {
  it('holds an empty submission file, and is served inline', async () => {
    const id = freshId('student');
    const { body, contentType } = multipart([file('empty.txt', Buffer.alloc(0)), file('job-config.yml', 'c')]);
    const post = await send(stack.url, 'POST', `/submissions/${id}`, {
      headers: { 'Content-Type': contentType },
      body,
    });
    expect(post.status).toBe(200);
    const entries = await readZip(await download(`/submission_archives/${id}.zip`, 0));
    expect(entries.find((entry) => entry.name === `${id}/empty.txt`)?.data.length).toBe(0);
  });
});
