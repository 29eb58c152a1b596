/**
 * `npm run test:mutation` (stryker.config.mjs): one jest project on the folder store, `npm start`'s default; Stryker
 * sets `testMatch` to the suites of the module under mutation.
 * @type {import('jest').Config}
 */
const base = require('./jest.base');

module.exports = {
  ...base,
  setupFiles: [...base.setupFiles, '<rootDir>/test/support/setup-folder-store.ts'],
};
