/**
 * The one place that knows the S3 key layout (docs/design.md, "S3 key layout"):
 *
 *   submissions/<id>/<path>        a student's submitted files        (POST /submissions/<id>)
 *   revisions/<id>/<rev>/<path>    a file that replaced a stored one  (a re-POST; the manifest names the key, so
 *                                  no write ever overwrites a file a manifest lists)
 *   manifests/<id>.json            the list of a submission's files,  (POST /submissions/<id>, written last;
 *                                  its creation triggers the archiver  the archiver's S3 event filter)
 *   submission_archives/<id>.zip   the zip a worker downloads         (archiver, on-demand build)
 *   tasks/<sha1[0]>/<sha1>         content-addressed exercise files   (POST /exercises)
 *   results/<name>                 result archives from workers       (PUT /results/<name>)
 *   attachments/<id>               attachments                        (PUT /attachments/<id>)
 *
 * Every function here validates what it puts into a key, so no caller can build a key that escapes its
 * prefix. Validation failures are `BadRequestError`s that name the problem.
 */
import { randomBytes } from 'node:crypto';
import { BadRequestError } from '../errors';

export const PREFIX = {
  submissions: 'submissions/',
  revisions: 'revisions/',
  manifests: 'manifests/',
  archives: 'submission_archives/',
  tasks: 'tasks/',
  results: 'results/',
  attachments: 'attachments/',
} as const;

/** docs/protocol.md §1: ids (and result names, attachment ids) are 1–128 characters of [A-Za-z0-9._-], not `.` or `..`. */
const ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * docs/protocol.md §6: S3 keys end at 1,024 bytes (UTF-8), and the key also holds `submissions/`, the id (≤ 128) and a
 * slash, so a submitted path may use at most 800 bytes.
 */
export const MAX_PATH_BYTES = 800;

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const SHA1_PATTERN = /^[0-9a-fA-F]{40}$/;

/** Checks an id against docs/protocol.md §1 and returns it; `what` names it in the error ("submission id", …). */
export function validateId(id: string, what = 'id'): string {
  if (!ID_PATTERN.test(id) || id === '.' || id === '..') {
    throw new BadRequestError(
      'invalid-id',
      `The ${what} ${JSON.stringify(truncate(id))} is not valid: use 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-', other than '.' and '..'.`,
    );
  }
  return id;
}

/**
 * Checks a submitted file's relative path (its multipart field name, docs/protocol.md §2) against the rules of §6 and
 * returns it unchanged. Every rule keeps the path a plain relative path inside the submission, the same on S3, in a
 * zip and on the worker's disk.
 */
export function validateSubmissionPath(path: string): string {
  const reject = (why: string): never => {
    throw new BadRequestError('invalid-path', `The file path ${JSON.stringify(truncate(path))} ${why}.`);
  };
  if (path.length === 0) reject('is empty: every file part needs its relative path as its field name');
  // A lone UTF-16 surrogate (a JSON name such as "\ud800.c") has no UTF-8 form: as a key it would become U+FFFD, a
  // name the client never sent. (With the `u` flag a surrogate pair is one code point, so only a lone one matches.)
  if (LONE_SURROGATE.test(path)) reject('is not valid UTF-8: it holds a lone UTF-16 surrogate; send names in UTF-8');
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) reject(`is longer than ${MAX_PATH_BYTES} bytes`);
  // Control characters (C0, DEL and C1; NUL included) cannot be stored faithfully in zip entries or on every file
  // system, and are never part of a real source file's name.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point of this check.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(path)) reject('contains a control character');
  if (path.includes('\\')) reject("contains a backslash; separate folders with '/'");
  // Only a leading '/' makes a path absolute where a ReCodEx worker unpacks it (Linux). `a:b.txt` and `C:/x` are
  // relative names there, which the old fileserver stored; a colon is an ordinary character.
  if (path.startsWith('/')) reject("is absolute; give it relative to the submission's root");
  for (const segment of path.split('/')) {
    if (segment === '') reject("has an empty segment (a leading, trailing or doubled '/')");
    if (segment === '.' || segment === '..') reject(`contains a '${segment}' segment`);
  }
  return path;
}

/**
 * Parses an exercise file's name (docs/protocol.md §4): 40 hex characters, any case, meaning the lowercase SHA-1.
 */
export function parseSha1(name: string): string {
  if (!SHA1_PATTERN.test(name)) {
    throw new BadRequestError(
      'invalid-hash',
      `Exercise files are named by the SHA-1 of their content, 40 hexadecimal characters; ${JSON.stringify(truncate(name))} is not one.`,
    );
  }
  return name.toLowerCase();
}

/** `<id>.zip` → `<id>`; anything else is not an archive name. */
export function parseArchiveName(name: string): string {
  if (!name.endsWith('.zip') || name.length <= '.zip'.length) {
    throw new BadRequestError(
      'invalid-archive-name',
      `Archive names have the form <submission id>.zip; ${JSON.stringify(truncate(name))} does not.`,
    );
  }
  return validateId(name.slice(0, -'.zip'.length), 'submission id');
}

export const submissionFileKey = (id: string, path: string): string =>
  `${PREFIX.submissions}${validateId(id, 'submission id')}/${validateSubmissionPath(path)}`;
/** A revision token: where one request's replacing files go (`revisions/<id>/<rev>/`). */
const REVISION_PATTERN = /^[0-9a-z]{8,40}$/;

/** A fresh revision token: 64 random bits, so two requests never share one. */
export function newRevision(): string {
  return randomBytes(8).toString('hex');
}

/** A revision token a client sends back (the large-upload route's `upload_id`). */
export function parseRevision(value: unknown, what = 'upload_id'): string {
  if (typeof value !== 'string' || !REVISION_PATTERN.test(value)) {
    throw new BadRequestError(
      'invalid-upload-id',
      `${what} must be the upload_id that the upload request answered (8 to 40 characters of 0-9 and a-z).`,
    );
  }
  return value;
}

/**
 * The key of a file that replaces a stored file of the submission: a fresh place per request, so the file its
 * current manifest lists stays untouched until the new manifest is written (and after, if that write fails).
 */
export function revisionFileKey(id: string, revision: string, path: string): string {
  return `${revisionPrefix(id, revision)}${validateSubmissionPath(path)}`;
}

/** The prefix of every file of one revision (`revisions/<id>/<rev>/`), to list them at once. */
export function revisionPrefix(id: string, revision: string): string {
  if (!REVISION_PATTERN.test(revision)) throw new Error(`${JSON.stringify(revision)} is not a revision token.`);
  return `${PREFIX.revisions}${validateId(id, 'submission id')}/${revision}/`;
}

/** Whether `key` is one that a manifest of submission `id` may name for its file `path`. */
export function isSubmissionFileKey(key: string, id: string, path: string): boolean {
  if (key === submissionFileKey(id, path)) return true;
  const prefix = `${PREFIX.revisions}${id}/`;
  if (!key.startsWith(prefix) || !key.endsWith(`/${path}`)) return false;
  return REVISION_PATTERN.test(key.slice(prefix.length, key.length - path.length - 1));
}

export const manifestKey = (id: string): string => `${PREFIX.manifests}${validateId(id, 'submission id')}.json`;
export const archiveKey = (id: string): string => `${PREFIX.archives}${validateId(id, 'submission id')}.zip`;
export const taskKey = (sha1: string): string => {
  const hash = parseSha1(sha1);
  return `${PREFIX.tasks}${hash[0]}/${hash}`;
};
export const resultKey = (name: string): string => `${PREFIX.results}${validateId(name, 'result name')}`;
export const attachmentKey = (id: string): string => `${PREFIX.attachments}${validateId(id, 'attachment id')}`;

/** The submission id of a manifest key, or `undefined` for a key that is not one (the archiver's input filter). */
export function submissionIdOfManifestKey(key: string): string | undefined {
  if (!key.startsWith(PREFIX.manifests) || !key.endsWith('.json')) return undefined;
  const id = key.slice(PREFIX.manifests.length, -'.json'.length);
  return ID_PATTERN.test(id) && id !== '.' && id !== '..' ? id : undefined;
}

/** The paths a client sees (docs/protocol.md §2): root-relative, never prefixed with an API Gateway stage. */
export const publicPath = {
  archive: (id: string): string => `/submission_archives/${id}.zip`,
  result: (id: string): string => `/results/${id}.zip`,
  exercise: (sha1: string): string => `/exercises/${sha1}`,
};

function truncate(value: string): string {
  return value.length > 60 ? `${value.slice(0, 60)}…` : value;
}
