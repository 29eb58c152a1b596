/**
 * `npm test`: three projects (docs/embedded-store.md, "Tests").
 * - `unit`: pure modules and the deployment template, once.
 * - `folder-store`: the handler, integration and race suites on the folder store, `npm start`'s default, plus the
 *   folder store's own suites (crash consistency, truncation, hostile keys, S3 rules enforced locally).
 * - `s3rver`: the same handler and integration suites, and the fault-injection suites (which need S3 on the wire),
 *   on S3 (the embedded s3rver), so the S3 implementation of the storage boundary is tested as before.
 * LocalStack runs the S3 suites a third time (`npm run test:localstack`, jest.localstack.config.js).
 * @type {import('jest').Config}
 */
const base = require('./jest.base');

/**
 * Suites that watch or break S3 itself (SDK middleware spies on the S3 requests sent, S3 requests counted on the
 * wire and their rounds, multipart parts, a dead S3 endpoint, a recording proxy in front of S3), or that write the store from a second
 * process while the server runs (operator-resume; the folder store admits one process): S3 backends only.
 */
const S3_ONLY = [
  '<rootDir>/test/handlers/archiver-failure.test.ts',
  '<rootDir>/test/handlers/storage-down.test.ts',
  '<rootDir>/test/integration/worker-redirect.test.ts',
  '<rootDir>/test/integration/operator-migrate.test.ts',
  '<rootDir>/test/integration/operator-resume.test.ts',
  '<rootDir>/test/integration/s3-request-counts.test.ts',
  '<rootDir>/test/integration/s3-request-depth.test.ts',
  '<rootDir>/test/integration/s3-conditional-writes.test.ts',
];

module.exports = {
  testTimeout: base.testTimeout,
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/test/unit/**/*.test.ts',
        '<rootDir>/test/deploy/**/*.test.ts',
        '<rootDir>/test/bench/**/*.test.ts',
      ],
    },
    {
      ...base,
      displayName: 'folder-store',
      testMatch: [
        '<rootDir>/test/handlers/**/*.test.ts',
        '<rootDir>/test/integration/**/*.test.ts',
        '<rootDir>/test/faults/concurrency.test.ts',
        '<rootDir>/test/faults/hostile.test.ts',
        '<rootDir>/test/faults/slow-client.test.ts',
        '<rootDir>/test/folder-store/**/*.test.ts',
      ],
      testPathIgnorePatterns: ['/node_modules/', ...S3_ONLY],
      setupFiles: [...base.setupFiles, '<rootDir>/test/support/setup-folder-store.ts'],
    },
    {
      ...base,
      displayName: 's3rver',
      testMatch: [
        '<rootDir>/test/handlers/**/*.test.ts',
        '<rootDir>/test/integration/**/*.test.ts',
        '<rootDir>/test/faults/**/*.test.ts',
      ],
      testPathIgnorePatterns: [
        '/node_modules/',
        // `npm start` itself runs on the folder store, in the project above.
        '<rootDir>/test/integration/cli.test.ts',
        // So do the README's blocks, the signals sent to npm start and the operator's smoke test against it, which
        // run `npm start` as a user does.
        '<rootDir>/test/integration/readme.test.ts',
        '<rootDir>/test/integration/npm-start-signals.test.ts',
        '<rootDir>/test/integration/smoke.test.ts',
        // s3rver rewrites an object in place, so an archive GET racing a rebuild can read a cut zip ("End of
        // central directory record signature not found" under load). This suite runs on the folder store above and,
        // for the S3 store, against LocalStack (jest.localstack.config.js), where writes are atomic as in AWS.
        '<rootDir>/test/integration/large-uploads.test.ts',
      ],
      setupFiles: [...base.setupFiles, '<rootDir>/test/support/setup-s3rver.ts'],
    },
  ],
};
