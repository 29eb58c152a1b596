// @ts-check
/**
 * The modules of `npm run test:mutation` (stryker.config.mjs): those that hold the service's guarantees, each with
 * the jest suites that test it. Stryker mutates one module at a time and runs, of these suites, only the tests that
 * cover each mutant.
 */
/** @type {Record<string, { mutate: string[], tests: string[] }>} */
export const MODULES = {
  submissions: {
    mutate: ['lib/fileserver/submissions.ts'],
    tests: [
      'test/handlers/api.test.ts',
      'test/integration/same-submission-races.test.ts',
      'test/integration/s3-conditional-writes.test.ts',
      'test/integration/protocol.test.ts',
      'test/integration/large-uploads.test.ts',
      'test/integration/bad-input-bounds.test.ts',
      'test/faults/archive-in-post.test.ts',
    ],
  },
  manifest: {
    mutate: ['lib/fileserver/manifest.ts'],
    tests: [
      'test/unit/manifest.test.ts',
      'test/handlers/api.test.ts',
      'test/handlers/archiver.test.ts',
      'test/integration/bad-input-bounds.test.ts',
    ],
  },
  'submission-bounds': {
    mutate: ['lib/fileserver/submission-bounds.ts'],
    tests: ['test/unit/submission-bounds.test.ts', 'test/integration/bad-input-bounds.test.ts'],
  },
  keys: {
    mutate: ['lib/fileserver/keys.ts'],
    // manifest.test.ts: isSubmissionFileKey decides which keys a stored manifest may name.
    tests: [
      'test/unit/keys.test.ts',
      'test/unit/manifest.test.ts',
      'test/unit/uploads.test.ts',
      'test/handlers/api.test.ts',
    ],
  },
  'archive-zip': {
    mutate: ['lib/fileserver/archive-zip.ts'],
    tests: [
      'test/unit/archive-bytes.test.ts',
      'test/unit/archive-from-memory.test.ts',
      'test/unit/archive-layout.test.ts',
      'test/handlers/archiver.test.ts',
      'test/handlers/archiver-layout.test.ts',
      'test/handlers/archive-pending.test.ts',
      // The build's metrics (ArchiveBuilds, ArchiveBytes, …) on the archiver's EMF line.
      'test/handlers/request-logs.test.ts',
    ],
  },
  auth: {
    mutate: ['lib/http/auth.ts'],
    tests: ['test/unit/auth.test.ts', 'test/handlers/auth.test.ts'],
  },
  'folder-store': {
    mutate: ['lib/storage/folder-store/*.ts', '!lib/storage/folder-store/presigned.ts'],
    // Every suite of test/folder-store/ (the crash tests kill child processes, where Stryker's mutants are not active).
    tests: [
      'test/folder-store/store.test.ts',
      'test/folder-store/races.test.ts',
      'test/folder-store/s3-rules.test.ts',
      'test/folder-store/operator-directory.test.ts',
      'test/folder-store/cost-per-operation.test.ts',
      'test/folder-store/crash.test.ts',
      'test/unit/folder-store-keys.test.ts',
    ],
  },
  presigned: {
    mutate: ['lib/storage/folder-store/presigned.ts', 'lib/local/store-endpoint.ts'],
    tests: [
      'test/unit/presigned-verify.test.ts',
      'test/folder-store/store-endpoint.test.ts',
      'test/folder-store/s3-rules.test.ts',
      'test/integration/presign-expiry.test.ts',
    ],
  },
};

