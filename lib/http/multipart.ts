/**
 * multipart/form-data (RFC 7578) parsing with busboy, a well-kept streaming parser. API Gateway hands a Lambda the
 * whole body (≤ 10 MB), so the parts are collected in memory: every part must be validated before anything is
 * stored (docs/protocol.md §6), which needs them all anyway.
 */
import busboy from 'busboy';
import { BadRequestError, UnsupportedMediaTypeError } from '../errors';
import type { FilePart } from '../fileserver/file-parts';
import { showBytes, strictUtf8 } from '../util/utf8';

/** More file parts than any submission has; a request with more is refused rather than parsed at length. */
export const MAX_FILE_PARTS = 10_000;

/**
 * The file parts of a multipart body, in order. Text (non-file) fields are skipped, as the original server did.
 * Throws 415 if the body is not multipart/form-data and 400 if it is malformed.
 */
export function parseFileParts(contentType: string | undefined, body: Buffer): Promise<FilePart[]> {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) {
    return Promise.reject(
      new UnsupportedMediaTypeError(
        'not-multipart',
        `Send the files as multipart/form-data (one file part per file); the Content-Type was ${JSON.stringify(contentType ?? '')}.`,
      ),
    );
  }
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        // Field names are file paths of up to 800 bytes (docs/protocol.md §6); busboy caps a part's header at 16 KiB
        // (a longer one is a parse error, 400), so names reach the path check whole. fieldNameSize only applies to
        // urlencoded forms, it is set high for clarity.
        limits: { fieldNameSize: 64 * 1024, files: MAX_FILE_PARTS, parts: 2 * MAX_FILE_PARTS },
        // Guzzle writes UTF-8 names unencoded, as RFC 7578 §4.2 allows. busboy's own UTF-8 decoding would turn bytes
        // that are not UTF-8 into U+FFFD, a name the client never sent; latin1 hands over the header's bytes one
        // character each, for `fieldName` to decode strictly.
        defParamCharset: 'latin1',
      });
    } catch (err) {
      reject(badMultipart(err));
      return;
    }
    const parts: FilePart[] = [];
    let seenParts = 0;
    let failed = false;
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    parser.on('file', (name, stream) => {
      seenParts++;
      let field: string;
      try {
        // busboy reports `name=""` as undefined; it is the empty path, which validation refuses by name.
        field = fieldName(name ?? '', seenParts);
      } catch (err) {
        stream.resume();
        fail(err as Error);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => parts.push({ field, data: Buffer.concat(chunks) }));
      stream.on('error', (err: Error) => fail(badMultipart(err)));
    });
    parser.on('field', () => {
      seenParts++;
    });
    parser.on('filesLimit', () =>
      fail(new BadRequestError('too-many-parts', `A request may carry at most ${MAX_FILE_PARTS} files.`)),
    );
    parser.on('partsLimit', () =>
      fail(new BadRequestError('too-many-parts', `A request may carry at most ${2 * MAX_FILE_PARTS} parts.`)),
    );
    parser.on('error', (err: Error) => fail(badMultipart(err)));
    parser.on('close', () => {
      if (failed) return;
      // busboy skips a part whose Content-Disposition it cannot read (Guzzle writes `name="a"b.c"` unescaped)
      // without any event; that would lose a student's file silently, so such a body is refused instead.
      const delimited = countParts(contentType, body);
      if (delimited !== undefined && delimited > seenParts) {
        fail(
          new BadRequestError(
            'bad-multipart',
            `${delimited - seenParts} part(s) of the body have a header that cannot be read (a field name with an unescaped '"' or line break?); nothing was stored.`,
          ),
        );
        return;
      }
      resolve(parts);
    });
    parser.end(body);
  });
}

/**
 * A part's field name from the bytes of its Content-Disposition (`raw`, one latin1 character per byte): decoded as
 * UTF-8, or refused (400 `invalid-path`) if those bytes are not UTF-8, rather than stored under a name with U+FFFD in
 * it. (busboy reads only the plain `name=` parameter as the field name; a `name*=` form is not one.)
 */
function fieldName(raw: string, part: number): string {
  const bytes = Buffer.from(raw, 'latin1');
  const name = strictUtf8(bytes);
  if (name === undefined) {
    throw new BadRequestError(
      'invalid-path',
      `The field name of part ${part} (${showBytes(bytes)}) is not valid UTF-8; send file paths in UTF-8. Nothing was stored.`,
    );
  }
  return name;
}

/**
 * The number of body parts by their delimiters (RFC 2046 §5.1.1: `--boundary` at the start of a line; the close
 * delimiter `--boundary--` ends the last part), or `undefined` if the boundary cannot be read.
 */
export function countParts(contentType: string, body: Buffer): number | undefined {
  const match = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) return undefined;
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let count = body.subarray(0, delimiter.length - 2).equals(delimiter.subarray(2)) ? 1 : 0;
  for (let at = body.indexOf(delimiter); at >= 0; at = body.indexOf(delimiter, at + delimiter.length)) count++;
  return Math.max(0, count - 1);
}

function badMultipart(err: unknown): BadRequestError {
  const detail = err instanceof Error ? err.message : String(err);
  return new BadRequestError('bad-multipart', `The multipart/form-data body could not be parsed: ${detail}.`);
}
