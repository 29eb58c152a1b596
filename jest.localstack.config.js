/**
 * `npm run test:localstack`: the integration suites that run against the embedded server (written once, with the
 * endpoint taken from the environment), plus the cases only a faithful S3 shows, against LocalStack's S3.
 * @type {import('jest').Config}
 */
const base = require('./jest.base');

module.exports = {
  ...base,
  testMatch: [
    '<rootDir>/test/integration/protocol.test.ts',
    '<rootDir>/test/integration/worker-redirect.test.ts',
    '<rootDir>/test/integration/large-uploads.test.ts',
    '<rootDir>/test/integration/presign-expiry.test.ts',
    '<rootDir>/test/integration/operator-*.test.ts',
    '<rootDir>/test/integration/same-submission-races.test.ts',
    '<rootDir>/test/localstack/**/*.test.ts',
  ],
  setupFiles: [...base.setupFiles, '<rootDir>/test/support/setup-localstack.ts'],
};
