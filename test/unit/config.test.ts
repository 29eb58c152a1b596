/** A bad setting stops the start with a message that names it (lib/config.ts), rather than a failure mid-request. */
import { loadConfig } from '../../lib/config';

const base = { BUCKET: 'b' };

it('reads the defaults: 1 GiB uploads, 128 MiB on-demand archive builds, 4 MiB inline, 10-minute URLs', () => {
  expect(loadConfig(base)).toMatchObject({
    maxUploadBytes: 1024 ** 3,
    onDemandBuildMaxBytes: 128 * 1024 ** 2,
    inlineLimitBytes: 4 * 1024 ** 2,
    presignTtlSeconds: 600,
    maxSubmissionFiles: 10_000,
    onDemandBuildMaxFiles: 1000,
  });
});

it('takes the largest inline limit whose answer still fits a Lambda response', () => {
  expect(loadConfig({ ...base, INLINE_LIMIT_BYTES: '4712448' }).inlineLimitBytes).toBe(4712448);
});

it.each([
  ['MAX_UPLOAD_BYTES', 'abc', /MAX_UPLOAD_BYTES must be a positive integer/],
  ['MAX_UPLOAD_BYTES', '0', /MAX_UPLOAD_BYTES must be a positive integer/],
  // S3 takes at most 5 GiB in one PUT, and a presigned upload is one PUT.
  ['MAX_UPLOAD_BYTES', String(5 * 1024 ** 3 + 1), /MAX_UPLOAD_BYTES must be at most 5368709120/],
  ['ARCHIVE_ON_DEMAND_MAX_BYTES', '-1', /ARCHIVE_ON_DEMAND_MAX_BYTES must be a positive integer/],
  ['ARCHIVE_ON_DEMAND_MAX_BYTES', '1.5', /ARCHIVE_ON_DEMAND_MAX_BYTES must be a positive integer/],
  ['PRESIGN_TTL_SECONDS', 'ten', /PRESIGN_TTL_SECONDS must be a positive integer/],
  ['ARCHIVE_IN_POST_MAX_BYTES', '-1', /ARCHIVE_IN_POST_MAX_BYTES must be 0 or a positive integer/],
  ['ARCHIVE_IN_POST_MAX_BYTES', 'all', /ARCHIVE_IN_POST_MAX_BYTES must be 0 or a positive integer/],
  // A Lambda answer carries at most 6 MiB, and an inline download travels base64 (4/3 of its size) with its headers.
  ['INLINE_LIMIT_BYTES', String(8 * 1024 ** 2), /INLINE_LIMIT_BYTES must be at most 4712448/],
  ['INLINE_LIMIT_BYTES', String(4.5 * 1024 ** 2), /INLINE_LIMIT_BYTES must be at most 4712448/],
  ['MAX_SUBMISSION_FILES', '10001', /MAX_SUBMISSION_FILES must be at most 10000/],
  ['MAX_SUBMISSION_FILES', '0', /MAX_SUBMISSION_FILES must be a positive integer/],
  ['ARCHIVE_ON_DEMAND_MAX_FILES', 'many', /ARCHIVE_ON_DEMAND_MAX_FILES must be a positive integer/],
  ['REFUSE_FOLDED_COLLISIONS', 'ture', /REFUSE_FOLDED_COLLISIONS must be true or false; it is "ture"/],
  ['REFUSE_FOLDED_COLLISIONS', '1', /REFUSE_FOLDED_COLLISIONS must be true or false/],
])('refuses %s=%s', (name, value, message) => {
  expect(() => loadConfig({ ...base, [name]: value })).toThrow(message);
});

it('builds archives in POSTs up to 16 MiB by default, more than a POST carries; 0 leaves them to the archiver', () => {
  expect(loadConfig(base).archiveInPostMaxBytes).toBe(16 * 1024 ** 2);
  expect(loadConfig({ ...base, ARCHIVE_IN_POST_MAX_BYTES: '0' }).archiveInPostMaxBytes).toBe(0);
});

it('takes the largest upload S3 allows in one PUT', () => {
  expect(loadConfig({ ...base, MAX_UPLOAD_BYTES: String(5 * 1024 ** 3) }).maxUploadBytes).toBe(5 * 1024 ** 3);
});

it('keeps paths that differ only in case or normalisation by default; REFUSE_FOLDED_COLLISIONS=true refuses them', () => {
  expect(loadConfig(base).refuseFoldedCollisions).toBe(false);
  expect(loadConfig({ ...base, REFUSE_FOLDED_COLLISIONS: 'false' }).refuseFoldedCollisions).toBe(false);
  expect(loadConfig({ ...base, REFUSE_FOLDED_COLLISIONS: 'true' }).refuseFoldedCollisions).toBe(true);
});
