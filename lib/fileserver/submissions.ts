/**
 * POST /submissions/<id> (docs/protocol.md §2): validate everything, store every file, then the manifest, which is what
 * makes the upload visible to the archive (docs/design.md "Archive on upload").
 */

import { config } from '../config';
import { BadRequestError, ServiceUnavailableError } from '../errors';
import { getObject, PreconditionFailed, putObject, readObjectBytes } from '../storage/store';
import { mapWithLimit } from '../util/concurrency';
import { describeError, log } from '../util/log';
import { buildArchiveFromMemory } from './archive-zip';
import { type FilePart, rejectDuplicateFields } from './file-parts';
import {
  manifestKey,
  newRevision,
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
import { checkSubmissionBounds, MAX_MANIFEST_BYTES } from './submission-bounds';

/** Parallel S3 writes per request: enough to hide latency, few enough to stay far below S3's per-prefix rates. */
const WRITE_CONCURRENCY = 8;

export interface SubmissionAnswer {
  archive_path: string;
  result_path: string;
}

export async function storeSubmission(
  rawId: string,
  /** Reads the request's file parts; called once the id is known to be valid, so a bad id is reported first. */
  readParts: () => Promise<FilePart[]>,
): Promise<SubmissionAnswer> {
  const id = validateId(rawId, 'submission id');
  const parts = await readParts();
  if (parts.length === 0) {
    throw new BadRequestError(
      'no-files',
      'The request has no file parts; send each file as a part whose field name is its relative path.',
    );
  }
  rejectDuplicateFields(parts);
  for (const part of parts) validateSubmissionPath(part.field);

  const previous = await readStoredManifest(id);
  // Checked before any write: a re-POST that would clash with stored files, or take the submission past its bounds,
  // changes nothing.
  mergeWithinBounds(
    id,
    previous?.manifest.files ?? [],
    parts.map((part) => ({ path: part.field, size: part.data.length, etag: '' })),
  );

  // No write ever lands on a file that a manifest lists, so a request that fails, or races another one for the same
  // id, leaves every stored submission (and any rebuild of its archive) exactly as it was. A file that replaces a
  // listed one goes to a fresh revision key. A new path takes its plain key, create-only: if another request wrote
  // it since the manifest was read, this file goes to a revision key too (S3 enforces `If-None-Match`; s3rver does
  // not, README "Limits").
  const listed = new Set(previous?.manifest.files.map((file) => file.path));
  // One revision for the whole request, drawn only if a file needs it (a new submission has none).
  let revision: string | undefined;
  const stored = await mapWithLimit(parts, WRITE_CONCURRENCY, async (part): Promise<ManifestFile> => {
    const file = { path: part.field, size: part.data.length };
    if (!listed.has(part.field)) {
      try {
        const { etag } = await putObject(submissionFileKey(id, part.field), part.data, { createOnly: true });
        return { ...file, etag };
      } catch (err) {
        if (!(err instanceof PreconditionFailed)) throw err;
      }
    }
    revision ??= newRevision();
    const revisionKey = revisionFileKey(id, revision, part.field);
    const { etag } = await putObject(revisionKey, part.data);
    return { ...file, etag, key: revisionKey };
  });
  const contents = new Map(parts.map((part) => [part.field, part.data]));
  return commitManifest(id, previous, stored, (manifest) => archiveFromRequest(manifest, stored, contents));
}

/**
 * Builds the archive of `manifest` from the request's own bytes, before the manifest is written, when the request
 * holds every file the manifest lists (a new submission, or a re-POST of all its files) and they are at most
 * `ARCHIVE_IN_POST_MAX_BYTES`: then the archiver, notified
 * of the manifest, finds the archive current and reads nothing more (docs/benchmarks.md, "S3 requests per
 * operation"). Written before the manifest, so that the archiver never starts a build of its own meanwhile. A
 * failure only costs that saving: the archiver builds it as before, so it does not fail the upload.
 */
async function archiveFromRequest(
  manifest: Manifest,
  stored: readonly ManifestFile[],
  contents: ReadonlyMap<string, Buffer>,
): Promise<void> {
  const bytes = manifest.files.reduce((sum, file) => sum + file.size, 0);
  if (bytes > config().archiveInPostMaxBytes) return;
  const written = new Map(stored.map((file) => [file.path, file]));
  const fromRequest = manifest.files.every((file) => {
    const mine = written.get(file.path);
    return mine !== undefined && mine.etag === file.etag && mine.key === file.key;
  });
  if (!fromRequest) return;
  try {
    await buildArchiveFromMemory(manifest, config().archiveLayout, contents);
  } catch (err) {
    log('error', 'archive from the request failed; the archiver builds it', {
      submission: manifest.id,
      ...describeError(err),
    });
  }
}

/**
 * The files of submission `id` once `added` is merged over `existing`, if the result is still a valid submission:
 * no two paths that collide where the worker unpacks them (400 `path-conflict`), and within the submission's bounds
 * (413, lib/fileserver/submission-bounds.ts). Every request that adds files checks this before it writes anything, and
 * `commitManifest` again on every attempt, against the manifest it is about to replace.
 */
export function mergeWithinBounds(
  id: string,
  existing: readonly ManifestFile[],
  added: readonly ManifestFile[],
): ManifestFile[] {
  const merged = mergeFiles(existing, added);
  checkSubmissionBounds(id, merged);
  return merged;
}

/** A manifest as stored: its content and the ETag of that version, for a conditional replacement. */
export interface StoredManifest {
  manifest: Manifest;
  etag: string;
  lastModified: Date | undefined;
}

/**
 * Attempts at writing a manifest when other requests for the same id keep winning the race: each attempt re-reads
 * the manifest and merges into it, so a loser never drops what the winner committed.
 */
const MANIFEST_WRITE_ATTEMPTS = 5;

/**
 * Writes the manifest that lists `stored` merged over `previous`, once every listed file is in storage. Its
 * creation triggers the archive; until this write succeeds, the archive still reflects the previous manifest.
 *
 * The write is conditional on the manifest read (`If-Match` its ETag, or `If-None-Match: *` for a first upload), so
 * two requests that complete at once (two batches of one large upload, two re-POSTs) cannot silently drop each
 * other's files: the one that loses re-reads the manifest, merges its files again, and writes once more. Each merge
 * is checked (`mergeWithinBounds`), so two requests that each fit alone cannot together pass a bound: the loser is
 * refused then. Its files stay behind under keys no manifest lists, invisible to the archive.
 */
export async function commitManifest(
  id: string,
  previous: StoredManifest | undefined,
  stored: readonly ManifestFile[],
  /** Runs before each attempt to write `manifest` (the POST builds the archive there). */
  beforeWrite?: (manifest: Manifest) => Promise<void>,
): Promise<SubmissionAnswer> {
  let current = previous;
  for (let attempt = 1; ; attempt++) {
    const manifest = makeManifest(id, mergeWithinBounds(id, current?.manifest.files ?? [], stored));
    await beforeWrite?.(manifest);
    try {
      await writeManifest(manifest, current);
      return { archive_path: publicPath.archive(id), result_path: publicPath.result(id) };
    } catch (err) {
      if (!(err instanceof PreconditionFailed)) throw err;
      if (attempt === MANIFEST_WRITE_ATTEMPTS) {
        throw new ServiceUnavailableError(
          'submission-busy',
          `Other uploads to submission ${id} kept changing it while this one was being recorded; retry the request.`,
          { cause: err },
        );
      }
      current = await readStoredManifest(id);
    }
  }
}

/**
 * Writes `manifest` only over the version `over` names (`If-Match` its ETag), or only where none exists yet
 * (`If-None-Match: *`); `PreconditionFailed` when another request wrote the manifest since. Every write of a
 * manifest notifies the archiver.
 */
export async function writeManifest(manifest: Manifest, over: StoredManifest | undefined): Promise<void> {
  await putObject(manifestKey(manifest.id), Buffer.from(serializeManifest(manifest)), {
    contentType: 'application/json',
    ...(over ? { ifMatch: over.etag } : { createOnly: true }),
  });
}

/** The current manifest of a submission, or `undefined` if the id was never uploaded. */
export async function readManifest(id: string): Promise<Manifest | undefined> {
  return (await readStoredManifest(id))?.manifest;
}

/** The current manifest with the ETag of its version, or `undefined` if the id was never uploaded. */
export async function readStoredManifest(id: string): Promise<StoredManifest | undefined> {
  const key = manifestKey(id);
  const object = await getObject(key);
  if (!object) return undefined;
  const text = (await readObjectBytes(key, object, MAX_MANIFEST_BYTES)).toString('utf8');
  return { manifest: parseManifest(text, id), etag: object.etag, lastModified: object.lastModified };
}
