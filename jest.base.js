/**
 * What every jest project of this repository shares (jest.config.js, jest.localstack.config.js).
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // archiver 8 and the parts of it that are ES modules only: Jest 30 on Node 20 cannot require() an ES module, so
  // these are compiled to CommonJS like the project's own files (docs/archives.md, "Why archiver, and why 8").
  transformIgnorePatterns: [
    '/node_modules/(?!(archiver|zip-stream|compress-commons|crc32-stream|is-stream|minimatch|balanced-match|brace-expansion)/)',
  ],
  setupFiles: ['<rootDir>/test/support/setup-env.ts'],
  testTimeout: 60_000,
};
