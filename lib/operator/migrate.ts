/**
 * `migrate --from DIR`: copies the storage folder of the old fileserver into the bucket, in this service's key
 * layout, through the code the handlers use: lib/fileserver/keys.ts names and validates every key, exercise files take the
 * create-only write with S3's SHA-1 check (lib/fileserver/exercises.ts), a submission's files and manifest are written as a
 * POST writes them (lib/fileserver/submissions.ts), so its archive is built as after a POST (docs/operations.md).
 *
 * Idempotent and resumable: whatever is stored already with the same bytes (by size and ETag, or by hash for
 * exercise files) is skipped, and a submission becomes visible only with its manifest, written after its files, so a
 * run killed midway and run again ends with every item whole.
 */
import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { config } from '../config';
import { HttpError } from '../errors';
import { putExerciseFile, uploadExerciseFile } from '../fileserver/exercises';
import {
  attachmentKey,
  newRevision,
  parseSha1,
  resultKey,
  revisionFileKey,
  submissionFileKey,
  taskKey,
  validateId,
  validateSubmissionPath,
} from '../fileserver/keys';
import { EXACT_COLLISIONS, type ManifestFile } from '../fileserver/manifest';
import { resultContentType } from '../fileserver/results';
import { commitManifest, mergeWithinBounds, readStoredManifest } from '../fileserver/submissions';
import {
  deleteObject,
  headObject,
  PreconditionFailed,
  putObject,
  UPLOAD_PART_SIZE,
  uploadStream,
} from '../storage/store';
import { forEachWithLimit } from '../util/concurrency';
import { digestBytes, digestFile, type FileDigest, sameContent } from './digests';
import { type CommandResult, type Io, reportTarget, type StopSignal } from './io';
import { countFiles, type OldItem, type OldKind, oldItems, type SubmissionFile, submissionFiles } from './old-layout';
import { formatBytes, startProgress } from './progress';
import { copyUnchanged, FileChangedError, type Reading } from './unchanged';

/** Files up to one upload part are read whole and written with one PutObject, as the handlers write them. */
const SINGLE_PUT_MAX_BYTES = UPLOAD_PART_SIZE;

export interface MigrateOptions {
  from: string;
  dryRun: boolean;
  concurrency: number;
  quiet?: boolean;
}

type Outcome = 'copied' | 'skipped' | 'refused' | 'failed';

interface Tally {
  items: number;
  files: number;
  bytes: number;
}

interface Listed {
  kind: OldKind;
  path: string;
  code: string;
  reason: string;
  /** A submission refused as a whole: each of its files that cannot be stored, with its own reason. */
  files?: FileProblem[];
}

/** One file of a submission that cannot be stored, and why (the codes of POST /submissions). */
interface FileProblem {
  path: string;
  code: string;
  reason: string;
}

const KINDS: OldKind[] = ['exercise', 'submission', 'result', 'attachment', 'archive', 'other'];
const OUTCOMES: Outcome[] = ['copied', 'skipped', 'refused', 'failed'];

class MigrationReport {
  readonly byKind = Object.fromEntries(
    KINDS.map((kind) => [kind, Object.fromEntries(OUTCOMES.map((o) => [o, { items: 0, files: 0, bytes: 0 }]))]),
  ) as Record<OldKind, Record<Outcome, Tally>>;
  readonly skippedWhy: Record<string, number> = {};
  readonly refused: Listed[] = [];
  readonly failed: Listed[] = [];

  count(kind: OldKind, outcome: Outcome, files: number, bytes: number): void {
    const tally = this.byKind[kind][outcome];
    tally.items++;
    tally.files += files;
    tally.bytes += bytes;
  }

  skip(kind: OldKind, why: string, files: number, bytes: number): void {
    this.count(kind, 'skipped', files, bytes);
    this.skippedWhy[why] = (this.skippedWhy[why] ?? 0) + 1;
  }

  /**
   * Files and bytes of an item counted under `outcome` without counting the item itself: the files of a copied
   * submission that were stored already (by an earlier run, or by a run killed before its manifest) are skipped, so
   * that every file of the folder counts once, as copied, skipped, refused or failed.
   */
  countFiles(kind: OldKind, outcome: Outcome, files: number, bytes: number): void {
    const tally = this.byKind[kind][outcome];
    tally.files += files;
    tally.bytes += bytes;
  }

  refuse(item: OldItem, code: string, reason: string, files: number, bytes: number, problems?: FileProblem[]): void {
    this.count(item.kind, 'refused', files, bytes);
    this.refused.push({ kind: item.kind, path: item.path, code, reason, ...(problems ? { files: problems } : {}) });
  }

  fail(item: OldItem, err: unknown, files: number, bytes: number): void {
    this.count(item.kind, 'failed', files, bytes);
    const reason = err instanceof Error ? err.message : String(err);
    this.failed.push({ kind: item.kind, path: item.path, code: 'failed', reason });
  }

  total(outcome: Outcome): Tally {
    const sum = { items: 0, files: 0, bytes: 0 };
    for (const kind of KINDS) {
      const tally = this.byKind[kind][outcome];
      sum.items += tally.items;
      sum.files += tally.files;
      sum.bytes += tally.bytes;
    }
    return sum;
  }
}

/** What one item did: its outcome is counted by the caller, with the files and bytes it covered. */
interface Done {
  files: number;
  bytes: number;
}

export async function migrate(options: MigrateOptions, io: Io, stop: StopSignal): Promise<CommandResult> {
  const startedAt = new Date();
  const report = new MigrationReport();
  const totals = await countFiles(options.from);
  const progress = startProgress(options.dryRun ? 'migrate (dry run)' : 'migrate', totals, io.stderr, {
    quiet: options.quiet,
  });
  const context: Context = { dryRun: options.dryRun, report };
  try {
    await forEachWithLimit(
      oldItems(options.from),
      options.concurrency,
      async (item) => {
        const done = await migrateItem(item, context);
        progress.add(done.files, done.bytes);
      },
      () => stop.stopped,
    );
  } catch (err) {
    // The walk itself failed (a folder that cannot be read): reported, and the run ends here; items are per-item.
    report.fail({ kind: 'other', path: '.', absolute: options.from, name: '.' }, err, 0, 0);
  } finally {
    progress.stop();
  }
  const finishedAt = new Date();
  const seconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  const copied = report.total('copied');
  const skipped = report.total('skipped');
  const refused = report.total('refused');
  const failed = report.total('failed');
  const processed = { files: 0, bytes: 0 };
  for (const t of [copied, skipped, refused, failed]) {
    processed.files += t.files;
    processed.bytes += t.bytes;
  }
  const ok = refused.items === 0 && failed.items === 0 && !stop.stopped;
  const verb = options.dryRun ? 'would copy' : 'copied';
  const summary = [
    `migrate ${options.dryRun ? '(dry run) ' : ''}from ${options.from} to bucket ${config().bucket}` +
      `${stop.stopped ? ' (interrupted: run it again to finish)' : ''}`,
    ...KINDS.filter((kind) => OUTCOMES.some((o) => report.byKind[kind][o].items > 0)).map((kind) => {
      const t = report.byKind[kind];
      return `  ${`${kind}s:`.padEnd(13)} ${verb} ${describe(kind, t.copied)}, skipped ${t.skipped.items}, refused ${t.refused.items}, failed ${t.failed.items}`;
    }),
    ...Object.entries(report.skippedWhy).map(([why, n]) => `  skipped ${n}: ${why}`),
    ...report.refused.flatMap((r) => [
      `  refused ${r.path}: ${r.reason}`,
      ...(r.files ?? []).slice(0, 20).map((f) => `    ${f.path}: ${f.code}: ${f.reason}`),
      ...((r.files?.length ?? 0) > 20
        ? [`    … and ${(r.files?.length ?? 0) - 20} more (all in the JSON report)`]
        : []),
    ]),
    ...report.failed.map((r) => `  FAILED ${r.path}: ${r.reason}`),
    copied.items === 0 && !options.dryRun
      ? `nothing copied: the bucket already held everything that could be copied (${skipped.items} items skipped)`
      : `${verb} ${copied.files} files (${formatBytes(copied.bytes)})`,
    `${processed.files} files (${formatBytes(processed.bytes)}) in ${seconds.toFixed(1)} s: ` +
      `${Math.round(processed.files / Math.max(seconds, 0.001))} files/s, ` +
      `${formatBytes(processed.bytes / Math.max(seconds, 0.001))}/s`,
    ok
      ? 'result: OK'
      : `result: ${refused.items} refused, ${failed.items} failed${stop.stopped ? ', interrupted' : ''}`,
  ];
  return {
    exitCode: ok ? 0 : 1,
    summary,
    report: {
      command: 'migrate',
      from: options.from,
      ...reportTarget(),
      dryRun: options.dryRun,
      interrupted: stop.stopped,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      seconds,
      folder: totals,
      totals: { copied, skipped, refused, failed },
      byKind: report.byKind,
      skippedWhy: report.skippedWhy,
      refused: report.refused,
      failed: report.failed,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      ok,
    },
  };
}

function describe(kind: OldKind, tally: Tally): string {
  return kind === 'submission' ? `${tally.items} (${tally.files} files)` : `${tally.items}`;
}

interface Context {
  dryRun: boolean;
  report: MigrationReport;
}

async function migrateItem(item: OldItem, context: Context): Promise<Done> {
  const { report } = context;
  if (item.kind === 'other') {
    report.skip('other', "not part of the old fileserver's layout", 0, 0);
    return { files: 0, bytes: 0 };
  }
  if (item.misplaced) {
    report.refuse(item, 'unexpected-entry', item.misplaced, 0, 0);
    return { files: 0, bytes: 0 };
  }
  if (item.kind === 'submission') return migrateSubmission(item, context);
  let size = 0;
  try {
    // A file can vanish or become unreadable between the walk and now: that item fails, the run goes on.
    size = (await lstat(item.absolute)).size;
    if (item.kind === 'archive') {
      report.skip('archive', 'submission archives are not copied: they are rebuilt from the files', 1, size);
      return { files: 1, bytes: size };
    }
    const outcome =
      item.kind === 'exercise' ? await migrateExercise(item, context) : await migrateObject(item, context);
    // The size of the copy that counted: the file may have changed since the walk.
    size = outcome.size ?? size;
    if (outcome.outcome === 'skipped') report.skip(item.kind, outcome.why, 1, size);
    else if (outcome.outcome === 'refused') report.refuse(item, outcome.code, outcome.why, 1, size);
    else report.count(item.kind, 'copied', 1, size);
  } catch (err) {
    report.fail(item, err, 1, size);
  }
  return { files: 1, bytes: size };
}

type FileOutcome = (
  | { outcome: 'copied'; wrote?: string }
  | { outcome: 'skipped'; why: string }
  | { outcome: 'refused'; code: string; why: string }
) & { size?: number };

/** What a copy that saw its file change wrote, removed: bytes read across a change may never have existed. */
async function removeWritten(outcome: { outcome: string; wrote?: string }): Promise<void> {
  if (outcome.outcome === 'copied' && outcome.wrote) await deleteObject(outcome.wrote);
}

/**
 * An exercise file: its name must be the SHA-1 of its content (computed while reading it). A hash already stored
 * with this size is skipped; content that does not match its name is refused and stored under no name.
 */
async function migrateExercise(item: OldItem, context: Context): Promise<FileOutcome> {
  let sha1: string;
  try {
    sha1 = parseSha1(item.name);
  } catch (err) {
    return { outcome: 'refused', code: 'invalid-hash', why: (err as Error).message };
  }
  // No undo: a create-only write under the hash of its content cannot store bytes that never existed (S3 checks
  // the SHA-1, lib/fileserver/exercises.ts); a read across a change fails that check, and is made again.
  return copyUnchanged(item.absolute, async ({ size, checkpoint }): Promise<FileOutcome> => {
    const stored = await headObject(taskKey(sha1));
    if (stored && stored.size === size) return { outcome: 'skipped', why: 'already stored', size };
    const small = size <= SINGLE_PUT_MAX_BYTES;
    const data = small ? await readFile(item.absolute) : undefined;
    const digest = data ? digestBytes(data) : await digestFile(item.absolute);
    await checkpoint();
    if (digest.sha1 !== sha1) {
      return {
        outcome: 'refused',
        code: 'hash-mismatch',
        why: `its content hashes to ${digest.sha1}, not to its name; not uploaded`,
        size,
      };
    }
    if (context.dryRun) return { outcome: 'copied', size };
    const created = data
      ? await putExerciseFile(sha1, data)
      : await uploadExerciseFile(sha1, createReadStream(item.absolute));
    if (!created) {
      // Create-only: S3 refused because the hash is stored. With this size it was a concurrent upload of these
      // bytes; with another size the stored object is damaged, and only `verify` and a deliberate delete replace it.
      const now = await headObject(taskKey(sha1));
      if (now && now.size !== size) {
        throw new Error(
          `${taskKey(sha1)} is stored with ${now.size} bytes, this file has ${size}: the stored object is damaged (run verify)`,
        );
      }
      return { outcome: 'skipped', why: 'already stored', size };
    }
    return { outcome: 'copied', size };
  });
}

/**
 * A result or an attachment: byte for byte, skipped when an object with the same size and ETag is stored. A file
 * read whole is checked unchanged before it is written; a streamed one after, and its object removed if it changed.
 */
async function migrateObject(item: OldItem, context: Context): Promise<FileOutcome> {
  let key: string;
  try {
    key = item.kind === 'result' ? resultKey(item.name) : attachmentKey(item.name);
  } catch (err) {
    return { outcome: 'refused', code: 'invalid-id', why: (err as Error).message };
  }
  const contentType = item.kind === 'result' ? resultContentType(item.name) : 'application/octet-stream';
  return copyUnchanged(
    item.absolute,
    async ({ size, checkpoint }): Promise<FileOutcome> => {
      const small = size <= SINGLE_PUT_MAX_BYTES;
      const data = small ? await readFile(item.absolute) : undefined;
      const stored = await headObject(key);
      if (stored && stored.size === size) {
        const digest = data ? digestBytes(data) : await digestFile(item.absolute);
        await checkpoint();
        if (sameContent(stored.etag, digest)) return { outcome: 'skipped', why: 'already stored', size };
      }
      if (context.dryRun) return { outcome: 'copied', size };
      if (data) {
        await checkpoint();
        await putObject(key, data, { contentType });
      } else {
        await uploadStream(key, createReadStream(item.absolute), { contentType });
      }
      return { outcome: 'copied', wrote: key, size };
    },
    removeWritten,
  );
}

/**
 * Every file of a submission that cannot be stored, with its reason: a link or device, a name that is not UTF-8, a
 * path POST /submissions refuses (lib/fileserver/keys.ts). Only rules that decide whether a file can be stored and
 * unpacked at all apply; none that only protects new uploads (docs/operations.md, "What is refused, and why").
 */
function fileProblems(files: readonly SubmissionFile[], irregular: readonly string[], undecodable: readonly string[]) {
  const problems: FileProblem[] = [
    ...irregular.map((path) => ({ path, code: 'not-a-file', reason: 'is not a regular file (a link or a device)' })),
    ...undecodable.map((path) => ({
      path,
      code: 'invalid-path',
      reason: 'its name is not valid UTF-8 (the bytes that are not are shown as \\xNN); a stored name must be',
    })),
  ];
  for (const file of files) {
    try {
      validateSubmissionPath(file.path);
    } catch (err) {
      problems.push({ path: file.path, code: 'invalid-path', reason: (err as Error).message });
    }
  }
  return problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** One file of a submission once its copy is decided. */
interface SubmissionCopy {
  /** What the new manifest lists for it; none when the stored manifest lists it with these bytes. */
  file?: ManifestFile;
  /** Whether it is copied (or, in a dry run, would be); otherwise the bucket holds these bytes already. */
  copied: boolean;
  /** The key this run created for it, which no manifest lists yet. */
  wrote?: string;
}

/**
 * A submission: every path checked by the rules of POST /submissions before anything is written, then its files,
 * then its manifest (lib/fileserver/submissions.ts `commitManifest`), which makes it visible and triggers its archive. A
 * file that cannot be stored refuses the whole submission, and the report names every such file with its reason.
 * Files that the bucket already holds with the same bytes (listed in the manifest, or left at their key by a run that
 * was killed before the manifest) are not written again, and count as skipped.
 *
 * The rules that only protect new uploads do not apply: a submission the old fileserver stored is copied as it is
 * (`EXACT_COLLISIONS`: `Main.java` and `main.java` are two files, whatever REFUSE_FOLDED_COLLISIONS says).
 */
async function migrateSubmission(item: OldItem, context: Context): Promise<Done> {
  const { report } = context;
  let counted = { files: 0, bytes: 0 };
  try {
    const { files, irregular, undecodable } = await submissionFiles(item.absolute);
    counted = { files: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) };
    const refuse = (code: string, reason: string, problems?: FileProblem[]): Done => {
      report.refuse(item, code, reason, counted.files, counted.bytes, problems);
      return counted;
    };
    let id: string;
    try {
      id = validateId(item.name, 'submission id');
    } catch (err) {
      return refuse('invalid-id', (err as Error).message);
    }
    const problems = fileProblems(files, irregular, undecodable);
    if (problems.length > 0) {
      const [first] = problems as [FileProblem];
      const reason =
        problems.length === 1
          ? `${first.reason}; nothing of the submission was stored`
          : `${problems.length} of its files cannot be stored (each named below); nothing of the submission was stored`;
      return refuse(first.code, reason, problems);
    }
    if (files.length === 0) return refuse('no-files', 'the submission folder holds no file');
    const previous = await readStoredManifest(id);
    const total = files.reduce((sum, f) => sum + f.size, 0);
    if (total > config().maxUploadBytes) {
      return refuse(
        'too-large',
        `the submission holds ${total} bytes; this fileserver takes at most ${config().maxUploadBytes} (MAX_UPLOAD_BYTES)`,
      );
    }
    try {
      // With what the bucket already holds for the id: a file that is also a folder, and the bounds of one
      // submission (docs/protocol.md, "Bounds and bad input").
      mergeWithinBounds(
        id,
        previous?.manifest.files ?? [],
        files.map((f) => ({ path: f.path, size: f.size, etag: '' })),
        EXACT_COLLISIONS,
      );
    } catch (err) {
      if (err instanceof HttpError && err.statusCode < 500) return refuse(err.code, err.message);
      throw err;
    }

    const listed = new Map(previous?.manifest.files.map((f) => [f.path, f]));
    const revision = newRevision();
    const stored: ManifestFile[] = [];
    const written = { files: 0, bytes: 0 };
    const present = { files: 0, bytes: 0 };
    // One file at a time: the submissions themselves run in parallel (--concurrency).
    for (const file of files) {
      const copy = await copyUnchanged(
        file.absolute,
        (reading) => copySubmissionFile(id, file, reading, listed.get(file.path), revision, context),
        undoWrite,
      ).catch((err: unknown) => {
        // The submission fails; its report names the file that did.
        throw err instanceof FileChangedError ? new FileChangedError(`${file.path}: ${err.message}`) : err;
      });
      const size = copy.file?.size ?? file.size;
      if (copy.copied) {
        written.files++;
        written.bytes += size;
      } else {
        present.files++;
        present.bytes += size;
      }
      if (copy.file) stored.push(copy.file);
    }
    if (stored.length === 0) {
      report.skip('submission', 'already stored', present.files, present.bytes);
      return counted;
    }
    if (!context.dryRun) await commitManifest(id, previous, stored, EXACT_COLLISIONS);
    report.count('submission', 'copied', written.files, written.bytes);
    report.countFiles('submission', 'skipped', present.files, present.bytes);
    return { files: written.files + present.files, bytes: written.bytes + present.bytes };
  } catch (err) {
    report.fail(item, err, counted.files, counted.bytes);
    return counted;
  }
}

/**
 * One file of a submission, as POST /submissions writes it: a new path create-only at its plain key; a path the
 * manifest lists (or one that another writer took meanwhile) at a fresh revision key, so no write lands on a file a
 * manifest lists. Not written when the bucket holds these bytes already: listed in the manifest (then the manifest
 * needs no entry for it), or at its plain key, left by a run killed before its manifest.
 */
async function copySubmissionFile(
  id: string,
  file: SubmissionFile,
  { size, checkpoint }: Reading,
  before: ManifestFile | undefined,
  revision: string,
  context: Context,
): Promise<SubmissionCopy> {
  const data = size <= SINGLE_PUT_MAX_BYTES ? await readFile(file.absolute) : undefined;
  const digest: FileDigest = data ? digestBytes(data) : await digestFile(file.absolute);
  await checkpoint();
  const plainKey = submissionFileKey(id, file.path);
  if (before && before.size === size && sameContent(before.etag, digest)) {
    // Listed with these bytes; skipped if still stored as listed (a file lost since is written again, below).
    const atKey = await headObject(before.key ?? plainKey);
    if (atKey && atKey.size === before.size && atKey.etag === before.etag) return { copied: false };
  }
  if (!before) {
    const atKey = await headObject(plainKey);
    if (atKey && atKey.size === size && sameContent(atKey.etag, digest)) {
      return { file: { path: file.path, size, etag: atKey.etag }, copied: false };
    }
  }
  if (context.dryRun) return { file: { path: file.path, size, etag: '' }, copied: true };
  const write = (key: string, createOnly: boolean) =>
    data
      ? putObject(key, data, { createOnly })
      : uploadStream(key, createReadStream(file.absolute), { contentType: 'application/octet-stream', createOnly });
  if (!before) {
    try {
      const { etag } = await write(plainKey, true);
      return { file: { path: file.path, size, etag }, copied: true, wrote: plainKey };
    } catch (err) {
      if (!(err instanceof PreconditionFailed)) throw err;
    }
  }
  const key = revisionFileKey(id, revision, file.path);
  const { etag } = await write(key, false);
  return { file: { path: file.path, size, etag, key }, copied: true, wrote: key };
}

/** Removes what a copy wrote when its file changed meanwhile: a key it created, which no manifest lists yet. */
async function undoWrite(copy: SubmissionCopy): Promise<void> {
  if (copy.wrote) await deleteObject(copy.wrote);
}
