/** Helpers of the archiver handler tests: store a submission through lib, read an object's bytes back. */

import { storeSubmission } from '../../../lib/fileserver/submissions';
import { parseFileParts } from '../../../lib/http/multipart';
import { file, multipart } from '../../support/multipart';
import type { TestBucket } from './store';

export async function submit(id: string, files: Record<string, string | Buffer>): Promise<void> {
  const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
  await storeSubmission(id, () => parseFileParts(contentType, body));
}

export function storedBytes(bucket: TestBucket, key: string): Promise<Buffer> {
  return bucket.storedBytes(key);
}
