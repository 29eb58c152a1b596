/**
 * The one description of every setting and of `npm start`'s options: `npm start -- --help` prints it, and
 * `npm run docs:settings` writes it into the README, whose copy a test compares with this one
 * (test/unit/settings-docs.test.ts). The values themselves are parsed and checked in lib/config.ts; the same test
 * checks that every variable the code reads is described here.
 */

/** The bucket of `npm start` and of the operator tool on a folder, when BUCKET is not set. */
export const LOCAL_BUCKET = 'recodex-fileserver';

export interface Setting {
  /** Environment variables (one, or a pair that belongs together). */
  names: readonly string[];
  default: string;
  meaning: string;
}

export const SETTINGS: readonly Setting[] = [
  { names: ['BUCKET'], default: '`recodex-fileserver` locally', meaning: 'the bucket that holds everything' },
  {
    names: ['S3_ENDPOINT'],
    default: 'unset: AWS, or the folder store locally',
    meaning: 'an S3-compatible endpoint (LocalStack, MinIO, s3rver), addressed path-style',
  },
  {
    names: ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
    default: '`us-east-1`; not used by the folder store',
    meaning: 'the usual AWS SDK settings',
  },
  {
    names: ['ARCHIVE_LAYOUT'],
    default: '`prefixed`',
    meaning:
      '`prefixed`: entries under `<id>/`, for workers up to v1.6; `flat`: entries at the root, for workers from v1.7',
  },
  {
    names: ['FILESERVER_USERNAME', 'FILESERVER_PASSWORD'],
    default: 'unset: no credentials asked',
    meaning:
      'HTTP Basic credentials in local mode; set both or neither (ReCodEx defaults to `re`/`codex`: choose your own)',
  },
  {
    names: ['CREDENTIALS_PARAMETER'],
    default: 'unset',
    meaning:
      'an SSM SecureString holding `username:password`, read at the first request and cached; the deployment sets it, and it wins over the two above',
  },
  {
    names: ['INLINE_LIMIT_BYTES'],
    default: '4194304 (4 MiB)',
    meaning:
      'larger downloads are a `302` to a presigned URL; at most 4712448, the most a Lambda answer carries base64-encoded',
  },
  { names: ['PRESIGN_TTL_SECONDS'], default: '600', meaning: 'lifetime of presigned download and upload URLs' },
  {
    names: ['MAX_UPLOAD_BYTES'],
    default: '1073741824 (1 GiB)',
    meaning: 'the largest file of the large-upload route, and the largest total of one submission; at most 5 GiB',
  },
  {
    names: ['MAX_SUBMISSION_FILES'],
    default: '10000',
    meaning: 'the most files one submission holds over all its uploads; at most 10000',
  },
  {
    names: ['ARCHIVE_ON_DEMAND_MAX_BYTES', 'ARCHIVE_ON_DEMAND_MAX_FILES'],
    default: '134217728 (128 MiB), 1000',
    meaning:
      'the largest submission whose archive a GET builds itself within API Gateway’s 29 s; a larger one is left to the archiver, and its GET answers `503 archive-pending`. Raise both against an S3 that sends no notifications',
  },
  {
    names: ['ARCHIVE_IN_POST_MAX_BYTES'],
    default: '16777216 (16 MiB)',
    meaning:
      'the largest submission whose archive a POST that holds all its files builds itself, before the manifest; 0 leaves every build to the archiver',
  },
  {
    names: ['EXERCISE_CACHE_BYTES'],
    default: '67108864 (64 MiB)',
    meaning: 'memory per function instance for exercise files (their content never changes); 0 turns it off',
  },
  {
    names: ['LOG_LEVEL'],
    default: '`info`',
    meaning: '`info`: one JSON line per request; `error`: failures only; `silent`: nothing',
  },
];

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

/** Every environment variable described above. */
export const SETTING_NAMES: ReadonlySet<string> = new Set(SETTINGS.flatMap((setting) => setting.names));

const cell = (text: string): string => text.replace(/\|/g, '\\|');

export function settingsTable(): string {
  const rows = SETTINGS.map(
    (s) => `| ${s.names.map((name) => `\`${name}\``).join(', ')} | ${cell(s.default)} | ${cell(s.meaning)} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

export function optionsTable(): string {
  const rows = START_OPTIONS.map((o) => `| \`${o.flag}\` | ${cell(o.meaning)} |`);
  return ['| option | meaning |', '|---|---|', ...rows].join('\n');
}

/** `npm start -- --help`: the options and the settings, as plain text. */
export function startHelp(): string {
  const plain = (text: string): string => text.replace(/`/g, '');
  const width = Math.max(...START_OPTIONS.map((o) => o.flag.length)) + 2;
  const options = START_OPTIONS.map((o) => `  ${o.flag.padEnd(width)}${plain(o.meaning)}`);
  const settings = SETTINGS.map(
    (s) => `  ${s.names.join(', ')}\n      ${plain(s.meaning)} (default: ${plain(s.default)})`,
  );
  return ['Usage: npm start -- [options]', '', ...options, '', 'Environment:', ...settings].join('\n');
}

/** The README with its generated blocks rewritten from the tables above. */
export function withGeneratedBlocks(readme: string): string {
  const blocks: Record<string, string> = { settings: settingsTable(), options: optionsTable() };
  return readme.replace(
    /(<!-- generated: (\w+) \(npm run docs:settings\) -->\n)[\s\S]*?(<!-- end generated: \2 -->)/g,
    (_match, open: string, name: string, close: string) => `${open}${blocks[name] ?? ''}\n${close}`,
  );
}
