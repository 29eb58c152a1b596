/**
 * multipart/form-data (RFC 7578) parsing with busboy, a well-kept streaming parser. API Gateway hands a Lambda the
 * whole body (≤ 10 MB), so the parts are collected in memory: every part must be validated before anything is
 * stored (PROTOCOL.md §6), which needs them all anyway.
 */
import busboy from 'busboy';
import { BadRequestError, UnsupportedMediaTypeError } from './errors';

export interface FilePart {
  /** The part's field name: for a submission, the file's relative path (PROTOCOL.md §2). */
  field: string;
  data: Buffer;
}

/** More file parts than any submission has; a request with more is refused rather than parsed at length. */
export const MAX_FILE_PARTS = 10_000;

/**
 * The file parts of a multipart body, in order. Text (non-file) fields are skipped, as the original server did.
 * Throws 415 if the body is not multipart/form-data and 400 if it is malformed.
 */
export function parseFileParts(contentType: string | undefined, body: Buffer): Promise<FilePart[]> {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) {
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
        // Field names are file paths of up to 800 bytes (PROTOCOL.md §6). busboy cuts longer names silently at
        // this limit, so it sits far above that bound and the path check sees the real length.
        limits: { fieldNameSize: 64 * 1024, files: MAX_FILE_PARTS, parts: 2 * MAX_FILE_PARTS },
        // Guzzle writes UTF-8 names unencoded; RFC 7578 §4.2 allows exactly that.
        defParamCharset: 'utf8',
      });
    } catch (err) {
      reject(badMultipart(err));
      return;
    }
    const parts: FilePart[] = [];
    let failed = false;
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    parser.on('file', (field, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => parts.push({ field, data: Buffer.concat(chunks) }));
      stream.on('error', (err: Error) => fail(badMultipart(err)));
    });
    parser.on('filesLimit', () =>
      fail(new BadRequestError('too-many-parts', `A request may carry at most ${MAX_FILE_PARTS} files.`)),
    );
    parser.on('partsLimit', () =>
      fail(new BadRequestError('too-many-parts', `A request may carry at most ${2 * MAX_FILE_PARTS} parts.`)),
    );
    parser.on('error', (err: Error) => fail(badMultipart(err)));
    parser.on('close', () => {
      if (!failed) resolve(parts);
    });
    parser.end(body);
  });
}

/** PROTOCOL.md §6: two file parts with one field name are refused (the original kept the first silently). */
export function rejectDuplicateFields(parts: readonly FilePart[]): void {
  const seen = new Set<string>();
  for (const { field } of parts) {
    if (seen.has(field)) {
      throw new BadRequestError(
        'duplicate-field',
        `Two file parts have the field name ${JSON.stringify(field)}; each file must be sent once.`,
      );
    }
    seen.add(field);
  }
}

function badMultipart(err: unknown): BadRequestError {
  const detail = err instanceof Error ? err.message : String(err);
  return new BadRequestError('bad-multipart', `The multipart/form-data body could not be parsed: ${detail}.`);
}
