/**
 * What the ReCodEx worker notices (docs/protocol.md §1.3, §2): it GETs its archive and exercise files and PUTs its
 * result, through API Gateway with binary media types `*\/*`, so every body it sends arrives base64.
 */
import { createHash, randomBytes } from 'node:crypto';
import { download as exerciseDownload, upload as exerciseUpload } from '../../functions/exercises';
import { handler as results } from '../../functions/results';
import { readZip } from '../support/zip';
import { bodyBytes, expectError, FIXTURE_ID, fixtureBody, invoke, jsonBody, loadEvent } from './support/events';
import { useTestStore } from './support/store';

const bucket = useTestStore();

/** The result GET the API makes later: the worker's PUT event turned into a GET of the same URL. */
const resultGet = (name: string, method = 'GET') =>
  loadEvent('worker-result-put', {
    method,
    param: name,
    body: null,
    headers: { 'Content-Length': undefined, Expect: undefined },
  });

const putResult = (name: string, body: Buffer | string) =>
  invoke(results, loadEvent('worker-result-put', { param: name, body }));

describe('PUT /results/{name+} then GET', () => {
  it('stores the worker upload and serves the same bytes as application/zip', async () => {
    const put = await invoke(results, loadEvent('worker-result-put'));
    expect(put.statusCode).toBe(200);
    expect(jsonBody(put)).toEqual({ result: 'OK' });
    expect(put.body).toBe('{"result":"OK"}');

    const get = await invoke(results, resultGet(`${FIXTURE_ID}.zip`));
    expect(get.statusCode).toBe(200);
    expect(get.isBase64Encoded).toBe(true);
    expect(get.headers?.['Content-Type']).toBe('application/zip');
    expect(get.body).toBe(loadEvent('worker-result-put').body);
    expect(get.headers?.['Content-Length']).toBe(String(fixtureBody('worker-result-put').length));

    const entries = await readZip(bodyBytes(get));
    expect(entries.map((entry) => entry.name)).toEqual(['result/result.yml']);
    expect(entries[0]?.data.toString('utf8')).toContain(`job-id: ${FIXTURE_ID}`);
  });

  it('stores it under results/<name> in the bucket', async () => {
    await expect(putResult('keyed.zip', Buffer.from('PK\u0005\u0006'))).resolves.toMatchObject({ statusCode: 200 });
    expect(await bucket.keys('results/')).toContain('results/keyed.zip');
  });

  it('answers HEAD with the Content-Length and an empty body', async () => {
    const bytes = randomBytes(777);
    await putResult('head.zip', bytes);
    const head = await invoke(results, resultGet('head.zip', 'HEAD'));
    expect(head.statusCode).toBe(200);
    expect(head.headers?.['Content-Length']).toBe('777');
    expect(head.headers?.['Content-Type']).toBe('application/zip');
    expect(head.body).toBe('');
  });

  it('stores a body that arrives as plain text (isBase64Encoded false) byte for byte', async () => {
    const text = 'plain text, not base64: žluťoučký kůň ✓\r\n\ttabs and CRLF\n';
    const put = await invoke(results, loadEvent('worker-result-put', { param: 'plain.txt', body: text }));
    expect(put.statusCode).toBe(200);
    const get = await invoke(results, resultGet('plain.txt'));
    expect(get.statusCode).toBe(200);
    expect(bodyBytes(get)).toEqual(Buffer.from(text, 'utf8'));
    expect(get.headers?.['Content-Type']).toBe('application/octet-stream');
  });

  it('stores every byte value unchanged', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256));
    await putResult('all-bytes.zip', bytes);
    expect(bodyBytes(await invoke(results, resultGet('all-bytes.zip')))).toEqual(bytes);
  });

  it('stores the body as-is whatever its Content-Type (docs/protocol.md §6)', async () => {
    const body = Buffer.from('a=1&b=2');
    const put = await invoke(
      results,
      loadEvent('worker-result-put', {
        param: 'form.zip',
        body,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      }),
    );
    expect(put.statusCode).toBe(200);
    expect(bodyBytes(await invoke(results, resultGet('form.zip')))).toEqual(body);
  });

  it('stores an empty body as an empty object', async () => {
    const put = await invoke(results, loadEvent('worker-result-put', { param: 'empty.zip', body: null }));
    expect(put.statusCode).toBe(200);
    const get = await invoke(results, resultGet('empty.zip'));
    expect(get.statusCode).toBe(200);
    expect(bodyBytes(get).length).toBe(0);
    expect(get.headers?.['Content-Length']).toBe('0');
  });

  it('overwrites a result uploaded again', async () => {
    await putResult('again.zip', Buffer.from('first attempt'));
    await putResult('again.zip', Buffer.from('second attempt'));
    expect(bodyBytes(await invoke(results, resultGet('again.zip'))).toString()).toBe('second attempt');
  });

  it('accepts names with dots, underscores and dashes', async () => {
    const name = 'reference_a.b-c.zip';
    await expect(putResult(name, Buffer.from('x'))).resolves.toMatchObject({ statusCode: 200 });
    expect((await invoke(results, resultGet(name))).statusCode).toBe(200);
  });

  it('answers 404 for a result not uploaded yet (the API reads it as "not ready")', async () => {
    expectError(await invoke(results, resultGet('student_not-yet.zip')), 404, 'no-such-result');
    expectError(await invoke(results, resultGet('student_not-yet.zip', 'HEAD')), 404, 'no-such-result');
  });

  it.each(['..', '.', 'a b.zip', 'a/b.zip', '../escape.zip', 'x'.repeat(129), ''])(
    'refuses the name %j with 400 and writes nothing',
    async (name) => {
      const before = await bucket.keys();
      const put = await putResult(name, Buffer.from('evil'));
      expectError(put, 400, 'invalid-id');
      expect(await bucket.keys()).toEqual(before);
    },
  );

  it('answers DELETE with 405 and an Allow header', async () => {
    const answer = await invoke(results, loadEvent('results-delete'));
    expectError(answer, 405, 'method-not-allowed');
    const allowed = String(answer.headers?.Allow ?? '')
      .split(',')
      .map((method) => method.trim());
    expect(allowed.sort()).toEqual(['GET', 'HEAD', 'PUT']);
    // The result it named is untouched.
    expect((await invoke(results, resultGet(`${FIXTURE_ID}.zip`))).statusCode).toBe(200);
  });
});

describe('GET /exercises/{hash+} and /tasks/{hash+}', () => {
  const HELLO_SHA1 = 'f572d396fae9206628714fb2ce00f72e94f2258f';

  beforeAll(async () => {
    const posted = await invoke(exerciseUpload, loadEvent('api-exercise-post'));
    expect(posted.statusCode).toBe(200);
  });

  it('serves the file stored under its SHA-1 as application/octet-stream', async () => {
    const answer = await invoke(exerciseDownload, loadEvent('worker-exercise-get'));
    expect(answer.statusCode).toBe(200);
    expect(answer.isBase64Encoded).toBe(true);
    expect(answer.headers?.['Content-Type']).toBe('application/octet-stream');
    expect(bodyBytes(answer).toString('utf8')).toBe('hello\n');
    expect(createHash('sha1').update(bodyBytes(answer)).digest('hex')).toBe(HELLO_SHA1);
  });

  it('serves the same object for an uppercase hash under /tasks', async () => {
    const answer = await invoke(exerciseDownload, loadEvent('worker-task-get-uppercase'));
    expect(answer.statusCode).toBe(200);
    expect(bodyBytes(answer).toString('utf8')).toBe('hello\n');
  });

  it('answers HEAD with the size and no body', async () => {
    const answer = await invoke(exerciseDownload, loadEvent('worker-exercise-get', { method: 'HEAD' }));
    expect(answer.statusCode).toBe(200);
    expect(answer.headers?.['Content-Length']).toBe('6');
    expect(answer.body).toBe('');
  });

  it('answers 404 for a hash nobody uploaded', async () => {
    const answer = await invoke(exerciseDownload, loadEvent('worker-exercise-get', { param: 'a'.repeat(40) }));
    expectError(answer, 404, 'no-such-file');
  });

  it.each([
    'f572d396fae9206628714fb2ce00f72e94f2258',
    'f572d396fae9206628714fb2ce00f72e94f2258f0',
    'g572d396fae9206628714fb2ce00f72e94f2258f',
    'input.txt',
    `${HELLO_SHA1}/x`,
  ])('answers 400 invalid-hash for %j', async (hash) => {
    expectError(await invoke(exerciseDownload, loadEvent('worker-exercise-get', { param: hash })), 400, 'invalid-hash');
  });

  it('answers a PUT with 405 and Allow: GET, HEAD', async () => {
    const answer = await invoke(
      exerciseDownload,
      loadEvent('worker-exercise-get', { method: 'PUT', body: Buffer.from('x') }),
    );
    expectError(answer, 405, 'method-not-allowed');
    expect(answer.headers?.Allow).toBe('GET, HEAD');
  });
});
