/**
 * Hostile input beyond docs/protocol.md §6 (issue 8), through real HTTP to the local server over real S3-compatible
 * storage, with Basic credentials on. Every bad input gets a clear 4xx, never a 5xx or a hang, and changes nothing:
 * each case lists the bucket before and after, and checks that objects a traversal could aim at are untouched.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { bucketSnapshot } from '../support/bucket-snapshot';
import type { RawAnswer } from '../support/http';
import { file, multipart, type Part } from '../support/multipart';
import { exchange, rawRequest } from '../support/raw-http';
import { startTestStack, type TestStack } from '../support/stack';
import { readZip } from '../support/zip';
import { createTally } from './support/tally';

const USER = 'worker';
const PASSWORD = 'hostile-test-secret';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

const tally = createTally('hostile');
let stack: TestStack;
beforeAll(async () => {
  Object.assign(process.env, { FILESERVER_USERNAME: USER, FILESERVER_PASSWORD: PASSWORD });
  stack = await startTestStack();
  // Objects a traversal would aim at.
  await post('/submissions/victim', [file('main.c', 'victim\n')]);
  await put('/results/victim.zip', 'victim result');
  await put('/attachments/victim', 'victim attachment');
  await stack.notificationsIdle();
});
afterAll(async () => {
  tally.write();
  await stack?.close();
});

const sha1 = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');

function request(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}) {
  return tally.send(stack.url, method, path, { body, headers: { Authorization: AUTH, ...headers } });
}
const put = (path: string, body: Buffer | string) => request('PUT', path, body);
function post(path: string, parts: readonly Part[]): Promise<RawAnswer> {
  const { body, contentType } = multipart(parts);
  return request('POST', path, body, { 'Content-Type': contentType });
}

const snapshot = (): Promise<Map<string, string>> => bucketSnapshot(stack);

/**
 * Runs `attempt`, checks it was answered `status` (a 4xx), and that storage is exactly as it was. `label` names the
 * input in the figures; `detail` tells apart inputs that share a label.
 */
async function refused(
  label: string,
  status: number,
  attempt: () => Promise<RawAnswer>,
  detail = '',
): Promise<RawAnswer> {
  const before = await snapshot();
  const answer = await attempt();
  tally.badInput(label, answer);
  expect({ label, detail, status: answer.status }).toEqual({ label, detail, status });
  if (answer.body.length > 0 && status !== 431) {
    expect(answer.json()).toEqual({
      result: 'ERROR',
      error: { code: expect.any(String), message: expect.any(String) },
    });
  }
  expect(await snapshot()).toEqual(before);
  return answer;
}

describe('percent-encoded traversal in every path parameter', () => {
  const TRAVERSALS = [
    '%2e%2e%2fmanifests%2fvictim.json',
    '..%2Fmanifests%2Fvictim.json',
    '%2E%2E%2F%2E%2E%2Fresults%2Fvictim.zip',
    '%2e%2e',
    '..%2F',
    '%2e%2e/results/victim.zip',
    '..%5cvictim',
    'a%00b',
    '%252e%252e%252fvictim',
  ];
  const ROUTES: [string, (x: string) => string][] = [
    ['POST', (x) => `/submissions/${x}`],
    ['GET', (x) => `/submission_archives/${x}.zip`],
    ['HEAD', (x) => `/submission_archives/${x}`],
    ['GET', (x) => `/exercises/${x}`],
    ['HEAD', (x) => `/tasks/${x}`],
    ['PUT', (x) => `/results/${x}`],
    ['GET', (x) => `/results/${x}`],
    ['PUT', (x) => `/attachments/${x}`],
    ['HEAD', (x) => `/attachments/${x}`],
  ];
  const cases = ROUTES.flatMap(([method, path]) => TRAVERSALS.map((x) => [method, path(x)] as const));

  it.each(cases)('%s %s answers 400 and changes nothing', async (method, path) => {
    const { body, contentType } = multipart([file('main.c', 'overwritten?\n')]);
    const route = path.split('/').slice(0, 2).join('/');
    const answer = await refused(
      `percent-encoded traversal (${TRAVERSALS.length} forms) in ${method} ${route}/…`,
      400,
      () =>
        request(method, path, method === 'POST' || method === 'PUT' ? body : undefined, {
          'Content-Type': contentType,
        }),
      path,
    );
    if (method !== 'HEAD') expect(answer.json()).toMatchObject({ error: { code: expect.stringMatching(/^invalid-/) } });
  });

  it('the targets are intact', async () => {
    for (const key of ['results/victim.zip', 'attachments/victim', 'manifests/victim.json']) {
      tally.expectKept(await stack.exists(key));
    }
    tally.expectBytes((await request('GET', '/results/victim.zip')).body, 'victim result');
    tally.expectBytes((await request('GET', '/attachments/victim')).body, 'victim attachment');
    const archive = await request('GET', '/submission_archives/victim.zip');
    await tally.expectArchive(archive.body, 'victim', { 'main.c': 'victim\n' });
  });

  it('a field name with percent escapes is a literal file name inside the submission, never decoded', async () => {
    expect((await post('/submissions/literal', [file('..%2Fvictim.c', 'x')])).status).toBe(200);
    await stack.notificationsIdle();
    expect((await stack.keys()).filter((key) => key.startsWith('submissions/literal/'))).toEqual([
      'submissions/literal/..%2Fvictim.c',
    ]);
  });
});

describe('multipart bodies that are cut, empty, huge in count or in headers', () => {
  const boundaryOf = (contentType: string): string => contentType.split('boundary=')[1] ?? '';

  it.each([
    ['without its final boundary', (body: Buffer, b: string) => body.subarray(0, body.lastIndexOf(`--${b}--`))],
    ['with its final boundary cut', (body: Buffer, b: string) => body.subarray(0, body.lastIndexOf(`--${b}--`) + 5)],
    ['cut inside the last part', (body: Buffer) => body.subarray(0, body.length - 30)],
  ])('a submission %s: 400 bad-multipart', async (label, cut) => {
    const { body, contentType } = multipart([file('a.txt', 'first\n'), file('b.txt', 'second file, cut\n')]);
    await refused(`submission ${label}`, 400, () =>
      request('POST', '/submissions/cut_boundary', cut(body, boundaryOf(contentType)), { 'Content-Type': contentType }),
    );
  });

  it('an exercise upload without its final boundary: 400 bad-multipart', async () => {
    const { body, contentType } = multipart([file('in.txt', 'never stored\n')]);
    const cut = body.subarray(0, body.lastIndexOf(`--${boundaryOf(contentType)}--`));
    await refused('exercise upload without its final boundary', 400, () =>
      request('POST', '/exercises', cut, { 'Content-Type': contentType }),
    );
    expect((await request('GET', `/exercises/${sha1('never stored\n')}`)).status).toBe(404);
  });

  // docs/protocol.md allows empty files (§4 names the SHA-1 of the empty file), so a 0-byte part is an empty file, not an
  // error: a student may submit an empty source file and a test may have an empty expected output.
  it('a 0-byte file part is an empty file: stored, and an empty entry in the archive', async () => {
    const answer = await post('/submissions/empty_part', [file('empty.txt', ''), file('main.c', 'x')]);
    tally.badInput('submission with a 0-byte file part (an empty file)', answer);
    expect(answer.status).toBe(200);
    const entries = await readZip((await request('GET', '/submission_archives/empty_part.zip')).body);
    expect(entries.map((e) => [e.name, e.data.length])).toEqual([
      ['empty_part/empty.txt', 0],
      ['empty_part/main.c', 1],
    ]);
  });

  it('a 0-byte exercise file is stored under the SHA-1 of nothing', async () => {
    const answer = await post('/exercises', [file('empty.out', '')]);
    tally.badInput('exercise upload with a 0-byte file part (an empty file)', answer);
    expect(answer.json()).toEqual({
      result: 'OK',
      files: { 'empty.out': '/exercises/da39a3ee5e6b4b0d3255bfef95601890afd80709' },
    });
    const got = await request('GET', '/exercises/da39a3ee5e6b4b0d3255bfef95601890afd80709');
    expect(got.status).toBe(200);
    tally.expectBytes(got.body, '');
  });

  // 10,000 file parts is the documented limit (README "Limits"; lib/http/multipart.ts MAX_FILE_PARTS): a request at the
  // limit is served, one more part is refused before anything is stored.
  it('10,000 tiny exercise parts (the limit): 200, every field answered, one object per distinct content', async () => {
    const content = 'tiny\n';
    const before = new Set(await stack.keys());
    const parts = Array.from({ length: 10_000 }, (_, i) => file(`t${i}.txt`, content));
    const answer = await post('/exercises', parts);
    tally.badInput('exercise upload of 10,000 tiny parts (at the limit)', answer);
    expect(answer.status).toBe(200);
    const files = answer.json<{ files: Record<string, string> }>().files;
    expect(Object.keys(files)).toHaveLength(10_000);
    expect(new Set(Object.values(files))).toEqual(new Set([`/exercises/${sha1(content)}`]));
    const added = (await stack.keys()).filter((key) => !before.has(key));
    expect(added).toEqual([`tasks/${sha1(content)[0]}/${sha1(content)}`]);
  });

  it('10,001 tiny submission parts: 400 too-many-parts, nothing stored', async () => {
    const parts = Array.from({ length: 10_001 }, (_, i) => file(`f/${i}.txt`, 'x'));
    const answer = await refused('submission of 10,001 tiny parts', 400, () => post('/submissions/too_many', parts));
    expect(answer.json()).toMatchObject({ error: { code: 'too-many-parts' } });
  });

  it('10,000 tiny submission parts with one name: 400 duplicate-field, nothing stored', async () => {
    const parts = Array.from({ length: 10_000 }, () => file('same.txt', 'x'));
    const answer = await refused('submission of 10,000 tiny parts with one field name', 400, () =>
      post('/submissions/dupes', parts),
    );
    expect(answer.json()).toMatchObject({ error: { code: 'duplicate-field' } });
  });

  it('a part whose header is 64 KiB (a field name of 64 KiB): 400 bad-multipart', async () => {
    await refused('submission part with a 64 KiB header (field name)', 400, () =>
      post('/submissions/long_header', [file(`${'a'.repeat(64 * 1024)}.c`, 'x')]),
    );
  });

  it('a part with 64 KiB of header lines: 400 bad-multipart', async () => {
    const { body, contentType } = multipart([file('main.c', 'x')]);
    const pad = Array.from({ length: 64 }, (_, i) => `X-Pad-${i}: ${'p'.repeat(1000)}\r\n`).join('');
    const padded = Buffer.from(body.toString('latin1').replace('\r\n\r\n', `\r\n${pad}\r\n`), 'latin1');
    await refused('submission part with 64 KiB of header lines', 400, () =>
      request('POST', '/submissions/padded_header', padded, { 'Content-Type': contentType }),
    );
  });

  it('an HTTP request header of 64 KiB: 431 from the HTTP server (API Gateway caps headers too)', async () => {
    const { body, contentType } = multipart([file('main.c', 'x')]);
    await refused('HTTP request with a 64 KiB header', 431, () =>
      request('POST', '/submissions/big_http_header', body, {
        'Content-Type': contentType,
        'X-Pad': 'p'.repeat(64 * 1024),
      }),
    );
  });
});

describe('a Content-Length that lies (local server; in AWS, API Gateway reads the body itself)', () => {
  /** Writes `text` on a raw connection and returns what came back before the server closed it. */
  function raw(text: string): Promise<string> {
    const url = new URL(stack.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      let got = '';
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString('latin1');
      });
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      socket.write(text, () => socket.end()); // half-close: the client sends nothing more
    });
  }

  const { body, contentType } = multipart([file('main.c', 'int main(void) { return 0; }\n')]);
  const head = (id: string, length: number): string =>
    `POST /submissions/${id} HTTP/1.1\r\nHost: local\r\nAuthorization: ${AUTH}\r\n` +
    `Content-Type: ${contentType}\r\nContent-Length: ${length}\r\n\r\n`;

  it.each([
    ['shorter than the body', 'cl_short', body.length - 20],
    ['longer than the body (the client then stops sending)', 'cl_long', body.length + 100],
  ])('%s: a 4xx and the connection closed, nothing stored', async (label, id, length) => {
    const before = await snapshot();
    const answer = await raw(head(id, length) + body.toString('latin1'));
    const statuses = [...answer.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]));
    tally.sentRaw(statuses);
    tally.badInput(`Content-Length ${label}`, `${statuses.join(', ')} (connection closed)`);
    expect(statuses.length).toBeGreaterThan(0);
    for (const status of statuses) expect(status).toBeGreaterThanOrEqual(400);
    for (const status of statuses) expect(status).toBeLessThan(500);
    expect(await snapshot()).toEqual(before);
  });
});

describe('a result named .zip that is not a zip', () => {
  it('is stored and served byte for byte: the server never unpacks what it stores', async () => {
    const bytes = Buffer.concat([Buffer.from('PK\u0003\u0004 but not really a zip'), randomBytes(1000)]);
    const answer = await put('/results/not_a_zip.zip', bytes);
    tally.badInput('result named .zip that is not a zip (stored as-is)', answer);
    expect(answer.status).toBe(200);
    const got = await request('GET', '/results/not_a_zip.zip');
    expect(got.headers['content-type']).toBe('application/zip');
    tally.expectBytes(got.body, bytes);
    tally.expectBytes(await stack.storedBytes('results/not_a_zip.zip'), bytes);
  });
});

describe('credentials that are not right', () => {
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  const BAD: [string, string | undefined][] = [
    ['none', undefined],
    ['Basic without a colon', `Basic ${b64(`${USER}${PASSWORD}`)}`],
    ['Basic with only a user', `Basic ${b64(USER)}`],
    ['Basic with the password one character short', `Basic ${b64(`${USER}:${PASSWORD.slice(0, -1)}`)}`],
    ['Basic with the password one character long', `Basic ${b64(`${USER}:${PASSWORD}x`)}`],
    ['Basic whose base64 is cut (wrong length)', AUTH.slice(0, -3)],
    ['Basic of 8 KiB', `Basic ${'QUFB'.repeat(2048)}`],
    ['Basic with non-ASCII credentials (UTF-8)', `Basic ${b64(`wörker:${PASSWORD}ß`)}`],
    ['Basic with non-ASCII bytes in the header', `Basic ${b64(`${USER}:${PASSWORD}`)}\u00e9`],
    ['Basic with an empty token', 'Basic '],
    ['Basic with a colon only', `Basic ${b64(':')}`],
    ['Bearer token', 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ3b3JrZXIifQ.c2lnbmF0dXJl'],
    ['Bearer with the right Basic token', `Bearer ${b64(`${USER}:${PASSWORD}`)}`],
    ['Digest', `Digest username="${USER}", realm="ReCodEx fileserver", nonce="x", response="y"`],
  ];

  it.each(BAD)('%s: 401 with a Basic challenge, and a PUT writes nothing', async (label, authorization) => {
    const headers: Record<string, string> = authorization === undefined ? {} : { Authorization: authorization };
    const path = '/results/auth_victim.zip';
    const send = (method: string, body?: string) =>
      tally.send(stack.url, method, path, { body, headers: { ...headers } });
    const answer = await refused(`credentials: ${label}`, 401, () => send('PUT', 'forged'));
    expect(answer.headers['www-authenticate']).toBe('Basic realm="ReCodEx fileserver"');
    expect((await send('GET')).status).toBe(401);
  });

  it.each(BAD)(
    '%s, on a 4 MB PUT sent with Expect: 100-continue: 401 from the headers alone, the body never asked for',
    async (_label, authorization) => {
      const before = await snapshot();
      const credentials = authorization === undefined ? '' : `Authorization: ${authorization}\r\n`;
      const { responses } = await exchange(
        stack.url,
        rawRequest(
          `PUT /results/auth_victim.zip HTTP/1.1\r\nHost: local\r\n${credentials}Content-Length: 4000000\r\n` +
            'Expect: 100-continue',
        ),
      );
      tally.sentRaw(responses.map((answer) => answer.status));
      expect(responses.map((answer) => [answer.status, answer.headers.connection])).toEqual([[401, 'close']]);
      expect(await snapshot()).toEqual(before);
    },
  );

  it('the right credentials still work (the scheme name in any case, RFC 7617 §2)', async () => {
    const lower = AUTH.replace('Basic', 'basic');
    const answer = await tally.send(stack.url, 'PUT', '/results/auth_ok.zip', {
      body: 'ok',
      headers: { Authorization: lower },
    });
    expect(answer.status).toBe(200);
  });
});
