/**
 * The large-upload route (docs/protocol.md §7, lib/fileserver/uploads.ts) through real HTTP: presigned URLs from the local server,
 * bytes PUT straight to the S3 server with exactly the listed headers, then read back through the fileserver's own
 * routes. Auth is on, as in every ReCodEx install; the requests to S3 carry no credentials. Every refused request
 * also proves that storage is unchanged by listing the bucket.
 *
 * The embedded s3rver does not check SigV4 signatures or checksums, so what S3 itself enforces (the SHA-1, the
 * signed length) is tested against LocalStack in test/localstack/large-uploads.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { freshId } from '../support/fresh-id';
import { send } from '../support/http';
import { file, multipart, type Part } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';
import { askUpload, followRedirect, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';

const USER = 're';
const PASSWORD = 'codex';
// Read lazily by lib/config.ts, once per test file: auth is on for every request of this file.
process.env.FILESERVER_USERNAME = USER;
process.env.FILESERVER_PASSWORD = PASSWORD;
const AUTH = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };

const MiB = 1024 * 1024;
/** lib/config.ts defaults. */
const INLINE_LIMIT_BYTES = 4 * MiB;
const MAX_UPLOAD_BYTES = 1024 * MiB;

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const sha1Hex = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const ask = (target: string, body: unknown) => askUpload(stack.url, target, body, AUTH);
const get = (path: string) => send(stack.url, 'GET', path, { headers: AUTH });

/** A grant that must succeed; answers its JSON. */
async function granted<T = Record<string, unknown>>(target: string, body: unknown): Promise<T> {
  const answer = await ask(target, body);
  expect(answer.status).toBe(200);
  return answer.json<T>();
}

/** GET through the fileserver, following a redirect to S3 without credentials; answers the bytes. */
async function download(path: string): Promise<{ status: number; body: Buffer }> {
  const answer = await get(path);
  if (answer.status !== 302) return answer;
  const fetched = await followRedirect(answer, stack.s3Endpoint);
  expect(fetched.status).toBe(200);
  return { status: 302, body: fetched.body };
}

async function uploadOk(grant: UploadGrant, body: Buffer): Promise<void> {
  const answer = await putToPresignedUrl(grant, body);
  expect(answer.status).toBe(200);
}

/** Keys in the bucket once every S3-triggered build has finished (an archive may still be in the making). */
async function settledKeys(): Promise<string[]> {
  await stack.notificationsIdle();
  return stack.keys();
}

function expectError(answer: { status: number; json(): Record<string, unknown> }, status: number, code: string) {
  expect({ status: answer.status, body: answer.json() }).toMatchObject({
    status,
    body: { result: 'ERROR', error: { code, message: expect.any(String) } },
  });
}

describe('exercise files: POST /uploads/exercises/<sha1>', () => {
  const content = randomBytes(5 * MiB);
  const sha1 = sha1Hex(content);
  const key = `tasks/${sha1[0]}/${sha1}`;

  it('grants a PUT URL bound to the size and SHA-1; the bytes PUT there are served by GET, through S3', async () => {
    const answer = await granted<{ upload: UploadGrant }>(`exercises/${sha1}`, { size: content.length });
    expect(answer).toEqual({
      result: 'OK',
      stored: false,
      path: `/exercises/${sha1}`,
      upload: { method: 'PUT', url: expect.any(String), headers: expect.any(Object), expires_at: expect.any(String) },
    });
    const { upload } = answer;
    expect(upload.headers).toEqual({
      'Content-Length': String(content.length),
      'x-amz-checksum-sha1': createHash('sha1').update(content).digest('base64'),
    });
    expect(upload.url.startsWith(`${stack.s3Endpoint}/${stack.bucket}/${key}?`)).toBe(true);
    // Both are signed headers, so a faithful S3 refuses any other length or content; the checksum stays a header,
    // since in the query string S3 would not check it against the body.
    const query = new URL(upload.url).searchParams;
    expect(query.get('X-Amz-SignedHeaders')?.split(';')).toEqual(
      expect.arrayContaining(['content-length', 'x-amz-checksum-sha1']),
    );
    expect(query.has('x-amz-checksum-sha1')).toBe(false);
    const expiresAt = Date.parse(upload.expires_at);
    expect(expiresAt).toBeGreaterThan(Date.now());
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(await stack.exists(key)).toBe(false);

    await uploadOk(upload, content);

    const fetched = await download(`/exercises/${sha1}`);
    expect(fetched.status).toBe(302); // 5 MiB is above the 4 MiB inline limit
    expect(sha256(fetched.body)).toBe(sha256(content));
  });

  it('answers "already stored" with no URL once the hash is stored, also for the uppercase hash', async () => {
    for (const hash of [sha1, sha1.toUpperCase()]) {
      expect(await granted(`exercises/${hash}`, { size: content.length })).toEqual({
        result: 'OK',
        stored: true,
        path: `/exercises/${sha1}`,
      });
    }
  });

  it('refuses a stored hash declared with another size (400 size-mismatch) and leaves the file as it was', async () => {
    const before = await settledKeys();
    const answer = await ask(`exercises/${sha1}`, { size: content.length + 1 });
    expectError(answer, 400, 'size-mismatch');
    expect(answer.body.toString()).not.toContain('X-Amz-Signature');
    expect(await stack.keys()).toEqual(before);
    expect(sha256(await stack.storedBytes(key))).toBe(sha256(content));
  });

  it('grants through the /uploads/tasks alias too, and serves a small file uploaded this way inline', async () => {
    const small = randomBytes(1000);
    const { upload } = await granted<{ upload: UploadGrant }>(`tasks/${sha1Hex(small)}`, { size: small.length });
    await uploadOk(upload, small);
    const fetched = await get(`/exercises/${sha1Hex(small)}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body.equals(small)).toBe(true);
  });
});

it('an empty file goes through the large-upload route too', async () => {
  const empty = Buffer.alloc(0);
  const exercise = await granted<{ stored: boolean; upload: UploadGrant }>(`exercises/${sha1Hex(empty)}`, { size: 0 });
  expect(exercise.stored).toBe(false);
  await uploadOk(exercise.upload, empty);
  const name = `${freshId()}.zip`;
  await uploadOk((await granted<{ upload: UploadGrant }>(`results/${name}`, { size: 0 })).upload, empty);
  for (const path of [`/exercises/${sha1Hex(empty)}`, `/results/${name}`]) {
    const fetched = await get(path);
    expect({ path, status: fetched.status, length: fetched.body.length }).toEqual({ path, status: 200, length: 0 });
  }
});

describe('results and attachments: POST /uploads/results/<name>, /uploads/attachments/<id>', () => {
  it.each([
    ['results', 'zip', 'application/zip'],
    ['attachments', 'bin', undefined],
  ])('%s: grant → PUT → GET byte-exact; a second grant and PUT replaces it', async (collection, ext, contentType) => {
    const name = `${freshId()}.${ext}`;
    const first = randomBytes(INLINE_LIMIT_BYTES + 1);
    const answer = await granted<{ path: string; upload: UploadGrant }>(`${collection}/${name}`, {
      size: first.length,
    });
    expect(answer.path).toBe(`/${collection}/${name}`);
    expect(answer.upload.headers).toEqual({
      'Content-Length': String(first.length),
      ...(contentType ? { 'Content-Type': contentType } : {}),
    });
    expect(answer.upload.url.startsWith(`${stack.s3Endpoint}/${stack.bucket}/${collection}/${name}?`)).toBe(true);
    await uploadOk(answer.upload, first);
    const firstFetched = await download(`/${collection}/${name}`);
    expect(firstFetched.status).toBe(302);
    expect(sha256(firstFetched.body)).toBe(sha256(first));

    const second = randomBytes(1234);
    const again = await granted<{ upload: UploadGrant }>(`${collection}/${name}`, { size: second.length });
    await uploadOk(again.upload, second);
    const secondFetched = await get(`/${collection}/${name}`);
    expect(secondFetched.status).toBe(200);
    expect(secondFetched.body.equals(second)).toBe(true);
    if (contentType) expect(secondFetched.headers['content-type']).toBe(contentType);
  });
});

describe('submissions: POST /uploads/submissions/<id> and …/complete', () => {
  /** A multipart POST /submissions/<id>, as the API makes it; it must succeed. */
  async function postSubmission(id: string, parts: Part[]) {
    const posted = multipart(parts);
    const post = await send(stack.url, 'POST', `/submissions/${id}`, {
      headers: { ...AUTH, 'Content-Type': posted.contentType },
      body: posted.body,
    });
    expect(post.status).toBe(200);
    return post;
  }

  const files: Record<string, Buffer> = {
    'main.c': Buffer.from('int main(void) { return 0; }\n'),
    'sub/dir/data.bin': randomBytes(INLINE_LIMIT_BYTES + 1),
    'job-config.yml': Buffer.from('submission:\n  job-id: large\n'),
  };
  const sizes = Object.fromEntries(Object.entries(files).map(([path, data]) => [path, data.length]));

  /** Grants and uploads `contents`; answers the grant's upload_id, for the completing request. */
  async function grantAndUpload(id: string, contents: Record<string, Buffer>): Promise<string> {
    const declared = Object.fromEntries(Object.entries(contents).map(([path, data]) => [path, data.length]));
    const answer = await granted<{ upload_id: string; files: Record<string, UploadGrant>; complete: string }>(
      `submissions/${id}`,
      { files: declared },
    );
    expect(answer.complete).toBe(`/uploads/submissions/${id}/complete`);
    expect(answer.upload_id).toMatch(/^[0-9a-z]{8,40}$/);
    expect(Object.keys(answer.files).sort()).toEqual(Object.keys(contents).sort());
    for (const [path, data] of Object.entries(contents)) {
      const grant = answer.files[path] as UploadGrant;
      // Write-once: a second PUT to the URL (refused by S3; s3rver ignores the condition) cannot replace the file.
      expect(grant.headers).toEqual({ 'Content-Length': String(data.length), 'If-None-Match': '*' });
      expect(new URL(grant.url).searchParams.get('X-Amz-SignedHeaders')?.split(';')).toContain('if-none-match');
      await uploadOk(grant, data);
    }
    return answer.upload_id;
  }

  it('grant → PUT every file → complete answers as POST /submissions does; the archive holds every file', async () => {
    const id = freshId();
    const uploadId = await grantAndUpload(id, files);
    // Nothing is visible before the completing request.
    expect(await stack.exists(`manifests/${id}.json`)).toBe(false);
    expect((await get(`/submission_archives/${id}.zip`)).status).toBe(404);

    const complete = await ask(`submissions/${id}/complete`, { upload_id: uploadId, files: sizes });
    expect(complete.status).toBe(200);
    expect(complete.json()).toEqual({
      archive_path: `/submission_archives/${id}.zip`,
      result_path: `/results/${id}.zip`,
    });

    const archive = await download(`/submission_archives/${id}.zip`);
    const entries = await readZip(archive.body);
    expect(entries.filter((entry) => !entry.name.endsWith('/')).map((entry) => entry.name)).toEqual([
      `${id}/job-config.yml`,
      `${id}/main.c`,
      `${id}/sub/dir/data.bin`,
    ]);
    for (const [path, data] of Object.entries(files)) {
      const entry = entries.find((e) => e.name === `${id}/${path}`);
      expect(entry && sha256(entry.data)).toBe(sha256(data));
    }
  });

  it('keeps paths with spaces, non-ASCII, +, %, # and ? exact, from the URL to the archive entry', async () => {
    const id = freshId();
    const odd: Record<string, Buffer> = {
      'src/my file (1)+ü.c': Buffer.from('spaces, parentheses, a plus, non-ASCII'),
      'x%20y/#q?.txt': Buffer.from('percent, hash and question mark'),
      'empty.txt': Buffer.alloc(0),
    };
    const uploadId = await grantAndUpload(id, odd);
    const declared = Object.fromEntries(Object.entries(odd).map(([path, data]) => [path, data.length]));
    expect((await ask(`submissions/${id}/complete`, { upload_id: uploadId, files: declared })).status).toBe(200);
    const entries = await readZip((await download(`/submission_archives/${id}.zip`)).body);
    expect(entries.filter((e) => !e.name.endsWith('/')).map((e) => [e.name, e.data.toString()])).toEqual(
      Object.entries(odd)
        .map(([path, data]) => [`${id}/${path}`, data.toString()])
        .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1)),
    );
  });

  it('a later grant and completion adds a file to the stored ones, as a re-POST does', async () => {
    const id = freshId();
    const post = await postSubmission(id, [file('main.c', 'v1'), file('job-config.yml', 'c')]);
    const extra = randomBytes(2000);
    const uploadId = await grantAndUpload(id, { 'extra/big.bin': extra });
    const complete = await ask(`submissions/${id}/complete`, {
      upload_id: uploadId,
      files: { 'extra/big.bin': extra.length },
    });
    expect(complete.json()).toEqual(post.json());

    const entries = await readZip((await download(`/submission_archives/${id}.zip`)).body);
    expect(entries.filter((e) => !e.name.endsWith('/')).map((e) => [e.name, sha256(e.data)])).toEqual([
      [`${id}/extra/big.bin`, sha256(extra)],
      [`${id}/job-config.yml`, sha256(Buffer.from('c'))],
      [`${id}/main.c`, sha256(Buffer.from('v1'))],
    ]);
  });

  it('completing with a file that was never uploaded → 400 missing-file naming it; no manifest, no archive', async () => {
    const id = freshId();
    const { 'main.c': _skipped, ...uploaded } = files;
    const uploadId = await grantAndUpload(id, uploaded);
    const before = await settledKeys();

    const answer = await ask(`submissions/${id}/complete`, { upload_id: uploadId, files: sizes });
    expectError(answer, 400, 'missing-file');
    expect(answer.json<{ error: { message: string } }>().error.message).toContain('main.c');
    expect(await settledKeys()).toEqual(before);
    expect(await stack.exists(`manifests/${id}.json`)).toBe(false);
    expect(await stack.exists(`submission_archives/${id}.zip`)).toBe(false);
    expect((await get(`/submission_archives/${id}.zip`)).status).toBe(404);
  });

  it('completing with a file stored at another size than declared → 400 size-mismatch; no manifest', async () => {
    const id = freshId();
    // Declared with one size, stored with another. Through its URL S3 refuses another length (the length is signed;
    // test/localstack shows it), so the odd file is put straight into the bucket, as a broken client or tool might.
    const declared = { ...sizes, 'main.c': (sizes['main.c'] ?? 0) + 5 };
    const answerGrant = await granted<{ upload_id: string; files: Record<string, UploadGrant> }>(`submissions/${id}`, {
      files: declared,
    });
    for (const [path, data] of Object.entries(files)) {
      await stack.put(`revisions/${id}/${answerGrant.upload_id}/${path}`, data);
    }
    const before = await settledKeys();

    const answer = await ask(`submissions/${id}/complete`, { upload_id: answerGrant.upload_id, files: declared });
    expectError(answer, 400, 'size-mismatch');
    expect(answer.json<{ error: { message: string } }>().error.message).toContain('main.c');
    expect(await settledKeys()).toEqual(before);
    expect(await stack.exists(`manifests/${id}.json`)).toBe(false);
    expect(await stack.exists(`submission_archives/${id}.zip`)).toBe(false);
  });

  it('grants 1,000 files in one answer, and a completion with none uploaded names the first ones', async () => {
    const id = freshId();
    // Long nested paths make the URLs as long as real ones get.
    const declared = Object.fromEntries(
      Array.from({ length: 1000 }, (_, i) => [`tests/${String(i).padStart(4, '0')}/${'input-'.repeat(8)}data.in`, i]),
    );
    const before = await settledKeys();
    const answer = await granted<{ upload_id: string; files: Record<string, UploadGrant> }>(`submissions/${id}`, {
      files: declared,
    });
    expect(Object.keys(answer.files).sort()).toEqual(Object.keys(declared).sort());

    const complete = await ask(`submissions/${id}/complete`, { upload_id: answer.upload_id, files: declared });
    expectError(complete, 400, 'missing-file');
    const { message } = complete.json<{ error: { message: string } }>().error;
    expect(message).toContain('tests/0000/');
    expect(message).toContain('990 more');
    expect(await settledKeys()).toEqual(before);
  });

  it('refuses a path that clashes with a stored submission file (400 path-conflict), granting nothing', async () => {
    const id = freshId();
    const _post = await postSubmission(id, [file('lib', 'a file named lib')]);
    const before = await settledKeys();
    for (const target of [`submissions/${id}`, `submissions/${id}/complete`]) {
      const answer = await ask(target, { upload_id: '0123456789abcdef', files: { 'lib/x.c': 10 } });
      expectError(answer, 400, 'path-conflict');
      expect(answer.body.toString()).not.toContain('X-Amz-Signature');
    }
    expect(await settledKeys()).toEqual(before);
  });

  it('replaces a stored file as a re-POST does, and never writes over the file the stored manifest lists', async () => {
    const id = freshId();
    const _post = await postSubmission(id, [file('main.c', 'v1'), file('job-config.yml', 'c')]);
    const plainMain = await stack.storedBytes(`submissions/${id}/main.c`);

    const uploadId = await grantAndUpload(id, { 'main.c': Buffer.from('version 2') });
    // Until the completion, the stored file and the archive are untouched.
    expect(await stack.storedBytes(`submissions/${id}/main.c`)).toEqual(plainMain);
    const complete = await ask(`submissions/${id}/complete`, { upload_id: uploadId, files: { 'main.c': 9 } });
    expect(complete.status).toBe(200);
    const entries = await readZip((await download(`/submission_archives/${id}.zip`)).body);
    expect(entries.filter((e) => !e.name.endsWith('/')).map((e) => [e.name, e.data.toString()])).toEqual([
      [`${id}/job-config.yml`, 'c'],
      [`${id}/main.c`, 'version 2'],
    ]);
  });

  it("completing with another grant's upload_id finds none of the files (400 missing-file), writing nothing", async () => {
    const id = freshId();
    await grantAndUpload(id, files);
    const before = await settledKeys();
    const answer = await ask(`submissions/${id}/complete`, { upload_id: '0123456789abcdef', files: sizes });
    expectError(answer, 400, 'missing-file');
    expect(await settledKeys()).toEqual(before);
  });
});

describe('bad input: the right status and error code, no URL, storage unchanged', () => {
  const hash = sha1Hex(`bad input ${Date.now()}`);
  const manyFiles = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`f${i}.txt`, 1]));

  it.each<[string, number, string, string, unknown]>([
    ['an unknown collection', 404, 'no-such-upload-target', 'things/x', { size: 1 }],
    ['a collection without a name', 404, 'no-such-upload-target', 'results', { size: 1 }],
    ['a sub-path other than complete', 404, 'no-such-upload-target', 'submissions/s1/finish', { files: { a: 1 } }],
    ['a nested result name', 404, 'no-such-upload-target', 'results/a/b.zip', { size: 1 }],
    ['malformed JSON', 400, 'bad-json', `exercises/${hash}`, '{"size": 1'],
    ['an empty body', 400, 'bad-json', 'results/r.zip', ''],
    ['a JSON array', 400, 'bad-json', 'results/r.zip', [1]],
    ['JSON null', 400, 'bad-json', 'results/r.zip', 'null'],
    ['a JSON number', 400, 'bad-json', 'attachments/a', '12'],
    ['no size', 400, 'invalid-size', 'results/r.zip', {}],
    ['a negative size', 400, 'invalid-size', `exercises/${hash}`, { size: -1 }],
    ['a fractional size', 400, 'invalid-size', 'results/r.zip', { size: 1.5 }],
    ['a size as a string', 400, 'invalid-size', 'attachments/a', { size: '10' }],
    ['a size beyond 2^53', 400, 'invalid-size', 'results/r.zip', { size: 2 ** 53 }],
    ['a size above the maximum', 413, 'upload-too-large', `exercises/${hash}`, { size: MAX_UPLOAD_BYTES + 1 }],
    ['a result above the maximum', 413, 'upload-too-large', 'results/r.zip', { size: MAX_UPLOAD_BYTES + 1 }],
    ['an attachment above the maximum', 413, 'upload-too-large', 'attachments/a', { size: 5 * 1024 * MiB }],
    ['an invalid hash', 400, 'invalid-hash', `exercises/${'g'.repeat(40)}`, { size: 1 }],
    ['a short hash', 400, 'invalid-hash', `tasks/${hash.slice(1)}`, { size: 1 }],
    ['an invalid result name', 400, 'invalid-id', 'results/..', { size: 1 }],
    ['an invalid submission id', 400, 'invalid-id', 'submissions/a%20b', { files: { a: 1 } }],
    ['files missing', 400, 'bad-json', 'submissions/s1', { size: 1 }],
    ['files as an array', 400, 'bad-json', 'submissions/s1', { files: ['a.c'] }],
    ['files empty', 400, 'no-files', 'submissions/s1', { files: {} }],
    ['files empty on complete', 400, 'no-files', 'submissions/s1/complete', { upload_id: 'abcdef0123', files: {} }],
    ['complete without upload_id', 400, 'invalid-upload-id', 'submissions/s1/complete', { files: { a: 1 } }],
    [
      'complete with a malformed upload_id',
      400,
      'invalid-upload-id',
      'submissions/s1/complete',
      { upload_id: '../x', files: { a: 1 } },
    ],
    ['1001 files', 400, 'too-many-files', 'submissions/s1', { files: manyFiles }],
    ['a path with ..', 400, 'invalid-path', 'submissions/s1', { files: { 'ok.c': 1, '../x': 1 } }],
    ['an absolute path', 400, 'invalid-path', 'submissions/s1', { files: { '/etc/x': 1 } }],
    ['a backslash path', 400, 'invalid-path', 'submissions/s1', { files: { 'a\\b': 1 } }],
    ['a path with an empty segment', 400, 'invalid-path', 'submissions/s1', { files: { 'a//b': 1 } }],
    ['a file and its folder', 400, 'path-conflict', 'submissions/s1', { files: { a: 1, 'a/b': 1 } }],
    ['a file of negative size', 400, 'invalid-size', 'submissions/s1', { files: { 'a.c': -1 } }],
    ['a file above the maximum', 413, 'upload-too-large', 'submissions/s1', { files: { 'a.c': MAX_UPLOAD_BYTES + 1 } }],
    [
      'files that add up to more than the maximum',
      413,
      'upload-too-large',
      'submissions/s1',
      { files: { 'a.bin': MAX_UPLOAD_BYTES / 2 + 1, 'b.bin': MAX_UPLOAD_BYTES / 2 } },
    ],
  ])('%s → %d %s', async (_what, status, code, target, body) => {
    const before = await settledKeys();
    const answer = await ask(target, body);
    expectError(answer, status, code);
    expect(answer.body.toString()).not.toContain('X-Amz-Signature');
    expect(await settledKeys()).toEqual(before);
  });

  it('grants exactly the maximum size (the bound is inclusive)', async () => {
    const before = await settledKeys();
    const answer = await granted<{ upload: UploadGrant }>(`results/${freshId()}.zip`, { size: MAX_UPLOAD_BYTES });
    expect(answer.upload.headers['Content-Length']).toBe(String(MAX_UPLOAD_BYTES));
    expect(await settledKeys()).toEqual(before);
  });

  it.each(['GET', 'PUT', 'DELETE'])('%s /uploads/… → 405 with Allow: POST', async (method) => {
    const before = await settledKeys();
    const body = JSON.stringify({ size: 1 });
    const answer = await send(stack.url, method, `/uploads/exercises/${hash}`, {
      headers: { ...AUTH, 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
      body,
    });
    expectError(answer, 405, 'method-not-allowed');
    expect(answer.headers.allow).toBe('POST');
    expect(await settledKeys()).toEqual(before);
  });

  it.each([
    ['no credentials', {}],
    ['wrong credentials', { Authorization: `Basic ${Buffer.from(`${USER}:wrong`).toString('base64')}` }],
  ])('%s → 401 with WWW-Authenticate, and no URL', async (_what, headers) => {
    const before = await settledKeys();
    for (const [target, body] of [
      [`exercises/${hash}`, { size: 10 }],
      ['results/r.zip', { size: 10 }],
      ['submissions/s1', { files: { 'a.c': 10 } }],
      ['submissions/s1/complete', { files: { 'a.c': 10 } }],
    ] as const) {
      const answer = await askUpload(stack.url, target, body, headers);
      expectError(answer, 401, 'unauthorized');
      expect(answer.headers['www-authenticate']).toBe('Basic realm="ReCodEx fileserver"');
      expect(answer.body.toString()).not.toContain('X-Amz-Signature');
    }
    expect(await settledKeys()).toEqual(before);
  });
});

describe('413 on the normal routes names the large-upload route', () => {
  it.each([
    ['above the 10 MB API Gateway cap', 11 * MiB],
    ['above the 6 MB Lambda payload once base64-encoded', 5 * MiB],
  ])('PUT /results/<name> %s → 413 JSON pointing to /uploads/, nothing stored', async (_what, size) => {
    const name = `${freshId()}.zip`;
    const answer = await send(stack.url, 'PUT', `/results/${name}`, { headers: AUTH, body: Buffer.alloc(size) });
    expect(answer.status).toBe(413);
    expect(answer.headers['content-type']).toBe('application/json');
    const { error } = answer.json<{ error: { code: string; message: string } }>();
    // A result PUT has its own code, naming the bound a worker must keep to (docs/protocol.md, "Worker results"); a
    // client other than a worker can use the large-upload route, which the message names too.
    expect(error.code).toBe('result-too-large');
    expect(error.message).toContain('4718592 bytes');
    expect(error.message).toContain('/uploads/results/');
    expect(await stack.exists(`results/${name}`)).toBe(false);
  });
});
