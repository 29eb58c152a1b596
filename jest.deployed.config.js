/**
 * `npm run test:deployed` (test/deployed/run.ts starts the stack, then this): the protocol suite, unchanged, and the
 * tier's own cases, against the packaged functions under the Lambda emulator behind the gateway stand-in.
 * @type {import('jest').Config}
 */
const base = require('./jest.base');

module.exports = {
  ...base,
  testMatch: ['<rootDir>/test/integration/protocol.test.ts', '<rootDir>/test/deployed/**/*.test.ts'],
  // One invocation at a time per function, as one Lambda execution environment; cold starts take a second.
  testTimeout: 120_000,
  // One file at a time: they share the deployment's one bucket, and the protocol suite lists all of it to prove that
  // bad input wrote nothing.
  maxWorkers: 1,
};
