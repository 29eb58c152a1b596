/**
 * Content-addressed exercise files (PROTOCOL.md §4): stored under the SHA-1 of their bytes, written once, never
 * rewritten, because workers cache them by name forever and never re-verify.
 */
import { createHash } from 'node:crypto';
import { mapWithLimit } from './concurrency';
import { publicPath, taskKey } from './keys';
import { parseFileParts, rejectDuplicateFields } from './multipart';
import { headObject, PreconditionFailed, putObject } from './storage';

const WRITE_CONCURRENCY = 8;

export interface ExerciseUploadAnswer {
  result: 'OK';
  /** field name → `/exercises/<sha1>`, always the `/exercises` form, also when posted to `/tasks`. */
  files: Record<string, string>;
}

export async function storeExerciseFiles(contentType: string | undefined, body: Buffer): Promise<ExerciseUploadAnswer> {
  const parts = await parseFileParts(contentType, body);
  rejectDuplicateFields(parts);
  const hashed = parts.map((part) => {
    const digest = createHash('sha1').update(part.data).digest();
    return { field: part.field, data: part.data, sha1: digest.toString('hex'), sha1Base64: digest.toString('base64') };
  });
  const unique = [...new Map(hashed.map((file) => [file.sha1, file])).values()];
  await mapWithLimit(unique, WRITE_CONCURRENCY, async (file) => {
    const key = taskKey(file.sha1);
    if (await headObject(key)) return; // stored already: the content behind a hash never changes
    try {
      // Create-only, and S3 checks the bytes against the SHA-1 the key is named after.
      await putObject(key, file.data, { createOnly: true, checksumSha1: file.sha1Base64 });
    } catch (err) {
      if (err instanceof PreconditionFailed) return; // a concurrent upload of the same content won
      throw err;
    }
  });
  const files: Record<string, string> = {};
  for (const file of hashed) files[file.field] = publicPath.exercise(file.sha1);
  return { result: 'OK', files };
}
