/**
 * Each function checks its settings as Lambda loads its module, in the init phase (lib/config.ts): a bad setting
 * fails the start with a message that names it, and no request is answered 500 for it. Every handler module that
 * serverless.yml names is loaded here the way Lambda loads it: fresh, with the environment already set.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = join(__dirname, '../..');
const service = parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as {
  functions: Record<string, { handler: string }>;
};
/** `functions/status` of `functions/status.handler`, once per module. */
const modules = [...new Set(Object.values(service.functions).map((f) => f.handler.replace(/\.[^.]+$/, '')))];

/** Loads `module` in a module registry of its own with `env` added to the environment, as a new instance would. */
function loadWith(module: string, env: Record<string, string | undefined>): Record<string, unknown> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete process.env[name];
  try {
    let loaded: Record<string, unknown> = {};
    jest.isolateModules(() => {
      loaded = require(join(root, module)) as Record<string, unknown>;
    });
    return loaded;
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
}

it('serverless.yml names the eight function modules', () => {
  expect(modules).toHaveLength(8);
});

describe.each(modules)('%s', (module) => {
  it('loads with good settings, and its handlers are there', () => {
    const loaded = loadWith(module, { BUCKET: 'b', INLINE_LIMIT_BYTES: '1048576', ARCHIVE_LAYOUT: 'flat' });
    const exported = Object.values(service.functions)
      .filter((f) => f.handler.startsWith(`${module}.`))
      .map((f) => f.handler.slice(module.length + 1));
    for (const name of exported) expect(typeof loaded[name]).toBe('function');
  });

  it.each([
    ['INLINE_LIMIT_BYTES', { INLINE_LIMIT_BYTES: 'abc' }, /INLINE_LIMIT_BYTES must be a positive integer/],
    ['ARCHIVE_LAYOUT', { ARCHIVE_LAYOUT: 'zip' }, /ARCHIVE_LAYOUT must be one of prefixed, flat; it is "zip"/],
    ['BUCKET', { BUCKET: undefined }, /The environment variable BUCKET must be set/],
    ['FILESERVER_PASSWORD', { FILESERVER_USERNAME: 're' }, /Set both FILESERVER_USERNAME and FILESERVER_PASSWORD/],
  ])('fails to load on a bad %s, naming it', (_name, env, message) => {
    expect(() => loadWith(module, { BUCKET: 'b', ...env })).toThrow(message);
  });
});

it('names every bad setting at once, so that one failed start shows them all', () => {
  expect(() =>
    loadWith('functions/status', { BUCKET: 'b', PRESIGN_TTL_SECONDS: '0', MAX_UPLOAD_BYTES: '6e9' }),
  ).toThrow('PRESIGN_TTL_SECONDS must be a positive integer. MAX_UPLOAD_BYTES must be at most 5368709120.');
});
