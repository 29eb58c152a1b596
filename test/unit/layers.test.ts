/**
 * The layers of lib/ are held by the linter (biome.json's overrides, docs/design.md "Layers"): each probe below is an
 * import that runs the wrong way, linted with the project's own biome.json in a scratch tree of the same folders, and
 * must fail with the rule that forbids it; the right-way imports beside them must pass.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repository = resolve(__dirname, '../..');
const biome = join(repository, 'node_modules/.bin/biome');

interface Probe {
  /** The importing file, relative to the repository. */
  file: string;
  /** The file it imports, relative to the repository, without `.ts`. */
  imports: string;
}

/** Lints `probes` (each file importing its target) in a scratch copy of the layout; the diagnostics per file. */
async function lint(probes: readonly Probe[]): Promise<{ failed: boolean; output: string }> {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  try {
    const config = JSON.parse(readFileSync(join(repository, 'biome.json'), 'utf8')) as Record<string, unknown>;
    config.$schema = join(repository, 'node_modules/@biomejs/biome/configuration_schema.json');
    // The scratch tree is no git checkout: nothing to ignore, and no ignore file to look for.
    config.vcs = { enabled: false };
    writeFileSync(join(root, 'biome.json'), JSON.stringify(config));
    const write = (file: string, text: string): void => {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), text);
    };
    // Each file exports what its importers take: a target alone, or a probe that another probe imports (a cycle).
    const exportsOf = (file: string): string =>
      probes
        .map((probe, index) => (`${probe.imports}.ts` === file ? `export const value${index} = ${index};\n` : ''))
        .join('');
    const probeFiles = new Set(probes.map((probe) => probe.file));
    for (const { imports } of probes)
      if (!probeFiles.has(`${imports}.ts`)) write(`${imports}.ts`, exportsOf(`${imports}.ts`));
    probes.forEach((probe, index) => {
      let specifier = relative(dirname(probe.file), probe.imports);
      if (!specifier.startsWith('.')) specifier = `./${specifier}`;
      const body = `import { value${index} } from '${specifier}';\n\nexport const probe${index} = value${index};\n`;
      write(probe.file, body + exportsOf(probe.file));
    });
    try {
      const { stdout, stderr } = await run(biome, ['lint', '--max-diagnostics=200', '.'], { cwd: root });
      return { failed: false, output: stdout + stderr };
    } catch (err) {
      const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
      return { failed: true, output: stdout + stderr };
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const wrongWay: readonly (Probe & { why: string })[] = [
  { file: 'lib/storage/s3/s3-store.ts', imports: 'lib/http/auth', why: 'storage imports HTTP' },
  { file: 'lib/storage/store.ts', imports: 'lib/fileserver/keys', why: "storage imports the fileserver's rules" },
  { file: 'lib/fileserver/submissions.ts', imports: 'lib/http/multipart', why: "the fileserver's rules import HTTP" },
  {
    file: 'lib/fileserver/archive-zip.ts',
    imports: 'lib/storage/s3/s3-store',
    why: 'the domain bypasses the boundary',
  },
  { file: 'lib/http/handler.ts', imports: 'lib/local/server', why: 'HTTP imports local mode' },
  { file: 'lib/fileserver/keys.ts', imports: 'lib/operator/main', why: 'the domain imports the operator tool' },
  { file: 'lib/operator/main.ts', imports: 'lib/local/stack', why: 'the operator tool loads the dev server' },
  {
    file: 'lib/storage/folder-store/folder-store.ts',
    imports: 'lib/storage/s3/s3-store',
    why: 'one store imports the other',
  },
  {
    file: 'lib/storage/s3/s3-store.ts',
    imports: 'lib/storage/folder-store/folder',
    why: 'one store imports the other',
  },
  { file: 'lib/util/log.ts', imports: 'lib/storage/store', why: 'a utility imports storage' },
  { file: 'lib/config.ts', imports: 'lib/http/auth', why: 'the configuration imports HTTP' },
  { file: 'lib/http/request.ts', imports: 'functions/index', why: 'lib imports the Lambda entry points' },
];

const rightWay: readonly Probe[] = [
  { file: 'functions/results.ts', imports: 'lib/http/handler' },
  { file: 'lib/http/serve-object.ts', imports: 'lib/storage/store' },
  { file: 'lib/fileserver/submissions.ts', imports: 'lib/storage/store' },
  { file: 'lib/storage/s3/s3-store.ts', imports: 'lib/storage/presign' },
  { file: 'lib/local/stack.ts', imports: 'lib/storage/folder-store/folder-store' },
  { file: 'lib/operator/migrate.ts', imports: 'lib/fileserver/submissions' },
];

describe('the layers of lib/ (biome.json)', () => {
  it.each(wrongWay)('refuses $file importing $imports: $why', async (probe) => {
    const { failed, output } = await lint([probe]);
    expect(failed).toBe(true);
    expect(output).toContain(`${probe.file}:1:`);
    expect(output).toContain('lint/style/noRestrictedImports');
  });

  it('accepts the imports that run down the layers', async () => {
    const { failed, output } = await lint(rightWay);
    expect(output).not.toContain('noRestrictedImports');
    expect(output).not.toMatch(/lint\//);
    expect(failed).toBe(false);
  });

  it('refuses an import cycle', async () => {
    const { failed, output } = await lint([
      { file: 'lib/util/cycle-a.ts', imports: 'lib/util/cycle-b' },
      { file: 'lib/util/cycle-b.ts', imports: 'lib/util/cycle-a' },
    ]);
    expect(failed).toBe(true);
    expect(output).toContain('lint/suspicious/noImportCycles');
  });
});
