/**
 * Configuration from the environment, read once per function instance (docs/development.md, "Code style"). A missing or malformed
 * required value fails at cold start, not in the middle of a request.
 */
import { MAX_INLINE_BYTES } from './lambda-limits';

export type ArchiveLayout = 'prefixed' | 'flat';

export interface Config {
  /** The bucket that holds everything (docs/design.md "S3 key layout"). */
  bucket: string;
  /** An S3-compatible endpoint (s3rver, LocalStack); unset in AWS. */
  s3Endpoint: string | undefined;
  region: string;
  /** docs/protocol.md §3: `prefixed` for workers up to v1.6, `flat` for v1.7 and later. */
  archiveLayout: ArchiveLayout;
  /**
   * Name of the SSM SecureString holding `username:password` (the deployment always sets it); read at cold start.
   * Takes precedence over `credentials`.
   */
  credentialsParameter: string | undefined;
  /** HTTP Basic credentials from the environment (local mode); with neither, auth is off. */
  credentials: { username: string; password: string } | undefined;
  /**
   * docs/protocol.md §7: a Lambda answer carries at most 6 MB, base64 grows binary by 4/3, so objects above this size are
   * answered with a redirect to a presigned S3 URL instead of inline. At most `MAX_INLINE_BYTES`: a larger inline
   * answer could not be carried (API Gateway would answer 502).
   */
  inlineLimitBytes: number;
  /** Lifetime of presigned download and upload URLs. */
  presignTtlSeconds: number;
  /**
   * The largest file the large-upload route hands out a URL for (and the largest total of one submission): ReCodEx
   * accepts uploads up to 1 GiB. S3 takes at most 5 GiB in one PUT, so the bound may be raised up to that.
   */
  maxUploadBytes: number;
  /**
   * The largest submission (total bytes of its files) that GET of its archive builds on demand, within API Gateway's
   * 29 s; a larger one is left to the archiver and answered 503 `archive-pending` with `Retry-After` until it is
   * built. 128 MiB builds in well under 29 s even at the 10 MB/s the local benchmark shows.
   */
  onDemandBuildMaxBytes: number;
  /**
   * The most files of a submission that GET of its archive builds on demand: each is one S3 read (8 at a time), and
   * 1,000 take a few seconds, far within the 29 s; a submission of more files is left to the archiver (15 minutes),
   * like a large one.
   */
  onDemandBuildMaxFiles: number;
  /**
   * The most files one submission holds, all its POSTs and completions together (docs/protocol.md, "Bounds and bad
   * input"). At most 10,000, as many as one POST may carry; the manifest's own bound (lib/fileserver/submission-bounds.ts)
   * holds as well.
   */
  maxSubmissionFiles: number;
  /** Bytes of exercise files kept in memory per function instance; 0 turns the cache off. */
  exerciseCacheBytes: number;
  /**
   * The largest submission (total bytes of its files) whose archive a POST builds itself, from the bytes it holds,
   * before it writes the manifest; 0 leaves every build to the archiver. It saves the archiver reading the manifest
   * and every file back (docs/benchmarks.md, "S3 requests per operation") and costs the POST the deflate and one
   * PUT. 16 MiB is more than any POST carries (API Gateway takes 10 MB), so by default every POST that holds all
   * of its submission's files builds its archive.
   */
  archiveInPostMaxBytes: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const username = env.FILESERVER_USERNAME ?? '';
  const password = env.FILESERVER_PASSWORD ?? '';
  if ((username === '') !== (password === '')) {
    throw new Error('Set both FILESERVER_USERNAME and FILESERVER_PASSWORD, or neither (auth off).');
  }
  return {
    bucket: required(env, 'BUCKET'),
    s3Endpoint: env.S3_ENDPOINT || undefined,
    region: env.AWS_REGION || 'us-east-1',
    archiveLayout: oneOf(env, 'ARCHIVE_LAYOUT', ['prefixed', 'flat'] as const, 'prefixed'),
    credentialsParameter: env.CREDENTIALS_PARAMETER || undefined,
    credentials: username === '' ? undefined : { username, password },
    inlineLimitBytes: boundedInt(env, 'INLINE_LIMIT_BYTES', 4 * 1024 * 1024, MAX_INLINE_BYTES),
    presignTtlSeconds: positiveInt(env, 'PRESIGN_TTL_SECONDS', 600),
    maxUploadBytes: boundedInt(env, 'MAX_UPLOAD_BYTES', 1024 * 1024 * 1024, S3_MAX_SINGLE_PUT_BYTES),
    onDemandBuildMaxBytes: positiveInt(env, 'ARCHIVE_ON_DEMAND_MAX_BYTES', 128 * 1024 * 1024),
    onDemandBuildMaxFiles: positiveInt(env, 'ARCHIVE_ON_DEMAND_MAX_FILES', 1000),
    maxSubmissionFiles: boundedInt(env, 'MAX_SUBMISSION_FILES', MAX_SUBMISSION_FILES, MAX_SUBMISSION_FILES),
    exerciseCacheBytes: nonNegativeInt(env, 'EXERCISE_CACHE_BYTES', 64 * 1024 * 1024),
    archiveInPostMaxBytes: nonNegativeInt(env, 'ARCHIVE_IN_POST_MAX_BYTES', 16 * 1024 * 1024),
  };
}

/** As many files as one multipart POST may carry (lib/http/multipart.ts). */
const MAX_SUBMISSION_FILES = 10_000;

/** S3 PutObject: one PUT uploads at most 5 GiB (larger objects need a multipart upload). */
const S3_MAX_SINGLE_PUT_BYTES = 5 * 1024 * 1024 * 1024;

let cached: Config | undefined;

/** The configuration of this instance, read from `process.env` on first use. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`The environment variable ${name} must be set.`);
  return value;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Error(`${name} must be one of ${allowed.join(', ')}; it is ${JSON.stringify(value)}.`);
  }
  return value as T;
}

function nonNegativeInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new Error(`${name} must be 0 or a positive integer.`);
  return parsed;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer.`);
  return parsed;
}

function boundedInt(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const parsed = positiveInt(env, name, fallback);
  if (parsed > max) throw new Error(`${name} must be at most ${max}.`);
  return parsed;
}
