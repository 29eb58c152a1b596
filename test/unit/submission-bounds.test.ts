/**
 * The bounds of one submission at their default values (docs/protocol.md, "Bounds and bad input"): whatever the
 * requests that built it, a submission the bounds accept has a manifest that the service can still read (within
 * MAX_MANIFEST_BYTES), also after every one of its files has been replaced once (each then names a revision key).
 */
import { loadConfig } from '../../lib/config';
import { PayloadTooLargeError } from '../../lib/errors';
import { revisionFileKey } from '../../lib/fileserver/keys';
import { type ManifestFile, makeManifest, parseManifest, serializeManifest } from '../../lib/fileserver/manifest';
import { checkSubmissionBounds, MAX_MANIFEST_BYTES } from '../../lib/fileserver/submission-bounds';
import { thrownBy } from '../support/thrown';

const defaults = loadConfig({ BUCKET: 'b' });
const bounds = { maxFiles: defaults.maxSubmissionFiles, maxTotalBytes: defaults.maxUploadBytes };
const ID = 'i'.repeat(128);

/** `count` empty files whose paths are as long as allowed (800 bytes) and as costly in JSON as a path can be. */
function worstFiles(count: number): ManifestFile[] {
  return Array.from({ length: count }, (_, i) => ({
    // `"` takes two bytes in JSON; control characters, which take six, are refused in paths.
    path: `${'"'.repeat(789)}/${String(i).padStart(10, '0')}`,
    size: 0,
    etag: '"d41d8cd98f00b204e9800998ecf8427e"',
  }));
}

function refusal(files: readonly ManifestFile[], id = ID): unknown {
  return thrownBy(() => checkSubmissionBounds(id, files, bounds));
}

/** The largest count of `make(count)` the bounds accept (a binary search; accepted counts are a prefix). */
function largestAccepted(make: (count: number) => ManifestFile[], upTo: number): number {
  let low = 0;
  let high = upTo;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (refusal(make(mid)) === undefined) low = mid;
    else high = mid - 1;
  }
  return low;
}

it('at the manifest bound, the manifest stays readable even with every file replaced (revision keys)', () => {
  const count = largestAccepted(worstFiles, 20_000);
  expect(count).toBeGreaterThan(0);
  expect(count).toBeLessThan(bounds.maxFiles);
  const replaced = worstFiles(count).map((file) => ({
    ...file,
    key: revisionFileKey(ID, 'f'.repeat(16), file.path),
  }));
  const text = serializeManifest(makeManifest(ID, replaced));
  const bytes = Buffer.byteLength(text);
  expect(bytes).toBeLessThanOrEqual(MAX_MANIFEST_BYTES);
  // The bound is not far below what can be read: the estimate is of the costliest entry, not wasteful.
  expect(bytes).toBeGreaterThan(0.97 * MAX_MANIFEST_BYTES);
  expect(parseManifest(text, ID).files).toHaveLength(count);

  const past = refusal(worstFiles(count + 1));
  expect(past).toBeInstanceOf(PayloadTooLargeError);
  expect(past).toMatchObject({ statusCode: 413, code: 'submission-too-large' });
});

it("the issue's growth (4,500 empty files under 800-byte paths per POST) is refused before its manifest passes 16 MiB", () => {
  const grow = (count: number): ManifestFile[] =>
    Array.from({ length: count }, (_, i) => ({ path: `${'p'.repeat(790)}/${i}`.slice(-800), size: 0, etag: '"e"' }));
  expect(refusal(grow(4500), 'grow')).toBeUndefined();
  expect(refusal(grow(9000), 'grow')).toBeUndefined();
  expect(refusal(grow(13_500), 'grow')).toMatchObject({ statusCode: 413, code: 'submission-too-large' });
});

it('takes 10,000 files of short paths, and refuses the 10,001st', () => {
  const short = (count: number): ManifestFile[] =>
    Array.from({ length: count }, (_, i) => ({ path: `f${i}`, size: 1, etag: '"e"' }));
  expect(refusal(short(10_000))).toBeUndefined();
  const past = refusal(short(10_001));
  expect(past).toMatchObject({ statusCode: 413, code: 'submission-too-large' });
  expect((past as Error).message).toContain('10000');
});

it('refuses a total above MAX_UPLOAD_BYTES as upload-too-large', () => {
  const half = Math.ceil(bounds.maxTotalBytes / 2);
  const files = [
    { path: 'a', size: half, etag: '"a"' },
    { path: 'b', size: half, etag: '"b"' },
  ];
  expect(refusal(files.slice(0, 1))).toBeUndefined();
  expect(refusal(files.map((file) => ({ ...file, size: half - 1 })))).toBeUndefined();
  expect(refusal([...files, { path: 'c', size: 1, etag: '"c"' }])).toMatchObject({
    statusCode: 413,
    code: 'upload-too-large',
  });
});
