/**
 * The README's generated blocks: the settings table from lib/settings.ts and `npm start`'s options from
 * lib/local/options.ts. `npm run docs:settings` (scripts/docs-settings.ts) writes them; test/unit/settings-docs.test.ts
 * checks that the README holds them as written.
 */
import { START_OPTIONS } from '../lib/local/options';
import { defaultText, SETTINGS } from '../lib/settings';

const cell = (text: string): string => text.replace(/\|/g, '\\|');

export function settingsTable(): string {
  const rows = SETTINGS.map(
    (s) => `| ${s.names.map((name) => `\`${name}\``).join(', ')} | ${cell(defaultText(s))} | ${cell(s.meaning)} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

export function optionsTable(): string {
  const rows = START_OPTIONS.map((o) => `| \`${o.flag}\` | ${cell(o.meaning)} |`);
  return ['| option | meaning |', '|---|---|', ...rows].join('\n');
}

/** The README with its generated blocks rewritten from the tables above. */
export function withGeneratedBlocks(readme: string): string {
  const blocks: Record<string, string> = { settings: settingsTable(), options: optionsTable() };
  return readme.replace(
    /(<!-- generated: (\w+) \(npm run docs:settings\) -->\n)[\s\S]*?(<!-- end generated: \2 -->)/g,
    (_match, open: string, name: string, close: string) => `${open}${blocks[name] ?? ''}\n${close}`,
  );
}
