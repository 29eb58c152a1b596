/**
 * Submission archives (docs/protocol.md §3): a zip of exactly the files in the manifest, in either layout, built as a
 * stream from S3 through the zip writer (archiver) into a multipart upload, so memory stays flat whatever the size.
 *
 * The bytes are a pure function of the manifest and the layout: entries sorted by path, one fixed timestamp, one
 * fixed mode, the same compression decision for the same name and size. A duplicate build writes identical bytes
 * (docs/archives.md, "Determinism"; test/unit/archive-bytes.test.ts pins them).
 */
import { Readable, Transform } from 'node:stream';
import { ZipArchive, type ZipEntryData } from 'archiver';
import type { ArchiveLayout } from '../config';
import { getObject, type ObjectInfo, putObject, uploadStream } from '../storage/store';
import { count } from '../util/invocation';
import { log } from '../util/log';
import { BlockJoiner } from '../util/streams';
import { archiveKey, submissionFileKey } from './keys';
import { type Manifest, type ManifestFile, manifestDigest } from './manifest';

/** Object metadata (`x-amz-meta-manifest-sha256`) naming the manifest an archive was built from. */
export const MANIFEST_DIGEST_METADATA = 'manifest-sha256';

/**
 * One timestamp for every entry. archiver writes it in DOS form only, from the date's UTC fields (zip-stream's
 * `forceLocalTime` is off), and writes no extended-timestamp field: the same bytes in every time zone.
 */
const ENTRY_DATE = new Date(Date.UTC(2000, 0, 1, 0, 0, 0));
/** rw-r--r--; archiver adds the regular-file type itself, so the entries carry 0100644 as before. */
const ENTRY_MODE = 0o644;
const DEFLATE_LEVEL = 6;

/** Formats that are compressed already: deflating them again costs CPU and gains nothing. */
const STORED_EXTENSIONS = new Set([
  '7z',
  'bz2',
  'gz',
  'jar',
  'jpeg',
  'jpg',
  'mp3',
  'mp4',
  'png',
  'rar',
  'tgz',
  'webp',
  'xz',
  'zip',
  'zst',
]);

export function entryName(id: string, path: string, layout: ArchiveLayout): string {
  return layout === 'prefixed' ? `${id}/${path}` : path;
}

/**
 * Files smaller than this are stored, not deflated. archiver deflates each entry through a zlib stream of its own,
 * which costs about 0.1 ms of CPU per entry whatever its size (measured on this project's machine, docs/archives.md
 * "Compression"); what a file under 4 KiB gains by it (under 3.5 KB of a text file) takes a worker about as long to
 * download over a 100 Mbit/s link as the deflate takes, and less on a faster one.
 */
export const STORE_BELOW_BYTES = 4 * 1024;

/**
 * Files up to this size are handed to archiver whole, as a Buffer, by every build: a build from S3 reads such a file
 * into memory first (one at a time), and a build from memory hands larger stored files over as a stream, so that
 * both write the same bytes (docs/archives.md, "Determinism"). A Buffer costs archiver less than a stream, and lets it
 * write a stored entry's CRC and sizes in its local header instead of a data descriptor.
 */
export const WHOLE_ENTRY_MAX_BYTES = 1024 * 1024;

/** Whether the entry of `file` is deflated: a pure function of the manifest, so the same in every build. */
export function deflates(file: Pick<ManifestFile, 'path' | 'size'>): boolean {
  return file.size >= STORE_BELOW_BYTES && shouldDeflate(file.path);
}

/** Whether a file of this name is worth deflating at all: not a format that is compressed already. */
export function shouldDeflate(path: string): boolean {
  const dot = path.lastIndexOf('.');
  return dot < 0 || !STORED_EXTENSIONS.has(path.slice(dot + 1).toLowerCase());
}

/**
 * The name to hand archiver for entry `name`, so that the zip holds `name` exactly. archiver 8.0.0 removes a
 * leading `word:` (meant for a Windows drive or a URL scheme) from every name, once in each of its three layers
 * (archiver, zip-stream and compress-commons). A submission path may start that way (`abc:def.c` and `a:b.txt` are
 * valid: a colon is an ordinary character on the worker, lib/fileserver/keys.ts), so such a name gets three prefixes
 * that those removals take off again. Only the flat layout can meet this: a submission id has no colon. test/unit/archive-layout.test.ts
 * checks the names that come out.
 */
export function archiverEntryName(name: string): string {
  return /^\w+:/.test(name) ? `_:_:_:${name}` : name;
}

function zipWriter(): ZipArchive {
  return new ZipArchive({ zlib: { level: DEFLATE_LEVEL } });
}

/** What archiver is told about the entry of `file`: the same in every build, whichever path builds it. */
function entryData(manifest: Manifest, file: ManifestFile, layout: ArchiveLayout): ZipEntryData {
  return {
    name: archiverEntryName(entryName(manifest.id, file.path, layout)),
    date: ENTRY_DATE,
    mode: ENTRY_MODE,
    store: !deflates(file),
  };
}

/**
 * Passes a file's bytes on and fails at its end if there were more or fewer than its manifest lists, so that a
 * truncated read or a file replaced behind the manifest fails the build instead of producing a wrong archive.
 * (Checked at the end only, so that a read error that comes first is the one reported.)
 */
function exactly(size: number, path: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      done(seen === size ? null : new Error(`The file ${path} has ${seen} bytes, its manifest lists ${size}.`));
    },
  });
}

/**
 * The bytes of `source`, which must be exactly the `file.size` its manifest lists. More bytes stop the read at once,
 * so that memory never holds more than the listed size; fewer are found at the end, so that a read error that comes
 * first is the one reported (as `exactly` does for a stream).
 */
function readWhole(source: Readable, file: ManifestFile): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let seen = 0;
    const wrongSize = (): Error =>
      new Error(`The file ${file.path} has ${seen} bytes, its manifest lists ${file.size}.`);
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen <= file.size) {
        chunks.push(chunk);
        return;
      }
      source.off('data', onData);
      source.destroy();
      reject(wrongSize());
    };
    source.on('data', onData);
    source.once('error', reject);
    source.once('end', () => (seen === file.size ? resolve(Buffer.concat(chunks, seen)) : reject(wrongSize())));
  });
}

/**
 * Runs `next` once archiver's own output buffer (its `highWaterMark`, 1 MiB) is no longer full, that is, once its
 * consumer takes what it writes. Checked again whenever data leaves archiver.
 */
function whenNotBackedUp(zip: ZipArchive, next: () => void): void {
  if (zip.readableLength < zip.readableHighWaterMark) {
    next();
    return;
  }
  const check = (): void => {
    if (zip.readableLength >= zip.readableHighWaterMark) return;
    zip.off('data', check);
    zip.off('close', stop);
    next();
  };
  const stop = (): void => {
    zip.off('data', check);
  };
  zip.on('data', check);
  zip.once('close', stop);
}

/**
 * How many files are opened ahead of the zip writer. Each S3 GET waits for its first byte (tens of milliseconds
 * in AWS); opening the next few while the current one streams hides that wait for submissions of many small files.
 * An opened stream holds only its socket and one buffer, so memory stays flat.
 */
export const PREFETCH_FILES = 8;

/**
 * The zip of the manifest's files as a stream. Files are opened in archive order, at most `PREFETCH_FILES` ahead
 * of the writer, and a failure to open or read a file destroys the returned stream with that error.
 */
export function zipStream(
  manifest: Manifest,
  layout: ArchiveLayout,
  open: (file: ManifestFile) => Promise<Readable>,
): Readable {
  const zip = zipWriter();
  const output = new BlockJoiner();
  const files = manifest.files;
  const opened = new Map<number, Promise<Readable>>();
  let current: Readable | undefined;
  const fail = (err: Error): void => {
    output.destroy(err);
  };
  const openAhead = (from: number): void => {
    for (let i = from; i < Math.min(files.length, from + PREFETCH_FILES); i++) {
      if (opened.has(i) || output.destroyed) continue;
      const file = files[i] as (typeof files)[number];
      const stream = open(file);
      stream.catch(() => undefined); // reported when the writer reaches this file, not as an unhandled rejection
      opened.set(i, stream);
    }
  };
  // On failure (or when the consumer gives up), stop the writer and release the file being read and those opened
  // ahead and never read.
  output.on('close', () => {
    zip.unpipe(output);
    zip.abort();
    current?.destroy();
    for (const stream of opened.values())
      stream.then(
        (s) => s.destroy(),
        () => undefined,
      );
    opened.clear();
  });
  zip.on('error', fail);
  zip.on('warning', fail); // archiver warns only about file-system entries, which are never added here
  zip.pipe(output);

  // One entry at a time: archiver gets the next file when it has written the previous one ('entry'), so only the
  // prefetched files are open, never the whole submission.
  const append = (index: number): void => {
    if (output.destroyed) return;
    const file = files[index];
    if (!file) {
      // Every file is written: what is left is the central directory, which must not wait write by write.
      output.takeTheRest();
      zip.finalize().catch(() => undefined); // its errors also reach the 'error' listener above
      return;
    }
    openAhead(index);
    const next = opened.get(index) ?? Promise.reject(new Error('archive build stopped'));
    opened.delete(index);
    next.then((source) => {
      if (output.destroyed) {
        source.destroy();
        return;
      }
      current = source;
      if (file.size <= WHOLE_ENTRY_MAX_BYTES) {
        // archiver takes a Buffer at once, whatever its consumer does (compress-commons writes a stored one without
        // waiting), so the next file is read only once archiver's output is no longer backed up: a slow upload must
        // not leave every small file of a submission waiting in memory.
        zip.once('entry', () => whenNotBackedUp(zip, () => append(index + 1)));
        readWhole(source, file).then((data) => {
          if (!output.destroyed) zip.append(data, entryData(manifest, file, layout));
        }, fail);
        return;
      }
      zip.once('entry', () => append(index + 1));
      const checked = exactly(file.size, file.path);
      // A source that fails mid-read must fail the archive, not leave the writer waiting. (Two listeners and a
      // pipe, not stream.pipeline: that makes an AbortController per file and, when done, a DOMException.)
      source.once('error', fail);
      checked.once('error', fail);
      source.pipe(checked);
      zip.append(checked, entryData(manifest, file, layout));
    }, fail);
  };
  append(0);
  return output;
}

/**
 * Builds the archive of `manifest` into S3. The multipart upload is aborted on any failure, so the archive key
 * holds either the previous archive or the complete new one.
 */
export async function buildArchive(manifest: Manifest, layout: ArchiveLayout): Promise<void> {
  const started = Date.now();
  const stream = zipStream(manifest, layout, async (file) => {
    // If-Match: read exactly the version the manifest lists. A file overwritten since (a newer POST in flight)
    // fails this build instead of mixing two uploads in one archive; the newer manifest triggers its own build.
    const key = file.key ?? submissionFileKey(manifest.id, file.path);
    const object = await getObject(key, { ifMatch: file.etag });
    if (!object) throw new Error(`The file ${file.path} of submission ${manifest.id} is missing from storage.`);
    return object.body;
  });
  await uploadStream(archiveKey(manifest.id), stream, {
    contentType: 'application/zip',
    metadata: archiveMetadata(manifest, layout),
  });
  built(manifest, 'storage', started);
}

/**
 * Writes `zip`, the archive of `manifest` built from bytes in memory (`zipFromMemory`), with one PUT, its metadata
 * naming the manifest. A submission POST holds every file of a new submission already; building the archive there
 * saves the archiver reading the manifest again and every file back from S3 (docs/benchmarks.md, "S3 requests per
 * operation"), and the archive is there when the POST answers.
 */
export async function putArchive(
  manifest: Manifest,
  layout: ArchiveLayout,
  zip: Buffer,
  /** When the zip's build began (`Date.now()`), for the build's duration in the metrics. */
  startedAt: number,
): Promise<void> {
  await putObject(archiveKey(manifest.id), zip, {
    contentType: 'application/zip',
    metadata: archiveMetadata(manifest, layout),
  });
  built(manifest, 'memory', startedAt);
}

/**
 * A build that finished: its line, and its part of the invocation's metrics (docs/deploy.md, "Metrics"); two builds
 * in one invocation (a submission changed during the first) add up.
 */
function built(manifest: Manifest, from: 'storage' | 'memory', started: number): void {
  const ms = Date.now() - started;
  const bytes = manifest.files.reduce((sum, file) => sum + file.size, 0);
  count('ArchiveBuilds');
  count('ArchiveBuildDuration', ms);
  count('ArchiveFiles', manifest.files.length);
  count('ArchiveBytes', bytes);
  log('info', 'archive built', { submission: manifest.id, from, files: manifest.files.length, bytes, ms });
}

/**
 * The zip `zipStream` writes for `manifest`, byte for byte, from files held in memory, with less machinery: every
 * entry is handed to archiver at once (they are all in memory already), as its Buffer. Only a stored file larger
 * than `WHOLE_ENTRY_MAX_BYTES` is handed over as a stream, as a build from S3 does: archiver writes the CRC and sizes
 * of a stored Buffer in the local header, of a stream in a data descriptor after the data. (A deflated entry always
 * has a data descriptor, so its bytes do not depend on the form: test/unit/archive-from-memory.test.ts.) The output
 * is collected as it comes: the archive is small (`ARCHIVE_IN_POST_MAX_BYTES`) and wanted whole, for one PUT.
 */
export async function zipFromMemory(
  manifest: Manifest,
  layout: ArchiveLayout,
  contents: ReadonlyMap<string, Buffer>,
): Promise<Buffer> {
  const sources = manifest.files.map((file) => {
    const data = contents.get(file.path);
    if (!data) throw new Error(`The file ${file.path} of submission ${manifest.id} is not in memory.`);
    if (data.length !== file.size) {
      throw new Error(`The file ${file.path} has ${data.length} bytes, its manifest lists ${file.size}.`);
    }
    return data;
  });
  const zip = zipWriter();
  const chunks: Buffer[] = [];
  const zipped = new Promise<Buffer>((resolve, reject) => {
    zip.on('data', (chunk: Buffer) => chunks.push(chunk));
    zip.on('end', () => resolve(Buffer.concat(chunks)));
    zip.on('error', reject);
    zip.on('warning', reject); // archiver warns only about file-system entries, which are never added here
  });
  manifest.files.forEach((file, i) => {
    const data = sources[i] as Buffer;
    const entry = entryData(manifest, file, layout);
    zip.append(entry.store && data.length > WHOLE_ENTRY_MAX_BYTES ? streamOf(data) : data, entry);
  });
  zip.finalize().catch(() => undefined); // its errors also reach the 'error' listener above
  return await zipped;
}

/** A stream of `data` in one chunk (an empty stream for no bytes). */
function streamOf(data: Buffer): Readable {
  const stream = new Readable({ read() {} });
  if (data.length > 0) stream.push(data);
  stream.push(null);
  return stream;
}

function archiveMetadata(manifest: Manifest, layout: ArchiveLayout): Record<string, string> {
  return { [MANIFEST_DIGEST_METADATA]: manifestDigest(manifest), 'archive-layout': layout };
}

/** Whether the stored archive was built from exactly this manifest in this layout. */
export function isCurrent(archive: ObjectInfo | undefined, manifest: Manifest, layout: ArchiveLayout): boolean {
  return (
    archive !== undefined &&
    archive.metadata[MANIFEST_DIGEST_METADATA] === manifestDigest(manifest) &&
    archive.metadata['archive-layout'] === layout
  );
}
