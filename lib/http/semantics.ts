/**
 * HTTP semantics of downloads (RFC 9110), as one pure function of the request's method and headers and the stored
 * object's metadata: which status (200, 206, 304, 412, 416) and exactly which headers. It does no I/O; `lib/http/serve-object.ts`
 * fetches the object and cuts the body to the range decided here.
 *
 * Preconditions are evaluated in the order of RFC 9110 §13.2.2: If-Match, If-Unmodified-Since, If-None-Match,
 * If-Modified-Since, then If-Range and Range. Range parsing is `range-parser`'s (jshttp); Content-Disposition is
 * built by `content-disposition` (jshttp).
 */
import contentDisposition from 'content-disposition';
import rangeParser from 'range-parser';

/** The stored object as the answer describes it. */
export interface Representation {
  size: number;
  /** A quoted entity tag (`"…"` or `W/"…"`); empty when storage gave none. */
  etag: string;
  lastModified: Date | undefined;
  contentType: string;
}

/** What a route adds to every answer about its objects. */
export interface DownloadPolicy {
  cacheControl?: string;
  /** Sent as `Content-Disposition: attachment; filename="…"`. */
  attachmentFilename?: string;
}

/** An inclusive byte range, as in `Content-Range` (RFC 9110 §14.4). */
export interface ByteRange {
  start: number;
  end: number;
}

export type DownloadDecision =
  /** The object's bytes from `range.start` to `range.end` inclusive follow (the whole object for 200). */
  | { statusCode: 200 | 206; headers: Record<string, string>; range: ByteRange | undefined }
  /** No body (304), or the JSON error body given (412, 416). */
  | { statusCode: 304 | 412 | 416; headers: Record<string, string>; body: string };

/** Request header lookup by lowercase name. */
export type HeaderLookup = (name: string) => string | undefined;

/** Cache-Control of content-addressed exercise files: the bytes behind a SHA-1 never change (docs/protocol.md §4). */
export const IMMUTABLE = 'private, max-age=31536000, immutable';

/**
 * Cache-Control of objects that can be replaced (results, attachments, archives): a cache may keep them but must revalidate
 * (RFC 9111 §5.2.2.4), which costs a 304; without it, Last-Modified would allow heuristic freshness (RFC 9111
 * §4.2.2) and a stale result could be served.
 */
export const REVALIDATE = 'private, no-cache';

/**
 * The answer to GET or HEAD of `object`. HEAD gets the same status and headers as GET (RFC 9110 §9.3.2), Range
 * included: RFC 9110 §14.2 defines range handling for GET only, but HEAD is GET without content, and S3 itself
 * (HeadObject), Go's ServeContent and nginx all answer a ranged HEAD with the 206 headers of the ranged GET, so
 * a client sees the same whether the object is answered here or from S3 after a redirect.
 */
export function decideDownload(
  method: string,
  header: HeaderLookup,
  object: Representation,
  policy: DownloadPolicy = {},
): DownloadDecision {
  const precondition = checkPreconditions(method, header, object, policy);
  if (precondition) return precondition;
  // RFC 9110 §14.2: a server MUST ignore Range for methods without range handling (all but GET; HEAD as GET, above).
  const range = method === 'GET' || method === 'HEAD' ? header('range') : undefined;
  if (range === undefined) return whole(object, policy);
  // RFC 9110 §13.1.5: a false If-Range means the client's copy is stale, so it gets the whole object.
  const ifRange = header('if-range');
  if (ifRange !== undefined && !ifRangeHolds(ifRange, object)) return whole(object, policy);
  const parsed = parseByteRanges(range, object.size);
  // RFC 9110 §14.2: a server MAY ignore a Range it cannot parse. Several ranges would need multipart/byteranges
  // (§14.6), which no client of this service asks for; the whole object is a valid answer to them too (§14.2).
  if (parsed === 'invalid' || parsed === 'several') return whole(object, policy);
  if (parsed === 'unsatisfiable') {
    // An empty object has no satisfiable range; clients that add a Range to every request (as Go's ServeContent
    // notes) get the empty 200 rather than an error.
    if (object.size === 0) return whole(object, policy);
    return rangeNotSatisfiable(object.size);
  }
  const headers = contentHeaders(object, policy, parsed.end - parsed.start + 1);
  // RFC 9110 §14.4 and §15.3.7.1: a single-part 206 carries Content-Range with the complete length.
  headers['Content-Range'] = `bytes ${parsed.start}-${parsed.end}/${object.size}`;
  return { statusCode: 206, headers, range: parsed };
}

/** The 200 that carries all of `object`. */
function whole(object: Representation, policy: DownloadPolicy): DownloadDecision {
  return {
    statusCode: 200,
    headers: contentHeaders(object, policy, object.size),
    range: object.size > 0 ? { start: 0, end: object.size - 1 } : undefined,
  };
}

/**
 * The preconditions of RFC 9110 §13.2.2 steps 1–4 without Range: a 304 or 412 answer, or `undefined` to go on.
 * Used alone for objects that are redirected to S3, which then handles Range itself.
 */
export function checkPreconditions(
  method: string,
  header: HeaderLookup,
  object: Representation,
  policy: DownloadPolicy = {},
): DownloadDecision | undefined {
  const ifMatch = header('if-match');
  const ifUnmodifiedSince = header('if-unmodified-since');
  const ifNoneMatch = header('if-none-match');
  const ifModifiedSince = header('if-modified-since');
  const lastModified = object.lastModified && seconds(object.lastModified);
  // §13.2.2 step 1, §13.1.1: If-Match uses the strong comparison; `*` matches any current representation.
  if (ifMatch !== undefined) {
    if (!entityTagListMatches(ifMatch, object.etag, strongMatch)) return preconditionFailed('If-Match');
  } else if (ifUnmodifiedSince !== undefined && lastModified !== undefined) {
    // Step 2, §13.1.4: only without If-Match; a value that is not an HTTP-date is ignored.
    const date = parseHttpDate(ifUnmodifiedSince);
    if (date !== undefined && lastModified > date) return preconditionFailed('If-Unmodified-Since');
  }
  const readOnly = method === 'GET' || method === 'HEAD';
  if (ifNoneMatch !== undefined) {
    // Step 3, §13.1.2: the weak comparison; a match on GET or HEAD is 304.
    if (entityTagListMatches(ifNoneMatch, object.etag, weakMatch)) {
      return readOnly ? notModified(object, policy) : preconditionFailed('If-None-Match');
    }
  } else if (readOnly && ifModifiedSince !== undefined && lastModified !== undefined) {
    // Step 4, §13.1.3: only without If-None-Match and only for GET and HEAD; an invalid date is ignored.
    const date = parseHttpDate(ifModifiedSince);
    if (date !== undefined && lastModified <= date) return notModified(object, policy);
  }
  return undefined;
}

/** The headers of a 200 or 206 that carries `length` bytes of `object`. */
function contentHeaders(object: Representation, policy: DownloadPolicy, length: number): Record<string, string> {
  const headers: Record<string, string> = { 'Content-Type': object.contentType, 'Content-Length': String(length) };
  addValidators(headers, object, policy);
  // RFC 9110 §14.3: tells clients that a broken download can resume with Range.
  headers['Accept-Ranges'] = 'bytes';
  if (policy.attachmentFilename) headers['Content-Disposition'] = contentDisposition(policy.attachmentFilename);
  headers['X-Content-Type-Options'] = 'nosniff';
  return headers;
}

/** ETag, Last-Modified and Cache-Control, what 200, 206 and 304 share, added to `headers`. */
function addValidators(headers: Record<string, string>, object: Representation, policy: DownloadPolicy): void {
  if (object.etag) headers.ETag = object.etag;
  if (object.lastModified) headers['Last-Modified'] = httpDate(object.lastModified);
  if (policy.cacheControl) headers['Cache-Control'] = policy.cacheControl;
}

/** The last date formatted, and its text: answers about one object ask for the same date over and over. */
let lastFormatted = { time: Number.NaN, text: '' };

/** RFC 9110 §8.8.2: Last-Modified is an HTTP-date, IMF-fixdate being the form to send (§5.6.7). */
function httpDate(date: Date): string {
  const time = date.getTime();
  if (time !== lastFormatted.time) lastFormatted = { time, text: date.toUTCString() };
  return lastFormatted.text;
}

/**
 * RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control a 200 would, and no content; other representation
 * metadata (Content-Type, Content-Length, Content-Disposition) SHOULD NOT be sent. Last-Modified is kept for
 * caches that validate by date.
 */
function notModified(object: Representation, policy: DownloadPolicy): DownloadDecision {
  const headers: Record<string, string> = {};
  addValidators(headers, object, policy);
  return { statusCode: 304, headers, body: '' };
}

/** RFC 9110 §15.5.13, with the JSON error body of docs/protocol.md §5. */
function preconditionFailed(field: string): DownloadDecision {
  return errorDecision(412, {}, 'precondition-failed', `The ${field} condition does not hold for the stored file.`);
}

/** RFC 9110 §15.5.17: a 416 to a byte-range request SHOULD carry a Content-Range naming the complete length (§14.4). */
function rangeNotSatisfiable(size: number): DownloadDecision {
  return errorDecision(
    416,
    { 'Content-Range': `bytes */${size}`, 'Accept-Ranges': 'bytes' },
    'range-not-satisfiable',
    `No requested range starts within the file, which has ${size} bytes.`,
  );
}

function errorDecision(
  statusCode: 412 | 416,
  extra: Record<string, string>,
  code: string,
  message: string,
): DownloadDecision {
  const body = JSON.stringify({ result: 'ERROR', error: { code, message } });
  return {
    statusCode,
    // Content-Length is set here so that HEAD, which carries no body, reports the same length as GET.
    headers: {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      ...extra,
      'X-Content-Type-Options': 'nosniff',
    },
    body,
  };
}

/**
 * RFC 9110 §14.1.1 syntax of a byte Range; the unit is case-insensitive (§14.1). range-set is a `1#` list
 * (§5.6.1: empty elements and OWS around commas are allowed). Anything else is not parsed at all.
 */
const BYTE_RANGES = /^bytes=[ \t]*((?:,[ \t]*)*(?:\d+-\d*|-\d+)(?:[ \t]*,(?:[ \t]*(?:\d+-\d*|-\d+))?)*)[ \t]*$/i;

/**
 * The one range a `Range` value asks of an object of `size` bytes, clamped to the object; `'unsatisfiable'` when
 * it starts beyond the end (RFC 9110 §14.1.2), `'several'` when the value holds more than one range, `'invalid'`
 * when it is not a valid bytes ranges-specifier (§14.1.1).
 */
export function parseByteRanges(value: string, size: number): ByteRange | 'invalid' | 'several' | 'unsatisfiable' {
  const match = BYTE_RANGES.exec(value.trim());
  if (!match?.[1]) return 'invalid';
  const specs = match[1]
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '');
  const normalised: string[] = [];
  for (const spec of specs) {
    const [first = '', last = ''] = spec.split('-');
    // §14.1.1: an int-range whose last-pos is below its first-pos is invalid (range-parser calls it unsatisfiable).
    if (first !== '' && last !== '' && BigInt(last) < BigInt(first)) return 'invalid';
    // §14.1.3: a suffix longer than the object means the whole object. range-parser 1.2.1 drops it as
    // unsatisfiable instead (fixed upstream in jshttp/range-parser#66, not in a release we use).
    if (first === '' && BigInt(last) > BigInt(size)) normalised.push('0-');
    else normalised.push(spec);
  }
  if (normalised.length > 1) return 'several';
  const ranges = rangeParser(size, `bytes=${normalised.join(',')}`);
  if (ranges === -2) return 'invalid';
  if (ranges === -1 || ranges[0] === undefined) return 'unsatisfiable';
  return { start: ranges[0].start, end: ranges[0].end };
}

/**
 * RFC 9110 §13.1.5: If-Range holds if its entity tag matches strongly, or its HTTP-date equals Last-Modified
 * exactly. A weak tag or an unparsable value never holds.
 */
function ifRangeHolds(value: string, object: Representation): boolean {
  const trimmed = value.trim();
  if (trimmed.startsWith('"') || trimmed.startsWith('W/')) {
    const [tag, rest] = scanEntityTag(trimmed);
    return tag !== undefined && rest.trim() === '' && strongMatch(tag, object.etag);
  }
  const date = parseHttpDate(trimmed);
  return date !== undefined && object.lastModified !== undefined && date === seconds(object.lastModified);
}

/**
 * Whether a `#entity-tag` list or `*` (RFC 9110 §13.1.1, §13.1.2) names `etag`. A list that stops parsing
 * matches only through the tags read before the fault, as in Go's net/http.
 */
function entityTagListMatches(value: string, etag: string, same: (a: string, b: string) => boolean): boolean {
  let rest = value;
  for (;;) {
    rest = rest.replace(/^[ \t,]+/, '');
    if (rest === '') return false;
    // `*` stands for any current representation, and the object exists.
    if (rest.startsWith('*')) return true;
    const [tag, after] = scanEntityTag(rest);
    if (tag === undefined) return false;
    if (etag !== '' && same(tag, etag)) return true;
    rest = after;
  }
}

/** One entity-tag (RFC 9110 §8.8.3: `[W/] DQUOTE *etagc DQUOTE`) from the start of `text`, and what follows. */
function scanEntityTag(text: string): [string | undefined, string] {
  const match = /^(?:W\/)?"[\x21\x23-\x7e\x80-\xff]*"/.exec(text);
  if (!match) return [undefined, text];
  return [match[0], text.slice(match[0].length)];
}

/** RFC 9110 §8.8.3.2: strong comparison: neither is weak and the opaque tags are the same. */
function strongMatch(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** RFC 9110 §8.8.3.2: weak comparison: the opaque tags are the same, weak or not. */
function weakMatch(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** HTTP dates have one-second resolution; Last-Modified is compared at that resolution. */
function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 §5.6.7) in seconds since the epoch, or `undefined` if `value` is none. Recipients MUST
 * accept all three formats; a two-digit rfc850 year more than 50 years ahead means the century before.
 */
export function parseHttpDate(value: string, now: Date = new Date()): number | undefined {
  const text = value.trim();
  const fields = dateFields(text, now);
  if (!fields) return undefined;
  const { year, month, day, hour, minute, second } = fields;
  const daysInMonth = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  // Out-of-range fields are refused rather than rolled over into another date by Date.UTC (31 Feb, 25:00).
  if (day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 60) return undefined;
  return Math.floor(Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) / 1000);
}

interface DateFields {
  year: number;
  /** 0-based, as Date.UTC takes it. */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function dateFields(text: string, now: Date): DateFields | undefined {
  const time = (h?: string, m?: string, s?: string) => ({ hour: Number(h), minute: Number(m), second: Number(s) });
  const imf = IMF_FIXDATE.exec(text);
  if (imf) {
    const [, day, month = '', year, h, m, s] = imf;
    return { year: Number(year), month: MONTHS.indexOf(month), day: Number(day), ...time(h, m, s) };
  }
  const rfc850 = RFC850_DATE.exec(text);
  if (rfc850) {
    const [, day, month = '', yy, h, m, s] = rfc850;
    let year = Math.floor(now.getUTCFullYear() / 100) * 100 + Number(yy);
    if (year > now.getUTCFullYear() + 50) year -= 100;
    return { year, month: MONTHS.indexOf(month), day: Number(day), ...time(h, m, s) };
  }
  const asctime = ASCTIME_DATE.exec(text);
  if (asctime) {
    const [, month = '', day = '', h, m, s, year] = asctime;
    return { year: Number(year), month: MONTHS.indexOf(month), day: Number(day.trim()), ...time(h, m, s) };
  }
  return undefined;
}
