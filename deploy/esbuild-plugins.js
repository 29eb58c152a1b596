/**
 * esbuild plugins of the Lambda bundles (serverless.yml, custom.esbuild.plugins).
 *
 * ownSourcesOnly: each bundle's source map keeps the mappings of the project's own files (functions/, lib/) and drops
 * those of node_modules and the symbol names. A full map of a bundle with the AWS SDK is about 900 KB and would
 * take each zip past 400 KB (docs/deploy.md, "Package sizes and cold load"); with --enable-source-maps a stack trace
 * then names the TypeScript file and line of every frame in this project's code, and the bundle's own position for
 * frames inside a library.
 */
const { readFileSync, writeFileSync } = require('node:fs');
const { dirname, join, relative, resolve, sep } = require('node:path');
const { decode, encode } = require('@jridgewell/sourcemap-codec');

const ownSourcesOnly = {
  name: 'own-sources-only',
  setup(build) {
    // The list of outputs, for this plugin only (serverless-esbuild would package a metafile it was asked for).
    build.initialOptions.metafile = true;
    build.onEnd((result) => {
      if (result.errors.length > 0 || !result.metafile) return;
      for (const output of Object.keys(result.metafile.outputs)) {
        if (output.endsWith('.map')) pruneMap(output);
      }
    });
  },
};

/**
 * esbuild names sources relative to its build folder (`../lib/fileserver/archive-zip.ts` from `.esbuild/.build/functions/`);
 * relative to the map's place in the zip instead (`../lib/fileserver/archive-zip.ts` from `functions/`), a stack trace in Lambda
 * reads `/var/task/lib/archive.ts:136`, the path of the file in this repository.
 */
function asInPackage(mapFile, source) {
  const buildRoot = join(process.cwd(), '.esbuild', '.build');
  const inZip = relative(buildRoot, dirname(mapFile));
  const fromService = relative(process.cwd(), resolve(dirname(mapFile), source));
  if (inZip.startsWith('..') || fromService.startsWith('..')) return source;
  return relative(inZip, fromService).split(sep).join('/');
}

function pruneMap(file) {
  const map = JSON.parse(readFileSync(file, 'utf8'));
  const keep = map.sources.map((source) => !source.includes('node_modules/'));
  const renumbered = [];
  const sources = [];
  map.sources.forEach((source, index) => {
    if (!keep[index]) return;
    renumbered[index] = sources.length;
    sources.push(source);
  });
  const lines = decode(map.mappings).map((segments) =>
    segments
      .filter((segment) => segment.length >= 4 && keep[segment[1]])
      .map((segment) => [segment[0], renumbered[segment[1]], segment[2], segment[3]]),
  );
  const pruned = {
    version: map.version,
    sources: sources.map((source) => asInPackage(file, source)),
    names: [],
    mappings: encode(lines),
  };
  if (map.sourceRoot) pruned.sourceRoot = map.sourceRoot;
  writeFileSync(file, JSON.stringify(pruned));
}

module.exports = [ownSourcesOnly];
