/**
 * The operator tool's command line, read in one place (docs/operations.md, "Commands and options"): every option is a
 * row of `OPTIONS`, which says the commands that take it and how its value is read and checked. A mistake is a
 * `UsageError` whose message is one line that names the option; the tool then exits 2 having done nothing. No value
 * reaches a command unchecked, so none can fail later in a way that prints a stack (`gc --older-than 1e9` would make
 * a date that cannot exist).
 *
 * Options are long options, `--name VALUE` or `--name=VALUE`; after `--` everything is a positional argument. A value
 * may start with a dash (`--older-than -5`), so that it is judged as a value and named as one.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ARCHIVE_LAYOUTS, type ArchiveLayout } from '../settings';
import { isReadableFolder } from './old-layout';

export const COMMANDS = ['migrate', 'verify', 'stats', 'gc'] as const;
export type Command = (typeof COMMANDS)[number];

/** A mistake on the command line: exit 2, and nothing was done. */
export class UsageError extends Error {}

/** Items in flight: enough to hide S3's latency, few enough for memory (docs/operations.md). */
export const DEFAULT_CONCURRENCY = 8;
const MAX_CONCURRENCY = 256;
/** gc's age bound: a file the API uploaded but has not yet recorded is younger than this (docs/operations.md, "gc"). */
export const DEFAULT_GC_AGE_DAYS = 30;
/** A century: any longer bound keeps every file just the same, and a much longer one makes no date at all. */
const MAX_GC_AGE_DAYS = 36_500;

interface Row<T> {
  /** The commands that take it; all of them when absent. */
  commands?: readonly Command[];
  /** The value's name in messages (`DIR`, `N`); a flag has none. */
  value?: string;
  /** Reads and checks the value; a message (without the option's name) for a bad one. */
  read?: (text: string) => T;
}

const flag = (commands?: readonly Command[]): Row<true> => ({ commands });

function wholeNumber(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new Error(`must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
    }
    return value;
  };
}

function days(text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value > MAX_GC_AGE_DAYS) {
    throw new Error(`must be a number of days from 0 to ${MAX_GC_AGE_DAYS}, not ${JSON.stringify(text)}`);
  }
  return value;
}

function nonEmpty(text: string): string {
  if (text === '') throw new Error('must not be empty');
  return text;
}

function readableFolder(text: string): string {
  if (!isReadableFolder(nonEmpty(text))) throw new Error(`${text} is not a folder that can be read`);
  return resolve(text);
}

/** A file to be written: its folder must exist and be writable now, not only when the work is done. */
function reportFile(text: string): string {
  nonEmpty(text);
  const path = resolve(text);
  try {
    if (!statSync(dirname(path)).isDirectory()) throw new Error('not a folder');
    accessSync(dirname(path), constants.W_OK);
  } catch {
    throw new Error(`${text} cannot be written: its folder ${dirname(path)} does not exist or is not writable`);
  }
  return path;
}

function layout(text: string): ArchiveLayout {
  if (!(ARCHIVE_LAYOUTS as readonly string[]).includes(text)) {
    throw new Error(`must be one of ${ARCHIVE_LAYOUTS.join(', ')}, not ${JSON.stringify(text)}`);
  }
  return text as ArchiveLayout;
}

export const OPTIONS = {
  from: { commands: ['migrate'], value: 'DIR', read: readableFolder },
  'dry-run': flag(['migrate', 'gc']),
  repair: flag(['verify']),
  keep: { commands: ['gc'], value: 'FILE', read: nonEmpty },
  'older-than': { commands: ['gc'], value: 'DAYS', read: days },
  yes: flag(['gc']),
  concurrency: { value: 'N', read: wholeNumber(1, MAX_CONCURRENCY) },
  directory: { value: 'DIR', read: folderOrNew },
  layout: { value: 'L', read: layout },
  report: { value: 'FILE', read: reportFile },
  json: flag(),
  quiet: flag(),
  help: flag(),
} satisfies Record<string, Row<unknown>>;

type Rows = typeof OPTIONS;
type Name = keyof Rows;
type ValueOf<R> = R extends { read: (text: string) => infer T } ? T : true;

/** The options given, each read and checked; absent ones are undefined. */
export type Options = { -readonly [N in Name]?: ValueOf<Rows[N]> };

export interface CommandLine {
  /** Undefined with `--help` alone, or nothing at all. */
  command: Command | undefined;
  options: Options;
}

/** `--directory DIR`: the folder store's folder, which need not exist yet (`npm start -- --directory` makes it). */
function folderOrNew(text: string): string {
  return resolve(nonEmpty(text));
}

/** Reads `argv` (the arguments after `npm run fileserver --`); throws `UsageError` at the first mistake. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const given = new Map<Name, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const match = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    const name = match?.[1];
    if (!match || name === undefined || !Object.hasOwn(OPTIONS, name)) {
      throw new UsageError(`Unknown option '${arg.split('=')[0]}'; npm run fileserver -- --help lists the options.`);
    }
    const option = name as Name;
    const row: Row<unknown> = OPTIONS[option];
    if (given.has(option)) throw new UsageError(`--${option} is given twice; give it once.`);
    const inline = match[2];
    if (row.value === undefined) {
      if (inline !== undefined)
        throw new UsageError(`--${option} takes no value (it was given ${JSON.stringify(inline)}).`);
      given.set(option, true);
      continue;
    }
    if (inline !== undefined) {
      given.set(option, inline);
      continue;
    }
    const next = argv[i + 1];
    // The next argument is this option's value unless it is another option: `--older-than -5` is a (bad) value.
    if (next === undefined || next === '--' || isOption(next)) {
      throw new UsageError(`--${option} needs a value: --${option} ${row.value}.`);
    }
    given.set(option, next);
    i++;
  }

  const [first, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`Unexpected argument ${JSON.stringify(extra[0])}; give one command.`);
  if (first !== undefined && !(COMMANDS as readonly string[]).includes(first)) {
    throw new UsageError(`Unknown command ${JSON.stringify(first)}; use ${COMMANDS.join(', ')}.`);
  }
  const command = first as Command | undefined;
  const options: Record<string, unknown> = {};
  for (const [option, text] of given) {
    const row: Row<unknown> = OPTIONS[option];
    if (command !== undefined && row.commands && !row.commands.includes(command)) {
      throw new UsageError(`--${option} is not an option of ${command}.`);
    }
    if (text === true || !row.read) {
      options[option] = true;
      continue;
    }
    try {
      options[option] = row.read(text);
    } catch (err) {
      throw new UsageError(`--${option} ${(err as Error).message}.`);
    }
  }
  return { command, options: options as Options };
}

function isOption(arg: string): boolean {
  const name = /^--([^=]+)/.exec(arg)?.[1];
  return name !== undefined && Object.hasOwn(OPTIONS, name);
}
