/**
 * The wire protocol (docs/protocol.md §2–§6) through real HTTP: the local server, the handlers and a real
 * S3-compatible server. Every bad-input case also proves that storage is unchanged by listing the bucket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { freshId } from '../support/fresh-id';
import { send } from '../support/http';
import { file, multipart, type Part } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';
import { readZip } from '../support/zip';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const sha1 = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');

function post(path: string, parts: readonly Part[], headers: Record<string, string> = {}) {
  const { body, contentType } = multipart(parts);
  return send(stack.url, 'POST', path, { body, headers: { 'Content-Type': contentType, ...headers } });
}

async function archiveEntries(id: string) {
  const answer = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toBe('application/zip');
  return (await readZip(answer.body)).map((entry) => ({ name: entry.name, data: entry.data.toString('utf8') }));
}

describe('POST /submissions/<id> and GET /submission_archives/<id>.zip', () => {
  it('stores nested paths and serves them in a prefixed archive, text fields left out', async () => {
    const id = freshId();
    const answer = await post(`/submissions/${id}`, [
      file('main.c', 'int main(void) { return 0; }\n'),
      file('sub/dir/x.txt', 'x\n'),
      file('job-config.yml', 'submission:\n  job-id: x\n'),
      { name: 'comment', data: 'a text field, not a file' },
    ]);
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({
      archive_path: `/submission_archives/${id}.zip`,
      result_path: `/results/${id}.zip`,
    });
    expect(await archiveEntries(id)).toEqual([
      { name: `${id}/job-config.yml`, data: 'submission:\n  job-id: x\n' },
      { name: `${id}/main.c`, data: 'int main(void) { return 0; }\n' },
      { name: `${id}/sub/dir/x.txt`, data: 'x\n' },
    ]);
  });

  it('works for ids with dots, and answers HEAD with the headers of GET', async () => {
    const id = 'a.b';
    expect((await post(`/submissions/${id}`, [file('job-config.yml', 'c')])).json()).toEqual({
      archive_path: '/submission_archives/a.b.zip',
      result_path: '/results/a.b.zip',
    });
    const get = await send(stack.url, 'GET', '/submission_archives/a.b.zip');
    const head = await send(stack.url, 'HEAD', '/submission_archives/a.b.zip');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    expect(head.headers['content-type']).toBe('application/zip');
  });

  it('adds a file on a re-POST, and the archive then contains it', async () => {
    const id = freshId();
    await post(`/submissions/${id}`, [file('main.c', 'v1'), file('job-config.yml', 'c')]);
    expect((await archiveEntries(id)).map((e) => e.name)).toEqual([`${id}/job-config.yml`, `${id}/main.c`]);
    expect((await post(`/submissions/${id}`, [file('extra/data.txt', 'more'), file('main.c', 'v2')])).status).toBe(200);
    expect(await archiveEntries(id)).toEqual([
      { name: `${id}/extra/data.txt`, data: 'more' },
      { name: `${id}/job-config.yml`, data: 'c' },
      { name: `${id}/main.c`, data: 'v2' },
    ]);
  });

  it('keeps the bytes of a random binary file part exactly', async () => {
    const id = freshId();
    const data = randomBytes(1024 * 1024);
    await post(`/submissions/${id}`, [file('bin/data.bin', data), file('job-config.yml', 'c')]);
    const zip = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    const entry = (await readZip(zip.body)).find((e) => e.name === `${id}/bin/data.bin`);
    expect(entry && sha256(entry.data)).toBe(sha256(data));
  });

  it('builds the same archive bytes every time for the same files', async () => {
    const id = freshId();
    await post(`/submissions/${id}`, [file('b.txt', 'b'), file('a.txt', 'a')]);
    const first = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    await post(`/submissions/${id}`, [file('a.txt', 'a'), file('b.txt', 'b')]);
    const second = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    expect(sha256(second.body)).toBe(sha256(first.body));
  });

  it('answers 404 twice for an archive that was never uploaded, and writes nothing', async () => {
    const before = await stack.keys();
    for (let i = 0; i < 2; i++) {
      const answer = await send(stack.url, 'GET', '/submission_archives/student_never.zip');
      expect(answer.status).toBe(404);
      expect(answer.json()).toMatchObject({ result: 'ERROR', error: { code: 'no-such-submission' } });
    }
    expect(await stack.keys()).toEqual(before);
  });
});

describe('exercise files', () => {
  it.each(['/exercises', '/tasks'])('POST %s stores by SHA-1 and answers /exercises paths', async (route) => {
    const data = randomBytes(5000);
    const answer = await post(route, [file('input.txt', 'hello\n'), file('empty.txt', ''), file('data.bin', data)]);
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({
      result: 'OK',
      files: {
        'input.txt': '/exercises/f572d396fae9206628714fb2ce00f72e94f2258f',
        'empty.txt': '/exercises/da39a3ee5e6b4b0d3255bfef95601890afd80709',
        'data.bin': `/exercises/${sha1(data)}`,
      },
    });
    for (const prefix of ['/exercises/', '/tasks/']) {
      const fetched = await send(stack.url, 'GET', `${prefix}${sha1(data)}`);
      expect(fetched.status).toBe(200);
      expect(fetched.headers['content-type']).toBe('application/octet-stream');
      expect(sha256(fetched.body)).toBe(sha256(data));
    }
    expect((await send(stack.url, 'GET', '/exercises/da39a3ee5e6b4b0d3255bfef95601890afd80709')).body.length).toBe(0);
  });

  it('stores equal content once and maps both fields to it', async () => {
    const data = `dedup ${Date.now()}`;
    const hash = sha1(data);
    const answer = await post('/exercises', [file('one', data), file('two', data)]);
    expect(answer.json()).toEqual({ result: 'OK', files: { one: `/exercises/${hash}`, two: `/exercises/${hash}` } });
    expect((await stack.keys()).filter((key) => key.includes(hash))).toEqual([`tasks/${hash[0]}/${hash}`]);
  });

  it('accepts uppercase hex as the same file, and HEAD gives the length', async () => {
    await post('/exercises', [file('input.txt', 'hello\n')]);
    const upper = await send(stack.url, 'GET', '/exercises/F572D396FAE9206628714FB2CE00F72E94F2258F');
    expect(upper.body.toString()).toBe('hello\n');
    const head = await send(stack.url, 'HEAD', '/tasks/f572d396fae9206628714fb2ce00f72e94f2258f');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('6');
  });

  it('answers 404 for an unknown hash', async () => {
    const answer = await send(stack.url, 'GET', `/exercises/${'0'.repeat(40)}`);
    expect(answer.status).toBe(404);
    expect(answer.json()).toMatchObject({ error: { code: 'no-such-file' } });
  });
});

describe('results and attachments: raw bytes whatever the Content-Type', () => {
  const body = randomBytes(1024 * 1024);
  it.each([
    ['no Content-Type', {}],
    ['application/x-www-form-urlencoded', { 'Content-Type': 'application/x-www-form-urlencoded' }],
    ['application/zip', { 'Content-Type': 'application/zip' }],
    ['multipart/form-data', { 'Content-Type': 'multipart/form-data; boundary=x' }],
  ])('PUT /results with %s stores the exact bytes', async (_label, headers) => {
    const name = `${freshId()}.zip`;
    const put = await send(stack.url, 'PUT', `/results/${name}`, {
      body,
      headers: { ...headers, Expect: '100-continue', 'Content-Length': String(body.length) },
    });
    expect(put.status).toBe(200);
    expect(put.json()).toEqual({ result: 'OK' });
    const get = await send(stack.url, 'GET', `/results/${name}`);
    expect(get.status).toBe(200);
    expect(get.headers['content-type']).toBe('application/zip');
    expect(sha256(get.body)).toBe(sha256(body));
  });

  it('overwrites a result, and serves a non-zip name as octet-stream', async () => {
    const name = `${freshId()}.log`;
    await send(stack.url, 'PUT', `/results/${name}`, { body: 'first' });
    await send(stack.url, 'PUT', `/results/${name}`, { body: 'second' });
    const get = await send(stack.url, 'GET', `/results/${name}`);
    expect(get.body.toString()).toBe('second');
    expect(get.headers['content-type']).toBe('application/octet-stream');
  });

  it('answers 404 for a result that is not there yet (the API polls on 4xx)', async () => {
    const answer = await send(stack.url, 'GET', `/results/${freshId()}.zip`);
    expect(answer.status).toBe(404);
    expect(answer.json()).toMatchObject({ result: 'ERROR', error: { code: 'no-such-result' } });
  });

  it('stores an empty result', async () => {
    const name = `${freshId()}.zip`;
    expect((await send(stack.url, 'PUT', `/results/${name}`, { body: '' })).status).toBe(200);
    const get = await send(stack.url, 'GET', `/results/${name}`);
    expect(get.status).toBe(200);
    expect(get.body.length).toBe(0);
  });

  it('PUT and GET /attachments/<id>', async () => {
    const id = freshId('att');
    const data = randomBytes(3000);
    expect((await send(stack.url, 'PUT', `/attachments/${id}`, { body: data })).json()).toEqual({ result: 'OK' });
    const get = await send(stack.url, 'GET', `/attachments/${id}`);
    expect(sha256(get.body)).toBe(sha256(data));
    expect((await send(stack.url, 'GET', `/attachments/${freshId('att')}`)).status).toBe(404);
  });
});

describe('GET / and unknown routes and methods', () => {
  it('shows the service, its version and that storage is reachable', async () => {
    const answer = await send(stack.url, 'GET', '/');
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({
      service: 'recodex-fileserver-s3',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      storage: { bucket: stack.bucket, reachable: true },
    });
  });

  it.each([
    ['DELETE', '/results/x.zip'],
    ['POST', '/results/x.zip'],
    ['GET', '/submissions/x'],
    ['PUT', '/exercises'],
    ['DELETE', `/exercises/${'a'.repeat(40)}`],
    ['POST', '/submission_archives/x.zip'],
    ['PUT', '/'],
  ])('%s %s → 405 with Allow', async (method, path) => {
    const answer = await send(stack.url, method, path);
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toEqual(expect.any(String));
    expect(answer.json()).toMatchObject({ result: 'ERROR', error: { code: 'method-not-allowed' } });
  });

  it.each(['/nope', '/submissions', '/submission_archives', '/results/'])('%s → 404', async (path) => {
    expect((await send(stack.url, 'GET', path)).status).toBe(404);
  });
});

describe('bad input: a clear 4xx and storage unchanged', () => {
  let before: string[];
  beforeEach(async () => {
    before = await stack.keys();
  });
  afterEach(async () => {
    expect(await stack.keys()).toEqual(before);
  });

  it.each([
    ['../x'],
    ['../../etc/passwd'],
    ['/abs'],
    ['a/../../b'],
    ['a//b'],
    ['./a'],
    ['.'],
    ['..'],
    ['a\\b'],
    ['C:\\x'],
    ['x'.repeat(801)],
    [''],
  ])('field name %j → 400 invalid-path, nothing stored (also not the valid file beside it)', async (name) => {
    const answer = await post(`/submissions/${freshId()}`, [
      file('job-config.yml', 'valid'),
      { name, data: 'evil', filename: 'f' },
    ]);
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ result: 'ERROR', error: { code: 'invalid-path' } });
    expect((answer.json() as { error: { message: string } }).error.message).toMatch(/path/);
  });

  it('a NUL byte in a field name → 400: busboy refuses the part header as malformed', async () => {
    const answer = await post(`/submissions/${freshId()}`, [file('job-config.yml', 'ok'), file('a\u0000b', 'evil')]);
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: { code: 'bad-multipart' } });
  });

  it('duplicate field names → 400 duplicate-field', async () => {
    const answer = await post(`/submissions/${freshId()}`, [file('main.c', 'a'), file('main.c', 'b')]);
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: { code: 'duplicate-field' } });
  });

  it('a path that is both a file and a folder → 400 path-conflict', async () => {
    const answer = await post(`/submissions/${freshId()}`, [file('a', '1'), file('a/b', '2')]);
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: { code: 'path-conflict' } });
  });

  it('a submission without file parts → 400 no-files', async () => {
    const answer = await post(`/submissions/${freshId()}`, [{ name: 'only', data: 'text' }]);
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: { code: 'no-files' } });
  });

  it('a body that is not multipart → 415, a truncated one → 400', async () => {
    const id = freshId();
    const json = await send(stack.url, 'POST', `/submissions/${id}`, {
      body: '{}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(json.status).toBe(415);
    expect(json.json()).toMatchObject({ error: { code: 'not-multipart' } });
    const { body, contentType } = multipart([file('main.c', 'x')]);
    const truncated = await send(stack.url, 'POST', `/submissions/${id}`, {
      body: body.subarray(0, body.length - 10),
      headers: { 'Content-Type': contentType },
    });
    expect(truncated.status).toBe(400);
    expect(truncated.json()).toMatchObject({ error: { code: 'bad-multipart' } });
  });

  it.each([
    ['/submissions/..', 'POST'],
    ['/submissions/.', 'POST'],
    ['/submissions/a%2Fb', 'POST'],
    ['/submissions/a%20b', 'POST'],
    [`/submissions/${'a'.repeat(300)}`, 'POST'],
    ['/submissions/a/b', 'POST'],
    ['/results/..', 'PUT'],
    ['/results/a%2Fb.zip', 'PUT'],
    [`/results/${'r'.repeat(129)}`, 'PUT'],
    ['/attachments/a%20b', 'PUT'],
    ['/attachments/..', 'PUT'],
  ])('%s (%s) → 400 invalid-id', async (path, method) => {
    const { body, contentType } = multipart([file('main.c', 'x')]);
    const answer = await send(stack.url, method, path, { body, headers: { 'Content-Type': contentType } });
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ result: 'ERROR', error: { code: 'invalid-id' } });
  });

  it.each([
    'a'.repeat(39),
    'a'.repeat(41),
    `${'g'.repeat(40)}`,
    `${'a'.repeat(20)}/${'a'.repeat(19)}`,
    `${'a'.repeat(20)}%2F${'a'.repeat(19)}`,
  ])('hash %s → 400 invalid-hash', async (hash) => {
    for (const prefix of ['/exercises/', '/tasks/']) {
      const answer = await send(stack.url, 'GET', `${prefix}${hash}`);
      expect(answer.status).toBe(400);
      expect(answer.json()).toMatchObject({ error: { code: 'invalid-hash' } });
    }
  });

  it('an archive name without .zip → 400', async () => {
    const answer = await send(stack.url, 'GET', '/submission_archives/student_x');
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({ error: { code: 'invalid-archive-name' } });
  });

  it('a body over the 10 MB API Gateway cap → 413 before it is read', async () => {
    const answer = await send(stack.url, 'PUT', '/results/big.zip', { body: Buffer.alloc(10 * 1024 * 1024 + 1) });
    expect(answer.status).toBe(413);
    expect(answer.json()).toMatchObject({ error: { code: 'result-too-large' } });
  });

  it('a body whose base64 form exceeds the 6 MB Lambda payload → 413', async () => {
    const answer = await send(stack.url, 'PUT', '/results/big.zip', { body: Buffer.alloc(5 * 1024 * 1024) });
    expect(answer.status).toBe(413);
    expect(answer.json()).toMatchObject({ error: { code: 'result-too-large' } });
  });
});
