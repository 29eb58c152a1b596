/**
 * The bounds of one submission, all its POSTs and completions together (docs/protocol.md, "Bounds and bad input"):
 * how many files it holds, how many bytes they total, and how large its manifest may grow. Whatever a submission
 * the bounds accept holds, it stays readable (its manifest within `MAX_MANIFEST_BYTES`), archivable and
 * re-POSTable, because every request that adds files is checked against the merged result before it writes
 * anything, and again each time its manifest write is retried after another request's.
 */
import { config } from '../config';
import { PayloadTooLargeError } from '../errors';
import { revisionFileKey } from './keys';
import type { ManifestFile } from './manifest';

/**
 * The largest manifest the service reads into memory (and so the largest it may write). 16 MiB of JSON parses into
 * about 30 MB of heap, well within the 128 MB the archive functions run with.
 */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export interface SubmissionBounds {
  /** `MAX_SUBMISSION_FILES` */
  maxFiles: number;
  /** `MAX_UPLOAD_BYTES`: the bound of one file is also the bound of a submission's total. */
  maxTotalBytes: number;
}

export function submissionBounds(): SubmissionBounds {
  const { maxSubmissionFiles, maxUploadBytes } = config();
  return { maxFiles: maxSubmissionFiles, maxTotalBytes: maxUploadBytes };
}

/**
 * The costliest form an entry can take, so that the estimate holds for any later version of the manifest: a size of
 * 16 digits, the longest ETag S3 gives (`"<md5>-<parts>"`), and a revision key with the longest token lib/fileserver/keys.ts
 * accepts, which every file gets once a re-POST or a completion replaces it. A submission at the bound therefore
 * stays re-POSTable: replacing its files does not grow the estimate.
 */
const COSTLIEST = { size: Number.MAX_SAFE_INTEGER, etag: `"${'0'.repeat(32)}-10000"`, revision: 'r'.repeat(40) };

/** An upper bound of the size of the manifest of submission `id` listing `files`, in bytes of UTF-8 JSON. */
export function manifestBoundBytes(id: string, files: readonly ManifestFile[]): number {
  let bytes = Buffer.byteLength(JSON.stringify({ version: 1, id, files: [] }));
  for (const { path } of files) {
    const key = revisionFileKey(id, COSTLIEST.revision, path);
    // One comma between entries.
    bytes += 1 + Buffer.byteLength(JSON.stringify({ path, size: COSTLIEST.size, etag: COSTLIEST.etag, key }));
  }
  return bytes;
}

/** Throws 413 unless submission `id` may hold `files` (the merged list: stored and new together). */
export function checkSubmissionBounds(
  id: string,
  files: readonly ManifestFile[],
  bounds: SubmissionBounds = submissionBounds(),
): void {
  if (files.length > bounds.maxFiles) {
    throw new PayloadTooLargeError(
      'submission-too-large',
      `Submission ${id} would hold ${files.length} files; a submission holds at most ${bounds.maxFiles} files ` +
        '(MAX_SUBMISSION_FILES). Nothing was stored.',
    );
  }
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (total > bounds.maxTotalBytes) {
    throw new PayloadTooLargeError(
      'upload-too-large',
      `Submission ${id} would hold ${total} bytes; this fileserver accepts at most ${bounds.maxTotalBytes} bytes ` +
        'per submission (MAX_UPLOAD_BYTES). Nothing was stored.',
    );
  }
  const manifestBytes = manifestBoundBytes(id, files);
  if (manifestBytes > MAX_MANIFEST_BYTES) {
    throw new PayloadTooLargeError(
      'submission-too-large',
      `The list of the ${files.length} files of submission ${id} would take up to ${manifestBytes} bytes; it may ` +
        `take at most ${MAX_MANIFEST_BYTES} bytes (fewer files, or shorter paths). Nothing was stored.`,
    );
  }
}
