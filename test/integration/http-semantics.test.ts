/**
 * HTTP semantics of every download route through real HTTP: the local server, the handlers and a real
 * S3-compatible server. Validators, conditional GET (304), one range (206), an unsatisfiable range (416), several
 * ranges (200 whole), HEAD parity, and each route's Cache-Control and Content-Disposition.
 */
import { createHash, randomBytes } from 'node:crypto';
import { IMMUTABLE, REVALIDATE } from '../../lib/http/semantics';
import { freshId } from '../support/fresh-id';
import { type RawAnswer, send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

interface Download {
  path: string;
  /** What a plain GET must return. */
  bytes: Buffer;
  contentType: string;
  etag?: string;
  cacheControl: string;
  disposition: string;
}

async function exercise(prefix: '/exercises/' | '/tasks/'): Promise<Download> {
  const bytes = randomBytes(100);
  const { body, contentType } = multipart([file('input.bin', bytes)]);
  const posted = await send(stack.url, 'POST', '/exercises', { body, headers: { 'Content-Type': contentType } });
  expect(posted.status).toBe(200);
  const sha1 = createHash('sha1').update(bytes).digest('hex');
  return {
    path: `${prefix}${sha1}`,
    bytes,
    contentType: 'application/octet-stream',
    etag: `"${sha1}"`,
    cacheControl: IMMUTABLE,
    disposition: '',
  };
}

async function result(): Promise<Download> {
  const name = `${freshId('student')}.zip`;
  const bytes = randomBytes(100);
  expect((await send(stack.url, 'PUT', `/results/${name}`, { body: bytes })).status).toBe(200);
  return {
    path: `/results/${name}`,
    bytes,
    contentType: 'application/zip',
    cacheControl: REVALIDATE,
    disposition: `attachment; filename="${name}"`,
  };
}

async function attachment(): Promise<Download> {
  const id = freshId('att');
  const bytes = randomBytes(100);
  expect((await send(stack.url, 'PUT', `/attachments/${id}`, { body: bytes })).status).toBe(200);
  return {
    path: `/attachments/${id}`,
    bytes,
    contentType: 'application/octet-stream',
    cacheControl: REVALIDATE,
    disposition: `attachment; filename="${id}"`,
  };
}

async function archive(): Promise<Download> {
  const id = freshId('student');
  const { body, contentType } = multipart([file('main.c', randomBytes(200)), file('job-config.yml', 'tasks: []\n')]);
  const posted = await send(stack.url, 'POST', `/submissions/${id}`, {
    body,
    headers: { 'Content-Type': contentType },
  });
  expect(posted.status).toBe(200);
  const path = `/submission_archives/${id}.zip`;
  const first = await send(stack.url, 'GET', path);
  expect(first.status).toBe(200);
  return {
    path,
    bytes: first.body,
    contentType: 'application/zip',
    cacheControl: REVALIDATE,
    disposition: `attachment; filename="${id}.zip"`,
  };
}

const routes: [string, () => Promise<Download>][] = [
  ['/exercises/<sha1>', () => exercise('/exercises/')],
  ['/tasks/<sha1>', () => exercise('/tasks/')],
  ['/results/<name>', result],
  ['/attachments/<id>', attachment],
  ['/submission_archives/<id>.zip', archive],
];

/** Every header but those that differ per answer whatever the method. */
function comparable(answer: RawAnswer): Record<string, unknown> {
  // Per answer, not per representation: the date, the connection, and API Gateway's request id.
  const {
    date: _date,
    connection: _connection,
    'keep-alive': _keepAlive,
    'x-amzn-requestid': _requestId,
    ...rest
  } = answer.headers;
  return rest;
}

describe.each(routes)('GET and HEAD %s', (_route, setUp) => {
  let download: Download;
  let plain: RawAnswer;
  beforeAll(async () => {
    download = await setUp();
    plain = await send(stack.url, 'GET', download.path);
  });
  const get = (headers: Record<string, string>) => send(stack.url, 'GET', download.path, { headers });

  it('answers 200 with the validators, Accept-Ranges and the route policy', () => {
    expect(plain.status).toBe(200);
    expect(plain.body.equals(download.bytes)).toBe(true);
    const headers = plain.headers;
    expect(headers['content-type']).toBe(download.contentType);
    expect(headers['content-length']).toBe(String(download.bytes.length));
    expect(headers.etag).toEqual(download.etag ?? expect.stringMatching(/^"[^"]+"$/));
    expect(headers['last-modified']).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    expect(headers['accept-ranges']).toBe('bytes');
    expect(headers['cache-control']).toBe(download.cacheControl);
    expect(headers['content-disposition']).toBe(download.disposition || undefined);
    expect(headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers 304 without a body to If-None-Match with its ETag, and to If-Modified-Since', async () => {
    for (const conditional of <Record<string, string>[]>[
      { 'If-None-Match': String(plain.headers.etag) },
      { 'If-None-Match': `"stale", W/${plain.headers.etag}` },
      { 'If-Modified-Since': String(plain.headers['last-modified']) },
    ]) {
      const answer = await get(conditional);
      expect(answer.status).toBe(304);
      expect(answer.body.length).toBe(0);
      expect(answer.headers.etag).toBe(plain.headers.etag);
      expect(answer.headers['last-modified']).toBe(plain.headers['last-modified']);
      expect(answer.headers['cache-control']).toBe(download.cacheControl);
      expect(answer.headers['content-length']).toBeUndefined();
      expect(answer.headers['content-type']).toBeUndefined();
    }
    const stale = await get({ 'If-None-Match': '"stale"' });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(download.bytes)).toBe(true);
  });

  it('answers one range with 206 and exactly those bytes', async () => {
    const size = download.bytes.length;
    for (const [range, start, end] of [
      ['bytes=2-5', 2, 5],
      ['bytes=-7', size - 7, size - 1],
      [`bytes=${size - 3}-`, size - 3, size - 1],
      [`bytes=10-${size + 1000}`, 10, size - 1],
    ] as const) {
      const answer = await get({ Range: range });
      expect(answer.status).toBe(206);
      expect(answer.body.equals(download.bytes.subarray(start, end + 1))).toBe(true);
      expect(answer.headers['content-range']).toBe(`bytes ${start}-${end}/${size}`);
      expect(answer.headers['content-length']).toBe(String(end - start + 1));
      expect(answer.headers.etag).toBe(plain.headers.etag);
      expect(answer.headers['content-type']).toBe(download.contentType);
    }
  });

  it('answers a range beyond the end with 416 and the complete length', async () => {
    const answer = await get({ Range: `bytes=${download.bytes.length}-` });
    expect(answer.status).toBe(416);
    expect(answer.headers['content-range']).toBe(`bytes */${download.bytes.length}`);
    expect(answer.json()).toMatchObject({ result: 'ERROR', error: { code: 'range-not-satisfiable' } });
  });

  it('answers several ranges, a malformed range and a stale If-Range with the whole 200', async () => {
    for (const headers of <Record<string, string>[]>[
      { Range: 'bytes=0-1,4-5' },
      { Range: 'bytes=5-2' },
      { Range: 'bytes=0-1', 'If-Range': '"stale"' },
    ]) {
      const answer = await get(headers);
      expect(answer.status).toBe(200);
      expect(answer.body.equals(download.bytes)).toBe(true);
      expect(answer.headers['content-range']).toBeUndefined();
    }
  });

  it.each<[string, (etag: string) => Record<string, string>]>([
    ['nothing else', () => ({})],
    ['a range', () => ({ Range: 'bytes=3-9' })],
    ['a matching If-None-Match', (etag) => ({ 'If-None-Match': etag })],
    ['an unsatisfiable range', () => ({ Range: 'bytes=100000-' })],
    ['several ranges', () => ({ Range: 'bytes=0-0,2-2' })],
  ])('answers HEAD with %s exactly as GET, without the body', async (_label, headersFor) => {
    const headers = headersFor(String(plain.headers.etag));
    const getAnswer = await get(headers);
    const headAnswer = await send(stack.url, 'HEAD', download.path, { headers });
    expect(headAnswer.status).toBe(getAnswer.status);
    expect(headAnswer.body.length).toBe(0);
    expect(comparable(headAnswer)).toEqual(comparable(getAnswer));
  });
});
