// @ts-check
/**
 * `npm run test:mutation` (scripts/mutation.sh; docs/development.md, "Mutation testing"): StrykerJS over the modules
 * that hold the service's guarantees, one module at a time. Each module is mutated with only the jest suites that
 * test it, and Stryker runs only the tests that cover each mutant (`coverageAnalysis: perTest`), so that a run fits
 * on two cores. The suites run on the folder store (jest.mutation.config.js); the S3-only suites that start their
 * own s3rver behind the fault proxy run as they are.
 *
 * MUTATION_MODULE picks the module (a key of MODULES, scripts/mutation-modules.mjs), MUTATION_REPORTS the folder of the reports and of the
 * incremental results (reports/mutation).
 */

import { MODULES } from './scripts/mutation-modules.mjs';

const name = process.env.MUTATION_MODULE ?? '';
const reports = process.env.MUTATION_REPORTS ?? 'reports/mutation';
const chosen = MODULES[name];
if (!chosen) {
  throw new Error(`MUTATION_MODULE must be one of ${Object.keys(MODULES).join(', ')}; it is ${JSON.stringify(name)}.`);
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  // Checking every mutant against the types of the whole program is what makes the checker slow; mutants of one
  // module only change that module's types.
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  // A mutant in code that runs at load time would need every suite; such mutants are not run.
  ignoreStatic: true,
  mutate: chosen.mutate,
  jest: {
    projectType: 'custom',
    configFile: 'jest.mutation.config.js',
    config: { testMatch: chosen.tests.map((test) => `<rootDir>/${test}`) },
    enableFindRelatedTests: false,
  },
  // Two cores shared with others: one jest process per mutant at a time by default (MUTATION_CONCURRENCY).
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 1),
  timeoutMS: 30_000,
  timeoutFactor: 2,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignorePatterns: ['bench/results', '.venv*', '.localstack', '.tools', '.serverless', '.build', '.esbuild', 'reports'],
  incremental: true,
  incrementalFile: `${reports}/${name}.incremental.json`,
  reporters: ['clear-text', 'json', 'html', 'progress'],
  jsonReporter: { fileName: `${reports}/${name}.json` },
  htmlReporter: { fileName: `${reports}/${name}.html` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
};
