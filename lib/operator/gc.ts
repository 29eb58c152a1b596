/**
 * `gc --keep FILE [--older-than DAYS] [--yes]`: deletes exercise files that nothing references any more. A
 * content-addressed store only ever grows: a new version of a test input is a new hash, and the old one stays. FILE
 * lists the hashes the ReCodEx database still references, one per line; a stored file whose hash is not listed and
 * that is older than DAYS goes. Without `--yes` nothing is deleted and the report shows what would go
 * (docs/operations.md, "gc").
 *
 * The age bound protects a file that the API has just uploaded but not yet recorded in its database, which no keep
 * list taken before that moment can name.
 */
import { readFile } from 'node:fs/promises';
import { config } from '../config';
import { PREFIX, parseSha1 } from '../fileserver/keys';
import { deleteObject, eachObject } from '../storage/store';
import { forEachWithLimit } from '../util/concurrency';
import { type CommandResult, type Io, reportTarget, type StopSignal } from './io';
import { formatBytes } from './progress';

export interface GcOptions {
  keepFile: string;
  olderThanDays: number;
  yes: boolean;
  concurrency: number;
  /** The time the age bound counts from (now; a test can fix it). */
  now?: Date;
}

const TASK_KEY = /^tasks\/[0-9a-f]\/([0-9a-f]{40})$/;

/** A keep list that cannot be read right: gc then deletes nothing. */
export class KeepListError extends Error {}

/**
 * The hashes of a keep list: one per line, any case; blank lines and lines starting with `#` are ignored. A line
 * that is not a SHA-1 stops gc before anything is deleted: a keep list that was cut or mangled would otherwise make
 * gc delete what it fails to name.
 */
export async function readKeepList(path: string): Promise<Set<string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new KeepListError(`Cannot read the keep list ${path}: ${(err as Error).message}`);
  }
  const keep = new Set<string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      keep.add(parseSha1(line));
    } catch {
      throw new KeepListError(`${path}, line ${index + 1}: ${JSON.stringify(line.slice(0, 60))} is not a SHA-1.`);
    }
  });
  if (keep.size === 0) {
    throw new KeepListError(`${path} lists no hash; refusing to treat every exercise file as unreferenced.`);
  }
  return keep;
}

export async function gc(options: GcOptions, _io: Io, stop: StopSignal): Promise<CommandResult> {
  const keep = await readKeepList(options.keepFile);
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - options.olderThanDays * 24 * 60 * 60 * 1000);
  const listedAndStored = new Set<string>();
  const kept = { listed: 0, young: 0, listedBytes: 0, youngBytes: 0 };
  const chosen: { sha1: string; bytes: number; lastModified: string | null }[] = [];
  const failed: { sha1: string; reason: string }[] = [];
  let deletedBytes = 0;
  const unexpected: string[] = [];
  await forEachWithLimit(
    eachObject(PREFIX.tasks),
    options.concurrency,
    async (object) => {
      const sha1 = TASK_KEY.exec(object.key)?.[1];
      if (!sha1) {
        unexpected.push(object.key); // not an exercise file this service wrote: never deleted by gc
        return;
      }
      if (keep.has(sha1)) {
        listedAndStored.add(sha1);
        kept.listed++;
        kept.listedBytes += object.size;
        return;
      }
      // An object without a date is treated as new: gc deletes only what it knows to be old enough.
      if (!object.lastModified || object.lastModified > cutoff) {
        kept.young++;
        kept.youngBytes += object.size;
        return;
      }
      const entry = { sha1, bytes: object.size, lastModified: object.lastModified.toISOString() };
      if (!options.yes) {
        chosen.push(entry);
        return;
      }
      try {
        await deleteObject(object.key);
        chosen.push(entry);
        deletedBytes += object.size;
      } catch (err) {
        failed.push({ sha1, reason: (err as Error).message });
      }
    },
    () => stop.stopped,
  );
  chosen.sort((a, b) => (a.sha1 < b.sha1 ? -1 : 1));
  const missing = [...keep].filter((sha1) => !listedAndStored.has(sha1)).sort();
  const chosenBytes = chosen.reduce((sum, c) => sum + c.bytes, 0);
  const verb = options.yes ? 'deleted' : 'would delete';
  const ok = failed.length === 0 && !stop.stopped;
  const summary = [
    `gc of bucket ${config().bucket}: keep list ${options.keepFile} (${keep.size} hashes), older than ` +
      `${options.olderThanDays} days (before ${cutoff.toISOString()})${options.yes ? '' : ', dry run (add --yes to delete)'}`,
    `  ${verb} ${chosen.length} exercise files (${formatBytes(chosenBytes)})`,
    ...chosen.slice(0, 20).map((c) => `    ${c.sha1}  ${c.bytes} bytes  ${c.lastModified}`),
    ...(chosen.length > 20 ? [`    … and ${chosen.length - 20} more (all in the JSON report)`] : []),
    `  kept ${kept.listed} listed (${formatBytes(kept.listedBytes)}), ${kept.young} unlisted but younger (${formatBytes(kept.youngBytes)})`,
    ...(missing.length > 0
      ? [
          `  WARNING: ${missing.length} listed hashes are not stored (jobs that name them fail): ${missing.slice(0, 5).join(', ')}`,
        ]
      : []),
    ...(unexpected.length > 0 ? [`  ${unexpected.length} keys under tasks/ are not exercise files; left alone`] : []),
    ...failed.map((f) => `  FAILED to delete ${f.sha1}: ${f.reason}`),
    `result: ${ok ? 'OK' : `${failed.length} failed${stop.stopped ? ', interrupted' : ''}`}`,
  ];
  return {
    exitCode: ok ? 0 : 1,
    summary,
    report: {
      command: 'gc',
      ...reportTarget(),
      keepFile: options.keepFile,
      keepListed: keep.size,
      olderThanDays: options.olderThanDays,
      cutoff: cutoff.toISOString(),
      dryRun: !options.yes,
      interrupted: stop.stopped,
      [options.yes ? 'deleted' : 'wouldDelete']: chosen,
      deletedBytes,
      kept,
      listedButNotStored: missing,
      unexpectedKeys: unexpected,
      failed,
      ok,
    },
  };
}
