/**
 * The mutation score of the modules of `npm run test:mutation` together, from Stryker's JSON reports (the
 * mutation-testing-elements schema): per module and in all, killed (a test failed), timed out (counted as killed, as
 * Stryker does), survived, without coverage, and the score, (killed + timeout) / (killed + timeout + survived + no
 * coverage). Mutants that do not compile or that Stryker ignores (static ones) are not counted. Then every survivor,
 * to judge.
 *
 *   tsx scripts/mutation-score.ts <reports folder> <module>…
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Mutant {
  mutatorName: string;
  replacement?: string;
  status: string;
  location: { start: { line: number; column: number } };
}
interface Report {
  files: Record<string, { mutants: Mutant[] }>;
}

const [folder, ...modules] = process.argv.slice(2);
if (!folder || modules.length === 0) throw new Error('usage: tsx scripts/mutation-score.ts <reports folder> <module>…');

const COUNTED = ['Killed', 'Timeout', 'Survived', 'NoCoverage'] as const;
type Tally = Record<(typeof COUNTED)[number], number>;
const empty = (): Tally => ({ Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0 });
const score = (t: Tally): string => {
  const all = t.Killed + t.Timeout + t.Survived + t.NoCoverage;
  return all === 0 ? '-' : `${((100 * (t.Killed + t.Timeout)) / all).toFixed(2)}%`;
};

const total = empty();
const survivors: string[] = [];
const rows: string[] = [];
for (const module of modules) {
  const file = join(folder, `${module}.json`);
  if (!existsSync(file)) {
    rows.push(`| ${module} | no report (${file}) | | | | |`);
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  const tally = empty();
  for (const [path, { mutants }] of Object.entries(report.files)) {
    for (const mutant of mutants) {
      if (!(COUNTED as readonly string[]).includes(mutant.status)) continue;
      tally[mutant.status as keyof Tally]++;
      total[mutant.status as keyof Tally]++;
      if (mutant.status === 'Survived' || mutant.status === 'NoCoverage') {
        const { line, column } = mutant.location.start;
        const replacement = (mutant.replacement ?? '').replace(/\s+/g, ' ').slice(0, 80);
        survivors.push(`${path}:${line}:${column} ${mutant.status} ${mutant.mutatorName} → ${replacement}`);
      }
    }
  }
  rows.push(
    `| ${module} | ${score(tally)} | ${tally.Killed} | ${tally.Timeout} | ${tally.Survived} | ${tally.NoCoverage} |`,
  );
}
console.log('| module | score | killed | timeout | survived | no coverage |');
console.log('|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
console.log(`| all | ${score(total)} | ${total.Killed} | ${total.Timeout} | ${total.Survived} | ${total.NoCoverage} |`);
console.log(`\nSurvivors (${survivors.length}):`);
for (const line of survivors) console.log(line);
