/**
 * POST /submissions/<id> (PROTOCOL.md §2): validate everything, store every file, then the manifest, which is what
 * makes the upload visible to the archive (shared/DESIGN.md "Archive on upload").
 */
import { randomBytes } from 'node:crypto';
import { mapWithLimit } from './concurrency';
import { BadRequestError } from './errors';
import {
  manifestKey,
  publicPath,
  revisionFileKey,
  submissionFileKey,
  validateId,
  validateSubmissionPath,
} from './keys';
import {
  type Manifest,
  type ManifestFile,
  makeManifest,
  mergeFiles,
  parseManifest,
  serializeManifest,
} from './manifest';
import { parseFileParts, rejectDuplicateFields } from './multipart';
import { getObject, putObject } from './storage';
import { readSmall } from './streams';

/** Parallel S3 writes per request: enough to hide latency, few enough to stay far below S3's per-prefix rates. */
const WRITE_CONCURRENCY = 8;
/** A manifest lists at most 10,000 files of ≤ 800-byte paths; anything larger is not one of ours. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export interface SubmissionAnswer {
  archive_path: string;
  result_path: string;
}

export async function storeSubmission(
  rawId: string,
  contentType: string | undefined,
  body: Buffer,
): Promise<SubmissionAnswer> {
  const id = validateId(rawId, 'submission id');
  const parts = await parseFileParts(contentType, body);
  if (parts.length === 0) {
    throw new BadRequestError(
      'no-files',
      'The request has no file parts; send each file as a part whose field name is its relative path.',
    );
  }
  rejectDuplicateFields(parts);
  for (const part of parts) validateSubmissionPath(part.field);

  const previous = await readManifest(id);
  // Checked before any write: a re-POST that would clash with stored files changes nothing.
  mergeFiles(
    previous?.files ?? [],
    parts.map((part) => ({ path: part.field, size: part.data.length, etag: '' })),
  );

  // A file that replaces a listed one goes to a fresh revision key, never over the file the current manifest lists:
  // if this request fails before its manifest is written, the stored submission (and any rebuild of its archive)
  // stays exactly as it was. New paths are not listed anywhere yet, so they take their plain key.
  const listed = new Set(previous?.files.map((file) => file.path));
  const revision = randomBytes(8).toString('hex');
  const stored = await mapWithLimit(parts, WRITE_CONCURRENCY, async (part): Promise<ManifestFile> => {
    const key = listed.has(part.field) ? revisionFileKey(id, revision, part.field) : undefined;
    const { etag } = await putObject(key ?? submissionFileKey(id, part.field), part.data);
    return { path: part.field, size: part.data.length, etag, ...(key ? { key } : {}) };
  });
  return commitManifest(id, previous, stored);
}

/**
 * Writes the manifest that lists `stored` (merged over `previous`), once every listed file is in storage. Its
 * creation triggers the archive; until this write succeeds, the archive still reflects the previous manifest.
 */
export async function commitManifest(
  id: string,
  previous: Manifest | undefined,
  stored: readonly ManifestFile[],
): Promise<SubmissionAnswer> {
  const manifest = makeManifest(id, mergeFiles(previous?.files ?? [], stored));
  await putObject(manifestKey(id), Buffer.from(serializeManifest(manifest)), { contentType: 'application/json' });
  return { archive_path: publicPath.archive(id), result_path: publicPath.result(id) };
}

/** The current manifest of a submission, or `undefined` if the id was never uploaded. */
export async function readManifest(id: string): Promise<Manifest | undefined> {
  const object = await getObject(manifestKey(id));
  if (!object) return undefined;
  const text = (await readSmall(object.body, MAX_MANIFEST_BYTES)).toString('utf8');
  return parseManifest(text, id);
}
