/**
 * The HTTP semantics of downloads as a table: for a request's method and headers and a stored 10-byte object,
 * the status, the bytes that go out and the exact headers (RFC 9110 §13, §14, §15).
 */
import {
  type DownloadDecision,
  type DownloadPolicy,
  decideDownload,
  IMMUTABLE,
  parseHttpDate,
  type Representation,
} from '../../lib/http/semantics';

const LAST_MODIFIED = new Date('2026-11-20T10:00:00.000Z');
const IMF = 'Fri, 20 Nov 2026 10:00:00 GMT';
const EARLIER = 'Thu, 19 Nov 2026 10:00:00 GMT';
const LATER = 'Sat, 21 Nov 2026 10:00:00 GMT';
const ETAG = '"0123abcd"';

const object: Representation = {
  size: 10,
  etag: ETAG,
  lastModified: LAST_MODIFIED,
  contentType: 'application/octet-stream',
};

function decide(method: string, headers: Record<string, string>, over: Partial<Representation> = {}) {
  const lookup = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return decideDownload(method, (name) => lookup.get(name), { ...object, ...over });
}

const whole = {
  'Content-Type': 'application/octet-stream',
  'Content-Length': '10',
  ETag: ETAG,
  'Last-Modified': IMF,
  'Accept-Ranges': 'bytes',
  'X-Content-Type-Options': 'nosniff',
};
const partial = (start: number, end: number) => ({
  ...whole,
  'Content-Length': String(end - start + 1),
  'Content-Range': `bytes ${start}-${end}/10`,
});
const notModified = { ETag: ETAG, 'Last-Modified': IMF };
const unsatisfiable = {
  'Content-Type': 'application/json',
  'Content-Length': expect.stringMatching(/^\d+$/),
  'Content-Range': 'bytes */10',
  'Accept-Ranges': 'bytes',
  'X-Content-Type-Options': 'nosniff',
};

type Expected = { status: number; range?: [number, number]; headers: Record<string, unknown> };

describe('decideDownload', () => {
  it.each<[string, string, Record<string, string>, Expected]>([
    ['plain GET: 200 with every header', 'GET', {}, { status: 200, range: [0, 9], headers: whole }],
    ['If-None-Match with the ETag: 304', 'GET', { 'If-None-Match': ETAG }, { status: 304, headers: notModified }],
    [
      'If-None-Match weak form (weak comparison, §13.1.2)',
      'GET',
      { 'If-None-Match': `W/${ETAG}` },
      { status: 304, headers: notModified },
    ],
    [
      'If-None-Match list naming it',
      'GET',
      { 'If-None-Match': `"other", ${ETAG}` },
      { status: 304, headers: notModified },
    ],
    [
      'If-None-Match list without spaces',
      'GET',
      { 'If-None-Match': `"a,b",${ETAG}` },
      { status: 304, headers: notModified },
    ],
    ['If-None-Match: *', 'GET', { 'If-None-Match': '*' }, { status: 304, headers: notModified }],
    [
      'If-None-Match mismatch: 200',
      'GET',
      { 'If-None-Match': '"other"' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'If-None-Match unquoted (malformed): 200',
      'GET',
      { 'If-None-Match': '0123abcd' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    ['If-None-Match on HEAD: 304', 'HEAD', { 'If-None-Match': ETAG }, { status: 304, headers: notModified }],
    [
      'If-None-Match before Range (§13.2.2)',
      'GET',
      { 'If-None-Match': ETAG, Range: 'bytes=0-1' },
      { status: 304, headers: notModified },
    ],
    [
      'If-Modified-Since = Last-Modified: 304',
      'GET',
      { 'If-Modified-Since': IMF },
      { status: 304, headers: notModified },
    ],
    ['If-Modified-Since later: 304', 'GET', { 'If-Modified-Since': LATER }, { status: 304, headers: notModified }],
    [
      'If-Modified-Since earlier: 200',
      'GET',
      { 'If-Modified-Since': EARLIER },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'If-Modified-Since not a date: ignored',
      'GET',
      { 'If-Modified-Since': 'yesterday' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'If-Modified-Since ignored beside If-None-Match (§13.1.3)',
      'GET',
      { 'If-None-Match': '"other"', 'If-Modified-Since': LATER },
      { status: 200, range: [0, 9], headers: whole },
    ],
    ['If-Match with the ETag: 200', 'GET', { 'If-Match': ETAG }, { status: 200, range: [0, 9], headers: whole }],
    ['If-Match: *', 'GET', { 'If-Match': '*' }, { status: 200, range: [0, 9], headers: whole }],
    [
      'If-Match mismatch: 412',
      'GET',
      { 'If-Match': '"other"' },
      { status: 412, headers: expect.objectContaining({ 'Content-Type': 'application/json' }) },
    ],
    [
      'If-Match weak (strong comparison, §13.1.1): 412',
      'GET',
      { 'If-Match': `W/${ETAG}` },
      { status: 412, headers: expect.any(Object) },
    ],
    [
      'If-Unmodified-Since earlier: 412',
      'GET',
      { 'If-Unmodified-Since': EARLIER },
      { status: 412, headers: expect.any(Object) },
    ],
    [
      'If-Unmodified-Since = Last-Modified: 200',
      'GET',
      { 'If-Unmodified-Since': IMF },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'If-Match decides before If-Unmodified-Since',
      'GET',
      { 'If-Match': ETAG, 'If-Unmodified-Since': EARLIER },
      { status: 200, range: [0, 9], headers: whole },
    ],
    ['Range single: 206', 'GET', { Range: 'bytes=0-3' }, { status: 206, range: [0, 3], headers: partial(0, 3) }],
    ['Range one byte', 'GET', { Range: 'bytes=9-9' }, { status: 206, range: [9, 9], headers: partial(9, 9) }],
    ['Range suffix', 'GET', { Range: 'bytes=-3' }, { status: 206, range: [7, 9], headers: partial(7, 9) }],
    [
      'Range suffix longer than the object: all of it (§14.1.3)',
      'GET',
      { Range: 'bytes=-100' },
      { status: 206, range: [0, 9], headers: partial(0, 9) },
    ],
    ['Range open-ended', 'GET', { Range: 'bytes=5-' }, { status: 206, range: [5, 9], headers: partial(5, 9) }],
    [
      'Range beyond the end, clamped',
      'GET',
      { Range: 'bytes=5-100' },
      { status: 206, range: [5, 9], headers: partial(5, 9) },
    ],
    ['Range unit in capitals', 'GET', { Range: 'Bytes=1-2' }, { status: 206, range: [1, 2], headers: partial(1, 2) }],
    ['Range starting at the end: 416', 'GET', { Range: 'bytes=10-' }, { status: 416, headers: unsatisfiable }],
    ['Range far beyond the end: 416', 'GET', { Range: 'bytes=100-200' }, { status: 416, headers: unsatisfiable }],
    ['Range suffix of 0: 416', 'GET', { Range: 'bytes=-0' }, { status: 416, headers: unsatisfiable }],
    ['several ranges: 200 whole', 'GET', { Range: 'bytes=0-1,5-6' }, { status: 200, range: [0, 9], headers: whole }],
    [
      'several ranges, one unsatisfiable: 200 whole',
      'GET',
      { Range: 'bytes=0-1, 50-60' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'malformed Range (garbage): 200 whole',
      'GET',
      { Range: 'bytes=abc' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'malformed Range (last < first, §14.1.1): 200 whole',
      'GET',
      { Range: 'bytes=5-2' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    ['malformed Range (no unit): 200 whole', 'GET', { Range: '0-1' }, { status: 200, range: [0, 9], headers: whole }],
    [
      'malformed Range (empty set): 200 whole',
      'GET',
      { Range: 'bytes=' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'Range in another unit: ignored (§14.2)',
      'GET',
      { Range: 'items=0-1' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'Range on HEAD: the 206 headers of GET',
      'HEAD',
      { Range: 'bytes=0-3' },
      { status: 206, range: [0, 3], headers: partial(0, 3) },
    ],
    [
      'Range on another method: ignored (§14.2)',
      'DELETE',
      { Range: 'bytes=0-3' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'If-Range with the ETag: 206',
      'GET',
      { Range: 'bytes=0-3', 'If-Range': ETAG },
      { status: 206, range: [0, 3], headers: partial(0, 3) },
    ],
    [
      'If-Range with another ETag: 200 whole (§13.1.5)',
      'GET',
      { Range: 'bytes=0-3', 'If-Range': '"other"' },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'If-Range weak: 200 whole (strong comparison)',
      'GET',
      { Range: 'bytes=0-3', 'If-Range': `W/${ETAG}` },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'If-Range = Last-Modified: 206',
      'GET',
      { Range: 'bytes=0-3', 'If-Range': IMF },
      { status: 206, range: [0, 3], headers: partial(0, 3) },
    ],
    [
      'If-Range another date: 200 whole',
      'GET',
      { Range: 'bytes=0-3', 'If-Range': EARLIER },
      { status: 200, range: [0, 9], headers: whole },
    ],
    [
      'If-Range without Range: ignored',
      'GET',
      { 'If-Range': '"other"' },
      { status: 200, range: [0, 9], headers: whole },
    ],
  ])('%s', (_label, method, headers, expected) => {
    const decision = decide(method, headers);
    expect(decision.statusCode).toBe(expected.status);
    expect(decision.headers).toEqual(expected.headers);
    if ('range' in decision) {
      expect(decision.range && [decision.range.start, decision.range.end]).toEqual(expected.range);
    } else {
      expect(expected.range).toBeUndefined();
      expect(decision.body === '').toBe(decision.statusCode === 304);
    }
  });

  it.each<[string, Record<string, string>]>([
    ['nothing', {}],
    ['a range', { Range: 'bytes=2-5' }],
    ['a suffix range', { Range: 'bytes=-4' }],
    ['an unsatisfiable range', { Range: 'bytes=20-' }],
    ['several ranges', { Range: 'bytes=0-0,2-3' }],
    ['a matching If-None-Match', { 'If-None-Match': ETAG }],
    ['a failing If-Match', { 'If-Match': '"other"' }],
  ])('HEAD with %s answers exactly what GET does', (_label, headers) => {
    expect(decide('HEAD', headers)).toEqual(decide('GET', headers));
  });

  it('416 and 412 carry a JSON error whose length is in Content-Length', () => {
    for (const [headers, code] of [
      [{ Range: 'bytes=10-' }, 'range-not-satisfiable'],
      [{ 'If-Match': '"other"' }, 'precondition-failed'],
    ] as const) {
      const decision = decide('GET', headers) as Extract<DownloadDecision, { body: string }>;
      expect(JSON.parse(decision.body)).toEqual({ result: 'ERROR', error: { code, message: expect.any(String) } });
      expect(decision.headers['Content-Length']).toBe(String(Buffer.byteLength(decision.body)));
    }
  });

  it.each([['bytes=0-'], ['bytes=-1'], ['bytes=0-0']])('an empty object with Range %s: 200, no bytes', (range) => {
    const decision = decide('GET', { Range: range }, { size: 0 });
    expect(decision.statusCode).toBe(200);
    expect(decision.headers['Content-Length']).toBe('0');
    expect(decision.headers['Content-Range']).toBeUndefined();
    expect('range' in decision && decision.range).toBeUndefined();
  });

  it('adds the policy: Cache-Control on 200, 206 and 304, Content-Disposition on content only', () => {
    const policy: DownloadPolicy = { cacheControl: IMMUTABLE, attachmentFilename: 'student_1.zip' };
    const run = (headers: Record<string, string>) => {
      const lookup = new Map(Object.entries(headers));
      return decideDownload('GET', (name) => lookup.get(name), object, policy);
    };
    const disposition = 'attachment; filename="student_1.zip"';
    expect(run({}).headers).toEqual({ ...whole, 'Cache-Control': IMMUTABLE, 'Content-Disposition': disposition });
    expect(run({ range: 'bytes=1-2' }).headers).toEqual({
      ...partial(1, 2),
      'Cache-Control': IMMUTABLE,
      'Content-Disposition': disposition,
    });
    expect(run({ 'if-none-match': ETAG }).headers).toEqual({ ...notModified, 'Cache-Control': IMMUTABLE });
  });

  it('leaves out validators storage did not give', () => {
    const decision = decide('GET', { 'If-Modified-Since': LATER }, { etag: '', lastModified: undefined });
    expect(decision.statusCode).toBe(200);
    expect(decision.headers.ETag).toBeUndefined();
    expect(decision.headers['Last-Modified']).toBeUndefined();
    expect(decide('GET', { 'If-None-Match': '""' }, { etag: '' }).statusCode).toBe(200);
  });
});

describe('parseHttpDate (RFC 9110 §5.6.7)', () => {
  const seconds = LAST_MODIFIED.getTime() / 1000;
  it.each([
    ['IMF-fixdate', IMF],
    ['obsolete RFC 850', 'Friday, 20-Nov-26 10:00:00 GMT'],
    ['ANSI C asctime()', 'Fri Nov 20 10:00:00 2026'],
  ])('reads %s', (_label, value) => {
    expect(parseHttpDate(value)).toBe(seconds);
  });

  it('reads a two-digit year more than 50 years ahead as the century before', () => {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', LAST_MODIFIED)).toBe(
      Date.UTC(1994, 10, 6, 8, 49, 37) / 1000,
    );
  });

  it.each([
    '',
    '2026-11-20T10:00:00Z',
    'Fri, 31 Feb 2026 10:00:00 GMT',
    'Fri, 20 Nov 2026 25:00:00 GMT',
    'Fri, 20 Nov 2026 10:00:00 UTC',
  ])('refuses %j', (value) => {
    expect(parseHttpDate(value)).toBeUndefined();
  });
});
