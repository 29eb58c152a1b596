/**
 * One source for the settings (lib/settings.ts): the README's tables are generated from it, `npm start -- --help`
 * prints it, and every environment variable the service reads is in it, so neither can fall behind the code.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { START_OPTIONS, startHelp } from '../../lib/local/options';
import { SETTING_NAMES } from '../../lib/settings';
import { withGeneratedBlocks } from '../../scripts/readme-tables';

const root = join(__dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Variables read as `env.NAME`, `env['NAME']` or passed by name to lib/config.ts's parsers (`env, 'NAME'`). */
function variablesRead(): Set<string> {
  const found = new Set<string>();
  for (const file of [...sources(join(root, 'lib')), ...sources(join(root, 'functions'))]) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/env(?:\.|\[')([A-Z][A-Z0-9_]+)|env, '([A-Z][A-Z0-9_]+)'/g)) {
      found.add((match[1] ?? match[2]) as string);
    }
  }
  // Set by npm for the operator tool (the folder it was started from), not a setting of the service.
  found.delete('INIT_CWD');
  return found;
}

describe('settings documentation', () => {
  it('the README holds the tables generated from lib/settings.ts (run npm run docs:settings after a change)', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('<!-- generated: settings (npm run docs:settings) -->');
    expect(readme).toContain('<!-- generated: options (npm run docs:settings) -->');
    expect(withGeneratedBlocks(readme)).toBe(readme);
  });

  it('describes every environment variable the code reads', () => {
    const undocumented = [...variablesRead()].filter((name) => !SETTING_NAMES.has(name));
    expect(undocumented).toEqual([]);
  });

  it('npm start -- --help lists every option and every setting', () => {
    const help = startHelp();
    for (const option of START_OPTIONS) expect(help).toContain(option.flag);
    for (const name of SETTING_NAMES) expect(help).toContain(name);
  });
});

describe('facts the documents state about the code', () => {
  it('docs/deploy.md names as many functions as serverless.yml declares', () => {
    const service = parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as { functions: Record<string, unknown> };
    const count = Object.keys(service.functions).length;
    const words = [
      'Zero',
      'One',
      'Two',
      'Three',
      'Four',
      'Five',
      'Six',
      'Seven',
      'Eight',
      'Nine',
      'Ten',
      'Eleven',
      'Twelve',
    ];
    expect(readFileSync(join(root, 'docs/deploy.md'), 'utf8')).toContain(`**${words[count]} functions**`);
  });
});
