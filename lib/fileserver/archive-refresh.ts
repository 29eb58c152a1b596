/**
 * The S3-triggered side of archives: S3 notifies the archiver of each manifest written by POST /submissions, and
 * it brings that submission's archive up to date (docs/design.md "Archive on upload").
 *
 * S3 delivers notifications at least once, unordered, sometimes a minute late, with URL-encoded keys. So a record
 * only names the submission; what is built is always the submission's *current* manifest, and nothing is built if
 * the stored archive already matches it. A duplicate or stale record therefore does nothing.
 */

import type { ArchiveLayout } from '../config';
import { ServiceUnavailableError } from '../errors';
import { headObject, type ObjectInfo, PreconditionFailed } from '../storage/store';
import { buildArchive, isCurrent } from './archive-zip';
import { archiveKey } from './keys';
import { manifestDigest } from './manifest';
import { readStoredManifest, type StoredManifest, writeManifest } from './submissions';

export type ArchiveOutcome = 'current' | 'built' | 'no-manifest';

/**
 * Rounds of build-and-recheck. A POST that lands during a build makes the build stale; the next round builds the
 * newer manifest, so a slower build of an older manifest cannot leave the older archive in place.
 */
const MAX_ROUNDS = 3;

export async function archiveCurrentManifest(
  id: string,
  layout: ArchiveLayout,
  options: {
    /**
     * Build only submissions up to this many bytes; a larger one answers 503 `archive-pending` instead. An HTTP
     * function has API Gateway's 29 s, and an archive of hundreds of megabytes takes longer to build: the archiver
     * (15 minutes) is building it already, and a second build would only race it and leave a dead upload behind.
     */
    maxBuildBytes?: number;
    /** Build only submissions of up to this many files (each is one S3 read); more answer 503 `archive-pending`. */
    maxBuildFiles?: number;
  } = {},
): Promise<ArchiveOutcome> {
  return (await bringArchiveUpToDate(id, layout, { ...options, look: headObject })).outcome;
}

/**
 * `archiveCurrentManifest`, looking at the stored archive with `look` (a HEAD, or the GET that will serve it), and
 * answering what it saw when that is current, so that the archive route serves it without asking again
 * (docs/benchmarks.md, "S3 requests per operation"). After a build of its own, `archive` is undefined: read it anew.
 */
export async function bringArchiveUpToDate<T extends ObjectInfo>(
  id: string,
  layout: ArchiveLayout,
  options: {
    maxBuildBytes?: number;
    maxBuildFiles?: number;
    look: (key: string) => Promise<T | undefined>;
    /** Releases what `look` answered when it is not used (an open body). */
    release?: (found: T) => void;
  },
): Promise<{ outcome: ArchiveOutcome; archive: T | undefined }> {
  let outcome: ArchiveOutcome = 'current';
  // The manifest read after a build, which the next round starts from instead of reading it again.
  let known: StoredManifest | undefined;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // The manifest and the archive at once, one round trip: the archive's metadata names the manifest it was built
    // from, so whichever versions the two reads see, a current pair is one to serve, and any other archive is only
    // released (docs/benchmarks.md, "S3 round trips in a row"). After a build, the manifest is the one read then.
    const [stored, archive] = known
      ? [known, await options.look(archiveKey(id))]
      : await both(readStoredManifest(id), options.look(archiveKey(id)), options.release);
    if (!stored) {
      if (archive) options.release?.(archive);
      return { outcome: 'no-manifest', archive: undefined };
    }
    const { manifest } = stored;
    if (isCurrent(archive, manifest, layout)) return { outcome, archive };
    if (archive) options.release?.(archive);
    const bytes = manifest.files.reduce((sum, file) => sum + file.size, 0);
    const tooLarge = options.maxBuildBytes !== undefined && bytes > options.maxBuildBytes;
    const tooMany = options.maxBuildFiles !== undefined && manifest.files.length > options.maxBuildFiles;
    if (tooLarge || tooMany) {
      await retriggerIfStale(stored);
      const pending = new ServiceUnavailableError(
        'archive-pending',
        `The archive of submission ${id} (${manifest.files.length} files, ${bytes} bytes) is being built; retry in ` +
          'a few seconds.',
      );
      pending.headers['Retry-After'] = '5';
      throw pending;
    }
    await buildArchive(manifest, layout);
    outcome = 'built';
    // Did a POST land during the build? Then the archive just written is stale, and the next round builds the newer
    // manifest: a slow build of an older manifest must not leave its archive behind the newer one's.
    known = await readStoredManifest(id);
    if (!known || manifestDigest(known.manifest) === manifestDigest(manifest)) return { outcome, archive: undefined };
  }
  throw new Error(`The submission ${id} kept changing during ${MAX_ROUNDS} archive builds; retry later.`);
}

/**
 * Both reads' answers once both have settled; if either failed, its error, with what the other one answered
 * released (an open body is not left to the garbage collector).
 */
async function both<T extends ObjectInfo>(
  manifest: Promise<StoredManifest | undefined>,
  archive: Promise<T | undefined>,
  release: ((found: T) => void) | undefined,
): Promise<[StoredManifest | undefined, T | undefined]> {
  const [read, looked] = await Promise.allSettled([manifest, archive]);
  if (read.status === 'fulfilled' && looked.status === 'fulfilled') return [read.value, looked.value];
  if (looked.status === 'fulfilled' && looked.value) release?.(looked.value);
  throw read.status === 'rejected' ? read.reason : (looked as PromiseRejectedResult).reason;
}

/**
 * The archiver's Lambda timeout (serverless.yml, 15 minutes): a manifest younger than this may still have its build
 * running; an older one with no current archive has none (the archive expired, the layout changed, or every
 * attempt failed).
 */
export const ARCHIVER_TIMEOUT_MS = 15 * 60 * 1000;

/**
 * Starts the archiver again for a submission whose archive is missing or stale and whose manifest is older than a
 * build can take, by writing the same manifest again: S3 notifies the archiver of the new version, as of any
 * upload. The write is conditional on the version read (a newer POST notifies anyway), and it renews the manifest's
 * date, so the GETs that follow within the next 15 minutes start nothing more.
 */
async function retriggerIfStale(stored: StoredManifest): Promise<void> {
  const age = Date.now() - (stored.lastModified?.getTime() ?? 0);
  if (age < ARCHIVER_TIMEOUT_MS) return;
  try {
    await writeManifest(stored.manifest, stored);
  } catch (err) {
    if (!(err instanceof PreconditionFailed)) throw err;
  }
}
