/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Needs a faithful S3 (LocalStack): run by `npm run test:localstack` (jest.localstack.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/localstack/'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
  testTimeout: 60_000,
};
