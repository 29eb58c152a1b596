/**
 * `stats`: what the bucket holds, per key prefix (lib/fileserver/keys.ts), and the state of the submissions' archives: what the
 * old fileserver's index page counted (files per folder), and more (docs/operations.md, "stats").
 */

import { type ArchiveLayout, config } from '../config';
import { isCurrent } from '../fileserver/archive-zip';
import { archiveKey, PREFIX, submissionIdOfManifestKey } from '../fileserver/keys';
import { readManifest } from '../fileserver/submissions';
import { eachObject, headObject } from '../storage/store';
import { forEachWithLimit } from '../util/concurrency';
import { type CommandResult, type Io, reportTarget, type StopSignal } from './io';
import { formatBytes } from './progress';

export interface StatsOptions {
  concurrency: number;
  layout: ArchiveLayout;
}

export async function stats(options: StatsOptions, _io: Io, stop: StopSignal): Promise<CommandResult> {
  const prefixes: Record<string, { objects: number; bytes: number }> = {};
  for (const prefix of [...Object.values(PREFIX), '(other)']) prefixes[prefix] = { objects: 0, bytes: 0 };
  for await (const object of eachObject('')) {
    if (stop.stopped) break;
    const prefix = Object.values(PREFIX).find((p) => object.key.startsWith(p)) ?? '(other)';
    const tally = prefixes[prefix] as { objects: number; bytes: number };
    tally.objects++;
    tally.bytes += object.size;
  }
  const archives = { current: 0, stale: 0, missing: 0 };
  let unreadable = 0;
  await forEachWithLimit(
    eachObject(PREFIX.manifests),
    options.concurrency,
    async (object) => {
      const id = submissionIdOfManifestKey(object.key);
      if (!id) return;
      const [manifest, archive] = await Promise.all([
        readManifest(id).catch(() => undefined),
        headObject(archiveKey(id)),
      ]);
      if (!manifest) unreadable++;
      else if (!archive) archives.missing++;
      else if (isCurrent(archive, manifest, options.layout)) archives.current++;
      else archives.stale++;
    },
    () => stop.stopped,
  );
  const submissions = prefixes[PREFIX.manifests]?.objects ?? 0;
  const width = Math.max(...Object.keys(prefixes).map((p) => p.length));
  const summary = [
    `stats of bucket ${config().bucket}${stop.stopped ? ' (interrupted)' : ''}`,
    `  ${'prefix'.padEnd(width)}  ${'objects'.padStart(10)}  ${'bytes'.padStart(16)}`,
    ...Object.entries(prefixes).map(
      ([prefix, t]) =>
        `  ${prefix.padEnd(width)}  ${String(t.objects).padStart(10)}  ${String(t.bytes).padStart(16)}  ${formatBytes(t.bytes)}`,
    ),
    `  submissions: ${submissions}; archives (${options.layout} layout): ${archives.current} current, ` +
      `${archives.stale} stale, ${archives.missing} missing${unreadable ? `; ${unreadable} manifests unreadable` : ''}`,
  ];
  return {
    exitCode: 0,
    summary,
    report: {
      command: 'stats',
      ...reportTarget(),
      layout: options.layout,
      interrupted: stop.stopped,
      prefixes,
      submissions,
      exerciseFiles: prefixes[PREFIX.tasks]?.objects ?? 0,
      archives,
      unreadableManifests: unreadable,
    },
  };
}
