/**
 * The one table of settings: for each, the environment variables it is read from, its default value, how it is read
 * and checked, and what it means. lib/config.ts builds `Config` from the rows that fill it; `npm start -- --help`
 * (lib/local/options.ts) and the README's table (`npm run docs:settings`, scripts/docs-settings.ts) are written from
 * all of them. test/unit/settings-docs.test.ts checks that the README is current and that every variable the code
 * reads is a row here.
 */
import { MAX_INLINE_BYTES } from './lambda-limits';

/** The bucket of `npm start` and of the operator tool on a folder, when BUCKET is not set. */
export const LOCAL_BUCKET = 'recodex-fileserver';

/** The metrics' namespace when METRICS_NAMESPACE is not set (`npm start`, tests). */
export const DEFAULT_METRICS_NAMESPACE = 'recodex-fileserver';

/** docs/protocol.md §3: `prefixed` for workers up to v1.6, `flat` for v1.7 and later. */
export const ARCHIVE_LAYOUTS = ['prefixed', 'flat'] as const;
export type ArchiveLayout = (typeof ARCHIVE_LAYOUTS)[number];

export type Environment = Readonly<Record<string, string | undefined>>;

export interface Setting<T = unknown> {
  /** Environment variables: one, or a pair that belongs together. */
  readonly names: readonly string[];
  /** The value when the variable is unset (or empty); `undefined` where unset means something else, said in `whenUnset`. */
  readonly default: T | undefined;
  /** The documents' default column where there is no default value. */
  readonly whenUnset?: string;
  /** A number of bytes: the documents show it in binary units as well (`4194304 (4 MiB)`). */
  readonly bytes?: boolean;
  readonly meaning: string;
}

/** A setting of the service itself: it fills the `Config` field of its name (lib/config.ts). */
export interface ConfigSetting<T> extends Setting<T> {
  /** The value from `env`, or the default; a bad value throws an error whose message names the variable. */
  read(env: Environment): T;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** As many files as one multipart POST may carry (`MAX_FILE_PARTS`, lib/http/multipart.ts). */
const MAX_SUBMISSION_FILES = 10_000;

/** S3 PutObject: one PUT uploads at most 5 GiB (larger objects need a multipart upload). */
const S3_MAX_SINGLE_PUT_BYTES = 5 * GiB;

/**
 * The settings of the service, each by the `Config` field it fills; the comment on a row says why its default and
 * bounds are what they are.
 */
export const CONFIG_SETTINGS = {
  /** The bucket that holds everything (docs/design.md "S3 key layout"). */
  bucket: {
    names: ['BUCKET'],
    default: undefined,
    whenUnset: `required; \`${LOCAL_BUCKET}\` locally`,
    meaning: 'the bucket that holds everything',
    read: (env: Environment): string => {
      const value = env.BUCKET;
      if (!value) throw new Error('The environment variable BUCKET must be set.');
      return value;
    },
  },
  /** An S3-compatible endpoint (s3rver, LocalStack); unset in AWS. */
  s3Endpoint: optionalText('S3_ENDPOINT', {
    whenUnset: 'unset: AWS, or the folder store locally',
    meaning: 'an S3-compatible endpoint (LocalStack, MinIO, s3rver), addressed path-style',
  }),
  region: text(
    'AWS_REGION',
    'us-east-1',
    'the AWS region of the S3 and SSM clients; the folder store signs its presigned URLs for it',
  ),
  /** docs/protocol.md §3: `prefixed` for workers up to v1.6, `flat` for v1.7 and later. */
  archiveLayout: oneOf(
    'ARCHIVE_LAYOUT',
    ARCHIVE_LAYOUTS,
    'prefixed',
    '`prefixed`: entries under `<id>/`, for workers up to v1.6; `flat`: entries at the root, for workers from v1.7',
  ),
  /** HTTP Basic credentials from the environment (local mode); with neither, auth is off. */
  credentials: {
    names: ['FILESERVER_USERNAME', 'FILESERVER_PASSWORD'],
    default: undefined,
    whenUnset: 'unset: no credentials asked',
    meaning:
      'HTTP Basic credentials in local mode; set both or neither (ReCodEx defaults to `re`/`codex`: choose your own)',
    read: (env: Environment): { username: string; password: string } | undefined => {
      const username = env.FILESERVER_USERNAME ?? '';
      const password = env.FILESERVER_PASSWORD ?? '';
      if ((username === '') !== (password === '')) {
        throw new Error('Set both FILESERVER_USERNAME and FILESERVER_PASSWORD, or neither (auth off).');
      }
      return username === '' ? undefined : { username, password };
    },
  },
  /**
   * Name of the SSM SecureString holding one or two `username:password` lines (the deployment always sets it); read
   * at the first request and again every `credentialsTtlSeconds`. Takes precedence over `credentials`.
   */
  credentialsParameter: optionalText('CREDENTIALS_PARAMETER', {
    whenUnset: 'unset',
    meaning:
      'an SSM SecureString holding one or two `username:password` lines (either is accepted: two while the password is rotated), read at the first request and again every `CREDENTIALS_TTL_SECONDS`; the deployment sets it, and it wins over the two above',
  }),
  /**
   * How long an instance uses the credentials it read before it reads the parameter again: the longest a changed
   * password waits to be accepted everywhere (docs/deploy.md, "Rotating the password"). 300 s is one SSM read per
   * instance per 5 minutes, far within SSM's throughput, and a rotation that waits 5 minutes.
   */
  credentialsTtlSeconds: integer('CREDENTIALS_TTL_SECONDS', {
    default: 300,
    min: 1,
    meaning:
      'how long an instance uses the credentials it read before it reads `CREDENTIALS_PARAMETER` again; a failed read keeps the last value ([docs/deploy.md](docs/deploy.md#rotating-the-password))',
  }),
  /**
   * docs/protocol.md §7: a Lambda answer carries at most 6 MB, base64 grows binary by 4/3, so objects above this size
   * are answered with a redirect to a presigned S3 URL instead of inline. At most `MAX_INLINE_BYTES`: a larger inline
   * answer could not be carried (API Gateway would answer 502).
   */
  inlineLimitBytes: integer('INLINE_LIMIT_BYTES', {
    default: 4 * MiB,
    min: 1,
    max: MAX_INLINE_BYTES,
    bytes: true,
    meaning: `larger downloads are a \`302\` to a presigned URL; at most ${MAX_INLINE_BYTES}, the most a Lambda answer carries base64-encoded`,
  }),
  presignTtlSeconds: integer('PRESIGN_TTL_SECONDS', {
    default: 600,
    min: 1,
    meaning: 'lifetime of presigned download and upload URLs',
  }),
  /**
   * The largest file the large-upload route hands out a URL for (and the largest total of one submission): ReCodEx
   * accepts uploads up to 1 GiB. S3 takes at most 5 GiB in one PUT, so the bound may be raised up to that.
   */
  maxUploadBytes: integer('MAX_UPLOAD_BYTES', {
    default: 1 * GiB,
    min: 1,
    max: S3_MAX_SINGLE_PUT_BYTES,
    bytes: true,
    meaning: `the largest file of the large-upload route, and the largest total of one submission; at most ${S3_MAX_SINGLE_PUT_BYTES} (5 GiB, one S3 PUT)`,
  }),
  /**
   * The most files one submission holds, all its POSTs and completions together (docs/protocol.md, "Bounds and bad
   * input"). At most 10,000, as many as one POST may carry; the manifest's own bound
   * (lib/fileserver/submission-bounds.ts) holds as well.
   */
  maxSubmissionFiles: integer('MAX_SUBMISSION_FILES', {
    default: MAX_SUBMISSION_FILES,
    min: 1,
    max: MAX_SUBMISSION_FILES,
    meaning: `the most files one submission holds over all its uploads; at most ${MAX_SUBMISSION_FILES}`,
  }),
  /**
   * docs/protocol.md §8.4: whether new uploads are refused two paths that are one file on a case-insensitive or
   * normalising file system (`Main.java` and `main.java`). Off by default: ReCodEx workers unpack on Linux, where
   * such names are distinct, and the old fileserver stored them; an installation whose workers unpack on NTFS or APFS
   * sets it. `migrate` never applies it: it protects new uploads, not what the old fileserver stored.
   */
  refuseFoldedCollisions: trueOrFalse(
    'REFUSE_FOLDED_COLLISIONS',
    false,
    '`true` refuses new uploads two paths that are one file on a case-insensitive or normalising file system (`Main.java` and `main.java`), for workers that unpack on NTFS or APFS; ReCodEx workers on Linux keep both ([docs/protocol.md](docs/protocol.md#84-paths-that-collide-where-the-worker-unpacks-them))',
  ),
  /**
   * The largest submission (total bytes of its files) that GET of its archive builds on demand, within API Gateway's
   * 29 s; a larger one is left to the archiver and answered 503 `archive-pending` with `Retry-After` until it is
   * built. 128 MiB builds in well under 29 s even at the 10 MB/s the local benchmark shows.
   */
  onDemandBuildMaxBytes: integer('ARCHIVE_ON_DEMAND_MAX_BYTES', {
    default: 128 * MiB,
    min: 1,
    bytes: true,
    meaning:
      'the largest submission whose archive a GET builds itself within API Gateway’s 29 s; a larger one is left to the archiver, and its GET answers `503 archive-pending`. Raise it and `ARCHIVE_ON_DEMAND_MAX_FILES` against an S3 that sends no notifications',
  }),
  /**
   * The most files of a submission that GET of its archive builds on demand: each is one S3 read (8 at a time), and
   * 1,000 take a few seconds, far within the 29 s; a submission of more files is left to the archiver (15 minutes),
   * like a large one.
   */
  onDemandBuildMaxFiles: integer('ARCHIVE_ON_DEMAND_MAX_FILES', {
    default: 1000,
    min: 1,
    meaning:
      'the most files of a submission whose archive a GET builds itself (each is one S3 read); one of more files is left to the archiver, as a larger one is',
  }),
  /**
   * The largest submission (total bytes of its files) whose archive a POST builds itself, from the bytes it holds,
   * before it writes the manifest; 0 leaves every build to the archiver. It saves the archiver reading the manifest
   * and every file back (docs/benchmarks.md, "S3 requests per operation") and costs the POST the deflate and one
   * PUT. 16 MiB is more than any POST carries (API Gateway takes 10 MB), so by default every POST that holds all
   * of its submission's files builds its archive.
   */
  archiveInPostMaxBytes: integer('ARCHIVE_IN_POST_MAX_BYTES', {
    default: 16 * MiB,
    min: 0,
    bytes: true,
    meaning:
      'the largest submission whose archive a POST that holds all its files builds itself, before the manifest; 0 leaves every build to the archiver',
  }),
  /** Bytes of exercise files kept in memory per function instance; 0 turns the cache off. */
  exerciseCacheBytes: integer('EXERCISE_CACHE_BYTES', {
    default: 64 * MiB,
    min: 0,
    bytes: true,
    meaning: 'memory per function instance for exercise files (their content never changes); 0 turns it off',
  }),
};

/** Read by the AWS SDK itself. */
const AWS_CREDENTIALS: Setting = {
  names: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
  default: undefined,
  whenUnset: 'unset: the function’s role in AWS',
  meaning: 'credentials of the AWS SDK, which reads them itself; the folder store ignores them',
};

/** Read by lib/util/log.ts at every line, so that a test can turn the log on for itself. */
const LOG_LEVEL: Setting = {
  names: ['LOG_LEVEL'],
  default: 'info',
  meaning:
    '`info`: one JSON line per request, which is also its metrics, and the lines of what it did; `error`: failures only (and no metrics); `silent`: nothing. Lambda’s `AWS_LAMBDA_LOG_LEVEL`, set by a function’s logging configuration, applies too: the stricter wins ([docs/deploy.md](docs/deploy.md#logs))',
};

/** Set by Lambda itself; read by lib/util/log.ts and lib/util/invocation.ts. */
const LAMBDA_OWN: Setting = {
  names: ['AWS_LAMBDA_LOG_LEVEL', 'AWS_LAMBDA_FUNCTION_NAME'],
  default: undefined,
  whenUnset: 'set by Lambda',
  meaning:
    'Lambda’s own: the application log level of the function’s logging configuration (see `LOG_LEVEL`), and the function each log line names',
};

/**
 * Read by lib/util/metrics.ts at every metrics line, which must never fail a request; a namespace per stage keeps
 * two stages of one account apart (the deployment sets `<service>/<stage>`).
 */
const METRICS_NAMESPACE: Setting = {
  names: ['METRICS_NAMESPACE'],
  default: DEFAULT_METRICS_NAMESPACE,
  meaning:
    'the CloudWatch namespace of the metrics each request’s line carries; the deployment sets `recodex-fileserver/<stage>` ([docs/deploy.md](docs/deploy.md#metrics))',
};

const { bucket, s3Endpoint, region, ...configRest } = CONFIG_SETTINGS;

/** Every setting, in the order the documents list them: those of `Config`, and those others read. */
export const SETTINGS: readonly Setting[] = [
  bucket,
  s3Endpoint,
  region,
  AWS_CREDENTIALS,
  ...Object.values(configRest),
  LOG_LEVEL,
  LAMBDA_OWN,
  METRICS_NAMESPACE,
];

/** Every environment variable described above. */
export const SETTING_NAMES: ReadonlySet<string> = new Set(SETTINGS.flatMap((setting) => setting.names));

/** The default column of the documents, from the default value: `4194304 (4 MiB)`, `` `prefixed` ``, `600`. */
export function defaultText(setting: Setting): string {
  const value = setting.default;
  if (value === undefined) return setting.whenUnset ?? 'unset';
  if (typeof value === 'number') return setting.bytes ? `${value} (${binaryUnits(value)})` : String(value);
  return `\`${String(value)}\``;
}

function binaryUnits(bytes: number): string {
  for (const [unit, size] of [
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

// The readers. Unset and empty are the same: CloudFormation and shells write an unset parameter as ''.

function given(env: Environment, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function text(name: string, fallback: string, meaning: string): ConfigSetting<string> {
  return { names: [name], default: fallback, meaning, read: (env) => given(env, name) ?? fallback };
}

function optionalText(name: string, doc: { whenUnset: string; meaning: string }): ConfigSetting<string | undefined> {
  return { names: [name], default: undefined, ...doc, read: (env) => given(env, name) };
}

function oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T, meaning: string): ConfigSetting<T> {
  return {
    names: [name],
    default: fallback,
    meaning,
    read: (env) => (givenAmong(env, name, allowed, `one of ${allowed.join(', ')}`) as T | undefined) ?? fallback,
  };
}

/** `true` or `false`, nothing else: a typo (`ture`, `1`) is named at start rather than read as either. */
function trueOrFalse(name: string, fallback: boolean, meaning: string): ConfigSetting<boolean> {
  return {
    names: [name],
    default: fallback,
    meaning,
    read: (env) => {
      const value = givenAmong(env, name, ['true', 'false'], 'true or false');
      return value === undefined ? fallback : value === 'true';
    },
  };
}

/** `name`'s value if it is one of `allowed`, undefined if unset; any other value is an error that says what is allowed. */
function givenAmong(env: Environment, name: string, allowed: readonly string[], expected: string): string | undefined {
  const value = given(env, name);
  if (value !== undefined && !allowed.includes(value)) {
    throw new Error(`${name} must be ${expected}; it is ${JSON.stringify(value)}.`);
  }
  return value;
}

/** A whole number from `min` (0 or 1) up to `max`, if given. */
function integer(
  name: string,
  options: { default: number; min: 0 | 1; max?: number; bytes?: boolean; meaning: string },
): ConfigSetting<number> {
  const { default: fallback, min, max, bytes, meaning } = options;
  const wanted = min === 0 ? '0 or a positive integer' : 'a positive integer';
  return {
    names: [name],
    default: fallback,
    ...(bytes ? { bytes } : {}),
    meaning,
    read: (env) => {
      const value = given(env, name);
      if (value === undefined) return fallback;
      const parsed = Number(value);
      if (!Number.isSafeInteger(parsed) || parsed < min) throw new Error(`${name} must be ${wanted}.`);
      if (max !== undefined && parsed > max) throw new Error(`${name} must be at most ${max}.`);
      return parsed;
    },
  };
}
