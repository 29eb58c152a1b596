/**
 * `verify [--repair]`: checks the bucket against what the service promises (docs/operations.md, "verify"):
 * - every exercise file hashes (SHA-1, streamed) to the name of its key, and its key is `tasks/<sha1[0]>/<sha1>`;
 * - every manifest can be read, and every file it lists is stored with the listed size and ETag;
 * - every archive that is present was built from its submission's current manifest, in the configured layout
 *   (the archive's metadata, which is how the service itself decides whether an archive is current).
 * `--repair` builds stale and missing archives with the service's own archive code (lib/fileserver/archive-refresh.ts); nothing else
 * is repairable from the bucket alone: a damaged file needs its original (migrate it again from the old folder).
 */
import { createHash } from 'node:crypto';
import { type ArchiveLayout, config } from '../config';
import { archiveCurrentManifest } from '../fileserver/archive-refresh';
import { isCurrent } from '../fileserver/archive-zip';
import { archiveKey, PREFIX, submissionFileKey, submissionIdOfManifestKey } from '../fileserver/keys';
import { readStoredManifest } from '../fileserver/submissions';
import { eachObject, getObject, headObject, type ListedObject } from '../storage/store';
import { forEachWithLimit, mapWithLimit } from '../util/concurrency';
import { type CommandResult, type Io, reportTarget, type StopSignal } from './io';
import { formatBytes, startProgress } from './progress';

/** HEAD requests in flight for one manifest's files (the manifests themselves run `--concurrency` at once). */
const FILE_CHECKS_PER_MANIFEST = 4;

export interface Problem {
  code:
    | 'exercise-hash-mismatch'
    | 'unexpected-key'
    | 'manifest-unreadable'
    | 'missing-file'
    | 'size-mismatch'
    | 'etag-mismatch'
    | 'stale-archive'
    | 'repair-failed'
    | 'check-failed';
  key: string;
  message: string;
  /** Set by `--repair` when it fixed this problem. */
  repaired?: boolean;
}

export interface VerifyOptions {
  repair: boolean;
  concurrency: number;
  layout: ArchiveLayout;
  quiet?: boolean;
}

export async function verify(options: VerifyOptions, io: Io, stop: StopSignal): Promise<CommandResult> {
  const startedAt = new Date();
  const problems: Problem[] = [];
  const checked = { exerciseFiles: 0, exerciseBytes: 0, manifests: 0, files: 0 };
  const archives = { current: 0, stale: 0, missing: 0, built: 0 };
  const progress = startProgress('verify', { files: 0, bytes: 0 }, io.stderr, { quiet: options.quiet });
  try {
    await forEachWithLimit(
      eachObject(PREFIX.tasks),
      options.concurrency,
      async (object) => {
        await checkOrReport(object.key, problems, () => checkExerciseFile(object, problems));
        checked.exerciseFiles++;
        checked.exerciseBytes += object.size;
        progress.add(1, object.size);
      },
      () => stop.stopped,
    );
    await forEachWithLimit(
      eachObject(PREFIX.manifests),
      options.concurrency,
      async (object) => {
        const id = submissionIdOfManifestKey(object.key);
        if (!id) {
          problems.push({ code: 'unexpected-key', key: object.key, message: 'not the manifest of a valid id' });
          return;
        }
        checked.manifests++;
        await checkOrReport(object.key, problems, () => checkSubmission(id, options, problems, checked, archives));
        progress.add(1, object.size);
      },
      () => stop.stopped,
    );
  } finally {
    progress.stop();
  }
  const open = problems.filter((p) => !p.repaired);
  const ok = open.length === 0 && !stop.stopped;
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const summary = [
    `verify${options.repair ? ' --repair' : ''} of bucket ${config().bucket}${stop.stopped ? ' (interrupted)' : ''}`,
    `  exercise files: ${checked.exerciseFiles} re-hashed (${formatBytes(checked.exerciseBytes)})`,
    `  submissions:    ${checked.manifests} manifests, ${checked.files} files checked`,
    `  archives:       ${archives.current} current, ${archives.stale} stale, ${archives.missing} missing` +
      `${options.repair ? `, ${archives.built} built` : ''}`,
    ...problems.map((p) => `  ${p.repaired ? 'repaired' : 'PROBLEM'} ${p.code} ${p.key}: ${p.message}`),
    ...(archives.missing > 0 && !options.repair
      ? [
          '  (a missing archive is no damage: archives expire and are rebuilt on the next GET; --repair builds them now)',
        ]
      : []),
    `${seconds.toFixed(1)} s; result: ${ok ? 'OK' : `${open.length} problems`}`,
  ];
  return {
    exitCode: ok ? 0 : 1,
    summary,
    report: {
      command: 'verify',
      ...reportTarget(),
      layout: options.layout,
      repair: options.repair,
      interrupted: stop.stopped,
      startedAt: startedAt.toISOString(),
      seconds,
      checked,
      archives,
      problems,
      ok,
    },
  };
}

/**
 * Runs one check; a check that cannot be made (storage failing after its retries, an object cut short) is reported
 * as `check-failed` for that key, and the run goes on.
 */
async function checkOrReport(key: string, problems: Problem[], check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (err) {
    problems.push({ code: 'check-failed', key, message: `could not be checked: ${(err as Error).message}` });
  }
}

const TASK_KEY = /^tasks\/([0-9a-f])\/([0-9a-f]{40})$/;

async function checkExerciseFile(object: ListedObject, problems: Problem[]): Promise<void> {
  const match = TASK_KEY.exec(object.key);
  if (!match || match[2]?.[0] !== match[1]) {
    problems.push({ code: 'unexpected-key', key: object.key, message: 'not tasks/<sha1[0]>/<sha1>' });
    return;
  }
  const expected = match[2] as string;
  const stored = await getObject(object.key);
  if (!stored) return; // deleted since it was listed
  const hash = createHash('sha1');
  for await (const chunk of stored.body) hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  if (actual !== expected) {
    problems.push({
      code: 'exercise-hash-mismatch',
      key: object.key,
      message: `its ${stored.size} bytes hash to ${actual}; every job that names this hash gets the wrong file`,
    });
  }
}

async function checkSubmission(
  id: string,
  options: VerifyOptions,
  problems: Problem[],
  checked: { files: number },
  archives: { current: number; stale: number; missing: number; built: number },
): Promise<void> {
  let stored: Awaited<ReturnType<typeof readStoredManifest>>;
  try {
    stored = await readStoredManifest(id);
  } catch (err) {
    problems.push({ code: 'manifest-unreadable', key: `${PREFIX.manifests}${id}.json`, message: String(err) });
    return;
  }
  if (!stored) return; // deleted since it was listed
  const { manifest } = stored;
  let filesOk = true;
  await mapWithLimit(manifest.files, FILE_CHECKS_PER_MANIFEST, async (file) => {
    const key = file.key ?? submissionFileKey(id, file.path);
    const head = await headObject(key);
    checked.files++;
    const problem = (code: Problem['code'], message: string): void => {
      filesOk = false;
      problems.push({ code, key, message: `${message} (file ${file.path} of submission ${id})` });
    };
    if (!head) problem('missing-file', 'listed in the manifest, not stored');
    else if (head.size !== file.size)
      problem('size-mismatch', `stored with ${head.size} bytes, listed with ${file.size}`);
    else if (head.etag !== file.etag) problem('etag-mismatch', `stored as ${head.etag}, listed as ${file.etag}`);
  });
  const archive = await headObject(archiveKey(id));
  const stale = archive !== undefined && !isCurrent(archive, manifest, options.layout);
  if (!archive) archives.missing++;
  else if (stale) archives.stale++;
  else archives.current++;
  const problem: Problem | undefined = stale
    ? {
        code: 'stale-archive',
        key: archiveKey(id),
        message: `not built from the current manifest in the ${options.layout} layout`,
      }
    : undefined;
  if (problem) problems.push(problem);
  if (!options.repair || (archive && !stale)) return;
  if (!filesOk) {
    // An archive needs every listed file; the damage above is what to fix first (migrate the submission again).
    if (problem) problem.message += '; not rebuilt, because files of the submission are missing or changed';
    return;
  }
  try {
    await archiveCurrentManifest(id, options.layout);
    archives.built++;
    if (problem) problem.repaired = true;
  } catch (err) {
    problems.push({ code: 'repair-failed', key: archiveKey(id), message: String(err) });
  }
}
