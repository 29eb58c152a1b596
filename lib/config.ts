/**
 * The configuration of the service, built from the table of settings (lib/settings.ts): each field of `Config` is
 * read by the row of its name, which says its variable, default, bounds and meaning.
 *
 * It is read when a function instance starts: every module of functions/ calls `checkConfigAtStart()` as it is
 * loaded, which Lambda does in the init phase (docs/development.md, "Code style"). A bad setting then fails the init
 * with a message that names the variable, and the function serves no request, rather than answering 500 to each.
 */
import { CONFIG_SETTINGS, type Environment } from './settings';

export type { ArchiveLayout } from './settings';

type Rows = typeof CONFIG_SETTINGS;

/** One field per row of `CONFIG_SETTINGS`, documented there. */
export type Config = { [Field in keyof Rows]: ReturnType<Rows[Field]['read']> };

/** Every setting of `env` read and checked; every bad one is named in the error, so that one start shows them all. */
export function loadConfig(env: Environment = process.env): Config {
  const config: Partial<Record<keyof Rows, unknown>> = {};
  const problems: string[] = [];
  for (const [field, setting] of Object.entries(CONFIG_SETTINGS) as [keyof Rows, Rows[keyof Rows]][]) {
    try {
      config[field] = setting.read(env);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length > 0) throw new Error(problems.join(' '));
  return config as Config;
}

/**
 * Fails the start of a function instance on a bad setting: each module of functions/ calls it at its top, which
 * runs while Lambda loads the module (the init phase). The values themselves are kept by `config()` at first use,
 * from the same environment, since a Lambda instance's never changes; the handler tests, which load the functions
 * before they set up their store, rely on that.
 */
export function checkConfigAtStart(): void {
  loadConfig();
}

let cached: Config | undefined;

/** The configuration of this instance, read from `process.env` on first use. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}
