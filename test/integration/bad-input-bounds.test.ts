/**
 * The bounds of a submission and the names of bad input (docs/protocol.md, "Bounds and bad input"), through real HTTP
 * to the local server over each backend's store, with Basic credentials on. The submission bounds are set small here
 * (MAX_SUBMISSION_FILES=40, MAX_UPLOAD_BYTES=12000) so that a few requests reach them; the default bounds are checked
 * in test/unit/submission-bounds.test.ts.
 */
import { createHash } from 'node:crypto';
import { captureLogs } from '../handlers/support/logs';
import { bucketSnapshot } from '../support/bucket-snapshot';
import { type RawAnswer, send } from '../support/http';
import { file, multipart, type Part } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';

const USER = 'bounds';
const PASSWORD = 'bounds-test-secret';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const MAX_FILES = 40;
const MAX_BYTES = 12_000;

let stack: TestStack;
beforeAll(async () => {
  Object.assign(process.env, {
    FILESERVER_USERNAME: USER,
    FILESERVER_PASSWORD: PASSWORD,
    MAX_SUBMISSION_FILES: String(MAX_FILES),
    MAX_UPLOAD_BYTES: String(MAX_BYTES),
  });
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

function request(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}) {
  return send(stack.url, method, path, { body, headers: { Authorization: AUTH, ...headers } });
}
function post(path: string, parts: readonly Part[]): Promise<RawAnswer> {
  const { body, contentType } = multipart(parts);
  return request('POST', path, body, { 'Content-Type': contentType });
}
const ask = (target: string, body: unknown) => askUpload(stack.url, target, body, { Authorization: AUTH });

const snapshot = (): Promise<Map<string, string>> => bucketSnapshot(stack);

/** `attempt` is answered `status` with a JSON error `code`, and storage is exactly as it was. */
async function refused(status: number, code: string, attempt: () => Promise<RawAnswer>): Promise<RawAnswer> {
  const before = await snapshot();
  const answer = await attempt();
  expect({ status: answer.status, code: answer.json<{ error: { code: string } }>().error?.code }).toEqual({
    status,
    code,
  });
  expect(await snapshot()).toEqual(before);
  return answer;
}

async function archiveEntries(id: string): Promise<string[]> {
  await stack.notificationsIdle();
  const answer = await request('GET', `/submission_archives/${id}.zip`);
  expect(answer.status).toBe(200);
  return (await readZip(answer.body)).map((entry) => entry.name).filter((name) => !name.endsWith('/'));
}

const files = (prefix: string, count: number, data = ''): Part[] =>
  Array.from({ length: count }, (_, i) => file(`${prefix}/f${i}.txt`, data));

describe('finding 1: a submission grows to its bound and no further, and stays readable there', () => {
  it('three POSTs reach the file bound; the archive and a re-POST still work; one more file is refused', async () => {
    expect((await post('/submissions/grow', files('a', 15))).status).toBe(200);
    expect((await post('/submissions/grow', files('b', 15))).status).toBe(200);
    expect((await post('/submissions/grow', files('c', 10))).status).toBe(200);
    expect(await archiveEntries('grow')).toHaveLength(MAX_FILES);

    // At the bound, a re-POST that replaces files is served as any other.
    expect((await post('/submissions/grow', [file('a/f0.txt', 'again'), file('c/f9.txt', 'again')])).status).toBe(200);
    expect(await archiveEntries('grow')).toHaveLength(MAX_FILES);

    const tooMany = await refused(413, 'submission-too-large', () =>
      post('/submissions/grow', [file('a/f0.txt', 'third'), file('d/new.txt', 'x')]),
    );
    expect(tooMany.json<{ error: { message: string } }>().error.message).toContain(String(MAX_FILES));
    // The large-upload route refuses it before any URL is issued, and at the completion.
    await refused(413, 'submission-too-large', () => ask('submissions/grow', { files: { 'd/new.txt': 1 } }));
    expect(await archiveEntries('grow')).toHaveLength(MAX_FILES);
  });

  it('one POST past the bound is refused whole on a fresh id', async () => {
    await refused(413, 'submission-too-large', () => post('/submissions/fresh_past', files('a', MAX_FILES + 1)));
    expect((await request('GET', '/submission_archives/fresh_past.zip')).status).toBe(404);
  });

  it('a completion that would pass the bound is refused, though its grant fitted when it was given', async () => {
    const grant = await ask('submissions/late', { files: { 'big/one.txt': 1 } });
    expect(grant.status).toBe(200);
    const { upload_id, files: urls } = grant.json<{ upload_id: string; files: Record<string, UploadGrant> }>();
    expect((await putToPresignedUrl(urls['big/one.txt'] as UploadGrant, Buffer.from('1'))).status).toBe(200);
    // Meanwhile POSTs fill the submission.
    expect((await post('/submissions/late', files('a', MAX_FILES))).status).toBe(200);
    await refused(413, 'submission-too-large', () =>
      ask('submissions/late/complete', { upload_id, files: { 'big/one.txt': 1 } }),
    );
    expect(await archiveEntries('late')).toHaveLength(MAX_FILES);
  });
});

describe('finding 2: MAX_UPLOAD_BYTES bounds every path that adds files', () => {
  it('plain multipart POSTs are counted: the POST that would pass the total is refused, nothing stored', async () => {
    const five = 'x'.repeat(5000);
    expect((await post('/submissions/total', [file('one.bin', five)])).status).toBe(200);
    expect((await post('/submissions/total', [file('two.bin', five)])).status).toBe(200);
    const answer = await refused(413, 'upload-too-large', () => post('/submissions/total', [file('three.bin', five)]));
    expect(answer.json<{ error: { message: string } }>().error.message).toContain(String(MAX_BYTES));
    // Replacing a file counts its new size, not both.
    expect((await post('/submissions/total', [file('two.bin', 'y'.repeat(7000))])).status).toBe(200);
    await refused(413, 'upload-too-large', () => post('/submissions/total', [file('two.bin', 'y'.repeat(7001))]));
  });
});

describe('finding 3: names of Object.prototype are names like the others', () => {
  const names = Object.getOwnPropertyNames(Object.prototype);

  it.each(names)('the query parameter %s is ignored as any other: 401 without credentials, 200 with', async (name) => {
    expect((await send(stack.url, 'GET', `/?${name}=1`)).status).toBe(401);
    expect((await request('GET', `/?${name}=1&${name}=2`)).status).toBe(200);
  });

  it.each(names)('the header %s is ignored as any other: 401 without credentials, 200 with', async (name) => {
    expect((await send(stack.url, 'GET', '/', { headers: { [name]: 'x' } })).status).toBe(401);
    expect((await request('GET', '/', undefined, { [name]: 'x' })).status).toBe(200);
  });

  it('as exercise field names, each is answered with its hash', async () => {
    const answer = await post(
      '/exercises',
      names.map((name) => file(name, `content of ${name}`)),
    );
    expect(answer.status).toBe(200);
    const answered = answer.json<{ files: Record<string, string> }>().files;
    expect(Object.keys(answered).sort()).toEqual([...names].sort());
    for (const name of names) {
      const sha1 = createHash('sha1').update(`content of ${name}`).digest('hex');
      expect(answered[name]).toBe(`/exercises/${sha1}`);
    }
  });

  it('as submission paths (multipart and the large-upload route), each is stored and archived', async () => {
    expect(
      (
        await post(
          '/submissions/proto',
          names.map((name) => file(name, name)),
        )
      ).status,
    ).toBe(200);
    expect((await archiveEntries('proto')).sort()).toEqual(names.map((name) => `proto/${name}`).sort());

    const declared = Object.fromEntries(names.map((name) => [`up/${name}`, 1]));
    const one = Object.fromEntries(names.map((name) => [name, 1]));
    for (const [id, files] of [
      ['proto_up', one],
      ['proto_up2', declared],
    ] as const) {
      const grant = await ask(`submissions/${id}`, { files });
      expect(grant.status).toBe(200);
      const { upload_id, files: urls } = grant.json<{ upload_id: string; files: Record<string, UploadGrant> }>();
      expect(Object.keys(urls).sort()).toEqual(Object.keys(files).sort());
      for (const path of Object.keys(files)) {
        expect((await putToPresignedUrl(urls[path] as UploadGrant, Buffer.from('z'))).status).toBe(200);
      }
      expect((await ask(`submissions/${id}/complete`, { upload_id, files })).status).toBe(200);
      expect((await archiveEntries(id)).sort()).toEqual(
        Object.keys(files)
          .map((path) => `${id}/${path}`)
          .sort(),
      );
    }
  });
});

describe('finding 4: the local server refuses a declared body over the limit before it is sent, and logs it', () => {
  /** Sends only the head of a request and returns the first status line the server answers. */
  async function headOnly(head: string): Promise<string> {
    const { connect } = await import('node:net');
    const url = new URL(stack.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.write(head));
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        const end = received.indexOf('\r\n\r\n');
        if (end >= 0) {
          socket.destroy();
          resolve(received.slice(0, end));
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
  }

  const lambdaBound = 4_718_592; // 6 MiB of Lambda payload, base64: 6,291,456 × 3/4

  it.each([
    ['with Expect: 100-continue', 'Expect: 100-continue\r\n'],
    ['without Expect', ''],
  ])('a result PUT of 6 MB %s gets 413 result-too-large, no 100 Continue, and a log line', async (_what, expect100) => {
    const { result, lines } = await captureLogs(() =>
      headOnly(
        `PUT /results/big.zip HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: 6000000\r\n${expect100}\r\n`,
      ),
    );
    expect(result.status).toBe('fulfilled');
    const head = (result as PromiseFulfilledResult<string>).value;
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    expect(lines).toContainEqual(expect.objectContaining({ message: 'request', status: 413, method: 'PUT' }));
    expect(await stack.exists('results/big.zip')).toBe(false);
  });

  it('the 413 of a result PUT names the result bound; another route names the large-upload route', async () => {
    const big = Buffer.alloc(lambdaBound + 1, 1);
    const result = await request('PUT', '/results/big.zip', big);
    expect(result.status).toBe(413);
    const { code, message } = result.json<{ error: { code: string; message: string } }>().error;
    expect(code).toBe('result-too-large');
    expect(message).toContain(String(lambdaBound));
    const attachment = await request('PUT', '/attachments/big', big);
    expect(attachment.status).toBe(413);
    expect(attachment.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'payload-too-large',
      message: expect.stringContaining('/uploads/'),
    });
  });

  it("answers Node's own 431 as before (headers too large), with a log line", async () => {
    const { result, lines } = await captureLogs(() =>
      headOnly(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`),
    );
    expect((result as PromiseFulfilledResult<string>).value.split('\r\n')[0]).toBe(
      'HTTP/1.1 431 Request Header Fields Too Large',
    );
    expect(lines).toContainEqual(expect.objectContaining({ message: 'request', status: 431 }));
  });

  it('logs a line for its own 404', async () => {
    const { lines } = await captureLogs(() => request('GET', '/no/such/route'));
    expect(lines).toContainEqual(expect.objectContaining({ message: 'request', status: 404, method: 'GET' }));
  });
});

describe('finding 5: the names the old fileserver stored are stored (case, normalisation, a drive-like colon)', () => {
  const nfc = '\u00e9.txt';
  const nfd = 'e\u0301.txt';

  // Distinct, relative names where a ReCodEx worker unpacks them (Linux); folded collisions are refused only with
  // REFUSE_FOLDED_COLLISIONS (test/integration/folded-collisions.test.ts).
  it.each([
    ['Main.java and main.java', ['Main.java', 'main.java']],
    ['é.txt in NFC and in NFD', [nfc, nfd]],
    ['Dir/x.c and dir/x.c', ['Dir/x.c', 'dir/x.c']],
    ['a file and a folder that differ in case', ['lib', 'LIB/x.c']],
    ['a name with a drive-like colon', ['a:b.txt', 'C:/x.c']],
  ])('one POST with %s is stored, and its archive holds each under its own name', async (_what, paths) => {
    const id = `names_${Buffer.from(paths.join()).toString('hex').slice(0, 40)}`;
    const answer = await post(
      `/submissions/${id}`,
      paths.map((path, i) => file(path, `content ${i}`)),
    );
    expect(answer.status).toBe(200);
    expect((await archiveEntries(id)).sort()).toEqual(paths.map((path) => `${id}/${path}`).sort());
  });

  it('the large-upload route grants and completes them too', async () => {
    const paths = ['Main.java', 'main.java', 'a:b.txt'];
    const grant = await ask('submissions/names_upload', { files: Object.fromEntries(paths.map((path) => [path, 1])) });
    expect(grant.status).toBe(200);
    const { upload_id, files: urls } = grant.json<{ upload_id: string; files: Record<string, UploadGrant> }>();
    for (const path of paths) {
      expect((await putToPresignedUrl(urls[path] as UploadGrant, Buffer.from('x'))).status).toBe(200);
    }
    const done = await ask('submissions/names_upload/complete', {
      upload_id,
      files: Object.fromEntries(paths.map((path) => [path, 1])),
    });
    expect(done.status).toBe(200);
    expect((await archiveEntries('names_upload')).sort()).toEqual(paths.map((path) => `names_upload/${path}`).sort());
  });

  it('a re-POST in another case adds a file; in the same spelling it replaces', async () => {
    expect((await post('/submissions/respell', [file('Main.c', 'x')])).status).toBe(200);
    expect((await post('/submissions/respell', [file('main.c', 'y')])).status).toBe(200);
    expect((await post('/submissions/respell', [file('Main.c', 'z')])).status).toBe(200);
    expect((await archiveEntries('respell')).sort()).toEqual(['respell/Main.c', 'respell/main.c']);
  });

  it('a path that is both a file and a folder is refused (400 path-conflict): no file system unpacks both', async () => {
    await refused(400, 'path-conflict', () => post('/submissions/clash', [file('lib', 'x'), file('lib/x.c', 'y')]));
    await refused(400, 'path-conflict', () => ask('submissions/clash', { files: { lib: 1, 'lib/x.c': 1 } }));
  });
});

describe('finding 7: names that are not UTF-8 are refused, never stored under another name', () => {
  const notUtf8 = Buffer.from([0xff, 0xfe, 0x2e, 0x63]); // the bytes \xff\xfe.c

  it('a file part whose field name is not UTF-8: 400 invalid-path naming the encoding, nothing of the request stored', async () => {
    const answer = await refused(400, 'invalid-path', () =>
      post('/submissions/not_utf8', [file('main.c', 'fine'), { name: notUtf8, data: 'renamed?', filename: 'f.c' }]),
    );
    expect(answer.json<{ error: { message: string } }>().error.message).toContain('is not valid UTF-8');
    expect((await request('GET', '/submission_archives/not_utf8.zip')).status).toBe(404);
  });

  it('an upload request whose JSON is not UTF-8: 400 bad-json naming the encoding, no URL granted', async () => {
    const body = Buffer.concat([Buffer.from('{"files":{"'), notUtf8, Buffer.from('":1}}')]);
    const answer = await refused(400, 'bad-json', () => ask('submissions/not_utf8', body));
    expect(answer.json<{ error: { message: string } }>().error.message).toContain('not valid UTF-8');
    expect(answer.body.toString()).not.toContain('X-Amz-Signature');
  });

  it.each([
    ['a lone high surrogate', '{"files":{"\\ud800.c":1}}'],
    ['a lone low surrogate', '{"files":{"a\\udc00":1}}'],
  ])(
    'an upload request naming a file with %s (a JSON escape): 400 invalid-path, no URL granted',
    async (_what, body) => {
      const answer = await refused(400, 'invalid-path', () => ask('submissions/not_utf8', body));
      expect(answer.json<{ error: { message: string } }>().error.message).toContain('not valid UTF-8');
      expect(answer.body.toString()).not.toContain('X-Amz-Signature');
    },
  );
});
