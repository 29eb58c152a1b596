/**
 * `npm start`'s options and its `--help`, which also lists every setting from the table of settings (lib/settings.ts).
 * The README's options table is written from the same list (`npm run docs:settings`).
 */
import { defaultText, SETTINGS } from '../settings';

export interface StartOption {
  flag: string;
  meaning: string;
}

export const START_OPTIONS: readonly StartOption[] = [
  { flag: '--port N', meaning: 'port to listen on (default 9999; 0 picks a free one)' },
  { flag: '--host ADDR', meaning: 'address to listen on (default 127.0.0.1)' },
  {
    flag: '--directory DIR',
    meaning: 'keep the folder store in DIR across runs (default: a temporary folder, deleted on exit)',
  },
  {
    flag: '--fsync',
    meaning:
      'flush every write to the disk before answering, so it also survives a power loss (a killed process loses nothing either way)',
  },
  { flag: '--layout L', meaning: 'archive layout: `prefixed` (default) or `flat`, as `ARCHIVE_LAYOUT`' },
  {
    flag: '--username U',
    meaning:
      'require HTTP Basic credentials: user U, with the password from `FILESERVER_PASSWORD` or `--password-file`',
  },
  {
    flag: '--password-file F',
    meaning: 'read the password from the first line of F (there is no `--password`: `ps` and npm would show it)',
  },
  { flag: '--help', meaning: 'print this help' },
];

/** `npm start -- --help`: the options and the settings, as plain text. */
export function startHelp(): string {
  const plain = (text: string): string => text.replace(/`/g, '');
  const width = Math.max(...START_OPTIONS.map((o) => o.flag.length)) + 2;
  const options = START_OPTIONS.map((o) => `  ${o.flag.padEnd(width)}${plain(o.meaning)}`);
  const settings = SETTINGS.map(
    (s) => `  ${s.names.join(', ')}\n      ${plain(s.meaning)} (default: ${plain(defaultText(s))})`,
  );
  return ['Usage: npm start -- [options]', '', ...options, '', 'Environment:', ...settings].join('\n');
}
