/**
 * `npm run docs:settings`: rewrites the README's generated settings and options tables from lib/settings.ts and
 * lib/local/options.ts (scripts/readme-tables.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withGeneratedBlocks } from './readme-tables';

const path = join(__dirname, '../README.md');
const before = readFileSync(path, 'utf8');
const after = withGeneratedBlocks(before);
writeFileSync(path, after);
console.log(
  before === after ? 'README.md: the generated tables were current' : 'README.md: generated tables rewritten',
);
