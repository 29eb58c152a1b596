/**
 * Submission archives (PROTOCOL.md §3): a zip of exactly the files in the manifest, in either layout, built as a
 * stream from S3 through the zip writer into a multipart upload, so memory stays flat whatever the size.
 *
 * The bytes are a pure function of the manifest and the layout: entries sorted by path, one fixed timestamp, one
 * fixed mode, the same compression decision for the same name. A duplicate build writes identical bytes.
 */
import { PassThrough, Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import type { ArchiveLayout } from './config';
import { archiveKey, submissionFileKey } from './keys';
import { type Manifest, type ManifestFile, manifestDigest } from './manifest';
import { getObject, type ObjectInfo, putObject, uploadStream } from './storage';

/** Object metadata (`x-amz-meta-manifest-sha256`) naming the manifest an archive was built from. */
export const MANIFEST_DIGEST_METADATA = 'manifest-sha256';

/**
 * One timestamp for every entry. Built from local-time fields and written in DOS form only, because the DOS
 * fields are local time in yazl: this gives the same bytes in every time zone.
 */
const ENTRY_MTIME = new Date(2000, 0, 1, 0, 0, 0);
const ENTRY_MODE = 0o100644;
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

export function shouldDeflate(path: string): boolean {
  const dot = path.lastIndexOf('.');
  return dot < 0 || !STORED_EXTENSIONS.has(path.slice(dot + 1).toLowerCase());
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
  const zip = new ZipFile();
  const output = new PassThrough();
  const files = manifest.files;
  const opened = new Map<number, Promise<Readable>>();
  const openAhead = (from: number): void => {
    for (let i = from; i < Math.min(files.length, from + PREFETCH_FILES); i++) {
      if (opened.has(i) || output.destroyed) continue;
      const file = files[i] as (typeof files)[number];
      const stream = open(file);
      stream.catch(() => undefined); // reported when the writer reaches this file, not as an unhandled rejection
      opened.set(i, stream);
    }
  };
  // On failure, release what was opened ahead and never read.
  output.on('close', () => {
    for (const stream of opened.values())
      stream.then(
        (s) => s.destroy(),
        () => undefined,
      );
    opened.clear();
  });
  zip.outputStream.on('error', (err: Error) => output.destroy(err));
  (zip as unknown as NodeJS.EventEmitter).on('error', (err: Error) => output.destroy(err));
  zip.outputStream.pipe(output);
  files.forEach((file, index) => {
    const deflate = shouldDeflate(file.path);
    zip.addReadStreamLazy(
      entryName(manifest.id, file.path, layout),
      {
        mtime: ENTRY_MTIME,
        forceDosTimestamp: true,
        mode: ENTRY_MODE,
        compress: deflate,
        ...(deflate ? { compressionLevel: DEFLATE_LEVEL } : {}),
        size: file.size,
      },
      (cb) => {
        openAhead(index);
        const stream = opened.get(index) ?? Promise.reject(new Error('archive build stopped'));
        opened.delete(index);
        stream.then(
          (source) => {
            // A source that fails mid-read must fail the archive, not leave the writer waiting.
            source.on('error', (err: Error) => output.destroy(err));
            cb(null, source);
          },
          (err: Error) => cb(err, undefined as unknown as Readable),
        );
      },
    );
  });
  zip.end();
  return output;
}

/**
 * Builds the archive of `manifest` into S3. The multipart upload is aborted on any failure, so the archive key
 * holds either the previous archive or the complete new one.
 */
export async function buildArchive(manifest: Manifest, layout: ArchiveLayout): Promise<void> {
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
}

/**
 * The archive of `manifest` built from bytes in memory (`contents`, by path: every file the manifest lists), the same
 * bytes `buildArchive` streams from S3, written with one PUT. A submission POST holds every file of a new
 * submission already; building it there saves the archiver reading the manifest again and every file back from S3
 * (docs/benchmarks.md, "S3 requests per operation"), and the archive is there when the POST answers.
 */
export async function buildArchiveFromMemory(
  manifest: Manifest,
  layout: ArchiveLayout,
  contents: ReadonlyMap<string, Buffer>,
): Promise<void> {
  const stream = zipStream(manifest, layout, async (file) => {
    const data = contents.get(file.path);
    if (!data) throw new Error(`The file ${file.path} of submission ${manifest.id} is not in memory.`);
    return Readable.from([data]);
  });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  await putObject(archiveKey(manifest.id), Buffer.concat(chunks), {
    contentType: 'application/zip',
    metadata: archiveMetadata(manifest, layout),
  });
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
