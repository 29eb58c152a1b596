/**
 * Content-addressed exercise files (docs/protocol.md §4): stored under the SHA-1 of their bytes, written once, never
 * rewritten, because workers cache them by name forever and never re-verify.
 */
import { createHash } from 'node:crypto';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { headObject, PARALLEL_REQUESTS, PreconditionFailed, putObject, uploadStream } from '../storage/store';
import { mapWithLimit } from '../util/concurrency';
import { dictionary } from '../util/dictionary';
import { type FilePart, rejectDuplicateFields } from './file-parts';
import { publicPath, taskKey } from './keys';

export interface ExerciseUploadAnswer {
  result: 'OK';
  /** field name → `/exercises/<sha1>`, always the `/exercises` form, also when posted to `/tasks`. */
  files: Record<string, string>;
}

export async function storeExerciseFiles(parts: readonly FilePart[]): Promise<ExerciseUploadAnswer> {
  rejectDuplicateFields(parts);
  const hashed = parts.map((part) => ({
    field: part.field,
    data: part.data,
    sha1: createHash('sha1').update(part.data).digest('hex'),
  }));
  const unique = [...new Map(hashed.map((file) => [file.sha1, file])).values()];
  // Every file's HEAD, and then its PUT, in one wave (up to PARALLEL_REQUESTS files): two round trips in all.
  await mapWithLimit(unique, PARALLEL_REQUESTS, async (file) => {
    if (await headObject(taskKey(file.sha1))) return; // stored already: the content behind a hash never changes
    await putExerciseFile(file.sha1, file.data);
  });
  // Keyed by the client's field names, which may be `__proto__` or `toString` (lib/util/dictionary.ts).
  const files = dictionary<string>();
  for (const file of hashed) files[file.field] = publicPath.exercise(file.sha1);
  return { result: 'OK', files };
}

/**
 * Writes one exercise file at its content address: create-only, and S3 checks the bytes against the SHA-1 the key is
 * named after (`x-amz-checksum-sha1`), so nothing can sit under a hash it does not have. `false` when the hash was
 * stored already (a concurrent upload of the same content won the create-only write).
 */
export async function putExerciseFile(sha1: string, data: Buffer): Promise<boolean> {
  const digest = Buffer.from(sha1, 'hex');
  try {
    await putObject(taskKey(sha1), data, { createOnly: true, checksumSha1: digest.toString('base64') });
    return true;
  } catch (err) {
    if (err instanceof PreconditionFailed) return false;
    throw err;
  }
}

/** The SHA-1 of what a stream carried differs from the hash it is to be stored under. */
export class HashMismatchError extends Error {}

/**
 * Streams a file of any size to its content address with a multipart upload (a single PutObject carries at most
 * 5 GiB, and lib/storage/s3/s3-client.ts gives each request 5 s). S3 cannot check a whole-object SHA-1 across parts, so S3 checks each
 * part against its own SHA-1, and the bytes are hashed on their way: if they do not hash to `sha1`, the stream fails
 * before its end and the upload is aborted, so no object appears under the wrong name. Create-only, as above.
 */
export async function uploadExerciseFile(sha1: string, body: Readable): Promise<boolean> {
  const checked = body.pipe(sha1Check(sha1));
  body.once('error', (err) => checked.destroy(err));
  try {
    await uploadStream(taskKey(sha1), checked, {
      contentType: 'application/octet-stream',
      createOnly: true,
      checksumSha1PerPart: true,
    });
    return true;
  } catch (err) {
    if (err instanceof PreconditionFailed) return false;
    throw err;
  }
}

/** Passes bytes through and fails at the end, instead of ending, when they do not hash to `expected`. */
function sha1Check(expected: string): Transform {
  const hash = createHash('sha1');
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      const actual = hash.digest('hex');
      done(actual === expected ? null : new HashMismatchError(`The bytes hash to ${actual}, not to ${expected}.`));
    },
  });
}
