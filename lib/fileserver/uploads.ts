/**
 * The large-upload route (docs/protocol.md §7): `POST /uploads/<target>` with a small JSON body hands out presigned S3
 * PUT URLs, so that files too large for API Gateway and Lambda (about 4.5 MB of binary per request) travel straight
 * to S3 and no byte of them passes through a function.
 *
 *   POST /uploads/exercises/<sha1>             {"size": n}          → URL bound to the SHA-1, or "already stored"
 *   POST /uploads/results/<name>               {"size": n}          → URL for the result's final key
 *   POST /uploads/attachments/<id>             {"size": n}          → URL for the attachment's final key
 *   POST /uploads/submissions/<id>             {"files": {path: n}} → upload_id and one URL per file
 *   POST /uploads/submissions/<id>/complete    {"upload_id", "files"} → checks the files, writes the manifest
 *
 * Every declared size is checked against the configured maximum before any URL is issued, and signed into the URL
 * (`Content-Length` is a signed header), so S3 refuses any other length.
 */

import { config } from '../config';
import { BadRequestError, NotFoundError, PayloadTooLargeError } from '../errors';
import { headObject, listObjects, type PresignedPut, presignPut } from '../storage/store';
import { mapWithLimit } from '../util/concurrency';
import { dictionary } from '../util/dictionary';
import { strictUtf8 } from '../util/utf8';
import {
  attachmentKey,
  newRevision,
  parseRevision,
  parseSha1,
  publicPath,
  resultKey,
  revisionFileKey,
  revisionPrefix,
  taskKey,
  validateId,
  validateSubmissionPath,
} from './keys';
import type { Manifest, ManifestFile } from './manifest';
import { resultContentType } from './results';
import {
  commitManifest,
  mergeWithinBounds,
  readManifest,
  readStoredManifest,
  type SubmissionAnswer,
  uploadRules,
} from './submissions';

/**
 * Files per request of a submission: each URL is about 700 bytes of JSON, so 1,000 keep the answer far below
 * Lambda's 6 MB response payload (the completing request lists them with one request per 1,000). A larger
 * submission is granted and completed in several requests (each completion merges into the manifest).
 */
export const MAX_FILES_PER_REQUEST = 1000;

export type UploadTarget =
  | { kind: 'exercise'; sha1: string }
  | { kind: 'result'; name: string }
  | { kind: 'attachment'; id: string }
  | { kind: 'submission'; id: string }
  | { kind: 'submission-complete'; id: string };

/** What a client sends with a presigned URL: the method, the URL, the exact headers, and when it expires. */
export interface UploadGrant {
  method: 'PUT';
  url: string;
  headers: Record<string, string>;
  expires_at: string;
}

export type ExerciseUploadAnswer =
  | { result: 'OK'; stored: true; path: string }
  | { result: 'OK'; stored: false; path: string; upload: UploadGrant };

export interface KeyUploadAnswer {
  result: 'OK';
  path: string;
  upload: UploadGrant;
}

export interface SubmissionUploadAnswer {
  result: 'OK';
  /** Names this grant's uploads; the completing request sends it back with the same `files`. */
  upload_id: string;
  files: Record<string, UploadGrant>;
  /** Where to POST `{"upload_id", "files"}` once every upload is done. */
  complete: string;
}

/** `exercises/<sha1>`, `results/<name>`, … (the greedy path parameter of `/uploads/{target+}`). */
export function parseUploadTarget(target: string): UploadTarget {
  const [collection, name, ...rest] = target.split('/');
  const noSuchTarget = (): never => {
    throw new NotFoundError(
      'no-such-upload-target',
      `There is no upload target ${JSON.stringify(target.slice(0, 200))}; use exercises/<sha1>, results/<name>, ` +
        'attachments/<id>, submissions/<id> or submissions/<id>/complete.',
    );
  };
  if (name === undefined) return noSuchTarget();
  if (rest.length === 0) {
    switch (collection) {
      case 'exercises':
      case 'tasks':
        return { kind: 'exercise', sha1: parseSha1(name) };
      case 'results':
        return { kind: 'result', name: validateId(name, 'result name') };
      case 'attachments':
        return { kind: 'attachment', id: validateId(name, 'attachment id') };
      case 'submissions':
        return { kind: 'submission', id: validateId(name, 'submission id') };
    }
  }
  if (collection === 'submissions' && rest.length === 1 && rest[0] === 'complete') {
    return { kind: 'submission-complete', id: validateId(name, 'submission id') };
  }
  return noSuchTarget();
}

/** Answers one request of the large-upload route. */
export async function handleUpload(
  target: UploadTarget,
  body: Buffer,
): Promise<ExerciseUploadAnswer | KeyUploadAnswer | SubmissionUploadAnswer | SubmissionAnswer> {
  const request = parseJsonObject(body);
  switch (target.kind) {
    case 'exercise':
      return grantExercise(target.sha1, declaredSize(request.size, 'The declared size'));
    case 'result':
      return grantKey(
        resultKey(target.name),
        `/results/${target.name}`,
        declaredSize(request.size, 'The declared size'),
        {
          contentType: resultContentType(target.name),
        },
      );
    case 'attachment':
      return grantKey(
        attachmentKey(target.id),
        `/attachments/${target.id}`,
        declaredSize(request.size, 'The declared size'),
      );
    case 'submission':
      return grantSubmission(target.id, declaredFiles(request.files));
    case 'submission-complete':
      return completeSubmission(target.id, parseRevision(request.upload_id), declaredFiles(request.files));
  }
}

/**
 * An exercise file by its content address. The URL carries `x-amz-checksum-sha1`, so S3 itself refuses any other
 * content and nothing ever sits under a hash it does not have. A hash already stored needs no upload at all.
 */
async function grantExercise(sha1: string, size: number): Promise<ExerciseUploadAnswer> {
  const key = taskKey(sha1);
  const path = publicPath.exercise(sha1);
  const stored = await headObject(key);
  if (stored) {
    if (stored.size !== size) {
      throw new BadRequestError(
        'size-mismatch',
        `The file with the SHA-1 ${sha1} is stored with ${stored.size} bytes; content of ${size} bytes cannot have that hash.`,
      );
    }
    return { result: 'OK', stored: true, path };
  }
  const checksumSha1 = Buffer.from(sha1, 'hex').toString('base64');
  return { result: 'OK', stored: false, path, upload: grant(await presignPut(key, { size, checksumSha1 })) };
}

/** A result or an attachment: straight to its final key; S3 replaces the previous object atomically. */
async function grantKey(
  key: string,
  path: string,
  size: number,
  options: { contentType?: string } = {},
): Promise<KeyUploadAnswer> {
  return { result: 'OK', path, upload: grant(await presignPut(key, { size, ...options })) };
}

/**
 * One URL per file, each to a key of this grant alone (`revisions/<id>/<upload_id>/<path>`) and write-once
 * (`If-None-Match: *` is signed): no URL can ever overwrite a file that a manifest lists, before the completion or
 * after it, so this route may add and replace files as a re-POST does. Nothing becomes visible to the archive until
 * the completing request writes the manifest, exactly as a multipart POST writes it after its files.
 */
async function grantSubmission(id: string, files: Map<string, number>): Promise<SubmissionUploadAnswer> {
  const previous = await readManifest(id);
  // Refused before any URL is issued: what could never be completed.
  checkMerge(id, previous, files);
  const uploadId = newRevision();
  const grants = dictionary<UploadGrant>();
  for (const [path, size] of files) {
    grants[path] = grant(await presignPut(revisionFileKey(id, uploadId, path), { size, createOnly: true }));
  }
  return { result: 'OK', upload_id: uploadId, files: grants, complete: `/uploads/submissions/${id}/complete` };
}

/**
 * Checks that every declared file is stored under the grant's keys with its declared size, then writes the manifest
 * (which triggers the archive). Anything missing or of another size is a 400 that names every such file, and writes
 * nothing.
 */
async function completeSubmission(id: string, uploadId: string, files: Map<string, number>): Promise<SubmissionAnswer> {
  // The manifest and the grant's files at once (one round trip): neither read depends on the other.
  const [previous, found] = await Promise.all([
    readStoredManifest(id),
    storedFilesOfGrant(id, uploadId, [...files.keys()]),
  ]);
  checkMerge(id, previous?.manifest, files);
  const missing: string[] = [];
  const wrongSize: string[] = [];
  const stored = [...files].map(([path, size]): ManifestFile => {
    const key = revisionFileKey(id, uploadId, path);
    const head = found.get(key);
    if (!head) missing.push(path);
    else if (head.size !== size) wrongSize.push(`${path} (${head.size} bytes stored, ${size} declared)`);
    return { path, size, etag: head?.etag ?? '', key };
  });
  if (missing.length > 0) {
    throw new BadRequestError(
      'missing-file',
      `Not uploaded yet with upload_id ${uploadId}: ${listSome(missing.sort())}. Upload every file to its URL, ` +
        'then complete again.',
    );
  }
  if (wrongSize.length > 0) {
    throw new BadRequestError(
      'size-mismatch',
      `Stored with another size than declared: ${listSome(wrongSize.sort())}. Upload these files again.`,
    );
  }
  return commitManifest(id, previous, stored, uploadRules());
}

/**
 * A listing (ListObjectsV2) is billed like a PUT, at 12.5 times a HEAD (S3 Standard: $0.005 against $0.0004 per
 * 1,000 requests), so it pays from 13 files on; below that, one HEAD per file, in parallel.
 */
const LIST_FROM_FILES = 13;
/** HEAD requests in flight while a small submission is completed. */
const HEAD_CONCURRENCY = 16;

/**
 * What is stored under the grant's keys, by key: size and ETag. One listing answers for up to 1,000 files what a HEAD
 * per file would (docs/benchmarks.md, "S3 requests per operation").
 */
async function storedFilesOfGrant(
  id: string,
  uploadId: string,
  paths: readonly string[],
): Promise<Map<string, { size: number; etag: string }>> {
  if (paths.length >= LIST_FROM_FILES) {
    return new Map((await listObjects(revisionPrefix(id, uploadId))).map((object) => [object.key, object]));
  }
  const found = new Map<string, { size: number; etag: string }>();
  await mapWithLimit(paths, HEAD_CONCURRENCY, async (path) => {
    const key = revisionFileKey(id, uploadId, path);
    const head = await headObject(key);
    if (head) found.set(key, head);
  });
  return found;
}

/**
 * The files merged into the stored submission must still be a valid submission (`mergeWithinBounds`): no colliding
 * paths, and within the bounds of one submission (the total bound is per submission, not per request).
 */
function checkMerge(id: string, previous: Manifest | undefined, files: Map<string, number>): void {
  mergeWithinBounds(
    id,
    previous?.files ?? [],
    [...files].map(([path, size]) => ({ path, size, etag: '' })),
    uploadRules(),
  );
}

function grant(put: PresignedPut): UploadGrant {
  return { method: 'PUT', url: put.url, headers: put.headers, expires_at: put.expiresAt.toISOString() };
}

/** JSON text is UTF-8 (RFC 8259 §8.1); a body that is not is refused, rather than read with its names changed. */
function parseJsonObject(body: Buffer): Record<string, unknown> {
  const text = strictUtf8(body);
  if (text === undefined) {
    throw new BadRequestError(
      'bad-json',
      'The request body is not valid UTF-8, which JSON requires (RFC 8259 §8.1); send file paths in UTF-8.',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BadRequestError('bad-json', 'The request body must be a JSON object, e.g. {"size": 123456}.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestError('bad-json', 'The request body must be a JSON object, e.g. {"size": 123456}.');
  }
  // Own keys only: a request's `{"__proto__": …}` is a key like any other, and no member of Object.prototype is read.
  return Object.assign(dictionary<unknown>(), value);
}

/** A declared size in bytes: a whole number, at most the configured maximum (413 before any URL is issued). */
function declaredSize(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new BadRequestError('invalid-size', `${what} must be the file's size in bytes, a whole number ≥ 0.`);
  }
  const { maxUploadBytes } = config();
  if (value > maxUploadBytes) {
    throw new PayloadTooLargeError(
      'upload-too-large',
      `${what} is ${value} bytes; this fileserver accepts files of at most ${maxUploadBytes} bytes.`,
    );
  }
  return value;
}

/** `{"<path>": <size>, …}`: validated paths and sizes within bounds. */
function declaredFiles(value: unknown): Map<string, number> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestError(
      'bad-json',
      'files must be an object that maps each relative path to its size in bytes, e.g. {"files": {"main.c": 1234}}.',
    );
  }
  const entries = Object.entries(value);
  if (entries.length === 0) throw new BadRequestError('no-files', 'files lists no file.');
  if (entries.length > MAX_FILES_PER_REQUEST) {
    throw new BadRequestError(
      'too-many-files',
      `files lists ${entries.length} files; send at most ${MAX_FILES_PER_REQUEST} per request, in several requests.`,
    );
  }
  const files = new Map<string, number>();
  for (const [path, size] of entries) {
    files.set(validateSubmissionPath(path), declaredSize(size, `The size of ${JSON.stringify(path)}`));
  }
  // The submission's total is bounded by checkMerge, over the stored files and these together.
  return files;
}

function listSome(items: readonly string[]): string {
  const shown = items.slice(0, 10).join(', ');
  return items.length > 10 ? `${shown} and ${items.length - 10} more` : shown;
}
