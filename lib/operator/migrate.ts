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
import { headObject, PreconditionFailed, putObject, UPLOAD_PART_SIZE, uploadStream } from '../storage/store';
import { forEachWithLimit } from '../util/concurrency';
import { digestBytes, digestFile, type FileDigest, sameContent } from './digests';
import { type CommandResult, type Io, reportTarget, type StopSignal } from './io';
import { countFiles, type OldItem, type OldKind, oldItems, submissionFiles } from './old-layout';
import { formatBytes, startProgress } from './progress';

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

  refuse(item: OldItem, code: string, reason: string, files: number, bytes: number): void {
    this.count(item.kind, 'refused', files, bytes);
    this.refused.push({ kind: item.kind, path: item.path, code, reason });
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
    ...report.refused.map((r) => `  refused ${r.path}: ${r.reason}`),
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
      item.kind === 'exercise' ? await migrateExercise(item, size, context) : await migrateObject(item, size, context);
    if (outcome.outcome === 'skipped') report.skip(item.kind, outcome.why, 1, size);
    else if (outcome.outcome === 'refused') report.refuse(item, outcome.code, outcome.why, 1, size);
    else report.count(item.kind, 'copied', 1, size);
  } catch (err) {
    report.fail(item, err, 1, size);
  }
  return { files: 1, bytes: size };
}

type FileOutcome =
  | { outcome: 'copied' }
  | { outcome: 'skipped'; why: string }
  | { outcome: 'refused'; code: string; why: string };

/**
 * An exercise file: its name must be the SHA-1 of its content (computed while reading it). A hash already stored
 * with this size is skipped; content that does not match its name is refused and stored under no name.
 */
async function migrateExercise(item: OldItem, size: number, context: Context): Promise<FileOutcome> {
  let sha1: string;
  try {
    sha1 = parseSha1(item.name);
  } catch (err) {
    return { outcome: 'refused', code: 'invalid-hash', why: (err as Error).message };
  }
  const stored = await headObject(taskKey(sha1));
  if (stored && stored.size === size) return { outcome: 'skipped', why: 'already stored' };
  const small = size <= SINGLE_PUT_MAX_BYTES;
  const data = small ? await readFile(item.absolute) : undefined;
  const digest = data ? digestBytes(data) : await digestFile(item.absolute);
  if (digest.sha1 !== sha1) {
    return {
      outcome: 'refused',
      code: 'hash-mismatch',
      why: `its content hashes to ${digest.sha1}, not to its name; not uploaded`,
    };
  }
  if (context.dryRun) return { outcome: 'copied' };
  const created = data
    ? await putExerciseFile(sha1, data)
    : await uploadExerciseFile(sha1, createReadStream(item.absolute));
  if (!created) {
    // Create-only: S3 refused because the hash is stored. With this size it was a concurrent upload of these bytes;
    // with another size the stored object is damaged, and only `verify` and a deliberate delete can replace it.
    const now = await headObject(taskKey(sha1));
    if (now && now.size !== size) {
      throw new Error(
        `${taskKey(sha1)} is stored with ${now.size} bytes, this file has ${size}: the stored object is damaged (run verify)`,
      );
    }
    return { outcome: 'skipped', why: 'already stored' };
  }
  return { outcome: 'copied' };
}

/** A result or an attachment: byte for byte, skipped when an object with the same size and ETag is stored. */
async function migrateObject(item: OldItem, size: number, context: Context): Promise<FileOutcome> {
  let key: string;
  try {
    key = item.kind === 'result' ? resultKey(item.name) : attachmentKey(item.name);
  } catch (err) {
    return { outcome: 'refused', code: 'invalid-id', why: (err as Error).message };
  }
  const contentType = item.kind === 'result' ? resultContentType(item.name) : 'application/octet-stream';
  const small = size <= SINGLE_PUT_MAX_BYTES;
  const data = small ? await readFile(item.absolute) : undefined;
  const stored = await headObject(key);
  if (stored && stored.size === size) {
    const digest = data ? digestBytes(data) : await digestFile(item.absolute);
    if (sameContent(stored.etag, digest)) return { outcome: 'skipped', why: 'already stored' };
  }
  if (context.dryRun) return { outcome: 'copied' };
  if (data) await putObject(key, data, { contentType });
  else await uploadStream(key, createReadStream(item.absolute), { contentType });
  return { outcome: 'copied' };
}

/**
 * A submission: every path checked by the rules of POST /submissions before anything is written, then its files,
 * then its manifest (lib/fileserver/submissions.ts `commitManifest`), which makes it visible and triggers its archive. A path
 * this service refuses refuses the whole submission. Files that the bucket already holds with the same bytes (listed
 * in the manifest, or left at their key by a run that was killed before the manifest) are not written again.
 */
async function migrateSubmission(item: OldItem, context: Context): Promise<Done> {
  const { report } = context;
  let counted = { files: 0, bytes: 0 };
  try {
    const { files, irregular } = await submissionFiles(item.absolute);
    counted = { files: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) };
    const refuse = (code: string, reason: string): Done => {
      report.refuse(item, code, reason, counted.files, counted.bytes);
      return counted;
    };
    let id: string;
    try {
      id = validateId(item.name, 'submission id');
    } catch (err) {
      return refuse('invalid-id', (err as Error).message);
    }
    if (irregular.length > 0) {
      return refuse('not-a-file', `${irregular.slice(0, 5).join(', ')} is not a regular file (a link or a device)`);
    }
    if (files.length === 0) return refuse('no-files', 'the submission folder holds no file');
    for (const file of files) {
      try {
        validateSubmissionPath(file.path);
      } catch (err) {
        return refuse('invalid-path', (err as Error).message);
      }
    }
    const previous = await readStoredManifest(id);
    const total = files.reduce((sum, f) => sum + f.size, 0);
    if (total > config().maxUploadBytes) {
      return refuse(
        'too-large',
        `the submission holds ${total} bytes; this fileserver takes at most ${config().maxUploadBytes} (MAX_UPLOAD_BYTES)`,
      );
    }
    try {
      // The rules of POST /submissions, with what the bucket already holds for the id: colliding paths, and the
      // bounds of one submission (docs/protocol.md, "Bounds and bad input").
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
    let written = { files: 0, bytes: 0 };
    // One file at a time: the submissions themselves run in parallel (--concurrency).
    for (const file of files) {
      const data = file.size <= SINGLE_PUT_MAX_BYTES ? await readFile(file.absolute) : undefined;
      const digest: FileDigest = data ? digestBytes(data) : await digestFile(file.absolute);
      const before = listed.get(file.path);
      const plainKey = submissionFileKey(id, file.path);
      if (before && before.size === file.size && sameContent(before.etag, digest)) {
        // Listed with these bytes; skipped if still stored as listed (a file lost since is written again, below).
        const atKey = await headObject(before.key ?? plainKey);
        if (atKey && atKey.size === before.size && atKey.etag === before.etag) continue;
      }
      if (!before) {
        const atKey = await headObject(plainKey);
        if (atKey && atKey.size === file.size && sameContent(atKey.etag, digest)) {
          stored.push({ path: file.path, size: file.size, etag: atKey.etag });
          continue;
        }
      }
      written = { files: written.files + 1, bytes: written.bytes + file.size };
      if (context.dryRun) {
        stored.push({ path: file.path, size: file.size, etag: '' });
        continue;
      }
      const write = (key: string, createOnly: boolean) =>
        data
          ? putObject(key, data, { createOnly })
          : uploadStream(key, createReadStream(file.absolute), { contentType: 'application/octet-stream', createOnly });
      // As POST /submissions writes: a new path create-only at its plain key; a path the manifest lists (or one that
      // another writer took meanwhile) at a fresh revision key, so no write lands on a file a manifest lists.
      if (!before) {
        try {
          const { etag } = await write(plainKey, true);
          stored.push({ path: file.path, size: file.size, etag });
          continue;
        } catch (err) {
          if (!(err instanceof PreconditionFailed)) throw err;
        }
      }
      const key = revisionFileKey(id, revision, file.path);
      const { etag } = await write(key, false);
      stored.push({ path: file.path, size: file.size, etag, key });
    }
    if (stored.length === 0) {
      report.skip('submission', 'already stored', counted.files, counted.bytes);
      return counted;
    }
    if (!context.dryRun) await commitManifest(id, previous, stored, EXACT_COLLISIONS);
    report.count('submission', 'copied', written.files, written.bytes);
    return counted;
  } catch (err) {
    report.fail(item, err, counted.files, counted.bytes);
    return counted;
  }
}
