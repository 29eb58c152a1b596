/**
 * POST /submissions/<id> (docs/protocol.md §2): validate everything, store every file (and the archive, built from the
 * request), then the manifest, which is what makes the upload visible to the archive (docs/design.md "Archive on
 * upload").
 */

import { config } from '../config';
import { BadRequestError, ServiceUnavailableError } from '../errors';
import {
  expectedPutEtag,
  getObject,
  PARALLEL_REQUESTS,
  PreconditionFailed,
  putObject,
  readObjectBytes,
} from '../storage/store';
import { mapWithLimit } from '../util/concurrency';
import { describeError, log } from '../util/log';
import { putArchive, zipFromMemory } from './archive-zip';
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
  type CollisionRules,
  type Manifest,
  type ManifestFile,
  makeManifest,
  manifestDigest,
  mergeFiles,
  parseManifest,
  serializeManifest,
} from './manifest';
import { checkSubmissionBounds, MAX_MANIFEST_BYTES } from './submission-bounds';

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
    uploadRules(),
  );

  // No write ever lands on a file that a manifest lists, so a request that fails, or races another one for the same
  // id, leaves every stored submission (and any rebuild of its archive) exactly as it was. A file that replaces a
  // listed one goes to a fresh revision key. A new path takes its plain key, create-only: if another request wrote
  // it since the manifest was read, this file goes to a revision key too (S3 enforces `If-None-Match`; s3rver does
  // not, README "Limits"). One revision for the whole request, drawn only if a file needs it (a new submission has
  // none): before the writes when a file replaces a listed one, so that the archive below knows its key.
  const listed = new Set(previous?.manifest.files.map((file) => file.path));
  let revision = parts.some((part) => listed.has(part.field)) ? newRevision() : undefined;
  const planned = parts.map(
    (part): PlannedFile => ({
      part,
      ...(revision !== undefined && listed.has(part.field) ? { key: revisionFileKey(id, revision, part.field) } : {}),
    }),
  );
  const contents = new Map(parts.map((part) => [part.field, part.data]));
  // The files and the archive in one wave: the archive is built from the request's bytes, not from what S3 stores,
  // so it need not wait for the files (docs/benchmarks.md, "S3 round trips in a row").
  const archive = await archiveAlongside(previous, id, planned, contents);
  const writes = mapWithLimit(planned, PARALLEL_REQUESTS, async ({ part, key }): Promise<ManifestFile> => {
    const file = { path: part.field, size: part.data.length };
    if (key === undefined) {
      try {
        const { etag } = await putObject(submissionFileKey(id, part.field), part.data, { createOnly: true });
        return { ...file, etag };
      } catch (err) {
        if (!(err instanceof PreconditionFailed)) throw err;
      }
      revision ??= newRevision();
    }
    const revisionKey = key ?? revisionFileKey(id, revision as string, part.field);
    const { etag } = await putObject(revisionKey, part.data);
    return { ...file, etag, key: revisionKey };
  });
  // Both settled before anything is reported, so that no write of this request is still running when it answers.
  const [files] = await Promise.allSettled([writes, archive?.written]);
  if (files.status === 'rejected') throw files.reason;
  const stored = files.value;
  return commitManifest(id, previous, stored, uploadRules(), async (manifest) => {
    // The manifest is the one the archive was built for, unless another request changed the submission meanwhile
    // (or the store answered other ETags): then the archive is built again, for this manifest, before it is written.
    if (archive?.digest === manifestDigest(manifest)) return;
    await archiveFromRequest(previous, manifest, stored, contents);
  });
}

/** A file of the request and where it is planned to go: its plain key (create-only) unless `key` names a revision. */
interface PlannedFile {
  part: FilePart;
  key?: string;
}

/**
 * Builds the archive of the manifest this request plans to write, when the POST builds it at all
 * (`buildsArchive`), and starts its PUT: the manifest is made of the planned keys and the ETags the store will answer
 * (`expectedPutEtag`). Zipped before any write goes out (CPU only), so that its PUT goes out with the files'. Its
 * metadata names that manifest, which nothing serves until it is written: until then the archive is stale to every
 * reader (`isCurrent`), and if the request fails it stays stale (docs/design.md, "Archive on upload").
 */
async function archiveAlongside(
  previous: StoredManifest | undefined,
  id: string,
  planned: readonly PlannedFile[],
  contents: ReadonlyMap<string, Buffer>,
): Promise<{ digest: string; written: Promise<void> } | undefined> {
  // Only a request that holds every file of the submission: the manifest then lists exactly its files.
  const paths = new Set(planned.map(({ part }) => part.field));
  if (previous?.manifest.files.some((file) => !paths.has(file.path))) return undefined;
  const files = planned.map(
    ({ part, key }): ManifestFile => ({
      path: part.field,
      size: part.data.length,
      etag: expectedPutEtag(part.data),
      ...(key ? { key } : {}),
    }),
  );
  const manifest = makeManifest(id, files);
  if (!buildsArchive(previous, manifest, files)) return undefined;
  let zip: Buffer;
  const started = Date.now();
  try {
    zip = await zipFromMemory(manifest, config().archiveLayout, contents);
  } catch (err) {
    logArchiveFailure(id, err);
    return undefined;
  }
  const written = putArchive(manifest, config().archiveLayout, zip, started).catch((err: unknown) =>
    logArchiveFailure(id, err),
  );
  return { digest: manifestDigest(manifest), written };
}

/**
 * Builds the archive of `manifest` from the request's own bytes, before the manifest is written, when the POST builds
 * it (`buildsArchive`) but the one built alongside the files is not for this manifest: another request changed the
 * submission meanwhile, or the store answered other ETags than planned.
 */
async function archiveFromRequest(
  previous: StoredManifest | undefined,
  manifest: Manifest,
  stored: readonly ManifestFile[],
  contents: ReadonlyMap<string, Buffer>,
): Promise<void> {
  if (!buildsArchive(previous, manifest, stored)) return;
  try {
    const started = Date.now();
    const zip = await zipFromMemory(manifest, config().archiveLayout, contents);
    await putArchive(manifest, config().archiveLayout, zip, started);
  } catch (err) {
    logArchiveFailure(manifest.id, err);
  }
}

/**
 * Whether a POST builds the archive of `manifest` itself, from its own bytes (`ARCHIVE_IN_POST_MAX_BYTES`): then the
 * archiver, notified of the manifest, finds the archive current and reads nothing more (docs/benchmarks.md, "S3
 * requests per operation"). Only when the request holds every file the manifest lists (a new submission, or a
 * re-POST of all its files), within that bound, and when the archive it replaces is one a GET builds again
 * (`ARCHIVE_ON_DEMAND_MAX_BYTES`, `_FILES`): a POST that fails after its archive was written leaves that archive in
 * place of the previous one, stale, and the next GET builds the previous one again; a larger one would be left to the
 * archiver, which nothing would notify. A failure only costs that saving: the archiver builds the archive as before,
 * so it does not fail the upload.
 */
function buildsArchive(
  previous: StoredManifest | undefined,
  manifest: Manifest,
  fromRequest: readonly ManifestFile[],
): boolean {
  const { archiveInPostMaxBytes, onDemandBuildMaxBytes, onDemandBuildMaxFiles } = config();
  if (totalBytes(manifest) > archiveInPostMaxBytes) return false;
  if (
    previous &&
    (totalBytes(previous.manifest) > onDemandBuildMaxBytes || previous.manifest.files.length > onDemandBuildMaxFiles)
  ) {
    return false;
  }
  const mine = new Map(fromRequest.map((file) => [file.path, file]));
  return manifest.files.every((file) => {
    const own = mine.get(file.path);
    return own !== undefined && own.etag === file.etag && own.key === file.key;
  });
}

function totalBytes(manifest: Manifest): number {
  return manifest.files.reduce((sum, file) => sum + file.size, 0);
}

function logArchiveFailure(id: string, err: unknown): void {
  log('error', 'archive from the request failed; the archiver builds it', { submission: id, ...describeError(err) });
}

/**
 * The collision rules of a new upload (a POST, a grant, a completion): every real clash, and with
 * REFUSE_FOLDED_COLLISIONS also the paths that are one file on a case-insensitive or normalising file system
 * (docs/protocol.md §8.4). `migrate` does not take them: it stores what the old fileserver stored.
 */
export function uploadRules(): CollisionRules {
  return { folded: config().refuseFoldedCollisions };
}

/**
 * The files of submission `id` once `added` is merged over `existing`, if the result is still a valid submission:
 * no two paths that collide where the worker unpacks them by `rules` (400 `path-conflict`), and within the
 * submission's bounds (413, lib/fileserver/submission-bounds.ts). Every request that adds files checks this before it
 * writes anything, and `commitManifest` again on every attempt, against the manifest it is about to replace.
 */
export function mergeWithinBounds(
  id: string,
  existing: readonly ManifestFile[],
  added: readonly ManifestFile[],
  rules: CollisionRules,
): ManifestFile[] {
  const merged = mergeFiles(existing, added, rules);
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
  rules: CollisionRules,
  /** Runs before each attempt to write `manifest` (the POST builds the archive there). */
  beforeWrite?: (manifest: Manifest) => Promise<void>,
): Promise<SubmissionAnswer> {
  let current = previous;
  for (let attempt = 1; ; attempt++) {
    const manifest = makeManifest(id, mergeWithinBounds(id, current?.manifest.files ?? [], stored, rules));
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
